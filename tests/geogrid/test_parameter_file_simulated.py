"""The synthetic parameter rasters and shapefile: conventions of the ITS_LIVE (and golden) files, realism, blocks."""

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from osgeo import gdal, osr

from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid.parameter_file import find_parameter_set
from hyp3_s1_m11m12.simulate import parameters
from hyp3_s1_m11m12.simulate.parameters import (
    DEM_NODATA,
    PARAMETER_NODATA,
    MapGrid,
    grid_covering,
    utm_epsg,
    write_parameter_rasters,
    write_synthetic_parameter_file,
)


gdal.UseExceptions()

# More rows than one generation block, so the block seams are checked too.
GRID = MapGrid(
    epsg=32607, x_min_m=480_000.0, y_max_m=6_680_000.0, spacing_m=240.0, columns=180, rows=parameters.BLOCK_ROWS + 44
)


def read(path: str) -> tuple[npt.NDArray, gdal.Dataset]:
    dataset = gdal.Open(path)
    return dataset.GetRasterBand(1).ReadAsArray(), dataset


@pytest.fixture(scope='module')
def rasters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_parameter_rasters(GRID, tmp_path_factory.mktemp('rasters')).present()


def test_every_raster_on_the_grid(rasters: dict[str, str]) -> None:
    assert set(rasters) == set(parameters.RASTER_FILES)
    for name, path in rasters.items():
        values, dataset = read(path)
        assert values.shape == (GRID.rows, GRID.columns)
        assert dataset.GetGeoTransform() == GRID.geotransform
        reference = osr.SpatialReference(wkt=dataset.GetProjection())
        assert reference.GetAuthorityCode(None) == '32607'
        assert dataset.GetMetadata('IMAGE_STRUCTURE')['COMPRESSION'] == 'DEFLATE'
        expected_type = gdal.GDT_Int16 if name == 'ssm' else gdal.GDT_Float32
        assert dataset.GetRasterBand(1).DataType == expected_type, name
        assert np.all(np.isfinite(values))
        del dataset


def test_nodata_conventions(rasters: dict[str, str]) -> None:
    dem, dataset = read(rasters['dem'])
    assert dataset.GetRasterBand(1).GetNoDataValue() == DEM_NODATA
    assert int(np.count_nonzero(dem == DEM_NODATA)) == 4 * 5  # the golden set's 4 x 5 patch
    for name in ('vx', 'vy', 'srx', 'sry', 'csminx', 'csminy', 'csmaxx', 'csmaxy', 'ssm'):
        values, dataset = read(rasters[name])
        assert dataset.GetRasterBand(1).GetNoDataValue() == PARAMETER_NODATA
        assert np.count_nonzero(values == PARAMETER_NODATA) > 0, f'{name} has no nodata patch'
    vx, _ = read(rasters['vx'])
    vy, _ = read(rasters['vy'])
    np.testing.assert_array_equal(vx == PARAMETER_NODATA, vy == PARAMETER_NODATA)
    srx, _ = read(rasters['srx'])
    assert np.count_nonzero(srx == 0) > 0  # the zero-search-range patch


def test_slopes_are_the_gradient_of_the_dem(rasters: dict[str, str]) -> None:
    """dhdx = d/d easting, dhdy = d/d northing by np.gradient of the DEM before its nodata patch, seams included."""
    dem, _ = read(rasters['dem'])
    dhdx, _ = read(rasters['dhdx'])
    dhdy, _ = read(rasters['dhdy'])
    d_drow, d_dcolumn = np.gradient(dem.astype(np.float64), GRID.spacing_m)
    patch = dem == DEM_NODATA
    near_patch = patch | np.roll(patch, 1, 0) | np.roll(patch, -1, 0) | np.roll(patch, 1, 1) | np.roll(patch, -1, 1)
    # float32 DEM values differ from the float64 ones the slopes came from by < 1e-4 m over 480 m.
    np.testing.assert_allclose(dhdx[~near_patch], d_dcolumn[~near_patch], atol=1e-6)
    np.testing.assert_allclose(dhdy[~near_patch], -d_drow[~near_patch], atol=1e-6)
    assert np.all(np.isfinite(dhdx[near_patch]))  # computed before the patch: no -9999 cliff
    assert float(np.max(np.abs(dhdx))) < 1.0 and float(np.max(np.abs(dhdy))) < 1.0


