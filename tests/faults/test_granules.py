"""Fault injection for the granule tools and the campaign: each case checks the exit code, the one-line message,
that nothing is left behind and that no original is modified."""

import hashlib
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import netCDF4
import pytest

from hyp3_s1_m11m12.campaign.table import read_table, write_table
from hyp3_s1_m11m12.products.conversion_matrices import Provenance, write_conversion_matrices
from hyp3_s1_m11m12.sentinel1.pairing import RepeatTime
from hyp3_s1_m11m12.simulate.granule import (
    GranulePair,
    granule_name,
    simulated_granule_pair,
    synthetic_conversion_matrices,
    write_synthetic_granule,
)
from hyp3_s1_m11m12.workflows import campaign, check_granule, fix_granule
from tests.support.granules import range_server
from tests.support.hyp3_api import hyp3_stand_in, moto_s3


WINDOW = (slice(20, 90), slice(30, 120))
READ_ONLY_FOLDER = Path('/proc')  # not writable even by root


def run_main(main: Callable[[], None], argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run a workflow's main() with `argv`: its exit code and its stderr."""
    capsys.readouterr()
    old = sys.argv
    sys.argv = [main.__module__.rsplit('.', 1)[-1], *argv]
    try:
        main()
        code = 0
    except SystemExit as exit:
        code = int(exit.code or 0)
    finally:
        sys.argv = old
    return code, capsys.readouterr().err


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def spoofed_granule(folder: Path, pair: GranulePair) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / granule_name(pair, 240.0, 80.0)
    return write_synthetic_granule(path, synthetic_conversion_matrices(1.0), pair, window=WINDOW)


def product(
    path: Path, pair: GranulePair, *, dt_days: float | None = None, epsg: int = 32632, **attributes: str
) -> Path:
    dt = pair.date_dt_days if dt_days is None else dt_days
    provenance = Provenance(
        software_version='test',
        repeat_time=RepeatTime(
            dt * 86400.0,
            pair.reference_id,
            pair.reference_start,
            pair.reference_start + timedelta(seconds=dt * 86400.0),
            pair.secondary_id,
        ),
        engine='numpy',
        engine_version='test',
    )
    written = write_conversion_matrices(
        synthetic_conversion_matrices(dt, epsg=epsg), path, provenance=provenance, dtype='float32', overwrite=True
    )
    if attributes:
        with netCDF4.Dataset(written, 'a') as dataset:
            dataset.setncatts(attributes)
    return written


def one_line(stderr: str, *fragments: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert 'Traceback' not in stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --- check_granule -------------------------------------------------------------------------------------------


def test_check_report_into_a_read_only_folder_fails_before_reading_any_granule(tmp_path, capsys):
    granule = spoofed_granule(tmp_path / 'served', simulated_granule_pair())
    with range_server(granule.parent) as (url, served):
        code, stderr = run_main(
            check_granule.main, [f'{url}/{granule.name}', '--output', str(READ_ONLY_FOLDER / 'report.csv')], capsys
        )
    assert code == 2
    one_line(stderr, 'not writable', 'choose another --output')
    assert served.requests == {}  # failed before checking anything
    assert not (READ_ONLY_FOLDER / 'report.csv').exists()


# --- fix_granule -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('kind', 'message'),
    [
        ('reference', 'was made for reference'),
        ('secondary', 'was made for secondary'),
        ('dt', 'was made for dt = 24 days'),
        ('rescale_true_dt', "dt_convention = 'true_dt'"),
    ],
)
def test_fix_refuses_a_product_of_another_pair(tmp_path, capsys, kind, message):
    pair = simulated_granule_pair(12.0)
    granule = spoofed_granule(tmp_path, pair)
    before = digest(granule)
    other = simulated_granule_pair(24.0)
    extra: list[str] = []
    if kind == 'reference':
        made_for = GranulePair(other.secondary_id, pair.secondary_id, pair.reference_start, pair.dt_seconds)
        matrices = product(tmp_path / 'p.nc', made_for)
    elif kind == 'secondary':
        made_for = GranulePair(pair.reference_id, other.secondary_id, pair.reference_start, pair.dt_seconds)
        matrices = product(tmp_path / 'p.nc', made_for)
    elif kind == 'dt':
        matrices = product(tmp_path / 'p.nc', pair, dt_days=24.0, dt_convention='true_dt')
    else:
        matrices = product(tmp_path / 'p.nc', pair, dt_convention='true_dt')
        extra = ['--rescale-spoofed']
    output = tmp_path / 'out.nc'
    argv = ['--granule', str(granule), '--conversion-matrices', str(matrices), '--output', str(output), *extra]
    code, stderr = run_main(fix_granule.main, argv, capsys)
    assert code == 2
    one_line(stderr, message)
    assert not output.exists() and digest(granule) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([granule.name, 'p.nc'])


# --- campaign ---------------------------------------------------------------------------------------------------


def test_plan_into_a_read_only_folder_fails_first(tmp_path, capsys):
    granule = spoofed_granule(tmp_path, simulated_granule_pair())
    code, stderr = run_main(
        campaign.main, ['plan', str(granule), '--table', str(READ_ONLY_FOLDER / 'c.parquet')], capsys
    )
    assert code == 2
    one_line(stderr, 'not writable')


def test_plan_records_unreadable_and_undetermined_pairs_and_goes_on(tmp_path, capsys):
    pair = simulated_granule_pair(12.0)
    good = spoofed_granule(tmp_path / 'g', pair)
    truncated = tmp_path / 'g' / granule_name(simulated_granule_pair(24.0), 240.0, 80.0)
    truncated.write_bytes(good.read_bytes()[:5000])
    renamed = tmp_path / 'g' / granule_name(simulated_granule_pair(36.0), 240.0, 80.0)
    renamed.write_bytes(good.read_bytes())  # its file name says another pair than its img_pair_info
    table = tmp_path / 'campaign.parquet'
    for _ in range(2):  # a re-plan over an existing table keeps its records
        argv = ['plan', str(good), str(truncated), str(renamed), '--table', str(table)]
        code, _ = run_main(campaign.main, argv, capsys)
        assert code == 0
    frame = read_table(table).set_index('granule')
    assert frame.loc[str(good), 'action'] == 'repair'
    assert frame.loc[str(truncated), 'verdict'] == 'unreadable' and frame.loc[str(truncated), 'action'] == 'none'
    assert frame.loc[str(renamed), 'action'] == 'none'
    assert 'the pair cannot be determined' in frame.loc[str(renamed), 'reason']
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        'campaign.csv',
        'campaign.jobs.csv',
        'campaign.parquet',
        'g',
    ]


