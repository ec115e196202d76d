"""The autorift engine's contract with autoRIFT 1.x's ISCE2 Geogrid class, checked with stand-ins for isce2."""

import importlib.util
import os
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from osgeo import gdal, osr

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid import autorift_engine
from hyp3_s1_m11m12.geogrid.autorift_engine import (
    AutoriftModules,
    build_isce2_orbit,
    check_parameter_rasters,
    configure_geogrid,
    execute_geogrid,
    run_autorift_geogrid_here,
    run_isolated,
)
from hyp3_s1_m11m12.geogrid.types import GeogridSettings, ParameterRasters
from hyp3_s1_m11m12.geometry.orbit import Orbit, StateVector
from hyp3_s1_m11m12.geometry.radar import RadarGeometry


gdal.UseExceptions()

DT_TRUE_SECONDS = 1_036_799.636  # 12 days less 0.364 s, the autoRIFT#99 pair

# Every attribute testGeogrid_ISCE.runGeogrid (autoRIFT v1.6.0) sets, plus the srs_* search-range settings.
RUN_GEOGRID_ATTRIBUTES = {
    'startingRange',
    'rangePixelSize',
    'sensingStart',
    'prf',
    'lookSide',
    'repeatTime',
    'numberOfLines',
    'numberOfSamples',
    'nodata_out',
    'chipSizeX0',
    'gridSpacingX',
    'orbit',
    'demname',
    'dhdxname',
    'dhdyname',
    'vxname',
    'vyname',
    'srxname',
    'sryname',
    'csminxname',
    'csminyname',
    'csmaxxname',
    'csmaxyname',
    'ssmname',
    'winlocname',
    'winoffname',
    'winsrname',
    'wincsminname',
    'wincsmaxname',
    'winssmname',
    'winro2vxname',
    'winro2vyname',
    'winsfname',
    'srs_dt_unity',
    'srs_max_scale',
    'srs_max_search',
    'srs_min_search',
}


class StandInGeogrid:
    """Records every attribute set and every call, in order; `geogrid()` writes a window_location.tif."""

    calls: list[str]
    assigned: dict[str, Any]
    winlocname: str

    def __init__(self) -> None:
        object.__setattr__(self, 'assigned', {})
        object.__setattr__(self, 'calls', [])

    def __setattr__(self, name: str, value: Any) -> None:
        self.assigned[name] = value
        object.__setattr__(self, name, value)

    def configure(self) -> None:
        self.calls.append('configure')

    def getIncidenceAngle(self) -> None:
        self.calls.append('getIncidenceAngle')
        object.__setattr__(self, 'incidenceAngle', 0.6463625388056624)

    def geogrid(self) -> None:
        self.calls.append('geogrid')
        driver = gdal.GetDriverByName('GTiff')
        dataset = driver.Create(self.winlocname, 3, 2, 2, gdal.GDT_Int32)
        dataset.GetRasterBand(1).Fill(7)
        del dataset
        for name, value in (('pOff', 50), ('lOff', 41), ('pCount', 3), ('lCount', 2)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, 'X_res', 3.8678625552603227)
        object.__setattr__(self, 'Y_res', 15.604278691457388)
        object.__setattr__(self, 'cen_lat', 46.5)
        object.__setattr__(self, 'cen_lon', 9.25)


class FailingGeogrid(StandInGeogrid):
    def geogrid(self) -> None:
        raise Exception('Input image 1 must be older than input image 2')  # noqa: TRY002 - autoRIFT's checkState


class StandInOrbit:
    def __init__(self) -> None:
        self.vectors: list[Any] = []
        self.configured = False

    def configure(self) -> None:
        self.configured = True

    def addStateVector(self, vector: Any) -> None:
        self.vectors.append(vector)


class StandInStateVector:
    def setTime(self, time: datetime) -> None:
        self.time = time

    def setPosition(self, position: list[float]) -> None:
        self.position = position

    def setVelocity(self, velocity: list[float]) -> None:
        self.velocity = velocity


def synthetic_radar() -> RadarGeometry:
    start = datetime(2021, 4, 1, 5, 26, 0)
    vectors = [
        StateVector(
            time=start + timedelta(seconds=10 * k),
            position_m=(4.0e6 + 1000.0 * k, 1.0e6 - 70000.0 * k, 5.5e6 - 20000.0 * k),
            velocity_m_s=(100.0, -7000.0, -2000.0 + k),
        )
        for k in range(6)
    ]
    return RadarGeometry(
        sensing_start=datetime(2021, 4, 1, 5, 26, 22, 396990),
        starting_range_m=800900.919998656,
        range_pixel_size_m=2.329562114715323,
        prf_hz=486.48631029955294,
        number_of_lines=13588,
        number_of_samples=45409,
        orbit=Orbit.from_state_vectors(vectors, source='synthetic'),
    )


