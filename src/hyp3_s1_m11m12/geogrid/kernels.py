"""Compiled (numba) versions of Geogrid's per-node loops: zero-Doppler geo2rdr, the along-track topo step, and the
fused per-node pipeline of the Geogrid stage (geogrid/nodes.py).

They perform, node by node, exactly the floating-point operations of the numpy implementations in orbit.py,
zero_doppler.py and geogrid/nodes.py (which follow ISCE2's orbitHermite.c, latlon.F and geogrid.cpp), so their
results are bit-identical to them; the tests check that. numba is optional: without it, `AVAILABLE` is False and
callers use the numpy versions. The kernels release the GIL, so a thread pool runs them on every core. numba is
imported (and the kernels compiled, or loaded from numba's cache) on first use only.

Every compiled function lives in this one file on purpose: numba's cache of a function is invalidated only when its
own source file changes, so a kernel calling a compiled helper of another file could keep stale machine code.
"""

import functools
import importlib.util
import math
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12.constants import WGS84_ECCENTRICITY_SQUARED, WGS84_SEMI_MAJOR_AXIS_M


FloatArray = npt.NDArray[np.float64]

AVAILABLE = importlib.util.find_spec('numba') is not None

OK = 0
OUTSIDE_ORBIT = 1  # the Newton iteration (or the topo step's time) left the orbit span
STEP_OUTSIDE_ORBIT = 2  # geogrid_radar_kernel: the along-track step's time t + 1/prf is outside the orbit span
CYCLE_HISTORY = 16  # longest period of the converged Newton iteration detected (periods up to ~10 occur)

SEMI_MAJOR = WGS84_SEMI_MAJOR_AXIS_M
E2 = WGS84_ECCENTRICITY_SQUARED
SEMI_MINOR = SEMI_MAJOR * math.sqrt(1.0 - E2)
DEG2RAD = math.pi / 180.0
INT32_MIN = -2147483648
DEGENERACY_LIMIT_DEG = 1.0  # geogrid.cpp writes the matrix only where the normal is > 1 degree off the plane


def hermite_tables(node_t):
    """Node-only terms of orbitHermite.c for every run of four vectors: t_i - t_k, 1/(t_i - t_k), their sums.

    They are computed exactly as orbitHermite.c computes them on each call, so tabulating them changes no bit.
    """
    runs = node_t.shape[0] - 3
    gaps = np.zeros((runs, 4, 4))
    inverse_gaps = np.zeros((runs, 4, 4))
    inverse_gap_sums = np.zeros((runs, 4))
    for start in range(runs):
        for i in range(4):
            total = 0.0
            for j in range(4):
                if i != j:
                    gaps[start, i, j] = node_t[start + i] - node_t[start + j]
                    inverse_gaps[start, i, j] = 1.0 / gaps[start, i, j]
                    total += inverse_gaps[start, i, j]
            inverse_gap_sums[start, i] = total
    return gaps, inverse_gaps, inverse_gap_sums


def interpolator(node_t, node_x, node_v):
    """What _hermite needs: the state vectors, their tables and a (7, 4) work array (no allocation per call)."""
    gaps, inverse_gaps, inverse_gap_sums = hermite_tables(node_t)
    return node_t, node_x, node_v, gaps, inverse_gaps, inverse_gap_sums, np.empty((7, 4))


