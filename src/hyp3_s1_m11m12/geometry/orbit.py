"""Orbit state vectors as arrays of time (seconds since an epoch), ECEF position and ECEF velocity.

Interpolation is ISCE2's (orbit.c interpolateWGS84Orbit + orbitHermite.c), the one autoRIFT's radar Geogrid uses:
a cubic Hermite interpolant of position and velocity through four consecutive state vectors, chosen as the first
vector at or after the time, minus two, clamped to the orbit.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12.errors import OrbitError
from hyp3_s1_m11m12.timeutil import format_utc


MINIMUM_STATE_VECTORS = 4  # the 4-point Hermite interpolation of ISCE2 needs at least four
HERMITE_NODES = 4


@dataclass(frozen=True)
class StateVector:
    """One orbit state vector. `time` is a naive datetime in UTC; position in m and velocity in m/s, ECEF."""

    time: datetime
    position_m: tuple[float, float, float]
    velocity_m_s: tuple[float, float, float]


@dataclass(frozen=True, eq=False)
class Orbit:
    """State vectors sorted by time, strictly increasing.

    `epoch` is a naive datetime in UTC; `times_s` are seconds since it. Keeping a single epoch (instead of
    ISCE2's seconds-of-day) is what makes acquisitions that cross 00:00 UTC come out right.
    """

    epoch: datetime
    times_s: npt.NDArray[np.float64]
    positions_m: npt.NDArray[np.float64]  # (n, 3)
    velocities_m_s: npt.NDArray[np.float64]  # (n, 3)
    source: str = field(default='unknown')  # e.g. 'annotation', 'S1A_OPER_AUX_POEORB_...EOF'

    def __post_init__(self) -> None:
        times = np.ascontiguousarray(self.times_s, dtype=np.float64)
        positions = np.ascontiguousarray(self.positions_m, dtype=np.float64)
        velocities = np.ascontiguousarray(self.velocities_m_s, dtype=np.float64)
        if times.ndim != 1 or positions.shape != (times.size, 3) or velocities.shape != (times.size, 3):
            raise OrbitError(
                f'orbit arrays disagree: {times.size} times, positions {positions.shape}, velocities {velocities.shape}'
            )
        if times.size < MINIMUM_STATE_VECTORS:
            raise OrbitError(
                f'the orbit has {times.size} state vectors; at least {MINIMUM_STATE_VECTORS} are needed for the '
                'Hermite interpolation: use a longer orbit (a POEORB/RESORB file or the annotation orbit)'
            )
        if not np.all(np.isfinite(times)) or not np.all(np.isfinite(positions)) or not np.all(np.isfinite(velocities)):
            raise OrbitError('the orbit has non-finite state vector values')
        if np.any(np.diff(times) <= 0):
            raise OrbitError('orbit state vector times must be strictly increasing (duplicates or unsorted vectors)')
        for name, array in (('times_s', times), ('positions_m', positions), ('velocities_m_s', velocities)):
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    @classmethod
    def from_state_vectors(cls, vectors: list[StateVector], source: str = 'unknown') -> 'Orbit':
        """Build an orbit from state vectors in any order; duplicates (same time) are dropped."""
        unique = {vector.time: vector for vector in vectors}
        ordered = [unique[time] for time in sorted(unique)]
        if not ordered:
            raise OrbitError('the orbit has no state vectors')
        epoch = ordered[0].time
        times = np.array([(vector.time - epoch).total_seconds() for vector in ordered])
        positions = np.array([vector.position_m for vector in ordered], dtype=np.float64).reshape(-1, 3)
        velocities = np.array([vector.velocity_m_s for vector in ordered], dtype=np.float64).reshape(-1, 3)
        return cls(epoch=epoch, times_s=times, positions_m=positions, velocities_m_s=velocities, source=source)

    @property
    def start(self) -> datetime:
        return self.epoch + timedelta(seconds=float(self.times_s[0]))

    @property
    def stop(self) -> datetime:
        return self.epoch + timedelta(seconds=float(self.times_s[-1]))

    def seconds_since_epoch(self, time: datetime) -> float:
        return (time - self.epoch).total_seconds()

    def state_vectors(self) -> list[StateVector]:
        return [
            StateVector(
                time=self.epoch + timedelta(seconds=float(t)),
                position_m=(float(p[0]), float(p[1]), float(p[2])),
                velocity_m_s=(float(v[0]), float(v[1]), float(v[2])),
            )
            for t, p, v in zip(self.times_s, self.positions_m, self.velocities_m_s, strict=True)
        ]

    def rebased(self, epoch: datetime) -> 'Orbit':
        """The same state vectors with times counted from another epoch."""
        times = np.array([(vector.time - epoch).total_seconds() for vector in self.state_vectors()])
        return Orbit(
            epoch=epoch,
            times_s=times,
            positions_m=self.positions_m,
            velocities_m_s=self.velocities_m_s,
            source=self.source,
        )

    def rebased_to_midnight(self) -> 'Orbit':
        """Times as seconds since 00:00 UTC of the first vector's day: ISCE2's Orbit.exportToC() time base.

        Geogrid interpolates in this base so that its rounding (and so its output, to the last bits) is autoRIFT's.
        """
        first = self.start
        return self.rebased(datetime(first.year, first.month, first.day))

    def time_at(self, seconds: float) -> datetime:
        """The UTC time `seconds` after the epoch (microsecond resolution, for messages and metadata)."""
        return self.epoch + timedelta(seconds=float(seconds))

    def span_description(self) -> str:
        return f'{format_utc(self.start)} to {format_utc(self.stop)}'

    def check_within_span(self, times_s: npt.ArrayLike, purpose: str = 'interpolation') -> None:
        """Raise OrbitError naming the time farthest outside [first, last] state vector (autoRIFT exits 106 there).

        NaN times pass, as in ISCE2 (its comparisons are false for NaN); they propagate to NaN results.
        """
        times = np.asarray(times_s, dtype=np.float64)
        outside = (times < self.times_s[0]) | (times > self.times_s[-1])
        if np.any(outside):
            worst = times[outside]
            farthest = worst[np.argmax(np.maximum(self.times_s[0] - worst, worst - self.times_s[-1]))]
            when = 'an infinite time' if not np.isfinite(farthest) else format_utc(self.time_at(farthest))
            raise OrbitError(
                f'{purpose} needs the orbit at {when}, outside the orbit span {self.span_description()} '
                f'({int(outside.sum())} time(s) outside): use an orbit (e.g. a POEORB/RESORB file) that covers the '
                'acquisition with margin, or parameter rasters that lie within the scene'
            )

    def interpolate(self, times_s: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """ECEF position (m) and velocity (m/s), shape (..., 3), at `times_s` seconds since the epoch.

        Raises:
            OrbitError: a time lies outside the span of the state vectors.
        """
        times = np.asarray(times_s, dtype=np.float64)
        self.check_within_span(times)
        return hermite_interpolate(self.times_s, self.positions_m, self.velocities_m_s, times)


def hermite_node_indices(
    node_times_s: npt.NDArray[np.float64], times_s: npt.NDArray[np.float64]
) -> npt.NDArray[np.intp]:
    """First of the four state vectors ISCE2 uses at each time: first index with t_i >= t, minus 2, clamped."""
    first_at_or_after = np.searchsorted(node_times_s, times_s, side='left')
    return np.clip(first_at_or_after - 2, 0, node_times_s.size - HERMITE_NODES)


def hermite_interpolate(
    node_times_s: npt.NDArray[np.float64],
    node_positions_m: npt.NDArray[np.float64],
    node_velocities_m_s: npt.NDArray[np.float64],
    times_s: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """ISCE2's orbitHermite, vectorised over times (no span check; extrapolates outside the nodes).

    With Lagrange basis h_i over the four node times and s_i = sum_{j != i} 1/(t_i - t_j):
    position = sum_i h_i^2 [(1 - 2 (t - t_i) s_i) x_i + (t - t_i) v_i], velocity its exact time derivative.
    Every term is formed in the order orbitHermite.c forms it, so the results are bit-identical to ISCE2's for the
    same time base; that matters because the zero-Doppler plane turns with the interpolated velocity, whose
    rounding (a sum of large cancelling terms) moves the along-track "topo" point by ~1e-7 m.
    """
    times = np.asarray(times_s, dtype=np.float64)
    shape = times.shape
    flat_times = times.reshape(-1)
    first = hermite_node_indices(node_times_s, flat_times)
    position = np.empty((flat_times.size, 3))
    velocity = np.empty((flat_times.size, 3))
    # Times close together share their four nodes: evaluate each group with the node terms as scalars.
    for start_index in np.unique(first):
        members = np.flatnonzero(first == start_index) if first.size > 1 else np.arange(first.size)
        group_position, group_velocity = _hermite_group(
            node_times_s[start_index : start_index + HERMITE_NODES],
            node_positions_m[start_index : start_index + HERMITE_NODES],
            node_velocities_m_s[start_index : start_index + HERMITE_NODES],
            flat_times[members],
        )
        position[members] = group_position
        velocity[members] = group_velocity
    return position.reshape(*shape, 3), velocity.reshape(*shape, 3)


def _hermite_group(
    tk: npt.NDArray[np.float64],
    xk: npt.NDArray[np.float64],
    vk: npt.NDArray[np.float64],
    times: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """orbitHermite.c for one set of four nodes; node-only terms are Python floats (the same IEEE operations)."""
    count = HERMITE_NODES
    t = [float(value) for value in tk]
    gap = [[t[i] - t[j] for j in range(count)] for i in range(count)]
    inverse_gap_sum = []
    for i in range(count):
        total = 0.0
        for j in range(count):
            if i != j:
                total += 1.0 / gap[i][j]
        inverse_gap_sum.append(total)
    offset = [times - t[i] for i in range(count)]  # f1 in orbitHermite.c
    ratio = [[None if k == i else offset[k] / gap[i][k] for k in range(count)] for i in range(count)]
    position = [np.zeros_like(times) for _ in range(3)]
    velocity = [np.zeros_like(times) for _ in range(3)]
    for i in range(count):
        others = [k for k in range(count) if k != i]
        basis = ratio[i][others[0]] * ratio[i][others[1]] * ratio[i][others[2]]  # type: ignore[operator]
        basis_rate: npt.NDArray[np.float64] | float = 0.0
        for j in others:
            remaining = [k for k in others if k != j]
            basis_rate = basis_rate + 1.0 / gap[i][j] * (ratio[i][remaining[0]] * ratio[i][remaining[1]])  # type: ignore[operator]
        f0 = 1.0 - 2.0 * offset[i] * inverse_gap_sum[i]
        g1 = basis + 2.0 * offset[i] * basis_rate
        g0 = 2.0 * (f0 * basis_rate - basis * inverse_gap_sum[i])
        for axis in range(3):
            x = float(xk[i, axis])
            v = float(vk[i, axis])
            position[axis] += (x * f0 + v * offset[i]) * basis * basis
            velocity[axis] += (x * g0 + v * g1) * basis
    return np.stack(position, axis=-1), np.stack(velocity, axis=-1)
