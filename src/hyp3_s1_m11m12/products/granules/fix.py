"""Replace the M11/M12 of an ITS_LIVE V2 Sentinel-1 granule with conversion matrices made for its true repeat time.

As JPL's restore script does: the conversion matrices are cropped to the granule's grid, and M11/M12 become
nodata wherever the granule's v is invalid. Everything else in the granule is left as it was: when M11/M12 keep
their data type, the granule is copied byte for byte and only M11/M12 (values, scale_factor/add_offset,
dr_to_vr_factor) and the global `history` change; when the data type changes, the file is rebuilt variable by
variable with every other variable's raw values, attributes, chunking and filters copied.
"""

import filecmp
import logging
import math
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12 import __version__
from hyp3_s1_m11m12.constants import NODATA_OUT
from hyp3_s1_m11m12.errors import ProductError, UserFacingError
from hyp3_s1_m11m12.products.conversion_matrices import ConversionMatrices, read_conversion_matrices
from hyp3_s1_m11m12.products.granules.check import (
    FACTOR_RELATIVE_TOLERANCE,
    expected_dr_to_vr_factor,
)
from hyp3_s1_m11m12.products.granules.provenance import ProductProvenance, check_product_pair, read_product_provenance
from hyp3_s1_m11m12.products.granules.rebuild import append_history, rebuild_granule
from hyp3_s1_m11m12.products.packing import int16_packing, pack_int16


log = logging.getLogger(__name__)

MATRIX_NAMES = ('M11', 'M12')
M11M12_DTYPES = ('int16', 'float32')
BACKUP_SUFFIX = '.bak'
# Grid coordinates agree when within this fraction of a cell.
GRID_TOLERANCE_CELLS = 1e-3

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FixResult:
    output: Path
    backup: Path | None
    date_dt_days: float
    dr_to_vr_factor: float
    m11m12_dtype: str
    # The multiplier applied to M11/M12 (date_dt) with --rescale-spoofed, else None.
    rescale_factor: float | None
    valid_cells: int
    history: str
    provenance: ProductProvenance


@dataclass(frozen=True)
class _Granule:
    date_dt_days: float
    epsg: int
    x: FloatArray
    y: FloatArray
    valid_v: BoolArray
    matrix_dtype: np.dtype
    matrix_fill: dict[str, float | None]
    reference: str | None  # img_pair_info id_img1 / id_img2
    secondary: str | None


def _is_same_granule(backup: Path, granule: Path) -> bool:
    """The backup is the granule: a hard link to it (what `_commit` makes) or a copy of the same bytes."""
    try:
        return os.path.samefile(backup, granule) or filecmp.cmp(backup, granule, shallow=False)
    except OSError:
        return False


def _check_destination(granule: Path, output: Path | None, in_place: bool, overwrite: bool) -> tuple[Path, Path | None]:
    """The file to write and the backup to keep (in-place only), validated before any work is done."""
    if not granule.is_file():
        raise ProductError(f'granule {granule} does not exist; give the path of a local V2 velocity granule')
    if in_place == (output is not None):
        raise UserFacingError('give either --output OUT.nc or --in-place (which keeps a backup), not both or neither')
    if in_place:
        backup = granule.with_name(granule.name + BACKUP_SUFFIX)
        if backup.exists() and _is_same_granule(backup, granule):
            # A run killed between making the backup and replacing the granule: the granule is still the original.
            log.info('%s is the granule itself (an interrupted fix); making the backup again', backup)
            backup.unlink()
        if backup.exists():
            raise ProductError(
                f'the backup {backup} already exists, and it may be the only original; move it away and run again'
            )
        if not os.access(granule.parent, os.W_OK):
            raise ProductError(f'cannot replace {granule} in place: its folder is not writable')
        return granule, backup
    assert output is not None
    if output.resolve() == granule.resolve():
        raise ProductError(f'--output {output} is the granule itself; use --in-place to replace it (with a backup)')
    if output.is_dir():
        raise ProductError(f'cannot write {output}: it is a folder; give a file name')
    if output.exists() and not overwrite:
        raise ProductError(f'{output} already exists: use --overwrite to replace it, or choose another --output')
    parent = output.parent
    if not parent.is_dir():
        what = 'is not a folder' if parent.exists() else 'does not exist'
        raise ProductError(f'cannot write {output}: {parent} {what}; choose an output in an existing folder')
    if not os.access(parent, os.W_OK):
        raise ProductError(f'cannot write {output}: the folder {parent} is not writable')
    return output, None


