"""Compiled UTM and polar stereographic projections that return pyproj's bits (PROJ 9.5, WGS84).

These kernels do the floating-point operations of PROJ's pipelines between EPSG:4326 (degrees) and the map CRS,
in PROJ's order and with the C maths library functions PROJ calls (numba calls libm; no fast-math, so no FMA
contraction: the PROJ of pyproj's wheel is an x86-64 baseline build without FMA), so they return the same float64
for every point, failures included: a point PROJ cannot project comes back as inf in both coordinates and a NaN
input gives NaN in both. Over half of pyproj's time is those libm calls themselves (a UTM point needs six or
seven: sincos three times, atan2, hypot and asinh one way; sincos twice, exp, sinh, atan2 twice, hypot the other),
which the kernels make too, so they are bound by libm's speed (single-threaded, ~75 ns of libm per UTM point on the
development machine's AMD EPYC): they save PROJ's per-point machinery (the pipeline, its unit conversion step,
error state) and overlap the calls of neighbouring points. UTM ~85 ns per point forward and ~100 inverse (~80 on
rows of a grid) against pyproj's ~130-145; polar stereographic ~50-60 against ~90 forward, ~150-200 against ~300
inverse.

- UTM (EPSG 32601-32660 north, 32701-32760 south): PROJ's `utm`, the exact (Poder/Engsager) transverse Mercator
  that PROJ uses unless +approx is set or proj.ini says otherwise (tmerc.cpp).
- Polar stereographic EPSG 3413 (north, lat_ts 70, lon_0 -45) and 3031 (south, lat_ts -71, lon_0 0): PROJ's
  `stere` in its polar ellipsoidal form (stere.cpp).

The series coefficients and scale constants are computed in Python with the expressions of PROJ's set-up (CPython's
math module calls the same libm for the functions used there). The per-point code reproduces, in order: the unit
conversion (degrees <-> radians by multiplication with PROJ's factors), pj_fwd / pj_inv's preparation and
finalisation (the latitude and longitude checks, longitude wrapping, the central meridian, the semi-major axis and
false easting/northing applied as PROJ does it: multiply by `a` then add x0, or subtract x0 then multiply by 1/a),
and the projection itself.

Every compiled function lives in this one file: numba's cache of a function is invalidated only when its own source
file changes. numba is imported, and the kernels compiled or loaded from numba's cache, on first use only.
"""

import ctypes
import ctypes.util
import math
import threading
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12 import numba_target


FloatArray = npt.NDArray[np.float64]

# PROJ's constants as it writes them (proj_internal.sum0); the same doubles as Python's.
DEG_TO_RAD = 0.017453292519943296
RAD_TO_DEG = 1.0 / DEG_TO_RAD  # unitconvert's factor from radians to degrees: 1 / (degree in radians)
HALF_PI = math.pi / 2
TWO_PI = 2 * math.pi
LATITUDE_TOLERANCE = 1e-12  # PJ_EPS_LAT: how far beyond a pole pj_fwd still accepts (and clamps) a latitude
LONGITUDE_LIMIT = 10.0  # pj_fwd refuses |longitude| > 10 radians
WRAP_LIMIT = math.pi + 1e-12  # adjlon leaves a longitude alone below this
TMERC_LIMIT = 2.623395162778  # exact tmerc's domain, |normalised easting| (~150 degrees from the meridian)
STERE_TOLERANCE = 1e-10  # stere's convergence test of the inverse's iteration
STERE_ITERATIONS = 8
POLE_TOLERANCE = 1e-15  # stere's forward puts a point this close to its pole at x = 0

WGS84_A = 6378137.0
WGS84_RF = 298.257223563

