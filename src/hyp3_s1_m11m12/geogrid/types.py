"""What crosses the Geogrid stage's boundary: its parameter rasters, its settings and its result."""

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid.vocabulary import RASTER_NAMES


# The autoRIFT radar Geogrid release whose algorithm the project's engine follows (bit-identical on the goldens).
REFERENCE_GEOGRID_VERSION = '1.6.0'

__all__ = [
    'DEFAULT_SETTINGS',
    'RASTER_NAMES',
    'BandSink',
    'GeogridResult',
    'GeogridSettings',
    'ParameterRasters',
    'check_dt',
]


class BandSink(Protocol):
    """Receives one run's output bands block by block as the engine produces them (in row order, from one thread),
    so that a consumer (e.g. M11/M12) needs neither the whole bands in memory nor the files read back."""

    def start(
        self,
        rows: int,
        columns: int,
        geotransform: tuple[float, float, float, float, float, float],
        projection_wkt: str,
    ) -> None:
        """Called once, before the first block, with the grid: its size (l_count, p_count), GDAL (corner)
        geotransform and projection."""

    def add(self, first_row: int, bands: dict[str, npt.NDArray[np.generic]]) -> None:
        """One block: file name -> array of shape (bands, rows of the block, columns), valid during the call only."""


@dataclass(frozen=True)
class ParameterRasters:
    """GDAL-readable paths (local, /vsicurl/, /vsis3/ ...) of Geogrid's parameter rasters, all on the DEM's grid.

    Only `dem` is required; the rest follow autoRIFT's rules on which outputs each one enables.
    """

    dem: str
    dhdx: str | None = None
    dhdy: str | None = None
    vx: str | None = None
    vy: str | None = None
    srx: str | None = None
    sry: str | None = None
    csminx: str | None = None
    csminy: str | None = None
    csmaxx: str | None = None
    csmaxy: str | None = None
    ssm: str | None = None

    def present(self) -> dict[str, str]:
        return {item.name: getattr(self, item.name) for item in fields(self) if getattr(self, item.name)}


@dataclass(frozen=True)
class GeogridSettings:
    """autoRIFT Geogrid's scalar settings, with the defaults its ISCE2 driver uses."""

    chip_size_x0_m: float = constants.CHIP_SIZE_X0_M
    nodata_out: int = constants.NODATA_OUT
    srs_dt_unity_days: float = constants.SEARCH_RANGE_DT_UNITY_DAYS
    srs_max_scale: float = constants.SEARCH_RANGE_MAX_SCALE
    srs_max_search_m_per_yr: float = constants.SEARCH_RANGE_MAX_M_PER_YR
    srs_min_search_m_per_yr: float = constants.SEARCH_RANGE_MIN_M_PER_YR


DEFAULT_SETTINGS = GeogridSettings()


@dataclass(frozen=True)
class GeogridResult:
    """Where the outputs went and the state Geogrid derived (autoRIFT's getState / run-info dict)."""

    output_dir: Path
    outputs: dict[str, Path]  # output file name (window_*.tif) -> path, only those written
    engine: str  # the engine that ran: 'numpy' or 'autorift'
    engine_version: str  # its version: the project's for numpy, the C++ that ran for autorift
    dt_seconds: float
    epsg: int
    p_off: int
    l_off: int
    p_count: int
    l_count: int
    x_res_m: float  # ground-range pixel size, dr / sin(incidence angle)
    y_res_m: float  # azimuth pixel size, |v_sat(t_mid)| / prf
    incidence_angle_rad: float
    extra: dict[str, float] = field(default_factory=dict)
    # The autoRIFT Geogrid release whose algorithm produced the numbers (the product's autoRIFT_software_version).
    geogrid_version: str = REFERENCE_GEOGRID_VERSION
    # `--engine both`: the comparison with autoRIFT's own Geogrid, e.g. 'identical: 9 files, 14 bands'.
    cross_check: str | None = None
    # The bands the caller asked to keep in memory (file name -> (bands, l_count, p_count)), so that it need not
    # read the files back; empty by default.
    bands: dict[str, Any] = field(default_factory=dict)
    # The outputs' geotransform and WKT (the project's engine), for products made from `bands` without a re-read.
    geotransform: tuple[float, float, float, float, float, float] | None = None
    projection_wkt: str = ''


def check_dt(dt_seconds: float) -> None:
    """dt must be a positive number of seconds: autoRIFT's checkState rejects dt < 0 and dt = 0 divides by zero.

    Raises:
        GeogridInputError: dt is zero, negative, NaN or infinite.
    """
    if not (isinstance(dt_seconds, int | float) and math.isfinite(dt_seconds) and dt_seconds > 0):
        raise GeogridInputError(
            f'repeat time dt = {dt_seconds} s must be a positive number of seconds (autoRIFT checkState): the '
            'secondary acquisition must be later than the reference (dt = secondary sensing start - reference '
            'sensing start)'
        )
