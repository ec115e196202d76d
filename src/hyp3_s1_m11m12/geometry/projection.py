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


@dataclass(frozen=True)
class MapProjection:
    """A projected CRS identified by its EPSG code."""

    epsg: int

    def to_geographic(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Map (easting, northing) to (latitude, longitude) in degrees."""
        to_geographic, _ = _transformers(self.epsg)
        lon, lat = to_geographic.transform(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)

    def to_map(self, lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """(latitude, longitude) in degrees to map (easting, northing)."""
        _, to_map = _transformers(self.epsg)
        x, y = to_map.transform(np.asarray(lon_deg, dtype=np.float64), np.asarray(lat_deg, dtype=np.float64))
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def is_projected_epsg(epsg: int) -> bool:
    try:
        return bool(pyproj.CRS.from_epsg(epsg).is_projected)
    except pyproj.exceptions.CRSError:
        return False
