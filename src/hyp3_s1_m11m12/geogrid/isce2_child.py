"""isce2 code runs only in a child process: the isolation, the logging guard, and what the child can run.

geogrid.cpp calls exit() on bad input and `import isce` reconfigures logging for the whole process, so the parent
never imports isce2. `probe_autorift` asks a child what the installed isce2/autoRIFT can actually run: the compiled
`components.contrib.geo_autoRIFT.geogrid.geogrid` module that autoRIFT's Geogrid.py calls (isce2's own copy), its
function table (autoRIFT >= 1.5 adds `setSFFilename_Py`; conda-forge's isce2 2.6.x bundles 1.4.0 without it) and
the Python Geogrid class that drives it (autoRIFT >= 1.5 sets `winsfname`).
"""

import functools
import importlib
import importlib.metadata
import importlib.util
import logging
import multiprocessing
import multiprocessing.connection
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hyp3_s1_m11m12.errors import GeogridInputError


log = logging.getLogger(__name__)

R = TypeVar('R')

# The compiled module both isce2's and autoRIFT's Geogrid.py import, and the Python Geogrid class of autoRIFT 1.x.
COMPILED_GEOGRID_MODULE = 'components.contrib.geo_autoRIFT.geogrid.geogrid'
GEOGRID_CLASS_MODULE = 'geogrid'
AUTORIFT_DISTRIBUTIONS = ('autorift', 'autoRIFT', 'geo_autoRIFT')
# A build of autoRIFT's C++ made by this project's Docker image records its source here, beside the module.
CPP_BUILD_INFO_NAME = 'AUTORIFT_GEOGRID_BUILD'

# The C functions autoRIFT v1.5.0/v1.6.0's Geogrid.py calls (geogridmodule.h: 42 entries, the same in both releases;
# autoRIFT 1.4.0, which isce2 2.6.x bundles, has the first 41 only).
GEOGRID_API_1_4 = (
    'createGeoGrid_Py',
    'destroyGeoGrid_Py',
    'geogrid_Py',
    'setRadarImageDimensions_Py',
    'setRangeParameters_Py',
    'setAzimuthParameters_Py',
    'setRepeatTime_Py',
    'setDEM_Py',
    'setEPSG_Py',
    'setIncidenceAngle_Py',
    'setChipSizeX0_Py',
    'setGridSpacingX_Py',
    'setVelocities_Py',
    'setSearchRange_Py',
    'setChipSizeMin_Py',
    'setChipSizeMax_Py',
    'setStableSurfaceMask_Py',
    'setSlopes_Py',
    'setOrbit_Py',
    'setLookSide_Py',
    'setNodataOut_Py',
    'setDtUnity_Py',
    'setMaxFactor_Py',
    'setUpperThreshold_Py',
    'setLowerThreshold_Py',
    'setXLimits_Py',
    'setYLimits_Py',
    'getXPixelSize_Py',
    'getYPixelSize_Py',
    'getXOff_Py',
    'getYOff_Py',
    'getXCount_Py',
    'getYCount_Py',
    'setWindowLocationsFilename_Py',
    'setWindowOffsetsFilename_Py',
    'setWindowSearchRangeFilename_Py',
    'setWindowChipSizeMinFilename_Py',
    'setWindowChipSizeMaxFilename_Py',
    'setWindowStableSurfaceMaskFilename_Py',
    'setRO2VXFilename_Py',
    'setRO2VYFilename_Py',
)
GEOGRID_API_1_5 = (*GEOGRID_API_1_4, 'setSFFilename_Py')

HOW_TO_GET_IT = (
    "install an isce2 whose contrib/geo_autoRIFT carries autoRIFT >= 1.5's compiled radar Geogrid (conda-forge's "
    "carries 1.4.0; ASF's own isce2 build carried 1.5), or run with --engine numpy (bit-identical to autoRIFT v1.6.0)"
)

# exit() codes of autoRIFT v1.5.0/v1.6.0's geogrid.cpp (the same in both).
GEOGRID_EXIT_CODES = {
    101: 'a parameter raster could not be opened',
    102: 'the DEM EPSG code is unknown to GDAL',
    103: 'EPSG:4326 is unknown to GDAL',
    104: 'the orbit does not cover the middle of the scene',
    105: 'a line of a parameter raster could not be read (a truncated or unreachable raster)',
    106: 'a grid node has a zero-Doppler time outside the orbit state vectors (the DEM reaches beyond the '
    'acquisition: use an orbit with more state vectors around the scene, or a smaller DEM)',
    107: 'the GDAL GTiff driver is unavailable',
}


