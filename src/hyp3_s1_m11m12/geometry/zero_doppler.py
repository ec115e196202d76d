"""Zero-Doppler radar geometry: geo2rdr (target -> azimuth time, slant range) and rdr2geo (the inverse).

Both follow autoRIFT's radar Geogrid (ISCE2 geogrid.cpp): geo2rdr is a Newton iteration on f(t) = d.V with
-|V|^2 as the derivative (the satellite acceleration is ignored), rdr2geo is the "TCN" fixed-point iteration in a
geocentric basis below the satellite. Times are seconds since the orbit's epoch; vectors are ECEF, shape (..., 3).
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12.constants import WGS84_ECCENTRICITY_SQUARED, WGS84_SEMI_MAJOR_AXIS_M
from hyp3_s1_m11m12.errors import OrbitError
from hyp3_s1_m11m12.geogrid import kernels
from hyp3_s1_m11m12.geometry.ellipsoid import ecef_to_llh, llh_to_ecef
from hyp3_s1_m11m12.geometry.orbit import Orbit


FloatArray = npt.NDArray[np.float64]

GEOGRID_NEWTON_ITERATIONS = 51  # geogrid.cpp's fixed count
GEOGRID_TOPO_ITERATIONS = 10  # geogrid.cpp's fixed count for the along-track "topo" step


def dot(a: FloatArray, b: FloatArray) -> FloatArray:
    """Row-wise dot product of (..., 3) arrays, summed left to right as ISCE2's dot_C."""
    return np.asarray(a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2], dtype=np.float64)


def norm(a: FloatArray) -> FloatArray:
    return np.sqrt(a[..., 0] * a[..., 0] + a[..., 1] * a[..., 1] + a[..., 2] * a[..., 2])


def unit(a: FloatArray) -> FloatArray:
    return a / norm(a)[..., None]


def cross(a: FloatArray, b: FloatArray) -> FloatArray:
    return np.stack(
        (
            a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
            a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
            a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0],
        ),
        axis=-1,
    )


@dataclass(frozen=True)
class Geo2RdrSolution:
    """Zero-Doppler solution per target, as geogrid.cpp leaves it after its Newton loop.

    `range_m` and `look_vector_m` (satellite -> target) come from the state before the last time update, exactly
    as in the C++; at convergence both states coincide.
    """

    azimuth_time_s: FloatArray
    range_m: FloatArray
    look_vector_m: FloatArray
    iterations: int


