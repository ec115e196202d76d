"""ITS_LIVE autoRIFT parameter shapefiles: pick the parameter set (region) whose polygon contains the scene.

A parameter file is a polygon shapefile in EPSG:4326 with one feature per region. Each feature names its
output projection (`epsg`) and the URLs of Geogrid's parameter rasters in fields whose names the DBF format cut
to eleven characters (hyp3-autorift-workflow.md §2.4 step 6). hyp3-autorift's `find_jpl_parameter_info` takes
the first feature containing the centroid of the scene's `determineBbox` lat/lon rectangle (heights -200 and
4000 m, the whole SAFE: s1_isce2.bounding_box); so do we (REGION_RULE), and we also check that every raster
opens before Geogrid runs, so a bad URL fails in seconds with its name rather than minutes later inside Geogrid.
Every remote open goes through GDAL with the network policy's timeouts and retries (network.configure_gdal).
"""

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr, osr

from hyp3_s1_m11m12 import constants, network
from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid.types import ParameterRasters
from hyp3_s1_m11m12.geogrid.vocabulary import PARAMETER_RASTERS
from hyp3_s1_m11m12.geogrid.window import scene_bounding_box
from hyp3_s1_m11m12.geometry.projection import GEOGRAPHIC_EPSG, MapProjection
from hyp3_s1_m11m12.geometry.radar import RadarGeometry
from hyp3_s1_m11m12.geometry.zero_doppler import rdr2geo


log = logging.getLogger(__name__)

gdal.UseExceptions()
ogr.UseExceptions()
osr.UseExceptions()

# ParameterRasters field -> shapefile field, as hyp3-autorift's find_jpl_parameter_info reads them.
# ParameterRasters field -> the ITS_LIVE parameter shapefile's field (the vocabulary table).
RASTER_FIELDS = {raster.name: raster.shapefile_field for raster in PARAMETER_RASTERS}
NAME_FIELD = 'name'
EPSG_FIELD = 'epsg'
REQUIRED_FIELDS = (NAME_FIELD, EPSG_FIELD, *RASTER_FIELDS.values())
# GDAL's shapefile writer cuts field names to ten characters ('vxSearchRa'); accept files written that way too.
DBF_WRITER_FIELD_NAME_LENGTH = 10

VSIS3_PREFIX = '/vsis3/'
# ParameterSet.region_rule values (recorded in the product's provenance).
REGION_RULE = 'centroid of the determineBbox lat/lon rectangle (heights -200 and 4000 m, whole product)'
FOOTPRINT_RULE = 'centroid of the footprint polygon'


@dataclass(frozen=True)
class ParameterSet:
    """One region of a parameter file: its name, output projection and Geogrid parameter rasters."""

    name: str
    epsg: int
    rasters: ParameterRasters
    parameter_file: str  # the file it came from, as given
    region_point: tuple[float, float] | None = None  # (lon, lat) in degrees that chose the region
    region_rule: str = FOOTPRINT_RULE


def gdal_path(location: str) -> str:
    """A GDAL-readable path: http(s) URLs get /vsicurl/, s3:// URLs /vsis3/; anything else is kept."""
    text = location.strip()
    if text.startswith(('http://', 'https://')):
        return constants.VSICURL_PREFIX + text
    if text.startswith('s3://'):
        return VSIS3_PREFIX + text[len('s3://') :]
    return text


