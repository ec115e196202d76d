import hashlib
import os
import shutil
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from hyp3_s1_m11m12.errors import ProductError, UserFacingError
from hyp3_s1_m11m12.products.conversion_matrices import ConversionMatrices, Provenance, write_conversion_matrices
from hyp3_s1_m11m12.products.granules import fix as fix_module
from hyp3_s1_m11m12.products.granules.check import GranuleStatus, check_granule
from hyp3_s1_m11m12.products.granules.fix import fix_granule
from hyp3_s1_m11m12.sentinel1.pairing import RepeatTime
from hyp3_s1_m11m12.simulate.granule import (
    simulated_granule_pair,
    synthetic_conversion_matrices,
    write_synthetic_granule,
)
from hyp3_s1_m11m12.workflows import fix_granule as fix_granule_workflow
from tests.support.granules import (
    CaseFiles,
    assert_same_except_matrices,
    build_case,
    packing_step,
    read_matrices,
)
from tests.support.shared import golden_cases


DR_365 = 2.329562114715323 * 365


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope='module', params=golden_cases())
def case(request, golden_dir, tmp_path_factory) -> CaseFiles:
    return build_case(golden_dir / request.param, tmp_path_factory.mktemp(request.param))


def _assert_matrices_match(fixed: Path, true: Path, dtype: str) -> None:
    m11, m12, factor, valid_v = read_matrices(fixed)
    true_m11, true_m12, true_factor, true_valid_v = read_matrices(true)
    assert factor == pytest.approx(true_factor, rel=1e-12)
    assert np.array_equal(valid_v, true_valid_v)
    assert np.all(np.isnan(m11[~valid_v])) and np.all(np.isnan(m12[~valid_v]))
    for name, values, expected in (('M11', m11, true_m11), ('M12', m12, true_m12)):
        assert np.array_equal(np.isfinite(values), valid_v & np.isfinite(expected)), name
        both = np.isfinite(values)
        if dtype == 'int16':
            step = max(packing_step(fixed, name), packing_step(true, name))
            assert np.max(np.abs(values[both] - expected[both])) <= step, name
        else:
            np.testing.assert_allclose(values[both], expected[both], rtol=2e-7, err_msg=name)


@pytest.mark.golden
@pytest.mark.parametrize('dtype', ['int16', 'float32'])
def test_fix_turns_the_spoofed_granule_into_the_true_one(case, tmp_path, dtype):
    spoofed = case.granules[('spoofed_dt', dtype)]
    before = digest(spoofed)
    output = tmp_path / 'fixed.nc'

    result = fix_granule(spoofed, case.matrices['true_dt'], output=output)

    assert result.output == output and result.backup is None and result.rescale_factor is None
    assert result.m11m12_dtype == dtype
    assert digest(spoofed) == before, 'the original granule was modified'
    _assert_matrices_match(output, case.granules[('true_dt', dtype)], dtype)
    assert_same_except_matrices(spoofed, output)
    assert check_granule(str(output)).status is GranuleStatus.OK
    assert sorted(path.name for path in tmp_path.iterdir()) == ['fixed.nc']
    with netCDF4.Dataset(output) as dataset:
        history = dataset.getncattr('history')
    assert 'hyp3_s1_m11m12' in history and 'conversion_matrices_true_dt.nc' in history
    assert f'dt = {case.date_dt_days:.10g} days' in history


@pytest.mark.golden
@pytest.mark.parametrize('dtype', ['int16', 'float32'])
def test_rescale_spoofed_conversion_matrices(case, tmp_path, dtype):
    spoofed = case.granules[('spoofed_dt', dtype)]
    output = tmp_path / 'fixed.nc'

    result = fix_granule(spoofed, case.matrices['spoofed_dt'], output=output, rescale_spoofed=True)

    assert result.rescale_factor == pytest.approx(case.date_dt_days)
    assert result.dr_to_vr_factor == pytest.approx(DR_365 / case.date_dt_days, rel=1e-9)
    _assert_matrices_match(output, case.granules[('true_dt', dtype)], dtype)
    assert_same_except_matrices(spoofed, output)
    with netCDF4.Dataset(output) as dataset:
        assert 'rescaled from the 1-day spoofed dt by x' in dataset.getncattr('history')


