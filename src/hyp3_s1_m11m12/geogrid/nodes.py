"""Geogrid's per-node computation (autoRIFT v1.6.0 geogrid.cpp, spec sections 2.3-2.11), vectorised over nodes.

Pure: map coordinates, DEM heights and parameter values in, output bands out. Every formula is evaluated in the
order geogrid.cpp evaluates it, so floating-point results agree to a few ulps; rounding is C++ std::round (half
away from zero) and chip sizes truncate like a C double -> int conversion. With numba, compute_nodes runs the
same operations node by node in the fused kernels of geometry/kernels.py (the tests check both give the same bits).
"""

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12.geogrid import kernels
from hyp3_s1_m11m12.geogrid.types import GeogridSettings
from hyp3_s1_m11m12.geometry.ellipsoid import ecef_to_llh, llh_to_ecef
from hyp3_s1_m11m12.geometry.orbit import Orbit
from hyp3_s1_m11m12.geometry.projection import MapProjection
from hyp3_s1_m11m12.geometry.zero_doppler import (
    GEOGRID_NEWTON_ITERATIONS,
    GEOGRID_TOPO_ITERATIONS,
    cross,
    dot,
    geo2rdr,
    norm,
    topo_at,
    unit,
)


FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int32]

DEG2RAD = math.pi / 180.0
DEGENERACY_LIMIT_DEG = 1.0  # the matrix is written only where the normal is > 1 degree off the range/azimuth plane

LOCATION = 'window_location.tif'
OFFSET = 'window_offset.tif'
SEARCH_RANGE = 'window_search_range.tif'
CHIP_SIZE_MIN = 'window_chip_size_min.tif'
CHIP_SIZE_MAX = 'window_chip_size_max.tif'
STABLE_SURFACE_MASK = 'window_stable_surface_mask.tif'
OFF2VEL_X = 'window_rdr_off2vel_x_vec.tif'
OFF2VEL_Y = 'window_rdr_off2vel_y_vec.tif'
SCALE_FACTOR = 'window_scale_factor.tif'

# output file -> (number of bands, numpy dtype)
OUTPUT_LAYOUT: dict[str, tuple[int, type[np.generic]]] = {
    LOCATION: (2, np.int32),
    OFFSET: (2, np.int32),
    SEARCH_RANGE: (2, np.int32),
    CHIP_SIZE_MIN: (2, np.int32),
    CHIP_SIZE_MAX: (2, np.int32),
    STABLE_SURFACE_MASK: (1, np.int32),
    OFF2VEL_X: (3, np.float64),
    OFF2VEL_Y: (3, np.float64),
    SCALE_FACTOR: (2, np.float64),
}

# The parameter rasters besides the DEM and the outputs, in the argument order of kernels.geogrid_outputs_kernel.
RASTERS_BESIDES_DEM = ('dhdx', 'dhdy', 'vx', 'vy', 'srx', 'sry', 'csminx', 'csminy', 'csmaxx', 'csmaxy', 'ssm')
KERNEL_OUTPUTS = (
    OFFSET,
    SEARCH_RANGE,
    CHIP_SIZE_MIN,
    CHIP_SIZE_MAX,
    STABLE_SURFACE_MASK,
    OFF2VEL_X,
    OFF2VEL_Y,
    SCALE_FACTOR,
)

# Diagnostics (not written): the offsets before rounding, for consistency checks of the conversion matrices.
OFFSET_RANGE_UNROUNDED = 'offset_range_unrounded'
OFFSET_AZIMUTH_UNROUNDED = 'offset_azimuth_unrounded'
NEWTON_ITERATIONS_USED = 'newton_iterations'


def outputs_for(present: frozenset[str]) -> tuple[str, ...]:
    """Which files autoRIFT writes for a set of given rasters (spec section 1.3, last paragraph)."""
    names = [LOCATION]
    if 'dhdx' in present and 'vx' in present:
        names.append(OFFSET)
    if 'dhdx' in present and 'srx' in present:
        names.append(SEARCH_RANGE)
    if 'csminx' in present:
        names.append(CHIP_SIZE_MIN)
    if 'csmaxx' in present:
        names.append(CHIP_SIZE_MAX)
    if 'ssm' in present:
        names.append(STABLE_SURFACE_MASK)
    if 'dhdx' in present:
        names += [OFF2VEL_X, OFF2VEL_Y, SCALE_FACTOR]
    return tuple(names)


