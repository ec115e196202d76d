"""The true repeat time dt of a pair: secondary minus reference sensing start over the same ground.

Bursts are matched by ESA burst id, or, for annotation without ids (IPF < 3.40), by their time since the
ascending node (azimuthAnxTime), which is the same for the same burst of every pass of a track. dt follows
hyp3-autorift's velocity workflow (runGeogrid on topsApp's fine_coreg reference bursts and the secondary): the
earliest secondary burst start minus the earliest start of the reference bursts that overlap the secondary
(EARLIEST_BURST_RULE). When the secondary begins on a burst the reference lacks, that differs from the first
common burst's dt by whole burst cycles (2.758 s each); both are logged. The plain difference of the two
products' starts is kept too, with a warning when it disagrees.
"""

import logging
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import InvalidGranuleError, TimingError
from hyp3_s1_m11m12.sentinel1.annotation import Burst
from hyp3_s1_m11m12.sentinel1.names import is_burst_name


if TYPE_CHECKING:  # at run time only the dt checks are needed by every workflow; acquisitions pull in the network
    from hyp3_s1_m11m12.sentinel1.acquisition import Acquisition


log = logging.getLogger(__name__)

BURST_CYCLE_S = 2.758273  # ESA's T_beam: bursts of one swath are this far apart along the orbit
PRODUCT_DT_TOLERANCE_S = 0.1
MINIMUM_DT_S = 1.0  # anything shorter is the same acquisition
# RepeatTime.rule values: which rule gave dt (recorded in the product's provenance).
EARLIEST_BURST_RULE = 'earliest secondary burst minus earliest overlapping reference burst'
# With a burst granule on either side there is no frame to begin on another burst: the common burst gives dt.
COMMON_BURST_RULE = 'first common burst'


@dataclass(frozen=True)
class RepeatTime:
    """The repeat time dt of a pair and where it came from: the one record of dt, checked once, here.

    dt is the secondary's sensing start minus the reference's, in seconds: of the first common burst for a pair of
    acquisitions, or as given (a secondary sensing start, or dt itself). Times are naive UTC; the reference is
    always the older acquisition. Everything downstream (Geogrid, products, provenance) takes dt from here.

    Raises (on creation):
        TimingError: dt is not a finite number of seconds in [MINIMUM_DT_S, max_dt_seconds].
    """

    dt_seconds: float
    reference_granule: str
    reference_sensing_start: datetime
    secondary_sensing_start: datetime
    secondary_granule: str | None = None  # None when dt or the secondary sensing start was given instead
    source: str = 'given directly'  # how dt was obtained, for the log and the provenance
    product_dt_seconds: float | None = None  # secondary minus reference merged sensing start, for a pair
    swapped: bool = False  # the given reference was the later acquisition
    matched_burst_id: str | None = None  # id of the first common burst (None when matched by time since the node)
    rule: str = 'given directly'  # which rule gave dt (EARLIEST_BURST_RULE, COMMON_BURST_RULE) for a pair
    common_burst_dt_seconds: float | None = None  # secondary minus reference start of the first common burst
    max_dt_seconds: float = field(default_factory=lambda: configured_max_dt_seconds())

    def __post_init__(self) -> None:
        check_dt_bounds(self.dt_seconds, self.max_dt_seconds)

    @property
    def dt_days(self) -> float:
        return self.dt_seconds / constants.SECONDS_PER_DAY

    def describe(self) -> str:
        """dt in seconds and days with its source, e.g. for the log."""
        return f'dt = {self.dt_seconds:.6f} s = {self.dt_days:.9f} days ({self.source})'


def configured_max_dt_seconds() -> float:
    """The largest accepted dt: constants.DEFAULT_MAX_DT_DAYS, or the days in the MAX_DT_DAYS_ENV variable.

    Raises:
        TimingError: the variable is not a positive number of days.
    """
    text = os.environ.get(constants.MAX_DT_DAYS_ENV)
    if text is None or not text.strip():
        return constants.DEFAULT_MAX_DT_DAYS * constants.SECONDS_PER_DAY
    try:
        days = float(text)
    except ValueError:
        days = math.nan
    if not (math.isfinite(days) and days > 0):
        raise TimingError(f'{constants.MAX_DT_DAYS_ENV}={text!r} is not a positive number of days; unset it or fix it')
    return days * constants.SECONDS_PER_DAY


def check_dt_bounds(dt_seconds: float, max_dt_seconds: float) -> None:
    """Sentinel-1 pairs are at least one burst cycle apart and at most a few years (the mission is ~10 years old);
    anything else is a typo or a wrong date, which Geogrid would turn into nonsense or an overflow.

    Raises:
        TimingError: dt outside [MINIMUM_DT_S, max_dt_seconds], or not a finite number.
    """
    if not isinstance(dt_seconds, int | float) or isinstance(dt_seconds, bool) or not math.isfinite(dt_seconds):
        raise TimingError(f'the repeat time dt = {dt_seconds!r} s is not a finite number of seconds; give e.g. 1036800')
    if dt_seconds <= 0:
        raise TimingError(
            f'the repeat time dt = {dt_seconds} s must be positive: the secondary acquisition must be later than '
            'the reference (dt = secondary sensing start - reference sensing start)'
        )
    if dt_seconds < MINIMUM_DT_S:
        raise TimingError(
            f'the repeat time dt = {dt_seconds} s is shorter than {MINIMUM_DT_S} s: that is the same acquisition; '
            'give a secondary from another pass'
        )
    max_days = max_dt_seconds / constants.SECONDS_PER_DAY
    if dt_seconds > max_dt_seconds:
        raise TimingError(
            f'the repeat time dt = {dt_seconds:.6g} s ({dt_seconds / constants.SECONDS_PER_DAY:.6g} days) is longer '
            f'than the maximum of {max_days:g} days; check the secondary and its date, or raise the limit with '
            f'--max-dt-days or {constants.MAX_DT_DAYS_ENV}'
        )


