import csv
import json
import shutil
import sys
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from hyp3_s1_m11m12.products.granules.check import GranuleStatus, check_granule, check_granules
from hyp3_s1_m11m12.products.granules.report import format_table, read_granule_list, run_check
from hyp3_s1_m11m12.simulate.granule import (
    simulated_granule_pair,
    synthetic_conversion_matrices,
    write_synthetic_granule,
)
from hyp3_s1_m11m12.workflows import check_granule as check_granule_workflow
from tests.support.granules import CaseFiles, build_case
from tests.support.shared import golden_cases


@pytest.fixture(scope='module', params=golden_cases())
def case(request, golden_dir, tmp_path_factory) -> CaseFiles:
    return build_case(golden_dir / request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory) -> dict[str, Path]:
    """Granules of a made-up 12-day pair: true, spoofed (int16 and float32), and one without M11/M12."""
    folder = tmp_path_factory.mktemp('synthetic')
    pair = simulated_granule_pair(12.0)
    files = {}
    for name, dt_days, dtype, matrices in (
        ('true_int16', 12.0, 'int16', True),
        ('spoofed_int16', 1.0, 'int16', True),
        ('true_float32', 12.0, 'float32', True),
        ('spoofed_float32', 1.0, 'float32', True),
        ('optical', 12.0, 'int16', False),
    ):
        files[name] = write_synthetic_granule(
            folder / f'{name}.nc',
            synthetic_conversion_matrices(dt_days),
            pair,
            m11m12_dtype=dtype,  # type: ignore[arg-type]
            include_matrices=matrices,
        )
    return files


def _copy_with_factor(source: Path, target: Path, factor: float) -> Path:
    shutil.copyfile(source, target)
    with netCDF4.Dataset(target, 'r+') as dataset:
        for name in ('M11', 'M12'):
            dataset[name].setncattr('dr_to_vr_factor', np.float64(factor))
    return target


@pytest.mark.golden
@pytest.mark.parametrize('dtype', ['int16', 'float32'])
def test_golden_spoofed_granule_is_spoofed_and_true_granule_ok(case, dtype):
    spoofed = check_granule(str(case.granules[('spoofed_dt', dtype)]))
    true = check_granule(str(case.granules[('true_dt', dtype)]))

    assert spoofed.status is GranuleStatus.SPOOFED, spoofed.detail
    assert spoofed.factor_ratio == pytest.approx(case.date_dt_days, rel=1e-9)
    assert true.status is GranuleStatus.OK, true.detail
    assert true.factor_ratio == pytest.approx(1.0, abs=1e-9)
    assert true.dr_to_vr_factor == pytest.approx(2.329562114715323 * 365 / case.date_dt_days, rel=1e-12)
    assert true.platforms.startswith('S1')
    if dtype == 'int16':  # the packing attributes give the matrices' magnitude for free
        for check in (spoofed, true):
            assert check.matrix_factor_product is not None
            assert 0.5 < check.matrix_factor_product < 0.75


@pytest.mark.parametrize('dtype', ['int16', 'float32'])
def test_synthetic_spoofed_and_true(synthetic, dtype):
    assert check_granule(str(synthetic[f'spoofed_{dtype}'])).status is GranuleStatus.SPOOFED
    assert check_granule(str(synthetic[f'true_{dtype}'])).status is GranuleStatus.OK


def test_float32_magnitude_needs_read_values(synthetic):
    quick = check_granule(str(synthetic['true_float32']))
    thorough = check_granule(str(synthetic['true_float32']), read_values=True)
    assert quick.matrix_factor_product is None
    assert 'not checked' in quick.detail
    assert thorough.matrix_factor_product == pytest.approx(0.61, abs=0.05)


def test_granule_without_matrices(synthetic):
    check = check_granule(str(synthetic['optical']))
    assert check.status is GranuleStatus.NO_M11M12
    assert 'no M11/M12' in check.detail


def test_factor_for_another_dt_is_inconsistent_with_the_ratio(synthetic, tmp_path):
    expected = 2.329562114715323 * 365 / 12.0
    granule = _copy_with_factor(synthetic['true_float32'], tmp_path / 'six_days.nc', 2 * expected)
    check = check_granule(str(granule))
    assert check.status is GranuleStatus.INCONSISTENT
    assert check.factor_ratio == pytest.approx(2.0)
    assert 'is 2 times' in check.detail and 'dt = 6 days' in check.detail


