"""Zero-Doppler radar geometry in numpy: geo2rdr (target -> azimuth time, slant range) and rdr2geo (the inverse).

Both follow autoRIFT's radar Geogrid (ISCE2 geogrid.cpp): geo2rdr is a Newton iteration on f(t) = d.V with
-|V|^2 as the derivative (the satellite acceleration is ignored), rdr2geo is the "TCN" fixed-point iteration in a
geocentric basis below the satellite. Times are seconds since the orbit's epoch; vectors are ECEF, shape (..., 3).

These serve the scene's bounding box and incidence angle and the tests. Geogrid's per-node computation is the
compiled kernels' (geogrid/kernels.py); numpy's SIMD transcendental functions may differ from the C maths library
in the last bit, so results here agree with the kernels to a physical tolerance, not bit for bit.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12.constants import WGS84_ECCENTRICITY_SQUARED, WGS84_SEMI_MAJOR_AXIS_M
from hyp3_s1_m11m12.geometry.ellipsoid import ecef_to_llh, llh_to_ecef
from hyp3_s1_m11m12.geometry.orbit import Orbit


FloatArray = npt.NDArray[np.float64]

NEWTON_ITERATIONS = 51  # as many as geogrid.cpp's fixed count
RDR2GEO_ITERATIONS = 50  # the TCN iteration converges in a few; iterate to convergence


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
    """Zero-Doppler solution per target: azimuth time, slant range and look vector (satellite -> target)."""

    azimuth_time_s: FloatArray
    range_m: FloatArray
    look_vector_m: FloatArray


def geo2rdr(
    orbit: Orbit, targets_ecef_m: FloatArray, initial_time_s: float, max_iterations: int = NEWTON_ITERATIONS
) -> Geo2RdrSolution:
    """Zero-Doppler azimuth time and slant range of ECEF targets (n, 3), starting every target at `initial_time_s`.

    Raises:
        OrbitError: an iterate falls outside the orbit span (autoRIFT exits with code 106).
    """
    targets = np.asarray(targets_ecef_m, dtype=np.float64).reshape(-1, 3)
    times = np.full(targets.shape[0], float(initial_time_s))
    position, velocity = orbit.interpolate(times)
    look = targets - position
    for _ in range(max_iterations):
        look = targets - position
        times = times - dot(look, velocity) / -dot(velocity, velocity)
        position, velocity = orbit.interpolate(times)
    return Geo2RdrSolution(azimuth_time_s=times, range_m=norm(look), look_vector_m=look)


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
    max_iterations: int = RDR2GEO_ITERATIONS,
) -> Rdr2GeoSolution:
    """The point at zero Doppler, slant range and ellipsoidal height, seen from satellite states (n, 3).

    geogrid.cpp's along-track "topo" step: a geocentric TCN basis below the satellite and a fixed-point iteration on
    the target's geocentric radius. It converges to the exact range/Doppler/height solution within a few steps and
    stops once a step leaves every radius unchanged.
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
        if settled:
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
    return rdr2geo_tcn(position, velocity, rng, height, look_side)
