"""The operator workflow end to end: spoofed V2 granules in S3 (moto), plan, submit to a HyP3 stand-in that runs
the project's s1_correction_fixed, follow, repair on dask, and every granule checks ok afterwards."""

import time
from pathlib import Path

import pytest
from distributed import LocalCluster

from hyp3_s1_m11m12.campaign.table import read_table
from hyp3_s1_m11m12.products.granules.check import GranuleStatus, LazyS3Client, check_granule
from hyp3_s1_m11m12.products.granules.metadata import read_granule_metadata
from hyp3_s1_m11m12.workflows.campaign import build_parser, run
from tests.campaign.scenes import PRODUCT_BUCKET, job_runner, make_scenes, write_spoofed_granules
from tests.support.hyp3_api import hyp3_stand_in, moto_s3


GRANULE_BUCKET = 'its-live-data'
REPAIRED_BUCKET = 'its-live-repaired'


def campaign(*arguments: str) -> int:
    return run(build_parser().parse_args(list(arguments)))


def test_plan_submit_follow_repair(tmp_path: Path) -> None:
    started = time.monotonic()
    scenes = make_scenes(tmp_path / 'scenes')
    granules = write_spoofed_granules(scenes, tmp_path / 'granules')
    table = tmp_path / 'campaign.parquet'
    with moto_s3(tmp_path, (GRANULE_BUCKET, PRODUCT_BUCKET, REPAIRED_BUCKET)) as s3:
        for granule in granules:
            s3.client.upload_file(str(granule), GRANULE_BUCKET, f'velocity_image_pair/sentinel1/v02/{granule.name}')
        runner = job_runner(scenes, tmp_path / 'jobs', s3.client, s3.endpoint)
        with hyp3_stand_in(runner, page_size=1) as hyp3:
            assert campaign('plan', f's3://{GRANULE_BUCKET}/velocity_image_pair/', '--table', str(table)) == 0
            planned = read_table(table)
            assert list(planned['verdict']) == ['spoofed', 'spoofed']
            assert list(planned['action']) == ['repair', 'repair']
            assert set(planned['reference']) == {scenes.reference}
            assert set(planned['secondary']) == {pair.secondary_scene.name for pair in scenes.pairs}
            assert set(planned['relative_orbit'].dropna()) and planned['mission'].tolist() == ['S1A', 'S1A']
            jobs = (tmp_path / 'campaign.jobs.csv').read_text().splitlines()
            assert len(jobs) == 2 and jobs[1].startswith(scenes.reference)  # one job: one reference, 2 secondaries

            api = ('--api-url', hyp3.url, '--token', 'test-token')
            assert campaign('submit', '--table', str(table), *api) == 0
            assert hyp3.posts == 1 and len(hyp3.jobs) == 1
            # A second submit finds the job by its name (paginated listing) and pays for nothing.
            assert campaign('submit', '--table', str(table), *api) == 0
            assert hyp3.posts == 1 and len(hyp3.jobs) == 1

            assert campaign('follow', '--table', str(table), *api, '--interval', '0.5', '--timeout', '120') == 0
            followed = read_table(table)
            (job_id,) = hyp3.jobs
            assert set(followed['job_id']) == {job_id} and set(followed['job_status']) == {'SUCCEEDED'}
            assert all(product.endswith('_conversion_matrices.nc') for product in followed['product'])
            # The campaign's jobs publish what the repair reads, the NetCDF (and its quick-look), no GeoTIFF.
            assert hyp3.jobs[job_id]['job_parameters']['include_geotiffs'] is False
            stored = [item['Key'] for item in s3.client.list_objects_v2(Bucket=PRODUCT_BUCKET)['Contents']]
            assert sorted(key.rsplit('.', 1)[1] for key in stored) == ['nc', 'nc', 'png', 'png']

        target = f's3://{REPAIRED_BUCKET}/v02'
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=':0') as cluster:
            address = cluster.scheduler_address
            assert campaign('repair', '--table', str(table), '--target', target, '--scheduler', address) == 0
            repaired = read_table(table)
            assert set(repaired['repair_status']) == {'repaired'}
            client = LazyS3Client(2, s3.endpoint)
            for _, row in repaired.iterrows():
                assert check_granule(row['repaired_granule'], s3_client=client).status is GranuleStatus.OK
                metadata = read_granule_metadata(row['repaired_granule'], s3_client=client)
                assert metadata.m11 is not None and metadata.m11.source_product == row['product']
                assert check_granule(row['granule'], s3_client=client).status is GranuleStatus.SPOOFED  # untouched
            # Idempotent: the re-run finds every granule done at the target and rewrites nothing.
            before = {
                item['Key']: item['ETag'] for item in s3.client.list_objects_v2(Bucket=REPAIRED_BUCKET)['Contents']
            }
            assert campaign('repair', '--table', str(table), '--target', target, '--scheduler', address) == 0
            after = {
                item['Key']: item['ETag'] for item in s3.client.list_objects_v2(Bucket=REPAIRED_BUCKET)['Contents']
            }
            assert before == after
    elapsed = time.monotonic() - started
    assert elapsed < 120, f'the end-to-end test took {elapsed:.0f} s'


@pytest.fixture(autouse=True)
def _quiet_dask(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('DASK_DISTRIBUTED__LOGGING__DISTRIBUTED', 'error')
