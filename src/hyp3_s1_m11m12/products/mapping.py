"""The CF `mapping` grid-mapping variable of the ITS_LIVE products, for UTM and polar stereographic grids.

The attributes are those hyp3-autorift's `write_conversion_file` and autoRIFT's `netcdf_output.py` write, so that
ITS_LIVE tooling reads our files as it reads theirs: including the non-CF `universal_transverse_mercator`
grid_mapping_name, the float `utm_zone_number` and `scale_factor_at_projection_origin = 1` for polar stereographic.
"""

from collections.abc import Sequence
from typing import Any

import netCDF4
import numpy as np
import numpy.typing as npt
from osgeo import osr

from hyp3_s1_m11m12.errors import ProductError


MAPPING_VARIABLE_NAME = 'mapping'

POLAR_STEREOGRAPHIC = 'Polar_Stereographic'
TRANSVERSE_MERCATOR = 'Transverse_Mercator'

# WGS 84 / UTM zone N (326NN) and S (327NN): the only Transverse Mercator grids ITS_LIVE uses, and the only ones
# for which hyp3-autorift's `utm_zone_number = epsg - floor(epsg / 100) * 100` is meaningful.
UTM_NORTH_EPSG_RANGE = range(32601, 32661)
UTM_SOUTH_EPSG_RANGE = range(32701, 32761)

# GDAL's 6-term geotransform: a tuple from GDAL, or an array.
GeotransformLike = Sequence[float] | npt.NDArray[np.floating]

osr.UseExceptions()


def spatial_reference(epsg_or_srs: int | str | osr.SpatialReference) -> tuple[osr.SpatialReference, int]:
    """The spatial reference and its EPSG code, from an EPSG code, a WKT/PROJ string or an osr object.

    Raises:
        ProductError: unknown EPSG code, unparsable definition, or a CRS with no EPSG code.
    """
    srs = osr.SpatialReference()
    try:
        if isinstance(epsg_or_srs, osr.SpatialReference):
            srs = epsg_or_srs.Clone()
        elif isinstance(epsg_or_srs, str):
            srs.SetFromUserInput(epsg_or_srs)
        else:
            srs.ImportFromEPSG(int(epsg_or_srs))
    except RuntimeError as error:
        raise ProductError(
            f'cannot interpret the map projection {str(epsg_or_srs)[:80]!r} ({error}); '
            'give an EPSG code of a UTM or polar stereographic grid'
        ) from error

    code = srs.GetAuthorityCode(None)
    if code is None:
        try:
            srs.AutoIdentifyEPSG()
        except RuntimeError:
            pass
        code = srs.GetAuthorityCode(None)
    if code is None or not code.isdigit():
        raise ProductError(
            'the map projection of the grid has no EPSG code, which the ITS_LIVE `mapping` variable needs '
            '(spatial_epsg); write the Geogrid outputs with a CRS from an EPSG code (e.g. EPSG:3413 or EPSG:326NN)'
        )
    return srs, int(code)


def format_geotransform(geotransform: GeotransformLike) -> str:
    """GDAL's 6-term geotransform, space-joined, as the `GeoTransform` attribute of the ITS_LIVE products."""
    if len(geotransform) != 6:
        raise ProductError(f'a geotransform has 6 terms, got {len(geotransform)}: {tuple(geotransform)}')
    return ' '.join(str(float(term)) for term in geotransform)


