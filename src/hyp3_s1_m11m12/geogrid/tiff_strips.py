"""DEFLATE strips of the engine's GeoTIFFs encoded by the project and stored into the file GDAL laid out.

Why: GDAL's DEFLATE (libdeflate through libtiff) was a fifth of a full scene's CPU, 1.8 s for its three float64
files alone (their low mantissa bytes are noise; level 2 is GDAL's fastest for them). ISA-L writes the same zlib
streams (TIFF compression 8, Adobe DEFLATE) in about a sixth of the time, with the GIL released.

How: GDAL still makes the file. It is created with every tag (size, sample format, compression, predictor, rows per
strip, georeferencing, nodata) and SPARSE_OK, and closed before any row is written, so its directory holds zeros in
StripOffsets and StripByteCounts. Each strip is then appended with libtiff's predictor applied and its offset and
length recorded; `close()` appends the two arrays as LONG (LONG8 in a BigTIFF) and points the directory's entries at
them (libtiff writes them as SHORT when it expects a small file, too narrow for the real offsets). Readers see an ordinary DEFLATE GeoTIFF whose values are the
array's bit for bit; only the compressed bytes differ from GDAL's.
"""

import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
from isal import isal_zlib


ADOBE_DEFLATE = 8
CONTIGUOUS = 1  # PlanarConfiguration: the samples of a pixel side by side
# TIFF 6.0 / BigTIFF tag numbers read here.
TAGS = {
    'width': 256,
    'length': 257,
    'bits_per_sample': 258,
    'compression': 259,
    'strip_offsets': 273,
    'samples_per_pixel': 277,
    'rows_per_strip': 278,
    'strip_byte_counts': 279,
    'planar_configuration': 284,
    'predictor': 317,
}
# Field type -> (size in bytes, struct code) of the integer types; other types only need their size to be skipped.
INTEGER_TYPES = {3: (2, 'H'), 4: (4, 'I'), 16: (8, 'Q')}
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}


class StripLayoutError(Exception):
    """The file is not laid out as this writer expects (the caller then lets GDAL write it)."""


@dataclass(frozen=True)
class Field:
    """An IFD entry: its file position, type and count, and the file position of its values (inline ones too)."""

    entry: int
    type: int
    count: int
    values: int


