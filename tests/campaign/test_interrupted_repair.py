"""A `campaign repair` killed with SIGKILL at chosen points (tests/campaign/interrupted_repair.py stops the child
there, the test kills it): every target granule is absent or complete, no partial file or object is left visible
after the next run, backups are the originals, the table keeps every outcome recorded before the kill, and a re-run
repairs the rest, counting the granules it finds done as already repaired."""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest

from hyp3_s1_m11m12.campaign.plan import plan_campaign
from hyp3_s1_m11m12.campaign.table import journal_path, read_table, write_table
from hyp3_s1_m11m12.products.granules.check import GranuleStatus, LazyS3Client, check_granule
from hyp3_s1_m11m12.products.granules.fix import fix_granule
from hyp3_s1_m11m12.simulate.granule import (
    simulated_granule_pair,
    synthetic_conversion_matrices,
    write_spoofed_granule_and_product,
)
from hyp3_s1_m11m12.staging import LOCK_FILE_NAME, PARTIAL_FILE_PATTERN
from hyp3_s1_m11m12.workflows.campaign import build_parser, run
from tests.campaign.interrupted_repair import MARKER
from tests.support.hyp3_api import moto_s3


GRANULES = 12
JOB_ID = 'test-job'
CELLS = 40
GRANULE_PREFIX = 'velocity_image_pair/sentinel1/v02'
PROJECT = Path(__file__).resolve().parents[2]
# Only a hang is bounded: the child is stopped by its own marker, never by a guess of how long it takes.
CHILD_DEADLINE_S = 300


@dataclass(frozen=True)
class Campaign:
    table: Path
    granules: list[Path]  # the granules to repair (their pristine copies are in originals/)
    products: dict[str, Path]  # granule file name -> its pair's product
    expected: Path  # folder of each granule repaired by fix_granule in this process


def make_campaign(folder: Path) -> Campaign:
    for name in ('granules', 'products', 'originals', 'expected'):
        (folder / name).mkdir(parents=True)
    spoofed = synthetic_conversion_matrices(1.0, shape=(CELLS, CELLS))
    granules, products = [], {}
    for index in range(GRANULES):
        pair = simulated_granule_pair(6.0 + index)
        granule, product = write_spoofed_granule_and_product(
            pair, folder / 'granules', folder / 'products', cells=CELLS, spoofed=spoofed, software_version='test'
        )
        original = folder / 'originals' / granule.name
        shutil.copyfile(granule, original)
        expected = folder / 'expected' / granule.name
        fix_granule(original, product, output=expected, product_source=str(product), job_id=JOB_ID)
        granules.append(granule)
        products[granule.name] = product
    return Campaign(folder / 'campaign.parquet', granules, products, folder / 'expected')


def record_products(campaign: Campaign, locations: list[str], s3_endpoint_url: str | None = None) -> None:
    frame = plan_campaign(locations, campaign.table, s3_endpoint_url=s3_endpoint_url)
    assert set(frame['action']) == {'repair'}
    frame['product'] = [str(campaign.products[location.rsplit('/', 1)[-1]]) for location in frame['granule']]
    frame['job_id'] = JOB_ID
    frame['job_status'] = 'SUCCEEDED'
    write_table(frame, campaign.table)


def kill_at(point: str, count: int, arguments: list[str], scratch: Path) -> None:
    """Run `campaign repair ARGUMENTS` in a child that stops at the `count`-th `point`; SIGKILL it there."""
    scratch.mkdir(exist_ok=True)
    env = {**os.environ, 'TMPDIR': str(scratch), 'DASK_DISTRIBUTED__LOGGING__DISTRIBUTED': 'error'}
    command = [sys.executable, '-m', 'tests.campaign.interrupted_repair', point, str(count), *arguments]
    child = subprocess.Popen(
        command, cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    assert child.stdout is not None and child.stderr is not None
    lines: list[str] = []
    stopped = threading.Event()

    def watch() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line)
            if line.startswith(f'{MARKER} {point} {count}'):
                stopped.set()
                return
        stopped.set()

    threading.Thread(target=watch, daemon=True).start()
    stopped.wait(CHILD_DEADLINE_S)
    if child.poll() is None:
        os.killpg(child.pid, signal.SIGKILL)  # the child's own process group: the run and nothing else
    child.wait()
    errors = child.stderr.read()
    assert any(line.startswith(MARKER) for line in lines), (
        f'the run never reached {point} {count} (exit {child.returncode}): {"".join(lines)} {errors}'
    )
    assert child.returncode == -signal.SIGKILL