def mapping_attributes(epsg_or_srs: int | str | osr.SpatialReference, geotransform: GeotransformLike) -> dict[str, Any]:
    """The attributes of the `mapping` variable, in the order hyp3-autorift writes them.

    Raises:
        ProductError: a projection other than WGS 84 UTM or polar stereographic (variant B, or variant A with a
            scale factor of 1), or a malformed geotransform.
    """
    srs, epsg = spatial_reference(epsg_or_srs)
    geotransform_text = format_geotransform(geotransform)
    projection = srs.GetAttrValue('PROJECTION')
    semi_major_axis = float(srs.GetAttrValue('GEOGCS|SPHEROID', 1))
    inverse_flattening = float(srs.GetAttrValue('GEOGCS|SPHEROID', 2))
    common_tail = {
        'spatial_ref': srs.ExportToWkt(),
        'crs_wkt': srs.ExportToWkt(),
        'proj4text': srs.ExportToProj4(),
        'spatial_epsg': epsg,
        'GeoTransform': geotransform_text,
    }

    if projection == POLAR_STEREOGRAPHIC:
        # A `scale_factor` parameter only appears in variant A (e.g. UPS, k0 = 0.994); the attributes below
        # hard-code k0 = 1 as upstream does, which would misdescribe such a grid.
        scale_factor = srs.GetProjParm('scale_factor', 1.0)
        if scale_factor != 1.0:
            raise ProductError(
                f'EPSG:{epsg} is a polar stereographic projection with scale factor {scale_factor} at the pole, '
                'which the ITS_LIVE `mapping` variable cannot describe; use a variant-B grid such as '
                'EPSG:3413 (Arctic) or EPSG:3031 (Antarctic)'
            )
        latitude_of_origin = srs.GetProjParm('latitude_of_origin')
        return {
            'grid_mapping_name': 'polar_stereographic',
            'straight_vertical_longitude_from_pole': srs.GetProjParm('central_meridian'),
            'false_easting': srs.GetProjParm('false_easting'),
            'false_northing': srs.GetProjParm('false_northing'),
            'latitude_of_projection_origin': np.sign(latitude_of_origin) * 90.0,
            'latitude_of_origin': latitude_of_origin,
            'semi_major_axis': semi_major_axis,
            'scale_factor_at_projection_origin': 1,
            'inverse_flattening': inverse_flattening,
            **common_tail,
        }

    if projection == TRANSVERSE_MERCATOR:
        if epsg not in UTM_NORTH_EPSG_RANGE and epsg not in UTM_SOUTH_EPSG_RANGE:
            raise ProductError(
                f'EPSG:{epsg} is a Transverse Mercator projection but not a WGS 84 UTM zone, which the ITS_LIVE '
                '`mapping` variable cannot describe; use a WGS 84 UTM grid (EPSG:326NN or EPSG:327NN) or a polar '
                'stereographic one (EPSG:3413, EPSG:3031)'
            )
        return {
            'grid_mapping_name': 'universal_transverse_mercator',
            'utm_zone_number': epsg - np.floor(epsg / 100) * 100,
            'longitude_of_central_meridian': srs.GetProjParm('central_meridian'),
            'false_easting': srs.GetProjParm('false_easting'),
            'false_northing': srs.GetProjParm('false_northing'),
            'latitude_of_projection_origin': srs.GetProjParm('latitude_of_origin'),
            'semi_major_axis': semi_major_axis,
            'scale_factor_at_central_meridian': srs.GetProjParm('scale_factor'),
            'inverse_flattening': inverse_flattening,
            **common_tail,
        }

    raise ProductError(
        f'EPSG:{epsg} ({srs.GetName()}) uses the projection {projection or "none (geographic)"}, which ITS_LIVE '
        'products do not support; use a WGS 84 UTM grid (EPSG:326NN or EPSG:327NN) or a polar stereographic one '
        '(EPSG:3413, EPSG:3031)'
    )


def write_mapping_variable(
    dataset: netCDF4.Dataset,
    epsg_or_srs: int | str | osr.SpatialReference,
    geotransform: GeotransformLike,
    name: str = MAPPING_VARIABLE_NAME,
) -> netCDF4.Variable:
    """Create the scalar string grid-mapping variable (no fill) that data variables name in `grid_mapping`.

    `geotransform` is written as given: the ITS_LIVE products give the pixel-centre one (origin shifted by half a
    cell), which is also the registration of their x/y coordinates.

    Raises:
        ProductError: as `mapping_attributes`; nothing is created in `dataset` then.
    """
    attributes = mapping_attributes(epsg_or_srs, geotransform)
    variable = dataset.createVariable(name, 'U1', (), fill_value=None)
    variable.setncatts(attributes)
    return variable


def write_projection_coordinates(
    dataset: netCDF4.Dataset, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> None:
    """Create the x and y dimensions and their coordinate variables (cell centres, metres) as ITS_LIVE writes them."""
    for axis, values in (('x', x), ('y', y)):
        dataset.createDimension(axis, len(values))
        variable = dataset.createVariable(axis, np.dtype('float64'), (axis,), fill_value=None)
        variable.setncatts(
            {
                'standard_name': f'projection_{axis}_coordinate',
                'description': f'{axis} coordinate of projection',
                'units': 'm',
            }
        )
        variable[:] = values
