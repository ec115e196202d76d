"""Classify ITS_LIVE V2 Sentinel-1 granules by whether their M11/M12 carry the true repeat time or the 1-day spoof.

A granule's M11/M12 and dr_to_vr_factor scale with the repeat time dt Geogrid used: dr_to_vr_factor =
dr x 365 / dt_days (dr = 2.329562114715323 m for IW) and M11, M12 proportional to dt. hyp3-autorift's
s1_correction used dt = 1 day, so a granule patched with its output has dr_to_vr_factor = dr x 365 and matrices
too small by date_dt. The product |(M11, M12)| x dr_to_vr_factor = sin(incidence) / map scale factor does not
depend on dt (0.5-0.7 for IW), which tells whether the matrices and the factor were scaled together.
"""

import logging
import math
import multiprocessing
import os
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from enum import Enum

from hyp3_s1_m11m12.constants import DAYS_PER_YEAR, S1_IW_RANGE_PIXEL_SIZE_M
from hyp3_s1_m11m12.errors import UserFacingError
from hyp3_s1_m11m12.products.granules.metadata import GranuleMetadata, read_granule_metadata
from hyp3_s1_m11m12.products.granules.remote import ReadStats, is_remote, make_s3_client


log = logging.getLogger(__name__)

# date_dt comes from sensing mid-times, Geogrid's dt from burst starts: they differ by seconds over days (< 1e-4).
FACTOR_RELATIVE_TOLERANCE = 1e-3
# |(M11, M12)| x dr_to_vr_factor: sin(29-46 deg) / scale factor 0.9-1.1, with margin; 0.61-0.67 in the golden
# cases. Matrices left at 1 day under a true factor give 0.6 / date_dt (< 0.11 for S1's >= 6-day pairs).
MATRIX_FACTOR_PRODUCT_RANGE = (0.3, 1.2)
MATRIX_FACTOR_PRODUCT_NOMINAL = 0.62
DEFAULT_WORKERS = 16


class GranuleStatus(str, Enum):
    OK = 'ok'
    SPOOFED = 'spoofed'
    NO_M11M12 = 'no_m11m12'
    INCONSISTENT = 'inconsistent'
    UNREADABLE = 'unreadable'


@dataclass(frozen=True)
class GranuleCheck:
    """The verdict on one granule, with the numbers it rests on (None where unknown)."""

    granule: str
    status: GranuleStatus
    detail: str
    platforms: str = ''
    acquisition_date_img1: str | None = None
    acquisition_date_img2: str | None = None
    date_dt_days: float | None = None
    m11m12_dtype: str | None = None
    dr_to_vr_factor: float | None = None
    expected_dr_to_vr_factor: float | None = None
    # dr_to_vr_factor / expected: 1 when ok, about date_dt when spoofed.
    factor_ratio: float | None = None
    # |(M11, M12)| x dr_to_vr_factor; see MATRIX_FACTOR_PRODUCT_RANGE.
    matrix_factor_product: float | None = None
    epsg: int | None = None
    rows: int | None = None
    columns: int | None = None
    requests: int | None = None
    bytes_read: int | None = None


def expected_dr_to_vr_factor(date_dt_days: float) -> float:
    """dr x 365 / dt_days for Sentinel-1 IW (m/yr of slant-range velocity per pixel of displacement)."""
    return S1_IW_RANGE_PIXEL_SIZE_M * DAYS_PER_YEAR / date_dt_days


def _close(value: float, reference: float) -> bool:
    return abs(value / reference - 1.0) <= FACTOR_RELATIVE_TOLERANCE


def matrix_magnitude(metadata: GranuleMetadata) -> float | None:
    """|(M11, M12)|: measured when the values were read, else the midpoint of the int16 packing range (free)."""
    if metadata.matrix_magnitude is not None:
        return metadata.matrix_magnitude
    m11, m12 = metadata.m11, metadata.m12
    if m11 is None or m12 is None or m11.scale_factor is None or m12.scale_factor is None:
        return None
    # The packing maps [min, max] onto [-50, 50]: add_offset is the midpoint of each matrix's range.
    return math.hypot(m11.add_offset or 0.0, m12.add_offset or 0.0)


