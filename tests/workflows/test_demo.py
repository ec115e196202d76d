"""The offline demo, run exactly as scripts/demo.sh runs it."""

import re
import subprocess
import sys
from pathlib import Path

import netCDF4
import pytest

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.simulate.acquisition import RANGE_PIXEL_SIZE_M
from hyp3_s1_m11m12.workflows.s1_correction_fixed import product_names


def test_demo(tmp_path: Path) -> None:
    output_dir = tmp_path / 'demo output'
    result = subprocess.run(
        [sys.executable, '-m', 'hyp3_s1_m11m12.demo', '--output-dir', str(output_dir)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout

    dt_match = re.search(r'^dt:\s+([\d.]+) s = ([\d.]+) days$', result.stdout, re.MULTILINE)
    factor_match = re.search(r'^dr_to_vr_factor:\s+([\d.]+)$', result.stdout, re.MULTILINE)
    assert dt_match and factor_match, result.stdout
    dt_seconds = float(dt_match.group(1))
    assert float(dt_match.group(2)) == pytest.approx(dt_seconds / 86400, abs=1e-8)
    assert 12 * 86400 - 1 < dt_seconds < 12 * 86400 + 1
    assert float(factor_match.group(1)) == pytest.approx(RANGE_PIXEL_SIZE_M * constants.SECONDS_PER_YEAR / dt_seconds)

    (netcdf,) = output_dir.glob('*_X_*_conversion_matrices.nc')
    stem = netcdf.name.removesuffix('_conversion_matrices.nc')
    assert sorted(path.name for path in output_dir.iterdir()) == sorted([*product_names(stem), 'inputs'])
    for path in (output_dir / name for name in product_names(stem)):
        assert f'  {path}\n' in result.stdout
        assert path.is_file()
    inputs = output_dir / 'inputs'
    assert len(list(inputs.glob('S1A_IW_SLC__1SDV_*.zip'))) == 2
    assert len(list(inputs.glob('parameters/*.shp'))) == 1
    with netCDF4.Dataset(netcdf) as dataset:
        assert dataset['M11'].dtype.name == 'float32'
        assert dataset.getncattr('dt_convention') == 'true_dt'


def test_demo_help() -> None:
    result = subprocess.run(
        [sys.executable, '-m', 'hyp3_s1_m11m12.demo', '-h'], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0
    assert '--output-dir' in result.stdout
