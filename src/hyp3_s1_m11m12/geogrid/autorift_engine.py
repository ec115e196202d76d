"""The 'autorift' engine: autoRIFT 1.x's own ISCE2 Geogrid class, wired as testGeogrid_ISCE.runGeogrid wires it.

It exists only where isce2 and autoRIFT <= v1.6.0 are importable (the conda image), so both are imported lazily.
The Geogrid object is set up by `configure_geogrid`, which takes the class as a parameter: tests hand it a
stand-in and check every attribute it receives.

geogrid.cpp calls exit() on bad input (101: a raster cannot be opened, 104/106: a time outside the orbit), which
would end our process without cleanup, so `run_autorift_geogrid` runs the C++ in a child process and turns its
exit code into a GeogridInputError.
"""

import importlib
import importlib.metadata
import importlib.util
import logging
import multiprocessing
import multiprocessing.connection
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from osgeo import gdal

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import GeogridInputError, UserFacingError
from hyp3_s1_m11m12.geogrid.rasters import DemGrid, open_rasters
from hyp3_s1_m11m12.geogrid.types import (
    DEFAULT_SETTINGS,
    GeogridResult,
    GeogridSettings,
    ParameterRasters,
    check_dt,
)
from hyp3_s1_m11m12.geometry.orbit import Orbit
from hyp3_s1_m11m12.geometry.radar import RadarGeometry


log = logging.getLogger(__name__)

ENGINE_NAME = 'autorift'

# Where the ISCE2 Geogrid class lives: the autoRIFT 1.x package first (`geogrid` is a top-level package there),
# then isce2's frozen contrib copy (autoRIFT 1.4.0: no window_scale_factor.tif, older offset formulas).
AUTORIFT_PACKAGE_MODULE = 'geogrid'
ISCE2_CONTRIB_MODULES = ('contrib.geo_autoRIFT.geogrid', 'components.contrib.geo_autoRIFT.geogrid')
AUTORIFT_DISTRIBUTIONS = ('geo_autoRIFT', 'autoRIFT', 'autorift')

# The output attributes testGeogrid_ISCE.runGeogrid sets, in the order of constants.GEOGRID_OUTPUT_NAMES.
OUTPUT_ATTRIBUTES = (
    'winlocname',
    'winoffname',
    'winsrname',
    'wincsminname',
    'wincsmaxname',
    'winssmname',
    'winro2vxname',
    'winro2vyname',
    'winsfname',
)
# ParameterRasters field -> Geogrid attribute (demname is set separately: it is required).
RASTER_ATTRIBUTES = {
    'dhdx': 'dhdxname',
    'dhdy': 'dhdyname',
    'vx': 'vxname',
    'vy': 'vyname',
    'srx': 'srxname',
    'sry': 'sryname',
    'csminx': 'csminxname',
    'csminy': 'csminyname',
    'csmaxx': 'csmaxxname',
    'csmaxy': 'csmaxyname',
    'ssm': 'ssmname',
}

# exit() codes of autoRIFT v1.6.0's geogrid.cpp.
GEOGRID_EXIT_CODES = {
    101: 'a parameter raster could not be opened',
    102: 'the DEM EPSG code is unknown to GDAL',
    103: 'EPSG:4326 is unknown to GDAL',
    104: 'the orbit does not cover the middle of the scene',
    106: 'a grid node has a zero-Doppler time outside the orbit state vectors (the DEM reaches beyond the '
    'acquisition: use an orbit with more state vectors around the scene, or a smaller DEM)',
    107: 'the GDAL GTiff driver is unavailable',
}

R = TypeVar('R')


@dataclass(frozen=True)
class AutoriftModules:
    """The isce2/autoRIFT classes the engine needs, as found by `load_autorift`."""

    geogrid_class: type
    orbit_class: type  # isceobj.Orbit.Orbit.Orbit
    state_vector_class: type  # isceobj.Orbit.Orbit.StateVector
    version: str
    source: str  # the module the Geogrid class came from


def _autorift_version() -> str:
    for distribution in AUTORIFT_DISTRIBUTIONS:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        return str(importlib.import_module('autoRIFT').__version__)
    except (ImportError, AttributeError):  # autoRIFT's __init__ prints instead of raising when it has no metadata
        return 'unknown'


