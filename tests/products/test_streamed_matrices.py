"""The conversion-matrices NetCDF written while Geogrid runs (the workflow's path for float32) holds what the file
written from the whole matrices holds, bit for bit, and leaves nothing behind when it does not finish."""

from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest

from hyp3_s1_m11m12.errors import OutputError, ProductError
from hyp3_s1_m11m12.products import hdf5_chunks
from hyp3_s1_m11m12.products.conversion_matrices import (
    StreamedMatrices,
    _NetCDFVariables,
    chunk_lines,
    product_chunk_lines,
    write_conversion_matrices,
)
from hyp3_s1_m11m12.products.matrices import GeogridBands, conversion_matrices_from_bands
from hyp3_s1_m11m12.products.quicklook import decimated
from tests.products.test_conversion_matrices import _provenance
from tests.products.test_matrix_accumulator import GEOTRANSFORM, NODATA, geogrid_like_bands, utm_wkt


ROWS, COLUMNS = 1200, 9  # chunks of 256 lines (hyp3-autorift's rule: 896): five, the last short
STEP = 5


def content(path: Path) -> dict[str, Any]:
    """Every variable's bytes and every attribute, but the creation time."""
    with netCDF4.Dataset(path) as dataset:
        attributes = {name: dataset.getncattr(name) for name in dataset.ncattrs()}
        variables = {
            name: (
                np.asarray(variable[:]).tobytes(),
                str(variable.dtype),
                variable.chunking(),
                variable.filters(),
                {key: str(variable.getncattr(key)) for key in variable.ncattrs()},
                list(variable.ncattrs()),
            )
            for name, variable in dataset.variables.items()
        }
    attributes.pop('date_created')
    attributes['history'] = attributes['history'].split(': ', 1)[1]
    return {'attributes': attributes, 'variables': variables}


def stream(path: Path, bands: dict[str, Any], rows_per_block: int, **options: Any) -> StreamedMatrices:
    streamed = StreamedMatrices(path, _provenance(), NODATA, 'a test grid', step=lambda shape: STEP, **options)
    streamed.start(ROWS, COLUMNS, GEOTRANSFORM, utm_wkt())
    for first in range(0, ROWS, rows_per_block):
        streamed.add(first, {name: band[:, first : first + rows_per_block] for name, band in bands.items()})
    return streamed


@pytest.mark.parametrize('rows_per_block', [7, 256, 1000])
def test_the_streamed_file_is_the_whole_matrices_file(tmp_path: Path, rows_per_block: int) -> None:
    assert chunk_lines(ROWS) == 896 and product_chunk_lines(ROWS) == 256
    bands = geogrid_like_bands(ROWS, COLUMNS)
    whole = conversion_matrices_from_bands(GeogridBands(bands, GEOTRANSFORM, utm_wkt(), NODATA))
    expected = write_conversion_matrices(whole, tmp_path / 'whole.nc', provenance=_provenance())

    streamed = stream(tmp_path / 'streamed.nc', bands, rows_per_block)
    assert not (tmp_path / 'streamed.nc').exists()  # only the hidden partial file until finish
    shown = streamed.drawn()
    assert streamed.finish() == tmp_path / 'streamed.nc'
    assert content(tmp_path / 'streamed.nc') == content(expected)
    # The quick-look's cells: every STEP-th of the float32 matrices, on their coordinates.
    drawn = decimated(whole, STEP)
    for name in ('M11', 'M12'):
        np.testing.assert_array_equal(getattr(shown, name), getattr(drawn, name).astype(np.float32))
    np.testing.assert_array_equal(shown.x, drawn.x)
    np.testing.assert_array_equal(shown.y, drawn.y)
    assert shown.dr_to_vr_factor == whole.dr_to_vr_factor
    assert sorted(path.name for path in tmp_path.iterdir()) == ['streamed.nc', 'whole.nc']


