"""Annotation and SAFE reading on the real metadata of ../shared/s1 and on hostile or broken inputs."""

import codecs
import zipfile
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree

import defusedxml.ElementTree
import pytest

from hyp3_s1_m11m12.errors import InvalidGranuleError, MetadataError
from hyp3_s1_m11m12.sentinel1 import annotation as annotation_module
from hyp3_s1_m11m12.sentinel1.acquisition import open_acquisition
from hyp3_s1_m11m12.sentinel1.annotation import parse_annotation, parse_xml
from hyp3_s1_m11m12.sentinel1.safe import is_junk, open_local_safe, read_safe_metadata


DR_M = 2.329562114715323
PRF_HZ = 486.48631029955294
REAL_PAIR_REFERENCE = 'S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7'


def _annotation_bytes(s1_dir: Path) -> bytes:
    safe = s1_dir / f'{REAL_PAIR_REFERENCE}.SAFE'
    return next((safe / 'annotation').glob('s1a-iw1-slc-vv-*.xml')).read_bytes()


@pytest.mark.parametrize(
    ('name', 'swaths', 'polarization', 'bursts_per_swath'),
    [
        ('S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE', ('IW1', 'IW2'), 'VV', None),
        ('S1A_IW_SLC__1SDH_20220414T102209_20220414T102236_042768_051AA4_E677.SAFE', ('IW1',), 'HH', None),
        ('S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768.zip', ('IW1', 'IW2', 'IW3'), 'VV', None),
        ('S1A_IW_SLC__1SDV_20221016T015043_20221016T015111_045461_056FC0_6681.zip', ('IW2',), 'VV', None),
        ('S1A_IW_SLC__1SDV_20230108T135249_20230108T135316_046693_0598D3_BA76.zip', ('IW2',), 'VV', None),
        (f'{REAL_PAIR_REFERENCE}.SAFE', ('IW1', 'IW2', 'IW3'), 'VV', 9),
        ('S1A_IW_SLC__1SDV_20250418T022008_20250418T022035_058805_074946_C7D4.SAFE', ('IW1', 'IW2', 'IW3'), 'VV', 9),
        ('S1B_IW_SLC__1SSV_20180628T151555_20180628T151555_011575_015476_33AD.SAFE', ('IW1', 'IW2', 'IW3'), 'VV', 1),
        ('S1B_IW_SLC__1SSV_20190705T151602_20190705T151602_017000_01FFC4_26ED.SAFE', ('IW1', 'IW2', 'IW3'), 'VV', 1),
    ],
)
def test_every_real_product_reads(s1_dir, name, swaths, polarization, bursts_per_swath):
    acquisition = open_acquisition(s1_dir / name, orbit='annotation')
    assert acquisition.granule == name.removesuffix('.zip').removesuffix('.SAFE')
    assert acquisition.swaths == swaths
    assert acquisition.polarization == polarization
    assert acquisition.mission == name[:3]
    for burst in acquisition.bursts:
        assert burst.range_pixel_size_m == pytest.approx(DR_M, rel=1e-12)
        assert burst.prf_hz == pytest.approx(PRF_HZ, rel=1e-6)
        assert 790e3 < burst.starting_range_m < burst.far_range_m < 1000e3
        assert burst.lines > 1000 and burst.samples > 15000
        assert burst.radar_frequency_hz == pytest.approx(5.405e9, rel=1e-6)
    if bursts_per_swath is not None:
        for swath in swaths:
            assert sum(burst.swath == swath for burst in acquisition.bursts) == bursts_per_swath
    assert acquisition.sensing_start < acquisition.sensing_stop
    assert acquisition.orbit.source == 'annotation'
    assert acquisition.orbit.start <= acquisition.sensing_start and acquisition.orbit.stop >= acquisition.sensing_stop
    footprint = acquisition.footprint_lonlat()
    assert len(footprint) >= 5 and footprint[0] == footprint[-1]
    geometry = acquisition.radar_geometry()
    assert geometry.sensing_start == acquisition.sensing_start
    assert abs((geometry.sensing_stop - acquisition.sensing_stop).total_seconds()) <= 0.5 / PRF_HZ