def netcdf_values(path: Path) -> dict[str, Any]:
    """Every variable's raw values and attributes, and the global attributes but `history` (it holds the time)."""
    with netCDF4.Dataset(path) as dataset:
        dataset.set_auto_maskandscale(False)
        attributes = {name: dataset.getncattr(name) for name in dataset.ncattrs() if name != 'history'}
        variables = {
            name: (np.asarray(variable[:]).tobytes(), {key: str(variable.getncattr(key)) for key in variable.ncattrs()})
            for name, variable in dataset.variables.items()
        }
    return {'attributes': attributes, 'variables': variables}


def assert_repaired(path: Path, campaign: Campaign, name: str) -> None:
    """`path` is the granule `name` repaired from its product: it opens, checks ok, and holds the expected bytes."""
    assert check_granule(str(path)).status is GranuleStatus.OK, path
    assert netcdf_values(path) == netcdf_values(campaign.expected / name), path


def repair_again(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    """Run `campaign repair` in this process; the counts its report prints."""
    capsys.readouterr()
    assert run(build_parser().parse_args(['repair', *arguments, '--no-processes'])) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith('repair: ')]
    return {name: int(count) for count, name in re.findall(r'(\d+) ([a-z ]+?)(?:,| in )', line)}


def assert_resumed(campaign: Campaign, recorded_before: int, counts: dict[str, int], at_target_unrecorded: int) -> None:
    frame = read_table(campaign.table)
    assert set(frame['repair_status']) == {'repaired'}
    assert not journal_path(campaign.table).exists()
    assert counts.get('failed', 0) == 0
    # Each granule not recorded before the kill is counted once: found done at the target, or repaired now.
    assert counts.get('repaired', 0) + counts.get('already repaired', 0) == GRANULES - recorded_before
    assert counts.get('already repaired', 0) >= at_target_unrecorded


def assert_folder_state(folder: Path, names: set[str], extra: set[str], killed: bool) -> None:
    """Only complete granules in `folder` (and `extra`); after the kill also partial files and the lock file."""
    for entry in folder.iterdir():
        if entry.name in names | extra:
            continue
        assert killed and (PARTIAL_FILE_PATTERN.match(entry.name) or entry.name == LOCK_FILE_NAME), entry.name


# point, k, granules found done at the target whose outcome never reached the table
LOCAL_TARGET_POINTS = [('stored', 3, 1), ('writing', 2, 0), ('recorded', 4, 0), ('saving', 3, 0)]


