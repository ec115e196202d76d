"""The campaign table: one row per granule, the single record of a campaign, written atomically.

The parquet file is the record; a CSV copy beside it is for people. Every step (plan, submit, follow, repair)
reads the table, updates its own columns and writes it back under a temporary name then renamed, so a run killed
at any point leaves either the previous table or the new one.

Between two writes of the table, `repair` appends each granule's outcome to a journal beside it
(`<table>.journal.jsonl`, one JSON line per outcome, flushed before the next one is handled), so that a run killed
at any point loses no outcome: `read_table` replays the journal over the table, and `write_table` removes it once
the table holds it. A line cut short by the kill is the last one and is ignored.
"""

import glob
import json
import logging
import uuid
from collections.abc import Mapping
from enum import Enum
from pathlib import Path

import pandas as pd

from hyp3_s1_m11m12.errors import UserFacingError
from hyp3_s1_m11m12.staging import PARTIAL_FILE_PATTERN, PARTIAL_SUFFIX, atomic_file


log = logging.getLogger(__name__)


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
    remove_leftover_writes(table)


def remove_leftover_writes(table: Path) -> None:
    """Remove the temporary files of the table (and its CSVs) that a run killed while writing them left."""
    for path in (table, csv_path(table), jobs_path(table)):
        for leftover in path.parent.glob(f'.{glob.escape(path.name)}.*{PARTIAL_SUFFIX}'):
            if PARTIAL_FILE_PATTERN.match(leftover.name):
                log.info('removing %s, left by an interrupted run', leftover)
                leftover.unlink(missing_ok=True)


def journal_path(table: Path) -> Path:
    return table.with_name(f'{table.stem}.journal.jsonl')


def append_journal(table: Path, granule: str, values: Mapping[str, object]) -> None:
    """Record new `values` of the row of `granule` before the table is next written (see the module docstring).

    Raises:
        UserFacingError: the journal cannot be written.
    """
    line = json.dumps({'granule': granule, 'values': dict(values)}, default=str)
    try:
        with journal_path(table).open('a', encoding='utf-8') as journal:
            journal.write(line + '\n')
    except OSError as error:
        raise UserFacingError(
            f'cannot write {journal_path(table)} ({error.strerror or error}); check the folder is writable and has '
            'space'
        ) from None


def _replay_journal(frame: pd.DataFrame, table: Path) -> pd.DataFrame:
    path = journal_path(table)
    try:
        lines = path.read_text(encoding='utf-8').splitlines()
    except FileNotFoundError:
        return frame
    except OSError as error:
        raise UserFacingError(f'cannot read {path} ({error.strerror or error}); check its permissions') from None
    rows: dict[str, list[int]] = {}
    for index, granule in zip(frame.index, frame['granule'], strict=True):
        rows.setdefault(str(granule), []).append(index)
    replayed = 0
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            granule, values = str(entry['granule']), dict(entry['values'])
        except (ValueError, KeyError, TypeError):
            if number == len(lines):
                continue  # the line being written when a run was killed
            raise UserFacingError(
                f'{path} line {number} is not a journal entry; remove the file to keep only the table'
            ) from None
        unknown = [name for name in values if name not in COLUMNS]
        if unknown or granule not in rows:
            raise UserFacingError(
                f'{path} line {number} is not for {table} (granule {granule}, columns {", ".join(values)}); remove '
                'the file to keep only the table'
            )
        frame.loc[rows[granule], list(values)] = list(values.values())
        replayed += 1
    if replayed:
        log.info('%s: %d outcome(s) of an interrupted run replayed from %s', table, replayed, path.name)
    return frame


def write_table(frame: pd.DataFrame, table: Path) -> None:
    """Write the table (parquet, then its CSV copy and the job list), each atomically; then drop the journal.

    Raises:
        UserFacingError: a file cannot be written.
    """
    frame = frame.astype(COLUMNS)
    with atomic_file(table) as temporary:
        frame.to_parquet(temporary, index=False)
    # The table holds every journalled outcome now (the frame was read with them): a kill before this unlink
    # only replays them again.
    journal_path(table).unlink(missing_ok=True)
    with atomic_file(csv_path(table)) as temporary:
        frame.to_csv(temporary, index=False)
    with atomic_file(jobs_path(table)) as temporary:
        job_list(frame).to_csv(temporary, index=False)


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
    return _replay_journal(frame[list(COLUMNS)].astype(COLUMNS), table)


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