def classify(metadata: GranuleMetadata) -> tuple[GranuleStatus, str, dict[str, float | None]]:
    """The status of a granule, a sentence explaining it, and the numbers behind it."""
    numbers: dict[str, float | None] = {}
    m11, m12 = metadata.m11, metadata.m12
    if m11 is None or m12 is None:
        present = [name for name, matrix in (('M11', m11), ('M12', m12)) if matrix is not None]
        detail = f'only {present[0]} is present' if present else 'the granule has no M11/M12 variables'
        return GranuleStatus.NO_M11M12, detail, numbers

    date_dt = metadata.date_dt_days
    if date_dt is None and (metadata.product_dt_convention is not None or metadata.product_dt_days is not None):
        convention = metadata.product_dt_convention or 'legacy, no dt_convention: the 1-day spoofed dt'
        detail = (
            f'a conversion-matrices file, not a velocity granule (dt_convention {convention}, dt_days '
            f'{metadata.product_dt_days}); give it to fix_granule --conversion-matrices'
        )
        return GranuleStatus.UNREADABLE, detail, numbers
    if date_dt is None or date_dt <= 0:
        return GranuleStatus.UNREADABLE, f'img_pair_info has no usable date_dt ({date_dt})', numbers
    expected = expected_dr_to_vr_factor(date_dt)
    numbers['expected_dr_to_vr_factor'] = expected

    factor = m11.dr_to_vr_factor
    if factor is None or m12.dr_to_vr_factor is None:
        return (
            GranuleStatus.INCONSISTENT,
            'M11 or M12 has no usable dr_to_vr_factor (absent, or not a finite number)',
            numbers,
        )
    numbers['dr_to_vr_factor'] = factor
    if not (math.isfinite(factor) and factor > 0):
        return GranuleStatus.INCONSISTENT, f'dr_to_vr_factor is {factor}, not a positive number', numbers
    if not math.isclose(factor, m12.dr_to_vr_factor, rel_tol=1e-6):
        detail = f'M11 and M12 have different dr_to_vr_factor ({factor:.10g} and {m12.dr_to_vr_factor:.10g})'
        return GranuleStatus.INCONSISTENT, detail, numbers
    numbers['factor_ratio'] = factor / expected

    magnitude = matrix_magnitude(metadata)
    product = None if magnitude is None else magnitude * factor
    numbers['matrix_factor_product'] = product
    low, high = MATRIX_FACTOR_PRODUCT_RANGE
    matrices_off = product is not None and not low <= product <= high
    prefix = '' if metadata.is_sentinel1 else f'not a Sentinel-1 granule ({metadata.platforms or "unknown mission"}); '
    matrices_note = (
        f'M11/M12 x dr_to_vr_factor = {product:.3g}, not {low}-{high}: the matrices are about '
        f'{MATRIX_FACTOR_PRODUCT_NOMINAL / product:.3g} times off the factor'
        if matrices_off and product
        else ''
    )

    if _close(factor, expected):
        if matrices_off:
            return GranuleStatus.INCONSISTENT, f'{prefix}dr_to_vr_factor matches date_dt but {matrices_note}', numbers
        checked = '' if product is not None else ' (M11/M12 magnitude not checked: float32; use --read-values)'
        return GranuleStatus.OK, f'{prefix}dr_to_vr_factor matches date_dt = {date_dt:.6g} days{checked}', numbers
    if _close(factor, expected_dr_to_vr_factor(1.0)):
        if matrices_off:
            detail = f'{prefix}dr_to_vr_factor is the 1-day spoof but {matrices_note}'
            return GranuleStatus.INCONSISTENT, detail, numbers
        detail = (
            f'{prefix}dr_to_vr_factor = dr x 365 (1-day spoofed dt): M11/M12 are {date_dt:.6g} times too small '
            'and dr_to_vr_factor as many times too large; repair with fix_granule'
        )
        return GranuleStatus.SPOOFED, detail, numbers
    detail = (
        f'{prefix}dr_to_vr_factor is {factor / expected:.6g} times the {expected:.6g} expected for date_dt = '
        f'{date_dt:.6g} days (it implies dt = {expected_dr_to_vr_factor(1.0) / factor:.6g} days)'
    )
    if matrices_note:
        detail += f'; {matrices_note}'
    return GranuleStatus.INCONSISTENT, detail, numbers


