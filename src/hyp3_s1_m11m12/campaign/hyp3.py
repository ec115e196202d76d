"""Submit a campaign's job list to a HyP3 deployment with hyp3_sdk, follow the jobs, collect their products.

One job per reference scene with all its secondaries (HyP3 job parameters `reference: [R]`, `secondary: [S...]`),
named `<prefix><reference>` so that a re-run finds the jobs it already submitted instead of paying for them again.
"""

import fnmatch
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import hyp3_sdk
import pandas as pd
from hyp3_sdk.exceptions import HyP3Error, HyP3SDKError

from hyp3_s1_m11m12 import network
from hyp3_s1_m11m12.campaign.table import Action, RepairStatus
from hyp3_s1_m11m12.errors import UserFacingError


log = logging.getLogger(__name__)

DEFAULT_API_URL = 'https://hyp3-api.asf.alaska.edu'
DEFAULT_JOB_TYPE = 'S1_CORRECTION_FIXED'
DEFAULT_NAME_PREFIX = 'm11m12_'
# HyP3 accepts at most 200 jobs per POST /jobs.
MAX_BATCH_SIZE = 200
PRODUCT_GLOB = '*_conversion_matrices.nc'
LEGACY_PRODUCT_NAME = 'conversion_matrices.nc'
PRODUCT_SEPARATOR = '_X_'
COMPLETE = ('SUCCEEDED', 'FAILED')


def connect(api_url: str = DEFAULT_API_URL, token: str | None = None) -> hyp3_sdk.HyP3:
    """A HyP3 client (an Earthdata bearer token, else ~/.netrc) whose requests follow the network policy.

    hyp3_sdk sets no timeout and no retries on its session: the policy's adapter gives every request its timeouts
    and retries GETs (job listings, job refreshes) on connection errors, 429 and 5xx; a POST (submitting jobs) is
    never retried, so a batch is never submitted twice.

    Raises:
        UserFacingError: authentication or the first request failed.
    """
    try:
        client = hyp3_sdk.HyP3(api_url, token=token)
        network.apply_policy(client.session)
        client.my_info()
    except (HyP3SDKError, OSError) as error:
        raise UserFacingError(
            f'cannot use the HyP3 API at {api_url} ({error}); check --api-url and your token'
        ) from None
    return client


def job_name(reference: str, prefix: str = DEFAULT_NAME_PREFIX) -> str:
    return f'{prefix}{reference}'


def product_pair(filename: str) -> tuple[str, str] | None:
    """(reference, secondary) of a `<reference>_X_<secondary>_conversion_matrices.nc` product name."""
    if not fnmatch.fnmatch(filename, PRODUCT_GLOB) or PRODUCT_SEPARATOR not in filename:
        return None
    stem = filename.removesuffix('_' + LEGACY_PRODUCT_NAME)
    reference, _, secondary = stem.partition(PRODUCT_SEPARATOR)
    return reference, secondary


def _to_process(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame['action'] == Action.REPAIR.value) & (frame['repair_status'] != RepairStatus.REPAIRED.value)]


