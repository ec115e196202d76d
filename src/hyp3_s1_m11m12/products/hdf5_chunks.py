"""Encoded chunks of a NetCDF-4 file's M11/M12 stored as they are, through the HDF5 library netCDF4 itself uses.

Why: netCDF4 compresses each chunk inside HDF5 with zlib, on one thread and holding the GIL, at ~60 MB/s for
float32 matrices: 0.16 s of CPU per pair of 1 M-node matrices, the largest cost of an extra secondary. The variable
declares HDF5's shuffle and deflate filters; its chunk is then the DEFLATE (zlib) stream of the shuffled bytes, and
every reader decodes it through those filters, whoever encoded it. ISA-L (python-isal) encodes that stream ~6x
faster than zlib, with the GIL released, at level ISAL_LEVEL (0.5-1.5 % larger than zlib's level 2 on M11/M12), and
HDF5's H5Dwrite_chunk stores it unchanged.

The HDF5 library is the one already loaded with netCDF4 (its wheel's own copy, or a conda environment's shared
one), called through ctypes on the one thread the caller makes every HDF5 call from (HDF5 is not thread-safe). It
is found in the process's memory map next to the netCDF library; where it cannot be (not Linux, an HDF5 older than
1.10.3), `available()` is False and the writer lets netCDF4 encode the chunks (same values, slower).
"""

import ctypes
import functools
import logging
import os
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
from isal import isal_zlib


log = logging.getLogger(__name__)

ISAL_LEVEL = 2  # ISA-L's levels run 0-3; 2 is within 1.5 % of zlib 2's size at 1/6 of its CPU
_MAPS = Path('/proc/self/maps')
_HDF5_NAME = re.compile(r'libhdf5(-[0-9a-f]+)?\.so')  # not libhdf5_hl
_NETCDF_NAME = re.compile(r'libnetcdf(-[0-9a-f]+)?\.so')
_MINIMUM_VERSION = (1, 10, 3)  # H5Dwrite_chunk
_H5F_ACC_RDWR = 0x0001
_H5P_DEFAULT = 0
_hid_t = ctypes.c_int64
_herr_t = ctypes.c_int
_hsize_t = ctypes.c_ulonglong


def loaded_hdf5_library(maps: Path = _MAPS) -> str | None:
    """The path of the HDF5 library the loaded netCDF library links: the libhdf5 mapped from the netCDF library's
    folder, or the only libhdf5 mapped (h5py's wheel brings a copy of its own); None when there is none or no way
    to tell them apart."""
    try:
        text = maps.read_text()
    except OSError:
        return None
    fields = (line.split(maxsplit=5) for line in text.splitlines())
    paths = {parts[5] for parts in fields if len(parts) == 6 and parts[5].startswith('/')}
    hdf5 = {path for path in paths if _HDF5_NAME.match(os.path.basename(path))}
    netcdf_folders = {os.path.dirname(path) for path in paths if _NETCDF_NAME.match(os.path.basename(path))}
    beside_netcdf = {path for path in hdf5 if os.path.dirname(path) in netcdf_folders}
    candidates = beside_netcdf or hdf5
    return next(iter(candidates)) if len(candidates) == 1 else None


class _Library:
    """The few HDF5 functions a direct chunk write needs, typed."""

    def __init__(self, path: str) -> None:
        library = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LOCAL)  # the copy netCDF4 loaded, never another
        self.H5Fopen = library.H5Fopen
        self.H5Fopen.argtypes = [ctypes.c_char_p, ctypes.c_uint, _hid_t]
        self.H5Fopen.restype = _hid_t
        self.H5Fclose = library.H5Fclose
        self.H5Fclose.argtypes = [_hid_t]
        self.H5Fclose.restype = _herr_t
        self.H5Dopen2 = library.H5Dopen2
        self.H5Dopen2.argtypes = [_hid_t, ctypes.c_char_p, _hid_t]
        self.H5Dopen2.restype = _hid_t
        self.H5Dclose = library.H5Dclose
        self.H5Dclose.argtypes = [_hid_t]
        self.H5Dclose.restype = _herr_t
        self.H5Dwrite_chunk = library.H5Dwrite_chunk
        self.H5Dwrite_chunk.argtypes = [
            _hid_t,
            _hid_t,
            ctypes.c_uint32,
            ctypes.POINTER(_hsize_t),
            ctypes.c_size_t,
            ctypes.c_char_p,
        ]
        self.H5Dwrite_chunk.restype = _herr_t
        major, minor, release = ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint()
        library.H5get_libversion(ctypes.byref(major), ctypes.byref(minor), ctypes.byref(release))
        self.version = (major.value, minor.value, release.value)