# Layout of a projection's parameter vector (one float64 array per CRS, so each kernel has one signature).
LAM0 = 0  # central meridian (radians)
X0 = 1  # false easting (m)
Y0 = 2  # false northing (m)
A = 3  # semi-major axis (m)
RA = 4  # 1 / a
# UTM
QN = 5  # meridian quadrant scaled by k0, in units of a
ZB = 6  # northing of the origin latitude (-0.0 for UTM, as PROJ computes it)
CBG = 7  # geodetic -> Gaussian latitude series (6)
GTU = 13  # spherical -> ellipsoidal normalised N, E series (6)
UTG = 19  # ellipsoidal -> spherical normalised N, E series (6)
CGB = 25  # Gaussian -> geodetic latitude series (6)
UTM_SIZE = 31
# polar stereographic
POLAR_SCALE = 5  # the scale constant of the pole's projection
ECCENTRICITY = 6
SOUTH = 7  # 1.0 for the south pole's aspect, 0.0 for the north's
POLAR_SIZE = 8

UTM_NORTH = range(32601, 32661)
UTM_SOUTH = range(32701, 32761)
# EPSG code -> (lat_0, lat_ts, lon_0) in degrees, as the CRS's PROJ string has them
POLAR_STEREOGRAPHIC = {3413: (90.0, 70.0, -45.0), 3031: (-90.0, -71.0, 0.0)}


class Ellipsoid(NamedTuple):
    a: float
    es: float
    e: float
    n: float  # third flattening


def wgs84() -> Ellipsoid:
    """PROJ's WGS84 parameters, from a and rf as pj_calc_ellipsoid_params derives them."""
    f = 1 / WGS84_RF
    es = 2 * f - f * f
    e = math.sqrt(es)
    alpha = math.asin(e)
    return Ellipsoid(a=WGS84_A, es=es, e=e, n=math.pow(math.tan(alpha / 2), 2))


def _latitude_series_python(coefficients: list[float], b: float, cos_2b: float, sin_2b: float) -> float:
    """tmerc's real Clenshaw sum of the latitude series (Python, for the set-up)."""
    sum0 = 0.0
    sum2 = 0.0
    sum1 = coefficients[5]
    for k in range(4, -1, -1):
        sum0 = -sum2 + 2 * cos_2b * sum1 + coefficients[k]
        sum2 = sum1
        sum1 = sum0
    return b + sum0 * sin_2b


