"""`--engine both`: the band-by-band comparison of two Geogrid output folders, and its wiring in the stage."""

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid import autorift_engine, cross_check, isce2_child
from hyp3_s1_m11m12.geogrid.cross_check import EngineMismatchError, compare_outputs
from hyp3_s1_m11m12.geogrid.engine import run_numpy_geogrid
from hyp3_s1_m11m12.geogrid.stage import run_geogrid
from hyp3_s1_m11m12.geogrid.types import ParameterRasters
from hyp3_s1_m11m12.geogrid.vocabulary import OUTPUT_NAMES
from hyp3_s1_m11m12.geometry.radar import RadarGeometry
from hyp3_s1_m11m12.simulate.acquisition import synthetic_radar_geometry
from tests.support.scenes import DT_12_DAYS_S, rasters_around_scene


gdal.UseExceptions()

ANCHOR_BUILD = Path(os.environ.get('CPP_GEOGRID_BUILD') or '/tmp/cpp_geogrid_build')


@pytest.fixture(scope='module')
def radar() -> RadarGeometry:
    return synthetic_radar_geometry()


@pytest.fixture(scope='module')
def rasters(tmp_path_factory: pytest.TempPathFactory) -> ParameterRasters:
    return rasters_around_scene(tmp_path_factory.mktemp('synthetic-rasters'), columns=24, rows=20)


@pytest.fixture(scope='module')
def outputs(tmp_path_factory: pytest.TempPathFactory, radar: RadarGeometry, rasters: ParameterRasters) -> Path:
    folder = tmp_path_factory.mktemp('numpy-outputs')
    run_numpy_geogrid(radar, DT_12_DAYS_S, rasters, folder)
    return folder


