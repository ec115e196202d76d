"""M11/M12 conversion matrices: computed from Geogrid's GeoTIFFs, written to and read from `conversion_matrices.nc`.

The NetCDF layout is hyp3-autorift's `s1_correction` file (v0.18.1: cell-centre x/y, named `conversion_matrices.nc`),
with the provenance it never wrote: which pair, which repeat time, which Geogrid engine.
M11 = Y2 / (X1*Y2 - X2*Y1) / sf1 and M12 = -X2 / (X1*Y2 - X2*Y1) / sf1, X and Y being bands 1-2 of
window_rdr_off2vel_x_vec / _y_vec and sf1 band 1 of window_scale_factor (Eq. A18 of Lei et al. 2021).
"""

import math
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, Literal

import netCDF4
import numpy as np
import numpy.typing as npt
from osgeo import gdal

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.products.mapping import (
    MAPPING_VARIABLE_NAME,
    mapping_attributes,
    spatial_reference,
    write_mapping_variable,
    write_projection_coordinates,
)
from hyp3_s1_m11m12.products.packing import Int16Packing, int16_packing, pack_int16, unpack_int16
from hyp3_s1_m11m12.timeutil import format_utc


gdal.UseExceptions()

CONVERSION_MATRICES_FILE_NAME = 'conversion_matrices.nc'
TITLE = 'autoRIFT S1 Corrections'
FILL_VALUE = constants.NODATA_OUT
COMPRESSION_LEVEL: Final = 2
# hyp3-autorift's chunking: whole rows, min(ceil(8192 / ny) * 128, ny) of them.
CHUNK_TARGET_LINES = 8192
CHUNK_LINE_MULTIPLE = 128
# hyp3-autorift wrote local time in this format; we write UTC in it, so that tools parsing it keep working.
DATE_CREATED_FORMAT = '%d-%b-%Y %H:%M:%S'
MATRIX_UNITS = 'pixel/(meter/year)'
LEI_2021_URL = 'https://www.mdpi.com/2072-4292/13/4/749'
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

