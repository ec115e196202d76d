"""The GitHub Actions workflows (they cannot run here): actionlint must accept them, and they build what HyP3 runs."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.shared import REPO_ROOT


WORKFLOWS = REPO_ROOT / '.github' / 'workflows'
REUSABLE = 'ASFHyP3/actions/.github/workflows/'


def actionlint() -> str | None:
    """The actionlint of the develop extra (beside this interpreter), else one on PATH."""
    beside = Path(sys.executable).with_name('actionlint')
    return str(beside) if beside.is_file() else shutil.which('actionlint')


@pytest.mark.skipif(actionlint() is None, reason='actionlint is not installed (pip install -e .[develop])')
def test_actionlint_accepts_every_workflow():
    result = subprocess.run(
        [str(actionlint()), '-no-color'], cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(actionlint() is None, reason='actionlint is not installed (pip install -e .[develop])')
def test_actionlint_does_reject_a_broken_workflow(tmp_path):
    """The check above can fail: an undefined expression context is an error."""
    folder = tmp_path / '.github' / 'workflows'
    folder.mkdir(parents=True)
    (folder / 'broken.yml').write_text(
        'on: push\njobs:\n  one:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ nonsense.value }}\n'
    )
    command = [str(actionlint()), '-no-color', str(folder / 'broken.yml')]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 1
    assert 'nonsense' in result.stdout


def test_the_image_is_built_and_pushed_with_asfs_reusable_workflows():
    build = yaml.safe_load((WORKFLOWS / 'build.yml').read_text())
    jobs = build['jobs']
    docker = jobs['call-docker-ghcr-workflow']
    assert docker['uses'].startswith(f'{REUSABLE}reusable-docker-ghcr.yml@v')
    assert docker['permissions'] == {'contents': 'read', 'packages': 'write'}
    assert docker['needs'] == 'call-version-info-workflow'
    assert jobs['call-version-info-workflow']['uses'].startswith(f'{REUSABLE}reusable-version-info.yml@v')
    triggers = build[True]  # YAML 1.1 reads the key `on` as True
    assert {'push', 'pull_request'} <= set(triggers)


def test_every_reusable_workflow_is_pinned_to_one_release():
    versions = set()
    for path in WORKFLOWS.glob('*.yml'):
        for job in yaml.safe_load(path.read_text())['jobs'].values():
            if 'uses' in job:
                assert job['uses'].startswith(REUSABLE)
                versions.add(job['uses'].rsplit('@', 1)[1])
    assert len(versions) == 1 and next(iter(versions)).startswith('v')
