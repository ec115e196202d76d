"""Sentinel-1 IW SLC product annotation XML -> per-burst geometry, parsed without resolving entities.

Conventions follow ISCE2's TOPS Sentinel-1 reader (what hyp3-autorift's Geogrid input came from): a burst starts
at its `azimuthTime` and stops (linesPerBurst - 1) azimuth time intervals later; the starting range is
c/2 x slantRangeTime; the range pixel size is c / (2 x rangeSamplingRate); the prf is 1 / azimuthTimeInterval.
"""

import codecs
import dataclasses
import functools
import itertools
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.etree import ElementTree
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree

from hyp3_s1_m11m12.constants import SPEED_OF_LIGHT_M_S
from hyp3_s1_m11m12.errors import MetadataError
from hyp3_s1_m11m12.geometry.orbit import StateVector
from hyp3_s1_m11m12.sentinel1.names import MISSIONS, relative_orbit
from hyp3_s1_m11m12.timeutil import parse_utc


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Burst:
    """One IW burst, as s1-reader's Sentinel1BurstSlc describes it (the geometry part). Times are naive UTC."""

    mission: str
    swath: str  # IW1, IW2, IW3
    polarization: str
    index: int  # position in the swath's burst list (0-based)
    sensing_start: datetime  # azimuth time of the first line
    azimuth_time_interval_s: float
    lines: int  # lines per burst
    samples: int  # samples per burst
    slant_range_time_s: float  # two-way time of the first sample
    range_sampling_rate_hz: float
    radar_frequency_hz: float
    absolute_orbit: int
    azimuth_anx_time_s: float | None  # seconds since the ascending node (matches bursts when ids are absent)
    relative_burst_id: int | None  # ESA's burst id (annotation from IPF 3.40 on), else None
    absolute_burst_id: int | None = None
    track: int | None = None  # relative orbit from the product's metadata (manifest, ASF search), when read

    @property
    def relative_orbit(self) -> int:
        return self.track if self.track is not None else relative_orbit(self.mission, self.absolute_orbit)

    @property
    def burst_id(self) -> str | None:
        """ASF-style full burst id, e.g. '108_230132_IW1', or None when the annotation has no burst ids."""
        if self.relative_burst_id is None:
            return None
        return f'{self.relative_orbit:03d}_{self.relative_burst_id:06d}_{self.swath}'

    @property
    def prf_hz(self) -> float:
        return 1.0 / self.azimuth_time_interval_s

    @property
    def sensing_stop(self) -> datetime:
        return self.sensing_start + timedelta(seconds=(self.lines - 1) * self.azimuth_time_interval_s)

    @property
    def starting_range_m(self) -> float:
        return SPEED_OF_LIGHT_M_S * self.slant_range_time_s / 2.0

    @property
    def range_pixel_size_m(self) -> float:
        return SPEED_OF_LIGHT_M_S / (2.0 * self.range_sampling_rate_hz)

    @property
    def far_range_m(self) -> float:
        return self.starting_range_m + (self.samples - 1) * self.range_pixel_size_m


@dataclass(frozen=True)
class GeolocationPoint:
    line: int
    pixel: int
    azimuth_time: datetime
    latitude_deg: float
    longitude_deg: float
    height_m: float


@dataclass(frozen=True)
class SwathAnnotation:
    """What this package uses from one product annotation file (one swath, one polarisation)."""

    source: str  # file or member name, for messages
    mission: str
    swath: str
    polarization: str
    absolute_orbit: int
    ascending: bool
    bursts: tuple[Burst, ...]
    orbit_vectors: tuple[StateVector, ...]
    geolocation: tuple[GeolocationPoint, ...]
    ascending_node_time: datetime | None
    track: int | None = None  # relative orbit from the product's metadata (manifest, ASF search), when read

    @property
    def relative_orbit(self) -> int:
        return self.track if self.track is not None else relative_orbit(self.mission, self.absolute_orbit)

    def with_track(self, track: int | None) -> 'SwathAnnotation':
        """The annotation with the relative orbit its product's metadata gives, on every burst too."""
        if track is None:
            return self
        bursts = tuple(dataclasses.replace(burst, track=track) for burst in self.bursts)
        return dataclasses.replace(self, track=track, bursts=bursts)

    @property
    def sensing_start(self) -> datetime:
        return self.bursts[0].sensing_start

    @property
    def sensing_stop(self) -> datetime:
        return self.bursts[-1].sensing_stop


# What an XML document needs for the C parser to take it as it is: no NUL byte (UTF-16/32 without a byte-order mark
# would hide the markers below from a byte search), an ASCII-compatible encoding, and no DTD, the only place
# entities can be declared.
_DTD_MARKERS = (b'<!DOCTYPE', b'<!ENTITY')
_DECLARATION = re.compile(rb'<\?xml\s[^>]*>')
_DECLARED_ENCODING = re.compile(rb'encoding\s*=\s*["\']([^"\']*)["\']')
_ASCII_COMPATIBLE = frozenset({b'utf-8', b'utf8', b'us-ascii', b'ascii'})


