"""Hostile and oversized metadata: refused with a one-line error (exit code 2) before any large allocation,
never modifying the input."""

import hashlib
import os
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from hyp3_s1_m11m12.sentinel1.acquisition import open_acquisition
from hyp3_s1_m11m12.sentinel1.names import parse_scene_name
from hyp3_s1_m11m12.sentinel1.orbits import read_eof
from hyp3_s1_m11m12.sentinel1.safe import MAX_MEMBER_BYTES
from hyp3_s1_m11m12.simulate.acquisition import synthetic_scene
from hyp3_s1_m11m12.simulate.safe import write_synthetic_safe
from tests.faults.test_network import assert_one_line_exit_2, run


MIB = 1024 * 1024


@pytest.fixture
def safe(tmp_path) -> Path:
    return write_synthetic_safe(synthetic_scene(bursts_per_swath=2), tmp_path / 'in')


def digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else 'link'
        for path in sorted(folder.rglob('*'))
        if path.is_file() and not path.is_symlink()
    }


def first_annotation(safe: Path) -> Path:
    return min((safe / 'annotation').glob('*-vv-*.xml'))  # the polarisation that is read


def open_call(path: Path):
    return lambda: open_acquisition(path, orbit='annotation')


def test_zip_bomb_member_is_refused_without_inflating(tmp_path, capsys):
    scene = synthetic_scene(bursts_per_swath=2)
    source = write_synthetic_safe(scene, tmp_path / 'safe')
    bomb = tmp_path / f'{scene.name}.zip'
    with zipfile.ZipFile(bomb, 'w', zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob('*')):
            if path.is_file():
                name = f'{scene.name}.SAFE/{path.relative_to(source)}'
                if path == first_annotation(source):
                    with archive.open(name, 'w', force_zip64=True) as stream:  # 200 MiB of zeros, ~200 KB packed
                        for _ in range(200):
                            stream.write(bytes(MIB))
                else:
                    archive.write(path, name)
    assert bomb.stat().st_size < 2 * MIB
    before = hashlib.sha256(bomb.read_bytes()).hexdigest()
    tracemalloc.start()
    code, message = run(open_call(bomb), capsys)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert_one_line_exit_2(code, message, '200.0 MiB, more than the 32 MiB', 're-download the product')
    assert peak < 64 * MIB
    assert hashlib.sha256(bomb.read_bytes()).hexdigest() == before


def test_annotation_linked_to_dev_zero(safe, capsys):
    if not Path('/dev/zero').exists():
        pytest.skip('no /dev/zero')
    target = first_annotation(safe)
    target.unlink()
    target.symlink_to('/dev/zero')
    before = digest(safe)
    tracemalloc.start()
    code, message = run(open_call(safe), capsys)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert_one_line_exit_2(code, message, 'is not a regular file')
    assert peak < 16 * MIB and digest(safe) == before


def test_oversized_annotation_file(safe, capsys):
    target = first_annotation(safe)
    with target.open('r+b') as file:  # sparse: 40 MiB on paper, a few KB on disk
        file.truncate(40 * MIB)
    code, message = run(open_call(safe), capsys)
    assert_one_line_exit_2(code, message, f'more than the {MAX_MEMBER_BYTES // MIB} MiB')


def test_billion_laughs_annotation(safe, capsys):
    target = first_annotation(safe)
    target.write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><product>&c;</product>'
    )
    code, message = run(open_call(safe), capsys)
    assert_one_line_exit_2(code, message, 'refusing XML with a DTD or entity declarations')


def test_external_entity_in_the_manifest(safe, capsys):
    (safe / 'manifest.safe').write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><m>&x;</m>'
    )
    code, message = run(open_call(safe), capsys)
    assert_one_line_exit_2(code, message, 'manifest.safe', 'refusing XML')
    assert 'root:' not in message


def test_manifest_with_an_impossible_track(safe, capsys):
    manifest = safe / 'manifest.safe'
    text = manifest.read_text()
    start = text.index('<safe:relativeOrbitNumber type="start">') + len('<safe:relativeOrbitNumber type="start">')
    manifest.write_text(text[:start] + '999' + text[text.index('<', start) :])
    code, message = run(open_call(safe), capsys)
    assert_one_line_exit_2(code, message, "relativeOrbitNumber '999' is not a track 1..175")


def test_oversized_orbit_file(tmp_path, capsys):
    eof = tmp_path / 'S1A_OPER_AUX_POEORB_OPOD_20250101T000000_V20241231T000000_20250101T000000.EOF'
    with eof.open('wb') as file:
        file.truncate(100 * MIB)
    code, message = run(lambda: read_eof(eof), capsys)
    assert_one_line_exit_2(code, message, 'more than the 64 MiB')


def test_orbit_file_that_is_a_device(capsys):
    if not Path('/dev/zero').exists():
        pytest.skip('no /dev/zero')
    code, message = run(lambda: read_eof(Path('/dev/zero')), capsys)
    assert_one_line_exit_2(code, message, 'is not a regular file')


@pytest.mark.parametrize(
    ('name', 'fragment'),
    [
        ('S1E_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7', "unknown Sentinel-1 mission 'S1E'"),
        ('S1A_IW_GRDH_1SDV_20250406T022008_20250406T022035_058630_07421F_93A7', 'GRD products are not supported'),
        ('S1A_EW_SLC__1SDH_20250406T022008_20250406T022035_058630_07421F_93A7', 'EW acquisition mode'),
    ],
)
def test_unsupported_names(name, fragment, capsys):
    code, message = run(lambda: parse_scene_name(name), capsys)
    assert_one_line_exit_2(code, message, fragment)


def test_truncated_zip(tmp_path, capsys):
    scene = synthetic_scene(bursts_per_swath=2)
    path = write_synthetic_safe(scene, tmp_path, as_zip=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    code, message = run(open_call(path), capsys)
    assert_one_line_exit_2(code, message, 'not a readable zip', 'download the product again')
    assert not any(p.name.endswith('.partial') for p in tmp_path.iterdir())
    assert os.path.getsize(path) == len(data) // 2
