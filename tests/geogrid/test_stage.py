"""The Geogrid stage: engine choice, input checks and atomic publication of the outputs (with stand-in engines)."""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid import autorift_engine, isce2_child, stage
from hyp3_s1_m11m12.geogrid.stage import geogrid_from_spec, resolve_engine, run_geogrid
from hyp3_s1_m11m12.geogrid.types import GeogridResult, GeogridSettings, ParameterRasters
from hyp3_s1_m11m12.geometry.orbit import Orbit, StateVector
from hyp3_s1_m11m12.geometry.radar import RadarGeometry


DT_SECONDS = 1_036_799.636


def synthetic_radar() -> RadarGeometry:
    start = datetime(2021, 4, 1, 5, 26, 0)
    vectors = [
        StateVector(
            time=start + timedelta(seconds=10 * k),
            position_m=(4.0e6, 1.0e6 - 70000.0 * k, 5.5e6),
            velocity_m_s=(0.0, -7000.0, 0.0),
        )
        for k in range(5)
    ]
    return RadarGeometry(
        sensing_start=start + timedelta(seconds=12),
        starting_range_m=800000.0,
        range_pixel_size_m=2.329562114715323,
        prf_hz=486.48631029955294,
        number_of_lines=1000,
        number_of_samples=2000,
        orbit=Orbit.from_state_vectors(vectors),
    )


RASTERS = ParameterRasters(dem='dem.tif')


@dataclass
class FakeEngine:
    """Writes `names` into the folder it is given, then fails with `error` after `fail_after` files if set."""

    names: tuple[str, ...] = constants.GEOGRID_OUTPUT_NAMES
    fail_after: int | None = None
    error: BaseException = field(default_factory=lambda: GeogridInputError('engine rejected the input'))
    calls: list[tuple[float, Path]] = field(default_factory=list)

    def __call__(
        self,
        radar: RadarGeometry,
        dt_seconds: float,
        rasters: ParameterRasters,
        output_dir: Path,
        settings: GeogridSettings,
    ) -> GeogridResult:
        self.calls.append((dt_seconds, output_dir))
        outputs = {}
        for index, name in enumerate(self.names):
            if self.fail_after is not None and index == self.fail_after:
                raise self.error
            (output_dir / name).write_text(f'new {name}')
            outputs[name] = output_dir / name
        if self.fail_after is not None:
            raise self.error
        return GeogridResult(
            output_dir=output_dir,
            outputs=outputs,
            engine='fake',
            engine_version='0',
            dt_seconds=dt_seconds,
            epsg=32632,
            p_off=50,
            l_off=41,
            p_count=189,
            l_count=178,
            x_res_m=3.87,
            y_res_m=15.6,
            incidence_angle_rad=0.646,
        )


@pytest.fixture
def use_engine(monkeypatch):
    def install(engine: FakeEngine) -> FakeEngine:
        monkeypatch.setattr(stage, 'engine_function', lambda name: engine)
        monkeypatch.setattr(isce2_child, 'probe_autorift', lambda: capabilities(False))
        return engine

    return install


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def capabilities(available: bool) -> isce2_child.AutoriftCapabilities:
    if available:
        return isce2_child.AutoriftCapabilities(available=True, cpp_version='autoRIFT v1.6.0 (stand-in)')
    return isce2_child.AutoriftCapabilities(available=False, problem='isce2 is not installed')


@pytest.mark.parametrize('available, expected', [(True, 'autorift'), (False, 'numpy')])
def test_auto_picks_autorift_only_when_detected(monkeypatch, caplog, available, expected):
    monkeypatch.setattr(isce2_child, 'probe_autorift', lambda: capabilities(available))
    with caplog.at_level(logging.INFO, logger='hyp3_s1_m11m12.geogrid.stage'):
        assert resolve_engine('auto') == expected
    assert f'Geogrid engine: {expected}' in caplog.text


@pytest.mark.parametrize('available', [True, False])
def test_an_explicit_engine_is_kept_or_refused_up_front(monkeypatch, available):
    monkeypatch.setattr(isce2_child, 'probe_autorift', lambda: capabilities(available))
    assert resolve_engine('numpy') == 'numpy'
    for engine in ('autorift', 'both'):
        if available:
            assert resolve_engine(engine) == engine
        else:
            with pytest.raises(GeogridInputError, match=f'^--engine {engine} cannot run: isce2 is not installed; '):
                resolve_engine(engine)


def test_an_unknown_engine_is_an_error():
    with pytest.raises(GeogridInputError, match="unknown Geogrid engine 'isce3'"):
        resolve_engine('isce3')