def _without_dtd(data: bytes) -> bool:
    """Whether `data` is ASCII-compatible XML that declares no DTD (so no entity beyond XML's five and character
    references): such a document is parsed by ElementTree's C parser, ~2x defusedxml's Python-level one."""
    body = data.removeprefix(codecs.BOM_UTF8)
    if b'\x00' in body or not body.startswith(b'<'):
        return False
    declaration = _DECLARATION.match(body)
    encoding = _DECLARED_ENCODING.search(declaration.group()) if declaration else None
    if encoding is not None and encoding.group(1).lower() not in _ASCII_COMPATIBLE:
        return False
    return not any(marker in body for marker in _DTD_MARKERS)


def parse_xml(data: bytes, source: str) -> Element:
    """Parse XML without resolving entities or accepting a DTD (billion laughs, external entities).

    Sentinel-1 annotation, manifests and orbit files have no DTD: they go to the C parser; anything else goes to
    defusedxml, which refuses a DTD.

    Raises:
        MetadataError: malformed or hostile XML.
    """
    try:
        if _without_dtd(data):
            return ElementTree.fromstring(data)
        return defusedxml.ElementTree.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as error:
        raise MetadataError(
            f'{source}: refusing XML with a DTD or entity declarations ({type(error).__name__}); '
            'Sentinel-1 metadata has none: re-download the product from ASF'
        ) from None
    except ParseError as error:
        raise MetadataError(f'{source}: malformed XML ({error}); re-download the product') from None


class _Reader:
    """Typed access to required elements, with errors naming the element and the file."""

    def __init__(self, root: Element, source: str) -> None:
        self.root = root
        self.source = source

    def element(self, path: str, within: Element | None = None) -> Element:
        found = (self.root if within is None else within).find(path)
        if found is None:
            raise MetadataError(
                f'{self.source}: the annotation has no <{path}>; it is not a complete Sentinel-1 IW SLC product '
                'annotation: re-download the product'
            )
        return found

    def text(self, path: str, within: Element | None = None) -> str:
        text = (self.element(path, within).text or '').strip()
        if not text:
            raise MetadataError(f'{self.source}: <{path}> is empty; re-download the product')
        return text

    def number(self, path: str, within: Element | None = None) -> float:
        text = self.text(path, within)
        try:
            value = float(text)
        except ValueError:
            raise MetadataError(f'{self.source}: <{path}> is not a number ({text[:40]!r})') from None
        if not math.isfinite(value):
            raise MetadataError(f'{self.source}: <{path}> is not finite ({text[:40]!r})')
        return value

    def integer(self, path: str, within: Element | None = None) -> int:
        text = self.text(path, within)
        try:
            return int(text)
        except ValueError:
            raise MetadataError(f'{self.source}: <{path}> is not an integer ({text[:40]!r})') from None

    def time(self, path: str, within: Element | None = None) -> datetime:
        text = self.text(path, within)
        try:
            return parse_utc(text)
        except ValueError:
            raise MetadataError(f'{self.source}: <{path}> is not a UTC time ({text[:40]!r})') from None

    def optional_number(self, path: str, within: Element | None = None) -> float | None:
        found = (self.root if within is None else within).find(path)
        return None if found is None or not (found.text or '').strip() else self.number(path, within)