def _attribute(variable: Any, name: str) -> Any:
    return variable.getncattr(name) if name in variable.ncattrs() else None


def _text_attribute(variable: Any, name: str) -> str | None:
    value = _attribute(variable, name)
    return None if value is None else str(value)


def _number_attribute(path: Path, variable: Any, name: str) -> float | None:
    """A numeric attribute (granules store some as strings); None when absent."""
    value = _attribute(variable, name)
    if value is None:
        return None
    try:
        number = float(np.asarray(value).item())
    except (TypeError, ValueError):
        raise ProductError(
            f'{path}: {variable.name}:{name} = {value!r} is not a number; the granule is malformed'
        ) from None
    return number if np.isfinite(number) else None


def _read_granule(path: Path) -> _Granule:
    try:
        with netCDF4.Dataset(path, 'r') as dataset:
            variables = dataset.variables
            if not all(name in variables for name in MATRIX_NAMES):
                raise ProductError(
                    f'{path} has no M11/M12 variables: only Sentinel-1 radar granules carry them, so there is '
                    'nothing to fix (check_granule reports it as no_m11m12)'
                )
            missing = [name for name in ('v', 'x', 'y', 'img_pair_info', 'mapping') if name not in variables]
            if missing:
                raise ProductError(f'{path} lacks {", ".join(missing)}; it is not an ITS_LIVE V2 velocity granule')
            date_dt = _number_attribute(path, variables['img_pair_info'], 'date_dt')
            epsg = _number_attribute(path, variables['mapping'], 'spatial_epsg')
            if date_dt is None or not date_dt > 0:
                raise ProductError(f'{path}: img_pair_info has no positive date_dt; the repeat time is unknown')
            if epsg is None or epsg != int(epsg):
                raise ProductError(f'{path}: the mapping variable has no spatial_epsg; the map projection is unknown')
            dataset.set_auto_maskandscale(False)
            v = np.asarray(variables['v'][:])
            v_fill = _attribute(variables['v'], '_FillValue')
            valid_v = np.isfinite(v) if v.dtype.kind == 'f' else np.ones(v.shape, dtype=bool)
            if v_fill is not None:
                valid_v &= v != v_fill
            return _Granule(
                date_dt_days=date_dt,
                epsg=int(epsg),
                x=np.asarray(variables['x'][:], dtype=np.float64),
                y=np.asarray(variables['y'][:], dtype=np.float64),
                valid_v=valid_v,
                matrix_dtype=np.dtype(variables['M11'].dtype),
                matrix_fill={name: _attribute(variables[name], '_FillValue') for name in MATRIX_NAMES},
                reference=_text_attribute(variables['img_pair_info'], 'id_img1'),
                secondary=_text_attribute(variables['img_pair_info'], 'id_img2'),
            )
    except OSError as error:
        raise ProductError(
            f'cannot read the granule {path} ({error}); it is truncated or not NetCDF, download it again'
        ) from error


def _spacing(values: FloatArray) -> float | None:
    return float(values[1] - values[0]) if values.size >= 2 else None