def test_engines_resolve_to_their_run_functions():
    assert stage.engine_function('autorift') is autorift_engine.run_autorift_geogrid


def test_outputs_are_published_and_the_workspace_removed(use_engine, tmp_path):
    engine = use_engine(FakeEngine())
    output_dir = tmp_path / 'new' / 'folder'
    result = run_geogrid(synthetic_radar(), DT_SECONDS, RASTERS, output_dir, engine='numpy')

    assert leftovers(output_dir) == sorted(constants.GEOGRID_OUTPUT_NAMES)
    assert result.output_dir == output_dir.resolve()
    assert result.outputs == {name: output_dir.resolve() / name for name in constants.GEOGRID_OUTPUT_NAMES}
    assert (output_dir / 'window_location.tif').read_text() == 'new window_location.tif'
    ((dt, workspace),) = engine.calls
    assert dt == DT_SECONDS
    # the engine wrote into a temporary folder inside the output folder, which is gone
    assert workspace.parent == output_dir.resolve()
    assert workspace.name.startswith(stage.TEMPORARY_PREFIX)
    assert not workspace.exists()


@pytest.mark.parametrize(
    'error',
    [GeogridInputError('node time outside the orbit'), RuntimeError('a bug'), KeyboardInterrupt()],
    ids=['input-error', 'bug', 'interrupt'],
)
def test_an_engine_failing_half_way_leaves_nothing(use_engine, tmp_path, error):
    use_engine(FakeEngine(fail_after=4, error=error))
    with pytest.raises(type(error)):
        run_geogrid(synthetic_radar(), DT_SECONDS, RASTERS, tmp_path, engine='numpy')
    assert leftovers(tmp_path) == []


def test_a_failed_run_removes_the_output_dir_it_created(use_engine, tmp_path):
    use_engine(FakeEngine(fail_after=1))
    with pytest.raises(GeogridInputError):
        run_geogrid(synthetic_radar(), DT_SECONDS, RASTERS, tmp_path / 'new', engine='numpy')
    assert leftovers(tmp_path) == []


def test_a_failed_run_keeps_the_previous_outputs(use_engine, tmp_path):
    (tmp_path / 'window_location.tif').write_text('old')
    use_engine(FakeEngine(fail_after=2))
    with pytest.raises(GeogridInputError, match='engine rejected the input'):
        run_geogrid(synthetic_radar(), DT_SECONDS, RASTERS, tmp_path, engine='numpy', overwrite=True)
    assert leftovers(tmp_path) == ['window_location.tif']
    assert (tmp_path / 'window_location.tif').read_text() == 'old'


def test_existing_outputs_without_overwrite_are_an_error(use_engine, tmp_path):
    engine = use_engine(FakeEngine())
    (tmp_path / 'window_offset.tif').write_text('old')
    (tmp_path / 'window_location.tif').write_text('old')
    with pytest.raises(GeogridInputError, match=r'window_location.tif, window_offset.tif.*--overwrite'):
        run_geogrid(synthetic_radar(), DT_SECONDS, RASTERS, tmp_path, engine='numpy')
    assert engine.calls == []
    assert (tmp_path / 'window_location.tif').read_text() == 'old'


def test_overwrite_replaces_outputs_and_removes_stale_ones(use_engine, tmp_path):
    use_engine(FakeEngine(names=('window_location.tif', 'window_chip_size_min.tif')))
    (tmp_path / 'window_location.tif').write_text('old')
    (tmp_path / 'window_offset.tif').write_text('old, from a run with a velocity raster')
    (tmp_path / 'unrelated.txt').write_text('keep me')
    result = run_geogrid(synthetic_radar(), DT_SECONDS, RASTERS, tmp_path, engine='numpy', overwrite=True)
    assert leftovers(tmp_path) == ['unrelated.txt', 'window_chip_size_min.tif', 'window_location.tif']
    assert (tmp_path / 'window_location.tif').read_text() == 'new window_location.tif'
    assert set(result.outputs) == {'window_location.tif', 'window_chip_size_min.tif'}


def test_an_output_dir_below_a_file_is_an_error(use_engine, tmp_path):
    engine = use_engine(FakeEngine())
    blocker = tmp_path / 'a_file.txt'
    blocker.write_text('not a folder')
    with pytest.raises(GeogridInputError, match=r'cannot create the output directory .*a_file.txt/out.*--output-dir'):
        run_geogrid(synthetic_radar(), DT_SECONDS, RASTERS, blocker / 'out', engine='numpy')
    assert engine.calls == []


