"""M11/M12 conversion matrices: computed from Geogrid's bands, written to and read from the pair's NetCDF.

The NetCDF layout is hyp3-autorift's `s1_correction` file (v0.18.1: cell-centre x/y; its deflate level 2 with
shuffle, the chunks encoded by ISA-L, see hdf5_chunks; its chunking capped at 256 lines, see product_chunk_lines), named for the pair
(`<reference>_X_<secondary>_conversion_matrices.nc`), with the provenance it never wrote (products/provenance.py).
The matrices themselves are computed in products/matrices.py.
"""

import contextlib
import math
import os
import queue
import threading
import typing
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, Literal

import netCDF4
import numpy as np
import numpy.typing as npt
from osgeo import gdal

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.products import hdf5_chunks
from hyp3_s1_m11m12.products.mapping import (
    MAPPING_VARIABLE_NAME,
    mapping_attributes,
    write_mapping_variable,
    write_projection_coordinates,
)
from hyp3_s1_m11m12.products.matrices import (
    LOCATION,
    MATRIX_INPUT_BANDS,
    ConversionMatrices,
    FloatArray,
    GeogridBands,
    MatrixArray,
    MatrixGrid,
    block_matrices,
    cell_centres,
    conversion_matrices_from_bands,
    conversion_matrices_from_geogrid,
    matrix_grid,
    median_of_tallies,
    no_valid_node,
    pixel_centre_geotransform,
    read_geogrid_bands,
)
from hyp3_s1_m11m12.products.packing import Int16Packing, int16_packing, pack_int16, unpack_int16
from hyp3_s1_m11m12.products.provenance import (
    LEI_2021_URL,
    Provenance,
    conversion_matrices_file_name,
    global_attributes,
)
from hyp3_s1_m11m12.staging import atomic_file, check_output_file, output_error, partial_path


gdal.UseExceptions()

# hyp3-autorift's name, still read (a legacy file); this project's files are named for their pair.
LEGACY_FILE_NAME = 'conversion_matrices.nc'
FILL_VALUE = constants.NODATA_OUT
COMPRESSION_LEVEL: Final = 2
# hyp3-autorift's chunking: whole rows, min(ceil(8192 / ny) * 128, ny) of them.
CHUNK_TARGET_LINES = 8192
CHUNK_LINE_MULTIPLE = 128
PRODUCT_CHUNK_MAX_LINES = 256  # ~0.6 M cells, ~2.5 MB of float32 per chunk for a full scene's 2458 columns
MATRIX_UNITS = 'pixel/(meter/year)'
MATRIX_DESCRIPTIONS = {
    'M11': (
        'conversion matrix element (1st row, 1st column) that can be multiplied with vx to give range pixel '
        f'displacement dr (see Eq. A18 in {LEI_2021_URL})'
    ),
    'M12': (
        'conversion matrix element (1st row, 2nd column) that can be multiplied with vy to give range pixel '
        f'displacement dr (see Eq. A18 in {LEI_2021_URL})'
    ),
}
MATRIX_NAMES = ('M11', 'M12')
MATRIX_STANDARD_NAMES = {'M11': 'conversion_matrix_element_11', 'M12': 'conversion_matrix_element_12'}
DR_TO_VR_FACTOR_DESCRIPTION = (
    'multiplicative factor that converts slant range pixel displacement dr to slant range velocity vr'
)

# float32 is the default (hyp3-autorift >= 0.20, ITS_LIVE's encoding table: int16 lost precision); int16 reproduces
# the historical V2 granules' packing.
MatrixDtype = Literal['float32', 'int16']
MATRIX_DTYPES: tuple[MatrixDtype, ...] = typing.get_args(MatrixDtype)
DEFAULT_MATRIX_DTYPE: MatrixDtype = 'float32'
# The precision M11/M12 are kept in until they are written: a float32 file's values are the float32 cast of the
# float64 matrices (cast as they are built, half the memory); int16 packs from the float64 values themselves.
MATRIX_STORAGE_DTYPES: dict[MatrixDtype, type[np.floating]] = {'float32': np.float32, 'int16': np.float64}


