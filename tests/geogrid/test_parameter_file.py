"""Parameter-file lookup: which ITS_LIVE region holds the scene, its fields, antimeridian scenes, remote files, errors."""

import functools
import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from osgeo import gdal, ogr, osr
from pyproj import Transformer

from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid.parameter_file import (
    RASTER_FIELDS,
    find_parameter_set,
    find_parameter_set_at,
    gdal_path,
    radar_footprint_lonlat,
    scene_centroid_lonlat,
)
from hyp3_s1_m11m12.geogrid.spec import load_spec
from hyp3_s1_m11m12.geogrid.types import RASTER_NAMES, ParameterRasters
from hyp3_s1_m11m12.simulate.parameters import (
    MapGrid,
    ParameterRegion,
    write_parameter_rasters,
    write_parameter_shapefile,
)
from tests.support.http_server import QuietHTTPServer


gdal.UseExceptions()

ALPS = ((10.0, 46.0), (12.0, 46.0), (12.0, 47.5), (10.0, 47.5))
ALPS_FOOTPRINT = [(10.5, 46.4), (11.6, 46.5), (11.5, 47.1), (10.4, 47.0)]
SMALL_GRID = MapGrid(epsg=32632, x_min_m=620_000.0, y_max_m=5_200_000.0, spacing_m=960.0, columns=12, rows=10)


@pytest.fixture(scope='module')
def rasters(tmp_path_factory: pytest.TempPathFactory) -> ParameterRasters:
    return write_parameter_rasters(SMALL_GRID, tmp_path_factory.mktemp('rasters'))


def region(
    name: str, polygon: tuple[tuple[float, float], ...], rasters: ParameterRasters, epsg: int = 32632
) -> ParameterRegion:
    return ParameterRegion(name=name, epsg=epsg, polygon_lonlat=polygon, rasters=rasters)


def box(west: float, south: float, east: float, north: float) -> tuple[tuple[float, float], ...]:
    return ((west, south), (east, south), (east, north), (west, north))


def test_picks_the_region_that_contains_the_scene(rasters: ParameterRasters, tmp_path: Path) -> None:
    elsewhere = ParameterRasters(dem=str(tmp_path / 'absent_h.tif'))
    shapefile = write_parameter_shapefile(
        tmp_path / 'parameters.shp',
        [region('GRE', box(-60, 60, -20, 84), elsewhere, 3413), region('ALP', ALPS, rasters)],
    )
    found = find_parameter_set(str(shapefile), ALPS_FOOTPRINT)
    assert (found.name, found.epsg, found.parameter_file) == ('ALP', 32632, str(shapefile))
    assert found.rasters == rasters
    assert set(found.rasters.present()) == set(RASTER_NAMES)


def test_field_names_are_those_of_the_its_live_files(rasters: ParameterRasters, tmp_path: Path) -> None:
    shapefile = write_parameter_shapefile(tmp_path / 'parameters.shp', [region('ALP', ALPS, rasters)])
    dataset = ogr.Open(str(shapefile))
    definition = dataset.GetLayer(0).GetLayerDefn()
    names = [definition.GetFieldDefn(index).GetName() for index in range(definition.GetFieldCount())]
    del definition, dataset
    assert names == ['name', 'epsg', *RASTER_FIELDS.values()]
    assert {'vxSearchRan', 'vySearchRan', 'StableSurfa', 'xMinChipSiz', 'yMaxChipSiz', 'vx0', 'h'} <= set(names)
    assert (
        RASTER_FIELDS['vx'] == 'vx0' and RASTER_FIELDS['srx'] == 'vxSearchRan' and RASTER_FIELDS['ssm'] == 'StableSurfa'
    )


def test_accepts_field_names_cut_to_ten_characters(rasters: ParameterRasters, tmp_path: Path) -> None:
    """A shapefile written by GDAL alone ('vxSearchRa'): the same fields, read the same way."""
    reference = osr.SpatialReference()
    reference.ImportFromEPSG(4326)
    dataset = ogr.GetDriverByName('ESRI Shapefile').CreateDataSource(str(tmp_path / 'short.shp'))
    layer = dataset.CreateLayer('short', reference, ogr.wkbPolygon)
    for name in ('name', 'epsg', *RASTER_FIELDS.values()):
        definition = ogr.FieldDefn(name[:10], ogr.OFTString)
        definition.SetWidth(254)
        layer.CreateField(definition)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetField('name', 'ALP')
    feature.SetField('epsg', '32632')
    for raster, field in RASTER_FIELDS.items():
        feature.SetField(field[:10], getattr(rasters, raster))
    feature.SetGeometry(ogr.CreateGeometryFromWkt('POLYGON ((10 46, 12 46, 12 47.5, 10 47.5, 10 46))'))
    layer.CreateFeature(feature)
    del feature, layer, dataset

    found = find_parameter_set(str(tmp_path / 'short.shp'), ALPS_FOOTPRINT)
    assert found.rasters == rasters


