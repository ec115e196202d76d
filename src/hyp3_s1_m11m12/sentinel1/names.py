"""Sentinel-1 IW SLC scene names and ASF burst granule names: parsing and validation."""

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from hyp3_s1_m11m12.errors import InvalidGranuleError


log = logging.getLogger(__name__)

ORBITS_PER_CYCLE = 175
# Relative orbit = (absolute orbit - offset) mod 175 + 1 (ESA's "relationship between relative and absolute orbit
# numbers", as hyp3's check_same_relative_orbits). The offset is where a satellite's cycle began, so it changes
# when an orbit manoeuvre moves the satellite to another phase: S1C's did in June 2026, after absolute orbit 8018.
# The track a product's own metadata gives (manifest, ASF's search) always wins; this table only cross-checks it
# and serves annotation read without its manifest.
RELATIVE_ORBIT_OFFSETS: dict[str, tuple[tuple[int, int], ...]] = {
    # mission: ((first absolute orbit, offset), ...) in orbit order
    'S1A': ((0, 73),),
    'S1B': ((0, 27),),
    'S1C': ((0, 172), (8019, 99)),
    'S1D': ((0, 42),),
}
MISSIONS = tuple(RELATIVE_ORBIT_OFFSETS)

SUPPORTED = (
    'supported are Sentinel-1 IW SLC scene names such as '
    'S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7 and ASF burst granule names such as '
    'S1_136231_IW2_20200604T022312_VV_7C85-BURST'
)

SCENE_PATTERN = re.compile(
    r'^(?P<mission>S1[ABCD])_(?P<mode>IW)_(?P<product>SLC)_'
    r'_1(?P<product_class>[SA])(?P<polarization_code>SV|DV|SH|DH)_'
    r'(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})_(?P<absolute_orbit>\d{6})_(?P<datatake>[0-9A-F]{6})_(?P<crc>[0-9A-F]{4})$'
)
BURST_PATTERN = re.compile(
    r'^S1_(?P<burst_id>\d{6})_(?P<swath>IW[123])_(?P<start>\d{8}T\d{6})_(?P<polarization>VV|VH|HH|HV)_'
    r'(?P<hash>[0-9A-F]{4})-BURST$'
)
# Any Sentinel-1 product name, to say precisely what is unsupported.
# 'SLC__1SDV' and 'GRDH_1SDV' alike: three letters, a resolution letter or '_', then '_'.
ANY_S1_PATTERN = re.compile(r'^(?P<mission>S1[A-Z])_(?P<mode>[A-Z0-9]{2})_(?P<product>[A-Z]{3})[A-Z_]_')
# Primary polarisation as hyp3-autorift's get_s1_primary_polarization picks it.
PRIMARY_POLARIZATION = {'SV': 'VV', 'DV': 'VV', 'SH': 'HH', 'DH': 'HH'}
POLARIZATIONS_IN_PRODUCT = {'SV': ('VV',), 'DV': ('VV', 'VH'), 'SH': ('HH',), 'DH': ('HH', 'HV')}


@dataclass(frozen=True)
class SceneName:
    """The fields of an IW SLC scene name. Times are naive UTC."""

    name: str
    mission: str
    polarization_code: str  # SV, DV, SH, DH
    start: datetime
    stop: datetime
    absolute_orbit: int
    datatake_id: str
    crc: str

    @property
    def relative_orbit(self) -> int:
        return relative_orbit(self.mission, self.absolute_orbit)

    @property
    def primary_polarization(self) -> str:
        return PRIMARY_POLARIZATION[self.polarization_code]

    @property
    def polarizations(self) -> tuple[str, ...]:
        return POLARIZATIONS_IN_PRODUCT[self.polarization_code]


@dataclass(frozen=True)
class BurstName:
    """The fields of an ASF burst granule name, e.g. S1_136231_IW2_20200604T022312_VV_7C85-BURST."""

    name: str
    relative_burst_id: int  # ESA's relative burst id within the 12-day cycle
    swath: str
    start: datetime
    polarization: str
    hash: str

    @property
    def burst_key(self) -> str:
        """ESA burst id with the swath, e.g. '136231_IW2' (the relative orbit is not in the name)."""
        return f'{self.relative_burst_id:06d}_{self.swath}'


