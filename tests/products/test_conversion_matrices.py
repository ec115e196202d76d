import math
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest
import xarray as xr
from cfchecker.cfchecks import CFChecker
from osgeo import gdal, osr

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import ProductError, TimingError
from hyp3_s1_m11m12.geogrid.spec import load_spec
from hyp3_s1_m11m12.products import conversion_matrices as module
from hyp3_s1_m11m12.products.conversion_matrices import (
    ConversionMatrices,
    Provenance,
    chunk_lines,
    conversion_matrices_from_geogrid,
    read_conversion_matrices,
    write_conversion_matrices,
)
from hyp3_s1_m11m12.products.mapping import mapping_attributes
from hyp3_s1_m11m12.products.provenance import conversion_matrices_file_name
from hyp3_s1_m11m12.sentinel1.pairing import RepeatTime
from tests.support.shared import golden_cases


RUNS = ('true_dt', 'spoofed_dt')
GOLDEN_RUNS = [(case, run) for case in golden_cases() for run in RUNS]
S1B_CASE = 's1b_iw_20210401_utm'

# What the CF checker reports on hyp3-autorift's own layout, which we keep so that ITS_LIVE tooling reads our files
# as it reads theirs: a string `mapping` variable (CF-1.8 allows it; cfchecker 4.1 does not support vlen types),
# the non-CF `universal_transverse_mercator`, the non-CF standard names and the unit 'pixel' unknown to udunits.
UPSTREAM_LAYOUT_ERRORS = {
    'mapping': {
        '(2.2): Invalid variable type: "<class \'netCDF4.VLType\'>": string type (vlen types not supported)',
        '(5.6): Invalid grid_mapping_name: universal_transverse_mercator',
    },
    'M11': {'(3.3): Invalid standard_name: conversion_matrix_element_11', '(3.1): Invalid units: pixel/(meter/year)'},
    'M12': {'(3.3): Invalid standard_name: conversion_matrix_element_12', '(3.1): Invalid units: pixel/(meter/year)'},
}
CFCHECKER_NUMPY_WARNING = 'ignore:Converting `np.character` to a dtype is deprecated:DeprecationWarning'


TIMING_FIELDS = (
    'dt_seconds',
    'reference_granule',
    'secondary_granule',
    'reference_sensing_start',
    'secondary_sensing_start',
    'source',
    'matched_burst_id',
)


def _provenance(**changes: Any) -> Provenance:
    values: dict[str, Any] = {
        'software_version': '1.2.3',
        'reference_granule': 'S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4',
        'secondary_granule': 'S1B_IW_SLC__1SDV_20210413T052622_20210413T052650_026444_0327F9_ABCD',
        'reference_sensing_start': datetime(2021, 4, 1, 5, 26, 22, 396990),
        'secondary_sensing_start': datetime(2021, 4, 13, 5, 26, 22, 32990),
        'dt_seconds': 1_036_799.636,
        'source': 'secondary S1B_..._ABCD, first common burst 123_456789_IW1',
        'matched_burst_id': '123_456789_IW1',
        'engine': 'numpy',
        'engine_version': '1.2.3',
        'parameter_file': constants.DEFAULT_PARAMETER_FILE,
    }
    values.update(changes)
    timing = RepeatTime(**{name: values.pop(name) for name in TIMING_FIELDS})
    return Provenance(repeat_time=timing, **values)


def _synthetic_matrices(epsg: int = 3413, shape: tuple[int, int] = (30, 40)) -> ConversionMatrices:
    ny, nx = shape
    rows, columns = np.mgrid[0:ny, 0:nx].astype(np.float64)
    m11 = -0.009 + 0.001 * np.sin(rows / 7.0) * np.cos(columns / 5.0)
    m12 = 0.001 + 0.002 * np.cos(rows / 4.0 + columns / 9.0)
    m11[:4, :6] = np.nan
    m12[:4, :6] = np.nan
    geotransform = (-200_060.0, 120.0, 0.0, -2_100_060.0, 0.0, -120.0)
    return ConversionMatrices(
        M11=m11,
        M12=m12,
        x=geotransform[0] + geotransform[1] * np.arange(nx),
        y=geotransform[3] + geotransform[5] * np.arange(ny),
        epsg=epsg,
        geotransform=geotransform,
        dr_to_vr_factor=70.85753919927343,
    )


def _expected(golden_dir: Path, case: str, run: str) -> dict[str, Any]:
    with netCDF4.Dataset(golden_dir / case / run / 'expected_m11m12.nc') as dataset:
        dataset.set_auto_mask(False)
        return {
            'M11': np.asarray(dataset['M11'][:], dtype=np.float64),
            'M12': np.asarray(dataset['M12'][:], dtype=np.float64),
            'x': np.asarray(dataset['x'][:]),
            'y': np.asarray(dataset['y'][:]),
            'dr_to_vr_factor': float(dataset.getncattr('dr_to_vr_factor')),
            'dt_seconds': float(dataset.getncattr('repeatTime_seconds')),
        }