def write_raster(path: Path, epsg: int = 32632, size: tuple[int, int] = (6, 5), origin_x: float = 543360.0) -> str:
    dataset = gdal.GetDriverByName('GTiff').Create(str(path), size[0], size[1], 1, gdal.GDT_Float32)
    dataset.SetGeoTransform((origin_x, 240.0, 0.0, 5269920.0, 0.0, -240.0))
    reference = osr.SpatialReference()
    reference.ImportFromEPSG(epsg)
    dataset.SetProjection(reference.ExportToWkt())
    dataset.GetRasterBand(1).WriteArray(np.full((size[1], size[0]), 100.0, dtype=np.float32))
    del dataset
    return str(path)


@pytest.fixture
def rasters(tmp_path: Path) -> ParameterRasters:
    folder = tmp_path / 'inputs'
    folder.mkdir()
    names = ('dem', 'dhdx', 'dhdy', 'vx', 'vy', 'ssm')
    return ParameterRasters(**{name: write_raster(folder / f'{name}.tif') for name in names})


def standin_modules(geogrid_class: type = StandInGeogrid) -> AutoriftModules:
    return AutoriftModules(
        geogrid_class=geogrid_class,
        orbit_class=StandInOrbit,
        state_vector_class=StandInStateVector,
        version='1.6.0',
        source='stand-in',
    )


def test_configure_geogrid_sets_exactly_the_attributes_of_run_geogrid(rasters, tmp_path):
    radar = synthetic_radar()
    orbit = object()
    settings = GeogridSettings()
    geogrid = configure_geogrid(
        StandInGeogrid,
        radar,
        DT_TRUE_SECONDS,
        rasters,
        settings,
        isce2_orbit=orbit,
        grid_spacing_x_m=240.0,
        output_dir=tmp_path,
    )
    assert set(geogrid.assigned) == RUN_GEOGRID_ATTRIBUTES
    assert geogrid.calls == ['configure']
    values = geogrid.assigned

    # dt in seconds, exactly as given: not days, not rounded to whole days
    assert values['repeatTime'] == DT_TRUE_SECONDS
    assert isinstance(values['repeatTime'], float)
    assert values['sensingStart'] == radar.sensing_start
    assert isinstance(values['sensingStart'], datetime)
    assert values['orbit'] is orbit

    assert values['startingRange'] == radar.starting_range_m
    assert values['rangePixelSize'] == radar.range_pixel_size_m
    assert values['prf'] == radar.prf_hz
    # the C bindings parse these with "i": they must be ints
    for name, expected in (
        ('lookSide', -1),
        ('numberOfLines', 13588),
        ('numberOfSamples', 45409),
        ('nodata_out', constants.NODATA_OUT),
    ):
        assert values[name] == expected
        assert type(values[name]) is int
    assert values['chipSizeX0'] == constants.CHIP_SIZE_X0_M
    assert values['gridSpacingX'] == 240.0

    assert values['demname'] == rasters.dem
    assert values['dhdxname'] == rasters.dhdx
    assert values['vyname'] == rasters.vy
    assert values['ssmname'] == rasters.ssm
    # absent rasters are '' as testGeogrid_ISCE's command line passes them (geogrid.cpp tests name != "")
    for absent in ('srxname', 'sryname', 'csminxname', 'csminyname', 'csmaxxname', 'csmaxyname'):
        assert values[absent] == ''

    outputs = [values[attribute] for attribute in autorift_engine.OUTPUT_ATTRIBUTES]
    assert outputs == [str(tmp_path / name) for name in constants.GEOGRID_OUTPUT_NAMES]
    assert values['winlocname'].endswith('window_location.tif')
    assert values['winsfname'].endswith('window_scale_factor.tif')

    assert values['srs_dt_unity'] == constants.SEARCH_RANGE_DT_UNITY_DAYS
    assert values['srs_max_scale'] == constants.SEARCH_RANGE_MAX_SCALE
    assert values['srs_max_search'] == constants.SEARCH_RANGE_MAX_M_PER_YR
    assert values['srs_min_search'] == constants.SEARCH_RANGE_MIN_M_PER_YR