def _import_keeping_root_logger(name: str) -> Any:
    """Import a module; isce2 resets the root logger on import, so put our configuration back afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        return importlib.import_module(name)
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers


def load_autorift(allow_isce2_contrib: bool = True) -> AutoriftModules:
    """Import isce2 and autoRIFT 1.x's ISCE2 Geogrid class.

    `allow_isce2_contrib` accepts isce2's own contrib copy (autoRIFT 1.4.0: no window_scale_factor.tif, older
    formulas) when the autoRIFT package's is missing; `--engine auto` never settles for it.

    Raises:
        GeogridInputError: they are not importable; the message says to use --engine numpy or the conda image.
    """
    unavailable = (
        'the autorift engine needs isce2 and autoRIFT <= 1.6.0 (the ISCE2 Geogrid), which are only installable '
        'with conda: run with --engine numpy (the default when they are absent) or use the conda container image'
    )
    if importlib.util.find_spec('isce') is None:
        raise GeogridInputError(f'isce2 is not installed; {unavailable}')
    try:
        _import_keeping_root_logger('isce')
        orbit_module = _import_keeping_root_logger('isceobj.Orbit.Orbit')
    except Exception as error:  # noqa: BLE001 - isce2's import-time set-up fails in many ways (paths, libraries)
        raise GeogridInputError(f'isce2 cannot be imported ({error}); {unavailable}') from None

    problems = []
    candidates = (
        (AUTORIFT_PACKAGE_MODULE, *ISCE2_CONTRIB_MODULES) if allow_isce2_contrib else (AUTORIFT_PACKAGE_MODULE,)
    )
    for module_name in candidates:
        try:
            geogrid_class = _import_keeping_root_logger(module_name).Geogrid
        except Exception as error:  # noqa: BLE001 - ImportError, AttributeError (autoRIFT 2 has no ISCE2 Geogrid), isce2's
            problems.append(f'{module_name}: {error}')
            continue
        if module_name == AUTORIFT_PACKAGE_MODULE:
            version = _autorift_version()
        else:
            version = 'isce2-contrib-1.4.0'
            log.warning(
                "Using isce2's contrib copy of autoRIFT Geogrid (%s, autoRIFT 1.4.0): it writes no "
                'window_scale_factor.tif and uses pre-1.5 offset formulas; install autoRIFT 1.6.0 for v1.6.0 results',
                module_name,
            )
        return AutoriftModules(
            geogrid_class=geogrid_class,
            orbit_class=orbit_module.Orbit,
            state_vector_class=orbit_module.StateVector,
            version=version,
            source=module_name,
        )
    raise GeogridInputError(f"autoRIFT's ISCE2 Geogrid class cannot be imported ({'; '.join(problems)}); {unavailable}")


def autorift_available() -> bool:
    """Whether isce2 and the autoRIFT package's own ISCE2 Geogrid (>= 1.5, with the scale factors) are importable."""
    if importlib.util.find_spec('isce') is None:  # the cheap, common answer outside the conda image
        return False
    try:
        load_autorift(allow_isce2_contrib=False)
    except GeogridInputError as error:
        log.debug('autoRIFT engine unavailable: %s', error)
        return False
    return True


def build_isce2_orbit(orbit: Orbit, orbit_class: type, state_vector_class: type) -> Any:
    """An ISCE2 Orbit holding our state vectors (times as naive UTC datetimes), as ISCE2's Sentinel-1 reader builds one."""
    isce2_orbit = orbit_class()
    isce2_orbit.configure()
    for vector in orbit.state_vectors():
        isce2_vector = state_vector_class()
        isce2_vector.setTime(vector.time)
        isce2_vector.setPosition(list(vector.position_m))
        isce2_vector.setVelocity(list(vector.velocity_m_s))
        isce2_orbit.addStateVector(isce2_vector)
    return isce2_orbit


def configure_geogrid(
    geogrid_class: type,
    radar: RadarGeometry,
    dt_seconds: float,
    rasters: ParameterRasters,
    settings: GeogridSettings,
    *,
    isce2_orbit: Any,
    grid_spacing_x_m: float,
    output_dir: Path,
) -> Any:
    """A Geogrid object with exactly the attributes testGeogrid_ISCE.runGeogrid (autoRIFT v1.6.0) sets.

    Differences, all deliberate: repeatTime is the given dt (the driver takes the secondary minus the reference
    sensing start; the callers pass the true dt), output names are absolute paths in `output_dir` (the driver
    writes into the working directory), absent rasters are '' (as the driver's command line passes them), and the
    srs_* search-range settings are set from `settings` (the driver leaves Geogrid's defaults, which are ours).
    """
    geogrid = geogrid_class()
    geogrid.configure()

    geogrid.startingRange = float(radar.starting_range_m)
    geogrid.rangePixelSize = float(radar.range_pixel_size_m)
    geogrid.sensingStart = radar.sensing_start
    geogrid.prf = float(radar.prf_hz)
    geogrid.lookSide = int(radar.look_side)
    geogrid.repeatTime = float(dt_seconds)
    geogrid.numberOfLines = int(radar.number_of_lines)
    geogrid.numberOfSamples = int(radar.number_of_samples)
    geogrid.nodata_out = int(settings.nodata_out)
    geogrid.chipSizeX0 = float(settings.chip_size_x0_m)
    geogrid.gridSpacingX = float(grid_spacing_x_m)
    geogrid.orbit = isce2_orbit

    geogrid.demname = rasters.dem
    for field_name, attribute in RASTER_ATTRIBUTES.items():
        setattr(geogrid, attribute, getattr(rasters, field_name) or '')

    for attribute, file_name in zip(OUTPUT_ATTRIBUTES, constants.GEOGRID_OUTPUT_NAMES, strict=True):
        setattr(geogrid, attribute, str(output_dir / file_name))

    geogrid.srs_dt_unity = float(settings.srs_dt_unity_days)
    geogrid.srs_max_scale = float(settings.srs_max_scale)
    geogrid.srs_max_search = float(settings.srs_max_search_m_per_yr)
    geogrid.srs_min_search = float(settings.srs_min_search_m_per_yr)
    return geogrid


