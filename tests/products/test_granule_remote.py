"""check_granule over HTTP (a local server honouring Range) and S3 (moto's server mode), both on 127.0.0.1."""

import io
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from hyp3_s1_m11m12 import network
from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.products.granules import remote
from hyp3_s1_m11m12.products.granules.check import GranuleStatus, check_granule, check_granules
from hyp3_s1_m11m12.products.granules.metadata import assemble_metadata, metadata_reads, read_granule_metadata
from hyp3_s1_m11m12.products.granules.remote import INITIAL_FETCH_BYTES, ReadStats, make_s3_client
from hyp3_s1_m11m12.products.granules.report import ProgressPrinter, run_check
from hyp3_s1_m11m12.simulate.granule import (
    simulated_granule_pair,
    synthetic_conversion_matrices,
    write_synthetic_granule,
)
from tests.support.granules import range_server
from tests.support.http_server import started_moto_server
from tests.support.sentinel1_http import LocalServer, Route, ServerState


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
    pytest.importorskip('moto.server')
    server = started_moto_server()
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


class InMemory:
    """A `ByteSource` over bytes, recording each range asked for."""

    def __init__(self, data: bytes, location: str = 'memory://granule.nc') -> None:
        self.data = data
        self.location = location
        self.asked: list[tuple[int, int]] = []

    def fetch(self, start: int, stop: int) -> tuple[int, bytes, int]:
        self.asked.append((start, stop))
        return start, self.data[start:stop], len(self.data)


@pytest.fixture(scope='module')
def benchmark_granule(tmp_path_factory) -> Path:
    """A granule as the plan benchmark makes them: 400 x 400 cells, int16 M11/M12."""
    pair = simulated_granule_pair(6.0)
    folder = tmp_path_factory.mktemp('benchmark')
    return write_synthetic_granule(folder / 'g.nc', synthetic_conversion_matrices(1.0, shape=(400, 400)), pair)


def test_a_granule_is_read_in_six_requests_and_parsed_once(benchmark_granule, monkeypatch):
    """The fetch policy's cost, as counts: head, then the blocks of each round (root links -> headers -> heaps),
    neighbours coalesced; the file is opened by HDF5 once (a missing block fails only the read that met it)."""
    opened = []
    real_file = remote.h5py.File

    def counting_file(*args, **kwargs):
        opened.append(args[0])
        return real_file(*args, **kwargs)

    monkeypatch.setattr(remote.h5py, 'File', counting_file)
    source = InMemory(benchmark_granule.read_bytes())
    stats = ReadStats()
    parts = remote.read_remote_hdf5(source, metadata_reads(), stats)

    assert assemble_metadata(str(benchmark_granule), parts) == read_granule_metadata(
        str(benchmark_granule), s3_client=lambda: None
    )
    assert len([handle for handle in opened if isinstance(handle, remote.CachedFile)]) == 1
    assert stats.requests == len(source.asked) == 6
    assert source.asked[0] == (0, remote.INITIAL_FETCH_BYTES)
    assert all(start % remote.BLOCK_SIZE_BYTES == 0 for start, _ in source.asked)
    assert stats.bytes_read == 160 * 1024


@pytest.mark.parametrize('read_values', [False, True], ids=['metadata', 'values'])
@pytest.mark.parametrize(('block', 'gap'), [(512, 0), (4096, 0), (4096, 65536), (65536, 0)])
def test_reads_in_rounds_give_what_a_local_read_gives(served, monkeypatch, block, gap, read_values):
    """Misses fall elsewhere with each block size: every read retried on the open file must still be right."""
    monkeypatch.setattr(remote, 'BLOCK_SIZE_BYTES', block)
    monkeypatch.setattr(remote, 'COALESCE_GAP_BYTES', gap)
    for name in ('spoofed.nc', 'true.nc'):
        path = served / name
        local = read_granule_metadata(str(path), s3_client=lambda: None, read_values=read_values)
        parts = remote.read_remote_hdf5(InMemory(path.read_bytes()), metadata_reads(read_values), ReadStats())
        assert assemble_metadata(str(path), parts) == local
        assert (local.matrix_magnitude is not None) is read_values


