"""The production packaging that cannot be built here (conda, Docker) is checked for consistency instead."""

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from tests.support.shared import REPO_ROOT, load_toml


PYPROJECT = load_toml(REPO_ROOT / 'pyproject.toml')
ENVIRONMENT = yaml.safe_load((REPO_ROOT / 'environment.yml').read_text())

# PyPI name -> conda-forge name, where they differ.
CONDA_NAMES = {'gdal': 'gdal', 'netcdf4': 'netcdf4', 'matplotlib': 'matplotlib-base', 'pyyaml': 'pyyaml'}


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
BUILD_SCRIPT = REPO_ROOT / 'docker' / 'build_autorift_geogrid.sh'
# Tags of the public repositories and their commits (git rev-parse 'TAG^{commit}').
AUTORIFT_TAGS = {'v1.6.0': 'edabacd6e9120a3efe4956280f32234376ae22bd'}
ISCE2_TAGS = {'2.6.3': 'c2d1a218020d81071574cd70033b7d673e2f5092'}


def dockerfile_arg(name: str) -> str:
    match = re.search(rf'^ARG {name}=(\S+)$', DOCKERFILE, re.MULTILINE)
    assert match, f'the Dockerfile has no ARG {name}'
    return match.group(1)


def test_the_image_builds_autorift_1_6_against_the_pinned_isce2():
    isce2 = next(d for d in ENVIRONMENT['dependencies'] if isinstance(d, str) and d.startswith('isce2'))
    assert re.fullmatch(r'isce2=\d+\.\d+\.\d+', isce2), 'the C++ is built against one isce2 release: pin it'
    version = isce2.split('=')[1]
    assert dockerfile_arg('ISCE2_VERSION') == version
    assert dockerfile_arg('ISCE2_COMMIT') == ISCE2_TAGS[version]
    assert dockerfile_arg('AUTORIFT_COMMIT') == AUTORIFT_TAGS['v1.6.0']
    script = BUILD_SCRIPT.read_text()
    assert f'AUTORIFT_COMMIT:-{AUTORIFT_TAGS["v1.6.0"]}' in script
    assert f'ISCE2_COMMIT:-{ISCE2_TAGS[version]}' in script
    assert 'fast-math' not in script.replace('-ffast-math is never used', '')
    assert 'build_autorift_geogrid.sh' in DOCKERFILE
    # the image refuses to build unless the probe finds autoRIFT v1.6.0's Geogrid
    assert 'probe_autorift()' in DOCKERFILE and 'geogrid_version == "1.6.0"' in DOCKERFILE


def test_the_numba_cache_is_warmed_for_a_generic_cpu():
    """numba keys its cache on the CPU model: without a generic target it misses on every other host."""
    assert re.search(r'^ENV NUMBA_CPU_NAME=generic$', DOCKERFILE, re.MULTILINE)
    assert DOCKERFILE.index('NUMBA_CPU_NAME=generic') < DOCKERFILE.index('warm_up_kernels()')
    assert DOCKERFILE.index('ENV NUMBA_CACHE_DIR=') < DOCKERFILE.index('warm_up_kernels()')


def test_the_build_script_is_valid_bash():
    assert BUILD_SCRIPT.stat().st_mode & stat.S_IXUSR
    result = subprocess.run(['bash', '-n', str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def hadolint() -> str | None:
    beside = Path(sys.executable).with_name('hadolint')
    return str(beside) if beside.is_file() else shutil.which('hadolint')


@pytest.mark.skipif(hadolint() is None, reason='hadolint is not installed (pip install -e .[develop])')
def test_hadolint_accepts_the_dockerfile():
    result = subprocess.run([str(hadolint()), 'Dockerfile'], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def inspect_module_file(path: str) -> Any:
    """The capabilities of a compiled geogrid module (imported in a child process by run_isolated)."""
    import importlib.util

    from hyp3_s1_m11m12.geogrid.isce2_child import inspect_compiled_geogrid

    spec = importlib.util.spec_from_file_location('geogrid', path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return inspect_compiled_geogrid(module)


SOURCES = {name: os.environ.get(f'HYP3_S1_M11M12_{name}_GIT') for name in ('AUTORIFT', 'ISCE2')}


@pytest.mark.skipif(
    not all(SOURCES.values()) or shutil.which('gfortran') is None,
    reason='set HYP3_S1_M11M12_AUTORIFT_GIT and HYP3_S1_M11M12_ISCE2_GIT to git directories, and install gfortran',
)
def test_the_build_script_compiles_a_module_with_the_1_6_api(tmp_path):
    target = tmp_path / 'geogrid.so'
    environment = {**os.environ, 'PYTHON': sys.executable, 'WORK_DIR': str(tmp_path / 'work')}
    command = ['bash', str(BUILD_SCRIPT), str(SOURCES['AUTORIFT']), str(SOURCES['ISCE2']), str(target)]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    from hyp3_s1_m11m12.geogrid.isce2_child import run_isolated

    capabilities = run_isolated(inspect_module_file, str(target))
    assert capabilities.available, capabilities.problem
    assert capabilities.geogrid_version == '1.6.0'
    assert capabilities.cpp_version.startswith(f'autoRIFT v1.6.0 ({AUTORIFT_TAGS["v1.6.0"]})')
