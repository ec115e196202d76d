import math
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFont

from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.products import quicklook
from hyp3_s1_m11m12.products.conversion_matrices import ConversionMatrices, Provenance
from hyp3_s1_m11m12.products.quicklook import (
    BACKGROUND_COLOUR,
    CANVAS_SIZE,
    DIVERGING_COLOUR_MAP,
    NODATA_COLOUR,
    SEQUENTIAL_COLOUR_MAP,
    colour_scale,
    decimation_step,
    image_box,
    quicklook_title,
    stretch_label,
    write_quicklook,
)
from hyp3_s1_m11m12.sentinel1.pairing import RepeatTime
from tests.support.shared import REPO_ROOT


PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def _matrices(m11: np.ndarray | None = None, shape: tuple[int, int] = (20, 30)) -> ConversionMatrices:
    ny, nx = shape if m11 is None else m11.shape
    rows, columns = np.mgrid[0:ny, 0:nx].astype(np.float64)
    values = -0.009 + 0.001 * np.sin(rows / 5.0) if m11 is None else m11
    m12 = 0.001 * np.cos(columns / 4.0)
    m12[:3, :3] = np.nan
    return ConversionMatrices(
        M11=values,
        M12=m12,
        x=555_480.0 + 240.0 * np.arange(nx),
        y=5_259_960.0 - 240.0 * np.arange(ny),
        epsg=32632,
        geotransform=(555_480.0, 240.0, 0.0, 5_259_960.0, 0.0, -240.0),
        dr_to_vr_factor=70.85753919927343,
    )


def _provenance() -> Provenance:
    start = datetime(2021, 4, 1, 5, 26, 22, 396990)
    timing = RepeatTime(
        dt_seconds=1_036_799.636,
        reference_granule='S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4',
        reference_sensing_start=start,
        secondary_sensing_start=start + timedelta(seconds=1_036_799.636),
        secondary_granule='S1B_IW_SLC__1SDV_20210413T052622_20210413T052650_026444_0327F9_ABCD',
    )
    return Provenance(software_version='1.0', repeat_time=timing, engine='numpy', engine_version='1.0')


def test_title_gives_dt_in_days_and_the_factor() -> None:
    title = quicklook_title(_matrices(), _provenance())
    assert 'dt = 1036799.636 s = 11.999996 days' in title
    assert 'dr_to_vr_factor = 70.8575' in title
    assert 'reference S1B_IW_SLC__1SDV_20210401T052622' in title
    assert 'secondary S1B_IW_SLC__1SDV_20210413T052622' in title
    assert 'dt unknown' in quicklook_title(_matrices(), None)


def test_signed_fields_get_a_diverging_scale_centred_on_zero() -> None:
    signed = np.linspace(-0.002, 0.001, 200)
    low, high, diverging = colour_scale(signed)
    assert diverging and low == -high and high == pytest.approx(np.percentile(signed, 1) * -1)
    low, high, diverging = colour_scale(np.linspace(-0.01, -0.008, 200))
    assert not diverging and -0.01 < low < high < -0.008
    assert 'centred on 0' in stretch_label(True) and 'p1-p99' in stretch_label(False)


def test_large_grids_are_decimated() -> None:
    assert decimation_step((500, 600)) == 1
    assert decimation_step((6000, 2400)) == 10


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.size == CANVAS_SIZE
        return np.asarray(image.convert('RGB'))


def _colours(pixels: np.ndarray) -> set[tuple[int, int, int]]:
    return set(map(tuple, np.unique(pixels.reshape(-1, 3), axis=0).tolist()))


def test_writes_a_png_of_both_matrices(tmp_path: Path) -> None:
    output = write_quicklook(_matrices(), tmp_path / 'conversion_matrices.png', provenance=_provenance())
    assert output == tmp_path / 'conversion_matrices.png'
    assert output.read_bytes().startswith(PNG_SIGNATURE)
    pixels = _pixels(output)
    assert pixels.shape == (600, 1200, 3)
    # Two panels with colour bars and text: the picture is not a blank canvas.
    assert len(np.unique(pixels[..., 0])) > 50
    assert [path.name for path in tmp_path.iterdir()] == ['conversion_matrices.png']


def test_the_same_input_gives_the_same_bytes(tmp_path: Path) -> None:
    first = write_quicklook(_matrices(), tmp_path / 'a.png', provenance=_provenance())
    second = write_quicklook(_matrices(), tmp_path / 'b.png', provenance=_provenance())
    assert first.read_bytes() == second.read_bytes()


def test_pictures_drawn_in_threads_at_once_are_the_same(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    paths = [tmp_path / f'{number}.png' for number in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda path: write_quicklook(_matrices(shape=(200, 300)), path, provenance=_provenance()), paths))
    assert len({path.read_bytes() for path in paths}) == 1


