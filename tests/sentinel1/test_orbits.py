"""EOF parsing, coverage, gaps, the ISCE2 margin, and s1_orbits downloads from a server on 127.0.0.1."""

import itertools
import logging
from datetime import datetime, timedelta

import numpy as np
import pytest
import s1_orbits

from hyp3_s1_m11m12.errors import MetadataError, OrbitError
from hyp3_s1_m11m12.geometry.orbit import StateVector
from hyp3_s1_m11m12.sentinel1 import orbits
from hyp3_s1_m11m12.sentinel1.acquisition import open_acquisition
from hyp3_s1_m11m12.sentinel1.orbits import orbit_for_acquisition, parse_eof, read_eof, resolve_orbit
from hyp3_s1_m11m12.simulate.acquisition import synthetic_scene
from hyp3_s1_m11m12.simulate.safe import synthetic_eof, write_synthetic_safe
from tests.support.sentinel1_http import LocalServer, Route, ServerState


RESORB = 'S1A_OPER_AUX_RESORB_OPOD_20230823T162050_V20230823T123139_20230823T154909.EOF'


@pytest.fixture(scope='module')
def resorb(s1_dir):
    return read_eof(s1_dir / 'orbits' / RESORB)


def test_real_resorb_parses(resorb):
    assert len(resorb) == 1186
    assert resorb[0].time == datetime(2023, 8, 23, 12, 31, 39, 35127)
    assert resorb[0].position_m == (923782.276306, 7016372.549440, -39701.370546)
    assert resorb[0].velocity_m_s[0] == 1574.321485
    spacing = {(b.time - a.time).total_seconds() for a, b in itertools.pairwise(resorb)}
    assert spacing == {10.0}
    radius = np.linalg.norm([vector.position_m for vector in resorb], axis=1)
    assert np.all((radius > 7.0e6) & (radius < 7.1e6))


def test_resorb_keeps_the_isce2_margin(resorb):
    start = datetime(2023, 8, 23, 13, 0, 0, 500000)
    stop = start + timedelta(seconds=27)
    orbit = orbit_for_acquisition(resorb, start, stop, source=RESORB)
    assert orbit.start >= start - timedelta(seconds=60) and orbit.start <= start
    assert orbit.stop < stop + timedelta(seconds=60) and orbit.stop >= stop
    assert orbit.times_s.size == 14  # 12:59:09 to 13:01:19, every 10 s
    assert orbit.source == RESORB


def test_real_resorb_covers_none_of_the_scenes(s1_dir):
    safe = s1_dir / 'S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7.SAFE'
    with pytest.raises(OrbitError, match='does not cover the acquisition') as error:
        open_acquisition(safe, orbit=s1_dir / 'orbits' / RESORB)
    assert '2023-08-23' in str(error.value) and 'annotation' in str(error.value)


def test_orbit_gap(resorb):
    start = datetime(2023, 8, 23, 13, 0, 0)
    with_gap = [v for v in resorb if not start + timedelta(seconds=5) < v.time < start + timedelta(seconds=40)]
    with pytest.raises(OrbitError, match='gap of 50.0 s'):
        orbit_for_acquisition(with_gap, start, start + timedelta(seconds=27), source='gappy.EOF')


def test_fewer_than_four_vectors(resorb):
    start = resorb[100].time + timedelta(seconds=0.5)
    with pytest.raises(OrbitError, match='at least 4'):
        orbit_for_acquisition(resorb, start, start + timedelta(seconds=14), source='short', margin_s=10)
    with pytest.raises(OrbitError, match='at least 4'):
        orbit_for_acquisition(resorb[100:103], resorb[100].time, resorb[102].time, source='three', margin_s=None)


def test_annotation_orbit_with_few_vectors(s1_dir, tmp_path):
    source = s1_dir / 'S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7.SAFE'
    safe = tmp_path / source.name
    (safe / 'annotation').mkdir(parents=True)
    member = next((source / 'annotation').glob('s1a-iw1-slc-vv-*.xml'))
    text = member.read_bytes()
    first, last = text.index(b'<orbit>'), text.rindex(b'</orbit>') + len(b'</orbit>')
    orbit_elements = text[first:last].split(b'</orbit>')
    (safe / 'annotation' / member.name).write_bytes(
        text[:first] + b'</orbit>'.join(orbit_elements[:3]) + b'</orbit>' + text[last:]
    )
    with pytest.raises(OrbitError, match='does not cover|at least 4'):
        open_acquisition(safe, orbit='annotation')


EOF_HEAD = (
    b'<Earth_Explorer_File><Earth_Explorer_Header><Variable_Header><Ref_Frame>EARTH_FIXED</Ref_Frame>'
    b'</Variable_Header></Earth_Explorer_Header><Data_Block><List_of_OSVs>'
)
EOF_TAIL = b'</List_of_OSVs></Data_Block></Earth_Explorer_File>'