@pytest.fixture
def planned(tmp_path, capsys) -> tuple[Path, list[Path], list[GranulePair]]:
    """Two spoofed granules of two pairs of one reference, planned; products not yet known."""
    pairs = [simulated_granule_pair(12.0), simulated_granule_pair(24.0)]
    granules = [spoofed_granule(tmp_path / 'granules', pair) for pair in pairs]
    table = tmp_path / 'campaign.parquet'
    code, _ = run_main(campaign.main, ['plan', *map(str, granules), '--table', str(table)], capsys)
    assert code == 0
    return table, granules, pairs


def set_rows(table: Path, **columns: Sequence[object]) -> None:
    frame = read_table(table)
    for column, values in columns.items():
        frame[column] = list(values)
    write_table(frame, table)


def repair(table: Path, target: Path, capsys) -> tuple[int, str]:
    argv = ['repair', '--table', str(table), '--target', str(target), '--n-workers', '1', '--no-processes']
    return run_main(campaign.main, argv, capsys)


@pytest.mark.parametrize(
    ('fault', 'reason'),
    [
        ('missing_product', 'does not exist'),
        ('other_grid', 'is on EPSG:32632 but'),
        ('failed_job', 'failed; resubmit it'),
        ('job_running', 'is RUNNING'),
    ],
)
def test_repair_records_a_bad_pair_and_repairs_the_other(tmp_path, capsys, planned, fault, reason):
    table, granules, pairs = planned
    before = [digest(granule) for granule in granules]
    good = product(tmp_path / 'good.nc', pairs[0])
    if fault == 'missing_product':
        bad: str | None = str(tmp_path / 'gone.nc')
        status = 'SUCCEEDED'
    elif fault == 'other_grid':
        bad, status = str(product(tmp_path / 'bad.nc', pairs[1], epsg=32633)), 'SUCCEEDED'
    else:
        bad, status = None, 'FAILED' if fault == 'failed_job' else 'RUNNING'
    set_rows(table, product=[str(good), bad], job_id=['job-1', 'job-2'], job_status=['SUCCEEDED', status])
    target = tmp_path / 'repaired'
    target.mkdir()
    code, stderr = repair(table, target, capsys)
    assert code == 3
    assert 'Traceback' not in stderr
    frame = read_table(table)
    assert list(frame['repair_status']) == ['repaired', 'failed']
    assert reason in frame.loc[1, 'repair_reason']
    assert sorted(path.name for path in target.iterdir()) == [granules[0].name]  # no partial file
    assert [digest(granule) for granule in granules] == before
    # Resumable: a second run redoes nothing for the repaired one and still reports the failure.
    repaired_bytes = digest(target / granules[0].name)
    code, _ = repair(table, target, capsys)
    assert code == 3 and digest(target / granules[0].name) == repaired_bytes