def utm_parameters(zone: int, south: bool) -> FloatArray:
    """The parameter vector of UTM `zone` (1-60), as PROJ's utm set-up computes it (k0 0.9996, phi0 0)."""
    n = wgs84().n
    k0 = 0.9996
    np_ = n
    cgb = [0.0] * 6
    cbg = [0.0] * 6
    utg = [0.0] * 6
    gtu = [0.0] * 6
    cgb[0] = n * (2 + n * (-2 / 3.0 + n * (-2 + n * (116 / 45.0 + n * (26 / 45.0 + n * (-2854 / 675.0))))))
    cbg[0] = n * (-2 + n * (2 / 3.0 + n * (4 / 3.0 + n * (-82 / 45.0 + n * (32 / 45.0 + n * (4642 / 4725.0))))))
    np_ *= n
    cgb[1] = np_ * (7 / 3.0 + n * (-8 / 5.0 + n * (-227 / 45.0 + n * (2704 / 315.0 + n * (2323 / 945.0)))))
    cbg[1] = np_ * (5 / 3.0 + n * (-16 / 15.0 + n * (-13 / 9.0 + n * (904 / 315.0 + n * (-1522 / 945.0)))))
    np_ *= n
    cgb[2] = np_ * (56 / 15.0 + n * (-136 / 35.0 + n * (-1262 / 105.0 + n * (73814 / 2835.0))))
    cbg[2] = np_ * (-26 / 15.0 + n * (34 / 21.0 + n * (8 / 5.0 + n * (-12686 / 2835.0))))
    np_ *= n
    cgb[3] = np_ * (4279 / 630.0 + n * (-332 / 35.0 + n * (-399572 / 14175.0)))
    cbg[3] = np_ * (1237 / 630.0 + n * (-12 / 5.0 + n * (-24832 / 14175.0)))
    np_ *= n
    cgb[4] = np_ * (4174 / 315.0 + n * (-144838 / 6237.0))
    cbg[4] = np_ * (-734 / 315.0 + n * (109598 / 31185.0))
    np_ *= n
    cgb[5] = np_ * (601676 / 22275.0)
    cbg[5] = np_ * (444337 / 155925.0)

    np_ = n * n
    qn = k0 / (1 + n) * (1 + np_ * (1 / 4.0 + np_ * (1 / 64.0 + np_ / 256.0)))
    utg[0] = n * (
        -0.5 + n * (2 / 3.0 + n * (-37 / 96.0 + n * (1 / 360.0 + n * (81 / 512.0 + n * (-96199 / 604800.0)))))
    )
    gtu[0] = n * (0.5 + n * (-2 / 3.0 + n * (5 / 16.0 + n * (41 / 180.0 + n * (-127 / 288.0 + n * (7891 / 37800.0))))))
    utg[1] = np_ * (-1 / 48.0 + n * (-1 / 15.0 + n * (437 / 1440.0 + n * (-46 / 105.0 + n * (1118711 / 3870720.0)))))
    gtu[1] = np_ * (13 / 48.0 + n * (-3 / 5.0 + n * (557 / 1440.0 + n * (281 / 630.0 + n * (-1983433 / 1935360.0)))))
    np_ *= n
    utg[2] = np_ * (-17 / 480.0 + n * (37 / 840.0 + n * (209 / 4480.0 + n * (-5569 / 90720.0))))
    gtu[2] = np_ * (61 / 240.0 + n * (-103 / 140.0 + n * (15061 / 26880.0 + n * (167603 / 181440.0))))
    np_ *= n
    utg[3] = np_ * (-4397 / 161280.0 + n * (11 / 504.0 + n * (830251 / 7257600.0)))
    gtu[3] = np_ * (49561 / 161280.0 + n * (-179 / 168.0 + n * (6601661 / 7257600.0)))
    np_ *= n
    utg[4] = np_ * (-4583 / 161280.0 + n * (108847 / 3991680.0))
    gtu[4] = np_ * (34729 / 80640.0 + n * (-3418889 / 1995840.0))
    np_ *= n
    utg[5] = np_ * (-20648693 / 638668800.0)
    gtu[5] = np_ * (212378941 / 319334400.0)

    # The origin's Gaussian latitude and northing at phi0 = 0: both sums vanish (sin 0 = 0), which leaves
    # Zb = -Qn * 0 = -0.0, a sign the inverse's y - Zb sees for y = -0.0.
    z = _latitude_series_python(cbg, 0.0, math.cos(0.0), math.sin(0.0))
    zb = -qn * (z + _sine_series_python(gtu, 2 * z))

    params = np.zeros(UTM_SIZE)
    params[LAM0] = ((zone - 1) + 0.5) * math.pi / 30.0 - math.pi
    params[X0] = 500000.0
    params[Y0] = 10000000.0 if south else 0.0
    params[A] = WGS84_A
    params[RA] = 1.0 / WGS84_A
    params[QN] = qn
    params[ZB] = zb
    params[CBG : CBG + 6] = cbg
    params[GTU : GTU + 6] = gtu
    params[UTG : UTG + 6] = utg
    params[CGB : CGB + 6] = cgb
    return params


def _sine_series_python(coefficients: list[float], arg: float) -> float:
    """tmerc's clens (Python, for the set-up)."""
    factor = 2 * math.cos(arg)
    re1 = 0.0
    re0 = coefficients[5]
    for k in range(4, -1, -1):
        re2 = re1
        re1 = re0
        re0 = -re2 + factor * re1 + coefficients[k]
    return math.sin(arg) * re0


def _degrees_to_radians_as_proj(value: float) -> float:
    """pj_param's parse of an angle in plain degrees (dmstor): the magnitude times DEG_TO_RAD, then the sign."""
    radians = abs(value) * DEG_TO_RAD
    return -radians if value < 0 else radians


def _isometric_factor_python(phi: float, sinphi: float, e: float) -> float:
    cosphi = math.cos(phi)
    return math.exp(e * math.atanh(e * sinphi)) * (cosphi / (1 + sinphi) if sinphi > 0 else (1 - sinphi) / cosphi)