@functools.cache
def _library() -> _Library | None:
    import netCDF4  # noqa: F401 - the library to find is the one netCDF4 loads

    path = loaded_hdf5_library()
    if path is None:
        log.debug('the HDF5 library of netCDF4 was not found in the memory map: netCDF4 encodes the chunks')
        return None
    try:
        library = _Library(path)
    except (OSError, AttributeError) as error:
        log.debug(f'{path} cannot store encoded chunks ({error}): netCDF4 encodes them')
        return None
    if library.version < _MINIMUM_VERSION:
        log.debug(f'HDF5 {library.version} has no H5Dwrite_chunk: netCDF4 encodes the chunks')
        return None
    return library


def available() -> bool:
    """Whether encoded chunks can be stored directly (else netCDF4 must encode them)."""
    return _library() is not None


def encode_chunk(values: npt.NDArray[np.generic], chunk_lines: int, fill_value: float) -> bytes:
    """The stored form of one chunk of whole rows: `values` (at most `chunk_lines` rows; the grid's last chunk is
    padded to a full one with `fill_value`, as HDF5 pads it), HDF5's byte shuffle, then DEFLATE in zlib's format."""
    if values.shape[0] < chunk_lines:
        padded = np.full((chunk_lines, *values.shape[1:]), fill_value, values.dtype)
        padded[: values.shape[0]] = values
        values = padded
    element = values.dtype.itemsize
    shuffled = np.ascontiguousarray(np.ascontiguousarray(values).view(np.uint8).reshape(-1, element).T)
    return isal_zlib.compress(shuffled, ISAL_LEVEL)


class ChunkFile:
    """A closed NetCDF-4 file reopened through HDF5 to store encoded chunks of its chunked 2-D variables `names`.
    Every call from one thread.

    Raises (every method):
        RuntimeError: HDF5 refused the call (the file is not HDF5, a full disk, ...).
    """

    def __init__(self, path: Path, names: tuple[str, ...]) -> None:
        library = _library()
        if library is None:
            raise RuntimeError('no HDF5 library with H5Dwrite_chunk is loaded')
        self._library = library
        self._file = library.H5Fopen(os.fsencode(path), _H5F_ACC_RDWR, _H5P_DEFAULT)
        if self._file < 0:
            raise RuntimeError(f'HDF5 cannot open {path} for writing')
        self._datasets: dict[str, int] = {}
        try:
            for name in names:
                dataset = library.H5Dopen2(self._file, name.encode(), _H5P_DEFAULT)
                if dataset < 0:
                    raise RuntimeError(f'HDF5 finds no variable {name} in {path}')
                self._datasets[name] = dataset
        except BaseException:
            self.close()
            raise

    def write(self, name: str, first_row: int, chunk: bytes) -> None:
        """Store the encoded chunk (encode_chunk) that starts at `first_row` of variable `name`."""
        offset = (_hsize_t * 2)(first_row, 0)
        status = self._library.H5Dwrite_chunk(self._datasets[name], _H5P_DEFAULT, 0, offset, len(chunk), chunk)
        if status < 0:
            raise RuntimeError(f'HDF5 cannot store the chunk of {name} at row {first_row} (is the disk full?)')

    def close(self) -> None:
        failed = False
        for dataset in self._datasets.values():
            failed |= self._library.H5Dclose(dataset) < 0
        self._datasets = {}
        if self._file >= 0:
            failed |= self._library.H5Fclose(self._file) < 0
            self._file = -1
        if failed:
            raise RuntimeError('HDF5 cannot close the file (is the disk full?)')