def std_round(values: FloatArray) -> FloatArray:
    """C++ std::round: halves away from zero (numpy's round sends halves to even)."""
    whole = np.trunc(values)
    fraction = values - whole
    return whole + np.where(np.abs(fraction) >= 0.5, np.sign(values), 0.0)


def to_int32(values: FloatArray) -> IntArray:
    """A C double -> int conversion: truncation toward zero (NaN and overflow give INT_MIN on x86, as in C++)."""
    with np.errstate(invalid='ignore'):
        return values.astype(np.int32)


@dataclass(frozen=True)
class NodeContext:
    """Everything the per-node computation needs besides the node values; built once per run."""

    orbit: Orbit
    projection: MapProjection
    look_side: int
    starting_range_m: float
    range_pixel_size_m: float
    prf_hz: float
    number_of_lines: int
    number_of_samples: int
    sensing_start_s: float  # seconds since the orbit epoch
    initial_time_s: float  # Newton's start, sensingStart + 0.5 nLines / prf
    dt_seconds: float
    settings: GeogridSettings
    vx_nodata: float | None
    chip_pixels_range: int  # ChipSizeX0_PIX_grd
    chip_pixels_azimuth: int  # ChipSizeX0_PIX_azm
    present: frozenset[str]
    newton_max_iterations: int = GEOGRID_NEWTON_ITERATIONS
    stop_at_fixed_point: bool = True  # False: geogrid.cpp's fixed 51 Newton and 10 topo steps (same outputs)
    compiled: bool | None = None  # numba kernels (bit-identical); None: when numba is installed


def search_range_scale(dt_seconds: float, settings: GeogridSettings) -> float:
    """The dt-dependent search-range factor of geogrid.cpp (5 at one day, falling to 1 at dt_unity days)."""
    m = settings.srs_max_scale
    unity = settings.srs_dt_unity_days
    return max(m * ((unity - 1) * m + (m - 1) - (m - 1) * dt_seconds / 24.0 / 3600.0) / ((unity - 1) * m), 1.0)


def _equals_nodata(values: FloatArray, nodata: float | None) -> npt.NDArray[np.bool_]:
    if nodata is None:
        return np.zeros(values.shape, dtype=bool)
    return values == nodata


def compute_nodes(
    context: NodeContext,
    x: FloatArray,
    y: FloatArray,
    values: dict[str, FloatArray],
    include_diagnostics: bool = False,
) -> dict[str, npt.NDArray[np.generic]]:
    """Output bands, shape (bands, n), for n nodes at map (x, y) with the rasters' values there (`values['dem']` ...).

    Returns a dict keyed by output file name (only the files `outputs_for(context.present)` lists), plus the
    unrounded offsets under OFFSET_RANGE_UNROUNDED / OFFSET_AZIMUTH_UNROUNDED when `include_diagnostics`.

    Raises:
        OrbitError: a node's zero-Doppler time (or that time + 1/prf) falls outside the orbit.
    """
    if kernels.AVAILABLE if context.compiled is None else context.compiled:
        return _compute_nodes_compiled(context, x, y, values, include_diagnostics)
    nodata_out = float(context.settings.nodata_out)
    dr = context.range_pixel_size_m
    height = values['dem']

    # 2.3: map -> geodetic -> ECEF; the map-space origin keeps the DEM height
    lat_deg, lon_deg = context.projection.to_geographic(x, y)
    targets = np.stack(llh_to_ecef(DEG2RAD * lat_deg, DEG2RAD * lon_deg, height), axis=-1)

    # 2.4-2.5: zero-Doppler time and range; radar pixel indices
    solution = geo2rdr(
        context.orbit,
        targets,
        context.initial_time_s,
        max_iterations=context.newton_max_iterations,
        stop_at_fixed_point=context.stop_at_fixed_point,
        compiled=context.compiled,
    )
    slant_range = solution.range_m
    range_index = std_round((slant_range - context.starting_range_m) / dr)
    azimuth_index = std_round((solution.azimuth_time_s - context.sensing_start_s) * context.prf_hz)
    with np.errstate(invalid='ignore'):
        inside = (
            (range_index <= context.number_of_samples - 1)
            & (range_index >= 0)
            & (azimuth_index <= context.number_of_lines - 1)
            & (azimuth_index >= 0)
        )

    n = x.size
    location = np.full((2, n), nodata_out)
    location[0, inside] = range_index[inside]
    location[1, inside] = azimuth_index[inside]
    outputs: dict[str, npt.NDArray[np.generic]] = {LOCATION: to_int32(location)}
    # geogrid.cpp takes the along-track step for every node, so a time outside the orbit stops it even where the
    # node is outside the image; the step itself only matters inside the image, where the other outputs are.
    context.orbit.check_within_span(solution.azimuth_time_s + 1 / context.prf_hz)
    keep = np.flatnonzero(inside)
    inner = _inside_outputs(
        context,
        x[keep],
        y[keep],
        {name: array[keep] for name, array in values.items()},
        targets[keep],
        solution.azimuth_time_s[keep],
        slant_range[keep],
        solution.look_vector_m[keep],
        include_diagnostics,
    )
    for name, array in inner.items():
        fill = np.nan if name in (OFFSET_RANGE_UNROUNDED, OFFSET_AZIMUTH_UNROUNDED) else nodata_out
        full = np.full((*array.shape[:-1], n), fill, dtype=array.dtype)
        full[..., keep] = array
        outputs[name] = full
    if include_diagnostics:
        outputs[NEWTON_ITERATIONS_USED] = np.full(n, solution.iterations)
    return outputs