def chunk_lines(number_of_lines: int) -> int:
    """Lines per chunk, as hyp3-autorift (and the ITS_LIVE granules): min(ceil(8192 / ny) * 128, ny)."""
    return min(math.ceil(CHUNK_TARGET_LINES / number_of_lines) * CHUNK_LINE_MULTIPLE, number_of_lines)


def product_chunk_lines(number_of_lines: int) -> int:
    """Lines per chunk of this project's M11/M12: hyp3-autorift's, at most PRODUCT_CHUNK_MAX_LINES, so that a
    chunk is complete, and encoded, while Geogrid still runs (hyp3-autorift's rule makes one chunk of any grid
    under ~1100 lines, encoded only at the end: with ten secondaries, 1 s of serial compression per 1 M nodes)."""
    return min(chunk_lines(number_of_lines), PRODUCT_CHUNK_MAX_LINES)


def define_matrix_variable(
    dataset: netCDF4.Dataset, name: str, packing: Int16Packing | None, chunk_sizes: tuple[int, int]
) -> netCDF4.Variable:
    """M11 or M12 as ITS_LIVE writes it: int16 with `packing`, or float32 when it is None. Its dr_to_vr_factor is
    a placeholder until MatrixFileWriter.close sets it (in place: the attributes keep their order)."""
    variable = dataset.createVariable(
        name,
        'i2' if packing is not None else 'f4',
        ('y', 'x'),
        fill_value=FILL_VALUE,
        zlib=True,
        complevel=COMPRESSION_LEVEL,
        shuffle=True,
        chunksizes=chunk_sizes,
    )
    variable.setncatts(
        {
            'standard_name': MATRIX_STANDARD_NAMES[name],
            'description': MATRIX_DESCRIPTIONS[name],
            'units': MATRIX_UNITS,
            'grid_mapping': MAPPING_VARIABLE_NAME,
            'dr_to_vr_factor': np.nan,
            'dr_to_vr_factor_description': DR_TO_VR_FACTOR_DESCRIPTION,
        }
    )
    # We pack ourselves (same rounding as netCDF4's auto-scaling), so that nodata is the fill value by
    # construction rather than through a NaN cast.
    variable.set_auto_maskandscale(False)
    if packing is not None:
        variable.setncattr('scale_factor', packing.scale_factor)
        variable.setncattr('add_offset', packing.add_offset)
    return variable


def stored_values(values: MatrixArray, packing: Int16Packing | None) -> npt.NDArray[np.generic]:
    """What the file stores for `values`: int16 packed with `packing`, or float32; NaN becomes the fill value."""
    if packing is not None:
        return pack_int16(values, packing, FILL_VALUE)
    stored = values.astype(np.float32)
    stored[~np.isfinite(stored)] = FILL_VALUE
    return stored


class MatrixChunks(typing.Protocol):
    """Where whole chunks of M11/M12 go: netCDF4's variables, or encoded, straight into the HDF5 file."""

    def write(self, name: str, first_row: int, stored: npt.NDArray[np.generic]) -> None: ...


class _NetCDFVariables:
    """Chunks written through netCDF4's variables: HDF5 encodes them (with zlib, holding the GIL)."""

    def __init__(self, variables: Mapping[str, netCDF4.Variable]) -> None:
        self.variables = variables

    def write(self, name: str, first_row: int, stored: npt.NDArray[np.generic]) -> None:
        self.variables[name][first_row : first_row + stored.shape[0]] = stored


class _EncodedChunks:
    """Chunks encoded here (hdf5_chunks: ISA-L, the GIL released) and stored by HDF5 as they are."""

    def __init__(self, chunk_file: hdf5_chunks.ChunkFile, lines: int) -> None:
        self.chunk_file = chunk_file
        self.lines = lines

    def write(self, name: str, first_row: int, stored: npt.NDArray[np.generic]) -> None:
        self.chunk_file.write(name, first_row, hdf5_chunks.encode_chunk(stored, self.lines, FILL_VALUE))


def write_matrix_rows(
    chunks: MatrixChunks, name: str, first_row: int, values: MatrixArray, packing: Int16Packing | None, lines: int
) -> None:
    """Rows first_row.. of matrix `name`, `lines` at a time (one chunk's lines: the encoded copy of a full-scene
    matrix, tens of MB, never exists whole); NaN becomes the fill value."""
    for first in range(0, values.shape[0], lines):
        chunks.write(name, first_row + first, stored_values(values[first : first + lines], packing))