def test_realistic_values(rasters: dict[str, str]) -> None:
    dem, _ = read(rasters['dem'])
    valid_dem = dem[dem != DEM_NODATA]
    assert 0 < float(valid_dem.min()) and float(valid_dem.max()) < 3500
    vx, _ = read(rasters['vx'])
    vy, _ = read(rasters['vy'])
    valid = vx != PARAMETER_NODATA
    speed = np.hypot(vx[valid], vy[valid])
    assert 1000 < float(speed.max()) <= 2100  # a fast outlet glacier
    assert float(np.median(speed)) < 20  # most of the grid barely moves
    ssm, _ = read(rasters['ssm'])
    assert set(np.unique(ssm)) == {0, 1, PARAMETER_NODATA}
    assert float(np.max(speed[ssm[valid] == 1])) < 100  # stable surface is slow
    for low, high in (('csminx', 'csmaxx'), ('csminy', 'csmaxy')):
        minimum, _ = read(rasters[low])
        maximum, _ = read(rasters[high])
        both = (minimum != PARAMETER_NODATA) & (maximum != PARAMETER_NODATA)
        assert np.all(minimum[both] > 0) and np.all(minimum[both] <= maximum[both])


def test_deterministic(rasters: dict[str, str], tmp_path: Path) -> None:
    again = write_parameter_rasters(GRID, tmp_path).present()
    for name in ('dem', 'vx', 'ssm'):
        np.testing.assert_array_equal(read(again[name])[0], read(rasters[name])[0])
    other_seed = write_parameter_rasters(GRID, tmp_path / 'seed1', seed=1).present()
    assert not np.array_equal(read(other_seed['dem'])[0], read(rasters['dem'])[0])


@pytest.mark.parametrize(
    'lon, lat, epsg',
    [(11.1, 46.5, 32632), (-128.0, 52.0, 32609), (-70.0, -50.0, 32719), (179.9, 1.0, 32660), (-180.0, 1.0, 32601)],
)
def test_utm_epsg(lon: float, lat: float, epsg: int) -> None:
    assert utm_epsg(lon, lat) == epsg


def test_grid_covering_a_footprint() -> None:
    footprint = [(-141.9, 59.2), (-137.6, 59.6), (-138.0, 61.2), (-142.4, 60.8)]
    whole = grid_covering(footprint, 240.0)
    assert whole.epsg == 32607
    assert whole.x_min_m % 240 == 0 and whole.y_max_m % 240 == 0
    corners = whole.outline_lonlat()
    assert min(lon for lon, _ in corners) <= -142.4 + 0.01 and max(lat for _, lat in corners) >= 61.2 - 0.01
    half = grid_covering(footprint, 240.0, fraction=0.5)
    assert abs(half.columns - whole.columns / 2) <= 2 and abs(half.rows - whole.rows / 2) <= 2
    with pytest.raises(GeogridInputError, match='fraction'):
        grid_covering(footprint, 240.0, fraction=0.0)
    with pytest.raises(GeogridInputError, match='invalid map grid'):
        MapGrid(epsg=32607, x_min_m=0, y_max_m=0, spacing_m=240, columns=1, rows=5)


def test_synthetic_parameter_file_round_trip(tmp_path: Path) -> None:
    footprint = [(-141.9, 59.2), (-137.6, 59.6), (-138.0, 61.2), (-142.4, 60.8)]
    shapefile, grid = write_synthetic_parameter_file(footprint, tmp_path, spacing_m=1920.0, fraction=0.3)
    found = find_parameter_set(str(shapefile), footprint)
    assert (found.name, found.epsg) == ('SYN', grid.epsg)
    dataset = gdal.Open(found.rasters.dem)
    assert (dataset.RasterXSize, dataset.RasterYSize) == (grid.columns, grid.rows)
    del dataset