@pytest.mark.parametrize(('point', 'count', 'unrecorded'), LOCAL_TARGET_POINTS)
def test_killed_repair_into_a_folder(
    point: str, count: int, unrecorded: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    campaign = make_campaign(tmp_path)
    record_products(campaign, [str(path) for path in campaign.granules])
    target = tmp_path / 'repaired'
    arguments = ['--table', str(campaign.table), '--target', str(target), '--n-workers', '2']
    kill_at(point, count, [*arguments, '--no-processes'], tmp_path / 'scratch')

    names = {path.name for path in campaign.granules}
    frame = read_table(campaign.table)  # readable, with the journal of the killed run
    recorded = frame[frame['repair_status'] == 'repaired']
    if point == 'recorded':
        assert len(recorded) >= count
    for location in recorded['repaired_granule']:
        assert Path(location).is_file()  # what the table says is done is done
    assert_folder_state(target, names, set(), killed=True)
    for path in target.iterdir():
        if path.name in names:
            assert_repaired(path, campaign, path.name)
    if point == 'writing':
        assert any(PARTIAL_FILE_PATTERN.match(path.name) for path in target.iterdir())
    if point == 'saving':
        assert any(PARTIAL_FILE_PATTERN.match(path.name) for path in tmp_path.iterdir())
    for original in campaign.granules:
        assert original.read_bytes() == (tmp_path / 'originals' / original.name).read_bytes()

    counts = repair_again(arguments, capsys)
    assert_resumed(campaign, len(recorded), counts, unrecorded)
    assert sorted(path.name for path in target.iterdir()) == sorted(names)
    assert not [path for path in tmp_path.iterdir() if PARTIAL_FILE_PATTERN.match(path.name)]
    for name in names:
        assert_repaired(target / name, campaign, name)


@pytest.mark.parametrize(('point', 'count', 'unrecorded'), [('backup', 2, 0), ('stored', 3, 1)])
def test_killed_repair_in_place(
    point: str, count: int, unrecorded: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    campaign = make_campaign(tmp_path)
    granules = campaign.granules
    folder = granules[0].parent
    record_products(campaign, [str(path) for path in granules])
    arguments = ['--table', str(campaign.table), '--in-place', '--n-workers', '2']
    kill_at(point, count, [*arguments, '--no-processes'], tmp_path / 'scratch')

    names = {path.name for path in granules}
    backups = {f'{name}.bak' for name in names}
    recorded = read_table(campaign.table).query('repair_status == "repaired"')
    assert_folder_state(folder, names, backups, killed=True)
    for granule in granules:
        original = (tmp_path / 'originals' / granule.name).read_bytes()
        backup = granule.with_name(f'{granule.name}.bak')
        if backup.exists():
            assert backup.read_bytes() == original  # a backup is always the original
        if granule.read_bytes() != original:
            assert backup.exists()  # never a repaired granule without its backup
            assert_repaired(granule, campaign, granule.name)
    if point == 'backup':
        assert any(
            path.name in backups and path.read_bytes() == path.with_suffix('').read_bytes() for path in folder.iterdir()
        )

    counts = repair_again(arguments, capsys)
    assert_resumed(campaign, len(recorded), counts, unrecorded)
    assert sorted(path.name for path in folder.iterdir()) == sorted(names | backups)
    for granule in granules:
        assert_repaired(granule, campaign, granule.name)
        assert (
            granule.with_name(f'{granule.name}.bak').read_bytes()
            == (tmp_path / 'originals' / granule.name).read_bytes()
        )


@pytest.mark.parametrize(
    ('in_place', 'point', 'count', 'unrecorded'), [(False, 'stored', 3, 1), (True, 'putting', 2, 0)]
)
def test_killed_repair_on_s3(
    in_place: bool, point: str, count: int, unrecorded: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    campaign = make_campaign(tmp_path)
    # moto keeps its buckets per process, across tests: names of this test's own.
    granule_bucket, target_bucket = (f'{name}-{uuid.uuid4().hex[:12]}' for name in ('its-live-data', 'repaired'))
    with moto_s3(tmp_path, (granule_bucket, target_bucket)) as s3:
        for path in campaign.granules:
            s3.client.upload_file(str(path), granule_bucket, f'{GRANULE_PREFIX}/{path.name}')
        locations = [f's3://{granule_bucket}/{GRANULE_PREFIX}/{path.name}' for path in campaign.granules]
        record_products(campaign, locations, s3.endpoint)
        destination = ['--in-place'] if in_place else ['--target', f's3://{target_bucket}/v2']
        arguments = ['--table', str(campaign.table), *destination, '--n-workers', '2']
        kill_at(point, count, [*arguments, '--no-processes'], tmp_path / 'scratch')

        bucket = granule_bucket if in_place else target_bucket
        prefix = GRANULE_PREFIX if in_place else f'v2/{GRANULE_PREFIX}'
        client = LazyS3Client(2, s3.endpoint)
        names = {path.name for path in campaign.granules}
        backups = {f'{name}.bak' for name in names} if in_place else set()
        download = tmp_path / 'download'
        download.mkdir()

        def check_bucket(after_rerun: bool) -> None:
            keys = [item['Key'] for item in s3.client.list_objects_v2(Bucket=bucket).get('Contents', [])]
            assert all(key.startswith(f'{prefix}/') and key.rsplit('/', 1)[-1] in names | backups for key in keys)
            for key in keys:
                name = key.rsplit('/', 1)[-1]
                local = download / name
                s3.client.download_file(bucket, key, str(local))
                original = (tmp_path / 'originals' / name.removesuffix('.bak')).read_bytes()
                if name in backups:
                    assert local.read_bytes() == original
                elif not (in_place and local.read_bytes() == original and not after_rerun):
                    assert_repaired(local, campaign, name)
            present = {key.rsplit('/', 1)[-1] for key in keys}
            if after_rerun:
                assert present == names | backups
            assert s3.client.list_multipart_uploads(Bucket=bucket).get('Uploads', []) == []

        recorded = read_table(campaign.table).query('repair_status == "repaired"')
        for location in recorded['repaired_granule']:
            assert check_granule(location, s3_client=client).status is GranuleStatus.OK
        check_bucket(after_rerun=False)

        counts = repair_again(arguments, capsys)
        assert_resumed(campaign, len(recorded), counts, unrecorded)
        check_bucket(after_rerun=True)


@pytest.fixture(autouse=True)
def _quiet_dask(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('DASK_DISTRIBUTED__LOGGING__DISTRIBUTED', 'error')
