"""Reading Geogrid's parameter rasters with GDAL: grid checks, the DEM's EPSG code, and windowed reads.

Only the window Geogrid needs is ever read (RasterIO of [lOff:lOff+lCount, pOff:pOff+pCount] in row blocks), so
remote rasters (/vsicurl/, /vsis3/) are fetched block by block, not whole.
"""

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from osgeo import gdal, osr

from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid.types import ParameterRasters
from hyp3_s1_m11m12.geogrid.vocabulary import RASTER_PAIRS


gdal.UseExceptions()
osr.UseExceptions()

# What GDALRasterBand::GetNoDataValue returns when no nodata value is set; geogrid.cpp compares against it.
GDAL_DEFAULT_NODATA = -1e10
GEOTRANSFORM_RELATIVE_TOLERANCE = 1e-9
# GDAL's block cache (5 % of RAM by default) would keep every decompressed input tile of a run: bound it to what
# the row-block reads need while Geogrid runs. The blocks walk down the rows, so one row of tiles of every raster
# is reused until the next starts (less decompresses tiles again: twice the CPU at 60 m); half a row more covers
# the block that straddles two.
BLOCK_CACHE_TILE_ROWS = 1.5
BLOCK_CACHE_MINIMUM_BYTES = 16 * 2**20


@dataclass(frozen=True)
class DemGrid:
    """The DEM's grid: every other raster must share it."""

    geotransform: tuple[float, float, float, float, float, float]
    x_size: int
    y_size: int
    epsg: int
    wkt: str


@dataclass
class OpenRasters:
    """Open GDAL datasets (kept referenced while their bands are used; GDAL 3.6's bindings need that)."""

    grid: DemGrid
    datasets: dict[str, gdal.Dataset]
    vx_nodata: float | None  # None: no vx raster, so no nodata test (geogrid.cpp would compare to garbage)
    dem_nodata: float | None = None  # the DEM band's nodata value, if it has one
    lock: threading.Lock = field(default_factory=threading.Lock)

    def block_cache_bytes(self, x_count: int) -> int:
        """Cache for BLOCK_CACHE_TILE_ROWS rows of tiles of every raster over `x_count` columns."""
        total = 0
        for dataset in self.datasets.values():
            band = dataset.GetRasterBand(1)
            block_x, block_y = band.GetBlockSize()
            columns = (math.ceil(x_count / max(block_x, 1)) + 1) * block_x
            total += columns * block_y * gdal.GetDataTypeSize(band.DataType) // 8
        return max(BLOCK_CACHE_MINIMUM_BYTES, int(BLOCK_CACHE_TILE_ROWS * total))

    def dem_nodata_count(self, dem: npt.NDArray[np.float64]) -> int:
        """How many DEM heights are the DEM's nodata value (or NaN)."""
        missing = np.isnan(dem)
        if self.dem_nodata is not None and not math.isnan(self.dem_nodata):
            missing |= dem == self.dem_nodata
        return int(np.count_nonzero(missing))

    def read_window(self, x_off: int, y_off: int, x_count: int, y_count: int) -> dict[str, npt.NDArray[np.float64]]:
        """Band 1 of every raster over the window, as float64 (what geogrid.cpp's RasterIO to GDT_Float64 gives)."""
        arrays = {}
        with self.lock:  # a GDAL dataset must not be used from two threads at once
            for name, dataset in self.datasets.items():
                try:
                    band = dataset.GetRasterBand(1)
                    arrays[name] = band.ReadAsArray(x_off, y_off, x_count, y_count).astype(np.float64, copy=False)
                except RuntimeError as error:
                    raise GeogridInputError(
                        f'cannot read rows {y_off}..{y_off + y_count - 1} of the {name} raster '
                        f'{dataset.GetDescription()}: {error}; check that the file is complete and reachable'
                    ) from None
        return arrays

    def close(self) -> None:
        self.datasets.clear()


def _open(name: str, path: str) -> gdal.Dataset:
    try:
        dataset = gdal.Open(path, gdal.GA_ReadOnly)
    except RuntimeError as error:
        raise GeogridInputError(
            f'cannot open the {name} raster {path}: {error}; check the path (or URL) and that GDAL can read it'
        ) from None
    if dataset is None or dataset.RasterCount < 1:
        raise GeogridInputError(f'the {name} raster {path} has no bands; give a single-band GeoTIFF on the DEM grid')
    return dataset