def test_burst_ids_are_read_when_present(s1_dir):
    acquisition = open_acquisition(s1_dir / f'{REAL_PAIR_REFERENCE}.SAFE', orbit='annotation')
    iw1 = [burst for burst in acquisition.bursts if burst.swath == 'IW1']
    assert [burst.relative_burst_id for burst in iw1] == list(range(230132, 230141))
    assert iw1[0].burst_id == '108_230132_IW1'
    assert iw1[0].absolute_burst_id == 125931166
    assert iw1[0].sensing_start == datetime(2025, 4, 6, 2, 20, 9, 449360)
    old = open_acquisition(
        s1_dir / 'S1B_IW_SLC__1SSV_20180628T151555_20180628T151555_011575_015476_33AD.SAFE', orbit='annotation'
    )
    assert all(burst.burst_id is None and burst.azimuth_anx_time_s is not None for burst in old.bursts)


def test_polar_hh_scene(s1_dir):
    acquisition = open_acquisition(
        s1_dir / 'S1A_IW_SLC__1SDH_20220414T102209_20220414T102236_042768_051AA4_E677.SAFE', orbit='annotation'
    )
    assert acquisition.polarization == 'HH'
    assert acquisition.relative_orbit == 171
    assert all(burst.polarization == 'HH' for burst in acquisition.bursts)
    with pytest.raises(MetadataError, match='no VV annotation for IW1'):
        open_acquisition(
            s1_dir / 'S1A_IW_SLC__1SDH_20220414T102209_20220414T102236_042768_051AA4_E677.SAFE',
            orbit='annotation',
            polarization='VV',
        )


def test_zip_with_leading_folder_matches_its_annotation(s1_dir, tmp_path):
    name = 'S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768'
    from_zip = open_acquisition(s1_dir / f'{name}.zip', orbit='annotation', swaths=['IW3'], polarization='VH')
    with zipfile.ZipFile(s1_dir / f'{name}.zip') as archive:
        member = next(n for n in archive.namelist() if '/annotation/s1a-iw3-slc-vh-' in n)
        expected = parse_annotation(archive.read(member), member)
    assert [burst.sensing_start for burst in from_zip.bursts] == [burst.sensing_start for burst in expected.bursts]
    assert from_zip.bursts[0].polarization == 'VH'


def test_swath_selection_and_missing_swath(s1_dir):
    iw2_only = s1_dir / 'S1A_IW_SLC__1SDV_20221016T015043_20221016T015111_045461_056FC0_6681.zip'
    with pytest.raises(MetadataError, match='no annotation for IW1'):
        open_acquisition(iw2_only, orbit='annotation', swaths=['IW1', 'IW2'])
    with pytest.raises(InvalidGranuleError, match='IW4'):
        open_acquisition(iw2_only, orbit='annotation', swaths=['IW4'])
    assert open_acquisition(iw2_only, orbit='annotation', swaths=['iw2']).swaths == ('IW2',)


def test_macos_junk_is_ignored(s1_dir):
    path = s1_dir / 'S1A_IW_SLC__1SDV_20230108T135249_20230108T135316_046693_0598D3_BA76.zip'
    with zipfile.ZipFile(path) as archive:
        assert any(is_junk(name) for name in archive.namelist())
    safe = open_local_safe(path)
    assert list(safe.annotation_members()) == [('IW2', 'VV')]
    assert read_safe_metadata(safe).annotations[0].swath == 'IW2'


def test_is_junk():
    assert is_junk('__MACOSX/x.SAFE/._manifest.safe')
    assert is_junk('x.SAFE/annotation/.DS_Store')
    assert is_junk('x.SAFE/annotation/._s1a-iw1-slc-vv-x.xml')
    assert not is_junk('x.SAFE/annotation/s1a-iw1-slc-vv-x.xml')