def granule_window(granule: _Granule, matrices: ConversionMatrices, names: tuple[str, str]) -> tuple[slice, slice]:
    """Rows and columns of `matrices` that are the granule's grid.

    Raises:
        ProductError: another EPSG code or spacing, a shift by a fraction of a cell, no overlap, or a granule that
            extends beyond the conversion matrices.
    """
    granule_name, matrices_name = names
    if granule.epsg != matrices.epsg:
        raise ProductError(
            f'{granule_name} is on EPSG:{granule.epsg} but {matrices_name} on EPSG:{matrices.epsg}; make the '
            "conversion matrices on the granule's map grid (same EPSG code and spacing)"
        )
    cell_x = _spacing(matrices.x) or float(matrices.geotransform[1])
    cell_y = _spacing(matrices.y) or float(matrices.geotransform[5])
    for axis, granule_step, matrices_step in (
        ('x', _spacing(granule.x), cell_x),
        ('y', _spacing(granule.y), cell_y),
    ):
        if granule_step is not None and not math.isclose(granule_step, matrices_step, rel_tol=1e-6):
            raise ProductError(
                f'{granule_name} has a {axis} spacing of {granule_step:g} m but {matrices_name} {matrices_step:g} m; '
                "make the conversion matrices with the granule's grid spacing (the parameter file's DEM)"
            )
    column = (granule.x[0] - matrices.x[0]) / cell_x
    row = (granule.y[0] - matrices.y[0]) / cell_y
    if abs(column - round(column)) > GRID_TOLERANCE_CELLS or abs(row - round(row)) > GRID_TOLERANCE_CELLS:
        raise ProductError(
            f'the grid of {granule_name} is shifted by a fraction of a cell from that of {matrices_name} '
            f'({column - round(column):.3f}, {row - round(row):.3f} cells); make the conversion matrices on the '
            "granule's grid"
        )
    first_column, first_row = round(column), round(row)
    ny, nx = granule.valid_v.shape
    total_y, total_x = matrices.shape
    extent = (
        f'granule x {granule.x[0]:.0f}..{granule.x[-1]:.0f}, y {granule.y[0]:.0f}..{granule.y[-1]:.0f}; '
        f'matrices x {matrices.x[0]:.0f}..{matrices.x[-1]:.0f}, y {matrices.y[0]:.0f}..{matrices.y[-1]:.0f}'
    )
    overlaps = first_column < total_x and first_column + nx > 0 and first_row < total_y and first_row + ny > 0
    if not overlaps:
        raise ProductError(
            f'{granule_name} and {matrices_name} do not overlap ({extent}); use the conversion matrices of the '
            "granule's reference scene"
        )
    if first_column < 0 or first_row < 0 or first_column + nx > total_x or first_row + ny > total_y:
        raise ProductError(
            f'{granule_name} extends beyond {matrices_name} ({extent}); make the conversion matrices cover the '
            'whole granule (e.g. a larger --buffer)'
        )
    window = (slice(first_row, first_row + ny), slice(first_column, first_column + nx))
    tolerance_x = GRID_TOLERANCE_CELLS * abs(cell_x)
    tolerance_y = GRID_TOLERANCE_CELLS * abs(cell_y)
    if not (
        np.allclose(granule.x, matrices.x[window[1]], rtol=0, atol=tolerance_x)
        and np.allclose(granule.y, matrices.y[window[0]], rtol=0, atol=tolerance_y)
    ):
        raise ProductError(
            f'the x/y coordinates of {granule_name} are not evenly spaced like those of {matrices_name}; '
            "the granule's grid cannot be matched"
        )
    return window


def _matrix_scaling(
    matrices: ConversionMatrices, date_dt_days: float, rescale_spoofed: bool, names: tuple[str, str]
) -> tuple[float, float | None]:
    """The dr_to_vr_factor to write and the multiplier for M11/M12 (None when not rescaled).

    Raises:
        ProductError: a spoofed C without --rescale-spoofed, --rescale-spoofed with a C that is not spoofed, or a C
            made for another repeat time than the granule's date_dt.
    """
    granule_name, matrices_name = names
    factor = matrices.dr_to_vr_factor
    spoofed_factor = expected_dr_to_vr_factor(1.0)
    is_spoofed = math.isclose(factor, spoofed_factor, rel_tol=FACTOR_RELATIVE_TOLERANCE)
    implied_dt = spoofed_factor / factor
    if rescale_spoofed and not is_spoofed:
        raise ProductError(
            f'--rescale-spoofed expects conversion matrices made with the 1-day spoofed dt, but {matrices_name} has '
            f'dr_to_vr_factor {factor:.10g} (dt = {implied_dt:.6g} days); drop --rescale-spoofed'
        )
    if is_spoofed and not rescale_spoofed and not math.isclose(date_dt_days, 1.0, rel_tol=FACTOR_RELATIVE_TOLERANCE):
        raise ProductError(
            f'{matrices_name} was made with the 1-day spoofed dt (dr_to_vr_factor {factor:.10g}); pass '
            f"--rescale-spoofed to scale it by the granule's date_dt ({date_dt_days:.6g} days), or make it with "
            's1_correction_fixed'
        )
    rescale = date_dt_days if rescale_spoofed else None
    if rescale is not None:
        factor /= rescale
    expected = expected_dr_to_vr_factor(date_dt_days)
    if not math.isclose(factor, expected, rel_tol=FACTOR_RELATIVE_TOLERANCE):
        raise ProductError(
            f'{matrices_name} was made for dt = {spoofed_factor / factor:.6g} days (dr_to_vr_factor {factor:.10g}) '
            f'but {granule_name} has date_dt = {date_dt_days:.6g} days; make the conversion matrices for this pair'
        )
    return factor, rescale


