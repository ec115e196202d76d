"""Synthetic but realistic ITS_LIVE autoRIFT parameter rasters and the parameter shapefile that points at them.

The rasters follow the conventions of ../shared/golden (and of the real ITS_LIVE files): DEFLATE GeoTIFFs on one
map grid, float32 except the int16 stable-surface mask; the DEM has hills and a glacier valley, dhdx/dhdy are its
np.gradient slopes (dhdy = d/d northing); vx/vy carry a glacier flow of up to ~2000 m/yr; vx, vy, the search
ranges, chip sizes and the mask have nodata patches (-32767), the DEM a small -9999 patch, and srx a patch of zero
search range. Everything is computed in row blocks, so a 3-million-node grid needs a few tens of MB.
"""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from osgeo import gdal, ogr, osr
from pyproj import CRS, Transformer

from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid.parameter_file import DBF_WRITER_FIELD_NAME_LENGTH, EPSG_FIELD, NAME_FIELD, RASTER_FIELDS
from hyp3_s1_m11m12.geogrid.types import ParameterRasters


gdal.UseExceptions()
ogr.UseExceptions()
osr.UseExceptions()

DEM_NODATA = -9999.0
PARAMETER_NODATA = -32767
MAX_SPEED_M_PER_YR = 2000.0
GLACIER_HALF_WIDTH_M = 3000.0
HILL_WAVES = 8
HILL_RELIEF_M = 160.0
BLOCK_ROWS = 256  # = the GeoTIFF tile height, so each block fills whole tiles
CREATION_OPTIONS = ['COMPRESS=DEFLATE', 'ZLEVEL=1', 'TILED=YES', 'BLOCKXSIZE=256', 'BLOCKYSIZE=256']

# Raster -> (file name, GDAL type, nodata). File names follow the ITS_LIVE suffixes.
RASTER_FILES = {
    'dem': ('h.tif', gdal.GDT_Float32, DEM_NODATA),
    'dhdx': ('dhdx.tif', gdal.GDT_Float32, None),
    'dhdy': ('dhdy.tif', gdal.GDT_Float32, None),
    'vx': ('vx0.tif', gdal.GDT_Float32, PARAMETER_NODATA),
    'vy': ('vy0.tif', gdal.GDT_Float32, PARAMETER_NODATA),
    'srx': ('vxSearchRange.tif', gdal.GDT_Float32, PARAMETER_NODATA),
    'sry': ('vySearchRange.tif', gdal.GDT_Float32, PARAMETER_NODATA),
    'csminx': ('xMinChipSize.tif', gdal.GDT_Float32, PARAMETER_NODATA),
    'csminy': ('yMinChipSize.tif', gdal.GDT_Float32, PARAMETER_NODATA),
    'csmaxx': ('xMaxChipSize.tif', gdal.GDT_Float32, PARAMETER_NODATA),
    'csmaxy': ('yMaxChipSize.tif', gdal.GDT_Float32, PARAMETER_NODATA),
    'ssm': ('StableSurface.tif', gdal.GDT_Int16, PARAMETER_NODATA),
}

# Nodata patches as (first row, first column, rows, columns) fractions of the grid, per raster.
NODATA_PATCHES = {
    'vx': ((0.30, 0.20, 0.04, 0.05), (0.62, 0.71, 0.03, 0.06)),
    'vy': ((0.30, 0.20, 0.04, 0.05), (0.62, 0.71, 0.03, 0.06)),
    'srx': ((0.12, 0.55, 0.03, 0.03),),
    'sry': ((0.12, 0.55, 0.03, 0.03),),
    'csminx': ((0.80, 0.40, 0.03, 0.04),),
    'csminy': ((0.80, 0.40, 0.03, 0.04),),
    'csmaxx': ((0.80, 0.40, 0.03, 0.04),),
    'csmaxy': ((0.80, 0.40, 0.03, 0.04),),
    'ssm': ((0.45, 0.85, 0.04, 0.04),),
}
DEM_NODATA_PATCH = (0.70, 0.15, 4, 5)  # fractions for the corner, then a fixed 4 x 5 cells as in the golden set
ZERO_SEARCH_RANGE_PATCH = (0.20, 0.35, 0.03, 0.04)