def polar_parameters(lat_0: float, lat_ts: float, lon_0: float) -> FloatArray:
    """The parameter vector of a polar stereographic CRS (lat_0 = +-90, k0 = 1, no false origin), as stere's
    set-up computes it."""
    ellipsoid = wgs84()
    phi0 = _degrees_to_radians_as_proj(lat_0)
    if abs(abs(phi0) - HALF_PI) >= 1e-10:
        raise ValueError(f'lat_0 {lat_0} is not a pole')
    phits = abs(_degrees_to_radians_as_proj(lat_ts))
    e = ellipsoid.e
    if abs(phits - HALF_PI) < 1e-10:
        raise ValueError('lat_ts at the pole (a k0 scale) is not implemented')
    t = math.sin(phits)
    akm1 = math.cos(phits) / _isometric_factor_python(phits, t, e)
    t *= e
    akm1 /= math.sqrt(1.0 - t * t)
    params = np.zeros(POLAR_SIZE)
    params[LAM0] = _degrees_to_radians_as_proj(lon_0)
    params[X0] = 0.0
    params[Y0] = 0.0
    params[A] = WGS84_A
    params[RA] = 1.0 / WGS84_A
    params[POLAR_SCALE] = akm1
    params[ECCENTRICITY] = e
    params[SOUTH] = 1.0 if phi0 < 0 else 0.0
    return params


def supported(epsg: int) -> bool:
    """Whether the EPSG code has compiled kernels."""
    return epsg in UTM_NORTH or epsg in UTM_SOUTH or epsg in POLAR_STEREOGRAPHIC


def parameters(epsg: int) -> tuple[str, FloatArray] | None:
    """('utm' or 'polar', parameter vector) of a supported EPSG code; None for every other CRS."""
    if epsg in UTM_NORTH:
        return 'utm', utm_parameters(epsg - 32600, south=False)
    if epsg in UTM_SOUTH:
        return 'utm', utm_parameters(epsg - 32700, south=True)
    if epsg in POLAR_STEREOGRAPHIC:
        return 'polar', polar_parameters(*POLAR_STEREOGRAPHIC[epsg])
    return None


# ---------------------------------------------------------------------------------------------------------------
# Compiled code. Plain Python until _compile() wraps it with numba.
#
# Each kernel runs its points in chunks of LANES and each step of the projection over the whole chunk before the
# next step: a point's chain of libm calls is long and serial, and the core overlaps the calls of different points
# only when they are close in the instruction stream (~20 % less time than one point after the other). The
# operations of each point are the same, in the same order. A lane whose point PROJ fails computes on zeros and is
# overwritten with inf at the end; a lane with a NaN input gets NaN (PROJ's proj_trans does both).

LANES = 16
VALID = 0
NOT_A_NUMBER = 1  # PROJ returns NaN in every coordinate when any input is NaN
FAILED = 2  # PROJ's error value, HUGE_VAL (inf) in every coordinate
ITERATING = 3  # the polar inverse's latitude has not converged yet


def _adjlon(lam):
    """PROJ's adjlon: a longitude into [-pi, pi], left alone when already (nearly) there."""
    if math.fabs(lam) < WRAP_LIMIT:
        return lam
    lam += math.pi
    lam -= TWO_PI * np.floor(lam / TWO_PI)  # numba's math.floor returns an integer (wrong for NaN)
    lam -= math.pi
    return lam


def _geodetic_input(lat_deg, lon_deg, lam0):
    """(status, phi, lam) of a geodetic point as PROJ's projection sees it: unitconvert's degrees to radians, then
    pj_fwd's checks, latitude clamp and longitude from the central meridian (zeros where PROJ fails the point)."""
    if math.isnan(lat_deg) or math.isnan(lon_deg):
        return NOT_A_NUMBER, 0.0, 0.0
    lam = lon_deg * DEG_TO_RAD
    phi = lat_deg * DEG_TO_RAD
    if lam == math.inf or phi == math.inf:  # PROJ's HUGE_VAL tests (an error value from a previous step)
        return FAILED, 0.0, 0.0
    if (-phi if phi < 0 else phi) - HALF_PI > LATITUDE_TOLERANCE:
        return FAILED, 0.0, 0.0
    if lam > LONGITUDE_LIMIT or lam < -LONGITUDE_LIMIT:
        return FAILED, 0.0, 0.0
    phi = max(min(phi, HALF_PI), -HALF_PI)
    lam = _adjlon(lam)
    lam = _adjlon(lam - lam0)  # PROJ's (lam - from_greenwich) - lam0 with from_greenwich = 0: lam - 0.0 is lam
    return VALID, phi, lam