def test_relative_raster_paths_are_relative_to_the_shapefile(rasters: ParameterRasters, tmp_path: Path) -> None:
    folder = Path(rasters.dem).parent
    relative = ParameterRasters(**{name: Path(path).name for name, path in rasters.present().items()})
    shapefile = write_parameter_shapefile(folder / 'parameters.shp', [region('ALP', ALPS, relative)])
    assert find_parameter_set(str(shapefile), ALPS_FOOTPRINT).rasters == rasters


@pytest.mark.parametrize(
    'location, expected',
    [
        ('http://its-live-data.s3.amazonaws.com/a/h.tif', '/vsicurl/http://its-live-data.s3.amazonaws.com/a/h.tif'),
        ('https://example.org/a_h.tif', '/vsicurl/https://example.org/a_h.tif'),
        ('/vsicurl/https://example.org/a_h.tif', '/vsicurl/https://example.org/a_h.tif'),
        (
            's3://its-live-data/autorift_parameters/v001/a_h.tif',
            '/vsis3/its-live-data/autorift_parameters/v001/a_h.tif',
        ),
        ('/data/a_h.tif', '/data/a_h.tif'),
        (' relative/a_h.tif ', 'relative/a_h.tif'),
    ],
)
def test_gdal_path(location: str, expected: str) -> None:
    assert gdal_path(location) == expected


# --- the antimeridian ---------------------------------------------------------------------------------------------

# A footprint across 180°: two corners at +179.x, two at -179.x; its centroid is at -179.75, not near 0°.
ANTIMERIDIAN_FOOTPRINT = [(179.9, 65.0), (-179.3, 65.1), (-179.4, 66.2), (179.8, 66.1)]


def test_centroid_across_the_antimeridian() -> None:
    lon, lat = scene_centroid_lonlat(ANTIMERIDIAN_FOOTPRINT)
    assert lon == pytest.approx(-179.75, abs=0.02)
    assert lat == pytest.approx(65.6, abs=0.05)
    naive = np.mean([lon for lon, _ in ANTIMERIDIAN_FOOTPRINT])
    assert abs(naive) < 1  # what a plain average gives


@pytest.mark.parametrize(
    'polygon',
    [box(-180.0, 60.0, -170.0, 70.0), box(175.0, 60.0, 185.0, 70.0)],
    ids=['west of 180 in -180..180', 'across 180 in 0..360'],
)
def test_region_across_the_antimeridian(
    polygon: tuple[tuple[float, float], ...], rasters: ParameterRasters, tmp_path: Path
) -> None:
    decoy = box(-1.0, 60.0, 1.0, 70.0)  # where a naive centroid would fall
    shapefile = write_parameter_shapefile(
        tmp_path / 'parameters.shp',
        [region('DECOY', decoy, ParameterRasters(dem='absent.tif')), region('BERING', polygon, rasters)],
    )
    assert find_parameter_set(str(shapefile), ANTIMERIDIAN_FOOTPRINT).name == 'BERING'


def test_region_east_of_180_is_not_taken_for_a_scene_west_of_it(rasters: ParameterRasters, tmp_path: Path) -> None:
    shapefile = write_parameter_shapefile(tmp_path / 'parameters.shp', [region('EAST', box(170, 60, 180, 70), rasters)])
    with pytest.raises(GeogridInputError, match='no region'):
        find_parameter_set(str(shapefile), ANTIMERIDIAN_FOOTPRINT)