def _hermite(orbit, time, position, velocity):
    """orbitHermite.c at one time, with interpolateWGS84Orbit's choice of the four vectors; returns 1 outside.

    `orbit` comes from `interpolator`.
    """
    node_t, node_x, node_v, gaps, inverse_gaps, inverse_gap_sums, scratch = orbit
    count = node_t.shape[0]
    first = np.searchsorted(node_t, time) - 2  # first index with t_i >= time, minus 2
    first = max(first, 0)
    first = min(first, count - 4)
    offset = scratch[0]
    basis = scratch[1]
    basis_rate = scratch[2]
    ratio = scratch[3:7]  # (time - t_k) / (t_i - t_k), which orbitHermite.c recomputes (identically) in each product
    for i in range(4):
        offset[i] = time - node_t[first + i]
    for i in range(4):
        for k in range(4):
            if k != i:
                ratio[i, k] = offset[k] / gaps[first, i, k]
    for i in range(4):
        product = 1.0
        for k in range(4):
            if k != i:
                product *= ratio[i, k]
        basis[i] = product
        total = 0.0
        for j in range(4):
            if j == i:
                continue
            product = 1.0
            for k in range(4):
                if k != i and k != j:
                    product *= ratio[i, k]
            total += inverse_gaps[first, i, j] * product
        basis_rate[i] = total
    for axis in range(3):
        position[axis] = 0.0
        velocity[axis] = 0.0
    for i in range(4):
        f0 = 1.0 - 2.0 * offset[i] * inverse_gap_sums[first, i]
        g1 = basis[i] + 2.0 * offset[i] * basis_rate[i]
        g0 = 2.0 * (f0 * basis_rate[i] - basis[i] * inverse_gap_sums[first, i])
        for axis in range(3):
            x = node_x[first + i, axis]
            v = node_v[first + i, axis]
            position[axis] += (x * f0 + v * offset[i]) * basis[i] * basis[i]
            velocity[axis] += (x * g0 + v * g1) * basis[i]
    if time < node_t[0] or time > node_t[count - 1]:  # False for NaN, as in ISCE2
        return OUTSIDE_ORBIT
    return OK


def geo2rdr_workspace():
    """Work arrays of _geo2rdr_node: position, velocity, and the history of the times t_j and of the look vectors
    and ranges computed from them, at j % CYCLE_HISTORY."""
    return np.empty(3), np.empty(3), np.empty(CYCLE_HISTORY), np.empty((CYCLE_HISTORY, 3)), np.empty(CYCLE_HISTORY)


def _geo2rdr_node(orbit, initial_time, start_position, start_velocity, target, max_iterations, stop, work, look):
    """zero_doppler.geo2rdr for one target (x, y, z): returns (time, range, left the orbit) and fills `look`.

    The iteration's state is the time alone (position and velocity are functions of it), so once a time repeats
    one seen p steps earlier the sequence is periodic with period p. Near convergence rounding makes most targets
    settle on a fixed point (p = 1) but some on cycles of up to ~10 neighbouring doubles; with `stop` (stop at the
    fixed point) it detects any period up to CYCLE_HISTORY and reads the state the full count of steps would end in
    from its history, which is bit-identical to running them.
    """
    position, velocity, history_time, history_look, history_range = work
    target_x, target_y, target_z = target
    for axis in range(3):
        position[axis] = start_position[axis]
        velocity[axis] = start_velocity[axis]
    left_orbit = False
    time = initial_time
    final_time = time
    final_range = 0.0
    for iteration in range(1, max_iterations + 1):
        look[0] = target_x - position[0]
        look[1] = target_y - position[1]
        look[2] = target_z - position[2]
        slant_range = math.sqrt(look[0] * look[0] + look[1] * look[1] + look[2] * look[2])
        doppler = look[0] * velocity[0] + look[1] * velocity[1] + look[2] * velocity[2]
        speed_squared = velocity[0] * velocity[0] + velocity[1] * velocity[1] + velocity[2] * velocity[2]
        updated = time - doppler / -speed_squared
        final_time = updated
        final_range = slant_range
        if stop and iteration < max_iterations:
            slot = (iteration - 1) % CYCLE_HISTORY
            history_time[slot] = time
            history_range[slot] = slant_range
            for axis in range(3):
                history_look[slot, axis] = look[axis]
            period = 0
            for candidate in range(1, min(CYCLE_HISTORY, iteration) + 1):
                if history_time[(iteration - candidate) % CYCLE_HISTORY] == updated:
                    period = candidate
                    break
            if period > 0:
                cycle_start = iteration - period  # t_iteration == t_cycle_start
                time_index = cycle_start + (max_iterations - cycle_start) % period
                look_index = cycle_start + (max_iterations - 1 - cycle_start) % period
                final_time = history_time[time_index % CYCLE_HISTORY]
                final_range = history_range[look_index % CYCLE_HISTORY]
                for axis in range(3):
                    look[axis] = history_look[look_index % CYCLE_HISTORY, axis]
                break
        time = updated
        if _hermite(orbit, time, position, velocity) != OK:
            left_orbit = True
    return final_time, final_range, left_orbit


