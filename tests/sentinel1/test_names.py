from datetime import datetime

import pytest

from hyp3_s1_m11m12.errors import InvalidGranuleError
from hyp3_s1_m11m12.sentinel1.names import (
    parse_burst_name,
    parse_granule_name,
    parse_scene_name,
    relative_orbit,
)


def test_scene_name_fields():
    scene = parse_scene_name('S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7')
    assert scene.mission == 'S1A'
    assert scene.start == datetime(2025, 4, 6, 2, 20, 8)
    assert scene.stop == datetime(2025, 4, 6, 2, 20, 35)
    assert scene.absolute_orbit == 58630
    assert scene.relative_orbit == 108  # manifest.safe of this product says 108
    assert scene.primary_polarization == 'VV'
    assert scene.polarizations == ('VV', 'VH')
    assert scene.datatake_id == '07421F'


@pytest.mark.parametrize(
    ('name', 'mission', 'polarization', 'relative'),
    [
        ('S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4', 'S1B', 'VV', 168),
        ('S1A_IW_SLC__1SDH_20220414T102209_20220414T102236_042768_051AA4_E677.zip', 'S1A', 'HH', 171),
        ('S1B_IW_SLC__1SSV_20180628T151555_20180628T151555_011575_015476_33AD.SAFE', 'S1B', 'VV', 174),
        ('S1A_IW_SLC__1SSH_20200101T000000_20200101T000027_030000_037000_ABCD', 'S1A', 'HH', 3),
        ('S1C_IW_SLC__1SDV_20250401T000000_20250401T000027_001234_002345_ABCD', 'S1C', 'VV', 13),
    ],
)
def test_valid_scene_names(name, mission, polarization, relative):
    scene = parse_scene_name(name)
    assert (scene.mission, scene.primary_polarization, scene.relative_orbit) == (mission, polarization, relative)


def test_relative_orbits_from_manifests(s1_dir):
    # the manifests carry relativeOrbitNumber: the formula must reproduce it for S1A and S1B
    import re

    for safe in sorted(s1_dir.glob('*.SAFE')):
        text = (safe / 'manifest.safe').read_text()
        match = re.search(r'relativeOrbitNumber type="start">(\d+)<', text)
        assert match is not None
        expected = int(match[1])
        scene = parse_scene_name(safe.name)
        assert scene.relative_orbit == expected, safe.name


def test_burst_name_fields():
    burst = parse_burst_name('S1_136231_IW2_20200604T022312_VV_7C85-BURST')
    assert burst.relative_burst_id == 136231
    assert burst.swath == 'IW2'
    assert burst.polarization == 'VV'
    assert burst.start == datetime(2020, 6, 4, 2, 23, 12)
    assert burst.burst_key == '136231_IW2'
    assert parse_granule_name(burst.name) == burst


@pytest.mark.parametrize(
    ('name', 'message'),
    [
        ('S1A_IW_GRDH_1SDV_20250406T022008_20250406T022035_058630_07421F_93A7', 'GRD'),
        ('S1A_EW_SLC__1SDH_20250406T022008_20250406T022035_058630_07421F_93A7', 'EW'),
        ('S1A_WV_SLC__1SSV_20250406T022008_20250406T022035_058630_07421F_93A7', 'WV'),
        ('S1A_S3_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7', 'stripmap'),
        ('S1A_IW_RAW__0SDV_20250406T022008_20250406T022035_058630_07421F_93A7', 'RAW'),
        ('S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F', 'not a valid'),
        ('S1A_IW_SLC__1SDV_20251306T022008_20251306T022035_058630_07421F_93A7', 'not a valid date'),
        ('S1A_IW_SLC__1SDV_20250406T022035_20250406T022008_058630_07421F_93A7', 'before the start'),
        ('S1E_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7', 'unknown Sentinel-1 mission'),
        ('S1A_IW_SLC__1SVV_20250406T022008_20250406T022035_058630_07421F_93A7', 'not a valid'),
        ('', 'not a valid'),
        ('LC08_L1TP_001001_20200101_20200101_01_T1', 'not a valid'),
    ],
)
def test_invalid_scene_names(name, message):
    with pytest.raises(InvalidGranuleError, match=message) as error:
        parse_scene_name(name)
    assert 'supported' in str(error.value) or 'check the name' in str(error.value)


@pytest.mark.parametrize(
    'name',
    [
        'S1_136231_IW4_20200604T022312_VV_7C85-BURST',
        'S1_136231_IW2_20200604T022312_VX_7C85-BURST',
        'S1_13623_IW2_20200604T022312_VV_7C85-BURST',
        'S1_136231_IW2_20200604T022312_VV_7C85',
        'S1_136231_EW2_20200604T022312_HH_7C85-BURST',
        'S1_136231_IW2_20201304T022312_VV_7C85-BURST',
    ],
)
def test_invalid_burst_names(name):
    with pytest.raises(InvalidGranuleError):
        parse_granule_name(name)


def test_relative_orbit_rejects_unknown_mission():
    with pytest.raises(InvalidGranuleError, match='S1A, S1B, S1C'):
        relative_orbit('S2A', 100)
