from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from osgeo import gdal

from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.products.conversion_matrices import ConversionMatrices, Provenance
from hyp3_s1_m11m12.products.quicklook import (
    NODATA_COLOUR,
    colour_scale,
    decimation_step,
    quicklook_title,
    stretch_label,
    write_quicklook,
)
from hyp3_s1_m11m12.sentinel1.pairing import RepeatTime


PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def _matrices(m11: np.ndarray | None = None) -> ConversionMatrices:
    ny, nx = 20, 30
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


def pixel_colours(path: Path) -> set[tuple[int, int, int]]:
    dataset = gdal.Open(str(path))
    red, green, blue = (dataset.GetRasterBand(band).ReadAsArray() for band in (1, 2, 3))
    del dataset
    return set(zip(red.ravel().tolist(), green.ravel().tolist(), blue.ravel().tolist(), strict=True))


def test_nodata_is_grey_and_distinct_from_the_white_background(tmp_path: Path) -> None:
    from hyp3_s1_m11m12.products import quicklook

    grey = float(NODATA_COLOUR)
    for name in (quicklook.DIVERGING_COLOUR_MAP, quicklook.SEQUENTIAL_COLOUR_MAP):
        colour_map = quicklook._colour_map(name)
        assert tuple(colour_map.get_bad()) == (grey, grey, grey, 1.0)
        # No colour of the map is within 0.1 of the nodata grey in every channel, nor the white background.
        colours = colour_map(np.linspace(0, 1, 256))[:, :3]
        assert np.all(np.max(np.abs(colours - grey), axis=1) > 0.1)
        assert np.all(np.min(colours, axis=1) < 0.99)
    colours = pixel_colours(write_quicklook(_matrices(), tmp_path / 'q.png', provenance=_provenance()))
    level = round(grey * 255)
    assert (255, 255, 255) in colours and (level, level, level) in colours


def test_writes_a_png_of_both_matrices(tmp_path: Path) -> None:
    output = write_quicklook(_matrices(), tmp_path / 'conversion_matrices.png', provenance=_provenance())
    assert output == tmp_path / 'conversion_matrices.png'
    assert output.read_bytes().startswith(PNG_SIGNATURE)
    dataset = gdal.Open(str(output))
    assert (dataset.RasterXSize, dataset.RasterYSize) == (1200, 600)
    # Two panels with colour bars: the picture is not a blank canvas.
    red = dataset.GetRasterBand(1).ReadAsArray()
    assert len(np.unique(red)) > 50
    del dataset
    assert [path.name for path in tmp_path.iterdir()] == ['conversion_matrices.png']


def test_all_nodata_or_constant_matrices_still_draw(tmp_path: Path) -> None:
    write_quicklook(_matrices(np.full((20, 30), np.nan)), tmp_path / 'nan.png')
    write_quicklook(_matrices(np.full((20, 30), 0.01)), tmp_path / 'constant.png')
    assert sorted(path.name for path in tmp_path.iterdir()) == ['constant.png', 'nan.png']


def test_overwrite_protection(tmp_path: Path) -> None:
    output = tmp_path / 'conversion_matrices.png'
    write_quicklook(_matrices(), output)
    with pytest.raises(ProductError, match='already exists; remove it or pass --overwrite'):
        write_quicklook(_matrices(), output)
    write_quicklook(_matrices(), output, overwrite=True)
    with pytest.raises(ProductError, match='does not exist'):
        write_quicklook(_matrices(), tmp_path / 'missing' / 'a.png')


def test_a_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    original = Figure.savefig

    def fail_after_writing(self: Figure, path: Any, **kwargs: Any) -> None:
        original(self, path, **kwargs)
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(Figure, 'savefig', fail_after_writing)
    with pytest.raises(ProductError, match='cannot write .*conversion_matrices.png'):
        write_quicklook(_matrices(), tmp_path / 'conversion_matrices.png')
    assert list(tmp_path.iterdir()) == []