def _projected_input(x, y, x0, y0, ra):
    """(status, x, y) of a map point as PROJ's inverse projection sees it: pj_inv's false origin removed and the
    result in units of the semi-major axis (to_meter = 1: PROJ's 1 * x is x)."""
    if math.isnan(x) or math.isnan(y):
        return NOT_A_NUMBER, 0.0, 0.0
    if x == math.inf or y == math.inf:
        return FAILED, 0.0, 0.0
    x = (x - x0) * ra
    y = (y - y0) * ra
    if x == math.inf:
        return FAILED, 0.0, 0.0
    return VALID, x, y


def _geodetic_output(status, phi, lam, lam0):
    """(lat, lon) in degrees from an inverse projection's (phi, lam) relative to the central meridian: pj_inv's
    finalisation (from_greenwich = 0.0 added as PROJ does, which turns -0.0 into 0.0) and unitconvert."""
    if status == NOT_A_NUMBER:
        return math.nan, math.nan
    if status == FAILED:
        return math.inf, math.inf
    lam = _adjlon(lam + 0.0 + lam0)
    return phi * RAD_TO_DEG, lam * RAD_TO_DEG


def _projected_output(status, x, y, a, x0, y0):
    """(x, y) in metres from a forward projection's result in units of a: pj_fwd's finalisation (fr_meter = 1)."""
    if status == NOT_A_NUMBER:
        return math.nan, math.nan
    if status == FAILED:
        return math.inf, math.inf
    return x * a + x0, y * a + y0


def _hypot(x, y):
    """libm's hypot: numba calls it for math.hypot; uncompiled (NUMBA_DISABLE_JIT=1), _compile() binds libm's
    own, because CPython's math.hypot is an algorithm of its own, with other last bits."""
    return math.hypot(x, y)


def _libm_hypot() -> Any:
    libm = ctypes.CDLL(ctypes.util.find_library('m'))
    function = libm.hypot
    function.restype = ctypes.c_double
    function.argtypes = (ctypes.c_double, ctypes.c_double)
    return function


def _latitude_series(params, start, b, cos_2b, sin_2b):
    """tmerc's real Clenshaw sum for the Gaussian <-> geodetic latitude (series params[start:start + 6])."""
    sum0 = 0.0
    sum2 = 0.0
    twice_cos = 2 * cos_2b
    sum1 = params[start + 5]
    for k in range(4, -1, -1):
        sum0 = -sum2 + twice_cos * sum1 + params[start + k]
        sum2 = sum1
        sum1 = sum0
    return b + sum0 * sin_2b


def _complex_series(params, start, sin_2u, cos_2u, sinh_2v, cosh_2v):
    """tmerc's complex Clenshaw sum (series params[start:start + 6]): its real and imaginary parts."""
    step_re = 2 * cos_2u * cosh_2v  # 2 cos(2w) of w = u + iv: the recurrence's factor
    step_im = -2 * sin_2u * sinh_2v
    im1 = 0.0
    re1 = 0.0
    im0 = 0.0
    re0 = params[start + 5]
    for k in range(4, -1, -1):
        re2 = re1
        im2 = im1
        re1 = re0
        im1 = im0
        re0 = -re2 + step_re * re1 - step_im * im1 + params[start + k]
        im0 = -im2 + step_im * re1 + step_re * im1
    sin_re = sin_2u * cosh_2v  # sin(2w)
    sin_im = cos_2u * sinh_2v
    return sin_re * re0 - sin_im * im0, sin_re * im0 + sin_im * re0


