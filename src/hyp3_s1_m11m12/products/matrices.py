"""M11/M12 on a map grid: computed from Geogrid's bands, in memory or read from its window_*.tif files.

M11 = Y2 / (X1*Y2 - X2*Y1) / sf1 and M12 = -X2 / (X1*Y2 - X2*Y1) / sf1, X and Y being bands 1-2 of
window_rdr_off2vel_x_vec / _y_vec and sf1 band 1 of window_scale_factor (Eq. A18 of Lei et al. 2021).
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from osgeo import gdal

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.geogrid.stage import MATRIX_INPUT_BANDS  # the one table of the bands M11/M12 use
from hyp3_s1_m11m12.products.mapping import spatial_reference
from hyp3_s1_m11m12.products.matrix_kernel import block_matrix_values


gdal.UseExceptions()

FloatArray = npt.NDArray[np.float64]
MatrixArray = npt.NDArray[np.floating]  # float64, or float32 when that is what the product stores


@dataclass(frozen=True, eq=False)
class ConversionMatrices:
    """M11 and M12 on a map grid, in pixel/(m/yr); NaN marks nodata.

    x and y are the cell centres (ascending x, descending y for a north-up grid); `geotransform` is the pixel-centre
    geotransform (GDAL's origin shifted by half a cell), the one written to the `mapping` variable.
    `dr_to_vr_factor` converts slant-range pixel displacement to slant-range velocity (m/yr per pixel).
    """

    M11: MatrixArray
    M12: MatrixArray
    x: FloatArray
    y: FloatArray
    epsg: int
    geotransform: tuple[float, float, float, float, float, float]
    dr_to_vr_factor: float

    def __post_init__(self) -> None:
        if self.M11.ndim != 2 or self.M11.shape != self.M12.shape:
            raise ProductError(f'M11 {self.M11.shape} and M12 {self.M12.shape} must be 2-D arrays of the same shape')
        ny, nx = self.M11.shape
        if self.x.shape != (nx,) or self.y.shape != (ny,):
            raise ProductError(
                f'x {self.x.shape} and y {self.y.shape} do not match the matrices {self.M11.shape} (y, x)'
            )
        if len(self.geotransform) != 6:
            raise ProductError(f'a geotransform has 6 terms, got {self.geotransform}')
        if not math.isfinite(self.dr_to_vr_factor):
            raise ProductError(f'dr_to_vr_factor {self.dr_to_vr_factor} is not finite')

    @property
    def shape(self) -> tuple[int, int]:
        ny, nx = self.M11.shape
        return ny, nx


def pixel_centre_geotransform(geotransform: Sequence[float]) -> tuple[float, float, float, float, float, float]:
    """GDAL's corner geotransform with the origin moved to the centre of the first cell (hyp3-autorift >= 0.18.1)."""
    x0, dx, rx, y0, ry, dy = (float(term) for term in geotransform)
    return (x0 + dx / 2, dx, rx, y0 + dy / 2, ry, dy)


def cell_centres(centre_geotransform: Sequence[float], shape: tuple[int, int]) -> tuple[FloatArray, FloatArray]:
    """x and y of the cell centres of a north-up grid of `shape` (ny, nx)."""
    ny, nx = shape
    x = centre_geotransform[0] + centre_geotransform[1] * np.arange(nx, dtype=np.float64)
    y = centre_geotransform[3] + centre_geotransform[5] * np.arange(ny, dtype=np.float64)
    return x, y


@dataclass(frozen=True, eq=False)
class MatrixGrid:
    """The map grid of a pair's M11/M12: cell centres, EPSG code and pixel-centre geotransform (see
    ConversionMatrices)."""

    x: FloatArray
    y: FloatArray
    epsg: int
    geotransform: tuple[float, float, float, float, float, float]

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.y.shape[0]), int(self.x.shape[0])


