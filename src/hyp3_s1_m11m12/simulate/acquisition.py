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
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

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


def ecef_to_geodetic(xyz: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Latitude, longitude (deg) and ellipsoidal height (m) on WGS84 of ECEF points (..., 3)."""
    lat, lon, height = ecef_to_llh(xyz[..., 0], xyz[..., 1], xyz[..., 2])
    return np.degrees(lat), np.degrees(lon), height


def zero_doppler_ground_points(
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
    ground, _ = zero_doppler_ground_points(position, velocity, np.array([slant_range_m]))
    lat, lon, _ = ecef_to_geodetic(ground)
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
