"""`--engine both`: run the project's engine and autoRIFT's own radar Geogrid, and fail unless they agree exactly.

The regression test a deployment can run on real jobs: every window_*.tif of the two engines must hold the same
bands, bit for bit (values, nodata, geotransform, projection), and the two grids the same state. The published
outputs are the project's; the result records the comparison (`GeogridResult.cross_check`).
"""

import dataclasses
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal

from hyp3_s1_m11m12.errors import UserFacingError
from hyp3_s1_m11m12.geogrid import autorift_engine, isce2_child
from hyp3_s1_m11m12.geogrid.types import DEFAULT_SETTINGS, GeogridResult, GeogridSettings, ParameterRasters
from hyp3_s1_m11m12.geogrid.vocabulary import OUTPUT_NAMES
from hyp3_s1_m11m12.geometry.radar import RadarGeometry


log = logging.getLogger(__name__)

ENGINE_NAME = 'both'
# The grid state both engines must agree on, GeogridResult field -> what it is.
STATE_FIELDS = ('epsg', 'p_off', 'l_off', 'p_count', 'l_count')


class EngineMismatchError(UserFacingError):
    """The project's Geogrid and autoRIFT's own differ: the product is not written."""


@dataclass(frozen=True)
class CrossCheck:
    files: int
    bands: int

    @property
    def summary(self) -> str:
        return f'identical: {self.files} files, {self.bands} bands'


def _band_difference(name: str, band: int, first: np.ndarray, second: np.ndarray) -> str:
    both_nan = np.zeros(first.shape, dtype=bool)
    if np.issubdtype(first.dtype, np.floating):
        both_nan = np.isnan(first) & np.isnan(second)
    differs = (first != second) & ~both_nan
    count = int(np.count_nonzero(differs))
    row, col = (int(index) for index in np.argwhere(differs)[0])
    largest = float(np.nanmax(np.abs(first[differs].astype(np.float64) - second[differs].astype(np.float64))))
    return (
        f'{name} band {band} differs in {count} of {first.size} pixels (first at row {row}, column {col}: '
        f'{first[row, col]!r} vs {second[row, col]!r}; largest difference {largest:.6g})'
    )


def _describe(path: Path) -> tuple[gdal.Dataset, tuple]:
    dataset = gdal.Open(str(path))
    band = dataset.GetRasterBand(1)
    layout = (
        dataset.RasterXSize,
        dataset.RasterYSize,
        dataset.RasterCount,
        gdal.GetDataTypeName(band.DataType),
        band.GetNoDataValue(),
        dataset.GetGeoTransform(),
        dataset.GetProjection(),
    )
    return dataset, layout


def compare_outputs(first_dir: Path, second_dir: Path, labels: tuple[str, str] = ('numpy', 'autorift')) -> CrossCheck:
    """Compare the window_*.tif of two Geogrid output folders band by band, bit for bit.

    Raises:
        EngineMismatchError: a file is in one folder only, or a file's layout or a band differs (one line naming
            the file, the band and the difference).
    """
    first_names = {name for name in OUTPUT_NAMES if (first_dir / name).is_file()}
    second_names = {name for name in OUTPUT_NAMES if (second_dir / name).is_file()}
    prefix = f'the {labels[0]} and {labels[1]} Geogrid engines differ'
    if first_names != second_names:
        only = sorted(first_names ^ second_names)
        raise EngineMismatchError(f'{prefix}: {", ".join(only)} written by one engine only')
    bands = 0
    for name in sorted(first_names, key=OUTPUT_NAMES.index):
        first, first_layout = _describe(first_dir / name)
        second, second_layout = _describe(second_dir / name)
        if first_layout != second_layout:
            raise EngineMismatchError(
                f'{prefix}: {name} has another layout (size, bands, type, nodata, geotransform or projection): '
                f'{first_layout[:6]} vs {second_layout[:6]}'
            )
        for band in range(1, first.RasterCount + 1):
            first_values = first.GetRasterBand(band).ReadAsArray()
            second_values = second.GetRasterBand(band).ReadAsArray()
            if first_values.tobytes() != second_values.tobytes():
                raise EngineMismatchError(f'{prefix}: {_band_difference(name, band, first_values, second_values)}')
            bands += 1
        del first, second
    return CrossCheck(files=len(first_names), bands=bands)


def compare_state(first: GeogridResult, second: GeogridResult) -> None:
    """The grid both engines derived must be the same.

    Raises:
        EngineMismatchError: naming the first field that differs.
    """
    for name in STATE_FIELDS:
        if getattr(first, name) != getattr(second, name):
            raise EngineMismatchError(
                f'the {first.engine} and {second.engine} Geogrid engines differ: {name} = {getattr(first, name)} vs '
                f'{getattr(second, name)}'
            )


def run_both_engines(
    radar: RadarGeometry,
    dt_seconds: float,
    rasters: ParameterRasters,
    output_dir: Path,
    settings: GeogridSettings = DEFAULT_SETTINGS,
) -> GeogridResult:
    """Run the project's engine into the existing `output_dir` and autoRIFT's into a scratch folder beside its
    files; the project's result, with the comparison. On a difference the project's files are removed too.

    Raises:
        GeogridInputError: autoRIFT's Geogrid cannot run here (checked first, before any work).
        EngineMismatchError: the outputs differ.
    """
    from hyp3_s1_m11m12.geogrid.engine import run_numpy_geogrid

    isce2_child.require_autorift(ENGINE_NAME)
    # The project's outputs go where they were asked for; autoRIFT's only into a scratch folder beside them.
    ours = run_numpy_geogrid(radar, dt_seconds, rasters, Path(output_dir), settings)
    with tempfile.TemporaryDirectory(prefix='.autorift-cross-check-', dir=output_dir) as scratch:
        theirs = autorift_engine.run_autorift_geogrid(radar, dt_seconds, rasters, Path(scratch), settings)
        try:
            compare_state(ours, theirs)
            check = compare_outputs(ours.output_dir, theirs.output_dir, labels=(ours.engine, theirs.engine))
        except EngineMismatchError:
            for path in ours.outputs.values():
                Path(path).unlink(missing_ok=True)
            raise
        summary = f'{check.summary} (numpy {ours.engine_version} vs autorift {theirs.engine_version})'
        log.info('Geogrid cross-check: %s', summary)
    return dataclasses.replace(ours, cross_check=summary)
