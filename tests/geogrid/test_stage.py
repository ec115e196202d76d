"""The Geogrid stage: engine choice, input checks and atomic publication of the outputs (with stand-in engines)."""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hyp3_s1_m11m12.errors import GeogridInputError, OutputError
from hyp3_s1_m11m12.geogrid import autorift_engine, isce2_child, stage
from hyp3_s1_m11m12.geogrid.spec import load_spec
from hyp3_s1_m11m12.geogrid.stage import geogrid_from_spec, resolve_engine, run_geogrid
from hyp3_s1_m11m12.geogrid.types import GeogridResult, GeogridSettings, ParameterRasters
from hyp3_s1_m11m12.geogrid.vocabulary import OUTPUT_NAMES
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

    names: tuple[str, ...] = OUTPUT_NAMES
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
        # The stand-in plays autoRIFT's file-writing engine, so it is what detection finds.
        monkeypatch.setattr(isce2_child, 'probe_autorift', lambda: capabilities(True))
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


def test_the_engine_vocabulary_is_one_literal(monkeypatch):
    monkeypatch.setattr(isce2_child, 'probe_autorift', lambda: capabilities(True))
    assert stage.ENGINES == ('auto', 'numpy', 'autorift', 'both')
    assert stage.GEOTIFF_COMPRESSIONS == ('deflate', 'zstd', 'none')
    assert resolve_engine('both') == 'both'


def test_a_file_engine_writes_into_the_folder_it_is_given(use_engine, tmp_path):
    engine = use_engine(FakeEngine())
    run = run_geogrid(synthetic_radar(), DT_SECONDS, RASTERS, tmp_path, engine='autorift')
    # No staging of its own: the caller (staging.staged_directory) stages and publishes.
    ((dt, folder),) = engine.calls
    assert (dt, folder) == (DT_SECONDS, tmp_path)
    assert leftovers(tmp_path) == sorted(OUTPUT_NAMES)
    assert run.bands is None  # the workflow reads these files back
    assert run.result.outputs == {name: tmp_path / name for name in OUTPUT_NAMES}


def test_a_prefixed_file_engine_run_is_renamed_from_the_work_folder(use_engine, tmp_path):
    engine = use_engine(FakeEngine())
    (tmp_path / 'out').mkdir()
    (tmp_path / 'work').mkdir()
    run = run_geogrid(
        synthetic_radar(),
        DT_SECONDS,
        RASTERS,
        tmp_path / 'out',
        engine='autorift',
        prefix='A_X_B_',
        work_dir=tmp_path / 'work',
    )
    assert engine.calls[0][1] == tmp_path / 'work'
    assert leftovers(tmp_path / 'out') == sorted(f'A_X_B_{name}' for name in OUTPUT_NAMES)
    assert leftovers(tmp_path / 'work') == []
    assert run.result.outputs['window_offset.tif'] == tmp_path / 'out' / 'A_X_B_window_offset.tif'
    with pytest.raises(ValueError, match='work_dir'):
        run_geogrid(synthetic_radar(), DT_SECONDS, RASTERS, tmp_path / 'out', engine='autorift', prefix='C_')


def test_geogrid_for_repeat_times_runs_each_dt_with_its_prefix(use_engine, tmp_path):
    engine = use_engine(FakeEngine(names=('window_location.tif',)))
    runs = stage.geogrid_for_repeat_times(
        synthetic_radar(),
        [DT_SECONDS, 2 * DT_SECONDS],
        RASTERS,
        tmp_path,
        ['a_', 'b_'],
        engine='autorift',
        work_dir=tmp_path,
    )
    assert [dt for dt, _ in engine.calls] == [DT_SECONDS, 2 * DT_SECONDS]
    assert [run.result.outputs['window_location.tif'].name for run in runs] == [
        'a_window_location.tif',
        'b_window_location.tif',
    ]
    with pytest.raises(ValueError, match='one file-name prefix per repeat time'):
        stage.geogrid_for_repeat_times(synthetic_radar(), [DT_SECONDS], RASTERS, tmp_path, [], engine='autorift')


