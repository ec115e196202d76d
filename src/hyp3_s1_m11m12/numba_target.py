"""numba's set-up for the package's compiled kernels (geogrid/kernels.py, geometry/fast_projection.py): the CPU target
they are compiled for, so that a container's prebuilt numba cache fits whatever host runs it, and import_numba().

numba keys its cache on the CPU it compiles for: a cache built for the image's build machine misses on every other
host, and each job would pay a 10-35 s compile. The image therefore builds the cache for portable x86-64 levels
(HYP3_S1_M11M12_NUMBA_TARGETS, best first, e.g. 'x86-64-v3 generic') and each job compiles for (that is, loads)
the best level its CPU has. Every level gives the same bits: no fast-math, so the same IEEE operations whether
vectorised or not, and the C maths library for the transcendental functions. x86-64-v3 (AVX2, 2013 on) takes
about 20 % less CPU than `generic` (SSE2). Without the variable numba compiles for the host (development, CI).
"""

import contextlib
import gc
import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType


log = logging.getLogger(__name__)

TARGETS_VARIABLE = 'HYP3_S1_M11M12_NUMBA_TARGETS'
NUMBA_CPU_VARIABLE = 'NUMBA_CPU_NAME'
GENERIC = 'generic'
_V2 = frozenset({'cx16', 'lahf_lm', 'popcnt', 'sse4_1', 'sse4_2', 'ssse3'})
_V3 = _V2 | {'avx', 'avx2', 'bmi1', 'bmi2', 'f16c', 'fma', 'abm', 'movbe', 'xsave'}
_V4 = _V3 | {'avx512f', 'avx512bw', 'avx512cd', 'avx512dq', 'avx512vl'}
# The x86-64 psABI micro-architecture levels (LLVM CPU names) and the /proc/cpuinfo flags each needs.
LEVEL_FLAGS: dict[str, frozenset[str]] = {'x86-64-v4': _V4, 'x86-64-v3': _V3, 'x86-64-v2': _V2, GENERIC: frozenset()}


def cpu_flags(cpuinfo: Path = Path('/proc/cpuinfo')) -> frozenset[str]:
    """The CPU's feature flags as Linux lists them; empty when they cannot be read (then only `generic` fits)."""
    try:
        with cpuinfo.open() as lines:
            for line in lines:
                if line.startswith('flags'):
                    return frozenset(line.partition(':')[2].split())
    except OSError:
        pass
    return frozenset()


def select_target(targets: Sequence[str], flags: frozenset[str]) -> str | None:
    """The first of `targets` (best first) whose level the CPU has; None when none fits (an unknown name never fits)."""
    for target in targets:
        needed = LEVEL_FLAGS.get(target)
        if needed is not None and needed <= flags:
            return target
    return None


def apply_numba_target() -> str | None:
    """Set NUMBA_CPU_NAME from HYP3_S1_M11M12_NUMBA_TARGETS before numba is imported; returns the target (None: the
    host's, numba's default). An explicit NUMBA_CPU_NAME wins."""
    explicit = os.environ.get(NUMBA_CPU_VARIABLE)
    if explicit:
        return explicit
    targets = os.environ.get(TARGETS_VARIABLE, '').split()
    if not targets:
        return None
    target = select_target(targets, cpu_flags())
    if target is None:
        log.warning(
            f'none of the prebuilt kernel targets {" ".join(targets)} ({TARGETS_VARIABLE}) fits this CPU: numba '
            'compiles the kernels for it (10-35 s); add generic to the list'
        )
        return None
    if 'numba' in sys.modules:  # numba reads the variable at import: too late to choose
        log.warning(f'numba was imported before the kernel target was chosen: {TARGETS_VARIABLE} is ignored')
        return None
    os.environ[NUMBA_CPU_VARIABLE] = target
    return target


# numba's array-maths module probes for BLAS when it is imported (on numba's first compilation or cache load) by
# importing scipy.linalg: 0.1-0.2 s of the serial start and ~15 MiB, for BLAS that no kernel calls.
BLAS_PROBE_MODULE = 'scipy.linalg.cython_blas'
_import_lock = threading.Lock()


@contextlib.contextmanager
def _blas_probe_skipped() -> Iterator[None]:
    """Make numba's BLAS probe fail fast (numba then only refuses np.dot & co. in compiled code, which the kernels do
    not use); nothing changes when scipy.linalg is already imported or numba's module already loaded."""
    if BLAS_PROBE_MODULE in sys.modules or 'numba.np.arraymath' in sys.modules:
        yield
        return
    sys.modules[BLAS_PROBE_MODULE] = None  # type: ignore[assignment]  # an import of it raises ImportError
    try:
        yield
    finally:
        if BLAS_PROBE_MODULE in sys.modules and sys.modules[BLAS_PROBE_MODULE] is None:
            del sys.modules[BLAS_PROBE_MODULE]


def import_numba() -> ModuleType:
    """numba, imported the way every bit-exact kernel of the package needs it (whichever kernel file loads first):
    Intel's SVML off, the portable CPU level chosen, numba's BLAS probe skipped. Thread-safe."""
    with _import_lock:
        # Bit-identity needs the C maths library: Intel's SVML (numba uses it when icc_rt is installed) would
        # vectorise the per-function libm loops with other last bits. Read by numba at import.
        os.environ.setdefault('NUMBA_DISABLE_INTEL_SVML', '1')
        apply_numba_target()  # the portable level a container's prebuilt cache holds, if any
        import numba

        with _blas_probe_skipped():  # the module with the probe, loaded now rather than on first use
            import numba.np.arraymath
        # numba's modules are ~10^5 objects that live until exit: frozen, the cyclic collector does not rescan them
        # in every full collection (each tens of ms, while the main thread plans the run).
        gc.freeze()
        return numba
