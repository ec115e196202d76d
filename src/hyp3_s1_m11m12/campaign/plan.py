"""Plan a campaign: read each granule's metadata (as check_granule does), say what it needs, write the table."""

import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import pandas as pd

from hyp3_s1_m11m12.campaign.table import COLUMNS, Action, RepairStatus, new_table, read_table, write_table
from hyp3_s1_m11m12.errors import UserFacingError
from hyp3_s1_m11m12.products.granules.check import (
    DEFAULT_WORKERS,
    GranuleCheck,
    GranuleStatus,
    ProgressCallback,
    inspect_granules,
)
from hyp3_s1_m11m12.products.granules.metadata import GranuleMetadata
from hyp3_s1_m11m12.sentinel1.names import parse_scene_name, relative_orbit


# ITS_LIVE names: <reference>_X_<secondary>_G<spacing>V02_P<valid %>...nc
GRANULE_NAME = re.compile(r'^(?P<reference>.+?)_X_(?P<secondary>.+?)_G\d{4}V\d{2}_P\d{3}')
# Verdicts whose M11/M12 a true-dt product replaces; the others have nothing to repair or cannot be read.
REPAIRABLE = (GranuleStatus.SPOOFED, GranuleStatus.INCONSISTENT)
# Columns a re-plan keeps from the previous table for a granule whose pair is unchanged.
CARRIED_COLUMNS = ('job_name', 'job_id', 'job_status', 'product', 'product_expiration', 'repair_status',
                   'repair_reason', 'repaired_granule', 'backup')  # fmt: skip


def pair_from_name(location: str) -> tuple[str, str] | None:
    name = PurePosixPath(urlparse(location).path).name
    match = GRANULE_NAME.match(name)
    return (match['reference'], match['secondary']) if match else None


def resolve_pair(location: str, metadata: GranuleMetadata | None) -> tuple[str | None, str | None, str | None]:
    """(reference, secondary, problem): from img_pair_info id_img1/id_img2 and the file name, cross-checked."""
    named = pair_from_name(location)
    recorded = None
    if metadata is not None and metadata.id_img1 and metadata.id_img2:
        recorded = (metadata.id_img1, metadata.id_img2)
    if recorded and named and recorded != named:
        return (
            None,
            None,
            (
                f'the pair cannot be determined: img_pair_info says {recorded[0]} x {recorded[1]} but the file name '
                f'says {named[0]} x {named[1]}'
            ),
        )
    pair = recorded or named
    if pair is None:
        return None, None, 'the pair cannot be determined: no img_pair_info id_img1/id_img2 and no ITS_LIVE file name'
    return pair[0], pair[1], None


def _relative_orbit(reference: str | None, metadata: GranuleMetadata | None) -> int | None:
    if reference is not None:
        try:
            return parse_scene_name(reference).relative_orbit
        except UserFacingError:
            pass
    if metadata is not None and metadata.absolute_orbit_img1 is not None and metadata.platforms[:3]:
        try:
            return relative_orbit(metadata.platforms[:3], metadata.absolute_orbit_img1)
        except UserFacingError:
            return None
    return None


def plan_row(check: GranuleCheck, metadata: GranuleMetadata | None) -> dict[str, object]:
    reference, secondary, problem = resolve_pair(check.granule, metadata)
    action, reason = Action.NONE, f'nothing to repair: {check.status.value}'
    if check.status in REPAIRABLE:
        if problem is None:
            action, reason = Action.REPAIR, f'{check.status.value}: M11/M12 to replace from the pair product'
        else:
            reason = problem
    elif problem is not None and check.status is not GranuleStatus.UNREADABLE:
        reason = f'{reason}; {problem}'
    return {
        'granule': check.granule,
        'reference': reference,
        'secondary': secondary,
        'date_dt': check.date_dt_days,
        'mission': check.platforms or None,
        'relative_orbit': _relative_orbit(reference, metadata),
        'verdict': check.status.value,
        'detail': check.detail,
        'action': action.value,
        'reason': reason,
        'repair_status': (RepairStatus.PENDING if action is Action.REPAIR else RepairStatus.NOT_NEEDED).value,
    }


def _same(left: object, right: object) -> bool:
    if pd.isna(left) or pd.isna(right):
        return bool(pd.isna(left) and pd.isna(right))
    return left == right


def _carry_over(frame: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Keep what earlier steps recorded for granules whose pair has not changed."""
    old = previous.set_index('granule')
    for index, row in frame.iterrows():
        granule = row['granule']
        if granule not in old.index:
            continue
        before = old.loc[granule]
        if all(_same(before[column], row[column]) for column in ('reference', 'secondary')):
            for column in CARRIED_COLUMNS:
                if not pd.isna(before[column]):
                    frame.at[index, column] = before[column]
    return frame


def plan_campaign(
    locations: Sequence[str],
    table: Path,
    *,
    workers: int = DEFAULT_WORKERS,
    s3_endpoint_url: str | None = None,
    progress: ProgressCallback | None = None,
    processes: int | None = None,
) -> pd.DataFrame:
    """Check every granule's metadata and write the campaign table (and its job list) to `table`.

    A table already at `table` keeps its job and repair records for granules whose pair is unchanged. The reads are
    spread over `processes` processes (default: one per core for a large run; see `inspect_granules`).
    """
    inspected = inspect_granules(
        locations, workers=workers, s3_endpoint_url=s3_endpoint_url, progress=progress, processes=processes
    )
    frame = new_table([plan_row(check, metadata) for check, metadata in inspected])
    if table.exists():
        frame = _carry_over(frame, read_table(table))
    write_table(frame[list(COLUMNS)], table)
    return frame