def matrix_grid(
    geotransform: tuple[float, float, float, float, float, float],
    projection_wkt: str,
    shape: tuple[int, int],
    source: str = 'the Geogrid outputs',
) -> MatrixGrid:
    """The grid of Geogrid's outputs of `shape` (rows, columns) on GDAL (corner) `geotransform` in `projection_wkt`.

    Raises:
        ProductError: the grid is rotated or has no map projection.
    """
    if geotransform[2] != 0 or geotransform[4] != 0:
        raise ProductError(
            f'the Geogrid grid of {source} is rotated (geotransform {geotransform}); '
            'ITS_LIVE grids are north-up, use a north-up DEM'
        )
    if not projection_wkt:
        raise ProductError(
            f"{source}: {LOCATION} has no map projection; Geogrid writes the DEM's CRS, "
            'give it a DEM with an EPSG-coded UTM or polar stereographic CRS'
        )
    _, epsg = spatial_reference(projection_wkt)
    centre_geotransform = pixel_centre_geotransform(geotransform)
    x, y = cell_centres(centre_geotransform, shape)
    return MatrixGrid(x=x, y=y, epsg=epsg, geotransform=centre_geotransform)


# The Geogrid outputs M11/M12 are computed from, with the number of leading bands used of each.
LOCATION = 'window_location.tif'
OFF2VEL_X = 'window_rdr_off2vel_x_vec.tif'
OFF2VEL_Y = 'window_rdr_off2vel_y_vec.tif'
SCALE_FACTOR = 'window_scale_factor.tif'


@dataclass(frozen=True, eq=False)
class GeogridBands:
    """The Geogrid bands M11/M12 need, as Geogrid produced them, on one grid.

    `bands` maps each file name of MATRIX_INPUT_BANDS to an array of shape (bands, rows, columns) holding at least
    that many bands; `nodata` marks nodata in every band (Geogrid's nodata_out). `geotransform` is GDAL's (corner).
    """

    bands: Mapping[str, npt.NDArray[np.generic]]
    geotransform: tuple[float, float, float, float, float, float]
    projection_wkt: str
    nodata: float | None = float(constants.NODATA_OUT)
    source: str = 'the Geogrid outputs'  # named in error messages