@pytest.mark.parametrize(
    ('data', 'message'),
    [
        (b'<Earth_Explorer_File><Data_Block/></Earth_Explorer_File>', 'not an ESA EOF orbit file'),
        (b'<Earth_Explorer_File', 'malformed XML'),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Earth_Explorer_File>&a;</Earth_Explorer_File>',
         'refusing XML'),
        (EOF_HEAD.replace(b'EARTH_FIXED', b'INERTIAL') + b'<OSV><UTC>UTC=2023-01-01T00:00:00</UTC></OSV>' + EOF_TAIL,
         'EARTH_FIXED'),
        (EOF_HEAD + b'<OSV><UTC>UTC=2023-01-01T00:00:00</UTC><X>1</X></OSV>' + EOF_TAIL, 'misses a coordinate'),
        (EOF_HEAD + b'<OSV><UTC>noon</UTC></OSV>' + EOF_TAIL, 'malformed time'),
    ],
)  # fmt: skip
def test_bad_eof(data, message):
    with pytest.raises(OrbitError, match=message):
        parse_eof(data, 'bad.EOF')
    assert issubclass(OrbitError, MetadataError)


def test_unknown_orbit_choice(tmp_path):
    with pytest.raises(OrbitError, match="neither 'auto', 'annotation'"):
        resolve_orbit(
            'precise', scene=None, annotation_vectors=[], start=datetime(2020, 1, 1), stop=datetime(2020, 1, 1)
        )


@pytest.fixture
def synthetic_safe(tmp_path):
    scene = synthetic_scene(bursts_per_swath=3)
    return scene, write_synthetic_safe(scene, tmp_path / 'safe')


def _orbit_server(scene, *, present: bool = True) -> ServerState:
    name, content = synthetic_eof(scene)
    state = ServerState()
    if present:
        state.routes[f'/scene/{scene.name}'] = Route(location=f'/orbits/{name}')
        state.routes[f'/orbits/{name}'] = Route(body=content, content_type='application/xml')
    return state


def test_s1_orbits_fetch_from_a_local_server(synthetic_safe, tmp_path, monkeypatch):
    scene, safe = synthetic_safe
    with LocalServer(_orbit_server(scene)) as server:
        monkeypatch.setattr(s1_orbits.s1_orbits, 'API_URL', f'{server.url}/scene')
        acquisition = open_acquisition(safe, orbit='auto', work_dir=tmp_path)
    assert acquisition.orbit.source.startswith('S1A_OPER_AUX_POEORB_OPOD_')
    assert (tmp_path / acquisition.orbit.source).is_file()  # kept in work_dir, as hyp3-autorift keeps ./Orbits
    # the ISCE2 margin: 60 s before the first burst to 60 s after the last, 10 s apart
    assert acquisition.orbit.start <= acquisition.sensing_start - timedelta(seconds=50)
    assert acquisition.orbit.stop >= acquisition.sensing_stop + timedelta(seconds=50)
    annotation = open_acquisition(safe, orbit='annotation')
    # same track: the orbit-file vectors agree with the annotation's to the printed precision
    times = {vector.time for vector in annotation.orbit.state_vectors()} & {
        vector.time for vector in acquisition.orbit.state_vectors()
    }
    assert len(times) >= 10
    for time in times:
        a = next(v for v in annotation.orbit.state_vectors() if v.time == time)
        b = next(v for v in acquisition.orbit.state_vectors() if v.time == time)
        assert np.allclose(a.position_m, b.position_m, atol=1e-3)
        assert np.allclose(a.velocity_m_s, b.velocity_m_s, atol=1e-5)


@pytest.mark.parametrize('how', ['keyword', 'environment'])
def test_orbit_endpoint_override(synthetic_safe, monkeypatch, how):
    scene, safe = synthetic_safe
    with LocalServer(_orbit_server(scene)) as server:
        if how == 'keyword':
            acquisition = open_acquisition(safe, orbit='auto', orbit_api_url=f'{server.url}/scene')
        else:
            monkeypatch.setenv(orbits.ORBITS_API_URL_ENV, f'{server.url}/scene')
            acquisition = open_acquisition(safe, orbit='auto')
    assert 'POEORB' in acquisition.orbit.source


def test_auto_falls_back_to_the_annotation_orbit(synthetic_safe, caplog):
    scene, safe = synthetic_safe
    with LocalServer(_orbit_server(scene, present=False)) as server, caplog.at_level(logging.WARNING):
        acquisition = open_acquisition(safe, orbit='auto', orbit_api_url=f'{server.url}/scene')
    assert acquisition.orbit.source == orbits.ANNOTATION_AFTER_FAILED_FETCH
    assert 'no POEORB or RESORB orbit file' in caplog.text and 'falling back to the annotation orbit' in caplog.text