@pytest.mark.parametrize('name', [DIVERGING_COLOUR_MAP, SEQUENTIAL_COLOUR_MAP])
def test_no_colour_of_a_map_is_the_nodata_grey_or_the_background(name: str) -> None:
    table = quicklook._colour_lut(name)
    assert table.shape == (quicklook.COLOURS_PER_MAP + 1, 3) and table.dtype == np.uint8
    assert tuple(table[-1]) == NODATA_COLOUR == (140, 140, 140)
    colours = table[:-1].astype(int)
    # Every colour is more than 10 % away from the grey in some channel, and none is white.
    assert np.all(np.max(np.abs(colours - np.array(NODATA_COLOUR)), axis=1) > 0.1 * 255)
    assert np.all(np.min(colours, axis=1) < 0.99 * 255)
    assert len({tuple(colour) for colour in colours.tolist()}) > 200  # a smooth map, not a few bands


def test_the_diverging_map_is_blue_white_red() -> None:
    table = quicklook._colour_lut(DIVERGING_COLOUR_MAP).astype(int)
    centre = quicklook.COLOURS_PER_MAP // 2
    assert np.all(table[centre - 1 : centre + 1] >= 240)  # 0 is near white
    low, high = table[0], table[quicklook.COLOURS_PER_MAP - 1]
    assert low[2] > low[0] + 50 and high[0] > high[2] + 50  # negative blue, positive red
    viridis = quicklook._colour_lut(SEQUENTIAL_COLOUR_MAP)
    assert tuple(viridis[0]) == (0x44, 0x01, 0x54) and tuple(viridis[255]) == (0xFD, 0xE7, 0x25)


def test_values_map_to_the_table_rows_and_nodata_to_the_last() -> None:
    values = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan, np.inf])
    indices = quicklook._colour_indices(values, 0.0, 1.0)
    assert indices.tolist() == [0, 0, 128, 255, 255, 256, 256]


def test_nodata_is_grey_and_distinct_from_the_white_background(tmp_path: Path) -> None:
    colours = _colours(_pixels(write_quicklook(_matrices(), tmp_path / 'q.png', provenance=_provenance())))
    assert BACKGROUND_COLOUR in colours and NODATA_COLOUR in colours
    assert BACKGROUND_COLOUR == (255, 255, 255)


@pytest.mark.parametrize(
    ('low', 'high', 'most'),
    [(555.36, 562.68, 8), (5154.9, 5260.08, 6), (-1.2e-5, 1.2e-5, 7), (-0.00873, -0.00748, 7), (0.0, 1.0, 5),
     (-2512.06, -2475.94, 3), (1e-9, 3e-9, 4), (0.3, 0.9, 7)],
)  # fmt: skip
def test_nice_ticks_are_round_and_within_the_range(low: float, high: float, most: int) -> None:
    ticks = quicklook._nice_ticks(low, high, most)
    assert 2 <= len(ticks) <= most
    assert all(low <= tick <= high for tick in ticks)
    steps = np.diff(ticks)
    step = float(steps[0])
    assert np.allclose(steps, step, rtol=1e-9, atol=0)
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert min(abs(mantissa - nice) for nice in (1, 2, 5)) < 1e-9
    assert all(abs(tick / step - round(tick / step)) < 1e-9 for tick in ticks)


def test_colour_bar_ticks_are_4_to_7_for_any_stretch() -> None:
    random = np.random.default_rng(1)
    for _ in range(2000):
        scale = 10 ** random.uniform(-7, 3)
        low = random.uniform(-1, 1) * scale
        high = low + random.uniform(0.01, 3) * scale
        bound = max(-low, high)  # a diverging stretch
        for ticks in (quicklook._colour_bar_ticks(low, high), quicklook._colour_bar_ticks(-bound, bound)):
            assert 4 <= len(ticks) <= 7, (low, high, ticks)


def test_tick_labels_are_short_and_exact() -> None:
    assert quicklook._tick_labels([560.0, 580.0, 600.0]) == ['560', '580', '600']
    assert quicklook._tick_labels([-0.0078, -0.0076]) == ['-0.0078', '-0.0076']
    assert quicklook._tick_labels([0.0025, 0.005, 0.0075]) == ['0.0025', '0.0050', '0.0075']
    assert quicklook._tick_labels([-2e-05, -1e-05, 0.0, 1e-05]) == ['-2e-05', '-1e-05', '0', '1e-05']
    assert quicklook._tick_labels([-5e-06, 0.0, 5e-06]) == ['-5e-06', '0', '5e-06']
    assert quicklook._tick_labels([5255.5, 5256.0]) == ['5255.5', '5256.0']
    assert quicklook._tick_labels([-0.00865, -0.0086]) == ['-0.00865', '-0.0086']
    assert quicklook._tick_labels([-2500.0, 0.0, 2500.0]) == ['-2500', '0', '2500']


def test_a_large_grid_is_decimated_and_drawn(tmp_path: Path) -> None:
    matrices = _matrices(shape=(1000, 3000))
    assert decimation_step(matrices.shape) == 5
    pixels = _pixels(write_quicklook(matrices, tmp_path / 'large.png', provenance=_provenance()))
    assert len(np.unique(pixels[..., 0])) > 50


