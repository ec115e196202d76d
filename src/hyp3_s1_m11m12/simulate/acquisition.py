"""Synthetic Sentinel-1 IW acquisitions: a sun-synchronous orbit, the merged radar geometry, and SAFE metadata.

Everything is computed in code and deterministic (no random numbers without a fixed seed), so tests, the benchmark
and the offline demo can build a realistic reference/secondary pair without any real data.

The orbit is circular at 693 km altitude, inclined 98.18 deg, sun-synchronous (the node precesses 360 deg per
tropical year) and repeats its ground track after 175 orbits in 12 nodal days. State vectors are ECEF; the
velocity is the exact time derivative of the position in the rotating frame, so both are consistent.

The swath layout (slant ranges, samples, lines per burst, burst timing between swaths, sampling rates) is the one
of a real S1A IW SLC (2025, relative orbit 108), so the merged geometry has the real product's size.
"""

import functools
import math
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12.constants import SPEED_OF_LIGHT_M_S, WGS84_ECCENTRICITY_SQUARED, WGS84_SEMI_MAJOR_AXIS_M
from hyp3_s1_m11m12.geometry.ellipsoid import ecef_to_llh
from hyp3_s1_m11m12.geometry.orbit import Orbit
from hyp3_s1_m11m12.geometry.radar import RadarGeometry
from hyp3_s1_m11m12.sentinel1.names import relative_orbit


FloatArray = npt.NDArray[np.float64]

EARTH_ROTATION_RATE_RAD_S = 7.2921150e-5
TROPICAL_YEAR_S = 365.2422 * 86400.0
SUN_SYNCHRONOUS_NODE_RATE_RAD_S = 2.0 * math.pi / TROPICAL_YEAR_S
NODAL_DAY_S = 2.0 * math.pi / (EARTH_ROTATION_RATE_RAD_S - SUN_SYNCHRONOUS_NODE_RATE_RAD_S)

SENTINEL1_ALTITUDE_M = 693_000.0
SENTINEL1_INCLINATION_DEG = 98.18
REPEAT_DAYS = 12
REPEAT_ORBITS = 175
REPEAT_PERIOD_S = REPEAT_DAYS * NODAL_DAY_S
ORBIT_PERIOD_S = REPEAT_PERIOD_S / REPEAT_ORBITS
STATE_VECTOR_SPACING_S = 10.0

# IW timing and sampling of a real S1A IW SLC product.
RANGE_SAMPLING_RATE_HZ = 6.434523812571428e07
AZIMUTH_TIME_INTERVAL_S = 2.055556299999998e-03
RADAR_FREQUENCY_HZ = 5.405000454334350e09
BURST_CYCLE_S = 2.758273  # ESA's T_beam: one IW1-IW2-IW3 burst cycle
BURST_ID_PREAMBLE_S = 2.299849  # ESA's T_pre in the burst id definition
RANGE_PIXEL_SIZE_M = SPEED_OF_LIGHT_M_S / (2.0 * RANGE_SAMPLING_RATE_HZ)


@dataclass(frozen=True)
class SwathLayout:
    name: str
    slant_range_time_s: float  # two-way time of the first sample
    samples: int
    lines_per_burst: int
    offset_in_cycle_s: float  # burst start after IW1's start in the same burst cycle
    first_cycle: int  # cycle of the swath's first burst relative to IW1's first (IW3 starts one cycle earlier)


IW_SWATHS = (
    SwathLayout('IW1', 5.339839490506816e-03, 22612, 1502, 0.0, 0),
    SwathLayout('IW2', 5.649388426530416e-03, 26395, 1513, 0.941444, 0),
    SwathLayout('IW3', 6.019874272793424e-03, 25384, 1518, 1.897278, -1),
)
SWATHS_BY_NAME = {swath.name: swath for swath in IW_SWATHS}

# Malaspina Glacier, Alaska: an ascending S1A pass over it is around 03:18 UTC.
DEFAULT_CENTER_LAT_DEG = 60.0
DEFAULT_CENTER_LON_DEG = -140.5
DEFAULT_REFERENCE_TIME = datetime(2025, 1, 10, 3, 18, 30)
DEFAULT_MID_RANGE_M = 880_000.0
# Secondary burst timing relative to an exact repeat; with it dt = 12 days - 0.122 s, as in the real 2025 pair.
DEFAULT_SECONDARY_TIMING_OFFSET_S = -0.243766