def _stored_float(values: FloatArray, dtype: np.dtype, fill: float | None) -> npt.NDArray[Any]:
    stored = values.astype(dtype)
    stored[~np.isfinite(values)] = np.nan if fill is None else fill
    return stored


@dataclass(frozen=True)
class _Replacement:
    dtype: np.dtype
    raw: npt.NDArray[Any]
    attributes: dict[str, Any]  # set (or replaced); scale_factor/add_offset are removed when absent here
    fill: float | None


def _replacements(
    new_values: dict[str, FloatArray],
    dtype: np.dtype,
    fills: dict[str, float | None],
    factor: float,
    provenance: dict[str, Any],
) -> dict[str, _Replacement]:
    replacements = {}
    for name, values in new_values.items():
        attributes: dict[str, Any] = {'dr_to_vr_factor': np.float64(factor), **provenance}
        fill = fills[name]
        if dtype.kind in 'iu':
            fill = NODATA_OUT if fill is None or not float(fill).is_integer() else fill
            packing = int16_packing(values)
            attributes['scale_factor'] = packing.scale_factor
            attributes['add_offset'] = packing.add_offset
            raw = pack_int16(values, packing, int(fill)).astype(dtype)
        else:
            raw = _stored_float(values, dtype, fill)
        replacements[name] = _Replacement(dtype=dtype, raw=raw, attributes=attributes, fill=fill)
    return replacements


def _update_in_place(path: Path, replacements: dict[str, _Replacement], history: str) -> None:
    with netCDF4.Dataset(path, 'r+') as dataset:
        for name, replacement in replacements.items():
            variable = dataset.variables[name]
            variable.set_auto_maskandscale(False)
            if replacement.dtype.kind == 'f':
                for packing_attribute in ('scale_factor', 'add_offset'):
                    if packing_attribute in variable.ncattrs():
                        variable.delncattr(packing_attribute)
            variable.setncatts(replacement.attributes)
            variable[:] = replacement.raw
        append_history(dataset, history)


def _commit(temporary: Path, destination: Path, backup: Path | None) -> None:
    if backup is not None:
        # A hard link keeps the original's bytes under the backup name at no cost; copy where links are refused.
        try:
            os.link(destination, backup)
        except FileExistsError as error:
            raise ProductError(f'the backup {backup} appeared while fixing; move it away and run again') from error
        except OSError:
            partial_backup = backup.with_name(f'.{backup.name}.{uuid.uuid4().hex}.partial')
            try:
                shutil.copy2(destination, partial_backup)
                os.replace(partial_backup, backup)
            finally:
                partial_backup.unlink(missing_ok=True)
    try:
        os.replace(temporary, destination)
    except BaseException:
        if backup is not None:
            backup.unlink(missing_ok=True)  # the original is still in place: a stale backup would block a re-run
        raise


