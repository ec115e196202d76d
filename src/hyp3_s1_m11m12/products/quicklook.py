"""A quick-look PNG of M11 and M12, uploaded beside the NetCDF for a glance at the result.

Read at a glance: the title names both scenes and dt (seconds and days); a field with both signs gets a diverging
colour map centred on 0, a one-signed field a sequential one; each panel states its stretch; nodata cells are grey,
distinct from the white background outside the grid. It is drawn from a decimated array: a full-scene grid has
far more cells than the figure has pixels.

Drawn with Pillow and numpy: colour look-up tables, nearest-neighbour sampling, and a fixed layout of a few dozen
text labels, the same bytes for the same inputs. A PNG costs ~35 ms of CPU, two thirds of it zlib, and Pillow imports
in ~20 ms; matplotlib cost ~0.35 s of GIL-bound drawing per PNG, plus 0.3 s and ~20 MiB to import in every job.
"""

import dataclasses
import functools
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.products.matrices import ConversionMatrices, FloatArray
from hyp3_s1_m11m12.products.provenance import Provenance
from hyp3_s1_m11m12.staging import atomic_file


RGB = tuple[int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
ColourTable = npt.NDArray[np.uint8]

# Colour limits at these percentiles of the valid values: a few extreme nodes near the image edge would
# otherwise flatten the picture (the issue that motivated this plugin compared M11/M12 by such a stretch).
COLOUR_PERCENTILES = (1.0, 99.0)
# A panel's image is at most 370 x 380 pixels: more cells than this per side only cost time.
MAX_CELLS_PER_SIDE = 600
KILOMETRES_PER_METRE = 1e-3
DIVERGING_COLOUR_MAP = 'RdBu_r'
SEQUENTIAL_COLOUR_MAP = 'viridis'
# Anchor colours, evenly spaced and interpolated linearly in RGB: ColorBrewer's RdBu reversed (blue for negative,
# white at 0, red for positive) and matplotlib's viridis sampled at ten points.
COLOUR_ANCHORS = {
    DIVERGING_COLOUR_MAP: (
        '#053061', '#2166ac', '#4393c3', '#92c5de', '#d1e5f0', '#f7f7f7',
        '#fddbc7', '#f4a582', '#d6604d', '#b2182b', '#67001f',
    ),
    SEQUENTIAL_COLOUR_MAP: (
        '#440154', '#482878', '#3e4989', '#31688e', '#26828e',
        '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725',
    ),
}  # fmt: skip
COLOURS_PER_MAP = 256
NODATA_COLOUR: RGB = (140, 140, 140)  # mid grey (0.55): neither the white background nor any colour of either map
BACKGROUND_COLOUR: RGB = (255, 255, 255)
INK: RGB = (0, 0, 0)
COLOUR_BAR_LABEL = 'pixel/(meter/year)'
# zlib level 3 (measured on the picture of a 1222 x 881 grid): Pillow's default 6 takes ~1.8x the time for ~17 % smaller files,
# 1 saves ~15 % of the time for ~12 % larger ones. Pillow's adaptive row filters are a fixed ~12 ms of any level.
PNG_COMPRESS_LEVEL = 3

# The layout, in pixels. Each matrix has one half of the canvas; its image is scaled to fit IMAGE_AREA (relative
# to the half) with square cells and centred in it, its colour bar follows its right edge.
CANVAS_SIZE = (1200, 600)
IMAGE_AREA = (88, 108, 370, 380)  # left, top, width, height
TITLE_TOP = 8
TITLE_LINE_SPACING = 17
PANEL_TITLE_GAP = 6  # between the panel title's last line and the image
PANEL_TITLE_LINE_SPACING = 15
TICK_LENGTH = 4
TICK_LABEL_GAP = 3
AXIS_LABEL_GAP = 6  # between the tick labels and the axis label
PIXELS_PER_KM_TICK = 40  # the ticks of an axis at least this far apart
COLOUR_BAR_GAP = 22
COLOUR_BAR_SIZE = (18, 300)  # width, height; centred on IMAGE_AREA's height
COLOUR_BAR_TICKS = (4, 7)  # fewest, most
LEGEND_CENTRE_Y = 578
LEGEND_SWATCH = 14
TITLE_FONT_SIZE = 13
LABEL_FONT_SIZE = 12
TICK_FONT_SIZE = 11
# A fixed-point tick label longer than this is written in exponent form ('-2e-05', not '-0.00002').
MAX_FIXED_POINT_CHARACTERS = 7

# The cached fonts share one FreeType face each, which is not safe to use from two threads at once: one picture is
# drawn at a time (~10 ms, mostly under the GIL anyway); write_quicklook's PNG encoding runs outside the lock.
_DRAWING = threading.Lock()

Anchor = Literal['lt', 'lm', 'lb', 'mt', 'mm', 'mb', 'rt', 'rm', 'rb']


@dataclass(frozen=True)
class Box:
    """A rectangle of pixels: columns left..right-1, rows top..bottom-1."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height


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


@functools.cache
def _colour_lut(name: str) -> ColourTable:
    """COLOURS_PER_MAP x 3 uint8 colours of a map, then the nodata grey (so one look-up colours every cell)."""
    anchors = np.array([[int(code[i : i + 2], 16) for i in (1, 3, 5)] for code in COLOUR_ANCHORS[name]], np.float64)
    positions = np.linspace(0.0, 1.0, len(anchors))
    samples = np.linspace(0.0, 1.0, COLOURS_PER_MAP)
    colours = np.stack([np.interp(samples, positions, anchors[:, channel]) for channel in range(3)], axis=1)
    table = np.vstack([np.rint(colours), NODATA_COLOUR]).astype(np.uint8)
    table.flags.writeable = False  # cached and shared
    return table


def _colour_indices(values: npt.NDArray[np.floating], low: float, high: float) -> npt.NDArray[np.intp]:
    """Each value's row of its colour table: low..high in COLOURS_PER_MAP equal bins (clipped), nodata the last."""
    finite = np.isfinite(values)
    scaled = (np.where(finite, values, low) - low) * (COLOURS_PER_MAP / (high - low))
    np.clip(scaled, 0, COLOURS_PER_MAP - 1, out=scaled)
    indices = scaled.astype(np.intp)  # truncation: the bins' floor, as the values are >= 0
    indices[~finite] = COLOURS_PER_MAP
    return indices


def _nice_ticks(low: float, high: float, most: int, multiples: tuple[float, ...] = (1.0, 2.0, 5.0)) -> list[float]:
    """Round values in [low, high]: the finest step of a multiple times a power of 10 that gives at most `most`."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low or most < 1:
        return []
    exponent = math.floor(math.log10((high - low) / most))
    # From fine to coarse; a step of 10 ** (exponent + 1) > (high - low) / most always gives at most `most`.
    for step in sorted(multiple * 10.0**power for power in range(exponent - 1, exponent + 2) for multiple in multiples):
        # The tolerance keeps an end that is a tick in floating point (0.3 / 0.1 = 2.9999999999999996).
        first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
        if last - first + 1 <= most:
            break
    # Rounded to the step's decimals, so that 3 * 0.1 is 0.3 and not 0.30000000000000004; + 0.0 turns -0.0 into 0.
    decimals = max(0, 1 - math.floor(math.log10(step)))
    return [round(index * step, decimals) + 0.0 for index in range(first, last + 1)]


def _colour_bar_ticks(low: float, high: float) -> list[float]:
    """COLOUR_BAR_TICKS (4-7) round values: 1-2-5 steps can fall from 8 ticks to 3, where a 2.5 step fills the gap."""
    fewest, most = COLOUR_BAR_TICKS
    ticks = _nice_ticks(low, high, most)
    return ticks if len(ticks) >= fewest else _nice_ticks(low, high, most, multiples=(1.0, 2.0, 2.5, 5.0))


def _tick_labels(ticks: list[float]) -> list[str]:
    """The shortest labels that give every tick exactly: '5260', '0.0075', '-2e-05' (exponent form when shorter)."""
    scale = max((abs(tick) for tick in ticks), default=0.0) or 1.0

    def exact(labels: list[str]) -> bool:
        return all(abs(float(label) - tick) <= 1e-9 * scale for label, tick in zip(labels, ticks, strict=True))

    for decimals in range(13):
        fixed = [f'{tick:.{decimals}f}' for tick in ticks]
        if exact(fixed):
            if max(map(len, fixed), default=0) <= MAX_FIXED_POINT_CHARACTERS:
                return fixed
            break
    for digits in range(1, 13):
        labels = [f'{tick:.{digits}g}' for tick in ticks]
        if exact(labels):
            return labels
    return [f'{tick:.12g}' for tick in ticks]


@functools.cache
def _font(size: int) -> Font:
    """Pillow's bundled scalable font; its fixed-size bitmap font where Pillow was built without FreeType."""
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError):
        return ImageFont.load_default()