@pytest.mark.golden
@pytest.mark.parametrize(('original', 'requested'), [('int16', 'float32'), ('float32', 'int16')])
def test_changing_the_m11m12_type_keeps_everything_else(case, tmp_path, original, requested):
    spoofed = case.granules[('spoofed_dt', original)]
    output = tmp_path / 'fixed.nc'

    result = fix_granule(spoofed, case.matrices['true_dt'], output=output, m11m12_dtype=requested)

    assert result.m11m12_dtype == requested
    with netCDF4.Dataset(output) as dataset:
        assert str(dataset['M11'].dtype) == requested
        assert ('scale_factor' in dataset['M11'].ncattrs()) == (requested == 'int16')
    _assert_matrices_match(output, case.granules[('true_dt', requested)], requested)
    assert_same_except_matrices(spoofed, output)


@pytest.fixture
def synthetic(tmp_path) -> dict[str, Path]:
    """A spoofed int16 granule of a made-up 12-day pair and its true conversion matrices."""
    pair = simulated_granule_pair(12.0)
    granule = write_synthetic_granule(
        tmp_path / 'granule.nc', synthetic_conversion_matrices(1.0), pair, window=(slice(20, 90), slice(30, 120))
    )
    matrices = _write_matrices(synthetic_conversion_matrices(12.0), tmp_path / 'conversion_matrices.nc')
    return {'granule': granule, 'matrices': matrices}


def _write_matrices(matrices: ConversionMatrices, path: Path) -> Path:
    start = datetime(2021, 4, 1)
    pair = simulated_granule_pair(12.0)
    timing = RepeatTime(12 * 86400.0, pair.reference_id, start, start + timedelta(days=12), pair.secondary_id)
    provenance = Provenance(software_version='test', repeat_time=timing, engine='t', engine_version='1')
    return write_conversion_matrices(matrices, path, provenance=provenance, dtype='float32', overwrite=True)


def test_synthetic_fix_gives_an_ok_granule(synthetic, tmp_path):
    output = tmp_path / 'out.nc'
    result = fix_granule(synthetic['granule'], synthetic['matrices'], output=output)
    assert check_granule(str(output)).status is GranuleStatus.OK
    assert result.dr_to_vr_factor == pytest.approx(DR_365 / 12.0)
    assert_same_except_matrices(synthetic['granule'], output)


def test_the_repair_records_the_product_provenance(synthetic, tmp_path):
    output = tmp_path / 'out.nc'
    pair = simulated_granule_pair(12.0)
    fix_granule(synthetic['granule'], synthetic['matrices'], output=output, product_source='s3://b/k.nc', job_id='j-1')
    with netCDF4.Dataset(output) as dataset:
        for name in ('M11', 'M12'):
            attributes = {key: dataset[name].getncattr(key) for key in dataset[name].ncattrs()}
            assert attributes['m11m12_source_product'] == 's3://b/k.nc'
            assert attributes['m11m12_source_reference_granule'] == pair.reference_id
            assert attributes['m11m12_source_hyp3_job_id'] == 'j-1'
            assert attributes['m11m12_source_dt_seconds'] == 12 * 86400.0
        assert 'HyP3 job j-1' in dataset.getncattr('history')


def test_check_granule_reports_a_conversion_matrices_file(synthetic):
    with netCDF4.Dataset(synthetic['matrices'], 'a') as dataset:
        dataset.setncattr('dt_convention', 'true_dt')
    result = check_granule(str(synthetic['matrices']))
    assert result.status is GranuleStatus.UNREADABLE
    assert 'a conversion-matrices file, not a velocity granule (dt_convention true_dt' in result.detail


def _shifted(matrices: ConversionMatrices, dx: float, dy: float) -> ConversionMatrices:
    geotransform = list(matrices.geotransform)
    geotransform[0] += dx
    geotransform[3] += dy
    return replace(matrices, x=matrices.x + dx, y=matrices.y + dy, geotransform=tuple(geotransform))  # type: ignore[arg-type]


def _bad_matrices(kind: str) -> ConversionMatrices:
    true = synthetic_conversion_matrices(12.0)
    if kind == 'crs':
        return replace(true, epsg=32633)
    if kind == 'spacing':
        return synthetic_conversion_matrices(12.0, spacing_m=120.0, shape=(300, 300))
    if kind == 'no_overlap':
        return _shifted(true, 240.0 * 2000, 0.0)
    if kind == 'partial_overlap':
        return _shifted(true, 240.0 * 100, 0.0)
    if kind == 'half_cell':
        return _shifted(true, 120.0, 0.0)
    if kind == 'another_dt':
        return synthetic_conversion_matrices(6.0)
    if kind == 'spoofed':
        return synthetic_conversion_matrices(1.0)
    raise ValueError(kind)