def copy_outputs(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for path in source.glob('window_*.tif'):
        shutil.copy2(path, target / path.name)
    return target


def change_one_pixel(path: Path, band: int, row: int, col: int) -> None:
    dataset = gdal.Open(str(path), gdal.GA_Update)
    values = dataset.GetRasterBand(band).ReadAsArray()
    values[row, col] += 1
    dataset.GetRasterBand(band).WriteArray(values)
    del dataset


def count_bands(folder: Path) -> int:
    total = 0
    for path in folder.glob('window_*.tif'):
        dataset = gdal.Open(str(path))
        total += dataset.RasterCount
        del dataset
    return total


def test_two_identical_folders_agree(outputs: Path, tmp_path: Path) -> None:
    check = compare_outputs(outputs, copy_outputs(outputs, tmp_path / 'copy'))
    files = len(list(outputs.glob('window_*.tif')))
    assert files == len(OUTPUT_NAMES)
    assert (check.files, check.bands) == (files, count_bands(outputs))
    assert check.summary == f'identical: {files} files, {count_bands(outputs)} bands'


def test_one_pixel_of_one_band_is_a_named_difference(outputs: Path, tmp_path: Path) -> None:
    other = copy_outputs(outputs, tmp_path / 'other')
    change_one_pixel(other / 'window_offset.tif', band=2, row=3, col=5)
    with pytest.raises(EngineMismatchError) as error:
        compare_outputs(outputs, other)
    message = str(error.value)
    assert '\n' not in message
    assert message.startswith('the numpy and autorift Geogrid engines differ: window_offset.tif band 2 differs in 1 of')
    assert 'first at row 3, column 5' in message
    assert 'largest difference 1' in message


def test_a_float_band_differing_in_the_last_bit_is_a_difference(outputs: Path, tmp_path: Path) -> None:
    other = copy_outputs(outputs, tmp_path / 'other')
    path = other / 'window_rdr_off2vel_x_vec.tif'
    dataset = gdal.Open(str(path), gdal.GA_Update)
    values = dataset.GetRasterBand(1).ReadAsArray()
    row, col = (int(index) for index in np.argwhere(np.isfinite(values) & (values != 0))[0])
    values[row, col] = np.nextafter(values[row, col], np.inf)
    dataset.GetRasterBand(1).WriteArray(values)
    del dataset
    with pytest.raises(EngineMismatchError, match=r'window_rdr_off2vel_x_vec.tif band 1 differs in 1 of'):
        compare_outputs(outputs, other)


def test_a_file_written_by_one_engine_only_is_a_difference(outputs: Path, tmp_path: Path) -> None:
    other = copy_outputs(outputs, tmp_path / 'other')
    (other / 'window_scale_factor.tif').unlink()
    with pytest.raises(EngineMismatchError, match='window_scale_factor.tif written by one engine only'):
        compare_outputs(outputs, other)


def fake_autorift(perturb: bool):
    """autoRIFT's engine stood in by the project's, optionally one pixel off: the wiring is what is tested here."""

    def run(radar, dt_seconds, rasters, output_dir, settings):
        result = run_numpy_geogrid(radar, dt_seconds, rasters, output_dir, settings)
        if perturb:
            change_one_pixel(output_dir / 'window_location.tif', band=1, row=0, col=0)
        return dataclasses.replace(result, engine='autorift', engine_version='autoRIFT v1.6.0 (stand-in)')

    return run


@pytest.fixture
def autorift_detected(monkeypatch):
    capabilities = isce2_child.AutoriftCapabilities(available=True, cpp_version='autoRIFT v1.6.0 (stand-in)')
    monkeypatch.setattr(isce2_child, 'probe_autorift', lambda: capabilities)


@pytest.mark.usefixtures('autorift_detected')
def test_engine_both_publishes_the_projects_outputs_with_the_comparison(monkeypatch, radar, rasters, tmp_path):
    monkeypatch.setattr(autorift_engine, 'run_autorift_geogrid', fake_autorift(perturb=False))
    (tmp_path / 'out').mkdir()
    result = run_geogrid(radar, DT_12_DAYS_S, rasters, tmp_path / 'out', engine='both').result
    assert result.engine == 'numpy'
    assert result.cross_check is not None
    assert result.cross_check.startswith(f'identical: 9 files, {count_bands(tmp_path / "out")} bands (numpy ')
    assert result.cross_check.endswith('vs autorift autoRIFT v1.6.0 (stand-in))')
    assert sorted(path.name for path in (tmp_path / 'out').iterdir()) == sorted(OUTPUT_NAMES)


@pytest.mark.usefixtures('autorift_detected')
def test_engine_both_fails_on_a_difference_and_leaves_nothing(monkeypatch, radar, rasters, tmp_path):
    monkeypatch.setattr(autorift_engine, 'run_autorift_geogrid', fake_autorift(perturb=True))
    (tmp_path / 'out').mkdir()
    with pytest.raises(EngineMismatchError, match='window_location.tif band 1 differs in 1 of .* row 0, column 0'):
        run_geogrid(radar, DT_12_DAYS_S, rasters, tmp_path / 'out', engine='both')
    assert list((tmp_path / 'out').iterdir()) == []


def test_engine_both_without_autorift_fails_before_any_work(monkeypatch, radar, rasters, tmp_path):
    unavailable = isce2_child.AutoriftCapabilities(available=False, problem='isce2 is not installed')
    monkeypatch.setattr(isce2_child, 'probe_autorift', lambda: unavailable)
    with pytest.raises(
        GeogridInputError, match='^--engine both cannot run: isce2 is not installed; install an isce2 whose contrib'
    ):
        run_geogrid(radar, DT_12_DAYS_S, rasters, tmp_path / 'out', engine='both')
    assert not (tmp_path / 'out').exists()


def test_the_grid_state_must_agree(outputs: Path, radar, rasters) -> None:
    ours = run_numpy_geogrid(radar, DT_12_DAYS_S, rasters, outputs)
    theirs = dataclasses.replace(ours, engine='autorift', p_count=ours.p_count + 1)
    with pytest.raises(EngineMismatchError, match=f'p_count = {ours.p_count} vs {ours.p_count + 1}'):
        cross_check.compare_state(ours, theirs)


@pytest.mark.golden
@pytest.mark.skipif(
    not (ANCHOR_BUILD / 'python' / 'geogrid.abi3.so').is_file(), reason=f'no C++ build in {ANCHOR_BUILD}'
)
def test_the_real_autorift_cpp_agrees_with_the_project_on_a_golden_case(shared_dir: Path, tmp_path: Path) -> None:
    """autoRIFT v1.6.0's own geogrid.cpp, driven by ../shared/anchor, against the project's engine: the comparison
    `--engine both` makes, on real outputs of both."""
    driver = shared_dir / 'anchor' / 'run_geogrid.py'
    spec = shared_dir / 'golden' / 's1b_iw_20210401_utm' / 'inputs' / 'spec.json'
    if not driver.is_file() or not spec.is_file():
        pytest.skip('the anchor driver or the golden case is absent from ../shared')
    command = [sys.executable, str(driver), '--spec', str(spec), '--output-dir', str(tmp_path / 'cpp')]
    result = subprocess.run(
        [*command, '--build-dir', str(ANCHOR_BUILD)], capture_output=True, text=True, check=False, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    from hyp3_s1_m11m12.geogrid.spec import load_spec

    loaded = load_spec(spec)
    ours = tmp_path / 'numpy'
    ours.mkdir()
    run_numpy_geogrid(loaded.radar, loaded.dt_seconds, loaded.rasters, ours, loaded.settings)
    check = compare_outputs(ours, tmp_path / 'cpp')
    assert check.files == 9
    assert check.summary == f'identical: 9 files, {count_bands(ours)} bands'
