"""S1C on both sides of its June 2026 manoeuvre, S1D, and mixed-mission pairs, from relabelled real annotation.

The real 12-day S1A pair of ../shared/s1 (track 108, absolute orbits 58630 and 58805) is copied into a temporary
folder and relabelled as another satellite on absolute orbits of the same track, as ESA numbers them.
"""

import logging
import re
import shutil
from pathlib import Path

import pytest

from hyp3_s1_m11m12.errors import InvalidGranuleError
from hyp3_s1_m11m12.sentinel1.acquisition import open_acquisition
from hyp3_s1_m11m12.sentinel1.names import parse_scene_name, relative_orbit
from hyp3_s1_m11m12.sentinel1.pairing import repeat_time


REFERENCE = 'S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7'
SECONDARY = 'S1A_IW_SLC__1SDV_20250418T022008_20250418T022035_058805_074946_C7D4'
TRACK = 108
# Absolute orbits on track 108: (orbit - offset) mod 175 + 1 = 108
S1C_BEFORE = (7279, 7454)  # offset 172, orbits <= 8018
S1C_AFTER = (8431, 8606)  # offset 99 after the manoeuvre
S1D = (1899, 2074)  # offset 42


def relabel(s1_dir: Path, scene: str, mission: str, orbit: int, folder: Path, *, manifest: bool = True) -> Path:
    """A copy of a real SAFE as `mission` on absolute orbit `orbit` (names, annotation and manifest)."""
    old_orbit = int(scene.split('_')[7])
    name = scene.replace('S1A_', f'{mission}_', 1).replace(f'_{old_orbit:06d}_', f'_{orbit:06d}_')
    target = folder / f'{name}.SAFE'
    (target / 'annotation').mkdir(parents=True)
    for path in (s1_dir / f'{scene}.SAFE' / 'annotation').glob('*.xml'):
        text = path.read_text()
        text = text.replace('<missionId>S1A</missionId>', f'<missionId>{mission}</missionId>')
        text = text.replace(f'<absoluteOrbitNumber>{old_orbit}<', f'<absoluteOrbitNumber>{orbit}<')
        new_name = path.name.replace('s1a-', f'{mission.lower()}-', 1).replace(f'-{old_orbit:06d}-', f'-{orbit:06d}-')
        (target / 'annotation' / new_name).write_text(text)
    if manifest:
        text = (s1_dir / f'{scene}.SAFE' / 'manifest.safe').read_text()
        text = re.sub(r'(<safe:orbitNumber type="(?:start|stop)">)\d+<', rf'\g<1>{orbit}<', text)
        (target / 'manifest.safe').write_text(text)
    return target


@pytest.fixture
def real_pair(s1_dir):
    if not (s1_dir / f'{REFERENCE}.SAFE').is_dir():
        pytest.skip('the real pair is not in ../shared/s1')
    return s1_dir


def test_offset_table_knows_the_s1c_manoeuvre_and_s1d():
    """hyp3's check_same_relative_orbits: S1C offset 172 up to orbit 8018, 99 after; S1D 42."""
    assert relative_orbit('S1C', S1C_BEFORE[0]) == TRACK
    assert relative_orbit('S1C', 8018) == (8018 - 172) % 175 + 1
    assert relative_orbit('S1C', 8019) == (8019 - 99) % 175 + 1
    assert relative_orbit('S1C', S1C_AFTER[0]) == TRACK
    assert relative_orbit('S1D', S1D[0]) == TRACK
    # the old table {S1C: 172} put post-manoeuvre S1C on another track
    assert (S1C_AFTER[0] - 172) % 175 + 1 != TRACK


@pytest.mark.parametrize(
    ('mission', 'orbits'),
    [('S1C', S1C_BEFORE), ('S1C', S1C_AFTER), ('S1D', S1D)],
    ids=['S1C-before', 'S1C-after', 'S1D'],
)
def test_same_mission_pairs(mission, orbits, real_pair, tmp_path, caplog):
    reference = open_acquisition(relabel(real_pair, REFERENCE, mission, orbits[0], tmp_path), orbit='annotation')
    secondary = open_acquisition(relabel(real_pair, SECONDARY, mission, orbits[1], tmp_path), orbit='annotation')
    pair = repeat_time(reference, secondary)
    assert reference.mission == mission and reference.track_source == 'manifest'
    assert reference.relative_orbit == secondary.relative_orbit == TRACK
    assert pair.matched_burst_id is not None and pair.matched_burst_id.startswith(f'{TRACK:03d}_')
    assert pair.dt_seconds == pytest.approx(12 * 86400, abs=3.0)
    assert 'offset table' not in caplog.text  # the table agrees with the manifest


