"""Geogrid's vocabulary, each term defined once: its parameter rasters, its output files and its constants.

Every other list of raster names, shapefile fields, ISCE2 attributes, output files, band counts or dtypes reads
these two tables. Importable without numba (the tables are plain data).
"""

import math
from typing import NamedTuple

import numpy as np


class ParameterRaster(NamedTuple):
    name: str  # the ParameterRasters field and the kernel's name for it
    shapefile_field: str  # hyp3-autorift's find_jpl_parameter_info field of the ITS_LIVE parameter shapefile
    isce2_attribute: str  # the attribute testGeogrid_ISCE.runGeogrid sets on autoRIFT's Geogrid object


# In the order of ParameterRasters' fields; the rows after the DEM are in the kernel's order (RASTER_ROWS).
PARAMETER_RASTERS = (
    ParameterRaster('dem', 'h', 'demname'),
    ParameterRaster('dhdx', 'dhdx', 'dhdxname'),
    ParameterRaster('dhdy', 'dhdy', 'dhdyname'),
    ParameterRaster('vx', 'vx0', 'vxname'),
    ParameterRaster('vy', 'vy0', 'vyname'),
    ParameterRaster('srx', 'vxSearchRan', 'srxname'),
    ParameterRaster('sry', 'vySearchRan', 'sryname'),
    ParameterRaster('csminx', 'xMinChipSiz', 'csminxname'),
    ParameterRaster('csminy', 'yMinChipSiz', 'csminyname'),
    ParameterRaster('csmaxx', 'xMaxChipSiz', 'csmaxxname'),
    ParameterRaster('csmaxy', 'yMaxChipSiz', 'csmaxyname'),
    ParameterRaster('ssm', 'StableSurfa', 'ssmname'),
)
RASTER_NAMES = tuple(raster.name for raster in PARAMETER_RASTERS)
# The rasters that come in x/y pairs: both or neither must be given.
RASTER_PAIRS = (('dhdx', 'dhdy'), ('vx', 'vy'), ('srx', 'sry'), ('csminx', 'csminy'), ('csmaxx', 'csmaxy'))
# Row of each raster but the DEM in the (11, n) value stack the outputs kernel reads.
RASTER_ROWS = {name: row for row, name in enumerate(RASTER_NAMES[1:])}


class OutputFile(NamedTuple):
    file: str  # the window_*.tif name
    bands: int
    dtype: type[np.generic]
    isce2_attribute: str  # testGeogrid_ISCE.runGeogrid's attribute for the file name
    needs: tuple[str, ...]  # the rasters autoRIFT writes it for (all must be given; spec section 1.3)
    first_row: int  # its first band's row in the kernel's int32 or float64 output stack (of its dtype)


LOCATION = 'window_location.tif'
OFFSET = 'window_offset.tif'
SEARCH_RANGE = 'window_search_range.tif'
CHIP_SIZE_MIN = 'window_chip_size_min.tif'
CHIP_SIZE_MAX = 'window_chip_size_max.tif'
STABLE_SURFACE_MASK = 'window_stable_surface_mask.tif'
OFF2VEL_X = 'window_rdr_off2vel_x_vec.tif'
OFF2VEL_Y = 'window_rdr_off2vel_y_vec.tif'
SCALE_FACTOR = 'window_scale_factor.tif'

# Every output's nodata is the run's nodata_out (GeogridSettings; geogrid.cpp sets it on every band).
# LOCATION is filled by the radar kernel (its own (2, n) array), the rest by the outputs kernel at `first_row`.
OUTPUT_FILES = (
    OutputFile(LOCATION, 2, np.int32, 'winlocname', ('dem',), 0),
    OutputFile(OFFSET, 2, np.int32, 'winoffname', ('dem', 'dhdx', 'vx'), 0),
    OutputFile(SEARCH_RANGE, 2, np.int32, 'winsrname', ('dem', 'dhdx', 'srx'), 2),
    OutputFile(CHIP_SIZE_MIN, 2, np.int32, 'wincsminname', ('dem', 'csminx'), 4),
    OutputFile(CHIP_SIZE_MAX, 2, np.int32, 'wincsmaxname', ('dem', 'csmaxx'), 6),
    OutputFile(STABLE_SURFACE_MASK, 1, np.int32, 'winssmname', ('dem', 'ssm'), 8),
    OutputFile(OFF2VEL_X, 3, np.float64, 'winro2vxname', ('dem', 'dhdx'), 0),
    OutputFile(OFF2VEL_Y, 3, np.float64, 'winro2vyname', ('dem', 'dhdx'), 3),
    OutputFile(SCALE_FACTOR, 2, np.float64, 'winsfname', ('dem', 'dhdx'), 6),
)
OUTPUTS = {output.file: output for output in OUTPUT_FILES}
# The files whose bands do not depend on dt: the radar kernel's location, and the outputs kernel's chip sizes,
# stable-surface mask and scale factor (range/azimuth lengths over pixel sizes), none of which reads dt or the
# search factor. A run for several dt values writes them once and copies the bytes (kernels.outputs_kernel).
DT_INDEPENDENT_OUTPUTS = frozenset({LOCATION, CHIP_SIZE_MIN, CHIP_SIZE_MAX, STABLE_SURFACE_MASK, SCALE_FACTOR})
OUTPUT_NAMES = tuple(output.file for output in OUTPUT_FILES)
INT_ROWS = 9  # rows of the outputs kernel's int32 stack: offset 2, search range 2, chip sizes 2 + 2, mask 1
FLOAT_ROWS = 8  # rows of its float64 stack: off2vel x 3, off2vel y 3, scale factor 2


def outputs_for(present: frozenset[str] | set[str]) -> tuple[str, ...]:
    """Which files autoRIFT writes for a set of given rasters (spec section 1.3, last paragraph)."""
    return tuple(output.file for output in OUTPUT_FILES if all(name in present for name in output.needs))


# Constants of geogrid.cpp (and ISCE2), each defined once.
DEG2RAD = math.pi / 180.0  # geogrid.cpp's deg2rad; degrees are formed as radians / DEG2RAD, as there
DEGENERACY_LIMIT_DEG = 1.0  # the matrix is written only where the normal is > 1 degree off the range/azimuth plane
NEWTON_ITERATIONS = 51  # geogrid.cpp's fixed geo2rdr count
TOPO_ITERATIONS = 10  # geogrid.cpp's fixed count for the along-track "topo" step
INT32_MIN = -2147483648  # what x86 gives for a double -> int conversion of NaN or out of range
