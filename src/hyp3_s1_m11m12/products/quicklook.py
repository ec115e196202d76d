"""A quick-look PNG of M11 and M12, uploaded beside `conversion_matrices.nc` for a glance at the result."""

import os
import uuid
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.products.conversion_matrices import ConversionMatrices, FloatArray, Provenance


QUICKLOOK_FILE_NAME = 'conversion_matrices.png'
# Colour limits at these percentiles of the valid values: a few extreme nodes near the image edge would
# otherwise flatten the picture (the issue that motivated this plugin compared M11/M12 by such a stretch).
COLOUR_PERCENTILES = (1.0, 99.0)
FIGURE_SIZE_INCHES = (12.0, 5.5)
DOTS_PER_INCH = 100
KILOMETRES_PER_METRE = 1e-3


def _colour_limits(values: FloatArray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return -1.0, 1.0
    low, high = (float(limit) for limit in np.percentile(finite, COLOUR_PERCENTILES))
    if low == high:
        low, high = low - 0.5 * abs(low or 1.0), high + 0.5 * abs(high or 1.0)
    return low, high


def quicklook_title(matrices: ConversionMatrices, provenance: Provenance | None) -> str:
    dt = 'dt unknown' if provenance is None else f'dt = {provenance.dt_days:.4f} days'
    scene = '' if provenance is None else f'{provenance.reference_id}\n'
    return f'{scene}M11 and M12 (EPSG:{matrices.epsg}), {dt}, dr_to_vr_factor = {matrices.dr_to_vr_factor:.6g}'


def write_quicklook(
    matrices: ConversionMatrices,
    output_png: Path,
    *,
    provenance: Provenance | None = None,
    overwrite: bool = False,
) -> Path:
    """Draw M11 and M12 side by side, with colour bars, and write the PNG atomically.

    The title gives dt in days (from `provenance`) and dr_to_vr_factor.

    Raises:
        ProductError: `output_png` exists without `overwrite`, its folder is missing, or the write fails (no
            partial file is left).
    """
    if output_png.exists() and not overwrite:
        raise ProductError(f'{output_png} already exists; remove it or pass --overwrite to replace it')
    if not output_png.parent.is_dir():
        raise ProductError(f'output directory {output_png.parent} does not exist; create it or choose another one')

    # A Figure without pyplot: no global state, no GUI backend, safe in threads.
    figure = Figure(figsize=FIGURE_SIZE_INCHES, dpi=DOTS_PER_INCH)
    FigureCanvasAgg(figure)
    # Fixed margins: the constrained layout engine would double the drawing time.
    figure.subplots_adjust(left=0.07, right=0.96, bottom=0.1, top=0.84, wspace=0.3)
    dx, dy = matrices.geotransform[1], matrices.geotransform[5]
    extent = (
        (matrices.x[0] - dx / 2) * KILOMETRES_PER_METRE,
        (matrices.x[-1] + dx / 2) * KILOMETRES_PER_METRE,
        (matrices.y[-1] + dy / 2) * KILOMETRES_PER_METRE,
        (matrices.y[0] - dy / 2) * KILOMETRES_PER_METRE,
    )
    for axes, name, values in zip(figure.subplots(1, 2), ('M11', 'M12'), (matrices.M11, matrices.M12), strict=True):
        low, high = _colour_limits(values)
        image = axes.imshow(
            np.ma.masked_invalid(values), extent=extent, origin='upper', cmap='viridis', vmin=low, vmax=high
        )
        axes.set_title(name)
        axes.set_xlabel('x (km)')
        axes.set_ylabel('y (km)')
        figure.colorbar(image, ax=axes, shrink=0.85, label='pixel/(meter/year)')
    figure.suptitle(quicklook_title(matrices, provenance))

    temporary = output_png.with_name(f'.{output_png.name}.{uuid.uuid4().hex}.partial')
    try:
        figure.savefig(temporary, format='png')
        os.replace(temporary, output_png)
    except (OSError, RuntimeError, ValueError) as error:
        raise ProductError(
            f'cannot write {output_png} ({error}); check that its folder is writable and has free space'
        ) from error
    finally:
        temporary.unlink(missing_ok=True)
    return output_png