@pytest.mark.parametrize(
    ('reference_label', 'secondary_label'),
    [(('S1A', 58630), ('S1C', S1C_AFTER[1])), (('S1C', S1C_AFTER[0]), ('S1D', S1D[1]))],
    ids=['S1A+S1C', 'S1C+S1D'],
)
def test_mixed_mission_pairs(reference_label, secondary_label, real_pair, tmp_path):
    if reference_label[0] == 'S1A':
        reference_path = real_pair / f'{REFERENCE}.SAFE'
    else:
        reference_path = relabel(real_pair, REFERENCE, reference_label[0], reference_label[1], tmp_path)
    secondary_path = relabel(real_pair, SECONDARY, secondary_label[0], secondary_label[1], tmp_path)
    pair = repeat_time(
        open_acquisition(reference_path, orbit='annotation'), open_acquisition(secondary_path, orbit='annotation')
    )
    assert pair.reference_granule.startswith(reference_label[0])
    assert (pair.secondary_granule or '').startswith(secondary_label[0])
    assert pair.matched_burst_id is not None and pair.matched_burst_id.startswith('108_')
    assert pair.dt_seconds == pytest.approx(12 * 86400, abs=3.0)


def test_the_manifest_wins_over_a_stale_table(real_pair, tmp_path, caplog):
    """An orbit number the table places on another track: the manifest's track is used, with a warning."""
    caplog.set_level(logging.WARNING)
    acquisition = open_acquisition(relabel(real_pair, REFERENCE, 'S1C', 8500, tmp_path), orbit='annotation')
    assert relative_orbit('S1C', 8500) != TRACK
    assert acquisition.relative_orbit == TRACK
    assert all(burst.burst_id.startswith('108_') for burst in acquisition.bursts if burst.burst_id)
    assert 'the offset table' in caplog.text and 'using the metadata' in caplog.text


def test_without_a_manifest_the_table_decides(real_pair, tmp_path):
    path = relabel(real_pair, REFERENCE, 'S1C', S1C_AFTER[0], tmp_path, manifest=False)
    acquisition = open_acquisition(path, orbit='annotation')
    assert acquisition.track_source == 'offset table' and acquisition.relative_orbit == TRACK


def test_pair_across_tracks_names_problem_and_fix(real_pair, tmp_path):
    reference = open_acquisition(relabel(real_pair, REFERENCE, 'S1C', S1C_AFTER[0], tmp_path), orbit='annotation')
    other = tmp_path / 'other'
    secondary_path = relabel(real_pair, SECONDARY, 'S1D', S1D[1], other)
    manifest = secondary_path / 'manifest.safe'
    manifest.write_text(manifest.read_text().replace('type="start">108<', 'type="start">109<'))
    with pytest.raises(InvalidGranuleError, match='not on the same track; pair acquisitions of one relative orbit'):
        repeat_time(reference, open_acquisition(secondary_path, orbit='annotation'))


def test_s1d_names_are_accepted_and_unknown_missions_refused():
    name = parse_scene_name('S1D_IW_SLC__1SDV_20260406T022008_20260406T022035_001899_07421F_93A7')
    assert name.mission == 'S1D' and name.relative_orbit == TRACK
    with pytest.raises(InvalidGranuleError, match="unknown Sentinel-1 mission 'S1E'; supported are S1A, S1B, S1C, S1D"):
        parse_scene_name('S1E_IW_SLC__1SDV_20260406T022008_20260406T022035_001899_07421F_93A7')


def test_a_real_grd_name_is_named_as_grd():
    with pytest.raises(InvalidGranuleError, match='GRD products are not supported'):
        parse_scene_name('S1A_IW_GRDH_1SDV_20250406T022008_20250406T022035_058630_07421F_1A2B')


def test_tmp_copies_only(real_pair, tmp_path):
    """Relabelling writes only into the temporary folder; ../shared stays as it was."""
    before = sorted(p.name for p in (real_pair / f'{REFERENCE}.SAFE' / 'annotation').iterdir())
    relabel(real_pair, REFERENCE, 'S1D', S1D[0], tmp_path)
    assert sorted(p.name for p in (real_pair / f'{REFERENCE}.SAFE' / 'annotation').iterdir()) == before
    shutil.rmtree(tmp_path / next(iter(p.name for p in tmp_path.iterdir())))
