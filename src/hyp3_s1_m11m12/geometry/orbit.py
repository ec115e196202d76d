"""Orbit state vectors as arrays of time (seconds since an epoch), ECEF position and ECEF velocity."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12.errors import OrbitError


MINIMUM_STATE_VECTORS = 4  # the 4-point Hermite interpolation of ISCE2 needs at least four


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
