"""`python -m hyp3_s1_m11m12 ++process geogrid`: the command line, end to end on the golden cases."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.geogrid.vocabulary import OUTPUT_NAMES
from tests.support.shared import golden_cases


gdal.UseExceptions()

GEOGRID = [sys.executable, '-m', 'hyp3_s1_m11m12', '++process', 'geogrid']


def read_bands(path: Path) -> np.ndarray:
    dataset = gdal.Open(str(path))
    array = dataset.ReadAsArray()
    del dataset
    return np.asarray(array)


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith('geogrid: error:')]
    assert len(error_lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in error_lines[0]


def test_help_names_every_option(script_runner):
    result = script_runner.run([*GEOGRID, '-h'])
    assert result.success, result.stderr
    assert result.stdout.startswith('usage: geogrid')
    for option in ('--spec', '--output-dir', '--dt-seconds', '--engine', '--overwrite', 'auto', 'numpy', 'autorift'):
        assert option in result.stdout


def test_a_missing_spec_is_one_line_and_exit_2(script_runner, tmp_path):
    result = script_runner.run([*GEOGRID, '--spec', str(tmp_path / 'nope.json'), '--output-dir', str(tmp_path / 'o')])
    assert_one_line_error(result, 'nope.json does not exist')
    assert not (tmp_path / 'o').exists()


def test_a_spec_without_dt_is_one_line_and_exit_2(script_runner, tmp_path):
    (tmp_path / 'spec.json').write_text(json.dumps({'radar': {}}))
    result = script_runner.run([*GEOGRID, '--spec', str(tmp_path / 'spec.json'), '--output-dir', str(tmp_path / 'o')])
    assert_one_line_error(result, 'lacks the key')


@pytest.mark.golden
@pytest.mark.parametrize('dt_seconds', ['0', '-86400'])
def test_a_non_positive_dt_is_one_line_and_exit_2(script_runner, golden_dir, tmp_path, dt_seconds):
    spec = golden_dir / 's1b_iw_20210401_utm' / 'inputs' / 'spec.json'
    result = script_runner.run(
        [*GEOGRID, '--spec', str(spec), '--output-dir', str(tmp_path / 'o'), '--dt-seconds', dt_seconds]
    )
    assert_one_line_error(result, 'must be later than the reference')
    assert not (tmp_path / 'o').exists()


@pytest.mark.golden
@pytest.mark.skipif(importlib.util.find_spec('isce') is not None, reason='isce2 is installed here')
def test_the_autorift_engine_without_isce2_says_what_to_do(script_runner, golden_dir, tmp_path):
    spec = golden_dir / 's1b_iw_20210401_utm' / 'inputs' / 'spec.json'
    result = script_runner.run(
        [*GEOGRID, '--spec', str(spec), '--output-dir', str(tmp_path / 'o'), '--engine', 'autorift']
    )
    assert_one_line_error(result, '--engine numpy', 'conda')
    assert not (tmp_path / 'o').exists()


@pytest.mark.golden
@pytest.mark.parametrize('case', golden_cases())
@pytest.mark.parametrize(
    'run, dt_arguments',
    [('true_dt', []), ('spoofed_dt', ['--dt-seconds', '86400'])],
    ids=['true-dt', 'spoofed-dt'],
)
def test_cli_reproduces_the_golden_case_with_the_numpy_engine(
    script_runner, golden_dir, tmp_path, case, run, dt_arguments
):
    inputs = golden_dir / case / 'inputs'
    expected = golden_dir / case / run
    output_dir = tmp_path / 'out'
    result = script_runner.run(
        [
            *GEOGRID,
            '--spec',
            str(inputs / 'spec.json'),
            '--output-dir',
            str(output_dir),
            '--engine',
            'numpy',
            *dt_arguments,
        ]
    )
    assert result.success, result.stderr
    assert 'Geogrid engine' not in result.stdout  # explicit engine: no auto choice logged
    assert 'Geogrid done: engine numpy' in result.stdout

    assert sorted(path.name for path in output_dir.iterdir()) == sorted(OUTPUT_NAMES)
    np.testing.assert_array_equal(
        read_bands(output_dir / 'window_location.tif'), read_bands(expected / 'window_location.tif')
    )
    # band 3 of the x file is dr * year / dt: it shows which dt the run used
    spec = json.loads((inputs / 'spec.json').read_text())
    dt_seconds = spec['runs'][run]['repeatTime_seconds']
    ours = read_bands(output_dir / 'window_rdr_off2vel_x_vec.tif')[2]
    golden = read_bands(expected / 'window_rdr_off2vel_x_vec.tif')[2]
    valid = golden != constants.NODATA_OUT
    np.testing.assert_array_equal(ours != constants.NODATA_OUT, valid)
    np.testing.assert_allclose(ours[valid], golden[valid], rtol=1e-12)
    dr_to_vr = spec['radar']['rangePixelSize_m'] * constants.SECONDS_PER_YEAR / dt_seconds
    np.testing.assert_allclose(ours[valid], dr_to_vr, rtol=1e-12)


@pytest.mark.golden
def test_cli_refuses_to_overwrite_without_the_flag(script_runner, golden_dir, tmp_path):
    spec = golden_dir / 's1b_iw_20210401_utm' / 'inputs' / 'spec.json'
    output_dir = tmp_path / 'out'
    output_dir.mkdir()
    (output_dir / 'window_location.tif').write_text('an earlier run')
    result = script_runner.run([*GEOGRID, '--spec', str(spec), '--output-dir', str(output_dir), '--engine', 'numpy'])
    assert_one_line_error(result, 'window_location.tif', '--overwrite')
    assert (output_dir / 'window_location.tif').read_text() == 'an earlier run'