def _inside_outputs(
    context: NodeContext,
    x: FloatArray,
    y: FloatArray,
    values: dict[str, FloatArray],
    targets: FloatArray,
    azimuth_time_s: FloatArray,
    slant_range: FloatArray,
    look_vector_m: FloatArray,
    include_diagnostics: bool,
) -> dict[str, npt.NDArray[np.generic]]:
    """Every output but the location, for nodes inside the radar image (spec sections 2.6-2.10)."""
    settings = context.settings
    nodata_out = float(settings.nodata_out)
    dt = context.dt_seconds
    dr = context.range_pixel_size_m
    height = values['dem']
    present = context.present

    # 2.6: one slant-range pixel farther, in map space
    look = unit(look_vector_m)
    range_step = targets + look * dr
    lat_r, lon_r, height_r = ecef_to_llh(range_step[:, 0], range_step[:, 1], range_step[:, 2])
    map_x_r, map_y_r = context.projection.to_map(lat_r / DEG2RAD, lon_r / DEG2RAD)
    drpos = np.stack((map_x_r - x, map_y_r - y, height_r - height), axis=-1)
    range_length = norm(drpos)
    los = unit(drpos)

    # 2.7: one azimuth line later, at the same range and height ("topo" at t + 1/prf)
    topo = topo_at(
        context.orbit,
        azimuth_time_s + 1 / context.prf_hz,
        slant_range,
        height,
        context.look_side,
        max_iterations=GEOGRID_TOPO_ITERATIONS,
        stop_at_fixed_point=context.stop_at_fixed_point,
        compiled=context.compiled,
    )
    map_x_a, map_y_a = context.projection.to_map(topo.lat_rad / DEG2RAD, topo.lon_rad / DEG2RAD)
    alt = np.stack((map_x_a - x, map_y_a - y, height - height), axis=-1)
    azimuth_length = norm(alt)
    along = unit(alt)  # `temp` in geogrid.cpp
    da_length = norm(topo.target_ecef_m - targets)

    n = x.size
    outputs: dict[str, npt.NDArray[np.generic]] = {}

    if 'dhdx' in present:
        slope = np.stack((values['dhdx'], values['dhdy'], np.full(n, -1.0)), axis=-1)
        normal = -unit(slope)
        with np.errstate(invalid='ignore'):
            cross_direction = unit(cross(los, along))
            cross_check = np.abs(np.arccos(dot(normal, cross_direction)) / DEG2RAD - 90.0)
            well_posed = cross_check > DEGENERACY_LIMIT_DEG
        nz = normal[:, 2]
        a_term = nz * los[:, 0] - normal[:, 0] * los[:, 2]
        d_term = nz * los[:, 1] - normal[:, 1] * los[:, 2]
        c_term = nz * along[:, 0] - normal[:, 0] * along[:, 2]
        b_term = nz * along[:, 1] - normal[:, 1] * along[:, 2]
        determinant = a_term * b_term - c_term * d_term
        range_rate = dt / dr / 365.0 / 24.0 / 3600.0
        azimuth_rate = dt / da_length / 365.0 / 24.0 / 3600.0
        with np.errstate(divide='ignore', invalid='ignore'):
            x1 = nz / range_rate * b_term / determinant
            x2 = -nz / azimuth_rate * d_term / determinant
            y1 = -nz / range_rate * c_term / determinant
            y2 = nz / azimuth_rate * a_term / determinant
        x3 = np.full(n, dr / dt * 365.0 * 24.0 * 3600.0 * 1)
        y3 = da_length / dt * 365.0 * 24.0 * 3600.0 * 1
        off2vel_x = np.full((3, n), nodata_out)
        off2vel_y = np.full((3, n), nodata_out)
        off2vel_x[0, well_posed] = x1[well_posed]
        off2vel_x[1, well_posed] = x2[well_posed]
        off2vel_y[0, well_posed] = y1[well_posed]
        off2vel_y[1, well_posed] = y2[well_posed]
        off2vel_x[2] = x3
        off2vel_y[2] = y3
        scale = np.stack((range_length / dr, azimuth_length / da_length))

        def slope_parallel_z(vx: FloatArray, vy: FloatArray) -> FloatArray:
            with np.errstate(divide='ignore', invalid='ignore'):
                return -(vx * normal[:, 0] + vy * normal[:, 1]) / normal[:, 2]

        if 'vx' in present:
            velocity = np.stack((values['vx'], values['vy'], slope_parallel_z(values['vx'], values['vy'])), axis=-1)
            with np.errstate(invalid='ignore', divide='ignore'):
                range_offset = dot(velocity, los) * dt / range_length / 365.0 / 24.0 / 3600.0 * 1
                azimuth_offset = dot(velocity, along) * dt / azimuth_length / 365.0 / 24.0 / 3600.0 * 1
            velocity_missing = _equals_nodata(values['vx'], context.vx_nodata)
            offsets = np.full((2, n), nodata_out)
            offsets[0] = np.where(velocity_missing, 0.0, std_round(range_offset))
            offsets[1] = np.where(velocity_missing, 0.0, std_round(azimuth_offset))
            outputs[OFFSET] = to_int32(offsets)
            if include_diagnostics:
                outputs[OFFSET_RANGE_UNROUNDED] = range_offset
                outputs[OFFSET_AZIMUTH_UNROUNDED] = azimuth_offset

        if 'srx' in present:
            factor = search_range_scale(dt, settings)
            lower, upper = settings.srs_min_search_m_per_yr, settings.srs_max_search_m_per_yr
            search_x = np.minimum(np.maximum(values['srx'] * factor, lower), upper)
            search_y = np.minimum(np.maximum(values['sry'] * factor, lower), upper)
            first = np.stack((search_x, search_y, slope_parallel_z(search_x, search_y)), axis=-1)
            second = np.stack((-search_x, search_y, slope_parallel_z(-search_x, search_y)), axis=-1)
            with np.errstate(invalid='ignore', divide='ignore'):
                range_1 = np.abs(std_round(dot(first, los) * dt / dr / 365.0 / 24.0 / 3600.0 * 1))
                range_2 = np.abs(std_round(dot(second, los) * dt / dr / 365.0 / 24.0 / 3600.0 * 1))
                azimuth_1 = np.abs(std_round(dot(first, along) * dt / azimuth_length / 365.0 / 24.0 / 3600.0 * 1))
                azimuth_2 = np.abs(std_round(dot(second, along) * dt / azimuth_length / 365.0 / 24.0 / 3600.0 * 1))
                search_range_range = np.where(range_2 > range_1, range_2, range_1)
                search_range_azimuth = np.where(azimuth_2 > azimuth_1, azimuth_2, azimuth_1)
            search_range_range = np.where(search_range_range == 0, 1.0, search_range_range)
            search_range_azimuth = np.where(search_range_azimuth == 0, 1.0, search_range_azimuth)
            masked = _equals_nodata(search_x, context.vx_nodata) | (search_x == 0)
            search = np.full((2, n), nodata_out)
            search[0] = np.where(masked, 0.0, search_range_range)
            search[1] = np.where(masked, 0.0, search_range_azimuth)
            outputs[SEARCH_RANGE] = to_int32(search)

        outputs[OFF2VEL_X] = off2vel_x
        outputs[OFF2VEL_Y] = off2vel_y
        outputs[SCALE_FACTOR] = scale

    chip_size_x0 = settings.chip_size_x0_m
    for name, prefix in ((CHIP_SIZE_MIN, 'csmin'), (CHIP_SIZE_MAX, 'csmax')):
        if f'{prefix}x' not in present:
            continue
        chip_x = values[f'{prefix}x']
        chip_y = values[f'{prefix}y']
        missing = _equals_nodata(chip_x, context.vx_nodata)
        with np.errstate(invalid='ignore'):
            chips = np.stack(
                (
                    to_int32(chip_x / chip_size_x0 * context.chip_pixels_range),
                    to_int32(chip_y / chip_size_x0 * context.chip_pixels_azimuth),
                )
            )
        chips[:, missing] = settings.nodata_out
        outputs[name] = chips
    if 'ssm' in present:
        mask = to_int32(values['ssm'])[None, :].copy()
        mask[:, _equals_nodata(values['ssm'], context.vx_nodata)] = settings.nodata_out
        outputs[STABLE_SURFACE_MASK] = mask
    return outputs


