"""The JSON run specification of ../shared/golden (spec.json): a whole Geogrid run, with paths relative to it."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid.types import RASTER_NAMES, GeogridSettings, ParameterRasters
from hyp3_s1_m11m12.geometry.orbit import Orbit, StateVector
from hyp3_s1_m11m12.geometry.radar import RadarGeometry
from hyp3_s1_m11m12.timeutil import parse_utc


@dataclass(frozen=True)
class GeogridSpec:
    name: str
    radar: RadarGeometry
    rasters: ParameterRasters
    settings: GeogridSettings
    dt_seconds: float  # the true repeat time (dt.dt_true_seconds)
    runs: dict[str, float]  # output folder name -> repeat time in seconds
    epsg: int | None
    expected_state: dict[str, float]


def load_spec(path: Path) -> GeogridSpec:
    """Read a spec.json; raster paths are resolved relative to the spec file's folder.

    Raises:
        GeogridInputError: the file is missing, is not JSON, or lacks a required key.
    """
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise GeogridInputError(f'spec file {path} does not exist') from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise GeogridInputError(f'spec file {path} is not valid JSON: {error}') from None

    try:
        radar = document['radar']
        orbit = document['orbit']
        vectors = [
            StateVector(time=parse_utc(utc), position_m=tuple(position), velocity_m_s=tuple(velocity))
            for utc, position, velocity in zip(
                orbit['utc'], orbit['position_ecef_m'], orbit['velocity_ecef_m_s'], strict=True
            )
        ]
        geometry = RadarGeometry(
            sensing_start=parse_utc(radar['sensingStart_utc']),
            starting_range_m=float(radar['startingRange_m']),
            range_pixel_size_m=float(radar['rangePixelSize_m']),
            prf_hz=float(radar['prf_hz']),
            number_of_lines=int(radar['numberOfLines']),
            number_of_samples=int(radar['numberOfSamples']),
            look_side=int(radar.get('lookSide', -1)),
            orbit=Orbit.from_state_vectors(vectors, source=f'{path.name} orbit'),
        )
        folder = path.parent
        unknown = set(document['rasters']) - set(RASTER_NAMES)
        if unknown:
            raise GeogridInputError(f'spec file {path} names unknown rasters {sorted(unknown)}; known: {RASTER_NAMES}')
        rasters = ParameterRasters(**{key: str(folder / name) for key, name in document['rasters'].items() if name})
        params = document.get('params', {})
        defaults = GeogridSettings()
        settings = GeogridSettings(
            chip_size_x0_m=float(params.get('chipSizeX0_m', defaults.chip_size_x0_m)),
            nodata_out=int(params.get('nodata_out', defaults.nodata_out)),
            srs_dt_unity_days=float(params.get('srs_dt_unity_days', defaults.srs_dt_unity_days)),
            srs_max_scale=float(params.get('srs_max_scale', defaults.srs_max_scale)),
            srs_max_search_m_per_yr=float(params.get('srs_max_search_m_per_yr', defaults.srs_max_search_m_per_yr)),
            srs_min_search_m_per_yr=float(params.get('srs_min_search_m_per_yr', defaults.srs_min_search_m_per_yr)),
        )
        runs = {run['dir']: float(run['repeatTime_seconds']) for run in document.get('runs', {}).values()}
        return GeogridSpec(
            name=str(document.get('case', path.parent.name)),
            radar=geometry,
            rasters=rasters,
            settings=settings,
            dt_seconds=float(document['dt']['dt_true_seconds']),
            runs=runs,
            epsg=int(document['map']['epsg']) if 'map' in document and 'epsg' in document['map'] else None,
            expected_state={key: float(value) for key, value in document.get('expected_state', {}).items()},
        )
    except KeyError as error:
        raise GeogridInputError(
            f'spec file {path} lacks the key {error}; see the golden README for the format'
        ) from None
    except (TypeError, ValueError) as error:
        if isinstance(error, GeogridInputError):
            raise
        raise GeogridInputError(f'spec file {path} has a malformed value: {error}') from None