def test_unknown_compression_and_unavailable_engine_fail_before_any_work(use_engine, tmp_path):
    engine = use_engine(FakeEngine())
    with pytest.raises(GeogridInputError, match="unknown GeoTIFF compression 'lzw'"):
        run_geogrid(synthetic_radar(), DT_SECONDS, RASTERS, tmp_path, engine='autorift', compression='lzw')
    assert engine.calls == []


def test_compression_options_use_the_predictor_of_the_data_type():
    import numpy as np

    assert stage.geotiff_options('none', np.float64, 8) == ()
    assert stage.geotiff_options('deflate', np.int32, 8) == (
        'COMPRESS=DEFLATE',
        'ZLEVEL=5',
        'PREDICTOR=2',
        'BLOCKYSIZE=8',
    )
    assert 'PREDICTOR=3' in stage.geotiff_options('zstd', np.float64, None)
    # float64 bands: a lower DEFLATE level (their low mantissa bytes do not compress with more effort)
    assert stage.geotiff_options('deflate', np.float64, None) == ('COMPRESS=DEFLATE', 'ZLEVEL=2', 'PREDICTOR=3')


def test_the_project_engine_encodes_deflate_strips_itself_and_leaves_zstd_to_gdal():
    import numpy as np

    deflate = stage.tiff_encoding('deflate', np.float64, 6)
    assert deflate.options == stage.geotiff_options('deflate', np.float64, 6)
    assert deflate.strip_deflate_level == stage.PROJECT_DEFLATE_LEVEL
    assert stage.tiff_encoding('zstd', np.int32, 6).strip_deflate_level is None
    assert stage.tiff_encoding('none', np.int32, 6) == stage.TiffEncoding()


@pytest.mark.parametrize(
    'error',
    [GeogridInputError('node time outside the orbit'), RuntimeError('a bug'), KeyboardInterrupt()],
    ids=['input-error', 'bug', 'interrupt'],
)
def test_a_spec_run_failing_half_way_leaves_nothing(use_engine, tmp_path, error):
    spec = write_spec(tmp_path)
    use_engine(FakeEngine(fail_after=4, error=error))
    with pytest.raises(type(error)):
        geogrid_from_spec(spec, tmp_path / 'out', engine='autorift')
    assert not (tmp_path / 'out').exists()
    (tmp_path / 'kept').mkdir()
    (tmp_path / 'kept' / 'window_location.tif').write_text('old')
    with pytest.raises(type(error)):
        geogrid_from_spec(spec, tmp_path / 'kept', engine='autorift', overwrite=True)
    assert leftovers(tmp_path / 'kept') == ['window_location.tif']
    assert (tmp_path / 'kept' / 'window_location.tif').read_text() == 'old'


def test_spec_outputs_present_without_overwrite_are_an_error(use_engine, tmp_path):
    spec = write_spec(tmp_path)
    engine = use_engine(FakeEngine())
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 'window_offset.tif').write_text('old')
    with pytest.raises(OutputError, match=r'window_offset.tif.*--overwrite'):
        geogrid_from_spec(spec, tmp_path / 'out', engine='autorift')
    assert engine.calls == []
    assert (tmp_path / 'out' / 'window_offset.tif').read_text() == 'old'


def test_spec_overwrite_replaces_outputs_and_removes_stale_ones(use_engine, tmp_path):
    spec = write_spec(tmp_path)
    use_engine(FakeEngine(names=('window_location.tif', 'window_chip_size_min.tif')))
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'window_location.tif').write_text('old')
    (out / 'window_offset.tif').write_text('old, from a run with a velocity raster')
    (out / 'unrelated.txt').write_text('keep me')
    result = geogrid_from_spec(spec, out, engine='autorift', overwrite=True)
    assert leftovers(out) == ['unrelated.txt', 'window_chip_size_min.tif', 'window_location.tif']
    assert (out / 'window_location.tif').read_text() == 'new window_location.tif'
    assert set(result.outputs) == {'window_location.tif', 'window_chip_size_min.tif'}
    assert result.output_dir == out.resolve()


