"""M11/M12 of a block of Geogrid's bands in one compiled pass: the products' only compiled function.

The elementwise numpy form (the nodata of six bands turned into NaN copies, then the formula, then the non-finite
results cleared) made ~35 passes over each block, on the thread that feeds Geogrid's workers, once per pair. The
kernel makes one, with the same IEEE operations in the same order (numba calls no fast-math), so the bits are
those of the numpy form (tested against it). It lives in its own file because numba's cache of a function is
invalidated only when that function's file changes; it calls no compiled function of another file.
"""

import functools
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12 import numba_target


FloatArray = npt.NDArray[np.float64]


def matrix_block_kernel(location, x1, x2, factor, y1, y2, sf1, nodata, has_nodata, m11, m12, factors):
    """Fill m11/m12 (rows, columns) from the bands of one block and `factors` with the valid values of `factor`
    (window_rdr_off2vel_x_vec band 3) in row order; return their count.

    A node is nodata (NaN in both matrices) where the location or any of x1, x2, y1, y2, sf1 is `nodata` (when
    `has_nodata`) or not finite; then M11 = y2 / (x1*y2 - x2*y1) / sf1 and M12 = -x2 / (x1*y2 - x2*y1) / sf1, and a
    non-finite result (a zero determinant) is NaN too.
    """
    count = 0
    rows, columns = m11.shape
    for row in range(rows):
        for column in range(columns):
            value = factor[row, column]
            if np.isfinite(value) and not (has_nodata and value == nodata):
                factors[count] = value
                count += 1
            where = location[row, column]
            a = x1[row, column]
            b = x2[row, column]
            c = y1[row, column]
            d = y2[row, column]
            s = sf1[row, column]
            invalid = not (
                np.isfinite(where)
                and np.isfinite(a)
                and np.isfinite(b)
                and np.isfinite(c)
                and np.isfinite(d)
                and np.isfinite(s)
            )
            if has_nodata:
                invalid = invalid or where == nodata or a == nodata or b == nodata
                invalid = invalid or c == nodata or d == nodata or s == nodata
            if invalid:
                m11[row, column] = np.nan
                m12[row, column] = np.nan
                continue
            determinant = a * d - b * c
            first = d / determinant / s
            second = -b / determinant / s
            m11[row, column] = first if np.isfinite(first) else np.nan
            m12[row, column] = second if np.isfinite(second) else np.nan
    return count


_compile_lock = threading.Lock()


@functools.cache
def _compile() -> Any:
    numba = numba_target.import_numba()
    return numba.njit(cache=True, nogil=True, fastmath=False, error_model='numpy')(matrix_block_kernel)


def compiled() -> Any:
    """The kernel compiled with numba (loaded from its cache when it is warm). Thread-safe."""
    with _compile_lock:
        return _compile()


def _contiguous(values: npt.NDArray[np.generic], dtype: type[np.generic]) -> npt.NDArray[Any]:
    return np.ascontiguousarray(values, dtype=dtype)


def block_matrix_values(
    location: npt.NDArray[np.generic],
    x1: npt.NDArray[np.generic],
    x2: npt.NDArray[np.generic],
    factor: npt.NDArray[np.generic],
    y1: npt.NDArray[np.generic],
    y2: npt.NDArray[np.generic],
    sf1: npt.NDArray[np.generic],
    nodata: float | None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(M11, M12, the valid dr_to_vr_factor values) of one block (see matrix_block_kernel), float64."""
    shape = np.shape(location)
    m11 = np.empty(shape)
    m12 = np.empty(shape)
    factors = np.empty(int(np.prod(shape)))
    count = compiled()(
        *(_contiguous(band, np.float64) for band in (location, x1, x2, factor, y1, y2, sf1)),
        float(nodata) if nodata is not None else 0.0,
        nodata is not None,
        m11,
        m12,
        factors,
    )
    return m11, m12, factors[:count]


def warm_up() -> None:
    """Compile the kernel (or load it from numba's cache) for the argument types of a run: where the image is built,
    and in the background at the start of a run."""
    empty = np.empty((0, 0))
    block_matrix_values(empty, empty, empty, empty, empty, empty, empty, -32767.0)


def warm_up_in_background() -> threading.Thread:
    thread = threading.Thread(target=warm_up, name='matrix-kernel', daemon=True)
    thread.start()
    return thread