def test_a_read_that_fails_on_all_its_bytes_is_decided_on_a_fresh_parse(served):
    def broken(h5file):
        h5file['M11'].attrs['dr_to_vr_factor']  # needs fetched blocks, then fails for a reason of its own
        raise ValueError('not a missing block')

    with pytest.raises(ValueError, match='not a missing block'):
        remote.read_remote_hdf5(InMemory((served / 'true.nc').read_bytes()), {'broken': broken}, ReadStats())
    with pytest.raises(ProductError, match='truncated or not a granule'):
        remote.read_remote_hdf5(InMemory(b'not HDF5' * 100), metadata_reads(), ReadStats())


def test_s3_reads_use_presigned_gets_not_boto3(s3_endpoint):
    client = make_s3_client()
    source = remote.byte_source(f's3://{BUCKET}/velocity_image_pair/sentinel1/v02/true.nc', lambda: client)
    stats = ReadStats()
    remote.read_remote_hdf5(source, metadata_reads(), stats)
    assert isinstance(source, remote.S3Source) and not source.through_boto3
    assert stats.requests >= 3


def test_the_network_policy_sets_the_s3_client_and_the_pool(monkeypatch):
    monkeypatch.setenv('HYP3_S1_M11M12_CONNECT_TIMEOUT_S', '3')
    monkeypatch.setenv('HYP3_S1_M11M12_READ_TIMEOUT_S', '7')
    monkeypatch.setenv('HYP3_S1_M11M12_RETRIES', '2')
    config = make_s3_client(endpoint_url='http://127.0.0.1:9').meta.config  # type: ignore[attr-defined]
    assert (config.connect_timeout, config.read_timeout) == (3.0, 7.0)
    assert config.retries['total_max_attempts'] == 3  # the first attempt and 2 retries
    pool = network.pool_for('http://127.0.0.1:9/granule.nc')
    assert pool.connection_pool_kw['timeout'].connect_timeout == 3.0
    assert pool.connection_pool_kw['timeout'].read_timeout == 7.0
    assert pool.connection_pool_kw['retries'].total == 2


def test_http_reads_retry_transient_errors_within_the_policy(served, monkeypatch):
    monkeypatch.setenv('HYP3_S1_M11M12_BACKOFF_S', '0.01')
    monkeypatch.setenv('HYP3_S1_M11M12_RETRIES', '2')
    state = ServerState(routes={'/true.nc': Route(body=(served / 'true.nc').read_bytes())}, fail_next=2)
    with LocalServer(state) as server:
        assert check_granule(f'{server.url}/true.nc').status is GranuleStatus.OK
        state.fail_next = 3
        failed = check_granule(f'{server.url}/true.nc')
    assert failed.status is GranuleStatus.UNREADABLE
    assert 'HTTP 503' in failed.detail


def test_processes_give_the_same_checks_in_the_same_order(served, monkeypatch):
    from hyp3_s1_m11m12.products.granules import check as check_module

    monkeypatch.setattr(check_module, 'CHUNK_GRANULES', 7)
    with range_server(served) as (url, _):
        locations = [f'{url}/{name}' for name in ('true.nc', 'spoofed.nc', 'truncated.nc', 'gone.nc') * 6]
        progress: list[int] = []
        spread = check_granules(
            locations, workers=4, processes=2, progress=lambda done, total, _: progress.append(done)
        )
        alone = check_granules(locations, workers=4, processes=1)
    assert spread == alone
    assert [check.status.value for check in spread[:4]] == ['ok', 'spoofed', 'unreadable', 'unreadable']
    assert progress == list(range(1, len(locations) + 1))
    assert check_module.default_processes(999) == 1