@pytest.mark.parametrize('dt_seconds', [0.0, -1036799.636, float('nan'), float('inf'), float('-inf')])
def test_a_non_positive_dt_is_an_error(use_engine, tmp_path, dt_seconds):
    engine = use_engine(FakeEngine())
    with pytest.raises(GeogridInputError, match='secondary acquisition must be later than the reference') as caught:
        geogrid_from_spec(write_spec(tmp_path), tmp_path / 'out', dt_seconds=dt_seconds, engine='autorift')
    assert str(dt_seconds) in str(caught.value)
    assert engine.calls == []
    assert not (tmp_path / 'out').exists()


def test_the_log_reports_dt_engine_and_grid(use_engine, tmp_path, caplog):
    use_engine(FakeEngine())
    with caplog.at_level(logging.INFO, logger='hyp3_s1_m11m12.geogrid.stage'):
        run_geogrid(synthetic_radar(), DT_SECONDS, RASTERS, tmp_path, engine='autorift')
    assert 'dt = 1036799.636000 s = 11.999995787 days' in caplog.text
    assert 'autorift engine' in caplog.text
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
    monkeypatch.setattr(isce2_child, 'probe_autorift', lambda: capabilities(True))
    monkeypatch.chdir(tmp_path)
    result = geogrid_from_spec(Path('case/inputs/spec.json'), Path('out'), dt_seconds=dt_seconds, engine='autorift')

    assert engine.calls[0][0] == expected
    assert result.dt_seconds == expected
    # raster paths are the spec folder's files, absolute so that any working directory works
    assert received[0].dem == str(spec_folder.resolve() / 'dem.tif')
    assert received[0].vy == str(spec_folder.resolve() / 'vy.tif')
    assert received[0].dhdx is None
    assert (tmp_path / 'out' / 'window_location.tif').is_file()
    assert spec_path.is_file()


@pytest.mark.parametrize('compression', ['none', 'deflate'])
def test_the_project_engine_keeps_the_matrix_bands_and_writes_the_engines_values(golden_dir, tmp_path, compression):
    """The stage streams the project's engine into the GeoTIFFs and keeps the bands M11/M12 need: the kept bands
    are the files' bands, and with no compression the files are the engine's own run-into-a-folder bytes."""
    import numpy as np
    from osgeo import gdal

    from hyp3_s1_m11m12.geogrid.engine import run_numpy_geogrid
    from tests.support.shared import golden_cases

    spec = load_spec(golden_dir / golden_cases()[0] / 'inputs' / 'spec.json')
    (tmp_path / 'stage').mkdir()
    (tmp_path / 'engine').mkdir()
    run = run_geogrid(
        spec.radar,
        spec.dt_seconds,
        spec.rasters,
        tmp_path / 'stage',
        spec.settings,
        engine='numpy',
        compression=compression,
        prefix='P_',
    )
    assert sorted(run.result.outputs) == sorted(OUTPUT_NAMES)
    assert run.bands is not None and sorted(run.bands) == sorted(stage.MATRIX_INPUT_BANDS)
    for name, array in run.bands.items():
        dataset = gdal.Open(str(tmp_path / 'stage' / f'P_{name}'))
        on_disk = np.stack([dataset.GetRasterBand(band + 1).ReadAsArray() for band in range(array.shape[0])])
        assert run.geotransform == dataset.GetGeoTransform()
        del dataset
        assert on_disk.tobytes() == array.tobytes(), name
    reference = run_numpy_geogrid(spec.radar, spec.dt_seconds, spec.rasters, tmp_path / 'engine', spec.settings)
    for name, path in reference.outputs.items():
        ours = tmp_path / 'stage' / f'P_{name}'
        if compression == 'none':
            assert ours.read_bytes() == path.read_bytes(), name
        else:
            assert ours.stat().st_size < path.stat().st_size, name