def geo2rdr_kernel(
    node_t, node_x, node_v, targets, initial_time, max_iterations, stop_at_fixed_point, times, ranges, looks, status
):
    """zero_doppler.geo2rdr for each target; fills times, ranges, looks, status."""
    orbit = interpolator(node_t, node_x, node_v)
    start_position = np.empty(3)
    start_velocity = np.empty(3)
    start_status = _hermite(orbit, initial_time, start_position, start_velocity)
    work = geo2rdr_workspace()
    look = np.empty(3)
    for n in range(targets.shape[0]):
        target = (targets[n, 0], targets[n, 1], targets[n, 2])
        time, slant_range, left_orbit = _geo2rdr_node(
            orbit, initial_time, start_position, start_velocity, target, max_iterations, stop_at_fixed_point, work, look
        )
        status[n] = OUTSIDE_ORBIT if left_orbit else start_status
        times[n] = time
        ranges[n] = slant_range
        for axis in range(3):
            looks[n, axis] = look[axis]


def _ecef_to_llh(x, y, z):
    e4 = E2 * E2
    xy_squared = x * x + y * y
    a_squared = SEMI_MAJOR * SEMI_MAJOR
    p = xy_squared / a_squared
    q = (1.0 - E2) * (z * z) / a_squared
    r = (p + q - e4) / 6.0
    s = (e4 * p * q) / (4.0 * (r * r * r))
    t = (1.0 + s + math.sqrt(s * (2.0 + s))) ** (1.0 / 3.0)
    u = r * (1.0 + t + 1.0 / t)
    rv = math.sqrt(u * u + e4 * q)
    w = E2 * (u + rv - q) / (2.0 * rv)
    k = math.sqrt(u + rv + w * w) - w
    d = k * math.sqrt(xy_squared) / (k + E2)
    return math.atan2(z, d), math.atan2(y, x), (k + E2 - 1.0) * math.sqrt(d * d + z * z) / k


def _llh_to_ecef(lat, lon, height):
    sin_lat = math.sin(lat)
    cos_lat = math.cos(lat)
    radius = SEMI_MAJOR / math.sqrt(1.0 - E2 * (sin_lat * sin_lat))
    return (
        (radius + height) * cos_lat * math.cos(lon),
        (radius + height) * cos_lat * math.sin(lon),
        (radius * (1.0 - E2) + height) * sin_lat,
    )


def _topo_node(orbit, time, rng, height, look_side, max_iterations, stop_at_fixed_point, position, velocity):
    """zero_doppler.rdr2geo_tcn for one node, with the satellite state at `time` (geogrid.cpp's step 2.7).

    Returns the target (x, y, z) at `height`, its latitude and longitude (radians), and the interpolation status.
    """
    status = _hermite(orbit, time, position, velocity)
    px, py, pz = position[0], position[1], position[2]
    vx, vy, vz = velocity[0], velocity[1], velocity[2]
    distance = math.sqrt(px * px + py * py + pz * pz)
    sx = px / SEMI_MAJOR
    sy = py / SEMI_MAJOR
    sz = pz / SEMI_MINOR
    radius = (1.0 / math.sqrt(sx * sx + sy * sy + sz * sz)) * distance
    nx = -(px / distance)
    ny = -(py / distance)
    nz = -(pz / distance)
    cx = ny * vz - nz * vy
    cy = nz * vx - nx * vz
    cz = nx * vy - ny * vx
    size = math.sqrt(cx * cx + cy * cy + cz * cz)
    cx, cy, cz = cx / size, cy / size, cz / size
    ax = cy * nz - cz * ny
    ay = cz * nx - cx * nz
    az = cx * ny - cy * nx
    size = math.sqrt(ax * ax + ay * ay + az * az)
    ax, ay, az = ax / size, ay / size, az / size
    speed = math.sqrt(vx * vx + vy * vy + vz * vz)
    dx, dy, dz = vx / speed, vy / speed, vz / speed
    nadir_dot_velocity = nx * dx + ny * dy + nz * dz
    velocity_dot_along = dx * ax + dy * ay + dz * az
    target_height = height
    tx = ty = tz = 0.0
    point_lat = point_lon = 0.0
    for _ in range(max_iterations):
        b = radius + target_height
        cos_theta = 0.5 * (distance / rng + rng / distance - (b / distance) * (b / rng))
        sin_theta = math.sqrt(1 - cos_theta * cos_theta)
        gamma = rng * cos_theta
        alpha = 0.0 - gamma * nadir_dot_velocity / velocity_dot_along
        beta = -look_side * math.sqrt(rng * rng * sin_theta * sin_theta - alpha * alpha)
        qx = px + (alpha * ax + beta * cx + gamma * nx)
        qy = py + (alpha * ay + beta * cy + gamma * ny)
        qz = pz + (alpha * az + beta * cz + gamma * nz)
        point_lat, point_lon, _unconstrained = _ecef_to_llh(qx, qy, qz)
        tx, ty, tz = _llh_to_ecef(point_lat, point_lon, height)
        new_height = math.sqrt(tx * tx + ty * ty + tz * tz) - radius
        settled = new_height == target_height
        target_height = new_height
        if stop_at_fixed_point and settled:
            break
    return tx, ty, tz, point_lat, point_lon, status