def test_repair_into_an_unwritable_folder_fails_before_any_granule(tmp_path, capsys, planned):
    table, granules, pairs = planned
    before = [digest(granule) for granule in granules]
    products = [str(product(tmp_path / f'p{n}.nc', pair)) for n, pair in enumerate(pairs)]
    set_rows(table, product=products, job_id=['j', 'j'], job_status=['SUCCEEDED', 'SUCCEEDED'])
    recorded = digest(table)
    code, stderr = repair(table, READ_ONLY_FOLDER / 'repaired', capsys)
    assert code == 2
    one_line(stderr, 'cannot create the target folder')
    assert digest(table) == recorded and [digest(granule) for granule in granules] == before


def test_an_s3_error_mid_repair_is_recorded_for_each_granule(tmp_path, capsys, planned):
    table, granules, pairs = planned
    before = [digest(granule) for granule in granules]
    products = [str(product(tmp_path / f'p{n}.nc', pair)) for n, pair in enumerate(pairs)]
    set_rows(table, product=products, job_id=['j', 'j'], job_status=['SUCCEEDED', 'SUCCEEDED'])
    with moto_s3(tmp_path, ('exists',)) as s3:
        argv = ['repair', '--table', str(table), '--target', 's3://no-such-bucket/v02', '--n-workers', '1']
        code, stderr = run_main(campaign.main, [*argv, '--no-processes'], capsys)
        assert 'Contents' not in s3.client.list_objects_v2(Bucket='exists')
    assert code == 3 and 'Traceback' not in stderr
    frame = read_table(table)
    assert list(frame['repair_status']) == ['failed', 'failed']
    assert all('no-such-bucket' in reason for reason in frame['repair_reason']), list(frame['repair_reason'])
    assert [digest(granule) for granule in granules] == before


def test_submit_with_an_unknown_job_type_is_one_line_and_keeps_the_table(tmp_path, capsys, planned):
    table, _, _ = planned
    before = digest(table)
    with hyp3_stand_in(lambda job: []) as hyp3:
        argv = ['submit', '--table', str(table), '--api-url', hyp3.url, '--token', 't', '--job-type', 'NOPE']
        code, stderr = run_main(campaign.main, argv, capsys)
    assert code == 2
    one_line(stderr, "unknown job type 'NOPE'")
    assert digest(table) == before and hyp3.jobs == {}
