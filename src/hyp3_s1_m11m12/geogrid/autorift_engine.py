"""The 'autorift' engine: autoRIFT 1.x's own ISCE2 Geogrid class, wired as testGeogrid_ISCE.runGeogrid wires it.

It runs only where isce2 and autoRIFT >= 1.5's radar Geogrid (Python class and C++) are installed, and only in a
child process (geogrid/isce2_child.py): this process never imports isce2. The Geogrid object is set up by
`configure_geogrid`, which takes the class as a parameter: tests hand it a stand-in and check every attribute it
receives. The result names the C++ that ran (`engine_version`), not the Python wrapper's version.
"""

import functools
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from osgeo import gdal

from hyp3_s1_m11m12.errors import GeogridInputError, UserFacingError
from hyp3_s1_m11m12.geogrid import isce2_child
from hyp3_s1_m11m12.geogrid.rasters import DemGrid, open_rasters
from hyp3_s1_m11m12.geogrid.types import (
    DEFAULT_SETTINGS,
    GeogridResult,
    GeogridSettings,
    ParameterRasters,
    check_dt,
)
from hyp3_s1_m11m12.geogrid.vocabulary import OUTPUT_FILES, OUTPUT_NAMES, PARAMETER_RASTERS
from hyp3_s1_m11m12.geometry.orbit import Orbit
from hyp3_s1_m11m12.geometry.radar import RadarGeometry


log = logging.getLogger(__name__)

ENGINE_NAME = 'autorift'

# The attributes testGeogrid_ISCE.runGeogrid sets, read from the vocabulary tables: output file names (in the
# outputs' order) and the optional parameter rasters (demname is set separately: it is required).
OUTPUT_ATTRIBUTES = tuple(output.isce2_attribute for output in OUTPUT_FILES)
RASTER_ATTRIBUTES = {raster.name: raster.isce2_attribute for raster in PARAMETER_RASTERS if raster.name != 'dem'}


@dataclass(frozen=True)
class AutoriftModules:
    """The isce2/autoRIFT classes the engine needs, as found by `load_autorift` (in the child process)."""

    geogrid_class: type
    orbit_class: type  # isceobj.Orbit.Orbit.Orbit
    state_vector_class: type  # isceobj.Orbit.Orbit.StateVector
    capabilities: isce2_child.AutoriftCapabilities


def load_autorift() -> AutoriftModules:
    """Import isce2 and autoRIFT >= 1.5's ISCE2 Geogrid, keeping this process's logging; only in a child process.

    Raises:
        GeogridInputError: they are missing or too old; the message says what is missing and how to get it.
    """
    capabilities = isce2_child.probe_here()
    if not capabilities.available:
        raise GeogridInputError(f'--engine autorift cannot run: {capabilities.problem}; {isce2_child.HOW_TO_GET_IT}')
    orbit_module = isce2_child.import_keeping_logs('isceobj.Orbit.Orbit')
    return AutoriftModules(
        geogrid_class=isce2_child.import_keeping_logs(isce2_child.GEOGRID_CLASS_MODULE).Geogrid,
        orbit_class=orbit_module.Orbit,
        state_vector_class=orbit_module.StateVector,
        capabilities=capabilities,
    )


def autorift_available() -> bool:
    """Whether autoRIFT >= 1.5's radar Geogrid (Python class and C++) is positively detected (in a child process)."""
    return isce2_child.probe_autorift().available


def pin_orbit_time_base(isce2_orbit: Any, orbit: Orbit, sensing_start: datetime) -> Any:
    """Make ISCE2's exportToC count the orbit's times from the midnight of the scene's start.

    Geogrid.py gives the C++ the sensing start in seconds since ITS midnight but exports the orbit with
    exportToC(), which counts from the midnight of the FIRST STATE VECTOR. For a scene starting just after 00:00 UTC
    with state vectors from the day before, the two differ by 86 400 s and geogrid.cpp exits with 104. exportToC's
    own `reference` argument fixes the time base; on every other scene nothing changes.
    """
    first = orbit.state_vectors()[0].time
    if first.date() != sensing_start.date():
        log.info(
            'The orbit starts on %s, the scene on %s: ISCE2 orbit times are counted from the scene day',
            first.date(),
            sensing_start.date(),
        )
        isce2_orbit.exportToC = functools.partial(isce2_orbit.exportToC, reference=sensing_start)
    return isce2_orbit


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

    for attribute, file_name in zip(OUTPUT_ATTRIBUTES, OUTPUT_NAMES, strict=True):
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
    pin_orbit_time_base(isce2_orbit, radar.orbit, radar.sensing_start)
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

    outputs = {name: output_dir / name for name in OUTPUT_NAMES if (output_dir / name).is_file()}
    extra = {
        key: float(getattr(geogrid, attribute))
        for key, attribute in (('center_lat_deg', 'cen_lat'), ('center_lon_deg', 'cen_lon'))
        if getattr(geogrid, attribute, None) is not None
    }
    return GeogridResult(
        output_dir=output_dir,
        outputs=outputs,
        engine=ENGINE_NAME,
        engine_version=modules.capabilities.cpp_version,
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
        geogrid_version=modules.capabilities.geogrid_version,
    )


def run_autorift_geogrid(
    radar: RadarGeometry,
    dt_seconds: float,
    rasters: ParameterRasters,
    output_dir: Path,
    settings: GeogridSettings = DEFAULT_SETTINGS,
) -> GeogridResult:
    """Run autoRIFT 1.x's ISCE2 Geogrid on these inputs; the nine window_*.tif go into the existing `output_dir`.

    Raises:
        GeogridInputError: autoRIFT >= 1.5's radar Geogrid is not installed (the message says what is missing and
            how to get it), dt <= 0, a raster problem, or geogrid.cpp exited (its exit code and what it means).
    """
    check_dt(dt_seconds)
    capabilities = isce2_child.require_autorift(ENGINE_NAME)  # fail here, with the clear message
    check_parameter_rasters(rasters)
    log.info("Running autoRIFT's ISCE2 radar Geogrid (%s) in a child process", capabilities.cpp_version)
    output_dir = Path(output_dir).resolve()
    return isce2_child.run_isolated(run_autorift_geogrid_here, radar, dt_seconds, rasters, output_dir, settings)