MatrixDtype = Literal['int16', 'float32']
MATRIX_DTYPES: tuple[MatrixDtype, ...] = ('int16', 'float32')

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where a set of conversion matrices came from; written as global attributes of `conversion_matrices.nc`.

    Times are naive UTC. `secondary_id` and the sensing starts are None when the repeat time was given directly.
    `parameter_file` is the ITS_LIVE autoRIFT parameter shapefile (a /vsicurl/ prefix is dropped when written).
    """

    software_version: str
    reference_id: str
    dt_seconds: float
    engine: str
    engine_version: str
    secondary_id: str | None = None
    reference_sensing_start: datetime | None = None
    secondary_sensing_start: datetime | None = None
    parameter_file: str | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.dt_seconds) or self.dt_seconds == 0:
            raise ProductError(
                f'the repeat time dt = {self.dt_seconds} s is not a usable time separation; give the secondary '
                'acquisition or a non-zero dt in seconds'
            )

    @property
    def dt_days(self) -> float:
        return self.dt_seconds / constants.SECONDS_PER_DAY


@dataclass(frozen=True, eq=False)
class ConversionMatrices:
    """M11 and M12 on a map grid, in pixel/(m/yr); NaN marks nodata.

    x and y are the cell centres (ascending x, descending y for a north-up grid); `geotransform` is the pixel-centre
    geotransform (GDAL's origin shifted by half a cell), the one written to the `mapping` variable.
    `dr_to_vr_factor` converts slant-range pixel displacement to slant-range velocity (m/yr per pixel).
    """

    M11: FloatArray
    M12: FloatArray
    x: FloatArray
    y: FloatArray
    epsg: int
    geotransform: tuple[float, float, float, float, float, float]
    dr_to_vr_factor: float

    def __post_init__(self) -> None:
        if self.M11.ndim != 2 or self.M11.shape != self.M12.shape:
            raise ProductError(f'M11 {self.M11.shape} and M12 {self.M12.shape} must be 2-D arrays of the same shape')
        ny, nx = self.M11.shape
        if self.x.shape != (nx,) or self.y.shape != (ny,):
            raise ProductError(
                f'x {self.x.shape} and y {self.y.shape} do not match the matrices {self.M11.shape} (y, x)'
            )
        if len(self.geotransform) != 6:
            raise ProductError(f'a geotransform has 6 terms, got {self.geotransform}')
        if not math.isfinite(self.dr_to_vr_factor):
            raise ProductError(f'dr_to_vr_factor {self.dr_to_vr_factor} is not finite')

    @property
    def shape(self) -> tuple[int, int]:
        ny, nx = self.M11.shape
        return ny, nx


@dataclass(frozen=True)
class _Raster:
    bands: list[FloatArray]  # nodata already NaN
    geotransform: tuple[float, float, float, float, float, float]
    projection_wkt: str
    nodata_mask: npt.NDArray[np.bool_] = field(repr=False)  # of band 1


def compute_conversion_matrices(
    x1: FloatArray, x2: FloatArray, y1: FloatArray, y2: FloatArray, sf1: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """M11 and M12 from Geogrid's off2vel bands and range scale factor (NaN in, NaN out; a zero determinant too)."""
    with np.errstate(divide='ignore', invalid='ignore'):
        determinant = x1 * y2 - x2 * y1
        m11 = y2 / determinant / sf1
        m12 = -x2 / determinant / sf1
    m11[~np.isfinite(m11)] = np.nan
    m12[~np.isfinite(m12)] = np.nan
    return m11, m12


def pixel_centre_geotransform(geotransform: Sequence[float]) -> tuple[float, float, float, float, float, float]:
    """GDAL's corner geotransform with the origin moved to the centre of the first cell (hyp3-autorift >= 0.18.1)."""
    x0, dx, rx, y0, ry, dy = (float(term) for term in geotransform)
    return (x0 + dx / 2, dx, rx, y0 + dy / 2, ry, dy)


def cell_centres(centre_geotransform: Sequence[float], shape: tuple[int, int]) -> tuple[FloatArray, FloatArray]:
    """x and y of the cell centres of a north-up grid of `shape` (ny, nx)."""
    ny, nx = shape
    x = centre_geotransform[0] + centre_geotransform[1] * np.arange(nx, dtype=np.float64)
    y = centre_geotransform[3] + centre_geotransform[5] * np.arange(ny, dtype=np.float64)
    return x, y


def chunk_lines(number_of_lines: int) -> int:
    """Lines per chunk, as hyp3-autorift: min(ceil(8192 / ny) * 128, ny)."""
    return min(math.ceil(CHUNK_TARGET_LINES / number_of_lines) * CHUNK_LINE_MULTIPLE, number_of_lines)


def _read_raster(path: Path, band_count: int, fallback_nodata: float | None = None) -> _Raster:
    if not path.is_file():
        raise ProductError(f'Geogrid output {path} is missing; run Geogrid first (it writes all nine window_*.tif)')
    try:
        dataset = gdal.Open(str(path))
        if dataset.RasterCount < band_count:
            raise ProductError(
                f'{path} has {dataset.RasterCount} band(s) but {band_count} are needed; it is not a complete '
                'Geogrid output, run Geogrid again'
            )
        bands: list[FloatArray] = []
        nodata_mask: npt.NDArray[np.bool_] | None = None
        for number in range(1, band_count + 1):
            band = dataset.GetRasterBand(number)
            values = np.asarray(band.ReadAsArray(), dtype=np.float64)
            nodata = band.GetNoDataValue()
            if nodata is None:
                nodata = fallback_nodata
            mask = ~np.isfinite(values) if nodata is None else (values == nodata) | ~np.isfinite(values)
            values[mask] = np.nan
            if nodata_mask is None:
                nodata_mask = mask
            bands.append(values)
            del band
        geotransform = tuple(float(term) for term in dataset.GetGeoTransform())
        projection = dataset.GetProjection()
        del dataset
    except RuntimeError as error:
        raise ProductError(f'cannot read Geogrid output {path} ({error}); run Geogrid again') from error
    assert nodata_mask is not None
    return _Raster(
        bands=bands,
        geotransform=geotransform,  # type: ignore[arg-type]
        projection_wkt=projection,
        nodata_mask=nodata_mask,
    )


def conversion_matrices_from_geogrid(geogrid_dir: Path) -> ConversionMatrices:
    """M11/M12 from the window_*.tif files Geogrid wrote in `geogrid_dir`.

    Nodata (window_location band 1, or any of X1, X2, Y1, Y2, sf1) becomes NaN. dr_to_vr_factor is the median of
    the valid values of window_rdr_off2vel_x_vec band 3.

    Raises:
        ProductError: a file is missing, unreadable or incomplete; the grids differ; the grid is rotated or has no
            EPSG code; nothing is valid.
    """
    location = _read_raster(geogrid_dir / 'window_location.tif', 1)
    nodata = float(constants.NODATA_OUT)
    x_vec = _read_raster(geogrid_dir / 'window_rdr_off2vel_x_vec.tif', 3, nodata)
    y_vec = _read_raster(geogrid_dir / 'window_rdr_off2vel_y_vec.tif', 2, nodata)
    scale = _read_raster(geogrid_dir / 'window_scale_factor.tif', 1, nodata)

    ny, nx = location.nodata_mask.shape
    shape = (ny, nx)
    for name, raster in (
        ('window_rdr_off2vel_x_vec.tif', x_vec),
        ('window_rdr_off2vel_y_vec.tif', y_vec),
        ('window_scale_factor.tif', scale),
    ):
        if raster.bands[0].shape != shape or raster.geotransform != location.geotransform:
            raise ProductError(
                f'{geogrid_dir / name} is not on the grid of window_location.tif ({raster.bands[0].shape} vs '
                f'{shape}, geotransform {raster.geotransform} vs {location.geotransform}); all Geogrid outputs must '
                'come from the same run, run Geogrid again'
            )
    if location.geotransform[2] != 0 or location.geotransform[4] != 0:
        raise ProductError(
            f'the Geogrid grid in {geogrid_dir} is rotated (geotransform {location.geotransform}); '
            'ITS_LIVE grids are north-up, use a north-up DEM'
        )
    if not location.projection_wkt:
        raise ProductError(
            f"{geogrid_dir / 'window_location.tif'} has no map projection; Geogrid writes the DEM's CRS, "
            'give it a DEM with an EPSG-coded UTM or polar stereographic CRS'
        )
    _, epsg = spatial_reference(location.projection_wkt)

    x1, x2, offset2vr = x_vec.bands
    y1, y2 = y_vec.bands
    m11, m12 = compute_conversion_matrices(x1, x2, y1, y2, scale.bands[0])
    m11[location.nodata_mask] = np.nan
    m12[location.nodata_mask] = np.nan
    valid_offset2vr = offset2vr[np.isfinite(offset2vr)]
    if valid_offset2vr.size == 0 or not np.isfinite(m11).any():
        raise ProductError(
            f'the Geogrid outputs in {geogrid_dir} have no valid node (the map grid does not overlap the radar '
            'image); check that the parameter rasters cover the scene'
        )

    centre_geotransform = pixel_centre_geotransform(location.geotransform)
    x, y = cell_centres(centre_geotransform, shape)
    return ConversionMatrices(
        M11=m11,
        M12=m12,
        x=x,
        y=y,
        epsg=epsg,
        geotransform=centre_geotransform,
        dr_to_vr_factor=float(np.median(valid_offset2vr)),
    )


def global_attributes(provenance: Provenance, created: datetime) -> dict[str, Any]:
    """The global attributes of `conversion_matrices.nc`, hyp3-autorift's first, then the provenance.

    Attributes whose value is unknown (None) are left out. `created` is naive UTC.
    """
    attributes: dict[str, Any] = {
        'GDAL_AREA_OR_POINT': 'Area',
        'Conventions': 'CF-1.8',
        'date_created': created.strftime(DATE_CREATED_FORMAT),
        'title': TITLE,
    }
    if provenance.engine == 'autorift':
        attributes['autoRIFT_software_version'] = provenance.engine_version
    if provenance.parameter_file is not None:
        attributes['autoRIFT_parameter_file'] = provenance.parameter_file.removeprefix(constants.VSICURL_PREFIX)
    attributes['software'] = 'hyp3_s1_m11m12'
    attributes['software_version'] = provenance.software_version
    attributes['geogrid_engine'] = provenance.engine
    attributes['geogrid_engine_version'] = provenance.engine_version
    attributes['reference_granule'] = provenance.reference_id
    if provenance.secondary_id is not None:
        attributes['secondary_granule'] = provenance.secondary_id
    if provenance.reference_sensing_start is not None:
        attributes['reference_sensing_start'] = format_utc(provenance.reference_sensing_start)
    if provenance.secondary_sensing_start is not None:
        attributes['secondary_sensing_start'] = format_utc(provenance.secondary_sensing_start)
    attributes['dt_seconds'] = float(provenance.dt_seconds)
    attributes['dt_days'] = provenance.dt_days
    secondary = provenance.secondary_id or 'a secondary given by its repeat time'
    attributes['history'] = (
        f'{format_utc(created)}: M11/M12 computed by hyp3_s1_m11m12 {provenance.software_version} from '
        f'{provenance.engine} {provenance.engine_version} radar Geogrid outputs of {provenance.reference_id} and '
        f'{secondary}, with the true repeat time dt = {provenance.dt_seconds} s'
    )
    attributes['references'] = LEI_2021_URL
    return attributes


def _check_output(output: Path, overwrite: bool) -> None:
    if output.exists() and not overwrite:
        raise ProductError(f'{output} already exists; remove it or pass --overwrite to replace it')
    if output.is_dir():
        raise ProductError(f'{output} is a directory; choose another output file name')
    if not output.parent.is_dir():
        raise ProductError(f'output directory {output.parent} does not exist; create it or choose another one')


def _temporary_path(output: Path) -> Path:
    # Hidden and in the same folder: os.replace is atomic only within one file system.
    return output.with_name(f'.{output.name}.{uuid.uuid4().hex}.partial')


def write_matrix_variable(
    dataset: netCDF4.Dataset,
    name: str,
    values: FloatArray,
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
    # construction rather than through a NaN cast.
    variable.set_auto_maskandscale(False)
    if packing is not None:
        variable.setncattr('scale_factor', packing.scale_factor)
        variable.setncattr('add_offset', packing.add_offset)
        variable[:] = pack_int16(values, packing, FILL_VALUE)
    else:
        stored = values.astype(np.float32)
        stored[~np.isfinite(stored)] = FILL_VALUE
        variable[:] = stored


def _write_dataset(
    path: Path,
    matrices: ConversionMatrices,
    provenance: Provenance,
    packings: dict[str, Int16Packing | None],
    created: datetime,
) -> None:
    ny, nx = matrices.shape
    with netCDF4.Dataset(path, 'w', clobber=True, format='NETCDF4') as dataset:
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
    dtype: str = 'int16',
    overwrite: bool = False,
) -> Path:
    """Write `conversion_matrices.nc` (or any `output` name) atomically and return its path.

    `dtype` 'int16' packs each matrix to -50..50 as hyp3-autorift 0.18-0.19 and the V2 granules do; 'float32' is
    the layout of hyp3-autorift >= 0.20. The file appears complete or not at all: it is written to a hidden
    temporary name in the same folder and renamed once closed.

    Raises:
        ProductError: unknown dtype, unsupported projection, a matrix int16 cannot pack, `output` exists without
            `overwrite`, or the write fails (then no file is left, and an existing `output` is untouched).
    """
    if dtype not in MATRIX_DTYPES:
        raise ProductError(f'unknown M11/M12 data type {dtype!r}; choose one of {", ".join(MATRIX_DTYPES)}')
    _check_output(output, overwrite)
    mapping_attributes(matrices.epsg, matrices.geotransform)  # an unsupported projection fails before any I/O
    packings: dict[str, Int16Packing | None] = {
        name: int16_packing(values) if dtype == 'int16' else None
        for name, values in (('M11', matrices.M11), ('M12', matrices.M12))
    }
    created = datetime.now(timezone.utc).replace(tzinfo=None)

    temporary = _temporary_path(output)
    try:
        _write_dataset(temporary, matrices, provenance, packings, created)
        os.replace(temporary, output)
    except (OSError, RuntimeError) as error:
        raise ProductError(
            f'cannot write {output} ({error}); check that its folder is writable and has free space'
        ) from error
    finally:
        # Also on KeyboardInterrupt: a half-written file must never be left behind.
        temporary.unlink(missing_ok=True)
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
    'CONVERSION_MATRICES_FILE_NAME',
    'ConversionMatrices',
    'Provenance',
    'compute_conversion_matrices',
    'conversion_matrices_from_geogrid',
    'read_conversion_matrices',
    'write_conversion_matrices',
]