def _vector(values: npt.ArrayLike) -> FloatArray:
    """A writeable C-contiguous float64 vector: the one array type the compiled kernels are compiled (and cached) for.

    (numba compiles read-only arrays, e.g. broadcast views, as another type.)
    """
    return np.require(values, dtype=np.float64, requirements=['C', 'W']).reshape(-1)


def _compute_nodes_compiled(
    context: NodeContext,
    x: FloatArray,
    y: FloatArray,
    values: dict[str, FloatArray],
    include_diagnostics: bool,
) -> dict[str, npt.NDArray[np.generic]]:
    """compute_nodes with the fused numba kernels: the same operations node by node, so the same bits.

    Two kernels do everything but the map projections, which stay with pyproj (between them): no temporaries
    per formula, and the GIL is released for the whole block, so worker threads use every core.
    """
    x = _vector(x)
    y = _vector(y)
    height = _vector(values['dem'])
    lat_deg, lon_deg = context.projection.to_geographic(x, y)
    location, inside_nodes, steps = _radar_kernel(context, _vector(lat_deg), _vector(lon_deg), height)
    range_x, range_y = context.projection.to_map(steps[0], steps[1])
    along_x, along_y = context.projection.to_map(steps[3], steps[4])
    map_steps = (_vector(range_x), _vector(range_y), steps[2], _vector(along_x), _vector(along_y), steps[5])
    outputs = _outputs_kernel(context, x, y, height, values, inside_nodes, map_steps, include_diagnostics)
    outputs[LOCATION] = location
    if include_diagnostics:
        outputs[NEWTON_ITERATIONS_USED] = np.full(x.size, context.newton_max_iterations)
    return outputs