@pytest.mark.parametrize('read_values', [False, True])
def test_corrected_factor_with_1_day_matrices_is_inconsistent(synthetic, tmp_path, read_values):
    """Only dr_to_vr_factor was corrected: the int16 packing (or the values) show M11/M12 12 times too small."""
    source = synthetic['spoofed_int16'] if not read_values else synthetic['spoofed_float32']
    granule = _copy_with_factor(source, tmp_path / 'half_fixed.nc', 2.329562114715323 * 365 / 12.0)
    check = check_granule(str(granule), read_values=read_values)
    assert check.status is GranuleStatus.INCONSISTENT
    assert check.matrix_factor_product == pytest.approx(0.61 / 12, rel=0.1)
    assert 'matrices are about 12' in check.detail


def test_m11_and_m12_factors_differ(synthetic, tmp_path):
    granule = tmp_path / 'different.nc'
    shutil.copyfile(synthetic['true_int16'], granule)
    with netCDF4.Dataset(granule, 'r+') as dataset:
        dataset['M12'].setncattr('dr_to_vr_factor', np.float64(1.0))
    check = check_granule(str(granule))
    assert check.status is GranuleStatus.INCONSISTENT
    assert 'different dr_to_vr_factor' in check.detail


def test_missing_date_dt_is_unreadable(synthetic, tmp_path):
    granule = tmp_path / 'no_dt.nc'
    shutil.copyfile(synthetic['true_int16'], granule)
    with netCDF4.Dataset(granule, 'r+') as dataset:
        dataset['img_pair_info'].delncattr('date_dt')
    check = check_granule(str(granule))
    assert check.status is GranuleStatus.UNREADABLE
    assert 'date_dt' in check.detail