# --- remote parameter files ---------------------------------------------------------------------------------------


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """A static file server with single-range GET support, as S3 and GDAL's /vsicurl/ use."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send_head(self) -> Any:
        requested = self.headers.get('Range')
        path = Path(self.translate_path(self.path))
        if not requested or not path.is_file():
            return super().send_head()
        content = path.read_bytes()
        first_text, _, last_text = requested.removeprefix('bytes=').partition('-')
        first = int(first_text)
        last = min(int(last_text) if last_text else len(content) - 1, len(content) - 1)
        self.send_response(206)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Content-Range', f'bytes {first}-{last}/{len(content)}')
        self.send_header('Content-Length', str(last - first + 1))
        self.send_header('Accept-Ranges', 'bytes')
        self.end_headers()
        return io.BytesIO(content[first : last + 1])


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1, and its base URL."""
    root = tmp_path / 'served'
    root.mkdir()
    handler = functools.partial(RangeRequestHandler, directory=str(root))
    server = QuietHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()
        gdal.VSICurlClearCache()


@pytest.mark.parametrize('prefix', ['', '/vsicurl/'])
def test_remote_parameter_file_and_rasters(prefix: str, http_root: tuple[Path, str]) -> None:
    root, url = http_root
    local = write_parameter_rasters(SMALL_GRID, root / 'ALP')
    remote = ParameterRasters(**{name: f'{url}/ALP/{Path(path).name}' for name, path in local.present().items()})
    write_parameter_shapefile(root / 'autorift_test_0960m.shp', [region('ALP', ALPS, remote)])

    found = find_parameter_set(f'{prefix}{url}/autorift_test_0960m.shp', ALPS_FOOTPRINT)
    assert found.name == 'ALP'
    assert found.rasters.dem == f'/vsicurl/{url}/ALP/h.tif'
    assert all(path.startswith('/vsicurl/http://127.0.0.1') for path in found.rasters.present().values())


def test_unreachable_remote_parameter_file(http_root: tuple[Path, str]) -> None:
    _, url = http_root
    with pytest.raises(GeogridInputError, match=r'cannot open the parameter file .*check the network'):
        find_parameter_set(f'{url}/absent.shp', ALPS_FOOTPRINT)


def test_unreachable_remote_raster(rasters: ParameterRasters, http_root: tuple[Path, str], tmp_path: Path) -> None:
    _, url = http_root
    broken = ParameterRasters(**{**rasters.present(), 'vx': f'{url}/ALP/vx0.tif'})
    shapefile = write_parameter_shapefile(tmp_path / 'parameters.shp', [region('ALP', ALPS, broken)])
    with pytest.raises(GeogridInputError, match=r'cannot open 1 parameter raster.*vx \(/vsicurl/http://127'):
        find_parameter_set(str(shapefile), ALPS_FOOTPRINT)
    # Without the check the set is still returned, e.g. to inspect it.
    assert (
        find_parameter_set(str(shapefile), ALPS_FOOTPRINT, check_rasters=False).rasters.vx
        == f'/vsicurl/{url}/ALP/vx0.tif'
    )


# --- errors -------------------------------------------------------------------------------------------------------


def test_no_region_contains_the_scene(rasters: ParameterRasters, tmp_path: Path) -> None:
    shapefile = write_parameter_shapefile(tmp_path / 'parameters.shp', [region('GRE', box(-60, 60, -20, 84), rasters)])
    with pytest.raises(GeogridInputError, match=r'no region of the parameter file .* contains the scene centroid'):
        find_parameter_set(str(shapefile), ALPS_FOOTPRINT)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GeogridInputError, match='cannot open the parameter file'):
        find_parameter_set(str(tmp_path / 'absent.shp'), ALPS_FOOTPRINT)


def test_not_a_shapefile(tmp_path: Path) -> None:
    (tmp_path / 'garbage.shp').write_bytes(b'\x00' * 10)
    with pytest.raises(GeogridInputError, match='cannot open the parameter file'):
        find_parameter_set(str(tmp_path / 'garbage.shp'), ALPS_FOOTPRINT)


def test_missing_fields(tmp_path: Path) -> None:
    reference = osr.SpatialReference()
    reference.ImportFromEPSG(4326)
    dataset = ogr.GetDriverByName('ESRI Shapefile').CreateDataSource(str(tmp_path / 'bare.shp'))
    layer = dataset.CreateLayer('bare', reference, ogr.wkbPolygon)
    for name in ('name', 'epsg', 'h'):
        layer.CreateField(ogr.FieldDefn(name, ogr.OFTString))
    del layer, dataset
    with pytest.raises(GeogridInputError, match=r'lacks the field\(s\) dhdx, dhdy, vx0, vy0, .*, StableSurfa \(it has'):
        find_parameter_set(str(tmp_path / 'bare.shp'), ALPS_FOOTPRINT)