def test_configure_geogrid_passes_custom_settings(rasters, tmp_path):
    settings = GeogridSettings(
        chip_size_x0_m=120.0,
        nodata_out=-9999,
        srs_dt_unity_days=32.0,
        srs_max_scale=10.0,
        srs_max_search_m_per_yr=15000.0,
        srs_min_search_m_per_yr=5.0,
    )
    geogrid = configure_geogrid(
        StandInGeogrid,
        synthetic_radar(),
        86400.0,
        rasters,
        settings,
        isce2_orbit=None,
        grid_spacing_x_m=120.0,
        output_dir=tmp_path,
    )
    assert geogrid.repeatTime == 86400.0
    assert (geogrid.chipSizeX0, geogrid.nodata_out, geogrid.gridSpacingX) == (120.0, -9999, 120.0)
    assert (geogrid.srs_dt_unity, geogrid.srs_max_scale, geogrid.srs_max_search, geogrid.srs_min_search) == (
        32.0,
        10.0,
        15000.0,
        5.0,
    )


def test_build_isce2_orbit_carries_every_state_vector():
    orbit = synthetic_radar().orbit
    isce2_orbit = build_isce2_orbit(orbit, StandInOrbit, StandInStateVector)
    assert isce2_orbit.configured
    expected = orbit.state_vectors()
    assert len(isce2_orbit.vectors) == len(expected) == 6
    for built, vector in zip(isce2_orbit.vectors, expected, strict=True):
        assert built.time == vector.time
        assert isinstance(built.time, datetime)
        assert built.position == list(vector.position_m)
        assert built.velocity == list(vector.velocity_m_s)
    assert isce2_orbit.vectors[1].time - isce2_orbit.vectors[0].time == timedelta(seconds=10)


def test_execute_geogrid_calls_incidence_angle_then_geogrid_then_registers_gdal(monkeypatch, tmp_path):
    events: list[str] = []

    class OrderGeogrid:
        def getIncidenceAngle(self) -> None:
            events.append('getIncidenceAngle')

        def geogrid(self) -> None:
            events.append('geogrid')

    monkeypatch.setattr(autorift_engine.gdal, 'AllRegister', lambda: events.append('gdal.AllRegister'))
    execute_geogrid(OrderGeogrid())
    assert events == ['getIncidenceAngle', 'geogrid', 'gdal.AllRegister']


def test_run_here_builds_the_result_from_the_geogrid_state(rasters, tmp_path):
    output_dir = tmp_path / 'out'
    output_dir.mkdir()
    radar = synthetic_radar()
    result = run_autorift_geogrid_here(
        radar, DT_TRUE_SECONDS, rasters, output_dir, GeogridSettings(), modules=standin_modules()
    )
    assert result.engine == 'autorift'
    assert result.engine_version == '1.6.0'
    assert result.dt_seconds == DT_TRUE_SECONDS
    assert result.epsg == 32632
    assert (result.p_off, result.l_off, result.p_count, result.l_count) == (50, 41, 3, 2)
    assert result.x_res_m == 3.8678625552603227
    assert result.y_res_m == 15.604278691457388
    assert result.incidence_angle_rad == 0.6463625388056624
    assert result.extra == {'center_lat_deg': 46.5, 'center_lon_deg': 9.25}
    assert result.outputs == {'window_location.tif': output_dir / 'window_location.tif'}
    assert result.output_dir == output_dir


def test_run_here_turns_autorift_exceptions_into_input_errors(rasters, tmp_path):
    with pytest.raises(GeogridInputError, match='autoRIFT Geogrid failed: Exception: Input image 1 must be older'):
        run_autorift_geogrid_here(
            synthetic_radar(), 86400.0, rasters, tmp_path, GeogridSettings(), modules=standin_modules(FailingGeogrid)
        )


@pytest.mark.parametrize('dt_seconds', [0.0, -86400.0, float('nan'), float('inf')])
def test_run_here_rejects_a_non_positive_dt(rasters, tmp_path, dt_seconds):
    with pytest.raises(GeogridInputError, match='secondary acquisition must be later than the reference'):
        run_autorift_geogrid_here(
            synthetic_radar(), dt_seconds, rasters, tmp_path, GeogridSettings(), modules=standin_modules()
        )


def test_check_parameter_rasters_reads_epsg_and_spacing(rasters):
    grid = check_parameter_rasters(rasters)
    assert (grid.epsg, grid.geotransform[1]) == (32632, 240.0)


def test_a_raster_without_its_partner_is_an_error(rasters):
    lonely = ParameterRasters(dem=rasters.dem, vx=rasters.vx)
    with pytest.raises(GeogridInputError, match='the vy raster is missing: vx and vy must be given together'):
        check_parameter_rasters(lonely)