@dataclass(frozen=True)
class MapGrid:
    """A north-up map grid: `x_min_m`/`y_max_m` are the outer corner, cells are `spacing_m` square."""

    epsg: int
    x_min_m: float
    y_max_m: float
    spacing_m: float
    columns: int
    rows: int

    def __post_init__(self) -> None:
        if not self.spacing_m > 0 or self.columns < 2 or self.rows < 2:
            raise GeogridInputError(
                f'invalid map grid: {self.columns} x {self.rows} cells of {self.spacing_m} m; '
                'use at least 2 x 2 cells and a positive spacing'
            )

    @property
    def geotransform(self) -> tuple[float, float, float, float, float, float]:
        return (self.x_min_m, self.spacing_m, 0.0, self.y_max_m, 0.0, -self.spacing_m)

    @property
    def x_max_m(self) -> float:
        return self.x_min_m + self.columns * self.spacing_m

    @property
    def y_min_m(self) -> float:
        return self.y_max_m - self.rows * self.spacing_m

    @property
    def nodes(self) -> int:
        return self.columns * self.rows

    def outline_lonlat(self, points_per_side: int = 10) -> list[tuple[float, float]]:
        """The grid's outline in (lon, lat) degrees, densified so it stays faithful after projection."""
        fractions = np.linspace(0.0, 1.0, points_per_side, endpoint=False)
        width = self.x_max_m - self.x_min_m
        height = self.y_max_m - self.y_min_m
        xs = np.concatenate(
            [self.x_min_m + fractions * width, np.full_like(fractions, self.x_max_m)]
            + [self.x_max_m - fractions * width, np.full_like(fractions, self.x_min_m)]
        )
        ys = np.concatenate(
            [np.full_like(fractions, self.y_max_m), self.y_max_m - fractions * height]
            + [np.full_like(fractions, self.y_min_m), self.y_min_m + fractions * height]
        )
        transformer = Transformer.from_crs(CRS.from_epsg(self.epsg), CRS.from_epsg(4326), always_xy=True)
        lons, lats = transformer.transform(xs, ys)
        return [(float(lon), float(lat)) for lon, lat in zip(lons, lats, strict=True)]


@dataclass(frozen=True)
class ParameterRegion:
    """One feature of a parameter shapefile: a region polygon (lon, lat) and the rasters used inside it."""

    name: str
    epsg: int
    polygon_lonlat: tuple[tuple[float, float], ...]
    rasters: ParameterRasters


def utm_epsg(lon: float, lat: float) -> int:
    """The WGS84 UTM zone (326xx north, 327xx south) that contains a point."""
    zone = math.floor(((lon + 180.0) % 360.0) / 6.0) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def grid_covering(
    footprint_lonlat: Sequence[tuple[float, float]],
    spacing_m: float,
    *,
    epsg: int | None = None,
    fraction: float = 1.0,
) -> MapGrid:
    """A grid over the footprint's bounding box in `epsg` (default: the UTM zone of its centre).

    `fraction` < 1 shrinks the box about its centre (each side), e.g. for a fast demo over part of a scene.
    The corners are snapped to multiples of the spacing, as ITS_LIVE grids are.
    """
    if not 0 < fraction <= 1:
        raise GeogridInputError(f'fraction must be in (0, 1], got {fraction}')
    lons = np.array([lon for lon, _ in footprint_lonlat], dtype=np.float64)
    lats = np.array([lat for _, lat in footprint_lonlat], dtype=np.float64)
    if np.ptp(lons) > 180:
        lons = np.where(lons < 0, lons + 360.0, lons)
    if epsg is None:
        epsg = utm_epsg(float(np.mean(lons)), float(np.mean(lats)))
    transformer = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_epsg(epsg), always_xy=True)
    xs, ys = transformer.transform(lons, lats)
    centre_x, centre_y = (np.min(xs) + np.max(xs)) / 2, (np.min(ys) + np.max(ys)) / 2
    half_width = (np.max(xs) - np.min(xs)) / 2 * fraction
    half_height = (np.max(ys) - np.min(ys)) / 2 * fraction
    x_min = math.floor((centre_x - half_width) / spacing_m) * spacing_m
    x_max = math.ceil((centre_x + half_width) / spacing_m) * spacing_m
    y_min = math.floor((centre_y - half_height) / spacing_m) * spacing_m
    y_max = math.ceil((centre_y + half_height) / spacing_m) * spacing_m
    return MapGrid(
        epsg=epsg,
        x_min_m=float(x_min),
        y_max_m=float(y_max),
        spacing_m=float(spacing_m),
        columns=round((x_max - x_min) / spacing_m),
        rows=round((y_max - y_min) / spacing_m),
    )