def median_of_tallies(tallies: Mapping[float, int]) -> float:
    """np.median of the values that `tallies` counts (value -> occurrences), without the values themselves: the
    middle value, or for an even count the mean of the two middle ones, computed as numpy does ((a + b) / 2)."""
    values = np.array(sorted(tallies), dtype=np.float64)
    cumulative = np.cumsum([tallies[value] for value in values.tolist()])
    total = int(cumulative[-1])

    def element(rank: int) -> np.float64:  # the rank-th (0-based) of the sorted values
        return values[int(np.searchsorted(cumulative, rank, side='right'))]

    if total % 2:
        return float(element(total // 2))
    return float((element(total // 2 - 1) + element(total // 2)) / 2.0)


def _grid_shape(bands: Mapping[str, npt.NDArray[np.generic]], source: str) -> tuple[int, int]:
    """(rows, columns) of bands that hold everything M11/M12 need, all on one grid."""
    for name, count in MATRIX_INPUT_BANDS.items():
        if name not in bands or bands[name].ndim != 3 or bands[name].shape[0] < count:
            raise ProductError(
                f'{source}: {name} is missing or has fewer than {count} band(s); it is not a complete '
                'Geogrid output, run Geogrid again'
            )
    shape = bands[LOCATION].shape[1:]
    for name in MATRIX_INPUT_BANDS:
        if bands[name].shape[1:] != shape:
            raise ProductError(
                f'{source}: {name} is not on the grid of {LOCATION} ({bands[name].shape[1:]} vs '
                f'{shape}); all Geogrid outputs must come from the same run, run Geogrid again'
            )
    return int(shape[0]), int(shape[1])


def block_matrices(
    bands: Mapping[str, npt.NDArray[np.generic]], nodata: float | None, factor_tallies: dict[float, int]
) -> tuple[FloatArray, FloatArray]:
    """M11 and M12 (float64) of one block of Geogrid's bands, converted as the whole grid would be (elementwise, so
    the same bits); nodata (window_location band 1, or any of X1, X2, Y1, Y2, sf1) becomes NaN. The block's valid
    window_rdr_off2vel_x_vec band 3 values (dr_to_vr_factor) are tallied into `factor_tallies`."""
    x1, x2, factor = bands[OFF2VEL_X][:3]
    y1, y2 = bands[OFF2VEL_Y][:2]
    m11, m12, factors = block_matrix_values(bands[LOCATION][0], x1, x2, factor, y1, y2, bands[SCALE_FACTOR][0], nodata)
    if factors.size and bool((factors == factors[0]).all()):  # the rule: every node has dr x 365 / dt_days
        value = float(factors[0])
        factor_tallies[value] = factor_tallies.get(value, 0) + int(factors.size)
    else:
        values, counts = np.unique(factors, return_counts=True)
        for value, count in zip(values.tolist(), counts.tolist(), strict=True):
            factor_tallies[value] = factor_tallies.get(value, 0) + count
    return m11, m12


class MatrixAccumulator:
    """M11/M12 built block by block from Geogrid's bands: a geogrid BandSink, so that the workflow holds only the
    two matrices, never the whole bands they come from (and reads nothing back).

    Each block is converted as the whole grid would be (elementwise operations, so the same bits); nodata
    (window_location band 1, or any of X1, X2, Y1, Y2, sf1) becomes NaN. dr_to_vr_factor is the median of the valid
    values of window_rdr_off2vel_x_vec band 3, tallied per distinct value (all nodes share one: dr x 365 / dt_days).
    The matrices are computed in float64 and kept as `dtype`: float32 for a float32 product halves the largest arrays
    of a run, and storing a block is the cast the writer would make (the same bits in the file).
    """

    def __init__(
        self,
        nodata: float | None = float(constants.NODATA_OUT),
        source: str = 'the Geogrid outputs',
        dtype: type[np.floating] = np.float64,
    ) -> None:
        self.nodata = nodata
        self.source = source  # named in error messages
        self.dtype = dtype
        self._m11: MatrixArray | None = None
        self._m12: MatrixArray | None = None
        self._rows_added = 0
        self._factor_tallies: dict[float, int] = {}

    def start(self, rows: int, columns: int, geotransform: object = None, projection_wkt: str = '') -> None:
        """The grid's size; its geotransform and projection are given to `finish`."""
        self._m11 = np.full((rows, columns), np.nan, dtype=self.dtype)
        self._m12 = np.full((rows, columns), np.nan, dtype=self.dtype)
        self._rows_added = 0
        self._factor_tallies = {}

    def add(self, first_row: int, bands: Mapping[str, npt.NDArray[np.generic]]) -> None:
        rows, columns = _grid_shape(bands, self.source)
        if self._m11 is None or self._m12 is None:
            raise ValueError('start() the accumulator with the grid size first')
        if columns != self._m11.shape[1] or not 0 <= first_row <= self._m11.shape[0] - rows:
            raise ProductError(f'{self.source}: a block of {rows} x {columns} at row {first_row} is off the grid')
        m11, m12 = block_matrices(bands, self.nodata, self._factor_tallies)
        self._m11[first_row : first_row + rows] = m11
        self._m12[first_row : first_row + rows] = m12
        self._rows_added += rows

    def finish(
        self, geotransform: tuple[float, float, float, float, float, float], projection_wkt: str
    ) -> ConversionMatrices:
        """The matrices on the grid of GDAL (corner) `geotransform` in `projection_wkt`.

        Raises:
            ProductError: not every row was added; the grid is rotated or has no EPSG code; nothing is valid.
        """
        if self._m11 is None or self._m12 is None or self._rows_added != self._m11.shape[0]:
            raise ProductError(f'{self.source}: Geogrid stopped before its last row; run Geogrid again')
        rows, columns = self._m11.shape
        grid = matrix_grid(geotransform, projection_wkt, (int(rows), int(columns)), self.source)
        if not self._factor_tallies or not np.isfinite(self._m11).any():
            raise ProductError(no_valid_node(self.source))
        return ConversionMatrices(
            M11=self._m11,
            M12=self._m12,
            x=grid.x,
            y=grid.y,
            epsg=grid.epsg,
            geotransform=grid.geotransform,
            dr_to_vr_factor=median_of_tallies(self._factor_tallies),
        )


def no_valid_node(source: str) -> str:
    return (
        f'{source} have no valid node (the map grid does not overlap the radar image); check that the '
        'parameter rasters cover the scene'
    )


def conversion_matrices_from_bands(geogrid: GeogridBands) -> ConversionMatrices:
    """M11/M12 from Geogrid's whole bands in memory (e.g. read back from its files): one block of the accumulator.

    Raises:
        ProductError: a band is missing; the grids differ; the grid is rotated or has no EPSG code; nothing is valid.
    """
    accumulator = MatrixAccumulator(geogrid.nodata, geogrid.source)
    rows, columns = _grid_shape(geogrid.bands, geogrid.source)
    accumulator.start(rows, columns)
    accumulator.add(0, geogrid.bands)
    return accumulator.finish(geogrid.geotransform, geogrid.projection_wkt)


def read_geogrid_bands(geogrid_dir: Path, names: Mapping[str, str] | None = None) -> GeogridBands:
    """The bands M11/M12 need, read from the window_*.tif files in `geogrid_dir` (`names` maps each standard
    file name to the name on disk, for products named for their pair).

    Raises:
        ProductError: a file is missing, unreadable, incomplete, or not on the grid of the others.
    """
    names = names or {}
    bands: dict[str, npt.NDArray[np.generic]] = {}
    nodata_values: set[float] = set()
    geotransforms: dict[str, tuple[float, ...]] = {}
    projection = ''
    for name, count in MATRIX_INPUT_BANDS.items():
        path = geogrid_dir / names.get(name, name)
        if not path.is_file():
            raise ProductError(f'Geogrid output {path} is missing; run Geogrid first (it writes all nine window_*.tif)')
        try:
            dataset = gdal.Open(str(path))
            if dataset.RasterCount < count:
                raise ProductError(
                    f'{path} has {dataset.RasterCount} band(s) but {count} are needed; it is not a complete '
                    'Geogrid output, run Geogrid again'
                )
            arrays = []
            for number in range(1, count + 1):
                band = dataset.GetRasterBand(number)
                arrays.append(np.asarray(band.ReadAsArray()))
                nodata = band.GetNoDataValue()
                # window_location.tif always has one; the others fall back to Geogrid's nodata_out.
                nodata_values.add(float(constants.NODATA_OUT) if nodata is None else float(nodata))
                del band
            geotransforms[name] = tuple(float(term) for term in dataset.GetGeoTransform())
            if name == LOCATION:
                projection = dataset.GetProjection()
            del dataset
        except RuntimeError as error:
            raise ProductError(f'cannot read Geogrid output {path} ({error}); run Geogrid again') from error
        bands[name] = np.stack(arrays)
    for name, geotransform in geotransforms.items():
        if geotransform != geotransforms[LOCATION] or bands[name].shape[1:] != bands[LOCATION].shape[1:]:
            raise ProductError(
                f'{geogrid_dir / names.get(name, name)} is not on the grid of {LOCATION} ({bands[name].shape[1:]} '
                f'vs {bands[LOCATION].shape[1:]}, geotransform {geotransform} vs {geotransforms[LOCATION]}); all '
                'Geogrid outputs must come from the same run, run Geogrid again'
            )
    if len(nodata_values) != 1:
        raise ProductError(f'the Geogrid outputs in {geogrid_dir} use different nodata values {sorted(nodata_values)}')
    return GeogridBands(
        bands=bands,
        geotransform=geotransforms[LOCATION],  # type: ignore[arg-type]
        projection_wkt=projection,
        nodata=nodata_values.pop(),
        source=f'the Geogrid outputs in {geogrid_dir}',
    )


def conversion_matrices_from_geogrid(geogrid_dir: Path) -> ConversionMatrices:
    """M11/M12 from the window_*.tif files Geogrid wrote in `geogrid_dir` (see conversion_matrices_from_bands).

    Raises:
        ProductError: a file is missing, unreadable or incomplete; the grids differ; the grid is rotated or has no
            EPSG code; nothing is valid.
    """
    return conversion_matrices_from_bands(read_geogrid_bands(geogrid_dir))