def test_an_output_dir_that_is_a_file_is_an_error(use_engine, tmp_path):
    use_engine(FakeEngine())
    blocker = tmp_path / 'a_file.txt'
    blocker.write_text('not a folder')
    with pytest.raises(GeogridInputError, match='a_file.txt.*--output-dir'):
        run_geogrid(synthetic_radar(), DT_SECONDS, RASTERS, blocker, engine='numpy')
    assert blocker.read_text() == 'not a folder'


@pytest.mark.parametrize('dt_seconds', [0.0, -1036799.636, float('nan'), float('inf'), float('-inf')])
def test_a_non_positive_dt_is_an_error(use_engine, tmp_path, dt_seconds):
    engine = use_engine(FakeEngine())
    with pytest.raises(GeogridInputError, match='secondary acquisition must be later than the reference') as caught:
        run_geogrid(synthetic_radar(), dt_seconds, RASTERS, tmp_path / 'out', engine='numpy')
    assert str(dt_seconds) in str(caught.value)
    assert engine.calls == []
    assert not (tmp_path / 'out').exists()


def test_the_result_and_log_report_dt_engine_and_grid(use_engine, tmp_path, caplog):
    use_engine(FakeEngine())
    with caplog.at_level(logging.INFO, logger='hyp3_s1_m11m12.geogrid.stage'):
        run_geogrid(synthetic_radar(), DT_SECONDS, RASTERS, tmp_path, engine='numpy')
    assert 'dt = 1036799.636000 s = 11.999995787 days' in caplog.text
    assert 'numpy engine' in caplog.text
    assert 'pOff = 50, lOff = 41, pCount = 189, lCount = 178' in caplog.text


def write_spec(folder: Path) -> Path:
    """A minimal spec.json in the golden format, with rasters named relative to its folder."""
    radar = synthetic_radar()
    vectors = radar.orbit.state_vectors()
    document = {
        'case': 'synthetic',
        'radar': {
            'sensingStart_utc': radar.sensing_start.isoformat(),
            'startingRange_m': radar.starting_range_m,
            'rangePixelSize_m': radar.range_pixel_size_m,
            'prf_hz': radar.prf_hz,
            'numberOfLines': radar.number_of_lines,
            'numberOfSamples': radar.number_of_samples,
            'lookSide': -1,
        },
        'orbit': {
            'utc': [vector.time.isoformat() for vector in vectors],
            'position_ecef_m': [list(vector.position_m) for vector in vectors],
            'velocity_ecef_m_s': [list(vector.velocity_m_s) for vector in vectors],
        },
        'map': {'epsg': 32632},
        'params': {'chipSizeX0_m': 240.0, 'nodata_out': -32767},
        'rasters': {'dem': 'dem.tif', 'vx': 'vx.tif', 'vy': 'vy.tif'},
        'dt': {'dt_true_seconds': DT_SECONDS, 'dt_spoofed_seconds': 86400.0},
    }
    path = folder / 'spec.json'
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize('dt_seconds, expected', [(None, DT_SECONDS), (86400.0, 86400.0)])
def test_geogrid_from_spec_uses_the_true_dt_unless_told(use_engine, tmp_path, monkeypatch, dt_seconds, expected):
    spec_folder = tmp_path / 'case' / 'inputs'
    spec_folder.mkdir(parents=True)
    spec_path = write_spec(spec_folder)
    received: list[ParameterRasters] = []
    engine = FakeEngine(names=('window_location.tif',))

    def recording_engine(radar, dt, rasters, output_dir, settings):
        received.append(rasters)
        return engine(radar, dt, rasters, output_dir, settings)

    monkeypatch.setattr(stage, 'engine_function', lambda name: recording_engine)
    monkeypatch.setattr(isce2_child, 'probe_autorift', lambda: capabilities(False))
    monkeypatch.chdir(tmp_path)
    result = geogrid_from_spec(Path('case/inputs/spec.json'), Path('out'), dt_seconds=dt_seconds, engine='numpy')

    assert engine.calls[0][0] == expected
    assert result.dt_seconds == expected
    # raster paths are the spec folder's files, absolute so that any working directory works
    assert received[0].dem == str(spec_folder.resolve() / 'dem.tif')
    assert received[0].vy == str(spec_folder.resolve() / 'vy.tif')
    assert received[0].dhdx is None
    assert (tmp_path / 'out' / 'window_location.tif').is_file()
    assert spec_path.is_file()