def topo_kernel(
    node_t,
    node_x,
    node_v,
    times,
    ranges,
    heights,
    look_side,
    max_iterations,
    stop_at_fixed_point,
    targets,
    lat,
    lon,
    status,
):
    """zero_doppler.rdr2geo_tcn with the satellite state interpolated at each node's time (geogrid.cpp's step 2.7)."""
    orbit = interpolator(node_t, node_x, node_v)
    position = np.empty(3)
    velocity = np.empty(3)
    for n in range(times.shape[0]):
        tx, ty, tz, lat[n], lon[n], status[n] = _topo_node(
            orbit, times[n], ranges[n], heights[n], look_side, max_iterations, stop_at_fixed_point, position, velocity
        )
        targets[n, 0] = tx
        targets[n, 1] = ty
        targets[n, 2] = tz


def _std_round(value):
    """C++ std::round: halves away from zero (as nodes.std_round)."""
    whole = np.trunc(value)
    fraction = value - whole
    return whole + (np.sign(value) if abs(fraction) >= 0.5 else 0.0)


def _to_int32(value):
    """A C double -> int conversion on x86 (as nodes.to_int32): truncation, INT_MIN for NaN and overflow."""
    if -2147483649.0 < value < 2147483648.0:
        return np.int32(value)
    return np.int32(INT32_MIN)


