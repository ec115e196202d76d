"""Parity of the project's Geogrid engine with autoRIFT v1.6.0's ISCE2 Geogrid on every golden case (both dt runs)."""

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, osr

from hyp3_s1_m11m12.geogrid.engine import compute_numpy_geogrid, run_numpy_geogrid
from hyp3_s1_m11m12.geogrid.spec import load_spec
from tests.support.shared import golden_cases


pytestmark = pytest.mark.golden
FLOAT_RELATIVE_TOLERANCE = 1e-9


def read_bands(path: Path) -> tuple[np.ndarray, tuple[float, ...], str, list[float | None]]:
    dataset = gdal.Open(str(path))
    data = dataset.ReadAsArray()
    if data.ndim == 2:
        data = data[None]
    nodata = [dataset.GetRasterBand(index + 1).GetNoDataValue() for index in range(dataset.RasterCount)]
    result = (data, dataset.GetGeoTransform(), dataset.GetProjection(), nodata)
    dataset = None
    return result


def assert_band_parity(name: str, expected: np.ndarray, actual: np.ndarray) -> None:
    assert actual.shape == expected.shape, name
    if expected.dtype.kind == 'i':
        mismatches = int(np.count_nonzero(actual != expected))
        assert mismatches == 0, f'{name}: {mismatches} integer pixels differ'
        return
    for band in range(expected.shape[0]):
        expected_mask = expected[band] == -32767
        np.testing.assert_array_equal(actual[band] == -32767, expected_mask, err_msg=f'{name} band {band + 1} mask')
        valid = ~expected_mask
        if valid.any():
            scale = np.max(np.abs(expected[band][valid]))
            difference = np.max(np.abs(actual[band][valid] - expected[band][valid]))
            assert difference <= FLOAT_RELATIVE_TOLERANCE * scale, f'{name} band {band + 1}: {difference / scale:.2e}'


@pytest.mark.parametrize('run', ['true_dt', 'spoofed_dt'])
@pytest.mark.parametrize('case', golden_cases())
def test_engine_matches_golden_bit_for_bit(golden_dir: Path, case: str, run: str) -> None:
    spec = load_spec(golden_dir / case / 'inputs' / 'spec.json')
    arrays = compute_numpy_geogrid(spec.radar, spec.runs[run], spec.rasters, spec.settings)
    window = arrays.plan.window
    state = spec.expected_state
    assert (window.p_off, window.l_off, window.p_count, window.l_count) == (
        state['pOff'],
        state['lOff'],
        state['pCount'],
        state['lCount'],
    )
    assert arrays.plan.x_res_m == pytest.approx(state['X_res_ground_range_pixel_m'], rel=1e-12)
    assert arrays.plan.y_res_m == pytest.approx(state['Y_res_azimuth_pixel_m'], rel=1e-12)
    expected_files = sorted(path.name for path in (golden_dir / case / run).glob('window_*.tif'))
    assert sorted(arrays.bands) == expected_files
    for name in expected_files:
        expected, geotransform, wkt, _ = read_bands(golden_dir / case / run / name)
        assert arrays.plan.geotransform == pytest.approx(geotransform, abs=0)
        expected_srs = osr.SpatialReference(wkt=wkt)
        actual_srs = osr.SpatialReference(wkt=arrays.plan.wkt)
        assert actual_srs.IsSame(expected_srs)
        assert_band_parity(name, expected, arrays.bands[name])
        # the compiled kernels use the C maths library, as autoRIFT's C++: the same bits
        np.testing.assert_array_equal(arrays.bands[name], expected, err_msg=name)


@pytest.mark.parametrize('case', golden_cases())
def test_fixed_point_stop_equals_51_fixed_steps(golden_dir: Path, case: str) -> None:
    """The default run (stopping the iterations at their limit cycles) is bit-identical to geogrid.cpp's fixed 51
    Newton and 10 topo steps."""
    spec = load_spec(golden_dir / case / 'inputs' / 'spec.json')
    fast = compute_numpy_geogrid(spec.radar, spec.dt_seconds, spec.rasters, spec.settings)
    full = compute_numpy_geogrid(spec.radar, spec.dt_seconds, spec.rasters, spec.settings, stop_at_fixed_point=False)
    for name, array in full.bands.items():
        np.testing.assert_array_equal(fast.bands[name], array, err_msg=name)


@pytest.mark.parametrize('case', golden_cases()[:1])
def test_written_files_match_golden_format(golden_dir: Path, tmp_path: Path, case: str) -> None:
    spec = load_spec(golden_dir / case / 'inputs' / 'spec.json')
    result = run_numpy_geogrid(spec.radar, spec.dt_seconds, spec.rasters, tmp_path, spec.settings)
    assert result.engine == 'numpy'
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(result.outputs)
    for name, path in result.outputs.items():
        expected, geotransform, wkt, nodata = read_bands(golden_dir / case / 'true_dt' / name)
        actual, actual_geotransform, actual_wkt, actual_nodata = read_bands(path)
        assert actual.dtype == expected.dtype and actual.shape == expected.shape
        assert actual_geotransform == geotransform and actual_nodata == nodata
        assert osr.SpatialReference(wkt=actual_wkt).IsSame(osr.SpatialReference(wkt=wkt))
        assert_band_parity(name, expected, actual)
        assert (golden_dir / case / 'true_dt' / name).read_bytes() == path.read_bytes(), name
        dataset = gdal.Open(str(path))
        assert dataset.GetMetadataItem('COMPRESSION', 'IMAGE_STRUCTURE') is None
        dataset = None