def write_matrix_variable(
    dataset: netCDF4.Dataset,
    name: str,
    values: MatrixArray,
    packing: Int16Packing | None,
    chunk_sizes: tuple[int, int],
    dr_to_vr_factor: float,
) -> None:
    """M11 or M12 whole into an open dataset, with its attributes (e.g. a granule's matrices)."""
    variable = define_matrix_variable(dataset, name, packing, chunk_sizes)
    write_matrix_rows(_NetCDFVariables({name: variable}), name, 0, values, packing, chunk_sizes[0])
    variable.setncattr('dr_to_vr_factor', dr_to_vr_factor)


@contextlib.contextmanager
def _no_chunk_cache() -> Iterator[None]:
    """Files opened inside get no HDF5 chunk cache. The writer writes each chunk whole, once, and the cache (netCDF's
    default, set when a file is opened) would only hold copies of them until the file closes: +36 MB for a full
    scene's two matrices, when netCDF4 encodes them. (A per-variable setting does not reach the chunks HDF5 has
    already allocated.)"""
    previous = netCDF4.get_chunk_cache()
    netCDF4.set_chunk_cache(0, 0, 1.0)
    try:
        yield
    finally:
        netCDF4.set_chunk_cache(*previous)


class MatrixFileWriter:
    """One conversion-matrices NetCDF at `path`, its M11/M12 written in bands of whole chunks (the last may be
    short), in row order, so that a matrix need never exist whole: the one writer of the layout, whether the
    matrices come all at once (write_conversion_matrices) or as Geogrid produces them (StreamedMatrices).

    netCDF4 defines the file (attributes, coordinates, mapping, the two variables with hyp3-autorift's filters) and
    closes it; the chunks are then encoded here and stored through HDF5 (hdf5_chunks), and the file is reopened
    with netCDF4 at the end to set dr_to_vr_factor. Without hdf5_chunks, netCDF4 keeps the file and encodes them.

    Raises (every method):
        OSError, RuntimeError: the file cannot be written.
    """

    def __init__(
        self,
        path: Path,
        grid: MatrixGrid,
        provenance: Provenance,
        packings: dict[str, Int16Packing | None],
        created: datetime,
    ) -> None:
        ny, nx = grid.shape
        self.path = path
        self.lines = product_chunk_lines(ny)
        self._packings = packings
        # netCDF gives a variable the chunk cache in force when the variable is created.
        with _no_chunk_cache():
            dataset = netCDF4.Dataset(path, 'w', clobber=True, format='NETCDF4')
            try:
                dataset.setncatts(global_attributes(provenance, created))
                write_projection_coordinates(dataset, grid.x, grid.y)
                write_mapping_variable(dataset, grid.epsg, grid.geotransform)
                variables = {
                    name: define_matrix_variable(dataset, name, packings[name], (self.lines, nx))
                    for name in MATRIX_NAMES
                }
            except BaseException:
                dataset.close()
                raise
        self._dataset: netCDF4.Dataset | None
        self._chunk_file: hdf5_chunks.ChunkFile | None
        self._chunks: MatrixChunks
        if hdf5_chunks.available():
            dataset.close()
            self._dataset = None
            self._chunk_file = hdf5_chunks.ChunkFile(path, MATRIX_NAMES)
            self._chunks = _EncodedChunks(self._chunk_file, self.lines)
        else:
            self._dataset = dataset
            self._chunk_file = None
            self._chunks = _NetCDFVariables(variables)

    @property
    def encodes_chunks(self) -> bool:
        """Whether the chunks are encoded here (else by netCDF4)."""
        return self._chunk_file is not None

    def write_rows(self, first_row: int, m11: MatrixArray, m12: MatrixArray) -> None:
        """Rows first_row.. of both matrices (NaN: nodata); `first_row` starts a chunk, and the rows are whole chunks
        but at the grid's end, so that each chunk is encoded once, whole."""
        if first_row % self.lines:
            raise ValueError(f'row {first_row} does not start a chunk of {self.lines} lines')
        for name, values in zip(MATRIX_NAMES, (m11, m12), strict=True):
            write_matrix_rows(self._chunks, name, first_row, values, self._packings[name], self.lines)

    def close(self, dr_to_vr_factor: float | None) -> None:
        """Set dr_to_vr_factor on both matrices and close; None: close an abandoned file as it is."""
        dataset = self._dataset
        self._dataset = None
        try:
            if self._chunk_file is not None:
                chunk_file, self._chunk_file = self._chunk_file, None
                chunk_file.close()
                if dr_to_vr_factor is not None:
                    dataset = netCDF4.Dataset(self.path, 'a')
            if dr_to_vr_factor is not None and dataset is not None:
                for name in MATRIX_NAMES:
                    dataset[name].setncattr('dr_to_vr_factor', dr_to_vr_factor)
        finally:
            if dataset is not None:
                dataset.close()