# Orbit numbers anchored on a real S1A ascending node (absolute orbit 58630).
ANCHOR_ANX_TIME = datetime(2025, 4, 6, 2, 6, 13, 325994)
ANCHOR_ABSOLUTE_ORBIT = 58630

_B = WGS84_SEMI_MAJOR_AXIS_M * math.sqrt(1.0 - WGS84_ECCENTRICITY_SQUARED)


@dataclass(frozen=True)
class SyntheticTrack:
    """A repeat-pass orbit defined by one ascending-node crossing: its time and ECEF longitude."""

    anx_time: datetime
    anx_longitude_deg: float
    inclination_deg: float = SENTINEL1_INCLINATION_DEG
    altitude_m: float = SENTINEL1_ALTITUDE_M

    @property
    def radius_m(self) -> float:
        return WGS84_SEMI_MAJOR_AXIS_M + self.altitude_m

    @property
    def mean_motion_rad_s(self) -> float:
        return 2.0 * math.pi / ORBIT_PERIOD_S

    def state(self, seconds_since_anx: FloatArray | float) -> tuple[FloatArray, FloatArray]:
        """ECEF positions and velocities (n, 3) at times in seconds after `anx_time`."""
        t = np.atleast_1d(np.asarray(seconds_since_anx, dtype=np.float64))
        inclination = math.radians(self.inclination_deg)
        node_rate = -(EARTH_ROTATION_RATE_RAD_S - SUN_SYNCHRONOUS_NODE_RATE_RAD_S)
        u = self.mean_motion_rad_s * t
        node = math.radians(self.anx_longitude_deg) + node_rate * t
        cu, su, cn, sn = np.cos(u), np.sin(u), np.cos(node), np.sin(node)
        ci, si = math.cos(inclination), math.sin(inclination)
        r = self.radius_m
        position = r * np.stack([cn * cu - sn * ci * su, sn * cu + cn * ci * su, si * su], axis=-1)
        d_du = r * np.stack([-cn * su - sn * ci * cu, -sn * su + cn * ci * cu, si * cu], axis=-1)
        d_dnode = np.stack([-position[:, 1], position[:, 0], np.zeros_like(t)], axis=-1)
        velocity = self.mean_motion_rad_s * d_du + node_rate * d_dnode
        return position, velocity

    def state_at(self, times: Sequence[datetime]) -> tuple[FloatArray, FloatArray]:
        return self.state(np.array([(time - self.anx_time).total_seconds() for time in times]))

    def absolute_orbit(self) -> int:
        """Absolute orbit number of this node crossing, counted from a real S1A node."""
        return ANCHOR_ABSOLUTE_ORBIT + round((self.anx_time - ANCHOR_ANX_TIME).total_seconds() / ORBIT_PERIOD_S)

    def repeated(self, cycles: int = 1) -> 'SyntheticTrack':
        """The same ground track `cycles` repeat periods (12 days each) later."""
        return replace(self, anx_time=self.anx_time + timedelta(seconds=cycles * REPEAT_PERIOD_S))