def test_an_unfinished_or_aborted_stream_leaves_nothing(tmp_path: Path) -> None:
    bands = geogrid_like_bands(ROWS, COLUMNS)
    streamed = StreamedMatrices(tmp_path / 'a.nc', _provenance(), NODATA, 'a test grid', step=lambda shape: STEP)
    streamed.start(ROWS, COLUMNS, GEOTRANSFORM, utm_wkt())
    streamed.add(0, {name: band[:, :900] for name, band in bands.items()})  # three chunks are written
    assert len(list(tmp_path.iterdir())) == 1
    with pytest.raises(ProductError, match='stopped before its last row'):
        streamed.finish()
    assert list(tmp_path.iterdir()) == []

    streamed = stream(tmp_path / 'b.nc', bands, 100)
    streamed.abort()
    assert list(tmp_path.iterdir()) == []
    streamed.abort()  # twice is harmless


def test_blocks_out_of_order_are_refused(tmp_path: Path) -> None:
    bands = geogrid_like_bands(ROWS, COLUMNS)
    streamed = StreamedMatrices(tmp_path / 'a.nc', _provenance(), NODATA, 'a test grid', step=lambda shape: STEP)
    streamed.start(ROWS, COLUMNS, GEOTRANSFORM, utm_wkt())
    with pytest.raises(ProductError, match='at row 10 is out of order'):
        streamed.add(10, {name: band[:, 10:20] for name, band in bands.items()})
    streamed.abort()
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_kept_unless_overwriting(tmp_path: Path) -> None:
    bands = geogrid_like_bands(ROWS, COLUMNS)
    (tmp_path / 'a.nc').write_text('an earlier product')
    with pytest.raises(OutputError, match='already exists'):
        stream(tmp_path / 'a.nc', bands, 300)
    assert (tmp_path / 'a.nc').read_text() == 'an earlier product'
    stream(tmp_path / 'a.nc', bands, 300, overwrite=True).finish()
    with netCDF4.Dataset(tmp_path / 'a.nc') as dataset:
        assert dataset['M11'].shape == (ROWS, COLUMNS)


def test_no_valid_node_is_an_error(tmp_path: Path) -> None:
    bands = geogrid_like_bands(ROWS, COLUMNS)
    bands['window_location.tif'][:] = int(NODATA)
    bands['window_rdr_off2vel_x_vec.tif'][2] = NODATA
    streamed = stream(tmp_path / 'a.nc', bands, 600)
    with pytest.raises(ProductError, match='no valid node'):
        streamed.finish()
    assert list(tmp_path.iterdir()) == []


def test_the_chunks_are_encoded_by_the_writer(tmp_path: Path) -> None:
    """netCDF4 only defines the file: the chunks are encoded off the GIL and stored as they are (hdf5_chunks)."""
    streamed = StreamedMatrices(tmp_path / 'a.nc', _provenance(), NODATA, 'a test grid', step=lambda shape: STEP)
    streamed.start(ROWS, COLUMNS, GEOTRANSFORM, utm_wkt())
    assert streamed._file().encodes_chunks
    streamed.abort()
    assert list(tmp_path.iterdir()) == []


def test_without_direct_chunk_writes_netcdf4_encodes_the_same_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where netCDF4's HDF5 library cannot be found, netCDF4 encodes the chunks: the same content, without a chunk
    cache holding their copies until the file closes."""
    bands = geogrid_like_bands(ROWS, COLUMNS)
    stream(tmp_path / 'encoded.nc', bands, 300).finish()
    monkeypatch.setattr(hdf5_chunks, 'available', lambda: False)
    streamed = stream(tmp_path / 'netcdf4.nc', bands, 300)
    writer = streamed._file()
    assert not writer.encodes_chunks and isinstance(writer._chunks, _NetCDFVariables)
    assert [variable.get_var_chunk_cache()[0] for variable in writer._chunks.variables.values()] == [0, 0]
    assert netCDF4.get_chunk_cache()[0] > 0  # the process's default is back for other files
    streamed.finish()
    assert content(tmp_path / 'encoded.nc') == content(tmp_path / 'netcdf4.nc')
