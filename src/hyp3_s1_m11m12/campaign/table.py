"""The campaign table: one row per granule, the single record of a campaign, written atomically.

The parquet file is the record; a CSV copy beside it is for people. Every step (plan, submit, follow, repair)
reads the table, updates its own columns and writes it back under a temporary name then renamed, so a run killed
at any point leaves either the previous table or the new one.
"""

import os
import uuid
from enum import Enum
from pathlib import Path

import pandas as pd

from hyp3_s1_m11m12.errors import UserFacingError


class Action(str, Enum):
    NONE = 'none'
    REPAIR = 'repair'


class RepairStatus(str, Enum):
    PENDING = 'pending'  # to repair
    REPAIRED = 'repaired'
    FAILED = 'failed'  # see repair_reason; a re-run tries again
    NOT_NEEDED = 'not_needed'  # action none


# name -> pandas dtype; strings are nullable ('' is never used for unknown).
COLUMNS: dict[str, str] = {
    'granule': 'string',
    'reference': 'string',
    'secondary': 'string',
    'date_dt': 'float64',
    'mission': 'string',
    'relative_orbit': 'Int64',
    'verdict': 'string',
    'detail': 'string',
    'action': 'string',
    'reason': 'string',  # why the action is what it is (e.g. the pair cannot be determined)
    'job_name': 'string',
    'job_id': 'string',
    'job_status': 'string',
    'product': 'string',  # s3:// or https:// location of the pair's conversion-matrices file
    'product_expiration': 'string',
    'repair_status': 'string',
    'repair_reason': 'string',
    'repaired_granule': 'string',
    'backup': 'string',
}


def new_table(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype(COLUMNS)


def csv_path(table: Path) -> Path:
    return table.with_suffix('.csv')


def jobs_path(table: Path) -> Path:
    return table.with_name(f'{table.stem}.jobs.csv')


def check_table_path(table: Path) -> None:
    """Fail before any work if the table could not be written.

    Raises:
        UserFacingError: not a .parquet name, or a folder that is missing or not writable.
    """
    if table.suffix != '.parquet':
        raise UserFacingError(f'the campaign table {table} must be a .parquet file (a .csv copy is written beside it)')
    if not table.parent.is_dir():
        raise UserFacingError(f'cannot write the campaign table {table}: {table.parent} is not an existing folder')
    probe = table.parent / f'.{table.name}.{uuid.uuid4().hex}.probe'
    try:
        probe.touch(exist_ok=False)
    except OSError as error:
        raise UserFacingError(
            f'cannot write the campaign table {table}: the folder is not writable ({error.strerror}); choose another'
        ) from None
    probe.unlink(missing_ok=True)


def _replace(path: Path, write: object) -> None:
    temporary = path.with_name(f'.{path.name}.{uuid.uuid4().hex}.partial')
    try:
        write(temporary)  # type: ignore[operator]
        os.replace(temporary, path)
    except OSError as error:
        raise UserFacingError(f'cannot write {path} ({error}); check the folder is writable and has space') from error
    finally:
        temporary.unlink(missing_ok=True)


def write_table(frame: pd.DataFrame, table: Path) -> None:
    """Write the table (parquet, then its CSV copy and the job list), each atomically."""
    frame = frame.astype(COLUMNS)
    _replace(table, lambda path: frame.to_parquet(path, index=False))
    _replace(csv_path(table), lambda path: frame.to_csv(path, index=False))
    _replace(jobs_path(table), lambda path: job_list(frame).to_csv(path, index=False))


def read_table(table: Path) -> pd.DataFrame:
    """Raises: UserFacingError: the table is missing or not a campaign table."""
    try:
        frame = pd.read_parquet(table)
    except (OSError, ValueError) as error:
        raise UserFacingError(
            f'cannot read the campaign table {table} ({error}); make it with `campaign plan`'
        ) from None
    missing = [name for name in COLUMNS if name not in frame.columns]
    if missing:
        raise UserFacingError(
            f'{table} is not a campaign table (no {", ".join(missing)}); make it with `campaign plan`'
        )
    return frame[list(COLUMNS)].astype(COLUMNS)


def job_list(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per reference scene to process: its secondaries (';'-separated), granules, job id and status."""
    todo = frame[frame['action'] == Action.REPAIR.value]
    rows = []
    for reference, group in todo.groupby('reference', sort=True):
        rows.append(
            {
                'reference': reference,
                'secondaries': ';'.join(sorted(set(group['secondary'].dropna()))),
                'granules': len(group),
                'job_id': ';'.join(sorted(set(group['job_id'].dropna()))),
                'job_status': ';'.join(sorted(set(group['job_status'].dropna()))),
            }
        )
    return pd.DataFrame(rows, columns=['reference', 'secondaries', 'granules', 'job_id', 'job_status'])