def fix_granule(
    granule: Path,
    conversion_matrices: Path,
    *,
    output: Path | None = None,
    in_place: bool = False,
    rescale_spoofed: bool = False,
    m11m12_dtype: str | None = None,
    overwrite: bool = False,
    product_source: str | None = None,
    job_id: str | None = None,
) -> FixResult:
    """Write `granule` with M11/M12 and dr_to_vr_factor taken from `conversion_matrices`, to `output` or in place.

    M11/M12 keep the granule's data type (int16 repacked with new scale_factor/add_offset, or float) unless
    `m11m12_dtype` says otherwise. With `rescale_spoofed`, `conversion_matrices` must come from hyp3-autorift's
    1-day spoofed s1_correction: M11/M12 are multiplied by the granule's date_dt and dr_to_vr_factor divided by it.
    The new file is written under a temporary name in the destination folder and renamed once complete; in place,
    the original is kept as `<granule>.bak` (a hard link) before the rename. The granule is never modified otherwise;
    an existing `output` is replaced only with `overwrite`. The product must be for the granule's pair (its
    reference_granule/secondary_granule/dt against img_pair_info id_img1/id_img2/date_dt); its provenance
    (`product_source`, default its file name, and the HyP3 `job_id` that made it) is written on M11/M12.

    Raises:
        ProductError: see the checks above; nothing is written then.
        UserFacingError: both or neither of `output` and `in_place`, an unknown `m11m12_dtype`.
    """
    if m11m12_dtype is not None and m11m12_dtype not in M11M12_DTYPES:
        raise UserFacingError(f'unknown M11/M12 data type {m11m12_dtype!r}; choose one of {", ".join(M11M12_DTYPES)}')
    destination, backup = _check_destination(granule, output, in_place, overwrite)
    names = (granule.name, conversion_matrices.name)

    target = _read_granule(granule)
    provenance = read_product_provenance(conversion_matrices, source=product_source, job_id=job_id)
    check_product_pair(
        provenance,
        granule=granule.name,
        reference=target.reference,
        secondary=target.secondary,
        date_dt_days=target.date_dt_days,
        rescale_spoofed=rescale_spoofed,
    )
    matrices = read_conversion_matrices(conversion_matrices)
    factor, rescale = _matrix_scaling(matrices, target.date_dt_days, rescale_spoofed, names)
    rows, columns = granule_window(target, matrices, names)

    new_values: dict[str, FloatArray] = {}
    for name, values in (('M11', matrices.M11), ('M12', matrices.M12)):
        cropped = np.array(values[rows, columns], dtype=np.float64)
        if rescale is not None:
            cropped *= rescale
        cropped[~target.valid_v] = np.nan
        new_values[name] = cropped
    valid_cells = int(np.isfinite(new_values['M11']).sum())
    if valid_cells == 0:
        raise ProductError(
            f'{conversion_matrices.name} has no M11/M12 value at any cell where {granule.name} has a valid v; '
            "use the conversion matrices of the granule's reference scene"
        )

    dtype = np.dtype(m11m12_dtype) if m11m12_dtype is not None else target.matrix_dtype
    replacements = _replacements(new_values, dtype, target.matrix_fill, factor, provenance.attributes())

    created = datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    rescaled = f', rescaled from the 1-day spoofed dt by x {rescale:.10g} (img_pair_info.date_dt)' if rescale else ''
    history = (
        f'{created}: M11/M12 replaced by hyp3_s1_m11m12 {__version__} fix_granule from {provenance.describe()} '
        f'(dt = {target.date_dt_days:.10g} days, dr_to_vr_factor = {factor:.15g}{rescaled}); nodata where v is '
        'invalid'
    )

    temporary = destination.with_name(f'.{destination.name}.{uuid.uuid4().hex}.partial')
    try:
        if dtype == target.matrix_dtype:
            shutil.copyfile(granule, temporary)
            _update_in_place(temporary, replacements, history)
        else:
            rebuild_granule(granule, temporary, replacements, history)
        _commit(temporary, destination, backup)
    except (OSError, RuntimeError) as error:
        raise ProductError(
            f'cannot write {destination} ({error}); check that its folder is writable and has free space'
        ) from error
    finally:
        temporary.unlink(missing_ok=True)
    log.info('wrote %s (%s)', destination, history)
    return FixResult(
        output=destination,
        backup=backup,
        date_dt_days=target.date_dt_days,
        dr_to_vr_factor=factor,
        m11m12_dtype=str(dtype),
        rescale_factor=rescale,
        valid_cells=valid_cells,
        history=history,
        provenance=provenance,
    )