def _max_relative_difference(actual: np.ndarray, expected: np.ndarray) -> float:
    valid = np.isfinite(expected)
    return float(np.max(np.abs(actual[valid] - expected[valid]) / np.abs(expected[valid])))


def _cf_findings(path: Path, tables: Path) -> dict[str, dict[str, set[str]]]:
    """cfchecker's FATAL/ERROR/WARN findings per variable ('global' for the file), offline.

    The checker downloads the CF tables unless given them; only the standard names this file may legitimately use
    are needed (with their real canonical units), so a minimal standard-name table is written here.
    """
    tables.mkdir(exist_ok=True)
    entries = ''.join(
        f'<entry id="{name}"><canonical_units>m</canonical_units><grib></grib><amip></amip>'
        f'<description>{name}</description></entry>'
        for name in ('projection_x_coordinate', 'projection_y_coordinate')
    )
    (tables / 'standard-names.xml').write_text(
        '<?xml version="1.0"?><standard_name_table><version_number>84</version_number>'
        f'<last_modified>2024-01-19T15:55:10Z</last_modified>{entries}</standard_name_table>'
    )
    (tables / 'area-types.xml').write_text(
        '<?xml version="1.0"?><area_type_table><version_number>10</version_number><date>2023</date>'
        '<entry id="land"></entry></area_type_table>'
    )
    (tables / 'regions.xml').write_text(
        '<?xml version="1.0"?><standardized_region_list><version_number>4</version_number><date>2023</date>'
        '<entry id="atlantic_ocean"></entry></standardized_region_list>'
    )
    checker = CFChecker(
        cfStandardNamesXML=str(tables / 'standard-names.xml'),
        cfAreaTypesXML=str(tables / 'area-types.xml'),
        cfRegionNamesXML=str(tables / 'regions.xml'),
        version='1.8',
        silent=True,
    )
    checker.checker(str(path))
    results = {'global': checker.results['global'], **checker.results['variables']}
    findings = {}
    for name, result in results.items():
        found = {category: set(result[category]) for category in ('FATAL', 'ERROR', 'WARN') if result[category]}
        if found:
            findings[name] = found
    return findings


def _write_geogrid_outputs(folder: Path, epsg: int | None, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """The four window_*.tif that M11/M12 need, as geogrid.cpp writes them (Float64/Int32, nodata -32767)."""
    ny, nx = shape
    rng = np.random.default_rng(5)
    nodata = constants.NODATA_OUT
    bands = {
        'x1': rng.uniform(800, 900, shape),
        'x2': rng.uniform(-300, -200, shape),
        'x3': np.full(shape, 70.5),
        'y1': rng.uniform(100, 200, shape),
        'y2': rng.uniform(400, 500, shape),
        'sf1': rng.uniform(0.9, 1.1, shape),
        'sf2': rng.uniform(0.9, 1.1, shape),
    }
    bands['x3'][0, 0] = 71.0  # the median ignores it
    location = np.ones(shape)
    location[-3:, :] = nodata  # outside the radar image: every output is nodata
    for values in bands.values():
        values[-3:, :] = nodata
    bands['x2'][1, 1] = nodata  # nodata in one input only
    bands['sf1'][2, 3] = nodata
    srs = osr.SpatialReference()
    if epsg is not None:
        srs.ImportFromEPSG(epsg)
    driver = gdal.GetDriverByName('GTiff')
    files = {
        'window_location.tif': (gdal.GDT_Int32, [location, location]),
        'window_rdr_off2vel_x_vec.tif': (gdal.GDT_Float64, [bands['x1'], bands['x2'], bands['x3']]),
        'window_rdr_off2vel_y_vec.tif': (gdal.GDT_Float64, [bands['y1'], bands['y2'], bands['x3']]),
        'window_scale_factor.tif': (gdal.GDT_Float64, [bands['sf1'], bands['sf2']]),
    }
    for name, (data_type, arrays) in files.items():
        (folder / name).unlink(missing_ok=True)  # GDAL cannot replace a file it cannot open
        dataset = driver.Create(str(folder / name), nx, ny, len(arrays), data_type)
        dataset.SetGeoTransform((-200_000.0, 120.0, 0.0, -2_100_000.0, 0.0, -120.0))
        if epsg is not None:
            dataset.SetProjection(srs.ExportToWkt())
        for number, array in enumerate(arrays, start=1):
            band = dataset.GetRasterBand(number)
            band.SetNoDataValue(nodata)
            band.WriteArray(array)
            del band
        dataset.FlushCache()
        del dataset
    return bands


# --- M11/M12 from the Geogrid GeoTIFFs -------------------------------------------------------------------------


@pytest.mark.golden
@pytest.mark.parametrize(('case', 'run'), GOLDEN_RUNS)
def test_matrices_from_golden_geotiffs_equal_the_expected_ones(golden_dir: Path, case: str, run: str) -> None:
    matrices = conversion_matrices_from_geogrid(golden_dir / case / run)
    expected = _expected(golden_dir, case, run)
    for name in ('M11', 'M12'):
        actual = getattr(matrices, name)
        np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected[name]))
        assert _max_relative_difference(actual, expected[name]) <= 1e-9
    np.testing.assert_allclose(matrices.x, expected['x'], rtol=0, atol=1e-6)
    np.testing.assert_allclose(matrices.y, expected['y'], rtol=0, atol=1e-6)
    assert matrices.epsg == load_spec(golden_dir / case / 'inputs' / 'spec.json').epsg
    assert matrices.geotransform[0] == matrices.x[0] and matrices.geotransform[3] == matrices.y[0]