def execute_geogrid(geogrid: Any) -> None:
    """Run a configured Geogrid as the driver does: getIncidenceAngle, then geogrid."""
    geogrid.getIncidenceAngle()
    geogrid.geogrid()
    # geogrid.cpp ends with GDALDestroyDriverManager(), which unregisters every driver of this process.
    gdal.AllRegister()


def check_parameter_rasters(rasters: ParameterRasters) -> DemGrid:
    """The DEM grid, after the checks of the numpy engine: geogrid.cpp would otherwise exit() on an incomplete pair
    or an unreadable raster, and silently misuse a raster off the DEM grid or a geographic DEM.

    Raises:
        GeogridInputError: naming the raster and the problem.
    """
    opened = open_rasters(rasters)
    try:
        return opened.grid
    finally:
        opened.close()


def run_autorift_geogrid_here(
    radar: RadarGeometry,
    dt_seconds: float,
    rasters: ParameterRasters,
    output_dir: Path,
    settings: GeogridSettings = DEFAULT_SETTINGS,
    modules: AutoriftModules | None = None,
) -> GeogridResult:
    """`run_autorift_geogrid` in this process: a C++ exit() would end it, so callers normally use the former."""
    check_dt(dt_seconds)
    grid = check_parameter_rasters(rasters)
    modules = modules if modules is not None else load_autorift()
    isce2_orbit = build_isce2_orbit(radar.orbit, modules.orbit_class, modules.state_vector_class)
    geogrid = configure_geogrid(
        modules.geogrid_class,
        radar,
        dt_seconds,
        rasters,
        settings,
        isce2_orbit=isce2_orbit,
        grid_spacing_x_m=grid.geotransform[1],
        output_dir=output_dir,
    )
    try:
        execute_geogrid(geogrid)
    except UserFacingError:
        raise
    except Exception as error:  # autoRIFT raises bare Exceptions for bad input, e.g. checkState's dt < 0
        raise GeogridInputError(f'autoRIFT Geogrid failed: {type(error).__name__}: {error}') from error

    outputs = {name: output_dir / name for name in constants.GEOGRID_OUTPUT_NAMES if (output_dir / name).is_file()}
    extra = {
        key: float(getattr(geogrid, attribute))
        for key, attribute in (('center_lat_deg', 'cen_lat'), ('center_lon_deg', 'cen_lon'))
        if getattr(geogrid, attribute, None) is not None
    }
    return GeogridResult(
        output_dir=output_dir,
        outputs=outputs,
        engine=ENGINE_NAME,
        engine_version=modules.version,
        dt_seconds=float(dt_seconds),
        epsg=grid.epsg,
        p_off=int(geogrid.pOff),
        l_off=int(geogrid.lOff),
        p_count=int(geogrid.pCount),
        l_count=int(geogrid.lCount),
        x_res_m=float(geogrid.X_res),
        y_res_m=float(geogrid.Y_res),
        incidence_angle_rad=float(geogrid.incidenceAngle),
        extra=extra,
    )


def _child_main(sender: multiprocessing.connection.Connection, function: Callable[..., Any], args: tuple) -> None:
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


def describe_exit_code(exit_code: int | None) -> str:
    if exit_code is not None and exit_code < 0:
        return f'killed by signal {-exit_code}'
    reason = GEOGRID_EXIT_CODES.get(exit_code or 0, 'no reason given')
    return f'exit code {exit_code}: {reason}'


def run_isolated(function: Callable[..., R], *args: Any) -> R:
    """Call `function(*args)` in a child process; return its result or re-raise its exception here.

    A child that dies without answering (C exit(), a crash) becomes a GeogridInputError naming its exit code.
    On KeyboardInterrupt the child is terminated before the interrupt propagates.
    """
    # spawn, not fork: a fresh interpreter inherits no GDAL state or threads from this one.
    context = multiprocessing.get_context('spawn')
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child_main, args=(sender, function, args), daemon=True)
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


def run_autorift_geogrid(
    radar: RadarGeometry,
    dt_seconds: float,
    rasters: ParameterRasters,
    output_dir: Path,
    settings: GeogridSettings = DEFAULT_SETTINGS,
) -> GeogridResult:
    """Run autoRIFT 1.x's ISCE2 Geogrid on these inputs; the nine window_*.tif go into the existing `output_dir`.

    Raises:
        GeogridInputError: isce2/autoRIFT are not importable (use --engine numpy), dt <= 0, a raster problem, or
            geogrid.cpp exited (the message gives its exit code and what it means).
    """
    load_autorift()  # fail here, with the clear message, before starting a child process
    check_parameter_rasters(rasters)
    log.info("Running autoRIFT's ISCE2 Geogrid in a child process")
    return run_isolated(run_autorift_geogrid_here, radar, dt_seconds, rasters, Path(output_dir).resolve(), settings)