def write_parameter_rasters(grid: MapGrid, output_dir: Path, *, seed: int = 0) -> ParameterRasters:
    """Write the twelve parameter rasters of `grid` into `output_dir` (created if needed); returns their paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    terrain = _Terrain(grid, seed)
    reference = osr.SpatialReference()
    reference.ImportFromEPSG(grid.epsg)
    wkt = reference.ExportToWkt()
    driver = gdal.GetDriverByName('GTiff')

    paths = {name: output_dir / file_name for name, (file_name, _, _) in RASTER_FILES.items()}
    datasets = {}
    for name, (_, data_type, nodata) in RASTER_FILES.items():
        dataset = driver.Create(str(paths[name]), grid.columns, grid.rows, 1, data_type, options=CREATION_OPTIONS)
        dataset.SetGeoTransform(grid.geotransform)
        dataset.SetProjection(wkt)
        if nodata is not None:
            dataset.GetRasterBand(1).SetNoDataValue(nodata)
        datasets[name] = dataset
    try:
        for first_row, blocks in terrain.blocks():
            for name, values in blocks.items():
                datasets[name].GetRasterBand(1).WriteArray(values, 0, first_row)
                # Whole tile rows are done: hand them to the compressor now rather than letting GDAL's block
                # cache (5% of RAM by default) grow with all twelve rasters.
                datasets[name].FlushCache()
    finally:
        for dataset in datasets.values():
            dataset.FlushCache()
        datasets.clear()
    # Absolute, so that a shapefile pointing at them works wherever it is written (its paths are not rewritten).
    return ParameterRasters(**{name: str(path.resolve()) for name, path in paths.items()})


def write_parameter_shapefile(path: Path, regions: Sequence[ParameterRegion]) -> Path:
    """Write an ITS_LIVE-style parameter shapefile (EPSG:4326 polygons, one feature per region).

    The raster fields get the eleven-character names of the real files ('vxSearchRan', 'StableSurfa'), which
    GDAL's writer cannot create (it stops at ten), so the DBF header is patched after writing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    driver = ogr.GetDriverByName('ESRI Shapefile')
    if path.exists():
        driver.DeleteDataSource(str(path))
    wgs84 = osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    wgs84.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)

    field_names = [NAME_FIELD, EPSG_FIELD, *RASTER_FIELDS.values()]
    dataset = driver.CreateDataSource(str(path))
    layer = dataset.CreateLayer(path.stem, wgs84, ogr.wkbPolygon)
    for field_name in field_names:
        if field_name == EPSG_FIELD:
            definition = ogr.FieldDefn(field_name, ogr.OFTInteger)
        else:
            definition = ogr.FieldDefn(field_name[:DBF_WRITER_FIELD_NAME_LENGTH], ogr.OFTString)
            definition.SetWidth(254)
        layer.CreateField(definition)
    for region in regions:
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField(NAME_FIELD, region.name)
        feature.SetField(EPSG_FIELD, int(region.epsg))
        for raster, field_name in RASTER_FIELDS.items():
            value = getattr(region.rasters, raster)
            if value:
                feature.SetField(field_name[:DBF_WRITER_FIELD_NAME_LENGTH], str(value))
        ring = ogr.Geometry(ogr.wkbLinearRing)
        points = list(region.polygon_lonlat)
        for lon, lat in [*points, points[0]]:
            ring.AddPoint_2D(float(lon), float(lat))
        polygon = ogr.Geometry(ogr.wkbPolygon)
        polygon.AddGeometry(ring)
        feature.SetGeometry(polygon)
        layer.CreateFeature(feature)
        feature = None
    layer = None
    dataset = None
    _restore_long_field_names(path.with_suffix('.dbf'), field_names)
    return path