@pytest.mark.golden
@pytest.mark.parametrize(('case', 'run'), GOLDEN_RUNS)
def test_dr_to_vr_factor_is_range_pixel_size_over_dt(golden_dir: Path, case: str, run: str) -> None:
    spec = load_spec(golden_dir / case / 'inputs' / 'spec.json')
    dt_seconds = spec.runs[run]
    matrices = conversion_matrices_from_geogrid(golden_dir / case / run)
    expected = spec.radar.range_pixel_size_m * constants.SECONDS_PER_YEAR / dt_seconds
    assert matrices.dr_to_vr_factor == pytest.approx(expected, rel=1e-12, abs=0)
    assert matrices.dr_to_vr_factor == pytest.approx(_expected(golden_dir, case, run)['dr_to_vr_factor'], rel=1e-12)


@pytest.mark.golden
@pytest.mark.skipif(S1B_CASE not in golden_cases(), reason=f'golden case {S1B_CASE} is absent')
def test_dr_to_vr_factor_of_the_bug_report_case(golden_dir: Path) -> None:
    true_dt = conversion_matrices_from_geogrid(golden_dir / S1B_CASE / 'true_dt')
    spoofed_dt = conversion_matrices_from_geogrid(golden_dir / S1B_CASE / 'spoofed_dt')
    assert true_dt.dr_to_vr_factor == pytest.approx(70.85753919927343, rel=1e-12, abs=0)
    assert spoofed_dt.dr_to_vr_factor == pytest.approx(850.290171871093, rel=1e-12, abs=0)


@pytest.mark.golden
@pytest.mark.parametrize('case', golden_cases())
def test_spoofed_matrices_scaled_by_true_dt_equal_the_true_ones(golden_dir: Path, case: str) -> None:
    dt_true = load_spec(golden_dir / case / 'inputs' / 'spec.json').dt_seconds
    true_dt = conversion_matrices_from_geogrid(golden_dir / case / 'true_dt')
    spoofed_dt = conversion_matrices_from_geogrid(golden_dir / case / 'spoofed_dt')
    for name in ('M11', 'M12'):
        scaled = getattr(spoofed_dt, name) * dt_true / constants.SPOOFED_DT_SECONDS
        assert _max_relative_difference(scaled, getattr(true_dt, name)) <= 1e-14
        # The seed's bug: with the 1-day spoof the matrices are ~12 times too small.
        assert np.nanmedian(getattr(true_dt, name) / getattr(spoofed_dt, name)) == pytest.approx(12, rel=1e-5)


@pytest.mark.parametrize('epsg', [3413, 32632])
def test_matrices_from_synthetic_geotiffs(tmp_path: Path, epsg: int) -> None:
    bands = _write_geogrid_outputs(tmp_path, epsg, (12, 15))
    matrices = conversion_matrices_from_geogrid(tmp_path)
    with np.errstate(divide='ignore', invalid='ignore'):  # at nodata nodes, which the test does not compare
        determinant = bands['x1'] * bands['y2'] - bands['x2'] * bands['y1']
        expected_m11 = bands['y2'] / determinant / bands['sf1']
        expected_m12 = -bands['x2'] / determinant / bands['sf1']
    nodata = np.zeros((12, 15), dtype=bool)
    nodata[-3:, :] = True
    nodata[1, 1] = nodata[2, 3] = True
    for actual, expected in ((matrices.M11, expected_m11), (matrices.M12, expected_m12)):
        np.testing.assert_array_equal(np.isnan(actual), nodata)
        np.testing.assert_array_equal(actual[~nodata], expected[~nodata])
    assert matrices.dr_to_vr_factor == 70.5
    assert matrices.epsg == epsg
    assert matrices.geotransform == (-199_940.0, 120.0, 0.0, -2_100_060.0, 0.0, -120.0)
    np.testing.assert_array_equal(matrices.x, -199_940.0 + 120.0 * np.arange(15))
    np.testing.assert_array_equal(matrices.y, -2_100_060.0 - 120.0 * np.arange(12))


