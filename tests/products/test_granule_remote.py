"""check_granule over HTTP (a local server honouring Range) and S3 (moto's server mode), both on 127.0.0.1."""

import io
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from hyp3_s1_m11m12.products.granules.check import GranuleStatus, check_granule, check_granules
from hyp3_s1_m11m12.products.granules.remote import INITIAL_FETCH_BYTES
from hyp3_s1_m11m12.products.granules.report import ProgressPrinter, run_check
from hyp3_s1_m11m12.simulate.granule import (
    simulated_granule_pair,
    synthetic_conversion_matrices,
    write_synthetic_granule,
)
from tests.support.granules import range_server


BUCKET = 'its-live-data-test'


@pytest.fixture(scope='module')
def served(tmp_path_factory) -> Path:
    """A folder of granules: a spoofed and a true one of a 500 x 600 grid (larger than the first range read)."""
    folder = tmp_path_factory.mktemp('served')
    pair = simulated_granule_pair(12.0)
    for name, dt_days in (('spoofed.nc', 1.0), ('true.nc', 12.0)):
        write_synthetic_granule(folder / name, synthetic_conversion_matrices(dt_days, shape=(500, 600)), pair)
    (folder / 'truncated.nc').write_bytes((folder / 'true.nc').read_bytes()[:100_000])
    return folder


def test_http_granules_are_read_with_a_few_range_requests(served):
    with range_server(served) as (url, log):
        spoofed = check_granule(f'{url}/spoofed.nc')
        true = check_granule(f'{url}/true.nc')

    assert spoofed.status is GranuleStatus.SPOOFED, spoofed.detail
    assert true.status is GranuleStatus.OK, true.detail
    size = (served / 'true.nc').stat().st_size
    assert size > 5 * INITIAL_FETCH_BYTES
    for name, check in (('spoofed.nc', spoofed), ('true.nc', true)):
        assert check.bytes_read == log.bytes_sent[name]
        assert check.requests == log.requests[name]
        assert check.bytes_read is not None and check.bytes_read < size / 4
        assert check.requests is not None and check.requests <= 20


def test_http_server_without_range_support_still_works(served):
    with range_server(served, ranges=False) as (url, log):
        check = check_granule(f'{url}/spoofed.nc')
    assert check.status is GranuleStatus.SPOOFED
    # The whole file came in the first answer and was kept: no second request.
    assert log.requests['spoofed.nc'] == 1
    assert log.bytes_sent['spoofed.nc'] == (served / 'spoofed.nc').stat().st_size


@pytest.mark.parametrize(
    ('name', 'message'), [('missing.nc', 'HTTP 404'), ('truncated.nc', 'truncated')], ids=['missing', 'truncated']
)
def test_http_failures_are_unreadable(served, name, message):
    with range_server(served) as (url, _):
        check = check_granule(f'{url}/{name}')
    assert check.status is GranuleStatus.UNREADABLE
    assert message in check.detail


def test_many_http_granules_concurrently_with_progress(served, tmp_path):
    count = 60
    for index in range(count):
        os.link(served / ('spoofed.nc' if index % 2 else 'true.nc'), tmp_path / f'granule_{index:04d}.nc')
    with range_server(tmp_path) as (url, log):
        locations = [f'{url}/granule_{index:04d}.nc' for index in range(count)]
        locations.insert(17, f'{url}/gone.nc')
        stderr = io.StringIO()
        checks = check_granules(locations, workers=8, progress=ProgressPrinter(stderr, every=25))

    assert len(checks) == count + 1
    statuses = [check.status for check in checks]
    assert statuses[17] is GranuleStatus.UNREADABLE
    del statuses[17]
    assert statuses == [GranuleStatus.OK if index % 2 == 0 else GranuleStatus.SPOOFED for index in range(count)]
    lines = stderr.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ['25/61', '50/61', '61/61']
    assert lines[-1].startswith('check_granule: 61/61 granules checked (30 ok, 30 spoofed, 1 unreadable;')
    assert sum(log.requests.values()) <= 20 * count


@pytest.fixture(scope='module')
def s3_endpoint(served) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 with dummy credentials; AWS_ENDPOINT_URL points boto3 at it."""
    moto_server = pytest.importorskip('moto.server')
    server = moto_server.ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f'http://{host}:{port}'
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('AWS_ACCESS_KEY_ID', 'testing')
        patch.setenv('AWS_SECRET_ACCESS_KEY', 'testing')
        patch.setenv('AWS_DEFAULT_REGION', 'us-east-1')
        patch.setenv('AWS_ENDPOINT_URL', endpoint)
        patch.setenv('AWS_CONFIG_FILE', str(served / 'no-aws-config'))
        patch.setenv('AWS_SHARED_CREDENTIALS_FILE', str(served / 'no-aws-credentials'))
        client = boto3.client('s3')
        client.create_bucket(Bucket=BUCKET)
        for name in ('spoofed.nc', 'true.nc', 'truncated.nc'):
            client.upload_file(str(served / name), BUCKET, f'velocity_image_pair/sentinel1/v02/{name}')
        try:
            yield endpoint
        finally:
            server.stop()


def test_s3_granules(s3_endpoint, tmp_path, capsys):
    prefix = f's3://{BUCKET}/velocity_image_pair/sentinel1/v02'
    locations = [
        f'{prefix}/spoofed.nc',
        f'{prefix}/true.nc',
        f'{prefix}/truncated.nc',
        f'{prefix}/missing.nc',
        's3://no-such-bucket/granule.nc',
    ]
    checks = run_check(locations, output=tmp_path / 'report.json', workers=4)

    assert [check.status.value for check in checks] == ['spoofed', 'ok', 'unreadable', 'unreadable', 'unreadable']
    assert 'truncated' in checks[2].detail
    assert 'does not exist' in checks[3].detail
    assert 'no-such-bucket' in checks[4].detail
    assert checks[0].bytes_read is not None and checks[0].bytes_read < 200_000
    assert (tmp_path / 'report.json').is_file()
    assert '5/5 granules checked' in capsys.readouterr().err


def test_s3_endpoint_can_be_given_explicitly(s3_endpoint, monkeypatch):
    monkeypatch.delenv('AWS_ENDPOINT_URL')
    checks = check_granules(
        [f's3://{BUCKET}/velocity_image_pair/sentinel1/v02/true.nc'], workers=1, s3_endpoint_url=s3_endpoint
    )
    assert checks[0].status is GranuleStatus.OK, checks[0].detail