def geo2rdr(
    orbit: Orbit,
    targets_ecef_m: FloatArray,
    initial_time_s: float,
    max_iterations: int = GEOGRID_NEWTON_ITERATIONS,
    stop_at_fixed_point: bool = True,
    compiled: bool | None = None,
) -> Geo2RdrSolution:
    """Zero-Doppler azimuth time and slant range of ECEF targets (n, 3), starting every target at `initial_time_s`.

    geogrid.cpp runs exactly `max_iterations` (51) steps. With `stop_at_fixed_point` a target stops iterating once
    its time repeats (a step leaves it unchanged, or it returns to the value two steps back: at convergence many
    targets alternate between two neighbouring doubles). Every later step would repeat the same arithmetic on the
    same states, so the final state follows from the parity of the steps left and is bit-identical to the full
    count, for a third of the work. Targets in longer cycles run the full count.

    `compiled` picks the numba kernel (bit-identical, much faster); None uses it when numba is installed.

    Raises:
        OrbitError: an iterate falls outside the orbit span (autoRIFT exits with code 106).
    """
    targets = np.asarray(targets_ecef_m, dtype=np.float64).reshape(-1, 3)
    count = targets.shape[0]
    if kernels.AVAILABLE if compiled is None else compiled:
        orbit.check_within_span(np.float64(initial_time_s))
        times = np.empty(count)
        ranges = np.empty(count)
        looks = np.empty((count, 3))
        status = np.zeros(count, dtype=np.int8)
        kernels.compiled().geo2rdr(
            orbit.times_s,
            orbit.positions_m,
            orbit.velocities_m_s,
            np.ascontiguousarray(targets),
            float(initial_time_s),
            int(max_iterations),
            bool(stop_at_fixed_point),
            times,
            ranges,
            looks,
            status,
        )
        if np.any(status != kernels.OK):
            _raise_outside(orbit, targets, float(initial_time_s), max_iterations)
        return Geo2RdrSolution(azimuth_time_s=times, range_m=ranges, look_vector_m=looks, iterations=max_iterations)
    times = np.full(count, float(initial_time_s))
    start_position, start_velocity = orbit.interpolate(np.float64(initial_time_s))
    position = np.repeat(start_position[None, :], count, axis=0)
    velocity = np.repeat(start_velocity[None, :], count, axis=0)
    look = targets - position
    previous_look = look.copy()
    slant_range = norm(look)
    previous_range = slant_range.copy()
    previous_times = times.copy()  # t_{i-2} when iteration i runs
    active = np.arange(count)
    iterations = 0
    for iterations in range(1, max_iterations + 1):
        if active.size == 0:
            break
        active_look = targets[active] - position[active]
        active_velocity = velocity[active]
        active_range = norm(active_look)
        before = times[active]  # t_{i-1}
        updated = before - dot(active_look, active_velocity) / -dot(active_velocity, active_velocity)
        if not stop_at_fixed_point or iterations == max_iterations:
            look[active] = active_look
            slant_range[active] = active_range
            times[active] = updated
            position[active], velocity[active] = orbit.interpolate(updated)
            continue
        # A time that repeats itself (fixed point) or the one two steps back (two-cycle) repeats forever: the
        # state after the full count follows from the parity of the remaining steps.
        fixed = updated == before
        cycling = ~fixed & (updated == previous_times[active])
        odd_remaining = (max_iterations - iterations) % 2 == 1
        swap = cycling & odd_remaining  # end on t_{i-1}, with the look vector computed from t_i = t_{i-2}
        keep_look = ~swap
        look[active[keep_look]] = active_look[keep_look]
        slant_range[active[keep_look]] = active_range[keep_look]
        swapped = active[swap]
        look[swapped] = previous_look[swapped]
        slant_range[swapped] = previous_range[swapped]
        times[active] = np.where(swap, before, updated)
        settled = fixed | cycling
        moving = active[~settled]
        previous_times[moving] = before[~settled]
        previous_look[moving] = active_look[~settled]
        previous_range[moving] = active_range[~settled]
        position[moving], velocity[moving] = orbit.interpolate(updated[~settled])
        active = moving
    return Geo2RdrSolution(azimuth_time_s=times, range_m=slant_range, look_vector_m=look, iterations=iterations)


def _raise_outside(orbit: Orbit, targets: FloatArray, initial_time_s: float, max_iterations: int) -> None:
    """Re-run the numpy iteration, which raises an OrbitError naming the time outside the orbit."""
    geo2rdr(orbit, targets, initial_time_s, max_iterations, compiled=False)
    raise OrbitError(f'the zero-Doppler iteration left the orbit span {orbit.span_description()}')  # pragma: no cover


def geocentric_radius_below(position_m: FloatArray) -> FloatArray:
    """Distance from the Earth's centre to the ellipsoid along the geocentric direction of `position_m`."""
    semi_minor = WGS84_SEMI_MAJOR_AXIS_M * np.sqrt(1.0 - WGS84_ECCENTRICITY_SQUARED)
    scaled = np.stack(
        (
            position_m[..., 0] / WGS84_SEMI_MAJOR_AXIS_M,
            position_m[..., 1] / WGS84_SEMI_MAJOR_AXIS_M,
            position_m[..., 2] / semi_minor,
        ),
        axis=-1,
    )
    return (1.0 / norm(scaled)) * norm(position_m)


@dataclass(frozen=True)
class Rdr2GeoSolution:
    target_ecef_m: FloatArray  # the point at the requested height (geogrid.cpp's targXYZ)
    lat_rad: FloatArray
    lon_rad: FloatArray
    unconstrained_height_m: FloatArray  # height of the last range/Doppler point (what ISCE2 Orbit.rdr2geo returns)


