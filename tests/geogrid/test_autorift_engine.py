"""The autorift engine's contract with autoRIFT 1.x's ISCE2 Geogrid class, checked with stand-ins for isce2."""

import importlib.util
import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from osgeo import gdal, osr

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid import autorift_engine, isce2_child
from hyp3_s1_m11m12.geogrid.autorift_engine import (
    AutoriftModules,
    build_isce2_orbit,
    check_parameter_rasters,
    configure_geogrid,
    execute_geogrid,
    pin_orbit_time_base,
    run_autorift_geogrid_here,
)
from hyp3_s1_m11m12.geogrid.isce2_child import AutoriftCapabilities, run_isolated
from hyp3_s1_m11m12.geogrid.types import GeogridSettings, ParameterRasters
from hyp3_s1_m11m12.geogrid.vocabulary import OUTPUT_NAMES
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

    def exportToC(self, reference: datetime | None = None) -> list[float]:
        """ISCE2's: state-vector times in seconds from the midnight of `reference`, default the first vector's."""
        reference = reference if reference is not None else self.vectors[0].time
        midnight = reference.replace(hour=0, minute=0, second=0, microsecond=0)
        return [(vector.time - midnight).total_seconds() for vector in self.vectors]


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
        capabilities=AutoriftCapabilities(
            available=True, cpp_version='autoRIFT v1.6.0 (edabacd6e912)', geogrid_version='1.6.0'
        ),
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
    assert outputs == [str(tmp_path / name) for name in OUTPUT_NAMES]
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
    assert result.engine_version == 'autoRIFT v1.6.0 (edabacd6e912)'  # the C++ that ran, not the wrapper
    assert result.geogrid_version == '1.6.0'
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
@pytest.mark.usefixtures('fresh_probe')
def test_missing_isce2_says_to_use_the_numpy_engine(rasters, tmp_path):
    assert not autorift_engine.autorift_available()
    with pytest.raises(GeogridInputError, match='isce2 is not installed.*--engine numpy'):
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


def orbit_from(start: datetime, count: int = 8) -> Orbit:
    vectors = [
        StateVector(
            time=start + timedelta(seconds=10 * k),
            position_m=(4.0e6 + 1000.0 * k, 1.0e6 - 70000.0 * k, 5.5e6 - 20000.0 * k),
            velocity_m_s=(100.0, -7000.0, -2000.0 + k),
        )
        for k in range(count)
    ]
    return Orbit.from_state_vectors(vectors, source='synthetic')


def test_a_scene_just_after_midnight_gets_its_orbit_times_from_its_own_day():
    """ISCE2's exportToC counts from the first vector's midnight, Geogrid.py the scene's: 86 400 s apart here."""
    orbit = orbit_from(datetime(2021, 4, 1, 23, 59, 30))
    sensing_start = datetime(2021, 4, 2, 0, 0, 2, 500000)
    isce2_orbit = pin_orbit_time_base(build_isce2_orbit(orbit, StandInOrbit, StandInStateVector), orbit, sensing_start)
    times = isce2_orbit.exportToC()
    assert times[0] == -30.0  # 23:59:30 the day before, counted from 2021-04-02 00:00
    assert times[3] == 0.0
    unpinned = build_isce2_orbit(orbit, StandInOrbit, StandInStateVector).exportToC()
    assert unpinned[0] == 86370.0  # what the C++ would get without the guard: the scene would be a day off


def test_a_scene_on_the_day_of_its_orbit_is_left_alone():
    orbit = orbit_from(datetime(2021, 4, 1, 5, 26, 0))
    isce2_orbit = build_isce2_orbit(orbit, StandInOrbit, StandInStateVector)
    assert pin_orbit_time_base(isce2_orbit, orbit, datetime(2021, 4, 1, 5, 26, 22)).exportToC.__func__ is (
        StandInOrbit.exportToC
    )


def exit_like_a_failed_raster_read() -> None:
    os._exit(105)


def test_a_c_exit_105_is_a_raster_read_failure():
    with pytest.raises(GeogridInputError, match='exit code 105: a line of a parameter raster could not be read'):
        run_isolated(exit_like_a_failed_raster_read)


def test_exit_codes_are_described():
    assert 'could not be read' in isce2_child.describe_exit_code(105)
    assert 'killed by signal 9' == isce2_child.describe_exit_code(-9)


# ---------------------------------------------------------------------------------------------------------------
# Capability detection, with stand-in isce2 installations on sys.path (the child process inherits it).

