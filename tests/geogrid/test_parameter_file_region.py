"""The parameter region is chosen as hyp3-autorift chose it: the centre of the determineBbox lat/lon rectangle."""

from pathlib import Path

import pytest

from hyp3_s1_m11m12.geogrid.parameter_file import (
    FOOTPRINT_RULE,
    REGION_RULE,
    bounding_box_centroid_lonlat,
    find_parameter_set,
    scene_centroid_lonlat,
)
from hyp3_s1_m11m12.geogrid.types import ParameterRasters
from hyp3_s1_m11m12.simulate.acquisition import synthetic_scene
from hyp3_s1_m11m12.simulate.parameters import ParameterRegion, write_parameter_shapefile
from hyp3_s1_m11m12.simulate.safe import footprint_latlon


def _box(west: float, south: float, east: float, north: float) -> tuple[tuple[float, float], ...]:
    return ((west, south), (east, south), (east, north), (west, north))


@pytest.fixture(scope='module')
def scene_and_centres():
    scene = synthetic_scene()
    footprint = [(lon, lat) for lat, lon in footprint_latlon(scene)]
    old = scene_centroid_lonlat(footprint)
    new = bounding_box_centroid_lonlat(scene.radar_geometry())
    return scene, footprint, old, new


def test_the_bounding_box_centre_is_not_the_footprint_centroid(scene_and_centres):
    _, footprint, old, new = scene_and_centres
    assert abs(new[0] - old[0]) > 1e-3 or abs(new[1] - old[1]) > 1e-3
    lons = [lon for lon, _ in footprint]
    assert min(lons) - 0.5 < new[0] < max(lons) + 0.5


def test_a_region_boundary_between_the_two_centres(scene_and_centres, tmp_path: Path):
    """Near a boundary the old choice (footprint centroid) picked another region than the velocity granule's."""
    scene, footprint, old, new = scene_and_centres
    axis = 0 if abs(new[0] - old[0]) >= abs(new[1] - old[1]) else 1
    split = (old[axis] + new[axis]) / 2
    dem = ParameterRasters(dem=str(tmp_path / 'unused_h.tif'))
    if axis == 0:
        low, high = _box(-180, -89, split, 89), _box(split, -89, 180, 89)
    else:
        low, high = _box(-180, -89, 180, split), _box(-180, split, 180, 89)
    shapefile = write_parameter_shapefile(
        tmp_path / 'regions.shp',
        [
            ParameterRegion(name='LOW', epsg=32632, polygon_lonlat=low, rasters=dem),
            ParameterRegion(name='HIGH', epsg=32632, polygon_lonlat=high, rasters=dem),
        ],
    )
    by_footprint = find_parameter_set(str(shapefile), footprint, check_rasters=False)
    by_box = find_parameter_set(str(shapefile), radar=scene.radar_geometry(), check_rasters=False)
    expected_new = 'HIGH' if new[axis] > split else 'LOW'
    assert by_box.name == expected_new and by_footprint.name != expected_new
    assert by_box.region_rule == REGION_RULE and by_footprint.region_rule == FOOTPRINT_RULE
    assert by_box.region_point == pytest.approx(new)