def rdr2geo_tcn(
    position_m: FloatArray,
    velocity_m_s: FloatArray,
    slant_range_m: FloatArray,
    height_m: FloatArray,
    look_side: int,
    max_iterations: int = GEOGRID_TOPO_ITERATIONS,
    stop_at_fixed_point: bool = True,
) -> Rdr2GeoSolution:
    """The point at zero Doppler, slant range and ellipsoidal height, seen from satellite states (n, 3).

    geogrid.cpp's along-track "topo" step: a geocentric TCN basis below the satellite and a fixed-point iteration on
    the target's geocentric radius (10 steps there). It converges to the exact range/Doppler/height solution within a
    few steps; with `stop_at_fixed_point` it stops once a step leaves every radius unchanged, after which the
    remaining steps would repeat themselves, so the point is bit-identical to the full count.
    """
    position = np.asarray(position_m, dtype=np.float64)
    velocity = np.asarray(velocity_m_s, dtype=np.float64)
    rng = np.asarray(slant_range_m, dtype=np.float64)
    height = np.broadcast_to(np.asarray(height_m, dtype=np.float64), rng.shape)
    satellite_distance = norm(position)
    radius = geocentric_radius_below(position)
    nadir = -unit(position)
    cross_track = unit(cross(nadir, velocity))
    along_track = unit(cross(cross_track, nadir))
    velocity_direction = unit(velocity)
    nadir_dot_velocity = dot(nadir, velocity_direction)
    velocity_dot_along = dot(velocity_direction, along_track)

    target_height = height.copy()  # zsch in geogrid.cpp: height above the geocentric radius
    target = position
    lat = lon = unconstrained = np.zeros_like(rng)
    for _ in range(max_iterations):
        a = satellite_distance
        b = radius + target_height
        cos_theta = 0.5 * (a / rng + rng / a - (b / a) * (b / rng))
        sin_theta = np.sqrt(1 - cos_theta * cos_theta)
        gamma = rng * cos_theta
        alpha = 0.0 - gamma * nadir_dot_velocity / velocity_dot_along
        beta = -look_side * np.sqrt(rng * rng * sin_theta * sin_theta - alpha * alpha)
        delta = alpha[..., None] * along_track + beta[..., None] * cross_track + gamma[..., None] * nadir
        unconstrained_point = position + delta
        lat, lon, unconstrained = ecef_to_llh(
            unconstrained_point[..., 0], unconstrained_point[..., 1], unconstrained_point[..., 2]
        )
        target = np.stack(llh_to_ecef(lat, lon, height), axis=-1)
        new_height = norm(target) - radius
        settled = bool(np.array_equal(new_height, target_height, equal_nan=True))
        target_height = new_height
        if stop_at_fixed_point and settled:
            break
    return Rdr2GeoSolution(target_ecef_m=target, lat_rad=lat, lon_rad=lon, unconstrained_height_m=unconstrained)


def rdr2geo(
    orbit: Orbit, azimuth_time_s: npt.ArrayLike, slant_range_m: npt.ArrayLike, height_m: npt.ArrayLike, look_side: int
) -> Rdr2GeoSolution:
    """Zero-Doppler point at (azimuth time, slant range, height), as ISCE2's Orbit.rdr2geo gives it.

    ISCE2's Python version iterates in an SCH sphere instead of the geocentric basis; both fixed points are the
    exact range/zero-Doppler/height solution, which this computes (iterating to convergence).
    """
    times = np.asarray(azimuth_time_s, dtype=np.float64)
    rng = np.asarray(slant_range_m, dtype=np.float64)
    height = np.asarray(height_m, dtype=np.float64)
    times, rng, height = np.broadcast_arrays(times, rng, height)
    position, velocity = orbit.interpolate(times)
    return rdr2geo_tcn(position, velocity, rng, height, look_side, max_iterations=50)


