"""Repair a campaign's granules on dask.distributed, each from its pair's product, recording every outcome.

Each task repairs one granule in a scratch folder (fix_granule: crop, mask, encoding kept, provenance) and stores
it whole (temporary name + rename locally, one PUT on S3); it never raises, so one bad granule never stops the
others. The driver keeps at most a few tasks per worker in flight (bounded memory on the scheduler and the
workers) and records each outcome as it arrives (`record`: the table's journal), writing the whole table every
few seconds. A re-run skips granules recorded as repaired and, for the others, first looks at the target: one
already repaired from the same product is recorded, not redone.

A run killed at any point (even by SIGKILL) leaves every target granule absent or complete: a local granule is
written under a hidden temporary name and renamed, an S3 object appears whole at the end of its PUT (or of its
multipart upload). While it runs, the driver holds the lock of every local folder it writes into
(staging.folder_lock), and a run first removes what a killed one left there (staging.remove_leftover_staging).
In place, the backup is made before the granule is replaced, and a backup that is still the very granule (the
run was killed between the two) is taken as the original again.
"""

import contextlib
import dataclasses
import logging
import resource
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from hyp3_s1_m11m12.campaign.table import Action, RepairStatus
from hyp3_s1_m11m12.campaign.transfer import exists, fetch, location_name, store_s3
from hyp3_s1_m11m12.errors import UserFacingError
from hyp3_s1_m11m12.products.granules.check import GranuleStatus, LazyS3Client, inspect_granule
from hyp3_s1_m11m12.products.granules.fix import BACKUP_SUFFIX, fix_granule
from hyp3_s1_m11m12.staging import folder_lock, remove_leftover_staging


log = logging.getLogger(__name__)

DEFAULT_WORKERS = 2
DEFAULT_MEMORY_LIMIT = '2GiB'
TASKS_IN_FLIGHT_PER_WORKER = 2
SAVE_EVERY_S = 5.0


@dataclass(frozen=True)
class RepairTask:
    index: int
    granule: str
    product: str
    target: str  # where the repaired granule goes; the granule itself when in place
    in_place: bool
    job_id: str | None
    s3_endpoint_url: str | None


@dataclass(frozen=True)
class RepairOutcome:
    index: int
    status: RepairStatus
    reason: str
    target: str | None = None
    backup: str | None = None
    already_done: bool = False
    worker: str = ''
    peak_rss_bytes: int = 0


def target_location(granule: str, target: str | None) -> str:
    """The repaired granule's location: `target` + the granule's S3 key (or file name); in place when None."""
    if target is None:
        return granule
    parsed = urlparse(granule)
    relative = parsed.path.lstrip('/') if parsed.scheme == 's3' else location_name(granule)
    if urlparse(target).scheme == 's3':
        return f'{target.rstrip("/")}/{relative}'
    return str(Path(target) / PurePosixPath(relative).name)


def already_repaired(target: str, product: str, s3_client: Callable[[], object]) -> bool:
    """The target is a granule repaired from `product` whose verdict is now ok."""
    check, metadata = inspect_granule(target, s3_client=s3_client)
    return (
        metadata is not None
        and check.status is GranuleStatus.OK
        and metadata.m11 is not None
        and metadata.m11.source_product == product
    )


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except ValueError:
        return 'local'


# libnetcdf is not thread-safe (two threads in it at once crash the process): the workers that are threads of one
# process (--no-processes, or a dask worker with several threads) take turns in fix_granule. Transfers overlap.
_NETCDF_LOCK = threading.Lock()

# One S3 client per worker process and endpoint, made on the first s3:// location (boto3 clients are thread-safe).
_S3_CLIENTS: dict[str | None, LazyS3Client] = {}


def repair_one(task: RepairTask) -> RepairOutcome:
    """Repair one granule; every failure becomes an outcome with its reason."""
    client = _S3_CLIENTS.setdefault(task.s3_endpoint_url, LazyS3Client(4, task.s3_endpoint_url))
    backup = f'{task.granule}{BACKUP_SUFFIX}' if task.in_place else None
    try:
        if exists(task.target, client) and already_repaired(task.target, task.product, client):
            outcome = RepairOutcome(task.index, RepairStatus.REPAIRED, 'already repaired', task.target, backup, True)
        else:
            _repair(task, client, backup)
            outcome = RepairOutcome(task.index, RepairStatus.REPAIRED, 'repaired', task.target, backup)
    except UserFacingError as error:
        outcome = RepairOutcome(task.index, RepairStatus.FAILED, str(error))
    except Exception as error:  # a bug or an unforeseen failure of one granule must not stop the others
        log.debug('repair of %s failed', task.granule, exc_info=True)
        outcome = RepairOutcome(task.index, RepairStatus.FAILED, f'{type(error).__name__}: {error}')
    return dataclasses.replace(outcome, worker=_worker_name(), peak_rss_bytes=_peak_rss())