def geogrid_radar_kernel(
    node_t,
    node_x,
    node_v,
    lat_deg,
    lon_deg,
    heights,
    initial_time,
    max_iterations,
    topo_max_iterations,
    stop_at_fixed_point,
    starting_range,
    range_pixel_size,
    sensing_start,
    prf,
    line_time,
    last_line,
    last_sample,
    look_side,
    location,
    times,
    status,
    inside_nodes,
    range_step_lat_deg,
    range_step_lon_deg,
    range_step_height,
    along_step_lat_deg,
    along_step_lon_deg,
    along_step_length,
):
    """The radar part of nodes.compute_nodes (spec sections 2.3-2.7) for every node; returns the count inside.

    For each node (geodetic lat/lon in degrees, DEM height): the ECEF target, the zero-Doppler time and range, the
    pixel location (`location`, nodata_out pre-filled by the caller where the node falls outside the image), and
    for the nodes inside the image, in order in `inside_nodes[:count]` and the step arrays: the point one
    slant-range pixel farther (geodetic, degrees) and the along-track topo point at t + line_time (geodetic,
    degrees) with its distance from the target. `status` flags OUTSIDE_ORBIT and STEP_OUTSIDE_ORBIT.
    """
    orbit = interpolator(node_t, node_x, node_v)
    start_position = np.empty(3)
    start_velocity = np.empty(3)
    _hermite(orbit, initial_time, start_position, start_velocity)  # the caller checked the time is in the span
    work = geo2rdr_workspace()
    look = np.empty(3)
    position = np.empty(3)
    velocity = np.empty(3)
    first_time = node_t[0]
    last_time = node_t[node_t.shape[0] - 1]
    count = 0
    for n in range(heights.shape[0]):
        height = heights[n]
        target = _llh_to_ecef(DEG2RAD * lat_deg[n], DEG2RAD * lon_deg[n], height)
        time, slant_range, left_orbit = _geo2rdr_node(
            orbit, initial_time, start_position, start_velocity, target, max_iterations, stop_at_fixed_point, work, look
        )
        times[n] = time
        step_time = time + line_time
        # geogrid.cpp takes the along-track step for every node, so a time outside the orbit stops it everywhere
        status[n] = (OUTSIDE_ORBIT if left_orbit else OK) | (
            STEP_OUTSIDE_ORBIT if step_time < first_time or step_time > last_time else OK
        )
        range_index = _std_round((slant_range - starting_range) / range_pixel_size)
        azimuth_index = _std_round((time - sensing_start) * prf)
        if not (0 <= range_index <= last_sample and 0 <= azimuth_index <= last_line):
            continue
        location[0, n] = _to_int32(range_index)
        location[1, n] = _to_int32(azimuth_index)
        inside_nodes[count] = n
        # 2.6: one slant-range pixel farther along the unit look vector
        look_length = math.sqrt(look[0] * look[0] + look[1] * look[1] + look[2] * look[2])
        lat, lon, range_step_height[count] = _ecef_to_llh(
            target[0] + look[0] / look_length * range_pixel_size,
            target[1] + look[1] / look_length * range_pixel_size,
            target[2] + look[2] / look_length * range_pixel_size,
        )
        range_step_lat_deg[count] = lat / DEG2RAD
        range_step_lon_deg[count] = lon / DEG2RAD
        # 2.7: one azimuth line later, at the same range and height
        ax, ay, az, lat, lon, _ = _topo_node(
            orbit,
            step_time,
            slant_range,
            height,
            look_side,
            topo_max_iterations,
            stop_at_fixed_point,
            position,
            velocity,
        )
        along_step_lat_deg[count] = lat / DEG2RAD
        along_step_lon_deg[count] = lon / DEG2RAD
        dx = ax - target[0]
        dy = ay - target[1]
        dz = az - target[2]
        along_step_length[count] = math.sqrt(dx * dx + dy * dy + dz * dz)
        count += 1
    return count


def _slope_parallel_z(east, north, normal_x, normal_y, normal_z):
    """The vertical component that makes (east, north, z) parallel to the surface (nodes.slope_parallel_z)."""
    return -(east * normal_x + north * normal_y) / normal_z


def _clip(value, lower, upper):
    """np.minimum(np.maximum(value, lower), upper) for finite bounds: NaN stays NaN, as in numpy."""
    if math.isnan(value):
        return value
    return min(max(value, lower), upper)


