"""The project's own DEFLATE strips: what libtiff would compress, stored where GDAL laid the file out."""

import zlib
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.geogrid import geotiff, tiff_strips
from hyp3_s1_m11m12.geogrid.geotiff import GeogridTiff, TiffEncoding, close_all
from hyp3_s1_m11m12.geogrid.tiff_strips import StripLayoutError, StripWriter, predicted_strip, read_layout


gdal.UseExceptions()

GEOTRANSFORM = (500000.0, 120.0, 0.0, 7000000.0, 0.0, -120.0)
WKT = geotiff.epsg_wkt(32607)
NODATA = -32767.0


def band_values(dtype: type[np.generic], bands: int, rows: int, width: int, seed: int = 1) -> np.ndarray:
    """Values like Geogrid's: smooth fields with nodata patches, plus the awkward ones (NaN, inf, -0.0, extremes)."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == 'f':
        y, x = np.mgrid[0:rows, 0:width]
        values = np.stack(
            [np.sin(x / 37.0 + band) * 1e3 + y * 0.25 + rng.normal(size=x.shape) for band in range(bands)]
        )
        values[:, : rows // 5, : width // 3] = NODATA
        values[0, 1, 2], values[-1, 2, 3], values[0, 3, 4] = np.nan, np.inf, -0.0
        return values.astype(dtype)
    values = rng.integers(-50, 50, size=(bands, rows, width)).cumsum(axis=2)
    values[:, :3, :] = NODATA
    values[0, -1, :2] = (np.iinfo(np.int32).min, np.iinfo(np.int32).max)
    return values.astype(dtype)


def write(
    path: Path, values: np.ndarray, rows_per_strip: int, level: int | None, order: list[int] | None = None
) -> None:
    bands, height, width = values.shape
    predictor = 3 if values.dtype.kind == 'f' else 2
    options = ('COMPRESS=DEFLATE', 'ZLEVEL=2', f'PREDICTOR={predictor}', f'BLOCKYSIZE={rows_per_strip}')
    tiff = GeogridTiff(
        path, width, height, bands, values.dtype.type, GEOTRANSFORM, WKT, NODATA, TiffEncoding(options, level)
    )
    starts = list(range(0, height, rows_per_strip))
    for first in order if order is not None else starts:
        tiff.write_rows(first, values[:, first : first + rows_per_strip])
    assert close_all([tiff]) is None


def read(path: Path) -> tuple[np.ndarray, dict[str, object]]:
    """The values and description GDAL reads, with no warning from libtiff or GDAL on the way."""
    messages: list[str] = []
    gdal.PushErrorHandler(lambda level, number, message: messages.append(message))
    try:
        dataset = gdal.Open(str(path))
        values = dataset.ReadAsArray()
    finally:
        gdal.PopErrorHandler()
    assert messages == []
    described = {
        'geotransform': dataset.GetGeoTransform(),
        'projection': dataset.GetProjection(),
        'nodata': [dataset.GetRasterBand(index + 1).GetNoDataValue() for index in range(dataset.RasterCount)],
        'structure': dataset.GetMetadata('IMAGE_STRUCTURE'),
        'type': dataset.GetRasterBand(1).DataType,
        'block': dataset.GetRasterBand(1).GetBlockSize(),
    }
    del dataset
    return values.reshape(-1, *values.shape[-2:]), described


@pytest.mark.parametrize(
    'dtype, bands, height, rows_per_strip',
    [
        (np.float64, 4, 45, 6),  # window_rdr_off2vel_x_vec: 4 bands, a short last strip
        (np.float64, 3, 24, 6),
        (np.float64, 1, 17, 17),  # one strip: its offset and length sit inside the directory entry
        (np.int32, 2, 40, 7),
        (np.int32, 1, 9, 4),
    ],
)
def test_strips_decode_to_the_values_and_the_file_describes_itself_as_gdal_would(
    tmp_path: Path, dtype: type[np.generic], bands: int, height: int, rows_per_strip: int
) -> None:
    values = band_values(dtype, bands, height, 131)
    write(tmp_path / 'gdal.tif', values, rows_per_strip, None)
    starts = list(range(0, height, rows_per_strip))
    write(tmp_path / 'own.tif', values, rows_per_strip, 1, order=starts[::-1])  # any order
    own, own_description = read(tmp_path / 'own.tif')
    theirs, their_description = read(tmp_path / 'gdal.tif')
    assert own.dtype == values.dtype
    assert own.tobytes() == values.tobytes() == theirs.tobytes()  # bit for bit, NaN, -0.0 and extremes included
    assert own_description == their_description


@pytest.mark.parametrize(
    'dtype, bands, predictor',
    [(np.float64, 4, 3), (np.float64, 2, 3), (np.int32, 2, 2), (np.int32, 1, 2), (np.float64, 3, 1)],
)
def test_the_predicted_bytes_are_libtiffs(tmp_path: Path, dtype: type[np.generic], bands: int, predictor: int) -> None:
    """Each strip of a file GDAL (libtiff) wrote inflates to exactly what predicted_strip makes of its rows."""
    values = band_values(dtype, bands, 20, 97, seed=bands)
    path = tmp_path / 'gdal.tif'
    driver = gdal.GetDriverByName('GTiff')
    options = ['COMPRESS=DEFLATE', f'PREDICTOR={predictor}', 'BLOCKYSIZE=8']
    gdal_type = geotiff.GDAL_TYPES[np.dtype(dtype)]
    dataset = driver.Create(str(path), 97, 20, bands, gdal_type, options=options)
    for index in range(bands):
        dataset.GetRasterBand(index + 1).WriteArray(values[index])
    dataset = None
    dataset = gdal.Open(str(path))
    band = dataset.GetRasterBand(1)
    raw = path.read_bytes()
    for strip, first in enumerate(range(0, 20, 8)):
        offset = int(band.GetMetadataItem(f'BLOCK_OFFSET_0_{strip}', 'TIFF'))
        size = int(band.GetMetadataItem(f'BLOCK_SIZE_0_{strip}', 'TIFF'))
        expected = zlib.decompress(raw[offset : offset + size])
        assert predicted_strip(values[:, first : first + 8], predictor).tobytes() == expected
    del band, dataset


def test_a_bigtiff_layout_is_filled_in_too(tmp_path: Path) -> None:
    values = band_values(np.float64, 2, 30, 50)
    path = tmp_path / 'big.tif'
    driver = gdal.GetDriverByName('GTiff')
    options = ['COMPRESS=DEFLATE', 'PREDICTOR=3', 'BLOCKYSIZE=8', 'SPARSE_OK=TRUE', 'BIGTIFF=YES']
    driver.Create(str(path), 50, 30, 2, gdal.GDT_Float64, options=options)  # released at once: written, no strip
    assert path.read_bytes()[2] == 43  # BigTIFF
    writer = StripWriter(path, np.dtype(np.float64), 1)
    for first in range(0, 30, 8):
        writer.write(first, values[:, first : first + 8])
    writer.close()
    assert read(path)[0].tobytes() == values.tobytes()


def test_an_incomplete_file_is_never_completed(tmp_path: Path) -> None:
    values = band_values(np.int32, 1, 12, 20)
    options = ('COMPRESS=DEFLATE', 'PREDICTOR=2', 'BLOCKYSIZE=4')
    path = tmp_path / 'part.tif'
    tiff = GeogridTiff(path, 20, 12, 1, np.int32, GEOTRANSFORM, WKT, NODATA, TiffEncoding(options, 1))
    tiff.write_rows(0, values[:, :4])
    failure = close_all([tiff])
    assert failure is not None and 'incomplete (2 strips not written)' in failure
    assert tiff.strips is not None and tiff.strips.file is None  # closed all the same
    assert read_layout(path).strips == 3  # accepted as a file without strips: its directory records none
    assert (read(path)[0] == NODATA).all()  # read as GDAL reads a sparse file, not as the rows half written


def test_rows_that_are_not_one_new_strip_are_refused(tmp_path: Path) -> None:
    values = band_values(np.float64, 1, 12, 20)
    options = ('COMPRESS=DEFLATE', 'PREDICTOR=3', 'BLOCKYSIZE=4')
    tiff = GeogridTiff(tmp_path / 'a.tif', 20, 12, 1, np.float64, GEOTRANSFORM, WKT, NODATA, TiffEncoding(options, 1))
    tiff.write_rows(4, values[:, 4:8])
    with pytest.raises(ValueError, match='not a new strip'):
        tiff.write_rows(2, values[:, 2:6])  # not on a strip boundary
    with pytest.raises(ValueError, match='not a new strip'):
        tiff.write_rows(4, values[:, 4:8])  # again
    with pytest.raises(ValueError, match='not a new strip'):
        tiff.write_rows(8, values[:, 8:10])  # short, but not the last strip's height
    close_all([tiff])


@pytest.mark.parametrize(
    'options, problem',
    [
        (['COMPRESS=ZSTD', 'PREDICTOR=2'], 'not DEFLATE-compressed'),
        ([], 'not DEFLATE-compressed'),
        (['COMPRESS=DEFLATE', 'INTERLEAVE=BAND'], 'stores its bands separately'),
    ],
)
def test_layouts_it_does_not_fill_are_refused(tmp_path: Path, options: list[str], problem: str) -> None:
    path = tmp_path / 'other.tif'
    gdal.GetDriverByName('GTiff').Create(str(path), 10, 10, 2, gdal.GDT_Int32, options=[*options, 'SPARSE_OK=TRUE'])
    with pytest.raises(StripLayoutError, match=problem):
        read_layout(path)


def test_a_file_with_strips_is_refused(tmp_path: Path) -> None:
    write(tmp_path / 'done.tif', band_values(np.int32, 1, 8, 10), 4, None)
    with pytest.raises(StripLayoutError, match='already holds strips'):
        read_layout(tmp_path / 'done.tif')
    (tmp_path / 'text.tif').write_bytes(b'not a tiff at all')
    with pytest.raises(StripLayoutError, match='not a little-endian TIFF'):
        read_layout(tmp_path / 'text.tif')


def test_gdal_compresses_when_the_layout_is_not_the_expected_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unexpected(path: Path) -> None:
        raise StripLayoutError(f'{path} is laid out otherwise')

    monkeypatch.setattr(tiff_strips, 'read_layout', unexpected)
    values = band_values(np.float64, 3, 20, 30)
    write(tmp_path / 'fallback.tif', values, 6, 1)
    assert read(tmp_path / 'fallback.tif')[0].tobytes() == values.tobytes()


def test_a_failed_strip_write_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options = ('COMPRESS=DEFLATE', 'PREDICTOR=2', 'BLOCKYSIZE=4')
    tiff = GeogridTiff(tmp_path / 'full.tif', 20, 8, 1, np.int32, GEOTRANSFORM, WKT, NODATA, TiffEncoding(options, 1))

    def full(data: bytes) -> int:
        raise OSError(28, 'No space left on device')

    assert tiff.strips is not None and tiff.strips.file is not None
    monkeypatch.setattr(tiff.strips.file, 'write', full)
    with pytest.raises(ProductError, match=r'cannot write .*full.tif: .*No space left on device.*; check free space'):
        tiff.write_rows(0, band_values(np.int32, 1, 4, 20))
    close_all([tiff])