@functools.cache
def _line_extent(font: Font) -> tuple[int, int]:
    """(top, bottom) of a line of the font, from its tallest letters: text aligns the same whatever its letters."""
    _, top, _, bottom = font.getbbox('0123456789Agjpy()/|')
    return int(top), int(bottom)


def _text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int, anchor: Anchor = 'lt') -> None:
    """One line of black text; `anchor` is where `xy` is on it: l/m/r horizontally, then t/m/b vertically."""
    font = _font(size)
    top, bottom = _line_extent(font)
    width = draw.textlength(text, font=font)
    x = xy[0] - {'l': 0.0, 'm': width / 2, 'r': width}[anchor[0]]
    y = xy[1] - {'t': top, 'm': (top + bottom) / 2, 'b': bottom}[anchor[1]]
    # Whole pixels: crisp glyphs, and the same picture whatever the fractions.
    draw.text((round(x), round(y)), text, font=font, fill=INK)


def _text_width(draw: ImageDraw.ImageDraw, text: str, size: int) -> int:
    return math.ceil(draw.textlength(text, font=_font(size)))


def _line_height(size: int) -> int:
    top, bottom = _line_extent(_font(size))
    return bottom - top


def _vertical_text(canvas: Image.Image, centre: tuple[float, float], text: str, size: int) -> None:
    """One line read from the bottom up (as a y-axis label), centred on `centre`."""
    font = _font(size)
    top, bottom = _line_extent(font)
    strip = Image.new('L', (max(1, _text_width(ImageDraw.Draw(canvas), text, size)), max(1, bottom - top)), 0)
    ImageDraw.Draw(strip).text((0, -top), text, font=font, fill=255)
    rotated = strip.transpose(Image.Transpose.ROTATE_90)  # exact: no resampling
    corner = (round(centre[0] - rotated.width / 2), round(centre[1] - rotated.height / 2))
    ImageDraw.Draw(canvas).bitmap(corner, rotated, fill=INK)