def write_synthetic_parameter_file(
    footprint_lonlat: Sequence[tuple[float, float]],
    output_dir: Path,
    *,
    spacing_m: float = 240.0,
    fraction: float = 1.0,
    epsg: int | None = None,
    seed: int = 0,
    name: str = 'SYN',
) -> tuple[Path, MapGrid]:
    """Rasters over (part of) a scene footprint plus a shapefile with its region and a decoy region elsewhere.

    The region polygon is the footprint's lon/lat box widened by half a degree, so it holds the scene centroid
    whatever part of the scene the grid covers; the decoy sits on the opposite side of the globe.

    Returns:
        The shapefile path and the grid of the rasters.
    """
    grid = grid_covering(footprint_lonlat, spacing_m, epsg=epsg, fraction=fraction)
    rasters = write_parameter_rasters(grid, output_dir / name, seed=seed)
    lons = [lon for lon, _ in footprint_lonlat]
    lats = [lat for _, lat in footprint_lonlat]
    box = _lonlat_box(min(lons) - 0.5, max(lons) + 0.5, max(min(lats) - 0.5, -90.0), min(max(lats) + 0.5, 90.0))
    decoy_lon = ((min(lons) + 180.0 + 180.0) % 360.0) - 180.0
    decoy = _lonlat_box(decoy_lon - 1.0, decoy_lon + 1.0, -1.0, 1.0)
    regions = [
        ParameterRegion(name=f'{name}_DECOY', epsg=4326, polygon_lonlat=decoy, rasters=ParameterRasters(dem='')),
        ParameterRegion(name=name, epsg=grid.epsg, polygon_lonlat=box, rasters=rasters),
    ]
    shapefile = write_parameter_shapefile(output_dir / f'autorift_{name.lower()}_{int(spacing_m):04d}m.shp', regions)
    return shapefile, grid


def _lonlat_box(west: float, east: float, south: float, north: float) -> tuple[tuple[float, float], ...]:
    return ((west, south), (east, south), (east, north), (west, north))


def _restore_long_field_names(dbf: Path, field_names: Sequence[str]) -> None:
    """Rename the DBF fields to their full eleven characters (the header's name slot is eleven bytes)."""
    header = bytearray(dbf.read_bytes())
    descriptor_offset = 32
    descriptor_size = 32
    name_size = 11
    wanted = {name[:DBF_WRITER_FIELD_NAME_LENGTH]: name for name in field_names}
    offset = descriptor_offset
    while offset + descriptor_size <= len(header) and header[offset] != 0x0D:
        short = bytes(header[offset : offset + name_size]).split(b'\x00', 1)[0].decode('ascii')
        full = wanted.get(short, short)
        header[offset : offset + name_size] = full.encode('ascii')[:name_size].ljust(name_size, b'\x00')
        offset += descriptor_size
    dbf.write_bytes(bytes(header))


