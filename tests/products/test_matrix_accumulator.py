"""M11/M12 built block by block (the workflow's path) equal the whole-grid computation bit for bit."""

import numpy as np
import numpy.typing as npt
import pytest
from osgeo import osr

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.products.matrices import (
    LOCATION,
    OFF2VEL_X,
    OFF2VEL_Y,
    SCALE_FACTOR,
    GeogridBands,
    MatrixAccumulator,
    conversion_matrices_from_bands,
    median_of_tallies,
)


NODATA = float(constants.NODATA_OUT)
GEOTRANSFORM = (500000.0, 240.0, 0.0, 7000000.0, 0.0, -240.0)


def utm_wkt() -> str:
    reference = osr.SpatialReference()
    reference.ImportFromEPSG(32606)
    return str(reference.ExportToWkt())


def geogrid_like_bands(rows: int, columns: int, seed: int = 3) -> dict[str, npt.NDArray[np.generic]]:
    """Bands with Geogrid's layout: nodata outside an irregular footprint and in scattered nodes, one shared
    offset2vr value (dr x 365 / dt_days) with a few others so that the median is not trivial."""
    generator = np.random.default_rng(seed)
    outside = generator.random((rows, columns)) < 0.15
    location = np.where(outside, NODATA, generator.integers(0, 20000, (rows, columns))).astype(np.int32)[None]
    x_vec = generator.normal(0.0, 1.0, (4, rows, columns))
    x_vec[2] = 70.85753919927345
    x_vec[2][generator.random((rows, columns)) < 0.3] = 850.290171871093
    y_vec = generator.normal(0.0, 1.0, (4, rows, columns))
    scale = generator.uniform(0.9, 1.1, (2, rows, columns))
    for band in (x_vec, y_vec, scale):
        band[:, outside] = NODATA
        band[:, generator.random((rows, columns)) < 0.02] = NODATA
    y_vec[1][generator.random((rows, columns)) < 0.01] = 0.0  # determinant zero for some: NaN, as whole
    return {LOCATION: location, OFF2VEL_X: x_vec, OFF2VEL_Y: y_vec, SCALE_FACTOR: scale}


@pytest.mark.parametrize('rows_per_block', [1, 7, 64])
def test_blocks_give_the_whole_grids_bits(rows_per_block: int) -> None:
    bands = geogrid_like_bands(53, 41)
    whole = conversion_matrices_from_bands(GeogridBands(bands, GEOTRANSFORM, utm_wkt(), NODATA))
    accumulator = MatrixAccumulator(NODATA)
    accumulator.start(53, 41)
    for first in range(0, 53, rows_per_block):
        accumulator.add(first, {name: band[:, first : first + rows_per_block] for name, band in bands.items()})
    streamed = accumulator.finish(GEOTRANSFORM, utm_wkt())
    for name in ('M11', 'M12'):
        ours, theirs = getattr(streamed, name), getattr(whole, name)
        assert ours.tobytes() == theirs.tobytes()
        assert np.isnan(ours).sum() > 0.15 * ours.size
    assert streamed.dr_to_vr_factor == whole.dr_to_vr_factor
    assert streamed.geotransform == whole.geotransform
    assert streamed.epsg == 32606
    np.testing.assert_array_equal(streamed.x, whole.x)


@pytest.mark.parametrize('count', [1, 2, 5, 6, 1001, 1002])
def test_median_of_tallies_is_numpys_median(count: int) -> None:
    generator = np.random.default_rng(count)
    values = generator.choice(generator.normal(50.0, 30.0, 7), size=count)
    distinct, tallies = np.unique(values, return_counts=True)
    median = median_of_tallies(dict(zip(distinct.tolist(), tallies.tolist(), strict=True)))
    assert median == float(np.median(values))


def test_median_of_two_values_is_their_mean_as_numpy_computes_it() -> None:
    values = np.array([0.1, 0.7])
    assert median_of_tallies({0.1: 1, 0.7: 1}) == float(np.median(values))


def test_a_grid_not_fully_added_is_refused() -> None:
    bands = geogrid_like_bands(10, 8)
    accumulator = MatrixAccumulator(NODATA, source='Geogrid of the pair')
    accumulator.start(10, 8)
    accumulator.add(0, {name: band[:, :6] for name, band in bands.items()})
    with pytest.raises(ProductError, match='stopped before its last row'):
        accumulator.finish(GEOTRANSFORM, utm_wkt())


def test_a_block_off_the_grid_or_incomplete_is_refused() -> None:
    bands = geogrid_like_bands(10, 8)
    accumulator = MatrixAccumulator(NODATA)
    accumulator.start(10, 8)
    with pytest.raises(ProductError, match='off the grid'):
        accumulator.add(6, bands)
    incomplete = {name: band for name, band in bands.items() if name != SCALE_FACTOR}
    with pytest.raises(ProductError, match='window_scale_factor.tif is missing'):
        accumulator.add(0, incomplete)


def test_no_valid_node_is_an_error() -> None:
    bands = geogrid_like_bands(4, 4)
    bands[LOCATION][:] = int(NODATA)
    for name in (OFF2VEL_X, OFF2VEL_Y, SCALE_FACTOR):
        bands[name][:] = NODATA
    with pytest.raises(ProductError, match='no valid node'):
        conversion_matrices_from_bands(GeogridBands(bands, GEOTRANSFORM, utm_wkt(), NODATA))


def test_float32_storage_is_the_cast_of_the_float64_matrices() -> None:
    bands = geogrid_like_bands(29, 17)
    matrices = {}
    for dtype in (np.float64, np.float32):
        accumulator = MatrixAccumulator(NODATA, dtype=dtype)
        accumulator.start(29, 17)
        for first in range(0, 29, 5):
            accumulator.add(first, {name: band[:, first : first + 5] for name, band in bands.items()})
        matrices[dtype] = accumulator.finish(GEOTRANSFORM, utm_wkt())
    for name in ('M11', 'M12'):
        kept = getattr(matrices[np.float32], name)
        assert kept.dtype == np.float32
        assert kept.tobytes() == getattr(matrices[np.float64], name).astype(np.float32).tobytes()
    assert matrices[np.float32].dr_to_vr_factor == matrices[np.float64].dr_to_vr_factor
