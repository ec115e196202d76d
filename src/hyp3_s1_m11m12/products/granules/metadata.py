"""The metadata of an ITS_LIVE V2 velocity granule that tells whether its M11/M12 carry the true repeat time.

Only attributes and the first two x/y coordinates are read (and, on request, the M11/M12 values): a few tens of
kilobytes of a granule of tens of megabytes. Local paths, http(s):// and s3:// URLs are read the same way, through
h5py (see `remote`).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.products.granules.remote import ReadStats, byte_source, is_remote, read_remote_hdf5


IMG_PAIR_INFO = 'img_pair_info'
MAPPING = 'mapping'
MATRIX_NAMES = ('M11', 'M12')
SOURCE_PRODUCT_ATTRIBUTE = 'm11m12_source_product'


@dataclass(frozen=True)
class MatrixAttributes:
    """How one of M11/M12 is stored, and its dr_to_vr_factor."""

    dtype: str
    dr_to_vr_factor: float | None
    scale_factor: float | None
    add_offset: float | None
    fill_value: float | None
    # The conversion-matrices product a repair took M11/M12 from (fix_granule's provenance), if any.
    source_product: str | None = None


@dataclass(frozen=True)
class GranuleGrid:
    """The map grid: cell-centre coordinates of the first cell and the spacing (dy < 0 for north-up)."""

    epsg: int | None
    shape: tuple[int, int]
    x0: float
    y0: float
    dx: float
    dy: float


@dataclass(frozen=True)
class GranuleMetadata:
    location: str
    date_dt_days: float | None
    acquisition_date_img1: str | None
    acquisition_date_img2: str | None
    mission_img1: str | None
    satellite_img1: str | None
    mission_img2: str | None
    satellite_img2: str | None
    m11: MatrixAttributes | None
    m12: MatrixAttributes | None
    grid: GranuleGrid | None
    # Median of |(M11, M12)| over valid cells; only when the values were read.
    matrix_magnitude: float | None = None
    # The scene names of the pair (img_pair_info id_img1/id_img2) and the reference's absolute orbit.
    id_img1: str | None = None
    id_img2: str | None = None
    absolute_orbit_img1: int | None = None
    # Set on conversion-matrices files (not granules): their `dt_convention` and `dt_days` global attributes.
    product_dt_convention: str | None = None
    product_dt_days: float | None = None

    @property
    def is_sentinel1(self) -> bool:
        return self.mission_img1 == 'S' and (self.satellite_img1 or '').startswith('1')

    @property
    def platforms(self) -> str:
        """E.g. 'S1A' or 'S1A+S1B'; '' when img_pair_info does not say."""
        names = []
        for mission, satellite in ((self.mission_img1, self.satellite_img1), (self.mission_img2, self.satellite_img2)):
            name = f'{mission or ""}{satellite or ""}'
            if name and name not in names:
                names.append(name)
        return '+'.join(names)


def _member(group: Any, name: str) -> Any:
    """`group[name]`, None when absent (one HDF5 look-up, where `in` then `[]` are two)."""
    try:
        return group[name]
    except KeyError:
        return None


def _value(attributes: Any, name: str) -> Any:
    """A netCDF attribute as a Python scalar or str (netCDF stores scalars as 1-element arrays)."""
    value = _member(attributes, name)
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, bytes | np.bytes_):
        return value.decode('utf-8', errors='replace')
    if isinstance(value, np.generic):
        return value.item()
    return value


def _float(attributes: Any, name: str) -> float | None:
    value = _value(attributes, name)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _integer(attributes: Any, name: str) -> int | None:
    # autoRIFT writes the orbit number as a zero-padded string.
    number = _float(attributes, name)
    return None if number is None or not number.is_integer() else int(number)


def _text(attributes: Any, name: str) -> str | None:
    value = _value(attributes, name)
    return None if value is None else str(value)


def _matrix_attributes(dataset: h5py.Dataset) -> MatrixAttributes:
    attributes = dataset.attrs
    return MatrixAttributes(
        dtype=str(dataset.dtype),
        dr_to_vr_factor=_float(attributes, 'dr_to_vr_factor'),
        scale_factor=_float(attributes, 'scale_factor'),
        add_offset=_float(attributes, 'add_offset'),
        fill_value=_float(attributes, '_FillValue'),
        source_product=_text(attributes, SOURCE_PRODUCT_ATTRIBUTE),
    )


def _grid(h5file: h5py.File) -> GranuleGrid | None:
    x_variable, y_variable = _member(h5file, 'x'), _member(h5file, 'y')
    if x_variable is None or y_variable is None:
        return None
    if x_variable.ndim != 1 or y_variable.ndim != 1 or x_variable.shape[0] < 2 or y_variable.shape[0] < 2:
        return None
    x = np.asarray(x_variable[:2], dtype=np.float64)
    y = np.asarray(y_variable[:2], dtype=np.float64)
    epsg = None
    mapping = _member(h5file, MAPPING)
    if mapping is not None:
        code = _float(mapping.attrs, 'spatial_epsg')
        epsg = None if code is None else int(code)
    return GranuleGrid(
        epsg=epsg,
        shape=(int(y_variable.shape[0]), int(x_variable.shape[0])),
        x0=float(x[0]),
        y0=float(y[0]),
        dx=float(x[1] - x[0]),
        dy=float(y[1] - y[0]),
    )


def _unpacked(dataset: h5py.Dataset, matrix: MatrixAttributes) -> np.ndarray:
    raw = np.asarray(dataset[()])
    values = raw.astype(np.float64)
    if matrix.fill_value is not None:
        values[raw == matrix.fill_value] = np.nan
    if matrix.scale_factor is not None:
        values *= matrix.scale_factor
    if matrix.add_offset is not None:
        values += matrix.add_offset
    return values


def _matrix(h5file: h5py.File, name: str) -> MatrixAttributes | None:
    dataset = _member(h5file, name)
    return _matrix_attributes(dataset) if isinstance(dataset, h5py.Dataset) else None


def _magnitude(h5file: h5py.File) -> float | None:
    """Median of |(M11, M12)| over valid cells (None without both matrices or valid cells)."""
    m11_attributes, m12_attributes = _matrix(h5file, 'M11'), _matrix(h5file, 'M12')
    if m11_attributes is None or m12_attributes is None:
        return None
    m11 = _unpacked(h5file['M11'], m11_attributes)
    m12 = _unpacked(h5file['M12'], m12_attributes)
    norm = np.hypot(m11, m12)
    norm = norm[np.isfinite(norm)]
    return float(np.median(norm)) if norm.size else None


def _pair_info(h5file: h5py.File) -> dict[str, Any]:
    group = _member(h5file, IMG_PAIR_INFO)
    pair = group.attrs if group is not None else {}
    values: dict[str, Any] = {'date_dt_days': _float(pair, 'date_dt')}
    for name in ('acquisition_date_img1', 'acquisition_date_img2', 'mission_img1', 'satellite_img1', 'mission_img2',
                 'satellite_img2', 'id_img1', 'id_img2'):  # fmt: skip
        values[name] = _text(pair, name)
    values['absolute_orbit_img1'] = _integer(pair, 'absolute_orbit_number_img1')
    return values


def _product_info(h5file: h5py.File) -> dict[str, Any]:
    return {
        'product_dt_convention': _text(h5file.attrs, 'dt_convention'),
        'product_dt_days': _float(h5file.attrs, 'dt_days'),
    }


def metadata_reads(read_values: bool = False) -> dict[str, Callable[[h5py.File], Any]]:
    """The independent reads of a granule's metadata, by name (see `remote.read_remote_hdf5`, which needs them apart);
    `read_values` also reads M11/M12 to measure their magnitude."""
    reads: dict[str, Callable[[h5py.File], Any]] = {
        'pair': _pair_info,
        'M11': lambda h5file: _matrix(h5file, 'M11'),
        'M12': lambda h5file: _matrix(h5file, 'M12'),
        'grid': _grid,
        'product': _product_info,
    }
    if read_values:
        reads['magnitude'] = _magnitude
    return reads


def assemble_metadata(location: str, parts: dict[str, Any]) -> GranuleMetadata:
    """The metadata from the results of `metadata_reads`."""
    return GranuleMetadata(
        location=location,
        m11=parts['M11'],
        m12=parts['M12'],
        grid=parts['grid'],
        matrix_magnitude=parts.get('magnitude'),
        **parts['pair'],
        **parts['product'],
    )


def extract_metadata(h5file: h5py.File, location: str, read_values: bool = False) -> GranuleMetadata:
    """The metadata of an open granule; `read_values` also reads M11/M12 to measure their magnitude."""
    return assemble_metadata(location, {name: read(h5file) for name, read in metadata_reads(read_values).items()})


def read_granule_metadata(
    location: str,
    *,
    s3_client: Callable[[], object],
    read_values: bool = False,
    stats: ReadStats | None = None,
) -> GranuleMetadata:
    """Read the metadata of a granule at a local path or an http(s):// or s3:// URL.

    `s3_client` is called (once per s3:// granule) for the client to use; share one across threads.

    Raises:
        ProductError: the granule does not exist, cannot be fetched, or is not a readable NetCDF-4 file.
    """
    stats = stats if stats is not None else ReadStats()
    if is_remote(location) or '://' in location:
        source = byte_source(location, s3_client)
        return assemble_metadata(location, read_remote_hdf5(source, metadata_reads(read_values), stats))

    path = Path(location)
    if not path.is_file():
        raise ProductError(f'{location} does not exist or is not a file')
    try:
        with h5py.File(path, 'r', locking=False) as h5file:
            return extract_metadata(h5file, location, read_values)
    except OSError as error:
        raise ProductError(
            f'{location} is not a readable NetCDF-4 file ({error}); it is truncated or not a granule, download it again'
        ) from error