def _polarization_mode(acquisition: 'Acquisition') -> str:
    return 'H' if acquisition.polarization.upper().startswith('H') else 'V'


def _match_by_id(reference: 'Acquisition', secondary: 'Acquisition') -> list[tuple[Burst, Burst]]:
    by_id = {burst.burst_id: burst for burst in secondary.bursts}
    return [(burst, by_id[burst.burst_id]) for burst in reference.bursts if burst.burst_id in by_id]


def _match_by_anx_time(reference: 'Acquisition', secondary: 'Acquisition') -> list[tuple[Burst, Burst]]:
    pairs = []
    for burst in reference.bursts:
        if burst.azimuth_anx_time_s is None:
            continue
        candidates = [
            other
            for other in secondary.bursts
            if other.swath == burst.swath
            and other.azimuth_anx_time_s is not None
            and abs(other.azimuth_anx_time_s - burst.azimuth_anx_time_s) < BURST_CYCLE_S / 2
        ]
        if candidates:
            assert burst.azimuth_anx_time_s is not None
            anx = burst.azimuth_anx_time_s
            pairs.append((burst, min(candidates, key=lambda other: abs((other.azimuth_anx_time_s or 0.0) - anx))))
    return pairs


def repeat_time(reference: 'Acquisition', secondary: 'Acquisition') -> RepeatTime:
    """dt of a pair of the same pass (same track, swaths and polarisation mode); a later reference is swapped.

    Raises:
        InvalidGranuleError: another track, other swaths or polarisation mode, no common burst, or dt = 0.
    """
    if reference.relative_orbit != secondary.relative_orbit or reference.ascending != secondary.ascending:
        raise InvalidGranuleError(
            f'{reference.granule} (relative orbit {reference.relative_orbit}) and {secondary.granule} (relative '
            f'orbit {secondary.relative_orbit}) are not on the same track; pair acquisitions of one relative orbit'
        )
    if reference.swaths != secondary.swaths:
        raise InvalidGranuleError(
            f'{reference.granule} uses swaths {", ".join(reference.swaths)} and {secondary.granule} uses '
            f'{", ".join(secondary.swaths)}; use the same swaths for both'
        )
    if _polarization_mode(reference) != _polarization_mode(secondary):
        raise InvalidGranuleError(
            f'{reference.granule} ({reference.polarization}) and {secondary.granule} ({secondary.polarization}) have '
            'different polarisation modes; pair VV/VH with VV/VH or HH/HV with HH/HV'
        )
    swapped = secondary.sensing_start < reference.sensing_start
    if swapped:
        log.info(f'{reference.granule} is later than {secondary.granule}: using the earlier one as the reference')
        reference, secondary = secondary, reference

    with_ids = all(burst.burst_id is not None for burst in (*reference.bursts, *secondary.bursts))
    pairs = _match_by_id(reference, secondary) if with_ids else _match_by_anx_time(reference, secondary)
    if not pairs:
        raise InvalidGranuleError(
            f'{reference.granule} and {secondary.granule} have no burst in common (matched by '
            f'{"burst id" if with_ids else "time since the ascending node"}); pair acquisitions over the same ground'
        )
    first_reference, first_secondary = min(pairs, key=lambda pair: pair[0].sensing_start)
    common_dt = (first_secondary.sensing_start - first_reference.sensing_start).total_seconds()
    rule = (
        COMMON_BURST_RULE
        if is_burst_name(reference.granule) or is_burst_name(secondary.granule)
        else EARLIEST_BURST_RULE
    )
    if rule == EARLIEST_BURST_RULE:
        earliest_secondary = min(burst.sensing_start for burst in secondary.bursts)
        dt = (earliest_secondary - first_reference.sensing_start).total_seconds()
    else:
        dt = common_dt
    if abs(dt - common_dt) > PRODUCT_DT_TOLERANCE_S:
        log.info(
            f'dt by the earliest-burst rule is {dt:.6f} s, over the first common burst {common_dt:.6f} s '
            f'({(common_dt - dt) / BURST_CYCLE_S:.2f} burst cycles apart: the secondary begins on a burst the '
            'reference lacks); using the earliest-burst rule, as hyp3-autorift'
        )
    product_dt = (secondary.sensing_start - reference.sensing_start).total_seconds()
    if abs(dt) < MINIMUM_DT_S or abs(product_dt) < MINIMUM_DT_S:
        raise InvalidGranuleError(
            f'{reference.granule} and {secondary.granule} are the same acquisition (dt = {dt} s); give a secondary '
            'from another pass'
        )
    if abs(dt - product_dt) > PRODUCT_DT_TOLERANCE_S:
        log.warning(
            f'dt by the earliest-burst rule ({dt:.6f} s) differs from the difference of the product start times '
            f'({product_dt:.6f} s) by {dt - product_dt:.3f} s: the products start on different bursts; using '
            f'{dt:.6f} s'
        )
    matched = (
        f'first common burst {first_reference.burst_id}'
        if with_ids
        else 'bursts matched by time since the ascending node'
    )
    return RepeatTime(
        dt_seconds=dt,
        reference_granule=reference.granule,
        reference_sensing_start=reference.sensing_start,
        secondary_granule=secondary.granule,
        secondary_sensing_start=secondary.sensing_start,
        source=f'secondary {secondary.granule}, {matched}',
        product_dt_seconds=product_dt,
        swapped=swapped,
        matched_burst_id=first_reference.burst_id if with_ids else None,
        rule=rule,
        common_burst_dt_seconds=common_dt,
    )
