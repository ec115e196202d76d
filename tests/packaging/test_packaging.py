"""The production packaging that cannot be built here (conda, Docker) is checked for consistency instead."""

import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from tests.support.shared import REPO_ROOT, load_toml


PYPROJECT = load_toml(REPO_ROOT / 'pyproject.toml')
ENVIRONMENT = yaml.safe_load((REPO_ROOT / 'environment.yml').read_text())

# PyPI name -> conda-forge name, where they differ.
CONDA_NAMES = {'gdal': 'gdal', 'isal': 'python-isal', 'netcdf4': 'netcdf4', 'pyyaml': 'pyyaml'}


def _normalise(name: str) -> str:
    return re.sub(r'[-_.]+', '_', name).lower()


def _conda_packages() -> set[str]:
    names = set()
    for dependency in ENVIRONMENT['dependencies']:
        if isinstance(dependency, str):
            names.add(_normalise(re.split(r'[<>=!\s]', dependency, maxsplit=1)[0]))
    return names


def test_environment_covers_every_runtime_dependency():
    conda = _conda_packages()
    missing = []
    for requirement in map(Requirement, PYPROJECT['project']['dependencies']):
        name = _normalise(requirement.name)
        if _normalise(CONDA_NAMES.get(name, name)) not in conda:
            missing.append(requirement.name)
    assert not missing, f'environment.yml lacks {missing}'


def test_environment_has_the_reference_geogrid_from_conda_forge():
    assert ENVIRONMENT['channels'][0] == 'conda-forge'
    assert 'defaults' not in ENVIRONMENT['channels']
    conda = _conda_packages()
    assert {'isce2', 'autorift', 'python'} <= conda
    autorift = next(d for d in ENVIRONMENT['dependencies'] if isinstance(d, str) and d.startswith('autorift'))
    assert '<2' in autorift, 'autoRIFT 2.x dropped the ISCE2 radar Geogrid'


def test_hyp3lib_pinned_to_major_version_4_everywhere():
    assert 'hyp3lib>=4,<5' in PYPROJECT['project']['dependencies']
    assert 'hyp3lib>=4,<5' in ENVIRONMENT['dependencies']


def test_dockerfile_runs_the_entrypoint_as_non_root():
    dockerfile = (REPO_ROOT / 'Dockerfile').read_text()
    assert re.search(r'^USER \$\{CONDA_UID\}$', dockerfile, re.MULTILINE)
    assert 'environment.yml' in dockerfile
    assert 'ENTRYPOINT ["/hyp3-s1-m11m12/src/hyp3_s1_m11m12/etc/entrypoint.sh"]' in dockerfile
    assert 'CMD ["-h"]' in dockerfile


def test_entrypoint_activates_the_environment_and_execs_the_dispatcher():
    entrypoint = REPO_ROOT / 'src' / 'hyp3_s1_m11m12' / 'etc' / 'entrypoint.sh'
    assert entrypoint.stat().st_mode & stat.S_IXUSR
    text = entrypoint.read_text()
    assert f'conda activate {ENVIRONMENT["name"]}' in text
    assert 'exec python -um hyp3_s1_m11m12 "$@"' in text


def test_version_is_exposed():
    import hyp3_s1_m11m12

    assert re.match(r'^\d+\.\d+', hyp3_s1_m11m12.__version__)


DOCKERFILE = (REPO_ROOT / 'Dockerfile').read_text()


def test_the_image_compiles_no_upstream_code():
    """The image installs autoRIFT/isce2 from conda only: no stage clones or compiles upstream sources."""
    assert ' AS ' not in DOCKERFILE and 'git clone' not in DOCKERFILE and 'compiler' not in DOCKERFILE


def test_the_numba_cache_is_warmed_for_every_portable_target_ending_with_generic():
    """numba keys its cache on the CPU: the image warms it for each portable level it lists (generic last, which
    fits every x86-64 host), before any job, into the cache folder the jobs read."""
    from hyp3_s1_m11m12.numba_target import GENERIC, LEVEL_FLAGS, TARGETS_VARIABLE

    match = re.search(rf'^ENV {TARGETS_VARIABLE}="([^"]+)"$', DOCKERFILE, re.MULTILINE)
    assert match is not None
    targets = match[1].split()
    assert targets[-1] == GENERIC and all(target in LEVEL_FLAGS for target in targets)
    assert 'NUMBA_CPU_NAME=generic' not in DOCKERFILE  # a fixed target would ignore the list
    warm = DOCKERFILE.index('warm_up_kernels()')
    assert DOCKERFILE.index(f'for target in ${{{TARGETS_VARIABLE}}}') < warm
    assert DOCKERFILE.index('NUMBA_CPU_NAME="${target}"') < warm
    assert DOCKERFILE.index('ENV NUMBA_CACHE_DIR=') < warm


def hadolint() -> str | None:
    beside = Path(sys.executable).with_name('hadolint')
    return str(beside) if beside.is_file() else shutil.which('hadolint')


@pytest.mark.skipif(hadolint() is None, reason='hadolint is not installed (pip install -e .[develop])')
def test_hadolint_accepts_the_dockerfile():
    result = subprocess.run([str(hadolint()), 'Dockerfile'], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