def _radar_kernel(
    context: NodeContext, lat_deg: FloatArray, lon_deg: FloatArray, height: FloatArray
) -> tuple[IntArray, npt.NDArray[np.int64], FloatArray]:
    """Sections 2.3-2.7 with kernels.geogrid_radar_kernel: (location, inside nodes, their steps).

    The steps, shape (6, inside count), are the latitude, longitude (degrees) and height of the point one
    slant-range pixel farther, then the latitude, longitude and distance of the point one azimuth line later.

    Raises:
        OrbitError: a node's zero-Doppler time (or that time + 1/prf) falls outside the orbit.
    """
    orbit = context.orbit
    orbit.check_within_span(np.float64(context.initial_time_s))
    n = height.size
    line_time = 1 / context.prf_hz
    location = np.full((2, n), context.settings.nodata_out, dtype=np.int32)
    times = np.empty(n)
    status = np.empty(n, dtype=np.int8)
    inside_nodes = np.empty(n, dtype=np.int64)
    steps = np.empty((6, n))
    count = kernels.compiled().geogrid_radar(
        *(orbit.times_s, orbit.positions_m, orbit.velocities_m_s),
        *(lat_deg, lon_deg, height),
        float(context.initial_time_s),
        int(context.newton_max_iterations),
        int(GEOGRID_TOPO_ITERATIONS),
        bool(context.stop_at_fixed_point),
        float(context.starting_range_m),
        float(context.range_pixel_size_m),
        float(context.sensing_start_s),
        float(context.prf_hz),
        float(line_time),
        float(context.number_of_lines - 1),  # last line
        float(context.number_of_samples - 1),  # last sample
        int(context.look_side),
        *(location, times, status, inside_nodes),
        *steps,
    )
    if np.any(status & kernels.OUTSIDE_ORBIT):
        # geo2rdr raises the OrbitError that names the time outside the orbit
        targets = np.stack(llh_to_ecef(DEG2RAD * lat_deg, DEG2RAD * lon_deg, height), axis=-1)
        geo2rdr(orbit, targets, context.initial_time_s, context.newton_max_iterations, compiled=True)
    if np.any(status & kernels.STEP_OUTSIDE_ORBIT):
        orbit.check_within_span(times + line_time)
    return location, inside_nodes[:count], np.ascontiguousarray(steps[:, :count])


