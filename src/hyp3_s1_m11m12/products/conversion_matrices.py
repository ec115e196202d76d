"""M11/M12 conversion matrices: computed from Geogrid's bands, written to and read from the pair's NetCDF.

The NetCDF layout is hyp3-autorift's `s1_correction` file (v0.18.1: cell-centre x/y), named for the pair
(`<reference>_X_<secondary>_conversion_matrices.nc`), with the provenance it never wrote (products/provenance.py).
The matrices themselves are computed in products/matrices.py.
"""

import contextlib
import math
import typing
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, Literal

import netCDF4
import numpy as np
from osgeo import gdal

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.products.mapping import (
    MAPPING_VARIABLE_NAME,
    mapping_attributes,
    write_mapping_variable,
    write_projection_coordinates,
)
from hyp3_s1_m11m12.products.matrices import (
    MATRIX_INPUT_BANDS,
    ConversionMatrices,
    FloatArray,
    GeogridBands,
    MatrixArray,
    cell_centres,
    compute_conversion_matrices,
    conversion_matrices_from_bands,
    conversion_matrices_from_geogrid,
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
from hyp3_s1_m11m12.staging import atomic_file


gdal.UseExceptions()

# hyp3-autorift's name, still read (a legacy file); this project's files are named for their pair.
LEGACY_FILE_NAME = 'conversion_matrices.nc'
FILL_VALUE = constants.NODATA_OUT
COMPRESSION_LEVEL: Final = 2
# hyp3-autorift's chunking: whole rows, min(ceil(8192 / ny) * 128, ny) of them.
CHUNK_TARGET_LINES = 8192
CHUNK_LINE_MULTIPLE = 128
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
    """Lines per chunk, as hyp3-autorift: min(ceil(8192 / ny) * 128, ny)."""
    return min(math.ceil(CHUNK_TARGET_LINES / number_of_lines) * CHUNK_LINE_MULTIPLE, number_of_lines)


def write_matrix_variable(
    dataset: netCDF4.Dataset,
    name: str,
    values: MatrixArray,
    packing: Int16Packing | None,
    chunk_sizes: tuple[int, int],
    dr_to_vr_factor: float,
) -> None:
    """M11 or M12 as ITS_LIVE writes it: int16 with `packing`, or float32 when it is None; NaN becomes the fill."""
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
            'dr_to_vr_factor': dr_to_vr_factor,
            'dr_to_vr_factor_description': DR_TO_VR_FACTOR_DESCRIPTION,
        }
    )
    # We pack ourselves (same rounding as netCDF4's auto-scaling), so that nodata is the fill value by
    # construction rather than through a NaN cast; one chunk's lines at a time, so that the encoded copy of a
    # full-scene matrix (tens of MB) never exists whole. Each slab is whole chunks: the file's bytes do not change.
    variable.set_auto_maskandscale(False)
    if packing is not None:
        variable.setncattr('scale_factor', packing.scale_factor)
        variable.setncattr('add_offset', packing.add_offset)
    lines = chunk_sizes[0]
    for first in range(0, values.shape[0], lines):
        slab = values[first : first + lines]
        if packing is not None:
            variable[first : first + lines] = pack_int16(slab, packing, FILL_VALUE)
        else:
            stored = slab.astype(np.float32)
            stored[~np.isfinite(stored)] = FILL_VALUE
            variable[first : first + lines] = stored


@contextlib.contextmanager
def _no_chunk_cache() -> Iterator[None]:
    """Files opened inside get no HDF5 chunk cache. The writer writes each chunk whole, once, and the cache (netCDF's
    default, set when a file is opened) would only hold copies of them until the file closes: +36 MB for a full
    scene's two matrices. (A per-variable setting does not reach the chunks HDF5 has already allocated.)"""
    previous = netCDF4.get_chunk_cache()
    netCDF4.set_chunk_cache(0, 0, 1.0)
    try:
        yield
    finally:
        netCDF4.set_chunk_cache(*previous)


def _write_dataset(
    path: Path,
    matrices: ConversionMatrices,
    provenance: Provenance,
    packings: dict[str, Int16Packing | None],
    created: datetime,
) -> None:
    ny, nx = matrices.shape
    with _no_chunk_cache(), netCDF4.Dataset(path, 'w', clobber=True, format='NETCDF4') as dataset:
        dataset.setncatts(global_attributes(provenance, created))
        write_projection_coordinates(dataset, matrices.x, matrices.y)
        write_mapping_variable(dataset, matrices.epsg, matrices.geotransform)
        chunk_sizes = (chunk_lines(ny), nx)
        write_matrix_variable(dataset, 'M11', matrices.M11, packings['M11'], chunk_sizes, matrices.dr_to_vr_factor)
        write_matrix_variable(dataset, 'M12', matrices.M12, packings['M12'], chunk_sizes, matrices.dr_to_vr_factor)


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
    packings: dict[str, Int16Packing | None] = {
        name: int16_packing(values) if dtype == 'int16' else None
        for name, values in (('M11', matrices.M11), ('M12', matrices.M12))
    }
    created = datetime.now(timezone.utc).replace(tzinfo=None)
    with atomic_file(output, overwrite=overwrite) as temporary:
        try:
            _write_dataset(temporary, matrices, provenance, packings, created)
        except (OSError, RuntimeError) as error:
            raise ProductError(
                f'cannot write {output} ({error}); check that its folder is writable and has free space'
            ) from None
    return output


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
    'compute_conversion_matrices',
    'conversion_matrices_file_name',
    'conversion_matrices_from_bands',
    'conversion_matrices_from_geogrid',
    'pixel_centre_geotransform',
    'read_conversion_matrices',
    'read_geogrid_bands',
    'write_conversion_matrices',
]
