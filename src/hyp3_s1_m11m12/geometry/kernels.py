"""Compiled (numba) versions of the two hot loops of Geogrid: zero-Doppler geo2rdr and the along-track topo step.

They perform, node by node, exactly the floating-point operations of the numpy implementations in orbit.py and
zero_doppler.py (which follow ISCE2's orbitHermite.c, latlon.F and geogrid.cpp), so their results are
bit-identical to them; the tests check that. numba is optional: without it, `AVAILABLE` is False and callers use
the numpy versions. The kernels release the GIL, so a thread pool runs them on every core.
"""

import math

import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12.constants import WGS84_ECCENTRICITY_SQUARED, WGS84_SEMI_MAJOR_AXIS_M


FloatArray = npt.NDArray[np.float64]

try:
    import numba

    AVAILABLE = True
except ImportError:  # pragma: no cover - numba is an optional accelerator
    AVAILABLE = False

OK = 0
OUTSIDE_ORBIT = 1

SEMI_MAJOR = WGS84_SEMI_MAJOR_AXIS_M
E2 = WGS84_ECCENTRICITY_SQUARED


def _jit(function):  # type: ignore[no-untyped-def]
    if not AVAILABLE:
        return function
    return numba.njit(cache=True, nogil=True, fastmath=False, error_model='numpy')(function)


@_jit
def _hermite(node_t, node_x, node_v, time, position, velocity):  # type: ignore[no-untyped-def]
    """orbitHermite.c at one time, with interpolateWGS84Orbit's choice of the four vectors; returns 1 outside."""
    count = node_t.shape[0]
    first = 0
    while first < count and node_t[first] < time:
        first += 1
    first -= 2
    if first < 0:
        first = 0
    if first > count - 4:
        first = count - 4
    t = node_t[first : first + 4]
    offset = np.empty(4)
    inverse_gap_sum = np.empty(4)
    f0 = np.empty(4)
    basis = np.empty(4)
    basis_rate = np.empty(4)
    for i in range(4):
        offset[i] = time - t[i]
        total = 0.0
        for j in range(4):
            if i != j:
                total += 1.0 / (t[i] - t[j])
        inverse_gap_sum[i] = total
        f0[i] = 1.0 - 2.0 * offset[i] * total
    for i in range(4):
        product = 1.0
        for k in range(4):
            if k != i:
                product *= offset[k] / (t[i] - t[k])
        basis[i] = product
        total = 0.0
        for j in range(4):
            if j == i:
                continue
            product = 1.0
            for k in range(4):
                if k != i and k != j:
                    product *= offset[k] / (t[i] - t[k])
            total += 1.0 / (t[i] - t[j]) * product
        basis_rate[i] = total
    for axis in range(3):
        position[axis] = 0.0
        velocity[axis] = 0.0
    for i in range(4):
        g1 = basis[i] + 2.0 * offset[i] * basis_rate[i]
        g0 = 2.0 * (f0[i] * basis_rate[i] - basis[i] * inverse_gap_sum[i])
        for axis in range(3):
            x = node_x[first + i, axis]
            v = node_v[first + i, axis]
            position[axis] += (x * f0[i] + v * offset[i]) * basis[i] * basis[i]
            velocity[axis] += (x * g0 + v * g1) * basis[i]
    if time < node_t[0] or time > node_t[count - 1] or not math.isfinite(time):
        return OUTSIDE_ORBIT
    return OK


@_jit
def geo2rdr_kernel(  # type: ignore[no-untyped-def]
    node_t, node_x, node_v, targets, initial_time, max_iterations, stop_at_fixed_point, times, ranges, looks, status
):
    """zero_doppler.geo2rdr for each target (same steps, same stopping rule); fills times, ranges, looks, status."""
    start_position = np.empty(3)
    start_velocity = np.empty(3)
    start_status = _hermite(node_t, node_x, node_v, initial_time, start_position, start_velocity)
    position = np.empty(3)
    velocity = np.empty(3)
    look = np.empty(3)
    previous_look = np.empty(3)
    for n in range(targets.shape[0]):
        status[n] = start_status
        for axis in range(3):
            position[axis] = start_position[axis]
            velocity[axis] = start_velocity[axis]
        time = initial_time
        previous_time = np.nan
        previous_range = np.nan
        final_time = time
        final_range = 0.0
        for iteration in range(1, max_iterations + 1):
            for axis in range(3):
                look[axis] = targets[n, axis] - position[axis]
            slant_range = math.sqrt(look[0] * look[0] + look[1] * look[1] + look[2] * look[2])
            doppler = look[0] * velocity[0] + look[1] * velocity[1] + look[2] * velocity[2]
            speed_squared = velocity[0] * velocity[0] + velocity[1] * velocity[1] + velocity[2] * velocity[2]
            updated = time - doppler / -speed_squared
            if stop_at_fixed_point and iteration < max_iterations:
                if updated == time:
                    final_time = updated
                    final_range = slant_range
                    break
                if updated == previous_time:
                    if (max_iterations - iteration) % 2 == 1:
                        final_time = time
                        final_range = previous_range
                        for axis in range(3):
                            look[axis] = previous_look[axis]
                    else:
                        final_time = updated
                        final_range = slant_range
                    break
            previous_time = time
            previous_range = slant_range
            for axis in range(3):
                previous_look[axis] = look[axis]
            time = updated
            final_time = updated
            final_range = slant_range
            if _hermite(node_t, node_x, node_v, time, position, velocity) != OK:
                status[n] = OUTSIDE_ORBIT
        times[n] = final_time
        ranges[n] = final_range
        for axis in range(3):
            looks[n, axis] = look[axis]