def _matrix_packings(matrices: ConversionMatrices, dtype: str) -> dict[str, Int16Packing | None]:
    return {
        name: int16_packing(values) if dtype == 'int16' else None
        for name, values in zip(MATRIX_NAMES, (matrices.M11, matrices.M12), strict=True)
    }


def write_conversion_matrices(
    matrices: ConversionMatrices,
    output: Path,
    *,
    provenance: Provenance,
    dtype: str = DEFAULT_MATRIX_DTYPE,
    overwrite: bool = False,
) -> Path:
    """Write the conversion-matrices NetCDF `output` atomically and return its path.

    `dtype` 'float32' is the layout of hyp3-autorift >= 0.20 (the default); 'int16' packs each matrix to -50..50 as
    hyp3-autorift 0.18-0.19 and the V2 granules do. The file appears complete or not at all (staging.atomic_file).

    Raises:
        ProductError: unknown dtype, unsupported projection, a matrix int16 cannot pack, `output` exists without
            `overwrite`, or the write fails (then no file is left, and an existing `output` is untouched).
    """
    if dtype not in MATRIX_DTYPES:
        raise ProductError(f'unknown M11/M12 data type {dtype!r}; choose one of {", ".join(MATRIX_DTYPES)}')
    mapping_attributes(matrices.epsg, matrices.geotransform)  # an unsupported projection fails before any I/O
    packings = _matrix_packings(matrices, dtype)
    created = datetime.now(timezone.utc).replace(tzinfo=None)
    grid = MatrixGrid(x=matrices.x, y=matrices.y, epsg=matrices.epsg, geotransform=matrices.geotransform)
    with atomic_file(output, overwrite=overwrite) as temporary:
        try:
            writer = MatrixFileWriter(temporary, grid, provenance, packings, created)
            try:
                writer.write_rows(0, matrices.M11, matrices.M12)
            except BaseException:
                writer.close(None)
                raise
            writer.close(matrices.dr_to_vr_factor)
        except (OSError, RuntimeError) as error:
            raise ProductError(
                f'cannot write {output} ({error}); check that its folder is writable and has free space'
            ) from None
    return output


class _HDF5Thread:
    """The one thread that makes the HDF5 calls of every StreamedMatrices, and encodes their chunks: HDF5 is not
    thread-safe, and the encoding (numpy's shuffle, ISA-L) releases the GIL, so that Geogrid's main thread goes on
    reading and dispatching blocks meanwhile.

    A daemon thread, not a ThreadPoolExecutor's: a signal that interrupts the executor while it starts its thread
    (between the start and its registration for the exit wake-up) left the interpreter joining that idle thread
    forever. Nothing is left for it at exit: every stream waits for its calls (finish) or is aborted (abort).
    """

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name='netcdf', daemon=True).start()

    def submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._calls.put((future, function, args))
        return future

    def _run(self) -> None:
        while True:
            future, function, args = self._calls.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function(*args))
            except BaseException as error:  # noqa: BLE001 - handed to the waiting stream, which raises it there
                future.set_exception(error)


def _hdf5_thread() -> _HDF5Thread:
    global _HDF5_THREAD
    with _HDF5_THREAD_LOCK:
        if _HDF5_THREAD is None:
            _HDF5_THREAD = _HDF5Thread()
        return _HDF5_THREAD


