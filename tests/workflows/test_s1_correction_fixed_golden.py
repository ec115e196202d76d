"""Regression of s1_correction_fixed on every golden case: the true-dt fix and the spoofed-dt bug, end to end.

The golden rasters reach the workflow through a parameter shapefile written here (as the ITS_LIVE ones do); the
radar geometry comes from the case's spec, or for the real pair from its two real SAFEs and annotation orbits.
"""

from datetime import timedelta
from pathlib import Path

import netCDF4
import numpy as np
import numpy.typing as npt
import pytest
from osgeo import gdal, osr

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.geogrid.parameter_file import find_parameter_set, radar_footprint_lonlat
from hyp3_s1_m11m12.geogrid.spec import GeogridSpec, load_spec
from hyp3_s1_m11m12.geogrid.vocabulary import OUTPUT_NAMES
from hyp3_s1_m11m12.sentinel1.pairing import RepeatTime
from hyp3_s1_m11m12.simulate.parameters import ParameterRegion, write_parameter_shapefile
from hyp3_s1_m11m12.workflows.s1_correction_fixed import (
    CorrectionProducts,
    correction_from_radar_geometry,
    s1_correction_fixed,
)
from tests.support.shared import golden_cases


gdal.UseExceptions()

pytestmark = pytest.mark.golden

RANGE_PIXEL_SIZE_M = 2.329562114715323
REAL_PAIR_CASE = 's1a_iw_20250406_realpair_utm'
REAL_PAIR_SAFES = (
    'S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7.SAFE',
    'S1A_IW_SLC__1SDV_20250418T022008_20250418T022035_058805_074946_C7D4.SAFE',
)
# The S1B case has the bug report's dt (12 days - 0.364 s): dr x 365 x 86400 / dt.
BUG_REPORT_DT_SECONDS = 1_036_799.636
BUG_REPORT_DR_TO_VR_FACTOR = 70.85753919927345
FLOAT_BAND_RELATIVE_TOLERANCE = 1e-9
FLOAT32_RELATIVE_PRECISION = 2.0**-23


def write_case_parameter_file(spec: GeogridSpec, folder: Path) -> Path:
    """A shapefile whose region around the scene points at the case's rasters, after a decoy region."""
    assert spec.epsg is not None
    lons, lats = zip(*radar_footprint_lonlat(spec.radar), strict=True)
    west, east, south, north = min(lons) - 1, max(lons) + 1, min(lats) - 1, max(lats) + 1
    box = ((west, south), (east, south), (east, north), (west, north))
    decoy_rasters = type(spec.rasters)(dem=str(folder / 'absent.tif'))
    decoy = ((0.0, -10.0), (10.0, -10.0), (10.0, -5.0), (0.0, -5.0))
    regions = [
        ParameterRegion(name='DECOY', epsg=32633, polygon_lonlat=decoy, rasters=decoy_rasters),
        ParameterRegion(name=spec.name, epsg=spec.epsg, polygon_lonlat=box, rasters=spec.rasters),
    ]
    return write_parameter_shapefile(folder / 'autorift_golden_0240m.shp', regions)


def read_bands(path: Path) -> tuple[list[npt.NDArray[np.float64]], tuple[float, ...], int | None, float | None]:
    dataset = gdal.Open(str(path))
    bands = [dataset.GetRasterBand(index + 1).ReadAsArray().astype(np.float64) for index in range(dataset.RasterCount)]
    nodata = dataset.GetRasterBand(1).GetNoDataValue()
    reference = osr.SpatialReference(wkt=dataset.GetProjection())
    reference.AutoIdentifyEPSG()
    code = reference.GetAuthorityCode(None)
    geotransform = tuple(dataset.GetGeoTransform())
    integer = dataset.GetRasterBand(1).DataType in (gdal.GDT_Int16, gdal.GDT_Int32)
    del dataset
    return bands, geotransform, int(code) if code else None, nodata if not integer else float(nodata or 0)


def assert_same_geotiff(ours: Path, golden: Path) -> None:
    our_bands, our_transform, our_epsg, our_nodata = read_bands(ours)
    golden_bands, golden_transform, golden_epsg, golden_nodata = read_bands(golden)
    assert our_transform == golden_transform
    assert our_epsg == golden_epsg
    assert our_nodata == golden_nodata
    assert len(our_bands) == len(golden_bands)
    dataset = gdal.Open(str(golden))
    integer = dataset.GetRasterBand(1).DataType in (gdal.GDT_Int16, gdal.GDT_Int32)
    del dataset
    for index, (our_band, golden_band) in enumerate(zip(our_bands, golden_bands, strict=True)):
        where = f'{ours.name} band {index + 1}'
        if integer:
            np.testing.assert_array_equal(our_band, golden_band, err_msg=where)
            continue
        nodata = golden_band == golden_nodata
        np.testing.assert_array_equal(our_band == golden_nodata, nodata, err_msg=where)
        scale = float(np.max(np.abs(golden_band[~nodata]), initial=0.0)) or 1.0
        np.testing.assert_allclose(
            our_band[~nodata], golden_band[~nodata], rtol=0, atol=FLOAT_BAND_RELATIVE_TOLERANCE * scale, err_msg=where
        )