def _isometric_factor(phi, sinphi, e):
    """PROJ's pj_tsfn: exp(-isometric latitude)."""
    cosphi = math.cos(phi)
    return math.exp(e * math.atanh(e * sinphi)) * (cosphi / (1 + sinphi) if sinphi > 0 else (1 - sinphi) / cosphi)


def utm_to_map_kernel(params, lat_deg, lon_deg, x_out, y_out):
    """Geodetic degrees -> UTM easting, northing: PROJ's unitconvert, then utm's exact forward (exact_e_fwd)."""
    lam0 = params[LAM0]
    qn = params[QN]
    zb = params[ZB]
    state = np.empty(LANES, dtype=np.int8)
    work = np.empty((5, LANES))
    total = lat_deg.size
    for start in range(0, total, LANES):
        count = min(LANES, total - start)
        for lane in range(count):  # geodetic -> Gaussian latitude
            status, phi, lam = _geodetic_input(lat_deg[start + lane], lon_deg[start + lane], lam0)
            state[lane] = status
            work[0, lane] = _latitude_series(params, CBG, phi, math.cos(2 * phi), math.sin(2 * phi))
            work[1, lane] = lam
        for lane in range(count):  # Gaussian -> complementary spherical latitude
            u = work[0, lane]
            lam = work[1, lane]
            sin_u = math.sin(u)
            cos_u = math.cos(u)
            sin_lam = math.sin(lam)
            cos_lam = math.cos(lam)
            work[0, lane] = sin_u
            work[1, lane] = cos_u * cos_lam
            work[2, lane] = sin_lam * cos_u  # the first product of tan_v = sin_lam * cos_u * inverse_norm
        for lane in range(count):
            work[3, lane] = math.atan2(work[0, lane], work[1, lane])  # the complementary spherical latitude
            work[4, lane] = 1.0 / _hypot(work[0, lane], work[1, lane])
        for lane in range(count):  # spherical -> ellipsoidal normalised northing and easting
            sin_u = work[0, lane]
            cos_u_cos_lam = work[1, lane]
            u = work[3, lane]
            inverse_norm = work[4, lane]
            tan_v = work[2, lane] * inverse_norm
            v = math.asinh(tan_v)
            # sin, cos of 2u and sinh, cosh of 2v from the terms at hand, by PROJ's identities rather than libm
            twice_inverse_norm = 2 * inverse_norm
            twice_inverse_norm_squared = twice_inverse_norm * inverse_norm
            scale = cos_u_cos_lam * twice_inverse_norm_squared
            sin_2u = sin_u * scale
            cos_2u = cos_u_cos_lam * scale - 1
            sinh_2v = tan_v * twice_inverse_norm
            cosh_2v = twice_inverse_norm_squared - 1
            du, dv = _complex_series(params, GTU, sin_2u, cos_2u, sinh_2v, cosh_2v)
            u += du
            v += dv
            status = state[lane]
            if status == VALID and not math.fabs(v) <= TMERC_LIMIT:
                status = FAILED
            x, y = _projected_output(status, qn * v, qn * u + zb, params[A], params[X0], params[Y0])
            x_out[start + lane] = x
            y_out[start + lane] = y


