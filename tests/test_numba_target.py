"""Choosing the portable CPU level whose prebuilt numba cache fits the host."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hyp3_s1_m11m12 import numba_target
from hyp3_s1_m11m12.numba_target import GENERIC, LEVEL_FLAGS, TARGETS_VARIABLE, cpu_flags, select_target


HASWELL_FLAGS = frozenset(
    [
        'fpu',
        'sse',
        'sse2',
        'ssse3',
        'cx16',
        'sse4_1',
        'sse4_2',
        'popcnt',
        'lahf_lm',
        'avx',
        'avx2',
        'bmi1',
        'bmi2',
        'f16c',
        'fma',
        'abm',
        'movbe',
        'xsave',
    ]
)


def test_the_best_level_the_cpu_has_is_chosen() -> None:
    assert select_target(['x86-64-v4', 'x86-64-v3', GENERIC], HASWELL_FLAGS) == 'x86-64-v3'
    assert select_target(['x86-64-v4', 'x86-64-v3', GENERIC], HASWELL_FLAGS | LEVEL_FLAGS['x86-64-v4']) == 'x86-64-v4'
    assert select_target(['x86-64-v3', GENERIC], HASWELL_FLAGS - {'avx2'}) == GENERIC


def test_no_fitting_level_or_an_unknown_name_chooses_nothing() -> None:
    assert select_target(['x86-64-v3'], frozenset({'sse2'})) is None
    assert select_target(['skylake'], HASWELL_FLAGS) is None


def test_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / 'cpuinfo'
    cpuinfo.write_text('processor\t: 0\nflags\t\t: fpu sse2 avx2\nbugs\t\t: spectre_v1\n')
    assert cpu_flags(cpuinfo) == {'fpu', 'sse2', 'avx2'}
    assert cpu_flags(tmp_path / 'absent') == frozenset()


def test_an_explicit_numba_cpu_name_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('NUMBA_CPU_NAME', 'x86-64-v2')
    monkeypatch.setenv(TARGETS_VARIABLE, 'generic')
    assert numba_target.apply_numba_target() == 'x86-64-v2'


def test_a_job_loads_the_level_its_cpu_has_before_numba_reads_it() -> None:
    script = (
        'import os\n'
        'from hyp3_s1_m11m12.geogrid import kernels\n'
        'kernels.compiled()\n'
        'import numba.core.config\n'
        "print(os.environ['NUMBA_CPU_NAME'], numba.core.config.CPU_NAME)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != 'NUMBA_CPU_NAME'}
    env[TARGETS_VARIABLE] = 'x86-64-v9 generic'  # an unknown level never fits: generic does
    done = subprocess.run(
        [sys.executable, '-c', script], check=False, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [GENERIC, GENERIC]