def test_a_raster_off_the_dem_grid_is_an_error(rasters, tmp_path):
    shifted = write_raster(tmp_path / 'shifted.tif', origin_x=543600.0)
    with pytest.raises(GeogridInputError, match=r'ssm raster .*shifted.tif is not on the DEM grid'):
        check_parameter_rasters(ParameterRasters(dem=rasters.dem, ssm=shifted))


def test_a_geographic_dem_is_an_error(tmp_path):
    dem = write_raster(tmp_path / 'dem4326.tif', epsg=4326)
    with pytest.raises(GeogridInputError, match='geographic CRS'):
        check_parameter_rasters(ParameterRasters(dem=dem))


def test_an_unreadable_raster_is_an_error(rasters, tmp_path):
    (tmp_path / 'broken.tif').write_text('not a GeoTIFF')
    with pytest.raises(GeogridInputError, match='cannot open the ssm raster .*broken.tif'):
        check_parameter_rasters(ParameterRasters(dem=rasters.dem, ssm=str(tmp_path / 'broken.tif')))


# Run in a spawned child by run_isolated: they must be importable module-level functions.
def exit_like_geogrid_cpp() -> None:
    os._exit(106)


def raise_input_error() -> None:
    raise GeogridInputError('bad input from the child')


def add(a: int, b: int) -> int:
    return a + b


def test_run_isolated_returns_the_child_result():
    assert run_isolated(add, 2, 3) == 5


def test_run_isolated_reraises_the_child_exception():
    with pytest.raises(GeogridInputError, match='bad input from the child'):
        run_isolated(raise_input_error)


def test_run_isolated_turns_a_c_exit_into_an_input_error():
    with pytest.raises(GeogridInputError, match='exit code 106: a grid node has a zero-Doppler time outside the orbit'):
        run_isolated(exit_like_geogrid_cpp)


@pytest.mark.skipif(importlib.util.find_spec('isce') is not None, reason='isce2 is installed here')
def test_missing_isce2_says_to_use_the_numpy_engine(rasters, tmp_path):
    assert not autorift_engine.autorift_available()
    with pytest.raises(GeogridInputError, match='--engine numpy'):
        autorift_engine.run_autorift_geogrid(synthetic_radar(), 86400.0, rasters, tmp_path)
    assert list(tmp_path.glob('window_*.tif')) == []


@pytest.mark.autorift
@pytest.mark.golden
def test_real_autorift_reproduces_the_golden_location(golden_dir, tmp_path):
    if not autorift_engine.autorift_available():
        pytest.skip('isce2 and autoRIFT 1.x (ISCE2 Geogrid) are not importable; they exist only in the conda image')
    from hyp3_s1_m11m12.geogrid.spec import load_spec

    case = golden_dir / 's1b_iw_20210401_utm'
    spec = load_spec(case / 'inputs' / 'spec.json')
    result = autorift_engine.run_autorift_geogrid(spec.radar, spec.dt_seconds, spec.rasters, tmp_path, spec.settings)
    assert (result.p_off, result.l_off, result.p_count, result.l_count) == (50, 41, 189, 178)
    ours = gdal.Open(str(tmp_path / 'window_location.tif'))
    golden = gdal.Open(str(case / 'true_dt' / 'window_location.tif'))
    np.testing.assert_array_equal(ours.ReadAsArray(), golden.ReadAsArray())


def test_auto_never_settles_for_the_isce2_contrib_copy(monkeypatch):
    """isce2's contrib Geogrid is autoRIFT 1.4.0 (no scale factors): only an explicit --engine autorift may use it."""
    orbit_module = SimpleNamespace(Orbit=object, StateVector=object)
    contrib_module = SimpleNamespace(Geogrid=object)

    def fake_import(name):
        if name == 'isce':
            return SimpleNamespace()
        if name == 'isceobj.Orbit.Orbit':
            return orbit_module
        if name in autorift_engine.ISCE2_CONTRIB_MODULES:
            return contrib_module
        raise ImportError(f'No module named {name!r}')

    monkeypatch.setattr(autorift_engine.importlib.util, 'find_spec', lambda name: object())
    monkeypatch.setattr(autorift_engine, '_import_keeping_root_logger', fake_import)
    assert not autorift_engine.autorift_available()
    with pytest.raises(GeogridInputError, match="autoRIFT's ISCE2 Geogrid class cannot be imported"):
        autorift_engine.load_autorift(allow_isce2_contrib=False)
    modules = autorift_engine.load_autorift()
    assert modules.source == autorift_engine.ISCE2_CONTRIB_MODULES[0]
    assert modules.version == 'isce2-contrib-1.4.0'