@pytest.mark.parametrize(
    'missing',
    ['window_location.tif', 'window_rdr_off2vel_x_vec.tif', 'window_rdr_off2vel_y_vec.tif', 'window_scale_factor.tif'],
)
def test_a_missing_geotiff_is_a_clear_error(tmp_path: Path, missing: str) -> None:
    _write_geogrid_outputs(tmp_path, 3413, (5, 6))
    (tmp_path / missing).unlink()
    with pytest.raises(ProductError, match=f'{missing} is missing; run Geogrid'):
        conversion_matrices_from_geogrid(tmp_path)


def test_broken_geotiffs_are_clear_errors(tmp_path: Path) -> None:
    _write_geogrid_outputs(tmp_path, 3413, (5, 6))
    (tmp_path / 'window_scale_factor.tif').write_bytes(b'II*\x00 truncated')
    with pytest.raises(ProductError, match='cannot read Geogrid output .*window_scale_factor.tif'):
        conversion_matrices_from_geogrid(tmp_path)

    _write_geogrid_outputs(tmp_path, 3413, (5, 6))
    shutil.copy(tmp_path / 'window_location.tif', tmp_path / 'window_rdr_off2vel_x_vec.tif')
    with pytest.raises(ProductError, match='window_rdr_off2vel_x_vec.tif has 2 band.* but 3 are needed'):
        conversion_matrices_from_geogrid(tmp_path)


def test_geotiffs_of_different_grids_are_an_error(tmp_path: Path) -> None:
    _write_geogrid_outputs(tmp_path, 3413, (5, 6))
    other = tmp_path / 'other'
    other.mkdir()
    _write_geogrid_outputs(other, 3413, (5, 7))
    shutil.copy(other / 'window_scale_factor.tif', tmp_path / 'window_scale_factor.tif')
    with pytest.raises(ProductError, match='window_scale_factor.tif is not on the grid of window_location.tif'):
        conversion_matrices_from_geogrid(tmp_path)


def test_geotiffs_without_a_crs_are_an_error(tmp_path: Path) -> None:
    _write_geogrid_outputs(tmp_path, None, (5, 6))
    with pytest.raises(ProductError, match='window_location.tif has no map projection'):
        conversion_matrices_from_geogrid(tmp_path)


def test_an_unsupported_projection_fails_before_writing(tmp_path: Path) -> None:
    _write_geogrid_outputs(tmp_path, 3857, (5, 6))
    matrices = conversion_matrices_from_geogrid(tmp_path)
    with pytest.raises(ProductError, match='Mercator_1SP'):
        write_conversion_matrices(matrices, tmp_path / 'conversion_matrices.nc', provenance=_provenance())
    assert not (tmp_path / 'conversion_matrices.nc').exists()


# --- conversion_matrices.nc ------------------------------------------------------------------------------------


def test_chunk_lines_follow_hyp3_autorift() -> None:
    assert chunk_lines(178) == 178
    assert chunk_lines(1024) == 1024
    assert chunk_lines(2000) == 640
    assert chunk_lines(10_000) == 128
    assert all(chunk_lines(ny) == min(math.ceil(8192 / ny) * 128, ny) for ny in range(1, 20_000, 7))


@pytest.mark.golden
@pytest.mark.skipif(S1B_CASE not in golden_cases(), reason=f'golden case {S1B_CASE} is absent')
@pytest.mark.parametrize('dtype', ['int16', 'float32'])
def test_written_golden_matrices_decode_in_xarray(golden_dir: Path, tmp_path: Path, dtype: str) -> None:
    matrices = conversion_matrices_from_geogrid(golden_dir / S1B_CASE / 'true_dt')
    expected = _expected(golden_dir, S1B_CASE, 'true_dt')
    output = write_conversion_matrices(
        matrices, tmp_path / 'conversion_matrices.nc', provenance=_provenance(), dtype=dtype
    )
    assert output == tmp_path / 'conversion_matrices.nc'

    with xr.open_dataset(output) as dataset:
        assert dataset['M11'].dims == ('y', 'x')
        np.testing.assert_array_equal(dataset['x'].values, matrices.x)
        np.testing.assert_array_equal(dataset['y'].values, matrices.y)
        for name in ('M11', 'M12'):
            decoded = dataset[name].values.astype(np.float64)
            np.testing.assert_array_equal(np.isnan(decoded), np.isnan(expected[name]))
            valid = np.isfinite(expected[name])
            error = np.abs(decoded[valid] - expected[name][valid])
            if dtype == 'int16':
                step = float(dataset[name].encoding['scale_factor'])
                assert dataset[name].encoding['dtype'] == np.dtype('int16')
                assert np.max(error) <= step
            else:
                assert dataset[name].encoding['dtype'] == np.dtype('float32')
                assert np.max(error / np.abs(expected[name][valid])) <= 2.0**-24
            assert dataset[name].attrs['dr_to_vr_factor'] == matrices.dr_to_vr_factor
        assert dataset['M11'].encoding['_FillValue'] == -32767