def topo_at(
    orbit: Orbit,
    azimuth_time_s: FloatArray,
    slant_range_m: FloatArray,
    height_m: FloatArray,
    look_side: int,
    max_iterations: int = GEOGRID_TOPO_ITERATIONS,
    stop_at_fixed_point: bool = True,
    compiled: bool | None = None,
) -> Rdr2GeoSolution:
    """rdr2geo_tcn with the satellite state interpolated at `azimuth_time_s` (geogrid.cpp's along-track step).

    Raises:
        OrbitError: a time is outside the orbit span.
    """
    times = np.ascontiguousarray(azimuth_time_s, dtype=np.float64)
    orbit.check_within_span(times)
    if kernels.AVAILABLE if compiled is None else compiled:
        count = times.size
        targets = np.empty((count, 3))
        lat = np.empty(count)
        lon = np.empty(count)
        status = np.zeros(count, dtype=np.int8)
        kernels.compiled().topo(
            orbit.times_s,
            orbit.positions_m,
            orbit.velocities_m_s,
            times,
            np.ascontiguousarray(slant_range_m, dtype=np.float64),
            np.ascontiguousarray(np.broadcast_to(height_m, times.shape), dtype=np.float64),
            int(look_side),
            int(max_iterations),
            bool(stop_at_fixed_point),
            targets,
            lat,
            lon,
            status,
        )
        return Rdr2GeoSolution(
            target_ecef_m=targets, lat_rad=lat, lon_rad=lon, unconstrained_height_m=np.full(count, np.nan)
        )
    position, velocity = orbit.interpolate(times)
    return rdr2geo_tcn(
        position,
        velocity,
        slant_range_m,
        height_m,
        look_side,
        max_iterations=max_iterations,
        stop_at_fixed_point=stop_at_fixed_point,
    )


def warm_up_kernels() -> None:
    """Compile the numba kernels now (or load them from numba's cache): about 13 s cold, under 1 s cached.

    It calls them with the argument types of a real run (geo2rdr and topo_at through their functions, the fused
    Geogrid kernels with empty arrays of the types geogrid/nodes.py passes; a test checks that a run then needs no
    other signature). Run it once where numba's cache persists (e.g. while building a container image, with
    NUMBA_CACHE_DIR set to a folder of the image) so that jobs do not pay the compilation.
    """
    if not kernels.AVAILABLE:
        return
    from datetime import datetime

    times = np.arange(8) * 10.0
    positions = np.stack([np.full(8, 7.0e6), times * 7.0e3, np.zeros(8)], axis=-1)
    velocities = np.stack([np.zeros(8), np.full(8, 7.0e3), np.zeros(8)], axis=-1)
    orbit = Orbit(epoch=datetime(2000, 1, 1), times_s=times, positions_m=positions, velocities_m_s=velocities)
    targets = np.array([[6.4e6, 3.5e5, 1.0e5], [6.4e6, 3.6e5, 1.0e5]])
    solution = geo2rdr(orbit, targets, 35.0, compiled=True)
    topo_at(orbit, solution.azimuth_time_s, solution.range_m, np.zeros(2), -1, compiled=True)
    _warm_up_geogrid_kernels(orbit)


def _warm_up_geogrid_kernels(orbit: Orbit) -> None:
    """Call the fused Geogrid kernels on no nodes, with exactly the argument types of geogrid/nodes.py."""
    compiled = kernels.compiled()
    nodes = np.empty(0)
    int_bands = np.empty((2, 0), dtype=np.int32)
    float_bands = np.empty((2, 0))
    steps = [np.empty(0) for _ in range(6)]
    compiled.geogrid_radar(
        *(orbit.times_s, orbit.positions_m, orbit.velocities_m_s),
        *(nodes, nodes, nodes),
        *(35.0, GEOGRID_NEWTON_ITERATIONS, GEOGRID_TOPO_ITERATIONS, True),
        *(8.0e5, 2.3, 0.0, 486.0, 1 / 486.0, 1.0, 1.0, -1),
        *(int_bands, nodes, np.empty(0, dtype=np.int8), np.empty(0, dtype=np.int64)),
        *steps,
    )
    compiled.geogrid_outputs(
        *(nodes, nodes, nodes, np.empty(0, dtype=np.int64)),
        *steps,
        *(nodes for _ in range(11)),
        *(86400.0, 2.3, -32767.0, -32767.0, True, 1.0, 0.0, 1.0, 240.0, 4.0, 4.0),
        *(int_bands for _ in range(5)),
        *(float_bands for _ in range(4)),
    )