def _drawn_box(pixels: np.ndarray, box: quicklook.Box) -> tuple[int, int]:
    """Width and height of the pixels inside `box` (and its frame) that are neither white nor black."""
    region = pixels[box.top - 1 : box.bottom + 1, box.left - 1 : box.right + 1].astype(int)
    coloured = ~np.all(region == 255, axis=2) & ~np.all(region == 0, axis=2)
    rows, columns = np.nonzero(coloured)
    return int(columns.max() - columns.min() + 1), int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize('shape', [(300, 600), (600, 300), (20, 30)])
def test_cells_are_square_in_map_units(tmp_path: Path, shape: tuple[int, int]) -> None:
    matrices = _matrices(shape=shape)
    pixels = _pixels(write_quicklook(matrices, tmp_path / 'q.png'))
    for panel in (0, 1):
        box = image_box(matrices, panel)
        assert box.width / box.height == pytest.approx(shape[1] / shape[0], rel=0.01)
        assert max(box.width / quicklook.IMAGE_AREA[2], box.height / quicklook.IMAGE_AREA[3]) == pytest.approx(1)
        assert _drawn_box(pixels, box) == (box.width, box.height)
        # The frame is black and just outside the image.
        assert np.all(pixels[box.top - 1, box.left - 1 : box.right + 1] == 0)
        assert np.all(pixels[box.top : box.bottom, box.right] == 0)
    assert image_box(matrices, 1).left - image_box(matrices, 0).left == CANVAS_SIZE[0] // 2


def test_nothing_is_drawn_at_the_canvas_edges(tmp_path: Path) -> None:
    pixels = _pixels(write_quicklook(_matrices(shape=(881, 1222)), tmp_path / 'q.png', provenance=_provenance()))
    for edge in (pixels[:2], pixels[-2:], pixels[:, :2], pixels[:, -2:]):
        assert np.all(edge == 255)


def test_all_nodata_or_constant_matrices_still_draw(tmp_path: Path) -> None:
    nan = _pixels(write_quicklook(_matrices(np.full((20, 30), np.nan)), tmp_path / 'nan.png'))
    constant = _pixels(write_quicklook(_matrices(np.full((20, 30), 0.01)), tmp_path / 'constant.png'))
    assert sorted(path.name for path in tmp_path.iterdir()) == ['constant.png', 'nan.png']
    box = image_box(_matrices(), 0)
    assert np.all(nan[box.top : box.bottom, box.left : box.right] == NODATA_COLOUR)
    # The constant field sits mid-stretch: one colour of the sequential map, not grey.
    inside = {tuple(colour) for colour in constant[box.top : box.bottom, box.left : box.right].reshape(-1, 3).tolist()}
    assert len(inside) == 1 and inside != {NODATA_COLOUR}


def test_without_freetype_the_bitmap_font_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_freetype(size: float | None = None) -> ImageFont.ImageFont:
        if size is not None:
            raise ImportError('The _imagingft C module is not installed')
        return ImageFont.load_default_imagefont()

    monkeypatch.setattr(ImageFont, 'load_default', no_freetype)
    quicklook._font.cache_clear()
    quicklook._line_extent.cache_clear()
    try:
        assert isinstance(quicklook._font(12), ImageFont.ImageFont)
        write_quicklook(_matrices(), tmp_path / 'bitmap.png', provenance=_provenance())
        assert len(np.unique(_pixels(tmp_path / 'bitmap.png')[..., 0])) > 50
    finally:
        quicklook._font.cache_clear()
        quicklook._line_extent.cache_clear()


def test_overwrite_protection(tmp_path: Path) -> None:
    output = tmp_path / 'conversion_matrices.png'
    write_quicklook(_matrices(), output)
    with pytest.raises(ProductError, match='already exists; remove it or pass --overwrite'):
        write_quicklook(_matrices(), output)
    write_quicklook(_matrices(), output, overwrite=True)
    with pytest.raises(ProductError, match='does not exist'):
        write_quicklook(_matrices(), tmp_path / 'missing' / 'a.png')


def test_a_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = Image.Image.save

    def fail_after_writing(self: Image.Image, path: Any, *args: Any, **kwargs: Any) -> None:
        original(self, path, *args, **kwargs)
        assert Path(path).stat().st_size > 0
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(Image.Image, 'save', fail_after_writing)
    with pytest.raises(ProductError, match=r'cannot write .*conversion_matrices.png \(\[Errno 28\] No space left'):
        write_quicklook(_matrices(), tmp_path / 'conversion_matrices.png')
    assert list(tmp_path.iterdir()) == []


def test_neither_the_workflow_nor_the_drawing_imports_matplotlib(tmp_path: Path) -> None:
    script = (
        'import sys\n'
        'import hyp3_s1_m11m12.products.correction\n'
        'from tests.products.test_quicklook import _matrices, write_quicklook\n'
        f'write_quicklook(_matrices(), {str(tmp_path / "q.png")!r})\n'
        'assert "matplotlib" not in sys.modules, "matplotlib was imported"\n'
    )
    subprocess.run([sys.executable, '-c', script], check=True, timeout=300, cwd=REPO_ROOT)
