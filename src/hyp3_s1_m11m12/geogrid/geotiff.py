"""GeoTIFFs exactly as geogrid.cpp writes them: GTiff with no creation options, Int32 or Float64 bands, every band's
nodata set to nodata_out, the DEM-window geotransform and the WKT of the EPSG code (not the DEM's own WKT)."""

import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from osgeo import gdal, osr

from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.geogrid.tiff_strips import StripLayoutError, StripWriter


log = logging.getLogger(__name__)


gdal.UseExceptions()

GDAL_TYPES = {np.dtype(np.int32): gdal.GDT_Int32, np.dtype(np.float64): gdal.GDT_Float64}


def epsg_wkt(epsg: int) -> str:
    """WKT of an EPSG code, as OGR's importFromEPSG + exportToWkt give it (what geogrid.cpp stores)."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return str(srs.ExportToWkt())


@dataclass(frozen=True)
class TiffEncoding:
    """How an output GeoTIFF is written: GDAL GTiff creation options (none: geogrid.cpp's bytes), and, for DEFLATE
    with rows per strip = rows per block, the ISA-L level at which the project encodes the strips itself
    (`tiff_strips`; None: GDAL compresses)."""

    options: tuple[str, ...] = ()
    strip_deflate_level: int | None = None


class GeogridTiff:
    """One output file opened for writing row blocks; `close()` flushes it."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        bands: int,
        dtype: type[np.generic],
        geotransform: tuple[float, ...],
        wkt: str,
        nodata: float,
        encoding: TiffEncoding = TiffEncoding(),
    ) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.strips: StripWriter | None = None
        level = encoding.strip_deflate_level  # not None: GDAL lays the file out, the project writes its strips
        options = [*encoding.options, 'SPARSE_OK=TRUE'] if level is not None else list(encoding.options)
        try:
            driver = gdal.GetDriverByName('GTiff')
            self.dataset = driver.Create(str(path), width, height, bands, GDAL_TYPES[self.dtype], options=options)
            self.dataset.SetGeoTransform(list(geotransform))
            self.dataset.SetProjection(wkt)
            for index in range(1, bands + 1):
                self.dataset.GetRasterBand(index).SetNoDataValue(nodata)
            if level is not None:
                self.dataset.FlushCache()
                self.dataset = None  # GDAL writes the directory (no strip yet) and lets the file go
        except RuntimeError as error:
            raise ProductError(f'cannot create {path}: {error}; check the output folder and free space') from None
        if level is not None:
            try:
                self.strips = StripWriter(path, self.dtype, level)
            except StripLayoutError as error:  # a GDAL that lays the file out otherwise: let it compress
                log.debug('GDAL compresses %s: %s', path.name, error)
                self.dataset = gdal.Open(str(path), gdal.GA_Update)
            except OSError as error:
                raise ProductError(f'cannot open {path}: {error}; check the output folder and free space') from None

    def write_rows(self, first_row: int, data: npt.NDArray[np.generic]) -> None:
        """Write `data` of shape (bands, rows, width) starting at `first_row` (with own strips: one whole strip)."""
        if self.strips is not None:
            try:
                self.strips.write(first_row, data.astype(self.dtype, copy=False))
            except OSError as error:
                raise ProductError(f'cannot write {self.path}: {error}; check free space') from None
            return
        try:
            for index in range(data.shape[0]):
                band = self.dataset.GetRasterBand(index + 1)
                band.WriteArray(np.ascontiguousarray(data[index], dtype=self.dtype), 0, first_row)
            # Hand the rows to the file now: GDAL's block cache (5% of RAM by default) would otherwise hold them all.
            self.dataset.FlushCache()
        except RuntimeError as error:
            raise ProductError(f'cannot write {self.path}: {error}; check free space') from None

    def close(self) -> None:
        if self.strips is not None:
            self.strips.close()
        if self.dataset is not None:
            self.dataset.FlushCache()
            self.dataset = None


def close_all(tiffs: Iterable[GeogridTiff]) -> str | None:
    """Close GeoTIFFs (GDAL writes the last blocks and the directory then); the first error, or None.

    With GDAL's exceptions on, a close that fails (a full disk) raises inside the dataset's destructor, which Python
    can only report through sys.unraisablehook ("Exception ignored ..."); it is collected here instead, so that the
    run fails with one line. (GDAL 3.6 has no Dataset.Close() and refuses DontUseExceptions() here.)
    """
    failures: list[str] = []

    def collect(unraisable: Any) -> None:
        failures.append(str(unraisable.exc_value))

    previous = sys.unraisablehook
    sys.unraisablehook = collect
    try:
        for tiff in tiffs:
            if tiff.strips is not None:
                try:
                    tiff.strips.close()
                except (OSError, StripLayoutError) as error:
                    failures.append(str(error))
            if tiff.dataset is None:
                continue
            try:
                tiff.dataset.FlushCache()
            except RuntimeError as error:
                failures.append(str(error))
            tiff.dataset = None  # the last reference: GDALClose runs now, in the destructor
    finally:
        sys.unraisablehook = previous
    return failures[0] if failures else None