@dataclass(frozen=True)
class AutoriftCapabilities:
    """What the installed isce2/autoRIFT can run, as found in a child process."""

    available: bool  # autoRIFT >= 1.5's radar Geogrid, Python class and C++, positively detected
    problem: str = ''  # why not, for the one-line error
    cpp_version: str = ''  # the C++ that would run, e.g. 'autoRIFT v1.6.0 (edabacd6e912)' or 'autoRIFT 1.4.0'
    geogrid_version: str = ''  # the autoRIFT Geogrid release whose algorithm it is, e.g. '1.6.0'
    wrapper_version: str = ''  # the autoRIFT Python package's version (not what computes the numbers)
    module_file: str = ''
    missing: tuple[str, ...] = field(default_factory=tuple)


def _logging_state() -> tuple[int, list[logging.Handler], dict[str, tuple[bool, int, bool, list[logging.Handler]]]]:
    root = logging.getLogger()
    loggers = {
        name: (logger.disabled, logger.level, logger.propagate, list(logger.handlers))
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    return root.level, list(root.handlers), loggers


def import_keeping_logs(name: str) -> Any:
    """Import a module; isce2's `import isce` runs logging.config.fileConfig, which disables every existing logger
    and replaces the root handlers: put every logger that existed before back as it was."""
    level, handlers, loggers = _logging_state()
    try:
        return importlib.import_module(name)
    finally:
        root = logging.getLogger()
        root.setLevel(level)
        root.handlers[:] = handlers
        for logger_name, (disabled, logger_level, propagate, logger_handlers) in loggers.items():
            logger = logging.getLogger(logger_name)
            logger.disabled, logger.level, logger.propagate = disabled, logger_level, propagate
            logger.handlers[:] = logger_handlers


def _distribution_version(names: tuple[str, ...]) -> str:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return 'unknown'


def _cpp_build_info(module: Any) -> str:
    """The first line of the build record the Docker image writes beside the compiled module, or ''."""
    module_file = getattr(module, '__file__', None)
    if not module_file:
        return ''
    record = Path(module_file).with_name(CPP_BUILD_INFO_NAME)
    lines = record.read_text().splitlines() if record.is_file() else []
    return lines[0].strip() if lines else ''


def inspect_compiled_geogrid(module: Any) -> AutoriftCapabilities:
    """The capabilities of a compiled geogrid module, from its function table and the build record beside it."""
    missing = tuple(name for name in GEOGRID_API_1_5 if not callable(getattr(module, name, None)))
    module_file = str(getattr(module, '__file__', '') or '')
    if missing == ('setSFFilename_Py',):
        return AutoriftCapabilities(
            available=False,
            problem=f'the compiled Geogrid {COMPILED_GEOGRID_MODULE} ({module_file}) is autoRIFT 1.4.0, which isce2 '
            'bundles: it lacks setSFFilename_Py (autoRIFT >= 1.5: window_scale_factor.tif, v1.5 offset and '
            'off2vel formulas)',
            cpp_version='autoRIFT 1.4.0',
            geogrid_version='1.4.0',
            module_file=module_file,
            missing=missing,
        )
    if missing:
        return AutoriftCapabilities(
            available=False,
            problem=f'the compiled Geogrid {COMPILED_GEOGRID_MODULE} ({module_file}) lacks {", ".join(missing)}',
            module_file=module_file,
            missing=missing,
        )
    build = _cpp_build_info(module)
    return AutoriftCapabilities(
        available=True,
        cpp_version=build or 'autoRIFT >= 1.5 geogrid.cpp (42-function API; v1.5.0 and v1.6.0 share this C++)',
        geogrid_version='1.6.0' if 'v1.6.0' in build else '1.5.0-1.6.0',
        module_file=module_file,
    )


def probe_here() -> AutoriftCapabilities:
    """`probe_autorift` in this process (which then has isce2 imported): only for a child process."""
    if importlib.util.find_spec('isce') is None:
        return AutoriftCapabilities(available=False, problem='isce2 is not installed (it comes from conda-forge)')
    try:
        import_keeping_logs('isce')
        compiled = import_keeping_logs(COMPILED_GEOGRID_MODULE)
    except Exception as error:  # noqa: BLE001 - isce2's import-time set-up fails in many ways (paths, libraries)
        return AutoriftCapabilities(
            available=False,
            problem=f'isce2 or its compiled Geogrid cannot be imported ({type(error).__name__}: {error})',
        )
    capabilities = inspect_compiled_geogrid(compiled)
    if not capabilities.available:
        return capabilities
    try:
        geogrid_class = import_keeping_logs(GEOGRID_CLASS_MODULE).Geogrid
    except Exception as error:  # noqa: BLE001 - ImportError, AttributeError (autoRIFT 2 has no ISCE2 Geogrid)
        problem = f"autoRIFT 1.x's Python Geogrid class cannot be imported ({type(error).__name__}: {error})"
        return AutoriftCapabilities(available=False, problem=problem, cpp_version=capabilities.cpp_version)
    instance = geogrid_class()
    if not hasattr(instance, 'winsfname'):
        problem = f'the Python Geogrid class {geogrid_class.__module__} is older than autoRIFT 1.5 (no winsfname)'
        return AutoriftCapabilities(available=False, problem=problem, cpp_version=capabilities.cpp_version)
    return AutoriftCapabilities(
        available=True,
        cpp_version=capabilities.cpp_version,
        geogrid_version=capabilities.geogrid_version,
        wrapper_version=_distribution_version(AUTORIFT_DISTRIBUTIONS),
        module_file=capabilities.module_file,
    )


@functools.lru_cache(maxsize=1)
def probe_autorift() -> AutoriftCapabilities:
    """What isce2/autoRIFT can run here, asked of a child process; never raises (a crashed child is 'unavailable')."""
    if importlib.util.find_spec('isce') is None:  # the cheap, common answer outside the conda image
        return AutoriftCapabilities(available=False, problem='isce2 is not installed (it comes from conda-forge)')
    try:
        return run_isolated(probe_here)
    except Exception as error:  # noqa: BLE001 - the probe must never fail a job
        return AutoriftCapabilities(available=False, problem=f'probing isce2 failed ({error})')


def require_autorift(engine: str) -> AutoriftCapabilities:
    """The capabilities, or a one-line error saying what is missing and how to get it.

    Raises:
        GeogridInputError: autoRIFT >= 1.5's radar Geogrid cannot run here.
    """
    capabilities = probe_autorift()
    if not capabilities.available:
        raise GeogridInputError(f'--engine {engine} cannot run: {capabilities.problem}; {HOW_TO_GET_IT}')
    return capabilities


def describe_exit_code(exit_code: int | None) -> str:
    if exit_code is not None and exit_code < 0:
        return f'killed by signal {-exit_code}'
    reason = GEOGRID_EXIT_CODES.get(exit_code or 0, 'no reason given')
    return f'exit code {exit_code}: {reason}'


def _child_main(
    sender: multiprocessing.connection.Connection, log_level: int, function: Callable[..., Any], args: tuple
) -> None:
    # The child's own log records (the engine's warnings) go to its stderr, which is the job's log too.
    logging.basicConfig(level=log_level, format='%(asctime)s %(levelname)s %(name)s (child): %(message)s')
    try:
        result = function(*args)
    except BaseException as error:  # noqa: BLE001 - every failure goes back to the parent, which re-raises it
        try:
            sender.send(('error', error))
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            sender.send(('error', GeogridInputError(f'autoRIFT Geogrid failed: {type(error).__name__}: {error}')))
    else:
        sender.send(('ok', result))
    finally:
        sender.close()


def run_isolated(function: Callable[..., R], *args: Any) -> R:
    """Call `function(*args)` in a child process; return its result or re-raise its exception here.

    A child that dies without answering (C exit(), a crash) becomes a GeogridInputError naming its exit code.
    On KeyboardInterrupt the child is terminated before the interrupt propagates.
    """
    # spawn, not fork: a fresh interpreter inherits no GDAL state, threads or logging set-up from this one.
    context = multiprocessing.get_context('spawn')
    receiver, sender = context.Pipe(duplex=False)
    log_level = logging.getLogger().getEffectiveLevel()
    process = context.Process(target=_child_main, args=(sender, log_level, function, args), daemon=True)
    process.start()
    sender.close()
    try:
        try:
            status, payload = receiver.recv()
        except EOFError:
            status, payload = 'died', None
        process.join()
    except BaseException:
        process.terminate()
        process.join()
        raise
    finally:
        receiver.close()
    if status == 'ok':
        return payload
    if status == 'error':
        raise payload
    raise GeogridInputError(f'autoRIFT Geogrid stopped without a result ({describe_exit_code(process.exitcode)})')