@pytest.mark.parametrize('dtype', ['int16', 'float32'])
def test_layout_matches_hyp3_autorift(tmp_path: Path, dtype: str) -> None:
    matrices = _synthetic_matrices(shape=(30, 40))
    output = write_conversion_matrices(
        matrices, tmp_path / 'conversion_matrices.nc', provenance=_provenance(), dtype=dtype
    )
    with netCDF4.Dataset(output) as dataset:
        assert dataset.data_model == 'NETCDF4'
        assert list(dataset.dimensions) == ['x', 'y']
        assert list(dataset.variables) == ['x', 'y', 'mapping', 'M11', 'M12']
        for axis in ('x', 'y'):
            variable = dataset[axis]
            assert variable.dtype == np.float64
            assert '_FillValue' not in variable.ncattrs()
            assert variable.standard_name == f'projection_{axis}_coordinate'
            assert variable.units == 'm'
        mapping = dataset['mapping']
        assert {name: mapping.getncattr(name) for name in mapping.ncattrs()} == mapping_attributes(
            3413, matrices.geotransform
        )
        assert mapping.GeoTransform == '-200060.0 120.0 0.0 -2100060.0 0.0 -120.0'
        for name, row_column in (('M11', '1st row, 1st column'), ('M12', '1st row, 2nd column')):
            variable = dataset[name]
            assert variable.dimensions == ('y', 'x')
            assert variable.dtype == np.dtype(dtype)
            assert variable.getncattr('_FillValue') == -32767
            assert variable.filters()['zlib'] is True
            assert variable.filters()['complevel'] == 2
            assert variable.filters()['shuffle'] is True
            assert variable.chunking() == [30, 40]
            assert variable.standard_name == f'conversion_matrix_element_{name[1:]}'
            assert row_column in variable.description
            assert 'Eq. A18 in https://www.mdpi.com/2072-4292/13/4/749' in variable.description
            assert variable.units == 'pixel/(meter/year)'
            assert variable.grid_mapping == 'mapping'
            assert variable.dr_to_vr_factor == 70.85753919927343
            assert variable.dr_to_vr_factor_description == (
                'multiplicative factor that converts slant range pixel displacement dr to slant range velocity vr'
            )
            variable.set_auto_maskandscale(False)
            raw = variable[:]
            assert np.all(raw[:4, :6] == -32767)
            assert ('scale_factor' in variable.ncattrs()) == (dtype == 'int16')


def test_int16_packing_is_the_seed_scripts(tmp_path: Path) -> None:
    matrices = _synthetic_matrices()
    output = write_conversion_matrices(
        matrices, tmp_path / 'conversion_matrices.nc', provenance=_provenance(), dtype='int16'
    )

    # The seed's m11m12.py, restated: packing attributes from min..max -> -50..50, nodata set to the unpacked fill,
    # then netCDF4's auto-scaling packs the values.
    seed = tmp_path / 'seed.nc'
    with netCDF4.Dataset(seed, 'w', format='NETCDF4') as dataset:
        dataset.createDimension('x', 40)
        dataset.createDimension('y', 30)
        for name in ('M11', 'M12'):
            values = getattr(matrices, name).copy()
            variable = dataset.createVariable(name, np.dtype('int16'), ('y', 'x'), fill_value=-32767)
            x1, x2, y1, y2 = np.nanmin(values), np.nanmax(values), -50, 50
            c = [(y2 - y1) / (x2 - x1), y1 - x1 * (y2 - y1) / (x2 - x1)]
            variable.setncattr('scale_factor', np.float32(1 / c[0]))
            variable.setncattr('add_offset', np.float32(-c[1] / c[0]))
            values[np.isnan(values)] = -32767 * np.float32(1 / c[0]) + np.float32(-c[1] / c[0])
            variable[:] = values

    with netCDF4.Dataset(output) as ours, netCDF4.Dataset(seed) as theirs:
        for name in ('M11', 'M12'):
            for attribute in ('scale_factor', 'add_offset'):
                assert ours[name].getncattr(attribute).dtype == np.float32
                assert ours[name].getncattr(attribute) == theirs[name].getncattr(attribute)
            ours[name].set_auto_maskandscale(False)
            theirs[name].set_auto_maskandscale(False)
            packed = ours[name][:]
            np.testing.assert_array_equal(packed, theirs[name][:])
            valid = packed != -32767
            assert packed[valid].min() == -50 and packed[valid].max() == 50