def check_metadata(metadata: GranuleMetadata, stats: ReadStats | None = None) -> GranuleCheck:
    status, detail, numbers = classify(metadata)
    grid = metadata.grid
    return GranuleCheck(
        granule=metadata.location,
        status=status,
        detail=detail,
        platforms=metadata.platforms,
        acquisition_date_img1=metadata.acquisition_date_img1,
        acquisition_date_img2=metadata.acquisition_date_img2,
        date_dt_days=metadata.date_dt_days,
        m11m12_dtype=metadata.m11.dtype if metadata.m11 is not None else None,
        dr_to_vr_factor=numbers.get('dr_to_vr_factor'),
        expected_dr_to_vr_factor=numbers.get('expected_dr_to_vr_factor'),
        factor_ratio=numbers.get('factor_ratio'),
        matrix_factor_product=numbers.get('matrix_factor_product'),
        epsg=grid.epsg if grid is not None else None,
        rows=grid.shape[0] if grid is not None else None,
        columns=grid.shape[1] if grid is not None else None,
        requests=stats.requests if stats is not None and is_remote(metadata.location) else None,
        bytes_read=stats.bytes_read if stats is not None and is_remote(metadata.location) else None,
    )


class LazyS3Client:
    """One S3 client for all threads, created on the first s3:// granule."""

    def __init__(self, max_pool_connections: int, endpoint_url: str | None = None) -> None:
        self._lock = threading.Lock()
        self._client: object | None = None
        self._max_pool_connections = max_pool_connections
        self._endpoint_url = endpoint_url

    def __call__(self) -> object:
        with self._lock:
            if self._client is None:
                self._client = make_s3_client(self._max_pool_connections, self._endpoint_url)
            return self._client


def inspect_granule(
    location: str, *, s3_client: Callable[[], object] | None = None, read_values: bool = False
) -> tuple[GranuleCheck, GranuleMetadata | None]:
    """The verdict on one granule and its metadata (None when unreadable); never raises for a bad granule."""
    client = s3_client if s3_client is not None else LazyS3Client(1)
    stats = ReadStats()
    try:
        metadata = read_granule_metadata(location, s3_client=client, read_values=read_values, stats=stats)
        return check_metadata(metadata, stats), metadata
    except UserFacingError as error:
        return GranuleCheck(granule=location, status=GranuleStatus.UNREADABLE, detail=str(error)), None
    except Exception as error:  # one broken granule must never stop a run over thousands
        log.debug('unexpected error checking %s', location, exc_info=True)
        detail = f'{type(error).__name__}: {error}'
        return GranuleCheck(granule=location, status=GranuleStatus.UNREADABLE, detail=detail), None


def check_granule(
    location: str, *, s3_client: Callable[[], object] | None = None, read_values: bool = False
) -> GranuleCheck:
    """Check one granule; never raises for a bad granule: it is reported as unreadable with the reason."""
    return inspect_granule(location, s3_client=s3_client, read_values=read_values)[0]


ProgressCallback = Callable[[int, int, Counter[GranuleStatus]], None]


# A process reads granules on one core at most (h5py's global lock and the GIL: ~3-6 ms of CPU a granule); a large
# run is spread over processes, each with its own threads. Below this many granules a process' start (~1 s of
# imports) is not worth it.
PROCESS_THRESHOLD_GRANULES = 1000
# Granules a process is given at a time: enough for its threads, few enough for an even finish.
CHUNK_GRANULES = 200