def unknown_mission(mission: str) -> InvalidGranuleError:
    return InvalidGranuleError(
        f'unknown Sentinel-1 mission {mission!r}; supported are {", ".join(MISSIONS)}: check the granule name'
    )


def relative_orbit(mission: str, absolute_orbit: int) -> int:
    """Relative orbit (track, 1..175) of an absolute orbit number, from the offset table (a cross-check)."""
    if mission not in RELATIVE_ORBIT_OFFSETS:
        raise unknown_mission(mission)
    offset = next(offset for first, offset in reversed(RELATIVE_ORBIT_OFFSETS[mission]) if absolute_orbit >= first)
    return (absolute_orbit - offset) % ORBITS_PER_CYCLE + 1


def cross_checked_relative_orbit(mission: str, absolute_orbit: int, from_metadata: int | None, source: str) -> int:
    """The track the product's metadata gives, warning when the table disagrees; the table's when there is none."""
    from_table = relative_orbit(mission, absolute_orbit)
    if from_metadata is None:
        return from_table
    if from_metadata != from_table:
        log.warning(
            f'{source}: the metadata gives {mission} absolute orbit {absolute_orbit} relative orbit {from_metadata}, '
            f'the offset table {from_table}; using the metadata (the table may predate an orbit manoeuvre)'
        )
    return from_metadata


def _time(text: str) -> datetime:
    return datetime.strptime(text, '%Y%m%dT%H%M%S')


def _strip(name: str) -> str:
    text = name.strip()
    for suffix in ('.zip', '.SAFE', '.safe'):
        text = text.removesuffix(suffix)
    return text.rstrip('/')


def _unsupported(name: str) -> InvalidGranuleError:
    match = ANY_S1_PATTERN.match(name)
    if match:
        if match['mission'] not in MISSIONS:
            return unknown_mission(match['mission'])
        mode, product = match['mode'], match['product']
        if mode in ('EW', 'WV') or re.fullmatch(r'S[1-6]', mode):
            what = f'{mode} (stripmap)' if mode.startswith('S') else mode
            return InvalidGranuleError(f'{name}: the {what} acquisition mode is not supported; {SUPPORTED}')
        if product != 'SLC':
            return InvalidGranuleError(f'{name}: {product} products are not supported (only IW SLC); {SUPPORTED}')
    return InvalidGranuleError(f'{name!r} is not a valid Sentinel-1 granule name; {SUPPORTED}')


def parse_scene_name(name: str) -> SceneName:
    """Parse an IW SLC scene name (a trailing .zip or .SAFE is allowed).

    Raises:
        InvalidGranuleError: not an IW SLC scene name (GRD, EW, WV, SM, a burst, or malformed).
    """
    text = _strip(name)
    match = SCENE_PATTERN.match(text)
    if not match:
        raise _unsupported(text)
    try:
        start, stop = _time(match['start']), _time(match['stop'])
    except ValueError:
        raise InvalidGranuleError(f'{text}: the start or stop time is not a valid date; {SUPPORTED}') from None
    if stop < start:
        raise InvalidGranuleError(f'{text}: the stop time is before the start time; check the name')
    return SceneName(
        name=text,
        mission=match['mission'],
        polarization_code=match['polarization_code'],
        start=start,
        stop=stop,
        absolute_orbit=int(match['absolute_orbit']),
        datatake_id=match['datatake'],
        crc=match['crc'],
    )


def parse_burst_name(name: str) -> BurstName:
    """Parse an ASF burst granule name.

    Raises:
        InvalidGranuleError: not a burst granule name.
    """
    text = name.strip()
    match = BURST_PATTERN.match(text)
    if not match:
        raise _unsupported(text)
    try:
        start = _time(match['start'])
    except ValueError:
        raise InvalidGranuleError(f'{text}: the time is not a valid date; {SUPPORTED}') from None
    return BurstName(
        name=text,
        relative_burst_id=int(match['burst_id']),
        swath=match['swath'],
        start=start,
        polarization=match['polarization'],
        hash=match['hash'],
    )


def is_burst_name(name: str) -> bool:
    return name.strip().endswith('-BURST')


def parse_granule_name(name: str) -> SceneName | BurstName:
    """A scene or a burst granule name, whichever it is."""
    return parse_burst_name(name) if is_burst_name(name) else parse_scene_name(name)