def utm_to_geographic_kernel(params, x_in, y_in, lat_out, lon_out):
    """UTM easting, northing -> geodetic degrees: utm's exact inverse (exact_e_inv), then PROJ's unitconvert.

    sin and cos of 2u depend on the northing only: a point with the northing of the point before it (along a row
    of a grid) reuses them, the same libm results.
    """
    lam0 = params[LAM0]
    qn = params[QN]
    zb = params[ZB]
    state = np.empty(LANES, dtype=np.int8)
    work = np.empty((6, LANES))
    previous_u = math.nan
    sin_2u = math.nan
    cos_2u = math.nan
    total = x_in.size
    for start in range(0, total, LANES):
        count = min(LANES, total - start)
        for lane in range(count):  # normalised N, E -> complementary spherical latitude, longitude
            status, x, y = _projected_input(x_in[start + lane], y_in[start + lane], params[X0], params[Y0], params[RA])
            u = (y - zb) / qn
            v = x / qn
            if status == VALID and not math.fabs(v) <= TMERC_LIMIT:  # beyond ~150 degrees from the meridian
                status = FAILED
            if status != VALID:
                u = 0.0
                v = 0.0
            state[lane] = status
            if not (u == previous_u and u != 0.0):  # not at 0: sin(2 * -0.0) is -0.0
                sin_2u = math.sin(2 * u)
                cos_2u = math.cos(2 * u)
                previous_u = u
            exp_2v = math.exp(2 * v)
            half_inverse_exp_2v = 0.5 / exp_2v
            sinh_2v = 0.5 * exp_2v - half_inverse_exp_2v
            cosh_2v = 0.5 * exp_2v + half_inverse_exp_2v
            du, dv = _complex_series(params, UTG, sin_2u, cos_2u, sinh_2v, cosh_2v)
            work[0, lane] = u + du
            work[1, lane] = v + dv
        for lane in range(count):
            u = work[0, lane]
            work[0, lane] = math.sin(u)
            work[2, lane] = math.cos(u)
            work[1, lane] = math.sinh(work[1, lane])
        for lane in range(count):  # -> Gaussian latitude and the longitude
            sin_u = work[0, lane]
            sinh_v = work[1, lane]
            cos_u = work[2, lane]
            work[3, lane] = math.atan2(sinh_v, cos_u)
            modulus = _hypot(sinh_v, cos_u)
            work[4, lane] = modulus
            work[5, lane] = math.atan2(sin_u, modulus)
        for lane in range(count):  # Gaussian -> geodetic latitude (sin and cos of 2 chi from the terms at hand)
            sin_u = work[0, lane]
            sinh_v = work[1, lane]
            modulus = work[4, lane]
            scale = 2 * modulus / (sinh_v * sinh_v + 1)
            sin_2chi = sin_u * scale
            cos_2chi = scale * modulus - 1.0
            phi = _latitude_series(params, CGB, work[5, lane], cos_2chi, sin_2chi)
            lat, lon = _geodetic_output(state[lane], phi, work[3, lane], lam0)
            lat_out[start + lane] = lat
            lon_out[start + lane] = lon


def polar_to_map_kernel(params, lat_deg, lon_deg, x_out, y_out):
    """Geodetic degrees -> polar stereographic x, y: PROJ's unitconvert, then stere's ellipsoidal forward at a pole
    (stere_e_forward, N_POLE / S_POLE)."""
    lam0 = params[LAM0]
    pole_scale = params[POLAR_SCALE]
    e = params[ECCENTRICITY]
    south = params[SOUTH] != 0.0
    state = np.empty(LANES, dtype=np.int8)
    work = np.empty((4, LANES))
    total = lat_deg.size
    for start in range(0, total, LANES):
        count = min(LANES, total - start)
        for lane in range(count):
            status, phi, lam = _geodetic_input(lat_deg[start + lane], lon_deg[start + lane], lam0)
            state[lane] = status
            coslam = math.cos(lam)
            sinlam = math.sin(lam)
            sinphi = math.sin(phi)
            if south:  # the south pole's aspect is the north's, mirrored
                phi = -phi
                coslam = -coslam
                sinphi = -sinphi
            work[0, lane] = phi
            work[1, lane] = sinphi
            work[2, lane] = coslam
            work[3, lane] = sinlam
        for lane in range(count):
            phi = work[0, lane]
            if math.fabs(phi - HALF_PI) < POLE_TOLERANCE:
                x = 0.0
            else:
                x = pole_scale * _isometric_factor(phi, work[1, lane], e)
            y = -x * work[2, lane]
            x = x * work[3, lane]
            x, y = _projected_output(state[lane], x, y, params[A], params[X0], params[Y0])
            x_out[start + lane] = x
            y_out[start + lane] = y