_HDF5_THREAD: _HDF5Thread | None = None
_HDF5_THREAD_LOCK = threading.Lock()


class StreamedMatrices:
    """A pair's float32 conversion-matrices NetCDF written while Geogrid runs: a geogrid BandSink.

    Each block's M11/M12 are computed as MatrixAccumulator computes them (block_matrices, then the float32 cast a
    float32 file stores: the same bits as writing the whole matrices at the end); a chunk's rows go to the HDF5
    thread as soon as they are complete (at most one chunk of a pair in flight), so that the NetCDF's compression
    overlaps Geogrid and a pair holds two bands of chunks, not its whole matrices (8 bytes a node). What the
    quick-look draws (every `step`-th cell of both matrices) is kept. `drawn` gives those cells once every row is
    in; `finish` writes the grid's last chunk (kept until then, so that its encoding overlaps the quick-look), sets
    dr_to_vr_factor and moves the file into place; `abort` removes it. Calls come from one thread.
    """

    def __init__(
        self,
        output: Path,
        provenance: Provenance,
        nodata: float | None = float(constants.NODATA_OUT),
        source: str = 'the Geogrid outputs',
        *,
        step: Callable[[tuple[int, int]], int],
        overwrite: bool = False,
    ) -> None:
        self.output = output
        self.provenance = provenance
        self.nodata = nodata
        self.source = source
        self._step_of = step
        self.overwrite = overwrite
        self._writer: MatrixFileWriter | None = None
        self._temporary: Path | None = None
        self._in_flight: Future[None] | None = None
        self._opening: Future[MatrixFileWriter] | None = None

    def start(
        self,
        rows: int,
        columns: int,
        geotransform: tuple[float, float, float, float, float, float],
        projection_wkt: str,
    ) -> None:
        self._abandon()
        self.grid = matrix_grid(geotransform, projection_wkt, (rows, columns), self.source)
        mapping_attributes(self.grid.epsg, self.grid.geotransform)
        check_output_file(self.output, self.overwrite)
        self._temporary = partial_path(self.output)
        created = datetime.now(timezone.utc).replace(tzinfo=None)
        # Created on the HDF5 thread while Geogrid starts: the first chunk waits for it there (its queue is FIFO).
        self._opening = _hdf5_thread().submit(
            MatrixFileWriter, self._temporary, self.grid, self.provenance, dict.fromkeys(MATRIX_NAMES), created
        )
        self._lines = product_chunk_lines(rows)
        self.step = self._step_of((rows, columns))
        shown = (math.ceil(rows / self.step), math.ceil(columns / self.step))
        self._shown = (np.full(shown, np.nan, np.float32), np.full(shown, np.nan, np.float32))
        self._pending = self._new_pending()
        self._pending_first = 0  # the first row of the chunk being filled
        self._rows_added = 0
        self._factor_tallies: dict[float, int] = {}
        self._any_valid = False

    def _new_pending(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        shape = (self._lines, self.grid.shape[1])
        return np.empty(shape, np.float32), np.empty(shape, np.float32)

    def _file(self) -> MatrixFileWriter:
        """The open file, once the HDF5 thread has created it.

        Raises:
            ProductError: it could not be created (the stream is abandoned then).
        """
        if self._writer is None and self._opening is not None:
            opening, self._opening = self._opening, None
            try:
                self._writer = opening.result()
            except (OSError, RuntimeError) as error:
                self._abandon()
                raise self._error(error) from None
        if self._writer is None:
            raise ValueError('start() the stream with the grid first')
        return self._writer

    def add(self, first_row: int, bands: Mapping[str, npt.NDArray[np.generic]]) -> None:
        if self._writer is None and self._opening is None:
            raise ValueError('start() the stream with the grid first')
        rows, columns = bands[LOCATION].shape[-2:]
        if first_row != self._rows_added or columns != self.grid.shape[1] or first_row + rows > self.grid.shape[0]:
            raise ProductError(f'{self.source}: a block of {rows} x {columns} at row {first_row} is out of order')
        matrices = [values.astype(np.float32) for values in block_matrices(bands, self.nodata, self._factor_tallies)]
        self._any_valid = self._any_valid or bool(np.isfinite(matrices[0]).any())
        for kept, values in zip(self._shown, matrices, strict=True):
            first_shown = -(-first_row // self.step) * self.step  # the first row of the block that is drawn
            kept[first_shown // self.step : (first_row + rows + self.step - 1) // self.step] = values[
                first_shown - first_row :: self.step, :: self.step
            ]
        done = 0
        total = self.grid.shape[0]
        while done < rows:
            offset = first_row + done - self._pending_first
            take = min(rows - done, self._lines - offset)
            for pending, values in zip(self._pending, matrices, strict=True):
                pending[offset : offset + take] = values[done : done + take]
            done += take
            filled = offset + take
            # The grid's last chunk waits for finish(), so that its encoding overlaps the quick-look's drawing.
            if filled == self._lines and self._pending_first + filled < total:
                self._send_pending(filled)
        self._rows_added += rows

    def _send_pending(self, filled: int) -> None:
        """Hand the filled chunk to the HDF5 thread, once the pair's previous one is written."""
        writer = self._file()
        self._wait_in_flight()
        first, (m11, m12) = self._pending_first, self._pending
        self._in_flight = _hdf5_thread().submit(writer.write_rows, first, m11[:filled], m12[:filled])
        self._pending = self._new_pending()
        self._pending_first += filled

    def _wait_in_flight(self) -> None:
        if self._in_flight is None:
            return
        in_flight, self._in_flight = self._in_flight, None
        try:
            in_flight.result()
        except (OSError, RuntimeError) as error:
            self._abandon()
            raise self._error(error) from None

    def _complete_factor(self) -> float:
        """dr_to_vr_factor, once every row is in.

        Raises:
            ProductError: not every row was added, or nothing is valid (the stream is abandoned then).
        """
        if (self._writer is None and self._opening is None) or self._rows_added != self.grid.shape[0]:
            self._abandon()
            raise ProductError(f'{self.source}: Geogrid stopped before its last row; run Geogrid again')
        if not self._factor_tallies or not self._any_valid:
            self._abandon()
            raise ProductError(no_valid_node(self.source))
        return median_of_tallies(self._factor_tallies)

    def drawn(self) -> ConversionMatrices:
        """What the quick-look draws, once every row is in: every `step`-th cell of both matrices, on the
        coordinates of those cells, with dr_to_vr_factor (nothing is written).

        Raises:
            ProductError: as `_complete_factor`.
        """
        return ConversionMatrices(
            M11=self._shown[0],
            M12=self._shown[1],
            x=self.grid.x[:: self.step],
            y=self.grid.y[:: self.step],
            epsg=self.grid.epsg,
            geotransform=self.grid.geotransform,
            dr_to_vr_factor=self._complete_factor(),
        )

    def finish(self) -> Path:
        """Write the last chunk, set dr_to_vr_factor, close the file and move it into place.

        Raises:
            ProductError: as `drawn`, or the file cannot be written.
        """
        factor = self._complete_factor()
        self._send_pending(self.grid.shape[0] - self._pending_first)
        self._wait_in_flight()
        writer, temporary = self._file(), self._temporary
        assert temporary is not None
        try:
            _hdf5_thread().submit(writer.close, factor).result()
            self._writer = None
            os.replace(temporary, self.output)
        except OSError as error:
            self._abandon()
            raise output_error(self.output, error) from None
        except RuntimeError as error:
            self._abandon()
            raise self._error(error) from None
        self._temporary = None
        return self.output

    def abort(self) -> None:
        """Remove what was written (after an error elsewhere)."""
        self._abandon()

    def _abandon(self) -> None:
        if self._opening is not None:
            opening, self._opening = self._opening, None
            with contextlib.suppress(OSError, RuntimeError):
                self._writer = opening.result()
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            with contextlib.suppress(OSError, RuntimeError):
                in_flight.result()
        if self._writer is not None:
            writer, self._writer = self._writer, None
            with contextlib.suppress(OSError, RuntimeError):
                _hdf5_thread().submit(writer.close, None).result()
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)
            self._temporary = None

    def _error(self, error: BaseException) -> ProductError:
        return ProductError(
            f'cannot write {self.output} ({error}); check that its folder is writable and has free space'
        )


def _attribute(variable: Any, name: str, path: Path) -> Any:
    try:
        return variable.getncattr(name)
    except AttributeError:
        raise ProductError(
            f'{path}: variable {variable.name} lacks the attribute {name!r}; it is not a conversion_matrices.nc '
            'file, re-create it with s1_correction_fixed'
        ) from None


def _read_matrix(variable: Any, path: Path) -> FloatArray:
    raw = np.asarray(variable[:])
    fill = variable.getncattr('_FillValue') if '_FillValue' in variable.ncattrs() else FILL_VALUE
    if np.issubdtype(raw.dtype, np.integer):
        attributes = variable.ncattrs()
        if 'scale_factor' in attributes or 'add_offset' in attributes:
            packing = Int16Packing(
                scale_factor=np.float32(variable.getncattr('scale_factor') if 'scale_factor' in attributes else 1),
                add_offset=np.float32(variable.getncattr('add_offset') if 'add_offset' in attributes else 0),
            )
            return unpack_int16(raw, packing, int(fill))
        values = raw.astype(np.float64)
    else:
        values = raw.astype(np.float64)
    values[(raw == fill) | ~np.isfinite(values)] = np.nan
    return values


def read_conversion_matrices(path: Path) -> ConversionMatrices:
    """Read a `conversion_matrices.nc` (ours or hyp3-autorift's >= 0.18.1; int16 is unpacked, fill becomes NaN).

    Raises:
        ProductError: the file is missing, truncated, not NetCDF, or lacks M11, M12, x, y or the mapping variable.
    """
    if not path.is_file():
        raise ProductError(f'{path} does not exist; give the path of a conversion_matrices.nc file')
    try:
        with netCDF4.Dataset(path, 'r') as dataset:
            variables = dataset.variables
            missing = [name for name in ('x', 'y', 'M11', 'M12', MAPPING_VARIABLE_NAME) if name not in variables]
            if missing:
                raise ProductError(
                    f'{path} lacks the variable(s) {", ".join(missing)}; it is not a conversion_matrices.nc file, '
                    're-create it with s1_correction_fixed'
                )
            for name in ('x', 'y', 'M11', 'M12'):
                variables[name].set_auto_maskandscale(False)
            m11 = _read_matrix(variables['M11'], path)
            m12 = _read_matrix(variables['M12'], path)
            x = np.asarray(variables['x'][:], dtype=np.float64)
            y = np.asarray(variables['y'][:], dtype=np.float64)
            mapping = variables[MAPPING_VARIABLE_NAME]
            epsg = int(_attribute(mapping, 'spatial_epsg', path))
            geotransform_text = str(_attribute(mapping, 'GeoTransform', path))
            dr_to_vr_factor = float(_attribute(variables['M11'], 'dr_to_vr_factor', path))
    except (OSError, RuntimeError) as error:
        raise ProductError(
            f'cannot read {path} ({error}); the file is truncated or not NetCDF, download or create it again'
        ) from error
    try:
        geotransform = tuple(float(term) for term in geotransform_text.split())
    except ValueError:
        geotransform = ()
    if len(geotransform) != 6:
        raise ProductError(f'{path}: mapping:GeoTransform {geotransform_text!r} is not 6 numbers; re-create the file')
    return ConversionMatrices(
        M11=m11,
        M12=m12,
        x=x,
        y=y,
        epsg=epsg,
        geotransform=geotransform,
        dr_to_vr_factor=dr_to_vr_factor,
    )


__all__ = [
    'DEFAULT_MATRIX_DTYPE',
    'LEGACY_FILE_NAME',
    'MATRIX_DTYPES',
    'MATRIX_INPUT_BANDS',
    'MATRIX_STORAGE_DTYPES',
    'ConversionMatrices',
    'FloatArray',
    'GeogridBands',
    'MatrixArray',
    'MatrixDtype',
    'Provenance',
    'cell_centres',
    'conversion_matrices_file_name',
    'conversion_matrices_from_bands',
    'conversion_matrices_from_geogrid',
    'pixel_centre_geotransform',
    'read_conversion_matrices',
    'read_geogrid_bands',
    'write_conversion_matrices',
]