def scene_centroid_lonlat(footprint_lonlat: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Centroid (lon, lat in degrees, lon in [-180, 180)) of a footprint ring, also across the antimeridian.

    A footprint that crosses ±180° has longitudes on both sides (e.g. 179.5 and -179.6); averaging them naively
    puts the centroid near 0°. Longitudes are unwrapped to a continuous range first.

    Raises:
        GeogridInputError: fewer than three points or non-finite coordinates.
    """
    points = [(float(lon), float(lat)) for lon, lat in footprint_lonlat]
    if len(points) < 3 or not all(math.isfinite(lon) and math.isfinite(lat) for lon, lat in points):
        raise GeogridInputError(f'the scene footprint must have at least three finite lon/lat points, got {points}')
    longitudes = [lon for lon, _ in points]
    if max(longitudes) - min(longitudes) > 180.0:
        points = [(lon + 360.0 if lon < 0 else lon, lat) for lon, lat in points]
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for lon, lat in [*points, points[0]]:
        ring.AddPoint_2D(lon, lat)
    polygon = ogr.Geometry(ogr.wkbPolygon)
    polygon.AddGeometry(ring)
    centroid = polygon.Centroid() if polygon.GetArea() > 0 else None
    if centroid is None or centroid.IsEmpty():
        lon = sum(lon for lon, _ in points) / len(points)
        lat = sum(lat for _, lat in points) / len(points)
    else:
        lon, lat = centroid.GetX(), centroid.GetY()
    return ((lon + 180.0) % 360.0) - 180.0, lat


def radar_footprint_lonlat(radar: RadarGeometry, points_per_edge: int = 5) -> list[tuple[float, float]]:
    """The outline (lon, lat in degrees) of the radar image on the ellipsoid, walking its four edges.

    What determineBbox does at EPSG:4326 (hyp3-autorift took the parameter region from it), at height 0.
    """
    start_s = radar.orbit.seconds_since_epoch(radar.sensing_start)
    stop_s = start_s + (radar.number_of_lines - 1) / radar.prf_hz
    steps = np.linspace(0.0, 1.0, points_per_edge, endpoint=False)
    times = np.concatenate([np.full_like(steps, start_s), start_s + steps * (stop_s - start_s)])
    times = np.concatenate([times, np.full_like(steps, stop_s), stop_s - steps * (stop_s - start_s)])
    near, far = radar.starting_range_m, radar.far_range_m
    ranges = np.concatenate([near + steps * (far - near), np.full_like(steps, far)])
    ranges = np.concatenate([ranges, far - steps * (far - near), np.full_like(steps, near)])
    solution = rdr2geo(radar.orbit, times, ranges, 0.0, radar.look_side)
    lons = np.degrees(solution.lon_rad)
    lats = np.degrees(solution.lat_rad)
    return [(float(lon), float(lat)) for lon, lat in zip(lons, lats, strict=True)]


def bounding_box_centroid_lonlat(radar: RadarGeometry) -> tuple[float, float]:
    """Centre (lon, lat in degrees) of the determineBbox rectangle at EPSG:4326, as hyp3-autorift chose regions.

    A rectangle spanning more than 180 degrees of longitude crosses the antimeridian (determineBbox's min/max
    then straddle it); its centre is taken on the short side, where the scene is.
    """
    (lon_min, lon_max), (lat_min, lat_max) = scene_bounding_box(radar, MapProjection(GEOGRAPHIC_EPSG))
    lon = (lon_min + lon_max) / 2.0
    if lon_max - lon_min > 180.0:
        lon += 180.0
    return ((lon + 180.0) % 360.0) - 180.0, (lat_min + lat_max) / 2.0


def find_parameter_set(
    parameter_file: str,
    footprint_lonlat: Sequence[tuple[float, float]] = (),
    *,
    radar: RadarGeometry | None = None,
    check_rasters: bool = True,
) -> ParameterSet:
    """The parameter set of the first region whose polygon contains the scene's centre.

    Args:
        parameter_file: the shapefile: a local path, an http(s) URL (read through /vsicurl/), or a GDAL path.
        footprint_lonlat: the scene footprint as (lon, lat) points in degrees (used when `radar` is not given).
        radar: the whole product's radar geometry (Acquisition.region_radar_geometry()): the region is then
            chosen as hyp3-autorift did, from the centre of its determineBbox rectangle (REGION_RULE).
        check_rasters: open every raster of the chosen region (fail fast on a bad or unreachable URL).

    Raises:
        GeogridInputError: the file cannot be opened or lacks a field, no region contains the scene, the region's
            EPSG is invalid, or one of its rasters cannot be opened.
    """
    if radar is not None:
        lon, lat = bounding_box_centroid_lonlat(radar)
        rule = REGION_RULE
    else:
        lon, lat = scene_centroid_lonlat(footprint_lonlat)
        rule = FOOTPRINT_RULE
    found = find_parameter_set_at(parameter_file, lon, lat, check_rasters=check_rasters)
    return dataclasses.replace(found, region_point=(lon, lat), region_rule=rule)


def find_parameter_set_at(parameter_file: str, lon: float, lat: float, *, check_rasters: bool = True) -> ParameterSet:
    """The parameter set of the first region whose polygon contains the point (lon, lat) in degrees."""
    path = gdal_path(parameter_file)
    network.configure_gdal()  # timeouts for this open and every later GDAL read of the parameter rasters
    try:
        dataset = ogr.Open(path)
    except RuntimeError as error:
        dataset = None
        reason = str(error).strip()
    else:
        reason = 'not a vector dataset GDAL can read'
    if dataset is None or dataset.GetLayerCount() == 0:
        raise GeogridInputError(
            f'cannot open the parameter file {parameter_file} ({reason}); give a readable ITS_LIVE autoRIFT '
            'parameter shapefile (local path, http(s) URL or /vsicurl/ path) and check the network for remote files'
        )
    layer = dataset.GetLayer(0)
    field_names = _field_names(layer, parameter_file)
    candidates = _candidate_points(layer, lon, lat)

    for feature in layer:
        geometry = feature.GetGeometryRef()
        if geometry is None:
            continue
        if any(geometry.Contains(point) for point in candidates):
            parameter_set = dataclasses.replace(
                _parameter_set(feature, field_names, parameter_file), region_point=(lon, lat)
            )
            log.info(
                f'Parameter region {parameter_set.name} (EPSG:{parameter_set.epsg}) of {parameter_file} contains '
                f'the scene centroid ({lon:.4f}, {lat:.4f})'
            )
            if check_rasters:
                check_rasters_readable(parameter_set)
            return parameter_set
    raise GeogridInputError(
        f'no region of the parameter file {parameter_file} contains the scene centroid (lon {lon:.4f}, lat {lat:.4f}); '
        'pick a parameter file that covers the scene (e.g. autorift_solidearth_0120m.shp outside land ice)'
    )


def check_rasters_readable(parameter_set: ParameterSet) -> None:
    """Open every raster of the set once, and check the DEM's projection against the region's EPSG.

    Raises:
        GeogridInputError: naming each raster that does not open, or a DEM in another projection.
    """
    failures = []
    dem_epsg: int | None = None
    for name, path in parameter_set.rasters.present().items():
        try:
            dataset = gdal.Open(path)
        except RuntimeError as error:
            failures.append(f'{name} ({path}): {str(error).strip()}')
            continue
        if dataset is None:
            failures.append(f'{name} ({path}): not a raster GDAL can read')
            continue
        if name == 'dem':
            dem_epsg = _epsg_of(dataset)
        del dataset
    if failures:
        raise GeogridInputError(
            f'cannot open {len(failures)} parameter raster(s) of region {parameter_set.name}: '
            + '; '.join(failures)
            + '; check the network and the URLs in the parameter file'
        )
    if dem_epsg is not None and dem_epsg != parameter_set.epsg:
        raise GeogridInputError(
            f'the DEM of region {parameter_set.name} is in EPSG:{dem_epsg} but the parameter file says '
            f'EPSG:{parameter_set.epsg}; fix the epsg field or the rasters'
        )


def _epsg_of(dataset: gdal.Dataset) -> int | None:
    wkt = dataset.GetProjection()
    if not wkt:
        return None
    reference = osr.SpatialReference(wkt=wkt)
    reference.AutoIdentifyEPSG()
    code = reference.GetAuthorityCode(None)
    return int(code) if code and code.isdigit() else None


def _field_names(layer: ogr.Layer, parameter_file: str) -> dict[str, str]:
    """Required field -> the field name in the file (full eleven characters, or cut to ten by GDAL's writer)."""
    definition = layer.GetLayerDefn()
    present = {definition.GetFieldDefn(index).GetName() for index in range(definition.GetFieldCount())}
    resolved = {}
    missing = []
    for wanted in REQUIRED_FIELDS:
        for candidate in (wanted, wanted[:DBF_WRITER_FIELD_NAME_LENGTH]):
            if candidate in present:
                resolved[wanted] = candidate
                break
        else:
            missing.append(wanted)
    if missing:
        raise GeogridInputError(
            f'the parameter file {parameter_file} lacks the field(s) {", ".join(missing)} '
            f'(it has {", ".join(sorted(present)) or "none"}); use an ITS_LIVE autoRIFT parameter shapefile'
        )
    return resolved


def _candidate_points(layer: ogr.Layer, lon: float, lat: float) -> list[ogr.Geometry]:
    """The centroid in the layer's CRS; for geographic layers also shifted by ±360° (polygons in 0..360)."""
    longitudes = [lon, lon + 360.0, lon - 360.0]
    layer_reference = layer.GetSpatialRef()
    points = []
    transform = None
    if layer_reference is not None and not layer_reference.IsGeographic():
        wgs84 = osr.SpatialReference()
        wgs84.ImportFromEPSG(4326)
        wgs84.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        layer_reference = layer_reference.Clone()
        layer_reference.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        transform = osr.CoordinateTransformation(wgs84, layer_reference)
        longitudes = [lon]
    for longitude in longitudes:
        point = ogr.Geometry(ogr.wkbPoint)
        if transform is not None:
            x, y, _ = transform.TransformPoint(longitude, lat)
            point.AddPoint_2D(x, y)
        else:
            point.AddPoint_2D(longitude, lat)
        points.append(point)
    return points


def _parameter_set(feature: ogr.Feature, field_names: dict[str, str], parameter_file: str) -> ParameterSet:
    name = str(feature.GetField(field_names[NAME_FIELD]) or '').strip() or f'feature {feature.GetFID()}'
    epsg_value = feature.GetField(field_names[EPSG_FIELD])
    try:
        epsg = int(float(epsg_value))
        osr.SpatialReference().ImportFromEPSG(epsg)
    except (TypeError, ValueError, RuntimeError):
        raise GeogridInputError(
            f'region {name} of the parameter file {parameter_file} has an invalid epsg {epsg_value!r}; '
            'fix the epsg field (e.g. 3413, 3031 or a UTM code)'
        ) from None

    base = _local_base_directory(parameter_file)
    locations: dict[str, str] = {}
    for raster, field in RASTER_FIELDS.items():
        value = feature.GetField(field_names[field])
        text = str(value).strip() if value is not None else ''
        if text:
            locations[raster] = _resolve_raster(text, base)
    if 'dem' not in locations:
        raise GeogridInputError(
            f'region {name} of the parameter file {parameter_file} has no DEM (field h); fix the parameter file'
        )
    return ParameterSet(name=name, epsg=epsg, rasters=ParameterRasters(**locations), parameter_file=parameter_file)


def _local_base_directory(parameter_file: str) -> Path | None:
    """Folder of a local parameter file, against which relative raster paths are resolved."""
    if parameter_file.startswith(('/vsi', 'http://', 'https://', 's3://')):
        return None
    return Path(parameter_file).resolve().parent


def _resolve_raster(location: str, base: Path | None) -> str:
    path = gdal_path(location)
    if path.startswith('/vsi') or base is None or Path(path).is_absolute():
        return path
    return str(base / path)