def polar_to_geographic_kernel(params, x_in, y_in, lat_out, lon_out):
    """Polar stereographic x, y -> geodetic degrees: stere's ellipsoidal inverse at a pole (stere_e_inverse), then
    PROJ's unitconvert. The lanes iterate the latitude in lock-step; a point that has not converged after PROJ's 8
    iterations fails, as in PROJ."""
    lam0 = params[LAM0]
    pole_scale = params[POLAR_SCALE]
    e = params[ECCENTRICITY]
    south = params[SOUTH] != 0.0
    half_e = -0.5 * e
    state = np.empty(LANES, dtype=np.int8)
    work = np.empty((4, LANES))  # x, y, t, latitude iterate
    total = x_in.size
    for start in range(0, total, LANES):
        count = min(LANES, total - start)
        for lane in range(count):
            status, x, y = _projected_input(x_in[start + lane], y_in[start + lane], params[X0], params[Y0], params[RA])
            rho = _hypot(x, y)
            if not south:
                y = -y
            t = -rho / pole_scale
            state[lane] = status
            work[0, lane] = x
            work[1, lane] = y
            work[2, lane] = t
            work[3, lane] = HALF_PI - 2.0 * math.atan(t)
        pending = 0
        for lane in range(count):
            if state[lane] == VALID:
                state[lane] = ITERATING
                pending += 1
        for _ in range(STERE_ITERATIONS):
            if pending == 0:
                break
            for lane in range(count):
                if state[lane] != ITERATING:
                    continue
                phi_guess = work[3, lane]
                sinphi = e * math.sin(phi_guess)
                phi = 2.0 * math.atan(work[2, lane] * math.pow((1.0 + sinphi) / (1.0 - sinphi), half_e)) + HALF_PI
                work[3, lane] = phi
                if math.fabs(phi_guess - phi) < STERE_TOLERANCE:
                    state[lane] = VALID
                    pending -= 1
        for lane in range(count):
            if state[lane] == ITERATING:  # no convergence: PROJ's error
                state[lane] = FAILED
        for lane in range(count):
            x = work[0, lane]
            y = work[1, lane]
            phi = work[3, lane]
            if south:
                phi = -phi
            lam = 0.0 if (x == 0.0 and y == 0.0) else math.atan2(x, y)
            lat, lon = _geodetic_output(state[lane], phi, lam, lam0)
            lat_out[start + lane] = lat
            lon_out[start + lane] = lon


_HELPERS = (
    '_adjlon',
    '_hypot',
    '_geodetic_input',
    '_projected_input',
    '_geodetic_output',
    '_projected_output',
    '_latitude_series',
    '_complex_series',
    '_isometric_factor',
)
_INLINED = (
    '_latitude_series',
    '_complex_series',
)  # they take the parameter array: inlined, no reference counts per point


class Kernels(NamedTuple):
    utm_to_map: Any
    utm_to_geographic: Any
    polar_to_map: Any
    polar_to_geographic: Any


_compile_lock = threading.Lock()
_kernels: Kernels | None = None


def _compile() -> Kernels:
    numba = numba_target.import_numba()

    def jit(function: Any, inline: Literal['never', 'always'] = 'never') -> Any:
        return numba.njit(cache=True, nogil=True, fastmath=False, error_model='numpy', inline=inline)(function)

    # Module-level names are resolved at compile time, so the helpers are compiled and bound here first.
    module = globals()
    for name in _HELPERS:
        module[name] = jit(module[name], 'always' if name in _INLINED else 'never')
    if numba.config.DISABLE_JIT:
        module['_hypot'] = _libm_hypot()
    return Kernels(
        utm_to_map=jit(utm_to_map_kernel),
        utm_to_geographic=jit(utm_to_geographic_kernel),
        polar_to_map=jit(polar_to_map_kernel),
        polar_to_geographic=jit(polar_to_geographic_kernel),
    )


def compiled() -> Kernels:
    """The kernels compiled with numba (loaded from its cache when it is warm). Thread-safe."""
    global _kernels
    with _compile_lock:  # the first call may come from several threads at once
        if _kernels is None:
            _kernels = _compile()
        return _kernels


def loaded() -> Kernels | None:
    """The kernels if compiled() has returned them already, else None; never waits."""
    return _kernels