def test_read_returns_what_was_written(tmp_path: Path) -> None:
    matrices = _synthetic_matrices()
    for dtype in ('int16', 'float32'):
        output = write_conversion_matrices(matrices, tmp_path / f'{dtype}.nc', provenance=_provenance(), dtype=dtype)
        read = read_conversion_matrices(output)
        assert read.epsg == 3413
        assert read.geotransform == matrices.geotransform
        assert read.dr_to_vr_factor == matrices.dr_to_vr_factor
        np.testing.assert_array_equal(read.x, matrices.x)
        np.testing.assert_array_equal(read.y, matrices.y)
        for name in ('M11', 'M12'):
            original = getattr(matrices, name)
            np.testing.assert_array_equal(np.isnan(getattr(read, name)), np.isnan(original))
            with netCDF4.Dataset(output) as dataset:
                step = float(dataset[name].getncattr('scale_factor')) if dtype == 'int16' else 0.0
            tolerance = step / 2 * (1 + 1e-6) if dtype == 'int16' else 0.0
            np.testing.assert_allclose(getattr(read, name), original, rtol=2.0**-24, atol=tolerance)


@pytest.mark.filterwarnings(CFCHECKER_NUMPY_WARNING)
@pytest.mark.parametrize(('epsg', 'dtype'), [(3413, 'int16'), (3413, 'float32'), (32632, 'int16')])
def test_passes_the_cf_checker(tmp_path: Path, epsg: int, dtype: str) -> None:
    output = write_conversion_matrices(
        _synthetic_matrices(epsg), tmp_path / 'conversion_matrices.nc', provenance=_provenance(), dtype=dtype
    )
    findings = _cf_findings(output, tmp_path / 'tables')
    assert set(findings) <= set(UPSTREAM_LAYOUT_ERRORS), findings
    for name, found in findings.items():
        assert set(found) == {'ERROR'}, found
        assert found['ERROR'] <= UPSTREAM_LAYOUT_ERRORS[name], found
    utm_error = '(5.6): Invalid grid_mapping_name: universal_transverse_mercator'
    assert (utm_error in findings['mapping']['ERROR']) == (epsg == 32632)


@pytest.mark.filterwarnings(CFCHECKER_NUMPY_WARNING)
def test_the_cf_checker_catches_a_broken_layout(tmp_path: Path) -> None:
    output = write_conversion_matrices(
        _synthetic_matrices(), tmp_path / 'conversion_matrices.nc', provenance=_provenance(), dtype='float32'
    )
    with netCDF4.Dataset(output, 'a') as dataset:
        dataset['M11'].setncattr('grid_mapping', 'missing_mapping')
    findings = _cf_findings(output, tmp_path / 'tables')
    assert any('missing_mapping' in message for message in findings['M11']['ERROR'])


def test_provenance_attributes(tmp_path: Path) -> None:
    provenance = _provenance(
        engine='autorift',
        autorift_version='1.5.0',
        parameter_region='N46E008',
        orbit_source='S1B_OPER_AUX_POEORB_OPOD_20210421T111726_V20210331T225942_20210402T005942.EOF',
        buffer_pixels=50,
        geotiff_compression='deflate',
    )
    output = write_conversion_matrices(
        _synthetic_matrices(), tmp_path / 'conversion_matrices.nc', provenance=provenance
    )
    with netCDF4.Dataset(output) as dataset:
        attributes = {name: dataset.getncattr(name) for name in dataset.ncattrs()}
    assert attributes['Conventions'] == 'CF-1.8'
    # Never the title of hyp3-autorift's spoofed files, and the flag that check_granule/fix_granule read.
    assert attributes['title'] != 'autoRIFT S1 Corrections' and 'TRUE repeat time' in attributes['title']
    assert attributes['dt_convention'] == 'true_dt'
    assert 'must not be rescaled' in attributes['dt_convention_description']
    assert attributes['GDAL_AREA_OR_POINT'] == 'Area'
    created = datetime.fromisoformat(attributes['date_created'].replace('Z', '+00:00'))
    assert created.tzinfo is not None and attributes['date_created'].endswith('Z')
    assert attributes['autoRIFT_parameter_file'] == (
        'https://its-live-data.s3.amazonaws.com/autorift_parameters/v001/autorift_landice_0120m.shp'
    )
    assert attributes['autoRIFT_parameter_region'] == 'N46E008'
    assert attributes['orbit_source'].startswith('S1B_OPER_AUX_POEORB')
    assert attributes['buffer_range_pixels'] == 50
    assert attributes['geotiff_compression'] == 'deflate'
    assert attributes['dt_source'].endswith('first common burst 123_456789_IW1')
    assert attributes['dt_matched_burst_id'] == '123_456789_IW1'
    assert attributes['autoRIFT_software_version'] == '1.5.0'
    assert attributes['software_version'] == '1.2.3'
    assert attributes['reference_granule'] == 'S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4'
    assert attributes['secondary_granule'] == 'S1B_IW_SLC__1SDV_20210413T052622_20210413T052650_026444_0327F9_ABCD'
    assert attributes['reference_sensing_start'] == '2021-04-01T05:26:22.396990Z'
    assert attributes['secondary_sensing_start'] == '2021-04-13T05:26:22.032990Z'
    assert attributes['dt_seconds'] == 1_036_799.636
    assert attributes['dt_days'] == pytest.approx(1_036_799.636 / 86400, rel=1e-15)
    assert attributes['geogrid_engine'] == 'autorift'
    assert attributes['geogrid_engine_version'] == '1.2.3'
    assert 'dt = 1036799.636 s' in attributes['history']
    assert 'S1B_IW_SLC__1SDV_20210413T052622' in attributes['history']