def _ecef_to_geodetic(xyz: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Latitude, longitude (deg) and ellipsoidal height (m) on WGS84 of ECEF points (..., 3)."""
    lat, lon, height = ecef_to_llh(xyz[..., 0], xyz[..., 1], xyz[..., 2])
    return np.degrees(lat), np.degrees(lon), height


def _zero_doppler_ground_points(
    position: FloatArray, velocity: FloatArray, slant_range_m: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Right-looking zero-Doppler points at the given slant ranges on the ellipsoid (height 0).

    Returns ground ECEF points and unit look vectors (satellite to ground). Broadcasts over leading axes.
    """
    v_hat = velocity / np.linalg.norm(velocity, axis=-1, keepdims=True)
    up = position - np.sum(position * v_hat, axis=-1, keepdims=True) * v_hat
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    right = np.cross(v_hat, up)
    ranges = np.asarray(slant_range_m, dtype=np.float64)[..., None]
    low = np.zeros(np.broadcast_shapes(position.shape[:-1], ranges.shape[:-1]))
    high = np.full_like(low, math.radians(85.0))

    def outside(theta: FloatArray) -> npt.NDArray[np.bool_]:
        look = np.cos(theta)[..., None] * -up + np.sin(theta)[..., None] * right
        point = position + ranges * look
        return (point[..., 0] ** 2 + point[..., 1] ** 2) / WGS84_SEMI_MAJOR_AXIS_M**2 + point[..., 2] ** 2 / _B**2 > 1

    for _ in range(60):
        middle = 0.5 * (low + high)
        is_outside = outside(middle)
        high = np.where(is_outside, middle, high)
        low = np.where(is_outside, low, middle)
    theta = 0.5 * (low + high)
    look = np.cos(theta)[..., None] * -up + np.sin(theta)[..., None] * right
    return position + ranges * look, look


def _ground_point(track: SyntheticTrack, seconds_since_anx: float, slant_range_m: float) -> tuple[float, float]:
    position, velocity = track.state(seconds_since_anx)
    ground, _ = _zero_doppler_ground_points(position, velocity, np.array([slant_range_m]))
    lat, lon, _ = _ecef_to_geodetic(ground)
    return float(lat[0]), float(lon[0])


@functools.lru_cache(maxsize=64)  # deterministic and immutable: solve each track once
def track_over(
    center_lat_deg: float,
    center_lon_deg: float,
    center_time: datetime,
    *,
    ascending: bool = True,
    mid_range_m: float = DEFAULT_MID_RANGE_M,
) -> SyntheticTrack:
    """The track whose zero-Doppler point at `mid_range_m` is over (lat, lon) at `center_time`."""
    inclination = math.radians(SENTINEL1_INCLINATION_DEG)
    ratio = max(-1.0, min(1.0, math.sin(math.radians(center_lat_deg)) / math.sin(inclination)))
    u = math.asin(ratio) if ascending else math.pi - math.asin(ratio)
    n = 2.0 * math.pi / ORBIT_PERIOD_S
    node_rate = EARTH_ROTATION_RATE_RAD_S - SUN_SYNCHRONOUS_NODE_RATE_RAD_S
    node_lon = math.radians(center_lon_deg) - math.atan2(math.cos(inclination) * math.sin(u), math.cos(u))

    def make(u_c: float, node_lon_c: float) -> SyntheticTrack:
        since_anx = u_c / n
        # node longitude at the crossing, moved back from its value at the scene centre
        return SyntheticTrack(
            anx_time=center_time - timedelta(seconds=since_anx),
            anx_longitude_deg=math.degrees(node_lon_c + node_rate * since_anx),
        )

    def residual(u_c: float, node_lon_c: float) -> npt.NDArray[np.float64]:
        track = make(u_c, node_lon_c)
        lat, lon = _ground_point(track, (center_time - track.anx_time).total_seconds(), mid_range_m)
        dlon = (lon - center_lon_deg + 180.0) % 360.0 - 180.0
        return np.radians([lat - center_lat_deg, dlon])

    state = np.array([u, node_lon])
    for _ in range(8):
        f0 = residual(*state)
        jacobian = np.empty((2, 2))
        for k in range(2):
            step = np.zeros(2)
            step[k] = 1e-6
            jacobian[:, k] = (residual(*(state + step)) - f0) / 1e-6
        state = state - np.linalg.solve(jacobian, f0)
    return make(*state)


def synthetic_orbit(
    start: datetime,
    duration_s: float,
    *,
    track: SyntheticTrack | None = None,
    spacing_s: float = STATE_VECTOR_SPACING_S,
) -> Orbit:
    """ECEF state vectors every `spacing_s` from `start` over at least `duration_s` (>= 4 vectors).

    Without a track, the default one (an ascending pass over Malaspina Glacier, Alaska) is used.
    """
    if track is None:
        track = default_track()
    count = max(4, math.ceil(duration_s / spacing_s) + 1)
    times = [start + timedelta(seconds=k * spacing_s) for k in range(count)]
    positions, velocities = track.state_at(times)
    epoch = times[0]
    return Orbit(
        epoch=epoch,
        times_s=np.array([(time - epoch).total_seconds() for time in times]),
        positions_m=positions,
        velocities_m_s=velocities,
        source='synthetic',
    )


def default_track() -> SyntheticTrack:
    return track_over(DEFAULT_CENTER_LAT_DEG, DEFAULT_CENTER_LON_DEG, DEFAULT_REFERENCE_TIME)


@dataclass(frozen=True)
class SyntheticBurst:
    swath: str
    index: int
    azimuth_time: datetime
    seconds_since_anx: float
    relative_burst_id: int
    absolute_burst_id: int


@dataclass(frozen=True)
class SyntheticScene:
    """One IW SLC acquisition on a synthetic track: bursts start on ESA's burst-cycle grid plus a timing offset."""

    track: SyntheticTrack
    first_cycle_since_anx_s: float  # IW1 first burst start, seconds after the ascending node
    bursts_per_swath: int = 9
    mission: str = 'S1A'
    polarizations: tuple[str, ...] = ('VV', 'VH')
    swaths: tuple[str, ...] = ('IW1', 'IW2', 'IW3')
    ascending: bool = True

    @property
    def absolute_orbit(self) -> int:
        return self.track.absolute_orbit()

    @property
    def relative_orbit(self) -> int:
        return relative_orbit(self.mission, self.absolute_orbit)

    @property
    def polarization_code(self) -> str:
        dual = len(self.polarizations) > 1
        return ('D' if dual else 'S') + ('V' if self.polarizations[0] == 'VV' else 'H')

    def bursts(self, swath: str) -> list[SyntheticBurst]:
        layout = SWATHS_BY_NAME[swath]
        bursts = []
        for index in range(self.bursts_per_swath):
            cycle = layout.first_cycle + index
            since_anx = self.first_cycle_since_anx_s + cycle * BURST_CYCLE_S + layout.offset_in_cycle_s
            iw1_start = self.first_cycle_since_anx_s + cycle * BURST_CYCLE_S
            # ESA's definition: the id of a cycle comes from the time of mid-burst IW2 since the node
            mid_iw2 = iw1_start + SWATHS_BY_NAME['IW2'].offset_in_cycle_s + 0.5 * 1513 * AZIMUTH_TIME_INTERVAL_S
            orbit_offset = (self.relative_orbit - 1) * ORBIT_PERIOD_S
            relative_id = 1 + math.floor((mid_iw2 + orbit_offset - BURST_ID_PREAMBLE_S) / BURST_CYCLE_S)
            absolute_offset = (self.absolute_orbit - 1) * ORBIT_PERIOD_S
            absolute_id = 1 + math.floor((mid_iw2 + absolute_offset - BURST_ID_PREAMBLE_S) / BURST_CYCLE_S)
            bursts.append(
                SyntheticBurst(
                    swath=swath,
                    index=index,
                    azimuth_time=self.track.anx_time + timedelta(seconds=since_anx),
                    seconds_since_anx=since_anx,
                    relative_burst_id=relative_id,
                    absolute_burst_id=absolute_id,
                )
            )
        return bursts

    def swath_start(self, swath: str) -> datetime:
        return self.bursts(swath)[0].azimuth_time

    def swath_stop(self, swath: str) -> datetime:
        last = self.bursts(swath)[-1].azimuth_time
        return last + timedelta(seconds=(SWATHS_BY_NAME[swath].lines_per_burst - 1) * AZIMUTH_TIME_INTERVAL_S)

    @property
    def sensing_start(self) -> datetime:
        return min(self.swath_start(swath) for swath in self.swaths)

    @property
    def sensing_stop(self) -> datetime:
        return max(self.swath_stop(swath) for swath in self.swaths)

    @property
    def datatake_id(self) -> int:
        return (self.absolute_orbit * 8 + 0x1F) & 0xFFFFFF

    @property
    def name(self) -> str:
        start = self.sensing_start.strftime('%Y%m%dT%H%M%S')
        stop = self.sensing_stop.strftime('%Y%m%dT%H%M%S')
        stem = (
            f'{self.mission}_IW_SLC__1S{self.polarization_code}_{start}_{stop}_{self.absolute_orbit:06d}_'
            f'{self.datatake_id:06X}'
        )
        return f'{stem}_{zlib.crc32(stem.encode()) & 0xFFFF:04X}'

    def orbit(self, margin_s: float = 60.0) -> Orbit:
        """State vectors on a 10 s grid (counted from the node) covering the scene with a margin, as annotated."""
        first = math.floor(((self.sensing_start - self.track.anx_time).total_seconds() - margin_s) / 10.0)
        last = math.ceil(((self.sensing_stop - self.track.anx_time).total_seconds() + margin_s) / 10.0)
        start = self.track.anx_time + timedelta(seconds=10.0 * first)
        return synthetic_orbit(start, 10.0 * (last - first), track=self.track)

    def radar_geometry(self, buffer: int = 0) -> RadarGeometry:
        """The merged geometry, by the ISCE2 / hyp3-autorift rules (what open_acquisition must reproduce)."""
        prf = 1.0 / AZIMUTH_TIME_INTERVAL_S
        near = min(SWATHS_BY_NAME[s].slant_range_time_s * SPEED_OF_LIGHT_M_S / 2.0 for s in self.swaths)
        far = max(
            SWATHS_BY_NAME[s].slant_range_time_s * SPEED_OF_LIGHT_M_S / 2.0
            + (SWATHS_BY_NAME[s].samples - 1) * RANGE_PIXEL_SIZE_M
            for s in self.swaths
        )
        lines = round((self.sensing_stop - self.sensing_start).total_seconds() * prf) + 1
        samples = round((far - near) / RANGE_PIXEL_SIZE_M) + 1 + 2 * buffer
        return RadarGeometry(
            sensing_start=self.sensing_start,
            starting_range_m=near - buffer * RANGE_PIXEL_SIZE_M,
            range_pixel_size_m=RANGE_PIXEL_SIZE_M,
            prf_hz=prf,
            number_of_lines=lines,
            number_of_samples=samples,
            orbit=self.orbit(),
            radar_frequency_hz=RADAR_FREQUENCY_HZ,
        )

    def repeat(self, cycles: int = 1, timing_offset_s: float = DEFAULT_SECONDARY_TIMING_OFFSET_S) -> 'SyntheticScene':
        """The same frame `cycles` x 12 days later, its bursts shifted by `timing_offset_s`."""
        return replace(
            self,
            track=self.track.repeated(cycles),
            first_cycle_since_anx_s=self.first_cycle_since_anx_s + timing_offset_s,
        )


def synthetic_scene(
    center_lat_deg: float = DEFAULT_CENTER_LAT_DEG,
    center_lon_deg: float = DEFAULT_CENTER_LON_DEG,
    center_time: datetime = DEFAULT_REFERENCE_TIME,
    *,
    ascending: bool = True,
    mission: str = 'S1A',
    bursts_per_swath: int = 9,
    polarizations: Sequence[str] = ('VV', 'VH'),
    swaths: Sequence[str] = ('IW1', 'IW2', 'IW3'),
) -> SyntheticScene:
    """An IW frame centred on (lat, lon) around `center_time`, its bursts on the ESA burst-cycle grid."""
    track = track_over(center_lat_deg, center_lon_deg, center_time, ascending=ascending)
    center_since_anx = (center_time - track.anx_time).total_seconds()
    first = center_since_anx - 0.5 * bursts_per_swath * BURST_CYCLE_S
    # Align on the burst-id grid, so a repeat of the same track has the same burst ids.
    grid_phase = BURST_ID_PREAMBLE_S - SWATHS_BY_NAME['IW2'].offset_in_cycle_s - 0.5 * 1513 * AZIMUTH_TIME_INTERVAL_S
    first = grid_phase + (math.floor((first - grid_phase) / BURST_CYCLE_S) + 0.5) * BURST_CYCLE_S
    return SyntheticScene(
        track=track,
        first_cycle_since_anx_s=first,
        bursts_per_swath=bursts_per_swath,
        mission=mission,
        polarizations=tuple(polarizations),
        swaths=tuple(swaths),
        ascending=ascending,
    )


def synthetic_radar_geometry(
    center_lat_deg: float = DEFAULT_CENTER_LAT_DEG,
    center_lon_deg: float = DEFAULT_CENTER_LON_DEG,
    center_time: datetime = DEFAULT_REFERENCE_TIME,
    *,
    ascending: bool = True,
    bursts_per_swath: int = 9,
    buffer: int = 0,
) -> RadarGeometry:
    """The merged IW1-3 radar geometry of a synthetic frame: ~13125 lines at 486.486 Hz (9 bursts per swath),
    69141 samples of 2.329562114715323 m from 800.4 km slant range, right-looking, annotation-style orbit."""
    scene = synthetic_scene(
        center_lat_deg, center_lon_deg, center_time, ascending=ascending, bursts_per_swath=bursts_per_swath
    )
    return scene.radar_geometry(buffer)


# ---------------------------------------------------------------------------------------------- SAFE writers

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
    ground, look = _zero_doppler_ground_points(position[:, None, :], velocity[:, None, :], ranges[None, :])
    lat, lon, height = _ecef_to_geodetic(ground)
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