def test_auto_falls_back_when_the_orbit_file_does_not_cover(synthetic_safe, caplog):
    scene, safe = synthetic_safe
    name, content = synthetic_eof(scene, before_s=-3600.0, after_s=7200.0)  # starts an hour after the scene
    state = ServerState(
        routes={f'/scene/{scene.name}': Route(location=f'/o/{name}'), f'/o/{name}': Route(body=content)}
    )
    with LocalServer(state) as server, caplog.at_level(logging.WARNING):
        acquisition = open_acquisition(safe, orbit='auto', orbit_api_url=f'{server.url}/scene')
    assert acquisition.orbit.source == orbits.ANNOTATION_AFTER_FAILED_FETCH
    assert 'does not cover' in caplog.text


def test_local_eof_file(synthetic_safe, tmp_path):
    scene, safe = synthetic_safe
    name, content = synthetic_eof(scene, kind='RESORB', before_s=600, after_s=600)
    path = tmp_path / name
    path.write_bytes(content)
    acquisition = open_acquisition(safe, orbit=path)
    assert acquisition.orbit.source == name
    assert 12 <= acquisition.orbit.times_s.size <= 16  # 60 s either side of a 3-burst (~9 s) scene


def test_state_vector_order_and_duplicates():
    base = datetime(2020, 1, 1)
    vectors = [
        StateVector(base + timedelta(seconds=10 * k), (7.0e6 + k, 0.0, 0.0), (0.0, 7.5e3, 0.0))
        for k in (3, 0, 1, 2, 2, 4)
    ]
    orbit = orbit_for_acquisition(
        vectors, base + timedelta(seconds=5), base + timedelta(seconds=35), source='x', margin_s=None
    )
    assert orbit.times_s.tolist() == [0.0, 10.0, 20.0, 30.0, 40.0]


@pytest.mark.parametrize('how', ['auto', 'local file'])
def test_scene_starting_seconds_after_the_orbit_validity_start(synthetic_safe, tmp_path, caplog, how):
    """JPL's 34 'Error with orbit interpolation' granules: the POEORB starts just before the scene.

    The old check accepted a file starting 12 s before the scene, leaving no interpolation stencil at its edge; the
    coverage rule (a stencil plus the scene's duration on both sides) completes it with the annotation orbit.
    """
    scene, safe = synthetic_safe
    name, content = synthetic_eof(scene, before_s=12.0, after_s=3600.0)
    if how == 'auto':
        state = ServerState(
            routes={f'/scene/{scene.name}': Route(location=f'/o/{name}'), f'/o/{name}': Route(body=content)}
        )
        with LocalServer(state) as server, caplog.at_level(logging.WARNING):
            acquisition = open_acquisition(safe, orbit='auto', orbit_api_url=f'{server.url}/scene', work_dir=tmp_path)
    else:
        path = tmp_path / name
        path.write_bytes(content)
        with caplog.at_level(logging.WARNING):
            acquisition = open_acquisition(safe, orbit=path)
    vectors = parse_eof(content, name)
    assert vectors[0].time > acquisition.sensing_start - timedelta(seconds=25)  # the file barely covers the scene
    assert acquisition.orbit.source == f'{name} + annotation'
    margin = orbits.coverage_margin_s(vectors, acquisition.sensing_start, acquisition.sensing_stop)
    assert margin == pytest.approx(40.0 + (acquisition.sensing_stop - acquisition.sensing_start).total_seconds())
    assert acquisition.orbit.start <= acquisition.sensing_start - timedelta(seconds=40)
    assert 'completing it with the annotation orbit' in caplog.text
    # inside the file's span the precise vectors are kept
    kept = {vector.time for vector in acquisition.orbit.state_vectors()}
    assert {vector.time for vector in vectors if vector.time <= acquisition.sensing_stop} <= kept


def test_orbit_file_with_full_margin_is_used_alone(synthetic_safe, tmp_path):
    scene, safe = synthetic_safe
    name, content = synthetic_eof(scene, before_s=600.0, after_s=600.0)
    path = tmp_path / name
    path.write_bytes(content)
    assert open_acquisition(safe, orbit=path).orbit_source == name


def test_with_orbit_reuses_the_metadata(synthetic_safe, tmp_path):
    """The reference is read once: its orbit is resolved again from what was read, in every --orbit mode."""
    scene, safe = synthetic_safe
    name, content = synthetic_eof(scene, before_s=600.0, after_s=600.0)
    path = tmp_path / name
    path.write_bytes(content)
    acquisition = open_acquisition(safe, orbit='annotation')
    assert acquisition.with_orbit(path).orbit_source == name
    assert acquisition.with_orbit('annotation').orbit_source == 'annotation'
    with LocalServer(_orbit_server(scene)) as server:
        fetched = acquisition.with_orbit('auto', orbit_api_url=f'{server.url}/scene', work_dir=tmp_path)
    assert 'POEORB' in fetched.orbit_source
    assert fetched.bursts == acquisition.bursts and fetched.granule == acquisition.granule
