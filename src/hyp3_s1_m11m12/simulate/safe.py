"""Sentinel-1 SAFE products of the synthetic scenes: annotation and manifest XML, SAFE folders and zips, scene
pairs and EOF orbit files (the files the readers in sentinel1/ take)."""

import math
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from hyp3_s1_m11m12.constants import SPEED_OF_LIGHT_M_S
from hyp3_s1_m11m12.simulate.acquisition import (
    AZIMUTH_TIME_INTERVAL_S,
    DEFAULT_CENTER_LAT_DEG,
    DEFAULT_CENTER_LON_DEG,
    DEFAULT_REFERENCE_TIME,
    DEFAULT_SECONDARY_TIMING_OFFSET_S,
    ORBIT_PERIOD_S,
    RADAR_FREQUENCY_HZ,
    RANGE_PIXEL_SIZE_M,
    RANGE_SAMPLING_RATE_HZ,
    STATE_VECTOR_SPACING_S,
    SWATHS_BY_NAME,
    FloatArray,
    SyntheticScene,
    ecef_to_geodetic,
    synthetic_orbit,
    synthetic_scene,
    zero_doppler_ground_points,
)


_TIME_FORMAT = '%Y-%m-%dT%H:%M:%S.%f'


def _t(time: datetime) -> str:
    return time.strftime(_TIME_FORMAT)


def _e(parent: ElementTree.Element, tag: str, text: str | None = None, **attrib: str) -> ElementTree.Element:
    element = ElementTree.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def _image_number(scene: SyntheticScene, swath: str, polarization: str) -> int:
    swath_index = int(swath[-1])
    pol_index = scene.polarizations.index(polarization)
    # ESA numbers the cross-pol images first (001-003) and the co-pol ones after (004-006)
    order = (len(scene.polarizations) - 1 - pol_index) if len(scene.polarizations) > 1 else 0
    return order * 3 + swath_index


def annotation_file_stem(scene: SyntheticScene, swath: str, polarization: str) -> str:
    start = scene.swath_start(swath).strftime('%Y%m%dt%H%M%S')
    stop = scene.swath_stop(swath).strftime('%Y%m%dt%H%M%S')
    return (
        f'{scene.mission.lower()}-{swath.lower()}-slc-{polarization.lower()}-{start}-{stop}-'
        f'{scene.absolute_orbit:06d}-{scene.datatake_id:06x}-{_image_number(scene, swath, polarization):03d}'
    )


def _geolocation(
    scene: SyntheticScene, swath: str
) -> tuple[list[datetime], list[int], FloatArray, list[int], dict[str, FloatArray]]:
    layout = SWATHS_BY_NAME[swath]
    bursts = scene.bursts(swath)
    lines = [k * layout.lines_per_burst for k in range(len(bursts) + 1)]
    times = [burst.azimuth_time for burst in bursts] + [
        bursts[-1].azimuth_time + timedelta(seconds=layout.lines_per_burst * AZIMUTH_TIME_INTERVAL_S)
    ]
    step = math.ceil((layout.samples - 1) / 20)
    pixels = [min(k * step, layout.samples - 1) for k in range(21)]
    near = layout.slant_range_time_s * SPEED_OF_LIGHT_M_S / 2.0
    ranges = near + np.array(pixels, dtype=np.float64) * RANGE_PIXEL_SIZE_M
    position, velocity = scene.track.state_at(times)
    ground, look = zero_doppler_ground_points(position[:, None, :], velocity[:, None, :], ranges[None, :])
    lat, lon, height = ecef_to_geodetic(ground)
    lat_r, lon_r = np.radians(lat), np.radians(lon)
    normal = np.stack([np.cos(lat_r) * np.cos(lon_r), np.cos(lat_r) * np.sin(lon_r), np.sin(lat_r)], axis=-1)
    incidence = np.degrees(np.arccos(np.sum(-look * normal, axis=-1)))
    nadir = -position / np.linalg.norm(position, axis=-1, keepdims=True)
    elevation = np.degrees(np.arccos(np.sum(look * nadir[:, None, :], axis=-1)))
    slant_times = 2.0 * np.broadcast_to(ranges, lat.shape) / SPEED_OF_LIGHT_M_S
    values = {
        'latitude': lat,
        'longitude': lon,
        'height': np.abs(height),
        'incidenceAngle': incidence,
        'elevationAngle': elevation,
        'slantRangeTime': slant_times,
    }
    return times, lines, ranges, pixels, values