def parse_annotation(data: bytes | Element, source: str) -> SwathAnnotation:
    """Parse a product annotation (bytes of the XML, or its root element such as the <content> of ASF's burst XML).

    Raises:
        MetadataError: malformed or hostile XML, a missing or invalid element, or not an IW SLC annotation.
    """
    root = parse_xml(data, source) if isinstance(data, bytes) else data
    xml = _Reader(root, source)
    mission = xml.text('adsHeader/missionId')
    product_type = xml.text('adsHeader/productType')
    mode = xml.text('adsHeader/mode')
    swath = xml.text('adsHeader/swath')
    if mission not in MISSIONS or product_type != 'SLC' or mode != 'IW' or swath not in ('IW1', 'IW2', 'IW3'):
        raise MetadataError(
            f'{source}: a {mission} {mode} {product_type} annotation of swath {swath}; only Sentinel-1 IW SLC '
            'annotation (swaths IW1-IW3) is supported'
        )
    polarization = xml.text('adsHeader/polarisation')
    absolute_orbit = xml.integer('adsHeader/absoluteOrbitNumber')
    ascending = xml.text('generalAnnotation/productInformation/pass').lower() == 'ascending'
    range_sampling_rate = xml.number('generalAnnotation/productInformation/rangeSamplingRate')
    radar_frequency = xml.number('generalAnnotation/productInformation/radarFrequency')
    slant_range_time = xml.number('imageAnnotation/imageInformation/slantRangeTime')
    azimuth_time_interval = xml.number('imageAnnotation/imageInformation/azimuthTimeInterval')
    lines_per_burst = xml.integer('swathTiming/linesPerBurst')
    samples_per_burst = xml.integer('swathTiming/samplesPerBurst')
    anx_element = root.find('imageAnnotation/imageInformation/ascendingNodeTime')
    anx_time = xml.time('imageAnnotation/imageInformation/ascendingNodeTime') if anx_element is not None else None

    problems = []
    if range_sampling_rate <= 0:
        problems.append(f'rangeSamplingRate {range_sampling_rate}')
    if azimuth_time_interval <= 0:
        problems.append(f'azimuthTimeInterval {azimuth_time_interval}')
    if slant_range_time <= 0:
        problems.append(f'slantRangeTime {slant_range_time}')
    if lines_per_burst < 2 or samples_per_burst < 2:
        problems.append(f'{lines_per_burst} lines x {samples_per_burst} samples per burst')
    if problems:
        raise MetadataError(f'{source}: invalid annotation values: {", ".join(problems)}; re-download the product')

    make_burst = functools.partial(
        Burst,
        mission=mission,
        swath=swath,
        polarization=polarization,
        azimuth_time_interval_s=azimuth_time_interval,
        lines=lines_per_burst,
        samples=samples_per_burst,
        slant_range_time_s=slant_range_time,
        range_sampling_rate_hz=range_sampling_rate,
        radar_frequency_hz=radar_frequency,
        absolute_orbit=absolute_orbit,
    )
    burst_elements = xml.element('swathTiming/burstList').findall('burst')
    bursts: list[Burst] = []
    if not burst_elements and xml.integer('imageAnnotation/imageInformation/numberOfLines') == lines_per_burst:
        # A one-burst product written without a burst list (some burst extractions): the image is the burst.
        start = xml.time('imageAnnotation/imageInformation/productFirstLineUtcTime')
        anx = (start - anx_time).total_seconds() if anx_time is not None else None
        log.info(f'{source}: no burst list; the image ({lines_per_burst} lines) is taken as one burst')
        bursts.append(make_burst(index=0, sensing_start=start, azimuth_anx_time_s=anx, relative_burst_id=None))
    for index, element in enumerate(burst_elements):
        id_element = element.find('burstId')
        relative_id = xml.integer('burstId', element) if id_element is not None else None
        absolute_text = id_element.get('absolute') if id_element is not None else None
        bursts.append(
            make_burst(
                index=index,
                sensing_start=xml.time('azimuthTime', element),
                azimuth_anx_time_s=xml.optional_number('azimuthAnxTime', element),
                relative_burst_id=relative_id,
                absolute_burst_id=int(absolute_text) if absolute_text and absolute_text.isdigit() else None,
            )
        )
    if not bursts:
        raise MetadataError(f'{source}: the annotation lists no bursts; it is not an IW SLC burst annotation')
    if any(later.sensing_start <= earlier.sensing_start for earlier, later in itertools.pairwise(bursts)):
        raise MetadataError(f'{source}: burst azimuth times are not increasing; re-download the product')

    return SwathAnnotation(
        source=source,
        mission=mission,
        swath=swath,
        polarization=polarization,
        absolute_orbit=absolute_orbit,
        ascending=ascending,
        bursts=tuple(bursts),
        orbit_vectors=tuple(_orbit_vectors(xml)),
        geolocation=tuple(_geolocation(xml)),
        ascending_node_time=anx_time,
    )


def _orbit_vectors(xml: _Reader) -> list[StateVector]:
    vectors = []
    for element in xml.element('generalAnnotation/orbitList').findall('orbit'):
        vectors.append(
            StateVector(
                time=xml.time('time', element),
                position_m=(
                    xml.number('position/x', element),
                    xml.number('position/y', element),
                    xml.number('position/z', element),
                ),
                velocity_m_s=(
                    xml.number('velocity/x', element),
                    xml.number('velocity/y', element),
                    xml.number('velocity/z', element),
                ),
            )
        )
    return vectors


def _geolocation(xml: _Reader) -> list[GeolocationPoint]:
    grid = xml.root.find('geolocationGrid/geolocationGridPointList')
    if grid is None:
        return []
    return [
        GeolocationPoint(
            line=xml.integer('line', point),
            pixel=xml.integer('pixel', point),
            azimuth_time=xml.time('azimuthTime', point),
            latitude_deg=xml.number('latitude', point),
            longitude_deg=xml.number('longitude', point),
            height_m=xml.number('height', point),
        )
        for point in grid.findall('geolocationGridPoint')
    ]