class _Terrain:
    """The analytic landscape, evaluated in row blocks: hills, a sinuous glacier valley and its flow."""

    def __init__(self, grid: MapGrid, seed: int) -> None:
        self.grid = grid
        rng = np.random.default_rng(seed)
        # Plane waves in random directions, longer ones stronger: rolling, irregular hills rather than a lattice.
        self.hill_wavelengths_m = rng.uniform(6_000.0, 50_000.0, size=HILL_WAVES)
        self.hill_directions_rad = rng.uniform(0.0, math.pi, size=HILL_WAVES)
        self.hill_phases = rng.uniform(0.0, 2 * math.pi, size=HILL_WAVES)
        self.hill_amplitudes_m = HILL_RELIEF_M * (self.hill_wavelengths_m / 50_000.0) ** 0.8
        self.valley_phase = float(rng.uniform(0.0, 2 * math.pi))
        self.columns_x_m = grid.x_min_m + (np.arange(grid.columns) + 0.5) * grid.spacing_m
        self.width_m = grid.columns * grid.spacing_m
        self.height_m = grid.rows * grid.spacing_m

    def _patch_mask(self, name: str, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        mask = np.zeros((rows.size, self.grid.columns), dtype=bool)
        for row_fraction, column_fraction, rows_fraction, columns_fraction in NODATA_PATCHES.get(name, ()):
            mask |= self._rectangle(rows, row_fraction, column_fraction, rows_fraction, columns_fraction)
        return mask

    def _rectangle(
        self, rows: npt.NDArray[np.int64], row_fraction: float, column_fraction: float, height: float, width: float
    ) -> npt.NDArray[np.bool_]:
        grid = self.grid
        first_row = int(row_fraction * grid.rows)
        first_column = int(column_fraction * grid.columns)
        row_count = height if height >= 1 else max(2, int(height * grid.rows))
        column_count = width if width >= 1 else max(2, int(width * grid.columns))
        in_rows = (rows >= first_row) & (rows < first_row + row_count)
        columns = np.arange(grid.columns)
        in_columns = (columns >= first_column) & (columns < first_column + column_count)
        return in_rows[:, np.newaxis] & in_columns[np.newaxis, :]

    def elevation(self, rows: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """DEM (m) and the signed distance to the valley centreline (m) for the given rows."""
        y = self.grid.y_max_m - (rows[:, np.newaxis] + 0.5) * self.grid.spacing_m
        x = self.columns_x_m[np.newaxis, :]
        along = (x - self.grid.x_min_m) / self.width_m  # 0 at the west edge, 1 at the east edge
        hills = np.zeros((rows.size, self.grid.columns))
        for wavelength, direction, phase, amplitude in zip(
            self.hill_wavelengths_m, self.hill_directions_rad, self.hill_phases, self.hill_amplitudes_m, strict=True
        ):
            wavenumber = 2 * math.pi / wavelength
            hills += amplitude * np.sin(wavenumber * (math.cos(direction) * x + math.sin(direction) * y) + phase)
        distance = self._valley_distance_m(x, y)
        valley = np.exp(-((distance / GLACIER_HALF_WIDTH_M) ** 2))
        dem = 1400.0 + hills + 900.0 * (0.5 - along) - 650.0 * valley
        return dem, distance

    def _valley_centre_y_m(self, along: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        grid = self.grid
        return grid.y_max_m - self.height_m * (0.5 + 0.18 * np.sin(2 * math.pi * 1.3 * along + self.valley_phase))

    def _valley_distance_m(self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        along = (x - self.grid.x_min_m) / self.width_m
        slope = self._valley_slope(along)
        # Distance across the valley, perpendicular to the centreline's local direction.
        return (y - self._valley_centre_y_m(along)) / np.sqrt(1.0 + slope**2)

    def _valley_slope(self, along: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """d(centreline northing)/d(easting)."""
        amplitude = 0.18 * self.height_m * 2 * math.pi * 1.3 / self.width_m
        return -amplitude * np.cos(2 * math.pi * 1.3 * along + self.valley_phase)

    def blocks(self) -> Iterator[tuple[int, dict[str, npt.NDArray[np.floating] | npt.NDArray[np.integer]]]]:
        grid = self.grid
        for first_row in range(0, grid.rows, BLOCK_ROWS):
            last_row = min(first_row + BLOCK_ROWS, grid.rows)
            # One halo row on each side, so np.gradient's central differences match the whole-raster ones.
            halo_first = max(first_row - 1, 0)
            halo_last = min(last_row + 1, grid.rows)
            halo_rows = np.arange(halo_first, halo_last)
            dem_halo, _ = self.elevation(halo_rows)
            d_drow, d_dcolumn = np.gradient(dem_halo, grid.spacing_m)
            inner = slice(first_row - halo_first, first_row - halo_first + (last_row - first_row))
            dem = dem_halo[inner]
            dhdx = d_dcolumn[inner]
            dhdy = -d_drow[inner]  # rows run south, northing north
            del dem_halo, d_drow, d_dcolumn
            rows = np.arange(first_row, last_row)
            yield first_row, self._block_values(rows, dem, dhdx, dhdy)

    def _block_values(
        self,
        rows: npt.NDArray[np.int64],
        dem: npt.NDArray[np.float64],
        dhdx: npt.NDArray[np.float64],
        dhdy: npt.NDArray[np.float64],
    ) -> dict[str, npt.NDArray[np.floating] | npt.NDArray[np.integer]]:
        grid = self.grid
        y = grid.y_max_m - (rows[:, np.newaxis] + 0.5) * grid.spacing_m
        x = self.columns_x_m[np.newaxis, :]
        along = (x - grid.x_min_m) / self.width_m
        distance = self._valley_distance_m(x, y)
        on_glacier = np.exp(-((distance / GLACIER_HALF_WIDTH_M) ** 2))
        # Faster downstream, fastest on the centreline; a slow creep (few m/yr) elsewhere.
        speed = MAX_SPEED_M_PER_YR * on_glacier * (0.25 + 0.75 * np.clip(along, 0.0, 1.0)) ** 1.5
        slope = self._valley_slope(along)
        norm = np.sqrt(1.0 + slope**2)
        creep_x = 4.0 * np.sin(2 * math.pi * y / 23_000.0)
        creep_y = 3.0 * np.cos(2 * math.pi * x / 17_000.0)
        vx = speed / norm + creep_x
        vy = speed * slope / norm + creep_y
        srx = 60.0 + 0.35 * np.abs(vx) + 0.1 * speed
        sry = 60.0 + 0.35 * np.abs(vy) + 0.1 * speed
        fast = speed > 100.0
        csmin = np.where(fast, 240.0, 480.0)
        csmax = np.where(fast, 960.0, 1920.0)
        ssm = ((on_glacier < 0.05) & (dem > 1000.0)).astype(np.int16)

        values: dict[str, npt.NDArray[np.floating] | npt.NDArray[np.integer]] = {
            'dem': dem.astype(np.float32),
            'dhdx': dhdx.astype(np.float32),
            'dhdy': dhdy.astype(np.float32),
            'vx': vx.astype(np.float32),
            'vy': vy.astype(np.float32),
            'srx': srx.astype(np.float32),
            'sry': sry.astype(np.float32),
            'csminx': csmin.astype(np.float32),
            'csminy': csmin.astype(np.float32),
            'csmaxx': csmax.astype(np.float32),
            'csmaxy': csmax.astype(np.float32),
            'ssm': ssm,
        }
        values['srx'][self._rectangle(rows, *ZERO_SEARCH_RANGE_PATCH)] = 0.0
        values['dem'][self._rectangle(rows, *DEM_NODATA_PATCH)] = DEM_NODATA
        for name in NODATA_PATCHES:
            values[name][self._patch_mask(name, rows)] = PARAMETER_NODATA
        return values
