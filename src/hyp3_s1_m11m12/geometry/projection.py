"""Map projections between geodetic WGS84 (EPSG:4326) and a projected CRS: pyproj's results.

autoRIFT's Geogrid transforms with OGR, EPSG:4326 in its authority (lat, lon) order and the map CRS as
(x = easting, y = northing); heights pass through unchanged (the map z is the ellipsoidal height). Here the
functions take and return latitude/longitude in degrees and easting/northing in the CRS units, whatever the
CRS's declared axis order (`always_xy`), and leave heights alone.

The CRSs ITS_LIVE uses (UTM north and south, EPSG 3413 and 3031) run compiled kernels that return pyproj's bits at
a fraction of its cost (fast_projection.py); every other CRS runs pyproj. The kernels are used once loaded
(nodes.warm_up_kernels loads them at the start of a run, in the background): until then, a call with fewer than
WAIT_FOR_KERNELS_POINTS points runs pyproj rather than wait for numba, a larger one loads them. On the first use of
a CRS the kernels are checked against the installed pyproj on points across its domain and beyond, and the CRS
stays with pyproj (with a warning) if any bit differs, e.g. after a PROJ upgrade that changed the algorithm or a
proj.ini that selects the approximate transverse Mercator. pyproj Transformers are cached per thread because one
must not be shared between threads.
"""

import logging
import threading
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pyproj

from hyp3_s1_m11m12.geometry import fast_projection


log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
GEOGRAPHIC_EPSG = 4326
WAIT_FOR_KERNELS_POINTS = 4096  # fewer points take < 1 ms in pyproj: not worth waiting for numba's import

_local = threading.local()


def _transformers(epsg: int) -> tuple[pyproj.Transformer, pyproj.Transformer]:
    cache: dict[int, tuple[pyproj.Transformer, pyproj.Transformer]] = getattr(_local, 'cache', None) or {}
    _local.cache = cache
    if epsg not in cache:
        geographic = pyproj.CRS.from_epsg(GEOGRAPHIC_EPSG)
        projected = pyproj.CRS.from_epsg(epsg)
        cache[epsg] = (
            pyproj.Transformer.from_crs(projected, geographic, always_xy=True),
            pyproj.Transformer.from_crs(geographic, projected, always_xy=True),
        )
    return cache[epsg]


