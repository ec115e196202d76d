"""The pair and its repeat time, resolved once from whichever timing was given, before any Geogrid work.

A run gives exactly one of: a secondary acquisition (dt of the first common burst, see pairing.py), the
secondary's sensing start, or dt itself. `resolve_repeat_time` returns the Geogrid reference (the older acquisition,
opened with the requested orbit) and the checked `RepeatTime`; `resolve_repeat_times` does it for many secondaries.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from hyp3_s1_m11m12.errors import TimingError
from hyp3_s1_m11m12.sentinel1.acquisition import Acquisition, open_acquisition
from hyp3_s1_m11m12.sentinel1.pairing import RepeatTime, check_dt_bounds, configured_max_dt_seconds, repeat_time
from hyp3_s1_m11m12.timeutil import format_utc, parse_utc


log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ResolvedPair:
    """The acquisition Geogrid runs on (the older one, with the requested orbit) and the pair's repeat time."""

    reference: Acquisition
    repeat_time: RepeatTime


def log_repeat_time(timing: RepeatTime) -> None:
    log.info('Repeat time %s', timing.describe())


def parse_sensing_start(value: datetime | str) -> datetime:
    """A secondary sensing start given as text or datetime (naive UTC).

    Raises:
        TimingError: not an ISO-8601 time.
    """
    if isinstance(value, datetime):
        return value
    try:
        return parse_utc(value)
    except ValueError:
        raise TimingError(
            f'the secondary sensing start {value!r} is not an ISO-8601 UTC time; give it as e.g. '
            '2021-04-13T05:26:22.032990Z'
        ) from None


def timing_given(
    reference: Acquisition,
    *,
    secondary_sensing_start: datetime | str | None = None,
    dt_seconds: float | None = None,
) -> RepeatTime:
    """The repeat time from the secondary's sensing start or from dt itself (exactly one of them).

    Raises:
        TimingError: neither or both given, or dt out of bounds.
    """
    if (secondary_sensing_start is None) == (dt_seconds is None):
        raise TimingError('give exactly one of a secondary sensing start or a repeat time dt in seconds')
    if secondary_sensing_start is not None:
        start = parse_sensing_start(secondary_sensing_start)
        return RepeatTime(
            dt_seconds=(start - reference.sensing_start).total_seconds(),
            reference_granule=reference.granule,
            reference_sensing_start=reference.sensing_start,
            secondary_sensing_start=start,
            source=(
                f'secondary sensing start {format_utc(start)} minus reference sensing start '
                f'{format_utc(reference.sensing_start)}'
            ),
        )
    assert dt_seconds is not None
    check_dt_bounds(dt_seconds, configured_max_dt_seconds())  # before timedelta, which overflows on a huge dt
    # The secondary's sensing start follows from dt; recording it keeps the provenance complete.
    return RepeatTime(
        dt_seconds=float(dt_seconds),
        reference_granule=reference.granule,
        reference_sensing_start=reference.sensing_start,
        secondary_sensing_start=reference.sensing_start + timedelta(seconds=dt_seconds),
        source='given directly',
    )


def resolve_repeat_times(
    reference: str | Path,
    secondaries: list[str | Path],
    *,
    orbit: str | Path,
    work_dir: Path,
) -> list[ResolvedPair]:
    """Each secondary paired with `reference`: the older acquisition of each pair, opened with `orbit`, and its dt.

    Timing needs only the annotation; the orbit is resolved once it is known which scene is the older one, without
    reading that scene's metadata again, and each distinct scene is opened once.

    Raises:
        UserFacingError: a scene cannot be read, the pair is not of one pass, or dt is out of bounds.
    """
    given = open_acquisition(reference, orbit='annotation', work_dir=work_dir)
    with_orbit: dict[str, Acquisition] = {}

    def geogrid_reference(source: str | Path, annotation_only: Acquisition) -> Acquisition:
        if orbit == 'annotation':
            return annotation_only
        if str(source) not in with_orbit:
            with_orbit[str(source)] = annotation_only.with_orbit(orbit, work_dir=work_dir)
        return with_orbit[str(source)]

    resolved = []
    for secondary in secondaries:
        other = open_acquisition(secondary, orbit='annotation', work_dir=work_dir)
        pair = repeat_time(given, other)
        log_repeat_time(pair)
        if pair.swapped:
            log.info('The given secondary is the older acquisition: %s is the reference', pair.reference_granule)
        older = geogrid_reference(secondary, other) if pair.swapped else geogrid_reference(reference, given)
        resolved.append(ResolvedPair(reference=older, repeat_time=pair))
    return resolved


def resolve_repeat_time(
    reference: str | Path,
    *,
    secondary: str | Path | None = None,
    secondary_sensing_start: datetime | str | None = None,
    dt_seconds: float | None = None,
    orbit: str | Path = 'auto',
    work_dir: Path,
) -> ResolvedPair:
    """The Geogrid reference (opened with `orbit`) and dt from whichever timing was given, logged with its source.

    Raises:
        UserFacingError: not exactly one timing given, unreadable scenes, a pair of different passes, dt out of
            bounds.
    """
    if sum(value is not None for value in (secondary, secondary_sensing_start, dt_seconds)) != 1:
        raise TimingError(
            'give exactly one of a secondary acquisition, a secondary sensing start or a repeat time dt in seconds'
        )
    if secondary is not None:
        (pair,) = resolve_repeat_times(reference, [secondary], orbit=orbit, work_dir=work_dir)
        return pair
    if dt_seconds is not None:  # a bad dt fails before any metadata is read
        check_dt_bounds(dt_seconds, configured_max_dt_seconds())
    acquisition = open_acquisition(reference, orbit=orbit, work_dir=work_dir)
    timing = timing_given(
        acquisition,
        secondary_sensing_start=secondary_sensing_start,
        dt_seconds=dt_seconds,
    )
    log_repeat_time(timing)
    return ResolvedPair(reference=acquisition, repeat_time=timing)