@dataclass(frozen=True)
class StripLayout:
    width: int
    length: int
    samples_per_pixel: int
    bytes_per_sample: int
    rows_per_strip: int
    predictor: int
    strip_offsets: Field
    strip_byte_counts: Field
    big: bool  # BigTIFF: 8-byte offsets, 20-byte entries

    @property
    def strips(self) -> int:
        return -(-self.length // self.rows_per_strip)


def read_layout(path: Path) -> StripLayout:
    """The strip layout of a little-endian, single-image, contiguous, DEFLATE TIFF (classic or BigTIFF).

    Raises:
        StripLayoutError: anything else, or strips already written.
    """
    with open(path, 'rb') as file:
        header = file.read(16)
        if header[:2] != b'II':
            raise StripLayoutError(f'{path} is not a little-endian TIFF')
        (version,) = struct.unpack_from('<H', header, 2)
        if version == 42:  # classic TIFF: 2-byte entry count, 12-byte entries, 4-byte values and offsets
            (ifd,) = struct.unpack_from('<I', header, 4)
            count_code, entry_code, offset_code = '<H', '<HHII', '<I'
        elif version == 43:  # BigTIFF: 8-byte count, 20-byte entries, 8-byte values and offsets
            (ifd,) = struct.unpack_from('<Q', header, 8)
            count_code, entry_code, offset_code = '<Q', '<HHQQ', '<Q'
        else:
            raise StripLayoutError(f'{path} is not a TIFF (version {version})')
        inline = struct.calcsize(offset_code)  # values up to this size sit in the entry itself
        file.seek(ifd)
        (entries,) = struct.unpack(count_code, file.read(struct.calcsize(count_code)))
        entry_size = struct.calcsize(entry_code)
        directory = file.read(entries * entry_size + inline)
        fields: dict[int, Field] = {}
        first_values: dict[int, int] = {}
        for index in range(entries):
            start = index * entry_size
            tag, kind, count, value = struct.unpack_from(entry_code, directory, start)
            size = TYPE_SIZES.get(kind, 0) * count
            entry = ifd + struct.calcsize(count_code) + start
            fields[tag] = Field(entry, kind, count, entry + entry_size - inline if size <= inline else value)
            if kind in INTEGER_TYPES and count >= 1:
                width, code = INTEGER_TYPES[kind]
                if size <= inline:
                    first_values[tag] = struct.unpack_from('<' + code, directory, start + entry_size - inline)[0]
                else:
                    file.seek(value)
                    first_values[tag] = struct.unpack('<' + code, file.read(width))[0]
        (next_ifd,) = struct.unpack_from(offset_code, directory, entries * entry_size)
        if next_ifd != 0:
            raise StripLayoutError(f'{path} holds more than one image')
        layout = _layout(path, fields, first_values, big=version == 43)
        for field in (layout.strip_offsets, layout.strip_byte_counts):
            file.seek(field.values)
            if any(file.read(field.count * INTEGER_TYPES[field.type][0])):
                raise StripLayoutError(f'{path} already holds strips')
    return layout


def _layout(path: Path, fields: dict[int, Field], values: dict[int, int], big: bool) -> StripLayout:
    optional = ('predictor', 'planar_configuration')
    missing = [name for name, tag in TAGS.items() if tag not in values and name not in optional]
    if missing:
        raise StripLayoutError(f'{path} lacks the TIFF tags {", ".join(missing)}')
    if values[TAGS['compression']] != ADOBE_DEFLATE:
        raise StripLayoutError(f'{path} is not DEFLATE-compressed')
    samples = values[TAGS['samples_per_pixel']]
    if samples > 1 and values.get(TAGS['planar_configuration'], CONTIGUOUS) != CONTIGUOUS:
        raise StripLayoutError(f'{path} stores its bands separately')
    bits = values[TAGS['bits_per_sample']]
    if bits % 8:
        raise StripLayoutError(f'{path} has {bits}-bit samples')
    layout = StripLayout(
        width=values[TAGS['width']],
        length=values[TAGS['length']],
        samples_per_pixel=samples,
        bytes_per_sample=bits // 8,
        rows_per_strip=min(values[TAGS['rows_per_strip']], values[TAGS['length']]),
        predictor=values.get(TAGS['predictor'], 1),
        strip_offsets=fields[TAGS['strip_offsets']],
        strip_byte_counts=fields[TAGS['strip_byte_counts']],
        big=big,
    )
    for field in (layout.strip_offsets, layout.strip_byte_counts):
        if field.type not in INTEGER_TYPES or field.count != layout.strips:
            raise StripLayoutError(f'{path} has {field.count} strip entries of type {field.type}, not {layout.strips}')
    if layout.predictor not in (1, 2, 3):
        raise StripLayoutError(f'{path} uses TIFF predictor {layout.predictor}')
    return layout


def predicted_strip(block: npt.NDArray[np.generic], predictor: int) -> npt.NDArray[np.uint8]:
    """The bytes libtiff's encoder compresses for `block` (bands, rows, width) in a contiguous little-endian strip:
    1 the pixels as they are, 2 each sample minus the same band's sample to its left (unsigned, wrapping),
    3 the floating-point predictor (each row's samples split into byte planes, most significant first, then each
    byte minus the one `bands` bytes before it in the row). The result is this thread's scratch buffer: use it
    before the thread's next call."""
    bands, rows, width = block.shape
    little = block.dtype.newbyteorder('<')
    pixels = _scratch('pixels', (rows, width, bands), little)
    np.copyto(pixels, block.transpose(1, 2, 0), casting='same_kind')
    samples = pixels.reshape(rows, width * bands)
    if predictor == 1:
        return samples.reshape(-1).view(np.uint8)
    unsigned = samples.view(np.dtype(f'<u{little.itemsize}'))
    if predictor == 3:
        size = little.itemsize
        planes = _scratch('planes', (rows, size, width * bands), np.dtype(np.uint8))
        for plane in range(size):  # assigning to uint8 keeps the low byte
            planes[:, plane, :] = unsigned >> unsigned.dtype.type(8 * (size - 1 - plane))
        unsigned = planes.reshape(rows, size * width * bands)
    difference = _scratch('difference', unsigned.shape, unsigned.dtype)
    difference[:, :bands] = unsigned[:, :bands]
    np.subtract(unsigned[:, bands:], unsigned[:, :-bands], out=difference[:, bands:])
    return difference.reshape(-1).view(np.uint8)


_thread_scratch = threading.local()


def _scratch(slot: str, shape: tuple[int, ...], dtype: np.dtype) -> npt.NDArray[Any]:
    """This thread's buffer `slot`, reused from strip to strip: a new array of a strip's size (~0.5 MB) comes from
    mmap and is paid again in page faults on every strip."""
    size = int(np.prod(shape)) * dtype.itemsize
    buffers: dict[str, npt.NDArray[np.uint8]] = _thread_scratch.__dict__.setdefault('buffers', {})
    buffer = buffers.get(slot)
    if buffer is None or buffer.size < size:
        buffer = buffers[slot] = np.empty(size, np.uint8)
    return buffer[:size].view(dtype).reshape(shape)


class StripWriter:
    """Appends a GDAL-laid-out DEFLATE TIFF's strips, encoded by ISA-L at `level`; `close()` records them.

    One thread writes a file; strips may come in any order. A file whose strips are not all written is never
    completed (its directory keeps zeros) and `close()` says so."""

    def __init__(self, path: Path, dtype: np.dtype, level: int) -> None:
        self.path = path
        self.layout = read_layout(path)
        if np.dtype(dtype).itemsize != self.layout.bytes_per_sample:
            raise StripLayoutError(f'{path} has {self.layout.bytes_per_sample}-byte samples, not {np.dtype(dtype)}')
        self.level = level
        self.offsets = np.zeros(self.layout.strips, np.uint64)
        self.byte_counts = np.zeros(self.layout.strips, np.uint64)
        self.written = np.zeros(self.layout.strips, bool)
        self.file: BinaryIO | None = open(path, 'r+b')  # noqa: SIM115 (closed by close() or abort())
        self.end = self.file.seek(0, os.SEEK_END)

    def write(self, first_row: int, block: npt.NDArray[np.generic]) -> None:
        """Encode and append the strip that `block` (bands, rows, width) is, starting at `first_row`."""
        layout = self.layout
        strip, remainder = divmod(first_row, layout.rows_per_strip)
        expected = min(layout.rows_per_strip, layout.length - first_row)
        if remainder or block.shape != (layout.samples_per_pixel, expected, layout.width) or self.written[strip]:
            raise ValueError(f'rows {first_row}+{block.shape[1]} are not a new strip of {self.path}')
        data = isal_zlib.compress(predicted_strip(block, layout.predictor), self.level)
        assert self.file is not None
        self.file.seek(self.end)
        self.file.write(data)
        self.offsets[strip], self.byte_counts[strip] = self.end, len(data)
        self.end += len(data)
        self.written[strip] = True

    def close(self) -> None:
        """Append StripOffsets and StripByteCounts and point the directory's entries at them.

        Raises:
            StripLayoutError: strips are missing, or the file outgrew a classic TIFF's 4 GiB.
            OSError: the writes failed.
        """
        if self.file is None:
            return
        try:
            if not self.written.all():
                raise StripLayoutError(f'{self.path} is incomplete ({int((~self.written).sum())} strips not written)')
            layout = self.layout
            kind, code = (16, '<Q') if layout.big else (4, '<I')
            inline = struct.calcsize(code)
            if self.end + 2 * inline * (layout.strips + 1) >= 1 << (8 * inline):  # the arrays' own offsets included
                raise StripLayoutError(f'{self.path} grew past 4 GiB, which a classic TIFF cannot address')
            for field, values in ((layout.strip_offsets, self.offsets), (layout.strip_byte_counts, self.byte_counts)):
                data = values.astype(np.dtype(code)).tobytes()
                if len(data) <= inline:
                    value = data.ljust(inline, b'\0')
                else:
                    self.end += self.end % 2  # TIFF wants values on a word boundary
                    self.file.seek(self.end)
                    self.file.write(data)
                    value, self.end = struct.pack(code, self.end), self.end + len(data)
                self.file.seek(field.entry + 2)
                self.file.write(struct.pack('<H', kind))
                self.file.seek(field.entry + (12 if layout.big else 8))  # the entry's value or offset
                self.file.write(value)
        finally:
            self.abort()

    def abort(self) -> None:
        if self.file is not None:
            file, self.file = self.file, None
            file.close()