@_jit
def _ecef_to_llh(x, y, z):  # type: ignore[no-untyped-def]
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


@_jit
def _llh_to_ecef(lat, lon, height):  # type: ignore[no-untyped-def]
    sin_lat = math.sin(lat)
    cos_lat = math.cos(lat)
    radius = SEMI_MAJOR / math.sqrt(1.0 - E2 * (sin_lat * sin_lat))
    return (
        (radius + height) * cos_lat * math.cos(lon),
        (radius + height) * cos_lat * math.sin(lon),
        (radius * (1.0 - E2) + height) * sin_lat,
    )


@_jit
def topo_kernel(  # type: ignore[no-untyped-def]
    node_t, node_x, node_v, times, ranges, heights, look_side, max_iterations, stop_at_fixed_point, targets, lat, lon, status
):
    """zero_doppler.rdr2geo_tcn with the satellite state interpolated at each node's time (geogrid.cpp's step 2.7)."""
    semi_minor = SEMI_MAJOR * math.sqrt(1.0 - E2)
    position = np.empty(3)
    velocity = np.empty(3)
    nadir = np.empty(3)
    cross_track = np.empty(3)
    along = np.empty(3)
    direction = np.empty(3)
    for n in range(times.shape[0]):
        status[n] = _hermite(node_t, node_x, node_v, times[n], position, velocity)
        distance = math.sqrt(position[0] * position[0] + position[1] * position[1] + position[2] * position[2])
        sx = position[0] / SEMI_MAJOR
        sy = position[1] / SEMI_MAJOR
        sz = position[2] / semi_minor
        radius = (1.0 / math.sqrt(sx * sx + sy * sy + sz * sz)) * distance
        for axis in range(3):
            nadir[axis] = -(position[axis] / distance)
        cx = nadir[1] * velocity[2] - nadir[2] * velocity[1]
        cy = nadir[2] * velocity[0] - nadir[0] * velocity[2]
        cz = nadir[0] * velocity[1] - nadir[1] * velocity[0]
        size = math.sqrt(cx * cx + cy * cy + cz * cz)
        cross_track[0] = cx / size
        cross_track[1] = cy / size
        cross_track[2] = cz / size
        ax = cross_track[1] * nadir[2] - cross_track[2] * nadir[1]
        ay = cross_track[2] * nadir[0] - cross_track[0] * nadir[2]
        az = cross_track[0] * nadir[1] - cross_track[1] * nadir[0]
        size = math.sqrt(ax * ax + ay * ay + az * az)
        along[0] = ax / size
        along[1] = ay / size
        along[2] = az / size
        speed = math.sqrt(velocity[0] * velocity[0] + velocity[1] * velocity[1] + velocity[2] * velocity[2])
        for axis in range(3):
            direction[axis] = velocity[axis] / speed
        nadir_dot_velocity = nadir[0] * direction[0] + nadir[1] * direction[1] + nadir[2] * direction[2]
        velocity_dot_along = direction[0] * along[0] + direction[1] * along[1] + direction[2] * along[2]
        rng = ranges[n]
        height = heights[n]
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
            px = position[0] + (alpha * along[0] + beta * cross_track[0] + gamma * nadir[0])
            py = position[1] + (alpha * along[1] + beta * cross_track[1] + gamma * nadir[1])
            pz = position[2] + (alpha * along[2] + beta * cross_track[2] + gamma * nadir[2])
            point_lat, point_lon, _unconstrained = _ecef_to_llh(px, py, pz)
            tx, ty, tz = _llh_to_ecef(point_lat, point_lon, height)
            new_height = math.sqrt(tx * tx + ty * ty + tz * tz) - radius
            settled = new_height == target_height
            target_height = new_height
            if stop_at_fixed_point and settled:
                break
        targets[n, 0] = tx
        targets[n, 1] = ty
        targets[n, 2] = tz
        lat[n] = point_lat
        lon[n] = point_lon