def submit_jobs(
    frame: pd.DataFrame,
    client: hyp3_sdk.HyP3,
    *,
    job_type: str = DEFAULT_JOB_TYPE,
    batch_size: int = MAX_BATCH_SIZE,
    name_prefix: str = DEFAULT_NAME_PREFIX,
    include_geotiffs: bool = False,
    extra_parameters: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Submit one job per reference whose granules need a product and have none; record job names and ids.

    The jobs publish only each pair's NetCDF and quick-look unless `include_geotiffs`: the repair reads nothing
    else, and the GeoTIFFs would be most of each extra secondary's cost and of the bytes uploaded.

    References with a product for every pair, or with a job of the same name that has not failed, are skipped
    (the existing job's id is recorded).
    """
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise UserFacingError(f'--batch-size must be 1..{MAX_BATCH_SIZE}, not {batch_size}')
    todo = _to_process(frame)
    # Failed jobs are resubmitted only when asked (`campaign submit --retry-failed` clears their rows first).
    todo = todo[todo['product'].isna() & (todo['job_status'] != 'FAILED').fillna(True)]
    try:
        existing = {job.name: job for job in client.find_jobs(job_type=job_type) if job.status_code != 'FAILED'}
    except HyP3SDKError as error:
        raise UserFacingError(f'cannot list the HyP3 jobs ({error}); check --api-url and --job-type') from None
    prepared = []
    for reference, group in todo.groupby('reference', sort=True):
        name = job_name(str(reference), name_prefix)
        frame.loc[group.index, 'job_name'] = name
        if name in existing:
            frame.loc[group.index, ['job_id', 'job_status']] = [existing[name].job_id, existing[name].status_code]
            log.info('%s: job %s already submitted', reference, existing[name].job_id)
            continue
        secondaries = sorted(set(group['secondary'].dropna()))
        parameters = {
            'reference': [reference],
            'secondary': secondaries,
            'include_geotiffs': include_geotiffs,
            **(extra_parameters or {}),
        }
        prepared.append({'job_type': job_type, 'name': name, 'job_parameters': parameters})
    for start in range(0, len(prepared), batch_size):
        batch = prepared[start : start + batch_size]
        try:
            submitted = client.submit_prepared_jobs(batch)
        except HyP3SDKError as error:
            raise UserFacingError(
                f'HyP3 refused a batch of {len(batch)} job(s) ({error}); the table records those submitted so far'
            ) from None
        for job in submitted:
            rows = frame.index[frame['job_name'] == job.name]
            frame.loc[rows, ['job_id', 'job_status']] = [job.job_id, job.status_code]
        log.info('submitted %d job(s)', len(batch))
    return frame


def _product_locations(job: Any) -> dict[tuple[str, str] | None, str]:
    """The job's conversion-matrices products by pair (None: a legacy name that says no pair)."""
    products: dict[tuple[str, str] | None, str] = {}
    for item in job.files or []:
        filename = str(item.get('filename', ''))
        s3 = item.get('s3') or {}
        location = f's3://{s3["bucket"]}/{s3["key"]}' if s3.get('bucket') and s3.get('key') else item.get('url')
        if location is None:
            continue
        if filename == LEGACY_PRODUCT_NAME:
            products[None] = location
        elif (pair := product_pair(filename)) is not None:
            products[pair] = location
    return products


def record_job(frame: pd.DataFrame, job: Any) -> None:
    """Update the rows of `job`: status, and once complete the product of each pair or the reason there is none."""
    rows = frame.index[frame['job_id'] == job.job_id]
    frame.loc[rows, 'job_status'] = job.status_code
    if job.status_code == 'FAILED':
        frame.loc[rows, ['repair_status', 'repair_reason']] = [
            RepairStatus.FAILED.value,
            f'HyP3 job {job.job_id} failed; resubmit with `campaign submit --retry-failed`',
        ]
        return
    if job.status_code != 'SUCCEEDED':
        return
    products = _product_locations(job)
    expiration = job.expiration_time.isoformat() if job.expiration_time is not None else None
    for index in rows:
        pair = (frame.at[index, 'reference'], frame.at[index, 'secondary'])
        location = products.get(pair)
        if location is None and None in products and len(job.job_parameters.get('secondary', [])) == 1:
            location = products[None]  # a legacy product name: the job's only pair
        if location is None:
            frame.at[index, 'repair_status'] = RepairStatus.FAILED.value
            frame.at[index, 'repair_reason'] = f'HyP3 job {job.job_id} succeeded but made no product for this pair'
        else:
            frame.at[index, 'product'] = location
            frame.at[index, 'product_expiration'] = expiration


def follow_jobs(
    frame: pd.DataFrame,
    client: hyp3_sdk.HyP3,
    *,
    interval_s: float = 60.0,
    timeout_s: float = 3 * 3600.0,
    save: Callable[[pd.DataFrame], None] | None = None,
    report: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Poll the table's incomplete jobs until all are complete or `timeout_s` passes; record each as it completes.

    `save(frame)` is called after every poll that changed something, so a killed run loses nothing.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        pending = sorted(set(frame.loc[~frame['job_status'].isin(COMPLETE), 'job_id'].dropna()))
        changed = False
        for job_id in pending:
            try:
                job = client.get_job_by_id(job_id)
            except (HyP3Error, HyP3SDKError, OSError) as error:
                log.warning('cannot refresh job %s (%s); trying again at the next poll', job_id, error)
                continue
            recorded = frame.loc[frame['job_id'] == job_id, 'job_status'].iloc[0]
            if job.complete() or pd.isna(recorded) or job.status_code != recorded:
                record_job(frame, job)
                changed = True
        statuses = frame.dropna(subset=['job_id']).drop_duplicates('job_id')['job_status'].value_counts()
        report('jobs: ' + ', '.join(f'{count} {status}' for status, count in statuses.items()))
        if changed and save is not None:
            save(frame)
        still = frame.loc[~frame['job_status'].isin(COMPLETE), 'job_id'].dropna()
        if still.empty or time.monotonic() >= deadline:
            return frame
        time.sleep(interval_s)


def jobs_of(frame: pd.DataFrame) -> Sequence[str]:
    return sorted(set(frame['job_id'].dropna()))
