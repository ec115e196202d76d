"""Chunks encoded by the project and stored through netCDF4's own HDF5 library read back, through the variable's
declared filters, as the values written, in netCDF4 and in h5py (another reader with its own HDF5 copy)."""

import zlib
from pathlib import Path

import h5py
import netCDF4
import numpy as np
import pytest

from hyp3_s1_m11m12.products import hdf5_chunks
from hyp3_s1_m11m12.products.hdf5_chunks import ChunkFile, encode_chunk, loaded_hdf5_library


FILL = -32767


def _chunked_file(path: Path, dtype: str, rows: int, columns: int, lines: int) -> None:
    with netCDF4.Dataset(path, 'w', format='NETCDF4') as dataset:
        dataset.createDimension('y', rows)
        dataset.createDimension('x', columns)
        for name in ('M11', 'M12'):
            dataset.createVariable(
                name,
                dtype,
                ('y', 'x'),
                fill_value=FILL,
                zlib=True,
                complevel=2,
                shuffle=True,
                chunksizes=(lines, columns),
            )


def _values(dtype: str, rows: int, columns: int, seed: int) -> np.ndarray:
    generator = np.random.default_rng(seed)
    if dtype == 'i2':
        return generator.integers(-32000, 32000, (rows, columns)).astype(np.int16)
    values = (generator.normal(size=(rows, columns)) * 1e-3).astype(np.float32)
    values[generator.random((rows, columns)) < 0.1] = FILL  # nodata, as the products store it
    return values


@pytest.mark.parametrize('dtype', ['f4', 'i2'])
def test_stored_chunks_read_back_as_written(tmp_path: Path, dtype: str) -> None:
    assert hdf5_chunks.available()
    rows, columns, lines = 300, 37, 128  # three chunks, the last 44 lines
    path = tmp_path / 'a.nc'
    _chunked_file(path, dtype, rows, columns, lines)
    written = {name: _values(dtype, rows, columns, seed) for seed, name in enumerate(('M11', 'M12'))}
    chunk_file = ChunkFile(path, ('M11', 'M12'))
    for name, values in written.items():
        for first in range(0, rows, lines):
            chunk_file.write(name, first, encode_chunk(values[first : first + lines], lines, FILL))
    chunk_file.close()
    with netCDF4.Dataset(path) as dataset:
        for name, values in written.items():
            variable = dataset[name]
            variable.set_auto_maskandscale(False)
            assert variable.filters()['zlib'] and variable.filters()['shuffle']
            np.testing.assert_array_equal(variable[:], values)
    with h5py.File(path) as h5file:
        for name, values in written.items():
            np.testing.assert_array_equal(h5file[name][:], values)


def test_a_chunk_is_shuffled_deflate_padded_with_the_fill_value() -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    encoded = encode_chunk(values, 5, FILL)
    decoded = np.frombuffer(zlib.decompress(encoded), np.uint8)  # zlib's format, as HDF5's deflate filter reads
    unshuffled = decoded.reshape(4, -1).T.copy().view(np.float32).reshape(5, 4)
    np.testing.assert_array_equal(unshuffled[:3], values)
    assert (unshuffled[3:] == FILL).all()


def test_hdf5_refusals_are_errors(tmp_path: Path) -> None:
    not_hdf5 = tmp_path / 'a.nc'
    not_hdf5.write_bytes(b'not an HDF5 file' * 100)
    with pytest.raises(RuntimeError, match='cannot open'):
        ChunkFile(not_hdf5, ('M11',))
    path = tmp_path / 'b.nc'
    _chunked_file(path, 'f4', 10, 10, 10)
    with pytest.raises(RuntimeError, match='no variable M13'):
        ChunkFile(path, ('M11', 'M13'))
    chunk_file = ChunkFile(path, ('M11',))  # the failed open closed what it had opened: the file opens again
    with pytest.raises(RuntimeError, match='cannot store the chunk of M11 at row 3'):
        chunk_file.write('M11', 3, encode_chunk(np.zeros((10, 10), np.float32), 10, FILL))  # not a chunk's start
    chunk_file.close()


def _maps(tmp_path: Path, *paths: str) -> Path:
    maps = tmp_path / 'maps'
    lines = [f'7f0000000000-7f0000001000 r--p 00000000 fd:01 {index} {path}' for index, path in enumerate(paths)]
    maps.write_text('\n'.join([*lines, '7ffd0000-7ffd1000 rw-p 00000000 00:00 0 [stack]', '7f00-7f01 rw-p 0 00:00 0']))
    return maps


def test_the_hdf5_library_is_the_one_beside_netcdf(tmp_path: Path) -> None:
    wheel = '/site-packages/netcdf4.libs'
    h5py_copy = '/site-packages/h5py.libs/libhdf5-0a1b2c3d.so.310.5.0'
    maps = _maps(
        tmp_path,
        f'{wheel}/libnetcdf-3622e713.so.22',
        f'{wheel}/libhdf5_hl-d4b518f2.so.320.0.3',
        f'{wheel}/libhdf5-34cf00cd.so.320.2.0',
        h5py_copy,
    )
    assert loaded_hdf5_library(maps) == f'{wheel}/libhdf5-34cf00cd.so.320.2.0'
    conda = _maps(tmp_path, '/opt/conda/envs/x/lib/libnetcdf.so.22', '/opt/conda/envs/x/lib/libhdf5.so.310.5.0')
    assert loaded_hdf5_library(conda) == '/opt/conda/envs/x/lib/libhdf5.so.310.5.0'
    assert loaded_hdf5_library(_maps(tmp_path, '/lib/libhdf5.so.310')) == '/lib/libhdf5.so.310'
    assert loaded_hdf5_library(_maps(tmp_path, '/a/libhdf5.so.310', '/b/libhdf5.so.320')) is None  # which one?
    assert loaded_hdf5_library(_maps(tmp_path, '/a/libhdf5_hl.so.310')) is None
    assert loaded_hdf5_library(tmp_path / 'absent') is None


def test_this_process_finds_netcdf4s_hdf5_library() -> None:
    path = loaded_hdf5_library()
    assert path is not None and Path(path).is_file()
    assert hdf5_chunks._library() is not None and hdf5_chunks._library().version >= (1, 10, 3)  # type: ignore[union-attr]
