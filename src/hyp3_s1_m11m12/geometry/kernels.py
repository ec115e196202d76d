"""Compiled (numba) versions of the two hot loops of Geogrid: zero-Doppler geo2rdr and the along-track topo step.

They perform, node by node, exactly the floating-point operations of the numpy implementations in orbit.py and
zero_doppler.py (which follow ISCE2's orbitHermite.c, latlon.F and geogrid.cpp), so their results are
bit-identical to them; the tests check that. numba is optional: without it, `AVAILABLE` is False and callers use
the numpy versions. The kernels release the GIL, so a thread pool runs them on every core. numba is imported (and
the kernels compiled, or loaded from numba's cache) on first use only.
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
OUTSIDE_ORBIT = 1
CYCLE_HISTORY = 16  # longest period of the converged Newton iteration detected (periods up to ~10 occur)

SEMI_MAJOR = WGS84_SEMI_MAJOR_AXIS_M
E2 = WGS84_ECCENTRICITY_SQUARED


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


def _hermite(node_t, node_x, node_v, tables, time, position, velocity, scratch):
    """orbitHermite.c at one time, with interpolateWGS84Orbit's choice of the four vectors; returns 1 outside.

    `tables` come from hermite_tables; `scratch` is a (7, 4) work array (no allocation per call).
    """
    gaps, inverse_gaps, inverse_gap_sums = tables
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


def geo2rdr_kernel(
    node_t, node_x, node_v, targets, initial_time, max_iterations, stop_at_fixed_point, times, ranges, looks, status
):
    """zero_doppler.geo2rdr for each target; fills times, ranges, looks, status.

    The iteration's state is the time alone (position and velocity are functions of it), so once a time repeats
    one seen p steps earlier the sequence is periodic with period p. Near convergence rounding makes most targets
    settle on a fixed point (p = 1) but some on cycles of up to ~10 neighbouring doubles; with
    `stop_at_fixed_point` the kernel detects any period up to CYCLE_HISTORY and reads the state the full count of
    steps would end in from its history, which is bit-identical to running them.
    """
    start_position = np.empty(3)
    start_velocity = np.empty(3)
    scratch = np.empty((7, 4))
    tables = hermite_tables(node_t)
    start_status = _hermite(node_t, node_x, node_v, tables, initial_time, start_position, start_velocity, scratch)
    position = np.empty(3)
    velocity = np.empty(3)
    look = np.empty(3)
    history_time = np.empty(CYCLE_HISTORY)  # t_j, and the look vector and range computed from it, at j % CYCLE_HISTORY
    history_look = np.empty((CYCLE_HISTORY, 3))
    history_range = np.empty(CYCLE_HISTORY)
    for n in range(targets.shape[0]):
        status[n] = start_status
        for axis in range(3):
            position[axis] = start_position[axis]
            velocity[axis] = start_velocity[axis]
        time = initial_time
        final_time = time
        final_range = 0.0
        for iteration in range(1, max_iterations + 1):
            for axis in range(3):
                look[axis] = targets[n, axis] - position[axis]
            slant_range = math.sqrt(look[0] * look[0] + look[1] * look[1] + look[2] * look[2])
            doppler = look[0] * velocity[0] + look[1] * velocity[1] + look[2] * velocity[2]
            speed_squared = velocity[0] * velocity[0] + velocity[1] * velocity[1] + velocity[2] * velocity[2]
            updated = time - doppler / -speed_squared
            final_time = updated
            final_range = slant_range
            if stop_at_fixed_point and iteration < max_iterations:
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
            if _hermite(node_t, node_x, node_v, tables, time, position, velocity, scratch) != OK:
                status[n] = OUTSIDE_ORBIT
        times[n] = final_time
        ranges[n] = final_range
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
    semi_minor = SEMI_MAJOR * math.sqrt(1.0 - E2)
    position = np.empty(3)
    velocity = np.empty(3)
    nadir = np.empty(3)
    cross_track = np.empty(3)
    along = np.empty(3)
    direction = np.empty(3)
    scratch = np.empty((7, 4))
    tables = hermite_tables(node_t)
    for n in range(times.shape[0]):
        status[n] = _hermite(node_t, node_x, node_v, tables, times[n], position, velocity, scratch)
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


_compile_lock = threading.Lock()


@functools.cache
def _compile() -> Any:
    import numba

    def jit(function: Any) -> Any:
        return numba.njit(cache=True, nogil=True, fastmath=False, error_model='numpy')(function)

    # Module-level names are resolved at compile time, so the helpers are compiled and bound here first.
    global hermite_tables, _hermite, _ecef_to_llh, _llh_to_ecef
    hermite_tables = jit(hermite_tables)
    _hermite = jit(_hermite)
    _ecef_to_llh = jit(_ecef_to_llh)
    _llh_to_ecef = jit(_llh_to_ecef)
    return SimpleNamespace(geo2rdr=jit(geo2rdr_kernel), topo=jit(topo_kernel))


def compiled() -> Any:
    """The kernels compiled with numba (no fast-math: IEEE operations in source order, as the C/Fortran code)."""
    with _compile_lock:  # the first call may come from several worker threads at once
        return _compile()