def _repair(task: RepairTask, s3_client: Callable[[], object], backup: str | None) -> None:
    remote_target = urlparse(task.target).scheme == 's3'
    with tempfile.TemporaryDirectory(prefix='campaign-repair-') as work:
        folder = Path(work)
        granule = fetch(task.granule, folder, s3_client)
        product = fetch(task.product, folder, s3_client)
        options: dict[str, Any] = {'product_source': task.product, 'job_id': task.job_id}
        with _NETCDF_LOCK:
            if remote_target:
                fixed = fix_granule(granule, product, output=folder / f'repaired-{granule.name}', **options)
            elif task.in_place:
                fix_granule(granule, product, in_place=True, **options)
            else:
                fix_granule(granule, product, output=Path(task.target), overwrite=True, **options)
        if remote_target:
            store_s3(fixed.output, task.target, s3_client, backup=backup)


def plan_tasks(
    frame: pd.DataFrame, *, target: str | None, s3_endpoint_url: str | None
) -> tuple[list[RepairTask], list[int]]:
    """The tasks to run, and the rows that need a repair but cannot have one (reason recorded in `frame`)."""
    wanted = frame[(frame['action'] == Action.REPAIR.value) & (frame['repair_status'] != RepairStatus.REPAIRED.value)]
    tasks, blocked = [], []
    for index, row in wanted.iterrows():
        if pd.isna(row['product']):
            job_status = None if pd.isna(row['job_status']) else str(row['job_status'])
            if job_status == 'FAILED':
                reason = f'HyP3 job {row["job_id"]} failed; resubmit it (`campaign submit --retry-failed`)'
            elif pd.isna(row['job_id']):
                reason = 'no product: no HyP3 job was submitted for this pair (`campaign submit`)'
            elif job_status != 'SUCCEEDED':
                reason = f'no product yet: HyP3 job {row["job_id"]} is {job_status} (`campaign follow`)'
            else:
                reason = str(row['repair_reason']) if not pd.isna(row['repair_reason']) else 'no product for the pair'
            frame.loc[index, ['repair_status', 'repair_reason']] = [RepairStatus.FAILED.value, reason]
            blocked.append(int(str(index)))
            continue
        tasks.append(
            RepairTask(
                index=int(str(index)),
                granule=str(row['granule']),
                product=str(row['product']),
                target=target_location(str(row['granule']), target),
                in_place=target is None,
                job_id=None if pd.isna(row['job_id']) else str(row['job_id']),
                s3_endpoint_url=s3_endpoint_url,
            )
        )
    return tasks, blocked


@dataclass
class RepairReport:
    counts: Counter[str]
    failures: list[tuple[str, str]]  # (granule, reason)
    peak_rss_bytes: dict[str, int]  # per worker
    seconds: float

    def lines(self) -> list[str]:
        counts = ', '.join(f'{count} {name}' for name, count in sorted(self.counts.items())) or 'nothing to do'
        lines = [f'repair: {counts} in {self.seconds:.1f} s']
        lines += [f'  failed: {granule}: {reason}' for granule, reason in self.failures]
        for worker, peak in sorted(self.peak_rss_bytes.items()):
            lines.append(f'  peak memory of worker {worker}: {peak / 2**20:.0f} MiB')
        return lines


def _bounded(client: Any, tasks: list[RepairTask], in_flight: int) -> Iterator[RepairOutcome]:
    """Run `tasks` on `client` with at most `in_flight` submitted at a time; outcomes as they finish."""
    from distributed import as_completed

    pending = iter(tasks)
    first = [client.submit(repair_one, task, pure=False) for task in _take(pending, in_flight)]
    if not first:
        return
    completed = as_completed(first)
    for future in completed:
        yield future.result()
        future.release()
        for task in _take(pending, 1):
            completed.add(client.submit(repair_one, task, pure=False))


def _take(iterator: Iterator[RepairTask], count: int) -> list[RepairTask]:
    return [task for _, task in zip(range(count), iterator, strict=False)]


