"""A quick-look PNG of M11 and M12, uploaded beside the NetCDF for a glance at the result.

Read at a glance: the title names both scenes and dt (seconds and days); a field with both signs gets a diverging
colour map centred on 0, a one-signed field a sequential one; each panel states its stretch; nodata cells are grey,
distinct from the white background outside the grid. It is drawn from a decimated array: a full-scene grid has
far more cells than the figure has pixels.

matplotlib (about 0.3 s to import) is imported when the first PNG is drawn, or ahead of it by
`import_drawing_in_background` while Geogrid keeps the cores busy, not at the workflow's serial start.
"""

import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.products.matrices import ConversionMatrices, FloatArray
from hyp3_s1_m11m12.products.provenance import Provenance
from hyp3_s1_m11m12.staging import atomic_file


if TYPE_CHECKING:
    from matplotlib.colors import Colormap


# Colour limits at these percentiles of the valid values: a few extreme nodes near the image edge would
# otherwise flatten the picture (the issue that motivated this plugin compared M11/M12 by such a stretch).
COLOUR_PERCENTILES = (1.0, 99.0)
FIGURE_SIZE_INCHES = (12.0, 6.0)
DOTS_PER_INCH = 100
# Each panel is about 450 pixels wide: more cells than this per side only cost drawing time.
MAX_CELLS_PER_SIDE = 600
KILOMETRES_PER_METRE = 1e-3
DIVERGING_COLOUR_MAP = 'RdBu_r'
SEQUENTIAL_COLOUR_MAP = 'viridis'
NODATA_COLOUR = '0.55'  # mid grey: neither the white background nor any colour of either map
BACKGROUND_COLOUR = 'white'


def decimation_step(shape: tuple[int, ...]) -> int:
    """Take every n-th cell in both directions so that neither side exceeds MAX_CELLS_PER_SIDE."""
    return max(1, math.ceil(max(shape) / MAX_CELLS_PER_SIDE))


def colour_scale(values: FloatArray) -> tuple[float, float, bool]:
    """(low, high, diverging): the 1st-99th percentile stretch, symmetric about 0 when the values have both signs."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return -1.0, 1.0, True
    low, high = (float(limit) for limit in np.percentile(finite, COLOUR_PERCENTILES))
    if low < 0 < high:
        bound = max(-low, high)
        return -bound, bound, True
    if low == high:
        low, high = low - 0.5 * abs(low or 1.0), high + 0.5 * abs(high or 1.0)
    return low, high, False


def stretch_label(diverging: bool) -> str:
    low, high = COLOUR_PERCENTILES
    if diverging:
        return f'stretch: +-max(|p{low:g}|, |p{high:g}|) of valid cells, centred on 0'
    return f'stretch: p{low:g}-p{high:g} of valid cells'


def quicklook_title(matrices: ConversionMatrices, provenance: Provenance | None) -> str:
    grid = f'EPSG:{matrices.epsg}, dr_to_vr_factor = {matrices.dr_to_vr_factor:.6g}'
    if provenance is None:
        return f'M11 and M12, dt unknown ({grid})'
    secondary = provenance.secondary_id or 'secondary given by its repeat time'
    return (
        f'reference {provenance.reference_id}\nsecondary {secondary}\n'
        f'M11 and M12 with the true dt = {provenance.dt_seconds:.3f} s = {provenance.dt_days:.6f} days ({grid})'
    )


def import_drawing() -> None:
    """Import the parts of matplotlib the quick-look draws with."""
    import matplotlib.backends.backend_agg
    import matplotlib.figure
    import matplotlib.patches  # noqa: F401


def import_drawing_in_background() -> threading.Thread:
    """Start importing matplotlib in a thread (an import the PNG will wait for, if it is still running)."""
    thread = threading.Thread(target=import_drawing, name='quicklook-import', daemon=True)
    thread.start()
    return thread


def _colour_map(name: str) -> 'Colormap':
    from matplotlib import colormaps

    return colormaps[name].with_extremes(bad=NODATA_COLOUR)


def write_quicklook(
    matrices: ConversionMatrices,
    output_png: Path,
    *,
    provenance: Provenance | None = None,
    overwrite: bool = False,
) -> Path:
    """Draw M11 and M12 side by side, with colour bars, and write the PNG atomically.

    Raises:
        ProductError: `output_png` exists without `overwrite`, its folder is missing, or the write fails (no
            partial file is left).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    # A Figure without pyplot: no global state, no GUI backend, safe in threads.
    figure = Figure(figsize=FIGURE_SIZE_INCHES, dpi=DOTS_PER_INCH, facecolor=BACKGROUND_COLOUR)
    FigureCanvasAgg(figure)
    # Fixed margins: the constrained layout engine would double the drawing time.
    figure.subplots_adjust(left=0.07, right=0.96, bottom=0.14, top=0.8, wspace=0.3)
    dx, dy = matrices.geotransform[1], matrices.geotransform[5]
    extent = (
        (matrices.x[0] - dx / 2) * KILOMETRES_PER_METRE,
        (matrices.x[-1] + dx / 2) * KILOMETRES_PER_METRE,
        (matrices.y[-1] + dy / 2) * KILOMETRES_PER_METRE,
        (matrices.y[0] - dy / 2) * KILOMETRES_PER_METRE,
    )
    step = decimation_step(matrices.shape)
    for axes, name, values in zip(figure.subplots(1, 2), ('M11', 'M12'), (matrices.M11, matrices.M12), strict=True):
        shown = values[::step, ::step]
        low, high, diverging = colour_scale(shown)
        colour_map = _colour_map(DIVERGING_COLOUR_MAP if diverging else SEQUENTIAL_COLOUR_MAP)
        axes.set_facecolor(BACKGROUND_COLOUR)
        image = axes.imshow(
            np.ma.masked_invalid(shown),
            extent=extent,
            origin='upper',
            cmap=colour_map,
            vmin=low,
            vmax=high,
            interpolation='nearest',
        )
        axes.set_title(f'{name}\n{stretch_label(diverging)}', fontsize=9)
        axes.set_xlabel('x (km)')
        axes.set_ylabel('y (km)')
        figure.colorbar(image, ax=axes, shrink=0.85, label='pixel/(meter/year)')
    decimated = f'1 cell in {step} along each axis drawn' if step > 1 else 'every cell drawn'
    figure.legend(
        handles=[Patch(facecolor=NODATA_COLOUR, edgecolor='black', label=f'nodata ({decimated})')],
        loc='lower center',
        frameon=False,
    )
    figure.suptitle(quicklook_title(matrices, provenance), fontsize=10)

    with atomic_file(output_png, overwrite=overwrite) as temporary:
        try:
            figure.savefig(temporary, format='png')
        except (RuntimeError, ValueError) as error:
            raise ProductError(
                f'cannot write {output_png} ({error}); check that its folder is writable and has free space'
            ) from None
    return output_png