def test_calibration_noise_and_rfi_are_not_product_annotation(s1_dir):
    safe = open_local_safe(s1_dir / 'S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768.zip')
    members = safe.annotation_members()
    assert len(members) == 6
    assert all('/calibration/' not in member and '/rfi/' not in member for member in members.values())


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<product><adsHeader><missionId>&lol4;</missionId></adsHeader></product>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE product [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<product><adsHeader><missionId>&secret;</missionId></adsHeader></product>"""


@pytest.mark.parametrize('data', [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_hostile_xml_is_refused(data):
    with pytest.raises(MetadataError, match='refusing XML with a DTD or entity'):
        parse_annotation(data, 'hostile.xml')


def _disguised(document: bytes) -> list[bytes]:
    """`document` in the forms a byte search for its DTD would miss, or that would take another decoder."""
    text = document.decode()
    return [
        text.encode('utf-16'),  # with a byte-order mark
        text.encode('utf-16-le'),  # without one: expat still detects it
        text.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>').encode('utf-16-be'),
        codecs.BOM_UTF8 + document,
        document.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="cp037"?>'),
    ]


@pytest.mark.parametrize('form', range(5))
@pytest.mark.parametrize('data', [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_hostile_xml_is_refused_in_any_encoding(data, form):
    with pytest.raises(MetadataError, match='refusing XML with a DTD or entity|malformed XML'):
        parse_annotation(_disguised(data)[form], 'hostile.xml')


def test_the_c_parser_reads_annotation_as_defusedxml_does(s1_dir):
    """The fast path (no DTD: ElementTree's C parser) builds the same tree as defusedxml's parser."""
    safe = open_local_safe(s1_dir / 'S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768.zip')
    for member in list(safe.annotation_members().values())[:2]:
        data = safe.read(member)
        assert annotation_module._without_dtd(data)
        fast = parse_xml(data, member)
        reference = defusedxml.ElementTree.fromstring(data, forbid_dtd=True)
        assert ElementTree.tostring(fast) == ElementTree.tostring(reference)
    assert annotation_module._without_dtd(b'<?xml version="1.0" encoding="utf-8"?><a>&amp;&#65;</a>')
    assert parse_xml(b'<a>&amp;&#65;</a>', 'a.xml').text == '&A'
    with pytest.raises(MetadataError, match='malformed XML'):
        parse_xml(b'<a>&undeclared;</a>', 'a.xml')  # no DTD, so no entity but XML's own
    for other in (b'<?xml version="1.0" encoding="ISO-8859-5"?><a/>', b'\x00<a/>', b' <a/>', b'<a><!DOCTYPE</a>'):
        assert not annotation_module._without_dtd(other)  # left to defusedxml


def test_hostile_annotation_inside_a_safe(s1_dir, tmp_path):
    safe = tmp_path / f'{REAL_PAIR_REFERENCE}.SAFE'
    (safe / 'annotation').mkdir(parents=True)
    (safe / 'annotation' / 's1a-iw1-slc-vv-20250406t022009-20250406t022034-058630-07421f-004.xml').write_bytes(
        BILLION_LAUGHS
    )
    with pytest.raises(MetadataError, match='refusing XML'):
        open_acquisition(safe, orbit='annotation')


def test_malformed_xml():
    with pytest.raises(MetadataError, match='malformed XML'):
        parse_xml(b'<product><adsHeader></product>', 'broken.xml')


@pytest.mark.parametrize(
    ('old', 'new', 'message'),
    [
        (b'<linesPerBurst>1502</linesPerBurst>', b'', 'no <swathTiming/linesPerBurst>'),
        (b'<linesPerBurst>1502</linesPerBurst>', b'<linesPerBurst>many</linesPerBurst>', 'not an integer'),
        (b'<linesPerBurst>1502</linesPerBurst>', b'<linesPerBurst>1</linesPerBurst>', 'invalid annotation values'),
        (b'<slantRangeTime>5.339839490506816e-03</slantRangeTime>\n      <pixelValue>', b'<pixelValue>', 'slantRangeTime'),
        (b'<rangeSamplingRate>6.434523812571428e+07</rangeSamplingRate>', b'<rangeSamplingRate>nan</rangeSamplingRate>',
         'not finite'),
        (b'<mode>IW</mode>', b'<mode>EW</mode>', 'only Sentinel-1 IW SLC'),
        (b'<azimuthTime>2025-04-06T02:20:09.449360</azimuthTime>\n        <azimuthAnxTime>',
         b'<azimuthTime>yesterday</azimuthTime>\n        <azimuthAnxTime>', 'not a UTC time'),
    ],
)  # fmt: skip
def test_missing_or_invalid_elements(s1_dir, old, new, message):
    data = _annotation_bytes(s1_dir)
    assert old in data
    with pytest.raises(MetadataError, match=message):
        parse_annotation(data.replace(old, new, 1), 'edited.xml')


def test_annotation_without_bursts(s1_dir):
    data = _annotation_bytes(s1_dir)
    start, stop = data.index(b'<burstList'), data.index(b'</burstList>') + len(b'</burstList>')
    with pytest.raises(MetadataError, match='lists no bursts'):
        parse_annotation(data[:start] + b'<burstList count="0"/>' + data[stop:], 'no-bursts.xml')


def test_zip_without_annotation(tmp_path):
    path = tmp_path / f'{REAL_PAIR_REFERENCE}.zip'
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr(f'{REAL_PAIR_REFERENCE}.SAFE/manifest.safe', b'<xfdu/>')
        archive.writestr(f'{REAL_PAIR_REFERENCE}.SAFE/annotation/calibration/calibration-s1a-iw1-slc-vv-x.xml', b'<a/>')
    with pytest.raises(MetadataError, match='holds no Sentinel-1 product annotation'):
        open_acquisition(path, orbit='annotation')


def test_truncated_zip(s1_dir, tmp_path):
    data = (s1_dir / 'S1A_IW_SLC__1SDV_20221016T015043_20221016T015111_045461_056FC0_6681.zip').read_bytes()
    path = tmp_path / 'S1A_IW_SLC__1SDV_20221016T015043_20221016T015111_045461_056FC0_6681.zip'
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MetadataError, match='truncated or corrupt'):
        open_acquisition(path, orbit='annotation')


def test_corrupt_member(s1_dir, tmp_path):
    source = s1_dir / 'S1A_IW_SLC__1SDV_20221016T015043_20221016T015111_045461_056FC0_6681.zip'
    path = tmp_path / source.name
    with zipfile.ZipFile(source) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith('.xml'))
        offset = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 100
    data = bytearray(source.read_bytes())
    data[offset : offset + 50] = bytes(50)
    path.write_bytes(bytes(data))
    with pytest.raises(MetadataError, match='truncated or corrupt'):
        open_acquisition(path, orbit='annotation')


def test_two_products_in_one_zip(s1_dir, tmp_path):
    path = tmp_path / 'two.zip'
    with zipfile.ZipFile(path, 'w') as archive:
        for name in ('a', 'b'):
            archive.writestr(f'{name}.SAFE/annotation/s1a-iw1-slc-vv-x.xml', b'<product/>')
    with pytest.raises(MetadataError, match='several SAFE products'):
        open_acquisition(path, orbit='annotation')


@pytest.mark.parametrize(
    ('source', 'error', 'message'),
    [
        ('/nonexistent/S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7.zip', InvalidGranuleError,
         'does not exist'),
        ('S1A_IW_GRDH_1SDV_20250406T022008_20250406T022035_058630_07421F_93A7', InvalidGranuleError, 'GRD'),
        ('not-a-granule', InvalidGranuleError, 'supported'),
    ],
)  # fmt: skip
def test_bad_sources(source, error, message):
    with pytest.raises(error, match=message):
        open_acquisition(source, orbit='annotation')
