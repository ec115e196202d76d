"""campaign submit/follow against the HyP3 stand-in: batches, names, reuse of submitted jobs, failed jobs."""

from pathlib import Path
from typing import Any

import pytest

from hyp3_s1_m11m12.campaign import hyp3
from hyp3_s1_m11m12.campaign.plan import plan_campaign
from hyp3_s1_m11m12.campaign.table import read_table
from hyp3_s1_m11m12.errors import UserFacingError
from hyp3_s1_m11m12.simulate.granule import (
    granule_name,
    simulated_granule_pair,
    synthetic_conversion_matrices,
    write_synthetic_granule,
)
from tests.support.hyp3_api import hyp3_stand_in


def planned(folder: Path, references: int) -> Path:
    """Spoofed granules of `references` distinct reference scenes, two secondaries each, planned."""
    folder.mkdir()
    matrices = synthetic_conversion_matrices(1.0)
    granules = []
    for index in range(references):
        for dt in (12.0, 24.0):
            pair = simulated_granule_pair(dt, satellite='S1A')
            reference = pair.reference_id.replace('20170203T162106', f'2017020{index + 1}T162106')
            pair = type(pair)(reference, pair.secondary_id, pair.reference_start, pair.dt_seconds)
            path = folder / granule_name(pair, 240.0, 80.0)
            granules.append(str(write_synthetic_granule(path, matrices, pair)))
    table = folder / 'campaign.parquet'
    plan_campaign(granules, table)
    return table


def test_batches_names_and_no_double_submission(tmp_path: Path) -> None:
    table = planned(tmp_path / 'g', references=3)

    def runner(job: dict[str, Any]) -> list[dict[str, Any]]:
        reference = job['job_parameters']['reference'][0]
        return [
            {'filename': f'{reference}_X_{secondary}_conversion_matrices.nc', 'size': 1, 'url': f'/p/{secondary}.nc'}
            for secondary in job['job_parameters']['secondary']
        ]

    with hyp3_stand_in(runner, page_size=2) as stand_in:
        client = hyp3.connect(stand_in.url, token='t')
        frame = hyp3.submit_jobs(read_table(table), client, batch_size=2)
        assert stand_in.posts == 2 and len(stand_in.jobs) == 3  # 3 references in batches of 2
        names = sorted(job['name'] for job in stand_in.jobs.values())
        assert names == sorted(hyp3.job_name(reference) for reference in set(frame['reference']))
        assert all(len(job['job_parameters']['secondary']) == 2 for job in stand_in.jobs.values())
        again = hyp3.submit_jobs(frame.copy(), client, batch_size=2)  # the paginated listing finds all three
        assert stand_in.posts == 2 and list(again['job_id']) == list(frame['job_id'])
        frame = hyp3.follow_jobs(frame, client, interval_s=0.1, timeout_s=30, report=lambda line: None)
    assert set(frame['job_status']) == {'SUCCEEDED'}
    assert all(row['product'] == f'/p/{row["secondary"]}.nc' for _, row in frame.iterrows())


def test_a_failed_job_is_recorded_and_resubmitted_only_when_asked(tmp_path: Path) -> None:
    table = planned(tmp_path / 'g', references=1)
    calls: list[str] = []

    def runner(job: dict[str, Any]) -> list[dict[str, Any]]:
        calls.append(job['job_id'])
        raise RuntimeError('Batch step exited with 1')

    with hyp3_stand_in(runner) as stand_in:
        client = hyp3.connect(stand_in.url, token='t')
        frame = hyp3.submit_jobs(read_table(table), client)
        frame = hyp3.follow_jobs(frame, client, interval_s=0.1, timeout_s=30, report=lambda line: None)
        assert set(frame['job_status']) == {'FAILED'} and set(frame['repair_status']) == {'failed'}
        assert all('failed; resubmit' in reason for reason in frame['repair_reason'])
        hyp3.submit_jobs(frame, client)
        assert stand_in.posts == 1  # not resubmitted behind the operator's back


def test_an_unreachable_api_is_one_line() -> None:
    with pytest.raises(UserFacingError, match='cannot use the HyP3 API at http://127.0.0.1:9'):
        hyp3.connect('http://127.0.0.1:9', token='t')