def annotation_xml(scene: SyntheticScene, swath: str, polarization: str) -> bytes:
    """The product annotation XML of one swath and polarisation, with the elements a Sentinel-1 reader uses."""
    layout = SWATHS_BY_NAME[swath]
    bursts = scene.bursts(swath)
    start, stop = scene.swath_start(swath), scene.swath_stop(swath)
    anx_time = scene.track.anx_time
    root = ElementTree.Element('product')
    header = _e(root, 'adsHeader')
    for tag, text in (
        ('missionId', scene.mission),
        ('productType', 'SLC'),
        ('polarisation', polarization),
        ('mode', 'IW'),
        ('swath', swath),
        ('startTime', _t(start)),
        ('stopTime', _t(stop)),
        ('absoluteOrbitNumber', str(scene.absolute_orbit)),
        ('missionDataTakeId', str(scene.datatake_id)),
        ('imageNumber', f'{_image_number(scene, swath, polarization):03d}'),
    ):
        _e(header, tag, text)

    general = _e(root, 'generalAnnotation')
    info = _e(general, 'productInformation')
    _e(info, 'pass', 'Ascending' if scene.ascending else 'Descending')
    _e(info, 'timelinessCategory', 'Fast-24h')
    _e(info, 'platformHeading', f'{-15.4 if scene.ascending else -164.6:.15e}')
    _e(info, 'projection', 'Slant Range')
    _e(info, 'rangeSamplingRate', f'{RANGE_SAMPLING_RATE_HZ:.15e}')
    _e(info, 'radarFrequency', f'{RADAR_FREQUENCY_HZ:.15e}')
    _e(info, 'azimuthSteeringRate', '1.590368784000000e+00')
    orbit = scene.orbit()
    orbit_list = _e(general, 'orbitList', count=str(orbit.times_s.size))
    for vector in orbit.state_vectors():
        element = _e(orbit_list, 'orbit')
        _e(element, 'time', _t(vector.time))
        _e(element, 'frame', 'Earth Fixed')
        for name, components in (('position', vector.position_m), ('velocity', vector.velocity_m_s)):
            xyz = _e(element, name)
            for axis, value in zip('xyz', components, strict=True):
                _e(xyz, axis, f'{value:.15e}')

    image = _e(root, 'imageAnnotation')
    info = _e(image, 'imageInformation')
    lines = layout.lines_per_burst * len(bursts)
    for tag, text in (
        ('productFirstLineUtcTime', _t(start)),
        ('productLastLineUtcTime', _t(stop)),
        ('ascendingNodeTime', _t(anx_time)),
        ('anchorTime', _t(anx_time + timedelta(seconds=ORBIT_PERIOD_S * 0.25))),
        ('productComposition', 'Slice'),
        ('slantRangeTime', f'{layout.slant_range_time_s:.15e}'),
        ('pixelValue', 'Complex'),
        ('outputPixels', '16 bit Signed Integer'),
        ('rangePixelSpacing', f'{RANGE_PIXEL_SIZE_M:.6e}'),
        ('azimuthPixelSpacing', '1.392578e+01'),
        ('azimuthTimeInterval', f'{AZIMUTH_TIME_INTERVAL_S:.15e}'),
        ('azimuthFrequency', f'{1.0 / AZIMUTH_TIME_INTERVAL_S:.15e}'),
        ('numberOfSamples', str(layout.samples)),
        ('numberOfLines', str(lines)),
    ):
        _e(info, tag, text)

    timing = _e(root, 'swathTiming')
    _e(timing, 'linesPerBurst', str(layout.lines_per_burst))
    _e(timing, 'samplesPerBurst', str(layout.samples))
    burst_list = _e(timing, 'burstList', count=str(len(bursts)))
    valid_first = ' '.join(['-1'] * 30 + ['120'] * (layout.lines_per_burst - 60) + ['-1'] * 30)
    valid_last = ' '.join(['-1'] * 30 + [str(layout.samples - 100)] * (layout.lines_per_burst - 60) + ['-1'] * 30)
    for burst in bursts:
        element = _e(burst_list, 'burst')
        _e(element, 'azimuthTime', _t(burst.azimuth_time))
        _e(element, 'azimuthAnxTime', f'{burst.seconds_since_anx:.15e}')
        _e(element, 'sensingTime', _t(burst.azimuth_time + timedelta(seconds=1.135621)))
        _e(element, 'byteOffset', str(108459 + burst.index * layout.lines_per_burst * layout.samples * 4))
        _e(element, 'firstValidSample', valid_first, count=str(layout.lines_per_burst))
        _e(element, 'lastValidSample', valid_last, count=str(layout.lines_per_burst))
        _e(element, 'burstId', str(burst.relative_burst_id), absolute=str(burst.absolute_burst_id))

    times, grid_lines, _, pixels, values = _geolocation(scene, swath)
    grid = _e(_e(root, 'geolocationGrid'), 'geolocationGridPointList', count=str(len(times) * len(pixels)))
    for i, (time, line) in enumerate(zip(times, grid_lines, strict=True)):
        for j, pixel in enumerate(pixels):
            point = _e(grid, 'geolocationGridPoint')
            _e(point, 'azimuthTime', _t(time))
            _e(point, 'slantRangeTime', f'{values["slantRangeTime"][i, j]:.15e}')
            _e(point, 'line', str(line))
            _e(point, 'pixel', str(pixel))
            for name in ('latitude', 'longitude', 'height', 'incidenceAngle', 'elevationAngle'):
                _e(point, name, f'{values[name][i, j]:.15e}')
    ElementTree.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding='utf-8')


