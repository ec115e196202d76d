"""The radar geometry the Geogrid stage takes: one zero-Doppler image of the reference acquisition."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geometry.orbit import Orbit


RIGHT_LOOKING = -1  # ISCE2 convention: lookSide = -1 is right-looking (every Sentinel-1 mode)


@dataclass(frozen=True, eq=False)
class RadarGeometry:
    """What autoRIFT's Geogrid needs from the reference scene (testGeogrid_ISCE.loadMetadata's attributes).

    Times are naive datetimes in UTC. `starting_range_m` and `number_of_samples` already include any buffer.
    """

    sensing_start: datetime
    starting_range_m: float
    range_pixel_size_m: float
    prf_hz: float
    number_of_lines: int
    number_of_samples: int
    orbit: Orbit
    look_side: int = RIGHT_LOOKING
    radar_frequency_hz: float | None = None

    def __post_init__(self) -> None:
        problems = []
        if not self.starting_range_m > 0:
            problems.append(f'starting range {self.starting_range_m} m')
        if not self.range_pixel_size_m > 0:
            problems.append(f'range pixel size {self.range_pixel_size_m} m')
        if not self.prf_hz > 0:
            problems.append(f'prf {self.prf_hz} Hz')
        if self.number_of_lines < 2 or self.number_of_samples < 2:
            problems.append(f'image size {self.number_of_lines} lines x {self.number_of_samples} samples')
        if self.look_side not in (-1, 1):
            problems.append(f'look side {self.look_side} (must be -1 for right or 1 for left)')
        if problems:
            raise GeogridInputError(f'invalid radar geometry: {", ".join(problems)}')

    @property
    def sensing_stop(self) -> datetime:
        """Time of the last line."""
        return self.sensing_start + timedelta(seconds=(self.number_of_lines - 1) / self.prf_hz)

    @property
    def far_range_m(self) -> float:
        """Slant range of the last sample."""
        return self.starting_range_m + (self.number_of_samples - 1) * self.range_pixel_size_m
