from pathlib import Path

import netCDF4
import numpy as np
import pytest
from osgeo import osr

from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.products.mapping import (
    format_geotransform,
    mapping_attributes,
    spatial_reference,
    write_mapping_variable,
)


CENTRE_GEOTRANSFORM = (555480.0, 240.0, 0.0, 5259960.0, 0.0, -240.0)


def _srs(epsg: int) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs


def test_utm_north_attributes_are_hyp3_autorifts() -> None:
    attributes = mapping_attributes(32632, CENTRE_GEOTRANSFORM)
    srs = _srs(32632)
    assert list(attributes) == [
        'grid_mapping_name',
        'utm_zone_number',
        'longitude_of_central_meridian',
        'false_easting',
        'false_northing',
        'latitude_of_projection_origin',
        'semi_major_axis',
        'scale_factor_at_central_meridian',
        'inverse_flattening',
        'spatial_ref',
        'crs_wkt',
        'proj4text',
        'spatial_epsg',
        'GeoTransform',
    ]
    assert attributes['grid_mapping_name'] == 'universal_transverse_mercator'
    assert attributes['utm_zone_number'] == 32.0
    assert isinstance(attributes['utm_zone_number'], float)
    assert attributes['longitude_of_central_meridian'] == 9.0
    assert attributes['false_easting'] == 500000.0
    assert attributes['false_northing'] == 0.0
    assert attributes['latitude_of_projection_origin'] == 0.0
    assert attributes['semi_major_axis'] == 6378137.0
    assert attributes['scale_factor_at_central_meridian'] == 0.9996
    assert attributes['inverse_flattening'] == 298.257223563
    assert attributes['spatial_ref'] == attributes['crs_wkt'] == srs.ExportToWkt()
    assert attributes['spatial_ref'].startswith('PROJCS["WGS 84 / UTM zone 32N"')
    assert attributes['proj4text'] == '+proj=utm +zone=32 +datum=WGS84 +units=m +no_defs'
    assert attributes['spatial_epsg'] == 32632
    assert attributes['GeoTransform'] == '555480.0 240.0 0.0 5259960.0 0.0 -240.0'


def test_utm_south_zone_and_false_northing() -> None:
    attributes = mapping_attributes(32709, CENTRE_GEOTRANSFORM)
    assert attributes['utm_zone_number'] == 9.0
    assert attributes['longitude_of_central_meridian'] == -129.0
    assert attributes['false_northing'] == 10_000_000.0
    assert attributes['spatial_epsg'] == 32709


@pytest.mark.parametrize(
    ('epsg', 'meridian', 'latitude_of_origin', 'pole'),
    [(3413, -45.0, 70.0, 90.0), (3031, 0.0, -71.0, -90.0)],
)
def test_polar_stereographic_attributes_are_hyp3_autorifts(
    epsg: int, meridian: float, latitude_of_origin: float, pole: float
) -> None:
    geotransform = (-3_000_000.0, 120.0, 0.0, 1_000_000.0, 0.0, -120.0)
    attributes = mapping_attributes(epsg, geotransform)
    assert list(attributes) == [
        'grid_mapping_name',
        'straight_vertical_longitude_from_pole',
        'false_easting',
        'false_northing',
        'latitude_of_projection_origin',
        'latitude_of_origin',
        'semi_major_axis',
        'scale_factor_at_projection_origin',
        'inverse_flattening',
        'spatial_ref',
        'crs_wkt',
        'proj4text',
        'spatial_epsg',
        'GeoTransform',
    ]
    assert attributes['grid_mapping_name'] == 'polar_stereographic'
    assert attributes['straight_vertical_longitude_from_pole'] == meridian
    assert attributes['false_easting'] == 0.0
    assert attributes['false_northing'] == 0.0
    assert attributes['latitude_of_projection_origin'] == pole
    assert attributes['latitude_of_origin'] == latitude_of_origin
    assert attributes['semi_major_axis'] == 6378137.0
    assert attributes['scale_factor_at_projection_origin'] == 1
    assert attributes['inverse_flattening'] == 298.257223563
    assert attributes['spatial_ref'] == attributes['crs_wkt'] == _srs(epsg).ExportToWkt()
    assert attributes['proj4text'] == _srs(epsg).ExportToProj4()
    assert attributes['spatial_epsg'] == epsg
    assert attributes['GeoTransform'] == '-3000000.0 120.0 0.0 1000000.0 0.0 -120.0'


@pytest.mark.parametrize('definition', [3413, 'EPSG:3413', _srs(3413), _srs(3413).ExportToWkt()])
def test_every_form_of_the_crs_gives_the_same_attributes(definition: int | str | osr.SpatialReference) -> None:
    assert mapping_attributes(definition, CENTRE_GEOTRANSFORM) == mapping_attributes(3413, CENTRE_GEOTRANSFORM)


@pytest.mark.parametrize(
    ('definition', 'message'),
    [
        (3857, r'Mercator_1SP, which ITS_LIVE products do not support.*EPSG:326NN'),
        (4326, r'none \(geographic\)'),
        (27700, r'Transverse Mercator projection but not a WGS 84 UTM zone'),
        (32661, r'scale factor 0\.994'),
        (999999, r'cannot interpret the map projection'),
        ('not a projection', r'cannot interpret the map projection'),
        ('+proj=stere +lat_0=90 +lat_ts=70 +lon_0=-45 +datum=WGS84 +units=m', r'no EPSG code'),
    ],
)
def test_other_projections_are_a_clear_error(definition: int | str, message: str) -> None:
    with pytest.raises(ProductError, match=message):
        mapping_attributes(definition, CENTRE_GEOTRANSFORM)


def test_geotransform_must_have_six_terms() -> None:
    with pytest.raises(ProductError, match='6 terms'):
        format_geotransform((1.0, 2.0, 3.0))
    assert format_geotransform(np.array([0.5, 1, 0, 2, 0, -1])) == '0.5 1.0 0.0 2.0 0.0 -1.0'


def test_spatial_reference_returns_the_epsg_code() -> None:
    srs, epsg = spatial_reference(_srs(32609).ExportToWkt())
    assert epsg == 32609
    assert srs.GetAttrValue('PROJECTION') == 'Transverse_Mercator'


@pytest.mark.parametrize('epsg', [32632, 3413])
def test_written_variable_is_a_scalar_string_without_fill(tmp_path: Path, epsg: int) -> None:
    path = tmp_path / 'mapping.nc'
    with netCDF4.Dataset(path, 'w', format='NETCDF4') as dataset:
        variable = write_mapping_variable(dataset, epsg, CENTRE_GEOTRANSFORM)
        assert variable.name == 'mapping'
    with netCDF4.Dataset(path) as dataset:
        variable = dataset['mapping']
        assert variable.shape == ()
        assert variable.dtype is str
        assert '_FillValue' not in variable.ncattrs()
        assert variable.getncattr('spatial_epsg') == epsg
        expected = mapping_attributes(epsg, CENTRE_GEOTRANSFORM)
        assert variable.ncattrs() == list(expected)
        for name, value in expected.items():
            assert variable.getncattr(name) == value


def test_unsupported_projection_creates_nothing(tmp_path: Path) -> None:
    with netCDF4.Dataset(tmp_path / 'mapping.nc', 'w', format='NETCDF4') as dataset:
        with pytest.raises(ProductError):
            write_mapping_variable(dataset, 3857, CENTRE_GEOTRANSFORM)
        assert 'mapping' not in dataset.variables
