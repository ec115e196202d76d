"""Copy a granule variable by variable, storing M11/M12 with another data type (fix_granule --m11m12-dtype)."""

from pathlib import Path
from typing import Any

import netCDF4

from hyp3_s1_m11m12.errors import ProductError


def _creation_options(variable: netCDF4.Variable) -> dict[str, Any]:
    filters = variable.filters()
    options: dict[str, Any] = {'endian': variable.endian()}
    if filters.get('zlib'):
        options.update(zlib=True, complevel=filters.get('complevel', 4))
    if filters.get('shuffle'):
        options['shuffle'] = True
    if filters.get('fletcher32'):
        options['fletcher32'] = True
    chunking = variable.chunking()
    if chunking == 'contiguous':
        if variable.dimensions:
            options['contiguous'] = True
    elif chunking is not None:
        options['chunksizes'] = tuple(chunking)
    return options


def _copy_scalar(variable: netCDF4.Variable, created: netCDF4.Variable) -> None:
    # The string scalars `mapping` and `img_pair_info` carry only attributes; an unwritten one reads as ''.
    value = variable.getValue()
    if variable.dtype is str:
        if value:
            created[0] = value
        return
    created.assignValue(value)


def rebuild_granule(source: Path, target: Path, replacements: dict[str, Any], history: str) -> None:
    """Copy `source` to `target` variable by variable, storing M11/M12 with another data type."""
    with netCDF4.Dataset(source, 'r') as original, netCDF4.Dataset(target, 'w', format=original.data_model) as copy:
        if original.groups:
            raise ProductError(
                f'{source} has groups, which changing the M11/M12 data type cannot copy; omit --m11m12-dtype'
            )
        original.set_auto_maskandscale(False)
        copy.setncatts({name: original.getncattr(name) for name in original.ncattrs()})
        for name, dimension in original.dimensions.items():
            copy.createDimension(name, None if dimension.isunlimited() else len(dimension))
        for name, variable in original.variables.items():
            replacement = replacements.get(name)
            fill = _attribute(variable, '_FillValue')
            datatype = str if variable.dtype is str else variable.datatype
            if replacement is not None:
                datatype, fill = replacement.dtype, replacement.fill
            created = copy.createVariable(
                name, datatype, variable.dimensions, fill_value=fill, **_creation_options(variable)
            )
            created.set_auto_maskandscale(False)
            attributes = {key: variable.getncattr(key) for key in variable.ncattrs() if key != '_FillValue'}
            if replacement is not None:
                for packing_attribute in ('scale_factor', 'add_offset'):
                    attributes.pop(packing_attribute, None)
                attributes.update(replacement.attributes)
            created.setncatts(attributes)
            if replacement is not None:
                created[:] = replacement.raw
            elif variable.dimensions:
                created[:] = variable[:]
            else:
                _copy_scalar(variable, created)
        append_history(copy, history)


def _attribute(variable: Any, name: str) -> Any:
    return variable.getncattr(name) if name in variable.ncattrs() else None


def append_history(dataset: netCDF4.Dataset, line: str) -> None:
    previous = dataset.getncattr('history') if 'history' in dataset.ncattrs() else None
    dataset.setncattr('history', line if not previous else f'{previous}\n{line}')