def _extent_km(matrices: ConversionMatrices) -> tuple[float, float, float, float]:
    """(left, right, top, bottom) of the grid's outer cell edges, in km."""
    dx, dy = matrices.geotransform[1], matrices.geotransform[5]
    return (
        (matrices.x[0] - dx / 2) * KILOMETRES_PER_METRE,
        (matrices.x[-1] + dx / 2) * KILOMETRES_PER_METRE,
        (matrices.y[0] - dy / 2) * KILOMETRES_PER_METRE,
        (matrices.y[-1] + dy / 2) * KILOMETRES_PER_METRE,
    )


def image_box(matrices: ConversionMatrices, panel: int) -> Box:
    """Where panel 0 (M11) or 1 (M12) draws the grid: as large as IMAGE_AREA allows with square cells, centred."""
    left, right, top, bottom = _extent_km(matrices)
    width_km, height_km = abs(right - left), abs(top - bottom)
    area_left, area_top, area_width, area_height = IMAGE_AREA
    scale = min(area_width / width_km, area_height / height_km)
    width = min(area_width, max(1, round(width_km * scale)))
    height = min(area_height, max(1, round(height_km * scale)))
    return Box(
        left=panel * CANVAS_SIZE[0] // 2 + area_left + (area_width - width) // 2,
        top=area_top + (area_height - height) // 2,
        width=width,
        height=height,
    )


def _sample(values: npt.NDArray[np.floating], width: int, height: int) -> npt.NDArray[np.floating]:
    """The cell under the centre of each of width x height pixels: nearest-neighbour scaling."""
    rows = ((np.arange(height) + 0.5) * (values.shape[0] / height)).astype(np.intp)
    columns = ((np.arange(width) + 0.5) * (values.shape[1] / width)).astype(np.intp)
    return values[rows[:, None], columns[None, :]]


def _frame(draw: ImageDraw.ImageDraw, box: Box) -> None:
    """A one-pixel black line just outside `box`."""
    draw.rectangle((box.left - 1, box.top - 1, box.right, box.bottom), outline=INK)


