"""Synthetic Geogrid inputs shared by the engine, cross-check and fault tests: the simulated scene's radar geometry
with a parameter raster grid centred on it."""

from pathlib import Path

import numpy as np

from hyp3_s1_m11m12.geogrid.types import ParameterRasters
from hyp3_s1_m11m12.geometry.projection import MapProjection
from hyp3_s1_m11m12.simulate.acquisition import DEFAULT_CENTER_LAT_DEG, DEFAULT_CENTER_LON_DEG
from hyp3_s1_m11m12.simulate.parameters import MapGrid, utm_epsg, write_parameter_rasters


DT_12_DAYS_S = 1036799.636  # the repeat time of the pair in autoRIFT issue 99


def rasters_around_scene(folder: Path, columns: int = 40, rows: int = 30, spacing_m: float = 240.0) -> ParameterRasters:
    """ITS_LIVE-style parameter rasters on a UTM grid of `columns` x `rows` cells centred on the simulated scene."""
    epsg = utm_epsg(DEFAULT_CENTER_LON_DEG, DEFAULT_CENTER_LAT_DEG)
    x, y = MapProjection(epsg).to_map(np.array([DEFAULT_CENTER_LAT_DEG] * 2), np.array([DEFAULT_CENTER_LON_DEG] * 2))
    grid = MapGrid(
        epsg=epsg,
        x_min_m=float(np.floor(x[0] / spacing_m) * spacing_m - columns // 2 * spacing_m),
        y_max_m=float(np.ceil(y[0] / spacing_m) * spacing_m + rows // 2 * spacing_m),
        spacing_m=spacing_m,
        columns=columns,
        rows=rows,
    )
    return write_parameter_rasters(grid, folder)