ISCE_INIT = """
import logging
import os
import sys
from logging.config import fileConfig as _fc

isce_path = os.path.dirname(os.path.abspath(__file__))
_fc(os.path.join(isce_path, 'logging.conf'))  # as isce2's __init__: disable_existing_loggers defaults to True
sys.path.insert(1, isce_path)
sys.path.insert(1, os.path.join(isce_path, 'components'))
"""
LOGGING_CONF = """
[loggers]
keys=root,isce
[handlers]
keys=consoleHandler
[formatters]
keys=simpleFormatter
[logger_root]
level=DEBUG
handlers=consoleHandler
[logger_isce]
level=DEBUG
handlers=consoleHandler
qualname=isce
propagate=0
[handler_consoleHandler]
class=StreamHandler
formatter=simpleFormatter
args=(sys.stdout,)
[formatter_simpleFormatter]
format=%(asctime)s - %(name)s - %(levelname)s - %(message)s
"""
AUTORIFT_GEOGRID_CLASS = """
class Geogrid:
    def __init__(self):
        self.winsfname = None  # autoRIFT >= 1.5
"""


def write_standin_isce2(root: Path, functions: tuple[str, ...], build_record: str | None = None) -> Path:
    """isce2 + autoRIFT as installed by conda: isce/ (logging set-up, components/), and autoRIFT's geogrid/."""
    package = root / 'isce'
    compiled = package / 'components' / 'contrib' / 'geo_autoRIFT' / 'geogrid'
    compiled.mkdir(parents=True)
    (package / '__init__.py').write_text(ISCE_INIT)
    (package / 'logging.conf').write_text(LOGGING_CONF)
    for folder in (package / 'components', compiled.parent.parent, compiled.parent, compiled):
        (folder / '__init__.py').touch()
    (compiled / 'geogrid.py').write_text(''.join(f'def {name}(*args):\n    pass\n' for name in functions))
    if build_record is not None:
        (compiled / isce2_child.CPP_BUILD_INFO_NAME).write_text(build_record)
    (root / 'geogrid').mkdir()
    (root / 'geogrid' / '__init__.py').write_text(AUTORIFT_GEOGRID_CLASS)
    return root


@pytest.fixture
def fresh_probe():
    isce2_child.probe_autorift.cache_clear()
    yield
    isce2_child.probe_autorift.cache_clear()


@pytest.fixture
def isce2_2_6(tmp_path, monkeypatch, fresh_probe):
    """conda-forge's isce2 2.6.x: autoRIFT 1.4.0's 41-function compiled Geogrid (no setSFFilename_Py)."""
    root = write_standin_isce2(tmp_path / 'site-2.6', isce2_child.GEOGRID_API_1_4)
    assert len(isce2_child.GEOGRID_API_1_4) == 41
    monkeypatch.syspath_prepend(str(root))
    return root


@pytest.fixture
def isce2_with_autorift_1_6(tmp_path, monkeypatch, fresh_probe):
    """The project's image: autoRIFT v1.6.0's C++ compiled into isce2's contrib folder, with its build record."""
    record = 'autoRIFT v1.6.0 (edabacd6e9120a3efe4956280f32234376ae22bd) against isce2 v2.6.3\n'
    root = write_standin_isce2(tmp_path / 'site-1.6', isce2_child.GEOGRID_API_1_5, record)
    monkeypatch.syspath_prepend(str(root))
    return root


def test_auto_never_selects_isce2_2_6s_autorift_1_4(isce2_2_6):
    from hyp3_s1_m11m12.geogrid.stage import resolve_engine

    capabilities = isce2_child.probe_autorift()
    assert not capabilities.available
    assert capabilities.missing == ('setSFFilename_Py',)
    assert capabilities.cpp_version == 'autoRIFT 1.4.0'
    assert resolve_engine('auto') == 'numpy'
    assert 'isce' not in sys.modules  # probed in a child: this process never imported it


@pytest.mark.parametrize('engine', ['autorift', 'both'])
def test_engine_autorift_with_isce2_2_6_says_what_is_missing(isce2_2_6, engine):
    from hyp3_s1_m11m12.geogrid.stage import resolve_engine

    with pytest.raises(GeogridInputError) as error:
        resolve_engine(engine)
    message = str(error.value)
    assert '\n' not in message
    assert message.startswith(f'--engine {engine} cannot run:')
    for fragment in ('autoRIFT 1.4.0', 'lacks setSFFilename_Py', 'autoRIFT v1.6.0', '--engine numpy'):
        assert fragment in message