def _outputs_kernel(
    context: NodeContext,
    x: FloatArray,
    y: FloatArray,
    height: FloatArray,
    values: dict[str, FloatArray],
    inside_nodes: npt.NDArray[np.int64],
    map_steps: tuple[FloatArray, ...],
    include_diagnostics: bool,
) -> dict[str, npt.NDArray[np.generic]]:
    """Sections 2.6-2.11 with kernels.geogrid_outputs_kernel: every output autoRIFT writes but the location.

    `map_steps` are _radar_kernel's steps with the points projected to map x, y. Outputs autoRIFT does not write
    for the given rasters are passed to the kernel with no columns, which tells it to skip them.
    """
    settings = context.settings
    nodata_out = float(settings.nodata_out)
    n = x.size
    wanted = set(outputs_for(context.present))

    def output(name: str) -> npt.NDArray[np.generic]:
        bands, dtype = OUTPUT_LAYOUT[name]
        return np.full((bands, n if name in wanted else 0), nodata_out, dtype=dtype)

    outputs = {name: output(name) for name in OUTPUT_LAYOUT if name != LOCATION}
    unrounded = np.full((2, n if include_diagnostics and OFFSET in wanted else 0), np.nan)
    no_values = np.empty(0)
    kernels.compiled().geogrid_outputs(
        *(x, y, height, inside_nodes),
        *map_steps,
        *(_vector(values[name]) if name in values else no_values for name in RASTERS_BESIDES_DEM),
        float(context.dt_seconds),
        float(context.range_pixel_size_m),
        nodata_out,
        float(context.vx_nodata or 0.0),
        context.vx_nodata is not None,
        float(search_range_scale(context.dt_seconds, settings)),
        float(settings.srs_min_search_m_per_yr),
        float(settings.srs_max_search_m_per_yr),
        float(settings.chip_size_x0_m),
        float(context.chip_pixels_range),
        float(context.chip_pixels_azimuth),
        *(outputs[name] for name in KERNEL_OUTPUTS),
        unrounded,
    )
    result: dict[str, npt.NDArray[np.generic]] = {name: array for name, array in outputs.items() if name in wanted}
    if unrounded.size:
        result[OFFSET_RANGE_UNROUNDED] = unrounded[0]
        result[OFFSET_AZIMUTH_UNROUNDED] = unrounded[1]
    return result


def chip_size_pixels(chip_size_x0_m: float, ground_range_pixel_m: float, azimuth_pixel_m: float) -> tuple[int, int]:
    """ChipSizeX0 in range and azimuth pixels, rounded up to a multiple of 4 (geogrid.cpp)."""
    return (
        int(math.ceil(chip_size_x0_m / ground_range_pixel_m / 4) * 4),
        int(math.ceil(chip_size_x0_m / azimuth_pixel_m / 4) * 4),
    )