def _transform(transformer: pyproj.Transformer, a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    first = np.asarray(a, dtype=np.float64)
    second = np.asarray(b, dtype=np.float64)
    if first.size == 1 and second.size == 1:  # pyproj's one-point path wants Python floats
        one, two = transformer.transform(float(first.reshape(-1)[0]), float(second.reshape(-1)[0]))
        return np.full(first.shape, one, dtype=np.float64), np.full(second.shape, two, dtype=np.float64)
    one, two = transformer.transform(first, second)
    return np.asarray(one, dtype=np.float64), np.asarray(two, dtype=np.float64)


class _Compiled(NamedTuple):
    """A supported CRS's two compiled kernels (numba dispatchers) and its parameter vector."""

    to_map: Any
    to_geographic: Any
    params: FloatArray


def _compiled_definition(epsg: int, kernels: fast_projection.Kernels) -> _Compiled:
    definition = fast_projection.parameters(epsg)
    if definition is None:
        raise ValueError(f'EPSG:{epsg} has no compiled projection')
    kind, params = definition
    return _Compiled(getattr(kernels, f'{kind}_to_map'), getattr(kernels, f'{kind}_to_geographic'), params)


def _vector(values: FloatArray) -> FloatArray:
    """A writeable C-contiguous float64 vector: the one array type the kernels are compiled (and cached) for."""
    return np.require(values.reshape(-1), dtype=np.float64, requirements=['C', 'W'])


def _run(kernel: Any, params: FloatArray, a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    first = np.asarray(a, dtype=np.float64)
    second = np.asarray(b, dtype=np.float64)
    if first.shape != second.shape:
        first, second = np.broadcast_arrays(first, second)
    one = np.empty(first.size)
    two = np.empty(first.size)
    kernel(params, _vector(first), _vector(second), one, two)
    return one.reshape(first.shape), two.reshape(first.shape)


def _check_points(epsg: int) -> tuple[FloatArray, FloatArray]:
    """(lat, lon) in degrees across a supported CRS's domain and beyond it, with NaN, inf and points PROJ fails."""
    if epsg in fast_projection.POLAR_STEREOGRAPHIC:
        sign = 1.0 if fast_projection.POLAR_STEREOGRAPHIC[epsg][0] > 0 else -1.0
        lat = sign * np.array([90.0, 89.9, 85.0, 80.0, 75.0, 71.0, 70.0, 65.0, 60.0, 50.0, 0.0, -60.0, -90.0])
        lon = np.array([-180.0, -135.0, -45.0, -0.0, 0.0, 30.0, 90.0, 179.0, 180.0])
    else:
        central = 6.0 * (epsg % 100) - 183.0
        lat = np.array([-80.0, -60.0, -30.0, -1.0, -0.0, 0.0, 0.5, 10.0, 45.0, 60.0, 72.0, 84.0, 90.0])
        lon = central + np.array([-90.0, -6.0, -3.0, -0.2, 0.0, 1.0, 3.0, 6.0, 170.0])
    grid_lat, grid_lon = (array.reshape(-1) for array in np.meshgrid(lat, lon))
    special = np.array([np.nan, np.inf, -np.inf, 1e308, 600.0, 45.0])
    return np.concatenate([grid_lat, special, special[::-1]]), np.concatenate([grid_lon, special[::-1], special])


def _same_bits(first: FloatArray, second: FloatArray) -> bool:
    return bool(np.array_equal(first.view(np.uint64), second.view(np.uint64)))


def _agrees_with_pyproj(epsg: int, compiled: _Compiled) -> bool:
    """Whether the kernels return the installed pyproj's bits for _check_points in both directions."""
    to_geographic, to_map = _transformers(epsg)
    lat, lon = _check_points(epsg)
    x, y = _run(compiled.to_map, compiled.params, lat, lon)
    expected_x, expected_y = _transform(to_map, lon, lat)
    back_lat, back_lon = _run(compiled.to_geographic, compiled.params, expected_x, expected_y)
    expected_lon, expected_lat = _transform(to_geographic, expected_x, expected_y)
    return all(
        _same_bits(mine, theirs)
        for mine, theirs in ((x, expected_x), (y, expected_y), (back_lat, expected_lat), (back_lon, expected_lon))
    )


_check_lock = threading.Lock()
_checked: dict[int, _Compiled | None] = {}  # EPSG -> its kernels, None where pyproj's bits differ


def _compiled_for(epsg: int, points: int) -> _Compiled | None:
    """The kernels for `points` points of `epsg`; None: pyproj (another CRS, or kernels not loaded yet)."""
    if not fast_projection.supported(epsg):
        return None
    kernels = fast_projection.loaded()
    if kernels is None:
        if points < WAIT_FOR_KERNELS_POINTS:
            return None
        kernels = fast_projection.compiled()
    if epsg not in _checked:
        with _check_lock:
            if epsg not in _checked:
                compiled = _compiled_definition(epsg, kernels)
                agrees = _agrees_with_pyproj(epsg, compiled)
                if not agrees:
                    log.warning(
                        f'the compiled projection of EPSG:{epsg} does not return the bits of pyproj '
                        f'{pyproj.__version__} (PROJ {pyproj.proj_version_str}): EPSG:{epsg} stays with pyproj'
                    )
                _checked[epsg] = compiled if agrees else None
    return _checked[epsg]


def warm_up_projections() -> None:
    """Load the compiled kernels and call each on empty arrays of a run's types (numba loads a signature's machine
    code on its first call)."""
    kernels = fast_projection.compiled()
    for epsg in (32601, 3413):  # one CRS per kernel pair
        compiled = _compiled_definition(epsg, kernels)
        _run(compiled.to_map, compiled.params, np.empty(0), np.empty(0))
        _run(compiled.to_geographic, compiled.params, np.empty(0), np.empty(0))


@dataclass(frozen=True)
class MapProjection:
    """A projected CRS identified by its EPSG code."""

    epsg: int

    def to_geographic(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Map (easting, northing) to (latitude, longitude) in degrees."""
        compiled = _compiled_for(self.epsg, np.size(x))
        if compiled is not None:
            return _run(compiled.to_geographic, compiled.params, x, y)
        to_geographic, _ = _transformers(self.epsg)
        lon, lat = _transform(to_geographic, x, y)
        return lat, lon

    def to_map(self, lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """(latitude, longitude) in degrees to map (easting, northing)."""
        compiled = _compiled_for(self.epsg, np.size(lat_deg))
        if compiled is not None:
            return _run(compiled.to_map, compiled.params, lat_deg, lon_deg)
        _, to_map = _transformers(self.epsg)
        return _transform(to_map, lon_deg, lat_deg)