def test_auto_selects_a_positively_detected_autorift_1_6(isce2_with_autorift_1_6):
    from hyp3_s1_m11m12.geogrid.stage import resolve_engine

    capabilities = isce2_child.probe_autorift()
    assert capabilities.available, capabilities.problem
    assert capabilities.cpp_version.startswith('autoRIFT v1.6.0 (edabacd6e912')
    assert capabilities.geogrid_version == '1.6.0'
    assert resolve_engine('auto') == 'autorift'
    assert resolve_engine('autorift') == 'autorift'


def test_a_wrapper_older_than_1_5_is_not_selected(isce2_with_autorift_1_6):
    (isce2_with_autorift_1_6 / 'geogrid' / '__init__.py').write_text('class Geogrid:\n    pass\n')
    capabilities = isce2_child.probe_autorift()
    assert not capabilities.available
    assert 'older than autoRIFT 1.5 (no winsfname)' in capabilities.problem


def test_an_isce2_that_fails_to_import_falls_back_to_numpy(isce2_2_6):
    from hyp3_s1_m11m12.geogrid.stage import resolve_engine

    (isce2_2_6 / 'isce' / '__init__.py').write_text('raise OSError("libgfortran.so.5: cannot open shared object")')
    assert resolve_engine('auto') == 'numpy'
    assert 'libgfortran' in isce2_child.probe_autorift().problem


def test_logs_survive_importing_isce(isce2_2_6, caplog):
    ours = logging.getLogger('hyp3_s1_m11m12.workflows.demo_logger')
    root_handlers = list(logging.getLogger().handlers)
    isce2_child.import_keeping_logs('isce')
    try:
        assert not ours.disabled
        assert logging.getLogger().handlers == root_handlers
        with caplog.at_level(logging.INFO):
            ours.info('dt = 12 days')
        assert 'dt = 12 days' in caplog.text
    finally:
        for name in [name for name in sys.modules if name == 'isce' or name.startswith('isce.')]:
            del sys.modules[name]


def test_without_the_guard_isce2s_logging_set_up_does_disable_our_loggers(isce2_2_6):
    """The stand-in does what isce2 does: the guard above is what keeps the logs."""
    ours = logging.getLogger('hyp3_s1_m11m12.workflows.demo_logger_unguarded')
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    existing = {
        logger: logger.disabled
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    }
    try:
        importlib.import_module('isce')
        assert ours.disabled
    finally:  # undo it for the other tests of this process
        for logger, disabled in existing.items():
            logger.disabled = disabled
        root.setLevel(level)
        root.handlers[:] = handlers
        for name in [name for name in sys.modules if name == 'isce' or name.startswith('isce.')]:
            del sys.modules[name]


@pytest.mark.golden
@pytest.mark.parametrize('engine', ['autorift', 'both'])
def test_the_command_line_error_for_isce2_2_6_is_one_line_and_exit_2(isce2_2_6, golden_dir, tmp_path, engine):
    spec = golden_dir / 's1b_iw_20210401_utm' / 'inputs' / 'spec.json'
    environment = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(isce2_2_6), *sys.path])}
    command = [sys.executable, '-m', 'hyp3_s1_m11m12', '++process', 'geogrid', '--engine', engine]
    result = subprocess.run(
        [*command, '--spec', str(spec), '--output-dir', str(tmp_path / 'out')],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert 'Traceback' not in result.stderr
    errors = [line for line in result.stderr.splitlines() if 'error:' in line]
    assert len(errors) == 1, result.stderr
    assert f'--engine {engine} cannot run:' in errors[0] and 'lacks setSFFilename_Py' in errors[0]
    assert not (tmp_path / 'out').exists()


ANCHOR_BUILD = Path(os.environ.get('CPP_GEOGRID_BUILD') or '/tmp/cpp_geogrid_build') / 'python'


def inspect_module_file(path: str) -> AutoriftCapabilities:
    spec = importlib.util.spec_from_file_location('geogrid', path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return isce2_child.inspect_compiled_geogrid(module)


@pytest.mark.skipif(not (ANCHOR_BUILD / 'geogrid.abi3.so').is_file(), reason=f'no autoRIFT C++ build in {ANCHOR_BUILD}')
def test_the_real_autorift_1_6_module_passes_the_capability_check():
    """autoRIFT v1.6.0's geogridmodule.cpp, compiled from the public sources: the detection's positive case."""
    capabilities = run_isolated(inspect_module_file, str(ANCHOR_BUILD / 'geogrid.abi3.so'))
    assert capabilities.available, capabilities.problem
    assert capabilities.missing == ()
