import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.support.shared import REPO_ROOT, load_toml


PYPROJECT = load_toml(REPO_ROOT / 'pyproject.toml')
WORKFLOWS = sorted(PYPROJECT['project']['entry-points']['hyp3'])


def test_every_workflow_is_both_a_console_script_and_a_hyp3_entry_point():
    assert WORKFLOWS, 'pyproject declares no hyp3 entry points'
    assert PYPROJECT['project']['scripts'] == PYPROJECT['project']['entry-points']['hyp3']
    installed = {entry_point.name for entry_point in entry_points(group='hyp3')}
    assert installed == set(WORKFLOWS), 'the installed entry points are stale: reinstall the package'


@pytest.mark.parametrize('workflow', WORKFLOWS)
def test_process_help(script_runner, workflow):
    result = script_runner.run([sys.executable, '-m', 'hyp3_s1_m11m12', '++process', workflow, '-h'])
    assert result.success, result.stderr
    assert f'usage: {workflow} ' in result.stdout


@pytest.mark.parametrize('workflow', WORKFLOWS)
def test_console_script_help(script_runner, workflow):
    result = script_runner.run([str(Path(sys.executable).parent / workflow), '-h'])
    assert result.success, result.stderr
    assert 'usage:' in result.stdout


def test_dispatcher_help_lists_workflows(script_runner):
    result = script_runner.run([sys.executable, '-m', 'hyp3_s1_m11m12', '+h'])
    assert result.success
    for workflow in WORKFLOWS:
        assert workflow in result.stdout
    assert '++omp-num-threads' in result.stdout


def test_default_workflow_is_s1_correction_fixed(script_runner):
    result = script_runner.run([sys.executable, '-m', 'hyp3_s1_m11m12', '-h'])
    assert result.success, result.stderr
    assert 'usage: s1_correction_fixed ' in result.stdout


def test_unknown_process_exits_2_naming_the_choices():
    result = subprocess.run(
        [sys.executable, '-m', 'hyp3_s1_m11m12', '++process', 'not_a_workflow'],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    assert "invalid choice: 'not_a_workflow'" in result.stderr
    for workflow in WORKFLOWS:
        assert workflow in result.stderr


def test_bad_omp_num_threads_exits_2():
    result = subprocess.run(
        [sys.executable, '-m', 'hyp3_s1_m11m12', '++omp-num-threads', '0', '++process', 'geogrid', '-h'],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    assert '++omp-num-threads must be a positive integer' in result.stderr


def test_omp_num_threads_is_exported(monkeypatch):
    from hyp3_s1_m11m12 import __main__ as dispatcher

    seen: dict[str, object] = {}

    def fake_workflow_main():
        import os

        seen['threads'] = os.environ.get('OMP_NUM_THREADS')
        seen['argv'] = list(sys.argv)
        return 0

    class FakeEntryPoint:
        name = 'geogrid'

        def load(self):
            return fake_workflow_main

    monkeypatch.setattr(dispatcher, 'entry_points', lambda group, name=None: [FakeEntryPoint()])
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    monkeypatch.delenv('EARTHDATA_USERNAME', raising=False)
    monkeypatch.delenv('EARTHDATA_PASSWORD', raising=False)
    monkeypatch.setattr(
        sys, 'argv', ['hyp3_s1_m11m12', '++process', 'geogrid', '++omp-num-threads', '3', '--spec', 'x']
    )
    with pytest.raises(SystemExit) as exit_info:
        dispatcher.main()
    assert exit_info.value.code == 0
    assert seen == {'threads': '3', 'argv': ['geogrid', '--spec', 'x']}