def geogrid_outputs_kernel(
    x,
    y,
    heights,
    inside_nodes,
    range_step_x,
    range_step_y,
    range_step_height,
    along_step_x,
    along_step_y,
    along_step_length,
    dhdx,
    dhdy,
    vx,
    vy,
    srx,
    sry,
    csminx,
    csminy,
    csmaxx,
    csmaxy,
    ssm,
    dt,
    range_pixel_size,
    nodata_out,
    vx_nodata,
    has_vx_nodata,
    search_factor,
    search_min,
    search_max,
    chip_size_x0,
    chip_pixels_range,
    chip_pixels_azimuth,
    offset,
    search_range,
    chip_size_min,
    chip_size_max,
    stable_surface_mask,
    off2vel_x,
    off2vel_y,
    scale_factor,
    offset_unrounded,
):
    """Every output but the location, for the nodes inside the image (nodes._inside_outputs, sections 2.6-2.10).

    The step arrays are those of geogrid_radar_kernel with the points projected to map (x, y). An output array
    with no columns is not wanted (its rasters are absent) and its rasters may then be empty too; the caller
    pre-fills the outputs with nodata_out (NaN for `offset_unrounded`) where nodes are outside the image.
    """
    dr = range_pixel_size
    range_rate = dt / dr / 365.0 / 24.0 / 3600.0
    nodata_int = _to_int32(nodata_out)
    for j in range(inside_nodes.shape[0]):
        n = inside_nodes[j]
        height = heights[n]
        # 2.6: map-space vector of one slant-range pixel, and its direction (los)
        rx = range_step_x[j] - x[n]
        ry = range_step_y[j] - y[n]
        rz = range_step_height[j] - height
        range_length = math.sqrt(rx * rx + ry * ry + rz * rz)
        los_x, los_y, los_z = rx / range_length, ry / range_length, rz / range_length
        # 2.7: map-space vector of one azimuth line, and its direction (`temp` in geogrid.cpp)
        ax = along_step_x[j] - x[n]
        ay = along_step_y[j] - y[n]
        az = height - height
        azimuth_length = math.sqrt(ax * ax + ay * ay + az * az)
        along_x, along_y, along_z = ax / azimuth_length, ay / azimuth_length, az / azimuth_length
        da_length = along_step_length[j]

        if off2vel_x.shape[1] > 0:
            # 2.8: the surface normal from the slopes, the degeneracy test, and the conversion matrices
            slope_length = math.sqrt(dhdx[n] * dhdx[n] + dhdy[n] * dhdy[n] + -1.0 * -1.0)
            normal_x = -(dhdx[n] / slope_length)
            normal_y = -(dhdy[n] / slope_length)
            normal_z = -(-1.0 / slope_length)
            cx = los_y * along_z - los_z * along_y
            cy = los_z * along_x - los_x * along_z
            cz = los_x * along_y - los_y * along_x
            cross_length = math.sqrt(cx * cx + cy * cy + cz * cz)
            cosine = normal_x * (cx / cross_length) + normal_y * (cy / cross_length) + normal_z * (cz / cross_length)
            well_posed = abs(math.acos(cosine) / DEG2RAD - 90.0) > DEGENERACY_LIMIT_DEG
            a_term = normal_z * los_x - normal_x * los_z
            d_term = normal_z * los_y - normal_y * los_z
            c_term = normal_z * along_x - normal_x * along_z
            b_term = normal_z * along_y - normal_y * along_z
            determinant = a_term * b_term - c_term * d_term
            azimuth_rate = dt / da_length / 365.0 / 24.0 / 3600.0
            if well_posed:
                off2vel_x[0, n] = normal_z / range_rate * b_term / determinant
                off2vel_x[1, n] = -normal_z / azimuth_rate * d_term / determinant
                off2vel_y[0, n] = -normal_z / range_rate * c_term / determinant
                off2vel_y[1, n] = normal_z / azimuth_rate * a_term / determinant
            else:
                off2vel_x[0, n] = nodata_out
                off2vel_x[1, n] = nodata_out
                off2vel_y[0, n] = nodata_out
                off2vel_y[1, n] = nodata_out
            off2vel_x[2, n] = dr / dt * 365.0 * 24.0 * 3600.0
            off2vel_y[2, n] = da_length / dt * 365.0 * 24.0 * 3600.0
            scale_factor[0, n] = range_length / dr
            scale_factor[1, n] = azimuth_length / da_length

            if offset.shape[1] > 0:
                # 2.9: the reference velocity's offsets, zero where vx is nodata
                vz = _slope_parallel_z(vx[n], vy[n], normal_x, normal_y, normal_z)
                range_offset = (vx[n] * los_x + vy[n] * los_y + vz * los_z) * dt / range_length / 365.0 / 24.0 / 3600.0
                azimuth_offset = (
                    (vx[n] * along_x + vy[n] * along_y + vz * along_z) * dt / azimuth_length / 365.0 / 24.0 / 3600.0
                )
                if has_vx_nodata and vx[n] == vx_nodata:
                    offset[0, n] = 0
                    offset[1, n] = 0
                else:
                    offset[0, n] = _to_int32(_std_round(range_offset))
                    offset[1, n] = _to_int32(_std_round(azimuth_offset))
                if offset_unrounded.shape[1] > 0:
                    offset_unrounded[0, n] = range_offset
                    offset_unrounded[1, n] = azimuth_offset

            if search_range.shape[1] > 0:
                # 2.10: the larger of the two corners' offsets (search_x = +-srx), at least 1; 0 where masked
                search_x = _clip(srx[n] * search_factor, search_min, search_max)
                search_y = _clip(sry[n] * search_factor, search_min, search_max)
                z1 = _slope_parallel_z(search_x, search_y, normal_x, normal_y, normal_z)
                z2 = _slope_parallel_z(-search_x, search_y, normal_x, normal_y, normal_z)
                range_1 = abs(
                    _std_round((search_x * los_x + search_y * los_y + z1 * los_z) * dt / dr / 365.0 / 24.0 / 3600.0)
                )
                range_2 = abs(
                    _std_round((-search_x * los_x + search_y * los_y + z2 * los_z) * dt / dr / 365.0 / 24.0 / 3600.0)
                )
                azimuth_1 = abs(
                    _std_round(
                        (search_x * along_x + search_y * along_y + z1 * along_z)
                        * dt
                        / azimuth_length
                        / 365.0
                        / 24.0
                        / 3600.0
                    )
                )
                azimuth_2 = abs(
                    _std_round(
                        (-search_x * along_x + search_y * along_y + z2 * along_z)
                        * dt
                        / azimuth_length
                        / 365.0
                        / 24.0
                        / 3600.0
                    )
                )
                search_range_range = max(range_1, range_2)
                search_range_azimuth = max(azimuth_1, azimuth_2)
                if search_range_range == 0:
                    search_range_range = 1.0
                if search_range_azimuth == 0:
                    search_range_azimuth = 1.0
                if (has_vx_nodata and search_x == vx_nodata) or search_x == 0:
                    search_range[0, n] = 0
                    search_range[1, n] = 0
                else:
                    search_range[0, n] = _to_int32(search_range_range)
                    search_range[1, n] = _to_int32(search_range_azimuth)

        # 2.11: chip sizes in pixels and the stable-surface mask; nodata where the raster is vx's nodata
        if chip_size_min.shape[1] > 0:
            if has_vx_nodata and csminx[n] == vx_nodata:
                chip_size_min[0, n] = nodata_int
                chip_size_min[1, n] = nodata_int
            else:
                chip_size_min[0, n] = _to_int32(csminx[n] / chip_size_x0 * chip_pixels_range)
                chip_size_min[1, n] = _to_int32(csminy[n] / chip_size_x0 * chip_pixels_azimuth)
        if chip_size_max.shape[1] > 0:
            if has_vx_nodata and csmaxx[n] == vx_nodata:
                chip_size_max[0, n] = nodata_int
                chip_size_max[1, n] = nodata_int
            else:
                chip_size_max[0, n] = _to_int32(csmaxx[n] / chip_size_x0 * chip_pixels_range)
                chip_size_max[1, n] = _to_int32(csmaxy[n] / chip_size_x0 * chip_pixels_azimuth)
        if stable_surface_mask.shape[1] > 0:
            is_nodata = has_vx_nodata and ssm[n] == vx_nodata
            stable_surface_mask[0, n] = nodata_int if is_nodata else _to_int32(ssm[n])