def test_provenance_without_a_secondary(tmp_path: Path) -> None:
    provenance = _provenance(
        secondary_granule=None,
        secondary_sensing_start=datetime(2021, 4, 2, 5, 26, 22, 396990),
        source='given directly',
        matched_burst_id=None,
        parameter_file='/tmp/params.shp',
        dt_seconds=86400.0,
    )
    output = write_conversion_matrices(_synthetic_matrices(), tmp_path / 'out.nc', provenance=provenance)
    with netCDF4.Dataset(output) as dataset:
        names = dataset.ncattrs()
        assert dataset.secondary_granule == 'unknown (repeat time given directly)'
        assert dataset.secondary_sensing_start == '2021-04-02T05:26:22.396990Z'
        assert 'dt_matched_burst_id' not in names and 'orbit_source' not in names
        # Always present: the autoRIFT Geogrid algorithm the project's engine reproduces; the engine is named apart.
        assert dataset.autoRIFT_software_version == '1.6.0' and dataset.geogrid_engine == 'numpy'
        assert dataset.dt_convention == 'true_dt'
        assert dataset.autoRIFT_parameter_file == '/tmp/params.shp'
        assert dataset.dt_days == 1.0
        assert dataset.reference_sensing_start == '2021-04-01T05:26:22.396990Z'