def _position(value: float, start: float, end: float, first_pixel: int, pixels: int) -> int:
    """The pixel of `value` on an axis that runs from `start` at `first_pixel` to `end` after `pixels` pixels."""
    return first_pixel + min(pixels - 1, max(0, math.floor((value - start) / (end - start) * pixels)))


def _draw_axes(canvas: Image.Image, box: Box, extent: tuple[float, float, float, float]) -> None:
    """Ticks in km along the bottom and left edges of the image, and the axis labels."""
    draw = ImageDraw.Draw(canvas)
    left, right, top, bottom = extent
    x_ticks = _nice_ticks(min(left, right), max(left, right), max(2, box.width // PIXELS_PER_KM_TICK))
    for tick, label in zip(x_ticks, _tick_labels(x_ticks), strict=True):
        x = _position(tick, left, right, box.left, box.width)
        draw.line((x, box.bottom, x, box.bottom + TICK_LENGTH), fill=INK)
        _text(draw, (x + 0.5, box.bottom + TICK_LENGTH + TICK_LABEL_GAP), label, TICK_FONT_SIZE, 'mt')
    tick_bottom = box.bottom + TICK_LENGTH + TICK_LABEL_GAP + _line_height(TICK_FONT_SIZE)
    _text(draw, (box.left + box.width / 2, tick_bottom + AXIS_LABEL_GAP), 'x (km)', LABEL_FONT_SIZE, 'mt')

    y_ticks = _nice_ticks(min(top, bottom), max(top, bottom), max(2, box.height // PIXELS_PER_KM_TICK))
    y_labels = _tick_labels(y_ticks)
    for tick, label in zip(y_ticks, y_labels, strict=True):
        y = _position(tick, top, bottom, box.top, box.height)
        draw.line((box.left - 1 - TICK_LENGTH, y, box.left - 1, y), fill=INK)
        _text(draw, (box.left - 1 - TICK_LENGTH - TICK_LABEL_GAP, y + 0.5), label, TICK_FONT_SIZE, 'rm')
    widest = max((_text_width(draw, label, TICK_FONT_SIZE) for label in y_labels), default=0)
    label_right = box.left - 1 - TICK_LENGTH - TICK_LABEL_GAP - widest - AXIS_LABEL_GAP
    centre = (label_right - _line_height(LABEL_FONT_SIZE) / 2, box.top + box.height / 2)
    _vertical_text(canvas, centre, 'y (km)', LABEL_FONT_SIZE)


def _draw_colour_bar(canvas: Image.Image, image: Box, table: ColourTable, low: float, high: float) -> None:
    """The colour map as a vertical bar right of the image (high at the top), with value ticks and the unit."""
    width, height = COLOUR_BAR_SIZE
    area_top, area_height = IMAGE_AREA[1], IMAGE_AREA[3]
    bar = Box(image.right + COLOUR_BAR_GAP, area_top + (area_height - height) // 2, width, height)
    # Row r shows the value at its centre, as the image's cells do.
    values = high - (np.arange(height) + 0.5) * ((high - low) / height)
    colours = table[_colour_indices(values, low, high)]
    strip = np.ascontiguousarray(np.broadcast_to(colours[:, None, :], (height, width, 3)))
    canvas.paste(Image.fromarray(strip), (bar.left, bar.top))
    draw = ImageDraw.Draw(canvas)
    _frame(draw, bar)
    ticks = _colour_bar_ticks(low, high)
    labels = _tick_labels(ticks)
    for tick, label in zip(ticks, labels, strict=True):
        y = _position(tick, high, low, bar.top, bar.height)
        draw.line((bar.right, y, bar.right + TICK_LENGTH, y), fill=INK)
        _text(draw, (bar.right + TICK_LENGTH + TICK_LABEL_GAP, y + 0.5), label, TICK_FONT_SIZE, 'lm')
    widest = max((_text_width(draw, label, TICK_FONT_SIZE) for label in labels), default=0)
    label_left = bar.right + TICK_LENGTH + TICK_LABEL_GAP + widest + AXIS_LABEL_GAP
    centre = (label_left + _line_height(LABEL_FONT_SIZE) / 2, bar.top + bar.height / 2)
    _vertical_text(canvas, centre, COLOUR_BAR_LABEL, LABEL_FONT_SIZE)


def _draw_panel(canvas: Image.Image, matrices: ConversionMatrices, panel: int, name: str, shown: FloatArray) -> None:
    """One matrix: its decimated cells scaled to the image box, frame, km axes, title and colour bar."""
    low, high, diverging = colour_scale(shown)
    table = _colour_lut(DIVERGING_COLOUR_MAP if diverging else SEQUENTIAL_COLOUR_MAP)
    box = image_box(matrices, panel)
    pixels = table[_colour_indices(_sample(shown, box.width, box.height), low, high)]
    canvas.paste(Image.fromarray(pixels), (box.left, box.top))
    draw = ImageDraw.Draw(canvas)
    _frame(draw, box)
    _draw_axes(canvas, box, _extent_km(matrices))
    lines = [name, stretch_label(diverging)]
    for number, line in enumerate(lines):
        y = box.top - 1 - PANEL_TITLE_GAP - (len(lines) - 1 - number) * PANEL_TITLE_LINE_SPACING
        _text(draw, (box.left + box.width / 2, y), line, LABEL_FONT_SIZE, 'mb')
    _draw_colour_bar(canvas, box, table, low, high)


def _draw_nodata_legend(canvas: Image.Image, step: int) -> None:
    draw = ImageDraw.Draw(canvas)
    decimated = f'1 cell in {step} along each axis drawn' if step > 1 else 'every cell drawn'
    text = f'nodata ({decimated})'
    gap = 8
    total = LEGEND_SWATCH + gap + _text_width(draw, text, LABEL_FONT_SIZE)
    left = (CANVAS_SIZE[0] - total) // 2
    top = LEGEND_CENTRE_Y - LEGEND_SWATCH // 2
    draw.rectangle((left, top, left + LEGEND_SWATCH - 1, top + LEGEND_SWATCH - 1), fill=NODATA_COLOUR, outline=INK)
    _text(draw, (left + LEGEND_SWATCH + gap, LEGEND_CENTRE_Y), text, LABEL_FONT_SIZE, 'lm')


def decimated(matrices: ConversionMatrices, step: int) -> ConversionMatrices:
    """Every `step`-th cell of both matrices along each axis, on those cells' coordinates: what the quick-look
    draws (a Geogrid run keeps only these: products.conversion_matrices.StreamedMatrices)."""
    if step == 1:
        return matrices
    return dataclasses.replace(
        matrices,
        M11=matrices.M11[::step, ::step],
        M12=matrices.M12[::step, ::step],
        x=matrices.x[::step],
        y=matrices.y[::step],
    )


def draw_quicklook(
    matrices: ConversionMatrices, provenance: Provenance | None = None, *, decimated_by: int | None = None
) -> Image.Image:
    """The quick-look picture, CANVAS_SIZE pixels of RGB; `decimated_by`: `matrices` is already decimated(...,
    that step) of the grid."""
    step = decimation_step(matrices.shape) if decimated_by is None else decimated_by
    shown = decimated(matrices, step) if decimated_by is None else matrices
    canvas = Image.new('RGB', CANVAS_SIZE, BACKGROUND_COLOUR)
    draw = ImageDraw.Draw(canvas)
    with _DRAWING:
        for number, line in enumerate(quicklook_title(shown, provenance).split('\n')):
            _text(draw, (CANVAS_SIZE[0] / 2, TITLE_TOP + number * TITLE_LINE_SPACING), line, TITLE_FONT_SIZE, 'mt')
        for panel, (name, values) in enumerate((('M11', shown.M11), ('M12', shown.M12))):
            _draw_panel(canvas, shown, panel, name, values)
        _draw_nodata_legend(canvas, step)
    return canvas


def write_quicklook(
    matrices: ConversionMatrices,
    output_png: Path,
    *,
    provenance: Provenance | None = None,
    overwrite: bool = False,
    decimated_by: int | None = None,
) -> Path:
    """Draw M11 and M12 side by side, with colour bars, and write the PNG atomically (`decimated_by`: see
    draw_quicklook).

    Raises:
        ProductError: `output_png` exists without `overwrite`, its folder is missing, or the write fails (no
            partial file is left).
    """
    canvas = draw_quicklook(matrices, provenance, decimated_by=decimated_by)
    with atomic_file(output_png, overwrite=overwrite) as temporary:
        try:
            canvas.save(temporary, format='PNG', compress_level=PNG_COMPRESS_LEVEL)
        except (OSError, ValueError) as error:
            raise ProductError(
                f'cannot write {output_png} ({error}); check that its folder is writable and has free space'
            ) from None
    return output_png