_compile_lock = threading.Lock()


@functools.cache
def _compile() -> Any:
    import numba

    def jit(function: Any) -> Any:
        return numba.njit(cache=True, nogil=True, fastmath=False, error_model='numpy')(function)

    # Module-level names are resolved at compile time, so the helpers are compiled and bound here first.
    global hermite_tables, interpolator, _hermite, geo2rdr_workspace, _geo2rdr_node, _ecef_to_llh, _llh_to_ecef
    global _topo_node, _std_round, _to_int32, _slope_parallel_z, _clip
    hermite_tables = jit(hermite_tables)
    interpolator = jit(interpolator)
    _hermite = jit(_hermite)
    geo2rdr_workspace = jit(geo2rdr_workspace)
    _geo2rdr_node = jit(_geo2rdr_node)
    _ecef_to_llh = jit(_ecef_to_llh)
    _llh_to_ecef = jit(_llh_to_ecef)
    _topo_node = jit(_topo_node)
    _std_round = jit(_std_round)
    _to_int32 = jit(_to_int32)
    _slope_parallel_z = jit(_slope_parallel_z)
    _clip = jit(_clip)
    return SimpleNamespace(
        geo2rdr=jit(geo2rdr_kernel),
        topo=jit(topo_kernel),
        geogrid_radar=jit(geogrid_radar_kernel),
        geogrid_outputs=jit(geogrid_outputs_kernel),
    )


def compiled() -> Any:
    """The kernels compiled with numba (no fast-math: IEEE operations in source order, as the C/Fortran code)."""
    with _compile_lock:  # the first call may come from several worker threads at once
        return _compile()
