"""The compiled M11/M12 block kernel gives the bits of the elementwise numpy formula, nodata, NaN, inf and zero
determinants included; a run after its warm-up compiles nothing."""

import numpy as np
import numpy.typing as npt
import pytest

from hyp3_s1_m11m12.products import matrix_kernel
from hyp3_s1_m11m12.products.matrix_kernel import block_matrix_values


NODATA = -32767.0


def numpy_reference(
    bands: list[npt.NDArray[np.float64]], nodata: float | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The numpy form the kernel replaced: nodata and non-finite values to NaN, the formula, non-finite to NaN."""

    def with_nan(values: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        floats = np.array(values, dtype=np.float64)
        mask = ~np.isfinite(floats) if nodata is None else (floats == nodata) | ~np.isfinite(floats)
        floats[mask] = np.nan
        return floats, mask

    location, x1, x2, factor, y1, y2, sf1 = bands
    _, location_mask = with_nan(location)
    x1, x2, factor, y1, y2, sf1 = (with_nan(band)[0] for band in (x1, x2, factor, y1, y2, sf1))
    with np.errstate(divide='ignore', invalid='ignore'):
        determinant = x1 * y2 - x2 * y1
        m11 = y2 / determinant / sf1
        m12 = -x2 / determinant / sf1
    m11[~np.isfinite(m11)] = np.nan
    m12[~np.isfinite(m12)] = np.nan
    m11[location_mask] = np.nan
    m12[location_mask] = np.nan
    return m11, m12, factor[np.isfinite(factor)]


def hostile_bands(rows: int, columns: int, seed: int) -> list[npt.NDArray[np.float64]]:
    generator = np.random.default_rng(seed)
    location = generator.integers(0, 5000, (rows, columns)).astype(np.float64)
    location[generator.random((rows, columns)) < 0.1] = NODATA
    bands = [location]
    for scale in (1e-3, 1e-3, 70.0, 1e-3, 1e-3, 1.0):
        band = generator.normal(0.0, scale, (rows, columns)) + (scale if scale > 1 else 0.0)
        for value, fraction in ((NODATA, 0.05), (np.nan, 0.01), (np.inf, 0.005), (-np.inf, 0.005), (0.0, 0.01)):
            band[generator.random((rows, columns)) < fraction] = value
        bands.append(band)
    if rows:  # a zero determinant: y1 = x1 and y2 = x2 make x1*y2 - x2*y1 exactly 0
        bands[4][0, :5] = bands[1][0, :5]
        bands[5][0, :5] = bands[2][0, :5]
    return bands


def kernel(
    bands: list[npt.NDArray[np.float64]], nodata: float | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    location, x1, x2, factor, y1, y2, sf1 = bands
    return block_matrix_values(location, x1, x2, factor, y1, y2, sf1, nodata)


@pytest.mark.parametrize('nodata', [NODATA, None])
@pytest.mark.parametrize('shape', [(37, 53), (1, 1), (0, 4)])
def test_the_kernel_gives_the_numpy_bits(nodata: float | None, shape: tuple[int, int]) -> None:
    bands = hostile_bands(*shape, seed=shape[0])
    ours = kernel(bands, nodata)
    theirs = numpy_reference(bands, nodata)
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.dtype == np.float64 and mine.shape == reference.shape
        assert mine.tobytes() == reference.tobytes()  # NaN where NaN, and every other bit


def test_integer_locations_and_views_are_accepted() -> None:
    bands = hostile_bands(20, 30, seed=5)
    location = bands[0].astype(np.int32)
    stacked = np.stack(bands[1:4])  # a band of a (bands, rows, columns) block, as Geogrid gives them
    _, _, _, _, y1, y2, sf1 = bands
    ours = block_matrix_values(location, stacked[0], stacked[1], stacked[2], y1, y2, sf1, NODATA)
    theirs = numpy_reference(bands, NODATA)
    assert all(mine.tobytes() == reference.tobytes() for mine, reference in zip(ours, theirs, strict=True))


def test_a_run_after_the_warm_up_compiles_nothing() -> None:
    matrix_kernel.warm_up()
    kernel(hostile_bands(8, 9, seed=1), NODATA)
    kernel(hostile_bands(8, 9, seed=2), None)
    assert len(matrix_kernel.compiled().signatures) == 1
