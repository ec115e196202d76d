"""fix_granule --compute: the pair from the granule, its true-dt matrices made locally, the granule repaired."""

import sys
from pathlib import Path
from typing import Any

import pytest

from hyp3_s1_m11m12.products.granules.check import GranuleStatus, LazyS3Client, check_granule
from hyp3_s1_m11m12.products.granules.metadata import read_granule_metadata
from hyp3_s1_m11m12.workflows import fix_granule
from tests.campaign.scenes import make_scenes, write_spoofed_granules


def test_compute_repairs_a_spoofed_granule_without_hyp3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenes = make_scenes(tmp_path / 'scenes')
    granule = write_spoofed_granules(scenes, tmp_path / 'granules')[0]
    before = granule.read_bytes()
    assert check_granule(str(granule)).status is GranuleStatus.SPOOFED
    output = tmp_path / 'repaired.nc'
    argv = [
        'fix_granule', '--granule', str(granule), '--compute', '--output', str(output),
        '--scene-dir', str(scenes.pairs[0].reference.parent), '--parameter-file', str(scenes.parameter_file),
        '--orbit', 'annotation',
    ]  # fmt: skip
    made: list[Any] = []
    real = fix_granule.s1_correction_fixed

    def recorded(*args: Any, **kwargs: Any) -> Any:
        made.extend(real(*args, **kwargs))
        return made

    monkeypatch.setattr(fix_granule, 's1_correction_fixed', recorded)
    monkeypatch.setattr(sys, 'argv', argv)
    fix_granule.main()
    assert len(made) == 1 and made[0].geotiffs == ()  # only what the repair reads is made
    assert check_granule(str(output)).status is GranuleStatus.OK
    metadata = read_granule_metadata(str(output), s3_client=LazyS3Client(1))
    assert metadata.m11 is not None and 'computed locally by s1_correction_fixed' in (metadata.m11.source_product or '')
    assert granule.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ['granules', 'repaired.nc', 'scenes']