def footprint_latlon(scene: SyntheticScene) -> list[tuple[float, float]]:
    """Corners (lat, lon) of the frame: first/last line at the near edge of IW1 and the far edge of IW3."""
    first, last = scene.swaths[0], scene.swaths[-1]
    near = _geolocation(scene, first)[4]
    far = _geolocation(scene, last)[4]
    return [
        (float(near['latitude'][0, 0]), float(near['longitude'][0, 0])),
        (float(far['latitude'][0, -1]), float(far['longitude'][0, -1])),
        (float(far['latitude'][-1, -1]), float(far['longitude'][-1, -1])),
        (float(near['latitude'][-1, 0]), float(near['longitude'][-1, 0])),
    ]


def manifest_xml(scene: SyntheticScene, annotation_stems: Sequence[str]) -> bytes:
    """A manifest.safe with the metadata a reader uses (platform, orbits, pass, times, footprint, data objects)."""
    footprint = ' '.join(f'{lat:.6f},{lon:.6f}' for lat, lon in footprint_latlon(scene))
    objects = '\n'.join(
        f'    <dataObject ID="product{stem.replace("-", "")}" repID="s1Level1ProductSchema">\n'
        f'      <byteStream mimeType="text/xml"><fileLocation locatorType="URL" href="./annotation/{stem}.xml"/>'
        '</byteStream>\n    </dataObject>'
        for stem in annotation_stems
    )
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" xmlns:gml="http://www.opengis.net/gml" \
xmlns:safe="http://www.esa.int/safe/sentinel-1.0" xmlns:s1="http://www.esa.int/safe/sentinel-1.0/sentinel-1" \
xmlns:s1sarl1="http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar/level-1" \
version="esa/safe/sentinel-1.0/sentinel-1/sar/level-1/slc/standard/iwdp">
  <metadataSection>
    <metadataObject ID="platform" classification="DESCRIPTION" category="DMD">
      <metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="Platform Description">
        <xmlData>
          <safe:platform>
            <safe:nssdcIdentifier>SYNTHETIC</safe:nssdcIdentifier>
            <safe:familyName>SENTINEL-1</safe:familyName>
            <safe:number>{scene.mission[-1]}</safe:number>
            <safe:instrument><safe:familyName abbreviation="SAR">Synthetic Aperture Radar</safe:familyName>
              <safe:extension><s1sarl1:instrumentMode><s1sarl1:mode>IW</s1sarl1:mode>
              </s1sarl1:instrumentMode></safe:extension></safe:instrument>
          </safe:platform>
        </xmlData>
      </metadataWrap>
    </metadataObject>
    <metadataObject ID="measurementOrbitReference" classification="DESCRIPTION" category="DMD">
      <metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="Orbit Reference">
        <xmlData>
          <safe:orbitReference>
            <safe:orbitNumber type="start">{scene.absolute_orbit}</safe:orbitNumber>
            <safe:orbitNumber type="stop">{scene.absolute_orbit}</safe:orbitNumber>
            <safe:relativeOrbitNumber type="start">{scene.relative_orbit}</safe:relativeOrbitNumber>
            <safe:relativeOrbitNumber type="stop">{scene.relative_orbit}</safe:relativeOrbitNumber>
            <safe:extension><s1:orbitProperties><s1:pass>{'ASCENDING' if scene.ascending else 'DESCENDING'}</s1:pass>
              <s1:ascendingNodeTime>{_t(scene.track.anx_time)}</s1:ascendingNodeTime></s1:orbitProperties>
            </safe:extension>
          </safe:orbitReference>
        </xmlData>
      </metadataWrap>
    </metadataObject>
    <metadataObject ID="generalProductInformation" classification="DESCRIPTION" category="DMD">
      <metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="General Product Information">
        <xmlData>
          <s1sarl1:standAloneProductInformation>
            <s1sarl1:missionDataTakeID>{scene.datatake_id}</s1sarl1:missionDataTakeID>
            <s1sarl1:productClass>S</s1sarl1:productClass>
            <s1sarl1:productConsolidation>SLICE</s1sarl1:productConsolidation>
            <s1sarl1:transmitterReceiverPolarisation>{scene.polarizations[0]}</s1sarl1:transmitterReceiverPolarisation>
          </s1sarl1:standAloneProductInformation>
        </xmlData>
      </metadataWrap>
    </metadataObject>
    <metadataObject ID="acquisitionPeriod" classification="DESCRIPTION" category="DMD">
      <metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="Acquisition Period">
        <xmlData>
          <safe:acquisitionPeriod>
            <safe:startTime>{_t(scene.sensing_start)}</safe:startTime>
            <safe:stopTime>{_t(scene.sensing_stop)}</safe:stopTime>
          </safe:acquisitionPeriod>
        </xmlData>
      </metadataWrap>
    </metadataObject>
    <metadataObject ID="measurementFrameSet" classification="DESCRIPTION" category="DMD">
      <metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="Frame Set">
        <xmlData>
          <safe:frameSet><safe:frame><safe:footPrint srsName="http://www.opengis.net/gml/srs/epsg.xml#4326">
            <gml:coordinates>{footprint}</gml:coordinates>
          </safe:footPrint></safe:frame></safe:frameSet>
        </xmlData>
      </metadataWrap>
    </metadataObject>
  </metadataSection>
  <dataObjectSection>
{objects}
  </dataObjectSection>