@pytest.mark.parametrize('dt_seconds', [0.0, -5.0, 0.5, math.nan, math.inf, 1e12, 1e300])
def test_provenance_needs_a_usable_dt(dt_seconds: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(constants.MAX_DT_DAYS_ENV, raising=False)
    with pytest.raises(TimingError, match='repeat time'):
        _provenance(dt_seconds=dt_seconds)


def test_the_dt_limit_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(constants.MAX_DT_DAYS_ENV, '20000')
    assert _provenance(dt_seconds=1e9).dt_days == pytest.approx(1e9 / 86400)
    monkeypatch.setenv(constants.MAX_DT_DAYS_ENV, 'many')
    with pytest.raises(TimingError, match='not a positive number of days'):
        _provenance()


def test_file_names_are_unique_to_the_pair() -> None:
    reference = 'S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7'
    secondary = 'S1A_IW_SLC__1SDV_20250418T022008_20250418T022035_058805_074946_C7D4'
    expected = f'{reference}_X_{secondary}_conversion_matrices.nc'
    assert conversion_matrices_file_name(reference, secondary) == expected
    assert conversion_matrices_file_name(f'/data/{reference}.zip', f'{secondary}.SAFE/') == expected
    burst = 'S1_136231_IW2_20200604T022312_VV_7C85-BURST'
    assert conversion_matrices_file_name(burst, burst.replace('20200604', '20200616')).startswith(burst + '_X_')
    assert _provenance().stem == (
        'S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4_X_'
        'S1B_IW_SLC__1SDV_20210413T052622_20210413T052650_026444_0327F9_ABCD'
    )
    with pytest.raises(ValueError, match='cannot name a product file'):
        conversion_matrices_file_name('a b', 'c')


def test_overwrite_protection(tmp_path: Path) -> None:
    output = tmp_path / 'conversion_matrices.nc'
    write_conversion_matrices(_synthetic_matrices(), output, provenance=_provenance())
    with pytest.raises(ProductError, match='already exists; remove it or pass --overwrite'):
        write_conversion_matrices(_synthetic_matrices(), output, provenance=_provenance())
    write_conversion_matrices(_synthetic_matrices(), output, provenance=_provenance(dt_seconds=5.0), overwrite=True)
    with netCDF4.Dataset(output) as dataset:
        assert dataset.dt_seconds == 5.0
    assert sorted(path.name for path in tmp_path.iterdir()) == ['conversion_matrices.nc']


@pytest.mark.parametrize('failure', [RuntimeError('NetCDF: HDF error'), OSError(28, 'No space left on device')])
def test_a_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception) -> None:
    calls = []

    def fail_on_m12(chunks: Any, name: str, *args: Any) -> None:
        calls.append(name)
        if name == 'M12':
            raise failure
        original(chunks, name, *args)

    original = module.write_matrix_rows
    monkeypatch.setattr(module, 'write_matrix_rows', fail_on_m12)
    with pytest.raises(ProductError, match='cannot write .*conversion_matrices.nc .*writable and has free space'):
        write_conversion_matrices(_synthetic_matrices(), tmp_path / 'conversion_matrices.nc', provenance=_provenance())
    assert calls == ['M11', 'M12']  # the file was open and half written when the failure came
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_write_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / 'conversion_matrices.nc'
    write_conversion_matrices(_synthetic_matrices(), output, provenance=_provenance())
    before = output.read_bytes()

    def interrupt(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(module, 'write_matrix_rows', interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_conversion_matrices(_synthetic_matrices(), output, provenance=_provenance(), overwrite=True)
    assert output.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == ['conversion_matrices.nc']


def test_float32_is_the_default(tmp_path: Path) -> None:
    output = write_conversion_matrices(_synthetic_matrices(), tmp_path / 'a.nc', provenance=_provenance())
    with netCDF4.Dataset(output) as dataset:
        assert dataset['M11'].dtype == np.float32 and 'scale_factor' not in dataset['M11'].ncattrs()


def test_write_errors_are_clear(tmp_path: Path) -> None:
    matrices = _synthetic_matrices()
    with pytest.raises(ProductError, match='unknown M11/M12 data type'):
        write_conversion_matrices(matrices, tmp_path / 'a.nc', provenance=_provenance(), dtype='float64')
    with pytest.raises(ProductError, match='output directory .* does not exist'):
        write_conversion_matrices(matrices, tmp_path / 'missing' / 'a.nc', provenance=_provenance())
    constant = ConversionMatrices(
        M11=np.full((3, 4), 0.01),
        M12=np.full((3, 4), 0.02),
        x=np.arange(4.0),
        y=np.arange(3.0),
        epsg=3413,
        geotransform=(0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
        dr_to_vr_factor=1.0,
    )
    with pytest.raises(ProductError, match='write it as float32'):
        write_conversion_matrices(constant, tmp_path / 'a.nc', provenance=_provenance(), dtype='int16')
    write_conversion_matrices(constant, tmp_path / 'a.nc', provenance=_provenance(), dtype='float32')
    assert [path.name for path in tmp_path.iterdir()] == ['a.nc']


def test_inconsistent_matrices_are_rejected() -> None:
    good = _synthetic_matrices()
    with pytest.raises(ProductError, match='same shape'):
        ConversionMatrices(good.M11, good.M12[:, :5], good.x, good.y, 3413, good.geotransform, 1.0)
    with pytest.raises(ProductError, match='do not match the matrices'):
        ConversionMatrices(good.M11, good.M12, good.y, good.x, 3413, good.geotransform, 1.0)


def test_reading_a_truncated_or_foreign_file_is_a_clear_error(tmp_path: Path) -> None:
    output = write_conversion_matrices(_synthetic_matrices(), tmp_path / 'good.nc', provenance=_provenance())
    data = output.read_bytes()
    truncated = tmp_path / 'truncated.nc'
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ProductError, match='truncated or not NetCDF'):
        read_conversion_matrices(truncated)

    text = tmp_path / 'text.nc'
    text.write_text('not a NetCDF file')
    with pytest.raises(ProductError, match='truncated or not NetCDF'):
        read_conversion_matrices(text)

    with pytest.raises(ProductError, match='does not exist'):
        read_conversion_matrices(tmp_path / 'absent.nc')

    other = tmp_path / 'other.nc'
    with netCDF4.Dataset(other, 'w') as dataset:
        dataset.createDimension('x', 2)
        dataset.createVariable('x', 'f8', ('x',))
    with pytest.raises(ProductError, match=r'lacks the variable\(s\) y, M11, M12, mapping'):
        read_conversion_matrices(other)

    with netCDF4.Dataset(output, 'a') as dataset:
        dataset['M11'].delncattr('dr_to_vr_factor')
    with pytest.raises(ProductError, match="lacks the attribute 'dr_to_vr_factor'"):
        read_conversion_matrices(output)


@pytest.mark.parametrize('dtype', ['float32', 'int16'])
def test_a_matrix_of_many_chunks_is_written_chunk_by_chunk_with_the_whole_arrays_values(
    tmp_path: Path, dtype: str
) -> None:
    # 9000 lines: chunks of 128 lines, the last one partial (the writer encodes one chunk's lines at a time).
    matrices = _synthetic_matrices(shape=(9000, 7))
    matrices.M11[8990:, 3] = np.nan
    output = write_conversion_matrices(matrices, tmp_path / 'tall.nc', provenance=_provenance(), dtype=dtype)
    with netCDF4.Dataset(output) as dataset:
        for name in ('M11', 'M12'):
            variable = dataset[name]
            assert variable.chunking() == [128, 7]
            variable.set_auto_maskandscale(False)
            raw = variable[:]
            expected = getattr(matrices, name)
            if dtype == 'float32':
                reference = expected.astype(np.float32)
                reference[np.isnan(reference)] = -32767
            else:
                packing = module.int16_packing(expected)
                reference = module.pack_int16(expected, packing, -32767)
            assert raw.dtype == reference.dtype
            np.testing.assert_array_equal(raw, reference)