Inspected = tuple[GranuleCheck, GranuleMetadata | None]
_process_state: dict[str, object] = {}


def default_processes(count: int) -> int:
    """Processes for a run of `count` granules: one per core for a large run, else this one alone."""
    return max(1, min(os.cpu_count() or 1, count // PROCESS_THRESHOLD_GRANULES))


def _start_process(threads: int, s3_endpoint_url: str | None) -> None:
    _process_state['client'] = LazyS3Client(threads, s3_endpoint_url)
    _process_state['threads'] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix='check_granule')


def _inspect_one(location: str, s3_client: LazyS3Client, read_values: bool) -> list[Inspected]:
    return [inspect_granule(location, s3_client=s3_client, read_values=read_values)]


def _inspect_chunk(locations: Sequence[str], read_values: bool) -> list[Inspected]:
    """In a worker process: `inspect_granule` on each location with the process' threads, in order."""
    client = _process_state['client']
    threads = _process_state['threads']
    assert isinstance(client, LazyS3Client) and isinstance(threads, ThreadPoolExecutor)
    return list(threads.map(lambda location: inspect_granule(location, s3_client=client, read_values=read_values),
                            locations))  # fmt: skip


def inspect_granules(
    locations: Sequence[str],
    *,
    workers: int = DEFAULT_WORKERS,
    read_values: bool = False,
    s3_endpoint_url: str | None = None,
    progress: ProgressCallback | None = None,
    processes: int | None = None,
) -> list[Inspected]:
    """`inspect_granule` on many granules concurrently (at most `workers` at a time), in the order of `locations`.

    The threads are spread over `processes` processes (default: `default_processes`). `progress(done, total,
    counts)` is called after each granule, from the calling thread.
    """
    if workers < 1:
        raise UserFacingError(f'--workers must be at least 1, not {workers}')
    processes = default_processes(len(locations)) if processes is None else max(1, min(processes, workers))
    results: list[Inspected | None] = [None] * len(locations)
    counts: Counter[GranuleStatus] = Counter()
    done = 0

    def record(index: int, result: Inspected) -> None:
        nonlocal done
        results[index] = result
        counts[result[0].status] += 1
        done += 1
        if progress is not None:
            progress(done, len(locations), counts)

    executor: Executor
    if processes == 1:
        s3_client = LazyS3Client(workers, s3_endpoint_url)
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix='check_granule')
        futures = {
            executor.submit(_inspect_one, location, s3_client, read_values): [index]
            for index, location in enumerate(locations)
        }
    else:
        # spawn, not fork: this process has threads (boto3's, h5py's state) that a fork would copy half-way.
        executor = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context('spawn'),
            initializer=_start_process,
            initargs=(-(-workers // processes), s3_endpoint_url),
        )
        futures = {}
        for start in range(0, len(locations), CHUNK_GRANULES):
            indices = list(range(start, min(start + CHUNK_GRANULES, len(locations))))
            futures[executor.submit(_inspect_chunk, [locations[index] for index in indices], read_values)] = indices
    with executor:
        try:
            for future in as_completed(futures):
                outcome = future.result()
                for index, result in zip(futures[future], outcome, strict=True):
                    record(index, result)
        except BaseException:
            executor.shutdown(wait=False, cancel_futures=True)
            raise
    return [result for result in results if result is not None]


def check_granules(
    locations: Sequence[str],
    *,
    workers: int = DEFAULT_WORKERS,
    read_values: bool = False,
    s3_endpoint_url: str | None = None,
    progress: ProgressCallback | None = None,
    processes: int | None = None,
) -> list[GranuleCheck]:
    """Check granules concurrently (at most `workers` at a time); results are in the order of `locations`."""
    inspected = inspect_granules(
        locations,
        workers=workers,
        read_values=read_values,
        s3_endpoint_url=s3_endpoint_url,
        progress=progress,
        processes=processes,
    )
    return [check for check, _ in inspected]