@pytest.mark.parametrize(
    ('make', 'message'),
    [
        (lambda source, path: path.write_bytes(source.read_bytes()[:5000]), 'truncated'),
        (lambda source, path: path.write_bytes(source.read_bytes()[: len(source.read_bytes()) // 2]), 'truncated'),
        (lambda source, path: path.write_text('granule,status\n'), 'not a readable NetCDF-4'),
        (lambda source, path: None, 'does not exist'),
    ],
    ids=['truncated_header', 'truncated_half', 'not_netcdf', 'missing'],
)
def test_unreadable_granules(synthetic, tmp_path, make, message):
    path = tmp_path / 'broken.nc'
    make(synthetic['true_int16'], path)
    check = check_granule(str(path))
    assert check.status is GranuleStatus.UNREADABLE
    assert message in check.detail


def test_unsupported_scheme_is_unreadable():
    check = check_granule('ftp://example.com/granule.nc')
    assert check.status is GranuleStatus.UNREADABLE
    assert 'unsupported URL scheme' in check.detail


def test_mixed_list_keeps_order_and_one_failure_stops_nothing(synthetic, tmp_path):
    truncated = tmp_path / 'truncated.nc'
    truncated.write_bytes(synthetic['true_int16'].read_bytes()[:20000])
    zero_factor = tmp_path / 'zero_factor.nc'
    shutil.copyfile(synthetic['true_int16'], zero_factor)
    with netCDF4.Dataset(zero_factor, 'a') as dataset:
        for name in ('M11', 'M12'):
            dataset[name].setncattr('dr_to_vr_factor', 0.0)
    locations = [
        str(synthetic['spoofed_int16']),
        str(truncated),
        str(synthetic['true_float32']),
        str(zero_factor),
        str(tmp_path / 'missing.nc'),
        str(synthetic['optical']),
        str(synthetic['spoofed_float32']),
    ]
    progress = []
    checks = check_granules(locations, workers=3, progress=lambda done, total, counts: progress.append(done))
    assert [check.granule for check in checks] == locations
    assert [check.status.value for check in checks] == [
        'spoofed',
        'unreadable',
        'ok',
        'inconsistent',
        'unreadable',
        'no_m11m12',
        'spoofed',
    ]
    assert 'dr_to_vr_factor is 0.0, not a positive number' in checks[3].detail
    assert sorted(progress) == list(range(1, 8))


def test_table_lists_every_granule_and_a_summary(synthetic):
    checks = check_granules([str(synthetic['spoofed_int16']), str(synthetic['true_int16'])], workers=2)
    table = format_table(checks)
    lines = table.splitlines()
    assert lines[0].split()[:2] == ['status', 'date_dt']
    assert lines[1].startswith('spoofed') and str(synthetic['spoofed_int16']) in lines[1]
    assert 'repair with fix_granule' in lines[1]
    assert lines[-1] == '2 granule(s): 1 ok, 1 spoofed, 0 no_m11m12, 0 inconsistent, 0 unreadable'


def test_granule_list_skips_blank_lines_and_comments(tmp_path):
    listing = tmp_path / 'granules.txt'
    listing.write_text('# V2 S1 granules\n\na.nc\n  s3://bucket/b.nc  \n# done\n')
    assert read_granule_list(listing) == ['a.nc', 's3://bucket/b.nc']


def test_cli_writes_csv_and_exits_0_with_spoofed_granules(synthetic, tmp_path, monkeypatch, capsys):
    listing = tmp_path / 'list.txt'
    listing.write_text(f'{synthetic["true_int16"]}\n{tmp_path / "missing.nc"}\n')
    report = tmp_path / 'report.csv'
    monkeypatch.setattr(
        sys,
        'argv',
        ['check_granule', str(synthetic['spoofed_int16']), '--from-file', str(listing), '--output', str(report)],
    )
    check_granule_workflow.main()  # returns: no SystemExit although a granule is spoofed and one is missing

    captured = capsys.readouterr()
    assert 'spoofed' in captured.out and '3 granule(s): 1 ok, 1 spoofed' in captured.out
    assert '3/3 granules checked' in captured.err
    with report.open() as stream:
        rows = list(csv.DictReader(stream))
    assert [row['status'] for row in rows] == ['spoofed', 'ok', 'unreadable']
    assert float(rows[0]['factor_ratio']) == pytest.approx(12.0)
    assert rows[1]['dr_to_vr_factor'] == repr(2.329562114715323 * 365 / 12.0)
    assert rows[2]['date_dt_days'] == ''


def test_cli_writes_json(synthetic, tmp_path, monkeypatch):
    report = tmp_path / 'report.json'
    granules = [str(synthetic['spoofed_float32']), str(synthetic['optical'])]
    monkeypatch.setattr(sys, 'argv', ['check_granule', *granules, '--output', str(report), '--workers', '2'])
    check_granule_workflow.main()
    document = json.loads(report.read_text())
    assert document['counts'] == {'ok': 0, 'spoofed': 1, 'no_m11m12': 1, 'inconsistent': 0, 'unreadable': 0}
    assert [row['status'] for row in document['granules']] == ['spoofed', 'no_m11m12']
    assert document['granules'][0]['date_dt_days'] == 12.0
    assert document['granules'][1]['dr_to_vr_factor'] is None


@pytest.mark.parametrize(
    ('arguments', 'message'),
    [
        ([], 'no granule to check'),
        (['{granule}', '--output', '{tmp}/report.txt'], 'must end in .csv or .json'),
        (['{granule}', '--output', '{tmp}/missing/report.csv'], 'is not an existing folder'),
        (['--from-file', '{tmp}/missing.txt'], 'cannot read the granule list'),
    ],
    ids=['nothing', 'extension', 'folder', 'list'],
)
def test_cli_bad_arguments_exit_2_with_one_line(synthetic, tmp_path, monkeypatch, capsys, arguments, message):
    filled = [argument.format(granule=synthetic['true_int16'], tmp=tmp_path) for argument in arguments]
    monkeypatch.setattr(sys, 'argv', ['check_granule', *filled])
    with pytest.raises(SystemExit) as raised:
        check_granule_workflow.main()
    assert raised.value.code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error


def test_help_says_exit_status_is_0_for_spoofed_granules():
    text = check_granule_workflow.build_parser().format_help()
    assert 'Exit status: 0 when the check ran' in text


def test_run_check_returns_results_and_writes_nothing_without_output(synthetic, tmp_path, capsys):
    checks = run_check([str(synthetic['true_int16'])], workers=1)
    assert [check.status for check in checks] == [GranuleStatus.OK]
    assert list(tmp_path.iterdir()) == []