def test_missing_raster(rasters: ParameterRasters, tmp_path: Path) -> None:
    broken = ParameterRasters(**{**rasters.present(), 'csmaxy': str(tmp_path / 'absent_yMaxChipSize.tif')})
    shapefile = write_parameter_shapefile(tmp_path / 'parameters.shp', [region('ALP', ALPS, broken)])
    with pytest.raises(GeogridInputError, match=r'cannot open 1 parameter raster\(s\) of region ALP: csmaxy'):
        find_parameter_set(str(shapefile), ALPS_FOOTPRINT)


def test_region_without_dem(rasters: ParameterRasters, tmp_path: Path) -> None:
    shapefile = write_parameter_shapefile(tmp_path / 'parameters.shp', [region('ALP', ALPS, ParameterRasters(dem=''))])
    with pytest.raises(GeogridInputError, match='has no DEM'):
        find_parameter_set(str(shapefile), ALPS_FOOTPRINT)


def test_epsg_disagrees_with_the_dem(rasters: ParameterRasters, tmp_path: Path) -> None:
    shapefile = write_parameter_shapefile(tmp_path / 'parameters.shp', [region('ALP', ALPS, rasters, epsg=32633)])
    with pytest.raises(GeogridInputError, match='EPSG:32632 but the parameter file says EPSG:32633'):
        find_parameter_set(str(shapefile), ALPS_FOOTPRINT)


def test_invalid_epsg(rasters: ParameterRasters, tmp_path: Path) -> None:
    shapefile = write_parameter_shapefile(tmp_path / 'parameters.shp', [region('ALP', ALPS, rasters, epsg=999999)])
    with pytest.raises(GeogridInputError, match='invalid epsg'):
        find_parameter_set(str(shapefile), ALPS_FOOTPRINT)


@pytest.mark.parametrize('footprint', [[], [(10.0, 46.0), (11.0, 46.0)], [(10.0, 46.0), (float('nan'), 1.0), (1, 2)]])
def test_bad_footprint(footprint: list[tuple[float, float]]) -> None:
    with pytest.raises(GeogridInputError, match='footprint'):
        scene_centroid_lonlat(footprint)


def test_point_lookup_matches_footprint_lookup(rasters: ParameterRasters, tmp_path: Path) -> None:
    shapefile = write_parameter_shapefile(tmp_path / 'parameters.shp', [region('ALP', ALPS, rasters)])
    lon, lat = scene_centroid_lonlat(ALPS_FOOTPRINT)
    assert find_parameter_set_at(str(shapefile), lon, lat) == find_parameter_set(str(shapefile), ALPS_FOOTPRINT)


# --- the footprint of a radar geometry ----------------------------------------------------------------------------


@pytest.mark.golden
def test_radar_footprint_holds_the_dem_of_the_real_pair(golden_dir: Path) -> None:
    """The real pair's DEM window lies inside the scene; its centre must fall inside the computed footprint."""
    spec = load_spec(golden_dir / 's1a_iw_20250406_realpair_utm' / 'inputs' / 'spec.json')
    footprint = radar_footprint_lonlat(spec.radar)
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for lon, lat in [*footprint, footprint[0]]:
        ring.AddPoint_2D(lon, lat)
    polygon = ogr.Geometry(ogr.wkbPolygon)
    polygon.AddGeometry(ring)

    dataset = gdal.Open(spec.rasters.dem)
    x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
    centre_x, centre_y = x0 + dx * dataset.RasterXSize / 2, y0 + dy * dataset.RasterYSize / 2
    del dataset
    lon, lat = Transformer.from_crs(spec.epsg, 4326, always_xy=True).transform(centre_x, centre_y)
    point = ogr.Geometry(ogr.wkbPoint)
    point.AddPoint_2D(lon, lat)
    assert polygon.Contains(point)
    # An IW frame is about 250 km across and 170 km along track.
    lons, lats = zip(*footprint, strict=True)
    assert 2.5 < max(lons) - min(lons) < 6 and 1.2 < max(lats) - min(lats) < 2.5