def dem_epsg(dataset: gdal.Dataset, path: str) -> tuple[int, str]:
    """EPSG code and WKT of the DEM's CRS, which must be projected (as autoRIFT's getProjectionSystem requires).

    Raises:
        GeogridInputError: no CRS, a geographic or local CRS, or no identifiable EPSG code.
    """
    wkt = dataset.GetProjection()
    if not wkt:
        raise GeogridInputError(
            f'the DEM {path} has no coordinate reference system; assign its projected CRS (e.g. gdal_edit.py -a_srs '
            'EPSG:32632) before running Geogrid'
        )
    srs = osr.SpatialReference()
    try:
        srs.ImportFromWkt(wkt)
        srs.AutoIdentifyEPSG()
    except RuntimeError:
        pass  # AutoIdentifyEPSG fails for CRSs it does not recognise; the authority code below may still be set
    if srs.IsGeographic():
        raise GeogridInputError(
            f'the DEM {path} is in a geographic CRS; Geogrid needs a projected CRS in metres (UTM or polar '
            'stereographic): reproject the DEM and every parameter raster, e.g. with gdalwarp -t_srs EPSG:326xx'
        )
    if not srs.IsProjected():
        raise GeogridInputError(f'the DEM {path} has a CRS that is neither projected nor geographic; use a UTM CRS')
    code = srs.GetAuthorityCode('PROJCS')
    if not code:
        raise GeogridInputError(
            f'cannot identify an EPSG code for the CRS of the DEM {path}; write the DEM with an EPSG-defined CRS'
        )
    return int(code), wkt


def _same_geotransform(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    scale = max(abs(a[1]), abs(a[5]), 1.0)
    return all(
        math.isclose(x, y, rel_tol=GEOTRANSFORM_RELATIVE_TOLERANCE, abs_tol=1e-9 * scale)
        for x, y in zip(a, b, strict=True)
    )


def open_rasters(rasters: ParameterRasters) -> OpenRasters:
    """Open every raster that is set, check that each is on the DEM's grid, and read vx's nodata value.

    Raises:
        GeogridInputError: a raster cannot be opened, a pair is incomplete, or a raster is not on the DEM grid.
    """
    present = rasters.present()
    for first, second in RASTER_PAIRS:
        if (first in present) != (second in present):
            missing = second if first in present else first
            raise GeogridInputError(f'the {missing} raster is missing: {first} and {second} must be given together')
    dem = _open('dem', rasters.dem)
    epsg, wkt = dem_epsg(dem, rasters.dem)
    geotransform = tuple(float(value) for value in dem.GetGeoTransform())
    if geotransform[2] != 0 or geotransform[4] != 0 or geotransform[1] <= 0 or geotransform[5] >= 0:
        raise GeogridInputError(
            f'the DEM {rasters.dem} has geotransform {geotransform}; Geogrid needs a north-up grid (no rotation, '
            'positive x and negative y pixel size): warp it with gdalwarp'
        )
    grid = DemGrid(
        geotransform=geotransform,  # type: ignore[arg-type]
        x_size=dem.RasterXSize,
        y_size=dem.RasterYSize,
        epsg=epsg,
        wkt=wkt,
    )
    dem_srs = osr.SpatialReference()
    dem_srs.ImportFromWkt(wkt)
    datasets = {'dem': dem}
    for name, path in present.items():
        if name == 'dem':
            continue
        dataset = _open(name, path)
        problems = []
        if (dataset.RasterXSize, dataset.RasterYSize) != (grid.x_size, grid.y_size):
            problems.append(
                f"size {dataset.RasterXSize} x {dataset.RasterYSize} instead of the DEM's {grid.x_size} x {grid.y_size}"
            )
        other_geotransform = tuple(float(value) for value in dataset.GetGeoTransform())
        if not _same_geotransform(other_geotransform, geotransform):
            problems.append(f"geotransform {other_geotransform} instead of the DEM's {geotransform}")
        other_wkt = dataset.GetProjection()
        other_srs = osr.SpatialReference()
        if other_wkt:
            other_srs.ImportFromWkt(other_wkt)
        if not other_wkt or not other_srs.IsSame(dem_srs):
            problems.append('a different CRS from the DEM' if other_wkt else 'no CRS')
        if problems:
            raise GeogridInputError(
                f'the {name} raster {path} is not on the DEM grid ({"; ".join(problems)}); every parameter raster '
                f"must have the DEM's size, geotransform and CRS: resample it onto the DEM grid (gdalwarp -te/-tr)"
            )
        datasets[name] = dataset
    vx_nodata: float | None = None
    if 'vx' in datasets:
        value = datasets['vx'].GetRasterBand(1).GetNoDataValue()
        vx_nodata = GDAL_DEFAULT_NODATA if value is None else float(value)
    dem_nodata = dem.GetRasterBand(1).GetNoDataValue()
    return OpenRasters(
        grid=grid,
        datasets=datasets,
        vx_nodata=vx_nodata,
        dem_nodata=None if dem_nodata is None else float(dem_nodata),
    )


@contextmanager
def bounded_block_cache(limit_bytes: int) -> Iterator[None]:
    """GDAL's block cache at most `limit_bytes` inside the block, as it was after (never raised above it)."""
    previous = gdal.GetCacheMax()
    gdal.SetCacheMax(min(previous, limit_bytes))
    try:
        yield
    finally:
        gdal.SetCacheMax(previous)