</xfdu:XFDU>
"""
    return text.encode('utf-8')


def safe_members(
    scene: SyntheticScene,
    *,
    polarizations: Sequence[str] | None = None,
    swaths: Sequence[str] | None = None,
    measurement_bytes: int = 0,
) -> dict[str, bytes]:
    """Relative paths inside `<name>.SAFE/` and their contents (annotation, manifest, measurement placeholders)."""
    members: dict[str, bytes] = {}
    stems = []
    for polarization in polarizations or scene.polarizations:
        for swath in swaths or scene.swaths:
            stem = annotation_file_stem(scene, swath, polarization)
            stems.append(stem)
            members[f'annotation/{stem}.xml'] = annotation_xml(scene, swath, polarization)
            # incompressible, deterministic stand-ins for the measurement rasters (to measure range requests)
            seed = zlib.crc32(stem.encode())
            members[f'measurement/{stem}.tiff'] = np.random.default_rng(seed).bytes(measurement_bytes)
    members['manifest.safe'] = manifest_xml(scene, stems)
    return members


def write_synthetic_safe(
    scene: SyntheticScene,
    directory: Path,
    *,
    as_zip: bool = False,
    zip_prefix: str = '',
    polarizations: Sequence[str] | None = None,
    swaths: Sequence[str] | None = None,
    measurement_bytes: int = 0,
    junk: bool = False,
) -> Path:
    """Write the scene as `<name>.SAFE/` or `<name>.zip` (members under `[zip_prefix/]<name>.SAFE/`) in `directory`.

    `junk` adds macOS members (`__MACOSX/`, `.DS_Store`) to a zip. Returns the SAFE directory or the zip path.
    """
    directory.mkdir(parents=True, exist_ok=True)
    members = safe_members(scene, polarizations=polarizations, swaths=swaths, measurement_bytes=measurement_bytes)
    safe_name = f'{scene.name}.SAFE'
    if not as_zip:
        safe = directory / safe_name
        for relative, content in members.items():
            path = safe / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        return safe
    path = directory / f'{scene.name}.zip'
    temporary = path.with_name(path.name + '.partial')
    prefix = f'{zip_prefix.strip("/")}/' if zip_prefix else ''
    with zipfile.ZipFile(temporary, 'w') as archive:
        for relative, content in members.items():
            compression = zipfile.ZIP_STORED if relative.startswith('measurement/') else zipfile.ZIP_DEFLATED
            info = zipfile.ZipInfo(f'{prefix}{safe_name}/{relative}', date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = compression
            archive.writestr(info, content)
        if junk:
            archive.writestr(f'__MACOSX/{prefix}{safe_name}/._manifest.safe', b'\x00\x05\x16\x07junk')
            archive.writestr(f'{prefix}{safe_name}/.DS_Store', b'\x00\x00\x00\x01Bud1junk')
    temporary.replace(path)
    return path


@dataclass(frozen=True)
class SyntheticPair:
    reference: Path
    secondary: Path
    reference_scene: SyntheticScene
    secondary_scene: SyntheticScene
    dt_seconds: float = field(default=0.0)  # secondary minus reference start of the first common burst


def simulated_scene_pair(
    directory: Path,
    *,
    center_lat_deg: float = DEFAULT_CENTER_LAT_DEG,
    center_lon_deg: float = DEFAULT_CENTER_LON_DEG,
    center_time: datetime = DEFAULT_REFERENCE_TIME,
    ascending: bool = True,
    cycles: int = 1,
    timing_offset_s: float = DEFAULT_SECONDARY_TIMING_OFFSET_S,
    bursts_per_swath: int = 9,
    polarizations: Sequence[str] = ('VV', 'VH'),
    as_zip: bool = False,
    measurement_bytes: int = 0,
) -> SyntheticPair:
    """A reference SAFE and a secondary `cycles` x 12 days later on the same track, written into `directory`."""
    reference = synthetic_scene(
        center_lat_deg,
        center_lon_deg,
        center_time,
        ascending=ascending,
        bursts_per_swath=bursts_per_swath,
        polarizations=polarizations,
    )
    secondary = reference.repeat(cycles, timing_offset_s)
    dt = (secondary.bursts('IW1')[0].azimuth_time - reference.bursts('IW1')[0].azimuth_time).total_seconds()
    return SyntheticPair(
        reference=write_synthetic_safe(reference, directory, as_zip=as_zip, measurement_bytes=measurement_bytes),
        secondary=write_synthetic_safe(secondary, directory, as_zip=as_zip, measurement_bytes=measurement_bytes),
        reference_scene=reference,
        secondary_scene=secondary,
        dt_seconds=dt,
    )


def synthetic_eof(
    scene: SyntheticScene,
    *,
    kind: str = 'POEORB',
    before_s: float = 3600.0,
    after_s: float = 3600.0,
    spacing_s: float = STATE_VECTOR_SPACING_S,
) -> tuple[str, bytes]:
    """An ESA EOF orbit file (name, content) of the scene's track, `before_s`/`after_s` around the scene."""
    # on the same 10 s grid (counted from the node) as the annotation orbit, as real files share a grid
    since_anx = (scene.sensing_start - scene.track.anx_time).total_seconds() - before_s
    start = scene.track.anx_time + timedelta(seconds=spacing_s * math.floor(since_anx / spacing_s))
    orbit = synthetic_orbit(start, before_s + after_s, track=scene.track, spacing_s=spacing_s)
    vectors = orbit.state_vectors()
    first, last = vectors[0].time, vectors[-1].time
    stamp = '%Y%m%dT%H%M%S'
    name = (
        f'{scene.mission}_OPER_AUX_{kind}_OPOD_{(last + timedelta(hours=3)).strftime(stamp)}_'
        f'V{first.strftime(stamp)}_{last.strftime(stamp)}'
    )
    osvs = '\n'.join(
        f"""      <OSV>
        <UTC>UTC={_t(vector.time)}</UTC>
        <Absolute_Orbit>+{scene.absolute_orbit}</Absolute_Orbit>
        <X unit="m">{vector.position_m[0]:.6f}</X>
        <Y unit="m">{vector.position_m[1]:.6f}</Y>
        <Z unit="m">{vector.position_m[2]:.6f}</Z>
        <VX unit="m/s">{vector.velocity_m_s[0]:.6f}</VX>
        <VY unit="m/s">{vector.velocity_m_s[1]:.6f}</VY>
        <VZ unit="m/s">{vector.velocity_m_s[2]:.6f}</VZ>
        <Quality>NOMINAL</Quality>
      </OSV>"""
        for vector in vectors
    )
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<Earth_Explorer_File>
  <Earth_Explorer_Header>
    <Fixed_Header>
      <File_Name>{name}</File_Name>
      <File_Type>AUX_{kind}</File_Type>
      <Validity_Period>
        <Validity_Start>UTC={first.strftime('%Y-%m-%dT%H:%M:%S')}</Validity_Start>
        <Validity_Stop>UTC={last.strftime('%Y-%m-%dT%H:%M:%S')}</Validity_Stop>
      </Validity_Period>
    </Fixed_Header>
    <Variable_Header>
      <Ref_Frame>EARTH_FIXED</Ref_Frame>
      <Time_Reference>UTC</Time_Reference>
    </Variable_Header>
  </Earth_Explorer_Header>
  <Data_Block type="xml">
    <List_of_OSVs count="{len(vectors)}">
{osvs}
    </List_of_OSVs>
  </Data_Block>
</Earth_Explorer_File>
"""
    return f'{name}.EOF', text.encode('utf-8')