@pytest.mark.parametrize(
    ('kind', 'options', 'message'),
    [
        ('crs', {}, 'is on EPSG:32632 but conversion_matrices.nc on EPSG:32633'),
        ('spacing', {}, 'x spacing of 240 m but conversion_matrices.nc 120 m'),
        ('no_overlap', {}, 'do not overlap'),
        ('partial_overlap', {}, 'extends beyond conversion_matrices.nc'),
        ('half_cell', {}, 'shifted by a fraction of a cell'),
        ('another_dt', {}, 'made for dt = 6 days'),
        ('spoofed', {}, 'pass --rescale-spoofed'),
        ('another_dt', {'rescale_spoofed': True}, 'drop --rescale-spoofed'),
    ],
)
def test_bad_conversion_matrices(synthetic, tmp_path, kind, options, message):
    folder = tmp_path / 'bad'
    folder.mkdir()
    matrices = _write_matrices(_bad_matrices(kind), folder / 'conversion_matrices.nc')
    before = digest(synthetic['granule'])
    with pytest.raises(ProductError, match=message.replace('.', r'\.')):
        fix_granule(synthetic['granule'], matrices, output=tmp_path / 'out.nc', **options)
    assert digest(synthetic['granule']) == before
    assert not (tmp_path / 'out.nc').exists()
    assert not list(tmp_path.glob('.*partial'))


def test_an_existing_output_needs_overwrite(tmp_path, synthetic):
    output = tmp_path / 'out.nc'
    output.write_bytes(b'an earlier result')
    with pytest.raises(ProductError, match='already exists: use --overwrite'):
        fix_granule(synthetic['granule'], synthetic['matrices'], output=output)
    assert output.read_bytes() == b'an earlier result'
    fix_granule(synthetic['granule'], synthetic['matrices'], output=output, overwrite=True)
    with netCDF4.Dataset(output) as dataset:
        assert 'M11' in dataset.variables


def test_granule_without_m11m12(tmp_path, synthetic):
    optical = write_synthetic_granule(
        tmp_path / 'optical.nc',
        synthetic_conversion_matrices(12.0),
        simulated_granule_pair(12.0),
        include_matrices=False,
    )
    with pytest.raises(ProductError, match='has no M11/M12 variables'):
        fix_granule(optical, synthetic['matrices'], output=tmp_path / 'out.nc')
    assert not (tmp_path / 'out.nc').exists()


@pytest.mark.parametrize(
    ('variable', 'attribute', 'value', 'message'),
    [
        ('img_pair_info', 'date_dt', 'twelve', "img_pair_info:date_dt = 'twelve' is not a number"),
        ('img_pair_info', 'date_dt', -12.0, 'no positive date_dt'),
        ('mapping', 'spatial_epsg', 'UTM', "mapping:spatial_epsg = 'UTM' is not a number"),
    ],
)
def test_malformed_granule_attributes(tmp_path, synthetic, variable, attribute, value, message):
    granule = tmp_path / 'malformed.nc'
    shutil.copyfile(synthetic['granule'], granule)
    with netCDF4.Dataset(granule, 'a') as dataset:
        dataset[variable].setncattr(attribute, value)
    with pytest.raises(ProductError, match=message):
        fix_granule(granule, synthetic['matrices'], output=tmp_path / 'out.nc')
    assert not (tmp_path / 'out.nc').exists()


def test_truncated_granule(tmp_path, synthetic):
    truncated = tmp_path / 'truncated.nc'
    truncated.write_bytes(synthetic['granule'].read_bytes()[:30000])
    with pytest.raises(ProductError, match='truncated'):
        fix_granule(truncated, synthetic['matrices'], output=tmp_path / 'out.nc')


def test_truncated_conversion_matrices(tmp_path, synthetic):
    truncated = tmp_path / 'truncated_matrices.nc'
    truncated.write_bytes(synthetic['matrices'].read_bytes()[:4000])
    with pytest.raises(ProductError, match='truncated'):
        fix_granule(synthetic['granule'], truncated, output=tmp_path / 'out.nc')


def test_unwritable_output_under_a_regular_file(tmp_path, synthetic):
    regular_file = tmp_path / 'not_a_folder'
    regular_file.write_text('x')
    with pytest.raises(ProductError, match='not_a_folder is not a folder'):
        fix_granule(synthetic['granule'], synthetic['matrices'], output=regular_file / 'out.nc')


def test_output_that_is_the_granule_needs_in_place(synthetic):
    with pytest.raises(ProductError, match='use --in-place'):
        fix_granule(synthetic['granule'], synthetic['matrices'], output=synthetic['granule'])


