"""WGS84 geodetic <-> ECEF conversions, vectorised, with the formulas ISCE2's latlon.F uses.

Angles are in radians, lengths in metres. The inverse is the closed-form solution of Vermeille (2002), which is
what latlon.F (type 2, XYZ_2_LLH) and isce3's Ellipsoid::xyzToLonLat implement; using it (instead of an
iterative solution) keeps the results within a few ulps of autoRIFT's Geogrid.
"""

import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12.constants import WGS84_ECCENTRICITY_SQUARED, WGS84_SEMI_MAJOR_AXIS_M


FloatArray = npt.NDArray[np.float64]
ArrayLike = FloatArray | float


def llh_to_ecef(
    lat_rad: ArrayLike,
    lon_rad: ArrayLike,
    height_m: ArrayLike,
    semi_major_axis_m: float = WGS84_SEMI_MAJOR_AXIS_M,
    eccentricity_squared: float = WGS84_ECCENTRICITY_SQUARED,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Geodetic latitude, longitude (radians) and ellipsoidal height (m) to ECEF x, y, z (m)."""
    lat = np.asarray(lat_rad, dtype=np.float64)
    lon = np.asarray(lon_rad, dtype=np.float64)
    height = np.asarray(height_m, dtype=np.float64)
    sin_lat = np.sin(lat)
    cos_lat = np.cos(lat)
    prime_vertical_radius = semi_major_axis_m / np.sqrt(1.0 - eccentricity_squared * sin_lat**2)
    x = (prime_vertical_radius + height) * cos_lat * np.cos(lon)
    y = (prime_vertical_radius + height) * cos_lat * np.sin(lon)
    z = (prime_vertical_radius * (1.0 - eccentricity_squared) + height) * sin_lat
    return x, y, z


def ecef_to_llh(
    x_m: ArrayLike,
    y_m: ArrayLike,
    z_m: ArrayLike,
    semi_major_axis_m: float = WGS84_SEMI_MAJOR_AXIS_M,
    eccentricity_squared: float = WGS84_ECCENTRICITY_SQUARED,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ECEF x, y, z (m) to geodetic latitude, longitude (radians) and ellipsoidal height (m); Vermeille (2002).

    Valid away from the Earth's centre (any point within a few hundred km of the surface or above it).
    """
    x = np.asarray(x_m, dtype=np.float64)
    y = np.asarray(y_m, dtype=np.float64)
    z = np.asarray(z_m, dtype=np.float64)
    e2 = eccentricity_squared
    e4 = e2 * e2
    xy_squared = x**2 + y**2
    a_squared = semi_major_axis_m * semi_major_axis_m
    p = xy_squared / a_squared
    q = (1.0 - e2) * (z**2) / a_squared
    r = (p + q - e4) / 6.0
    s = (e4 * p * q) / (4.0 * (r * r * r))  # as gfortran expands r**3
    t = (1.0 + s + np.sqrt(s * (2.0 + s))) ** (1.0 / 3.0)
    u = r * (1.0 + t + 1.0 / t)
    rv = np.sqrt(u**2 + e4 * q)
    w = e2 * (u + rv - q) / (2.0 * rv)
    k = np.sqrt(u + rv + w**2) - w
    d = k * np.sqrt(xy_squared) / (k + e2)
    lat = np.arctan2(z, d)
    lon = np.arctan2(y, x)
    height = (k + e2 - 1.0) * np.sqrt(d**2 + z**2) / k
    return lat, lon, height
