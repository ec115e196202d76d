"""Map projections between geodetic WGS84 (EPSG:4326) and a projected CRS, through pyproj.

autoRIFT's Geogrid transforms with OGR, EPSG:4326 in its authority (lat, lon) order and the map CRS as
(x = easting, y = northing); heights pass through unchanged (the map z is the ellipsoidal height). Here the
functions take and return latitude/longitude in degrees and easting/northing in the CRS units, whatever the
CRS's declared axis order (`always_xy`), and leave heights alone. Transformers are cached per thread because a
pyproj Transformer must not be shared between threads.
"""

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyproj


FloatArray = npt.NDArray[np.float64]
GEOGRAPHIC_EPSG = 4326

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


@dataclass(frozen=True)
class MapProjection:
    """A projected CRS identified by its EPSG code."""

    epsg: int

    def to_geographic(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Map (easting, northing) to (latitude, longitude) in degrees."""
        to_geographic, _ = _transformers(self.epsg)
        lon, lat = _transform(to_geographic, x, y)
        return lat, lon

    def to_map(self, lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """(latitude, longitude) in degrees to map (easting, northing)."""
        _, to_map = _transformers(self.epsg)
        return _transform(to_map, lon_deg, lat_deg)