def open_client(
    scheduler: str | None, n_workers: int, memory_limit: str, processes: bool
) -> tuple[Any, Callable[[], None]]:
    """A dask client on `scheduler`, else on a new LocalCluster (one thread per worker); and how to close it."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        client = Client(scheduler, timeout=30)
        return client, client.close
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        memory_limit=memory_limit,
        processes=processes,
        dashboard_address=':0',
    )
    client = Client(cluster)

    def close() -> None:
        client.close()
        cluster.close()

    return client, close


def prepare_target(target: str | None) -> None:
    """Create a local target folder before any work.

    Raises:
        UserFacingError: it cannot be created.
    """
    if target is not None and urlparse(target).scheme != 's3':
        try:
            Path(target).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserFacingError(
                f'cannot create the target folder {target} ({error.strerror}); choose another'
            ) from None


def _hold_local_folders(tasks: list[RepairTask], stack: contextlib.ExitStack) -> None:
    """Lock every local folder the tasks write into and remove what a killed run left there (partial files).

    Raises:
        OutputError: another run is writing into one of them.
    """
    folders = sorted({Path(task.target).parent for task in tasks if urlparse(task.target).scheme != 's3'})
    for folder in folders:
        if not folder.is_dir():
            continue  # its granules fail with their own reason
        try:
            stack.enter_context(folder_lock(folder))
        except PermissionError:
            continue  # not writable: its granules fail with their own reason
        remove_leftover_staging(folder)


def _outcome_values(outcome: RepairOutcome) -> dict[str, object]:
    values: dict[str, object] = {'repair_status': outcome.status.value, 'repair_reason': outcome.reason}
    if outcome.status is RepairStatus.REPAIRED:
        values.update(repaired_granule=outcome.target, backup=outcome.backup)
    return values


def repair_campaign(
    frame: pd.DataFrame,
    *,
    target: str | None,
    scheduler: str | None = None,
    n_workers: int = DEFAULT_WORKERS,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    processes: bool = True,
    s3_endpoint_url: str | None = None,
    save: Callable[[pd.DataFrame], None] | None = None,
    record: Callable[[str, dict[str, object]], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, RepairReport]:
    """Repair every granule the table marks for repair that is not repaired yet; record each outcome in `frame`.

    `target` is a folder or s3:// prefix for the repaired granules; None repairs in place (with a .bak backup).
    `record(granule, values)` is called with each outcome's new column values as it arrives (before the next one
    is handled); `save(frame)` once the tasks are planned, every few seconds, and at the end.

    Raises:
        UserFacingError: the target folder cannot be created, another run writes into it, or `record`/`save` fail.
    """
    start = time.monotonic()
    prepare_target(target)
    tasks, blocked = plan_tasks(frame, target=target, s3_endpoint_url=s3_endpoint_url)
    counts: Counter[str] = Counter({'failed': len(blocked)} if blocked else {})
    failures = [(str(frame.at[index, 'granule']), str(frame.at[index, 'repair_reason'])) for index in blocked]
    peaks: dict[str, int] = {}
    if save is not None and blocked:
        save(frame)
    if tasks:
        with contextlib.ExitStack() as held:
            _hold_local_folders(tasks, held)
            client, close = open_client(scheduler, n_workers, memory_limit, processes)
            held.callback(close)
            workers = max(1, len(client.scheduler_info(n_workers=-1).get('workers', {})))
            last_save = time.monotonic()
            for done, outcome in enumerate(_bounded(client, tasks, workers * TASKS_IN_FLIGHT_PER_WORKER), start=1):
                values = _outcome_values(outcome)
                frame.loc[outcome.index, list(values)] = list(values.values())
                if record is not None:
                    record(str(frame.at[outcome.index, 'granule']), values)
                if outcome.status is RepairStatus.REPAIRED:
                    counts['already repaired' if outcome.already_done else 'repaired'] += 1
                else:
                    counts['failed'] += 1
                    failures.append((str(frame.at[outcome.index, 'granule']), outcome.reason))
                peaks[outcome.worker] = max(peaks.get(outcome.worker, 0), outcome.peak_rss_bytes)
                if progress is not None:
                    progress(done, len(tasks))
                if save is not None and time.monotonic() - last_save >= SAVE_EVERY_S:
                    save(frame)
                    last_save = time.monotonic()
    if save is not None:
        save(frame)
    return frame, RepairReport(counts, failures, peaks, time.monotonic() - start)