def assert_matrices_match(products: CorrectionProducts, expected_nc: Path, dtype: str) -> None:
    with netCDF4.Dataset(expected_nc) as expected, netCDF4.Dataset(products.netcdf) as ours:
        for name in ('M11', 'M12'):
            golden = np.asarray(expected[name][:], dtype=np.float64)
            variable = ours[name]
            assert variable.dtype == np.dtype(dtype)
            values = np.ma.filled(variable[:].astype(np.float64), np.nan)
            np.testing.assert_array_equal(np.isnan(values), np.isnan(golden), err_msg=f'{name} nodata')
            valid = ~np.isnan(golden)
            error = np.abs(values[valid] - golden[valid])
            if dtype == 'int16':
                # Packing rounds to the nearest of ~101 levels: within one step (scale_factor) of the truth.
                step = float(variable.scale_factor)
                assert float(np.max(error)) <= step * (1 + 1e-6), f'{name}: {np.max(error)} > packing step {step}'
                assert float(np.max(error)) <= 0.5 * step * 1.01
            else:
                bound = FLOAT32_RELATIVE_PRECISION * np.abs(golden[valid]) + 1e-9 * np.max(np.abs(golden[valid]))
                assert np.all(error <= bound), f'{name}: worst error {np.max(error - bound)} beyond float32 precision'
            assert variable.dr_to_vr_factor == pytest.approx(products.dr_to_vr_factor, rel=1e-15)


def run_case(
    case: str, golden_dir: Path, s1_dir: Path, tmp_path: Path, dt_seconds: float | None, dtype: str
) -> tuple[GeogridSpec, CorrectionProducts]:
    spec = load_spec(golden_dir / case / 'inputs' / 'spec.json')
    parameter_file = write_case_parameter_file(spec, tmp_path / 'parameters')
    output_dir = tmp_path / 'out'
    if case == REAL_PAIR_CASE and dt_seconds is None:
        reference, secondary = (s1_dir / name for name in REAL_PAIR_SAFES)
        (products,) = s1_correction_fixed(
            reference,
            secondary=secondary,
            orbit='annotation',
            parameter_file=str(parameter_file),
            engine='numpy',
            m11m12_dtype=dtype,
            output_dir=output_dir,
        )
        return spec, products
    parameter_set = find_parameter_set(str(parameter_file), radar_footprint_lonlat(spec.radar))
    assert parameter_set.name == spec.name
    start = spec.radar.sensing_start
    dt = spec.dt_seconds if dt_seconds is None else dt_seconds
    timing = RepeatTime(dt, case, start, start + timedelta(seconds=dt))
    (products,) = correction_from_radar_geometry(
        spec.radar,
        [timing],
        parameter_set,
        engine='numpy',
        m11m12_dtype=dtype,
        output_dir=output_dir,
    )
    return spec, products


@pytest.mark.parametrize('dtype', ['int16', 'float32'])
@pytest.mark.parametrize('case', golden_cases())
def test_true_dt_reproduces_golden(case: str, dtype: str, golden_dir: Path, s1_dir: Path, tmp_path: Path) -> None:
    spec, products = run_case(case, golden_dir, s1_dir, tmp_path, None, dtype)

    assert products.dt_seconds == pytest.approx(spec.dt_seconds, abs=1e-6)
    expected_factor = RANGE_PIXEL_SIZE_M * constants.SECONDS_PER_YEAR / products.dt_seconds
    assert products.dr_to_vr_factor == pytest.approx(expected_factor, rel=1e-12)
    if spec.dt_seconds == BUG_REPORT_DT_SECONDS:
        assert products.dr_to_vr_factor == pytest.approx(BUG_REPORT_DR_TO_VR_FACTOR, rel=1e-12)
    for name in OUTPUT_NAMES:
        assert_same_geotiff(products.geotiff(name), golden_dir / case / 'true_dt' / name)
    assert_matrices_match(products, golden_dir / case / 'true_dt' / 'expected_m11m12.nc', dtype)
    with netCDF4.Dataset(products.netcdf) as dataset:
        attributes = {name: dataset.getncattr(name) for name in dataset.ncattrs()}
    assert attributes['dt_seconds'] == spec.dt_seconds
    assert attributes['dt_days'] == spec.dt_seconds / constants.SECONDS_PER_DAY
    assert products.provenance.reference_id in {case, REAL_PAIR_SAFES[0].removesuffix('.SAFE')}


@pytest.mark.parametrize('case', golden_cases())
def test_spoofed_dt_reproduces_the_bug(case: str, golden_dir: Path, s1_dir: Path, tmp_path: Path) -> None:
    _, products = run_case(case, golden_dir, s1_dir, tmp_path, constants.SPOOFED_DT_SECONDS, 'float32')

    assert products.dr_to_vr_factor == pytest.approx(
        RANGE_PIXEL_SIZE_M * 365 * constants.SECONDS_PER_DAY / constants.SPOOFED_DT_SECONDS, rel=1e-12
    )
    for name in OUTPUT_NAMES:
        assert_same_geotiff(products.geotiff(name), golden_dir / case / 'spoofed_dt' / name)
    assert_matrices_match(products, golden_dir / case / 'spoofed_dt' / 'expected_m11m12.nc', 'float32')