def test_output_and_in_place_are_exclusive(synthetic, tmp_path):
    with pytest.raises(UserFacingError, match='either --output'):
        fix_granule(synthetic['granule'], synthetic['matrices'], output=tmp_path / 'o.nc', in_place=True)
    with pytest.raises(UserFacingError, match='either --output'):
        fix_granule(synthetic['granule'], synthetic['matrices'])


def test_in_place_keeps_a_backup(synthetic):
    granule = synthetic['granule']
    original = granule.read_bytes()
    result = fix_granule(granule, synthetic['matrices'], in_place=True)
    backup = granule.with_name('granule.nc.bak')
    assert result.output == granule and result.backup == backup
    assert backup.read_bytes() == original
    assert check_granule(str(granule)).status is GranuleStatus.OK
    assert check_granule(str(backup)).status is GranuleStatus.SPOOFED
    assert_same_except_matrices(backup, granule)
    assert not list(granule.parent.glob('.*partial'))


def test_in_place_refuses_to_overwrite_an_existing_backup(synthetic):
    granule = synthetic['granule']
    backup = granule.with_name('granule.nc.bak')
    backup.write_bytes(b'the only original')
    before = digest(granule)
    with pytest.raises(ProductError, match='already exists'):
        fix_granule(granule, synthetic['matrices'], in_place=True)
    assert digest(granule) == before and backup.read_bytes() == b'the only original'


@pytest.mark.parametrize('left_by', ['hard link', 'copy'])
def test_in_place_takes_a_backup_that_is_still_the_granule_as_the_original(synthetic, left_by):
    # What a fix killed between making the backup and replacing the granule leaves.
    granule = synthetic['granule']
    original = granule.read_bytes()
    backup = granule.with_name('granule.nc.bak')
    if left_by == 'hard link':
        os.link(granule, backup)
    else:
        backup.write_bytes(original)
    fix_granule(granule, synthetic['matrices'], in_place=True)
    assert backup.read_bytes() == original
    assert check_granule(str(granule)).status is GranuleStatus.OK
    # Now the backup is the only original: a second fix must refuse.
    with pytest.raises(ProductError, match='already exists'):
        fix_granule(granule, synthetic['matrices'], in_place=True)
    assert backup.read_bytes() == original


def test_in_place_failure_leaves_the_granule_untouched(synthetic, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(fix_module, '_update_in_place', fail)
    granule = synthetic['granule']
    before = digest(granule)
    with pytest.raises(ProductError, match='No space left on device'):
        fix_granule(granule, synthetic['matrices'], in_place=True)
    assert digest(granule) == before
    assert sorted(path.name for path in granule.parent.iterdir()) == ['conversion_matrices.nc', 'granule.nc']


def test_in_place_copies_the_backup_where_hard_links_are_refused(synthetic, monkeypatch):
    def no_link(source, target):
        raise PermissionError(1, 'Operation not permitted')

    monkeypatch.setattr(os, 'link', no_link)
    granule = synthetic['granule']
    original = granule.read_bytes()
    fix_granule(granule, synthetic['matrices'], in_place=True)
    assert granule.with_name('granule.nc.bak').read_bytes() == original
    assert granule.read_bytes() != original


def test_cli_fixes_and_reports_bad_input_on_one_line(synthetic, tmp_path, monkeypatch, capsys):
    output = tmp_path / 'out.nc'
    arguments = ['--granule', str(synthetic['granule']), '--conversion-matrices', str(synthetic['matrices'])]
    monkeypatch.setattr(sys, 'argv', ['fix_granule', *arguments, '--output', str(output), '--m11m12-dtype', 'float32'])
    fix_granule_workflow.main()
    with netCDF4.Dataset(output) as dataset:
        assert str(dataset['M11'].dtype) == 'float32'

    monkeypatch.setattr(
        sys, 'argv', ['fix_granule', *arguments, '--output', str(tmp_path / 'again.nc'), '--rescale-spoofed']
    )
    with pytest.raises(SystemExit) as raised:
        fix_granule_workflow.main()
    assert raised.value.code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and 'drop --rescale-spoofed' in error
    assert not (tmp_path / 'again.nc').exists()


def test_in_place_rename_failure_keeps_the_original_and_no_backup(synthetic, monkeypatch):
    def refuse(source, target):
        raise OSError(18, 'Invalid cross-device link')

    monkeypatch.setattr(os, 'replace', refuse)
    granule = synthetic['granule']
    before = digest(granule)
    with pytest.raises(ProductError, match='cross-device'):
        fix_granule(granule, synthetic['matrices'], in_place=True)
    assert digest(granule) == before
    assert sorted(path.name for path in granule.parent.iterdir()) == ['conversion_matrices.nc', 'granule.nc']
