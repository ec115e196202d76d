"""Faults of the Geogrid engine's inputs: a DEM window that is all or mostly nodata (issue 11, item 1)."""

import logging
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid.engine import run_numpy_geogrid
from hyp3_s1_m11m12.geogrid.types import ParameterRasters
from hyp3_s1_m11m12.simulate.acquisition import synthetic_radar_geometry
from tests.support.scenes import DT_12_DAYS_S, rasters_around_scene


DEM_NODATA = -9999.0


def _rasters(folder: Path) -> ParameterRasters:
    return rasters_around_scene(folder)


def _blank_dem(path: str, fraction: float) -> None:
    """Set the first `fraction` of the DEM's rows to its nodata value (and declare that value)."""
    dataset = gdal.Open(path, gdal.GA_Update)
    band = dataset.GetRasterBand(1)
    heights = band.ReadAsArray().astype(np.float64)
    heights[: round(fraction * heights.shape[0])] = DEM_NODATA
    band.WriteArray(heights)
    band.SetNoDataValue(DEM_NODATA)
    dataset = None


@pytest.mark.parametrize('fraction', [1.0, 0.8])
def test_a_dem_window_mostly_nodata_is_refused(tmp_path: Path, fraction: float) -> None:
    rasters = _rasters(tmp_path / 'rasters')
    _blank_dem(rasters.dem, fraction)
    originals = {path: Path(path).read_bytes() for path in rasters.present().values()}
    output = tmp_path / 'out'
    output.mkdir()
    with pytest.raises(GeogridInputError, match=r'% of the DEM heights under the scene are nodata') as error:
        run_numpy_geogrid(synthetic_radar_geometry(), DT_12_DAYS_S, rasters, output)
    message = str(error.value)
    assert '\n' not in message and 'use the parameter file of the' in message
    assert list(output.iterdir()) == []  # nothing left behind
    assert {path: Path(path).read_bytes() for path in originals} == originals  # no original modified


def test_a_partial_nodata_patch_warns_with_its_fraction(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Parity with autoRIFT: a partial patch is used as heights, with a warning that names the fraction."""
    rasters = _rasters(tmp_path / 'rasters')
    _blank_dem(rasters.dem, 0.1)
    output = tmp_path / 'out'
    output.mkdir()
    with caplog.at_level(logging.WARNING):
        result = run_numpy_geogrid(synthetic_radar_geometry(), DT_12_DAYS_S, rasters, output)
    assert sorted(result.outputs) == sorted(path.name for path in output.iterdir())
    warnings = [record.getMessage() for record in caplog.records if 'nodata' in record.getMessage()]
    assert len(warnings) == 1 and '% of the DEM heights under the scene are nodata' in warnings[0]
