"""The synthetic sun-synchronous orbit and IW frame are physically consistent and deterministic."""

import math
import zipfile
from datetime import datetime, timedelta

import numpy as np
import pytest

from hyp3_s1_m11m12.sentinel1.acquisition import open_acquisition
from hyp3_s1_m11m12.simulate import synthetic_orbit, synthetic_radar_geometry, synthetic_scene, write_synthetic_safe
from hyp3_s1_m11m12.simulate.acquisition import (
    EARTH_ROTATION_RATE_RAD_S,
    NODAL_DAY_S,
    ORBIT_PERIOD_S,
    RANGE_PIXEL_SIZE_M,
    REPEAT_PERIOD_S,
    _ground_point,
    default_track,
    ecef_to_geodetic,
)
from hyp3_s1_m11m12.simulate.safe import synthetic_eof


def test_orbit_is_circular_sun_synchronous_and_repeats():
    track = default_track()
    times = np.arange(0.0, ORBIT_PERIOD_S, 10.0)
    position, velocity = track.state(times)
    radius = np.linalg.norm(position, axis=1)
    assert np.allclose(radius, 6378137.0 + 693000.0, rtol=0, atol=1e-6)
    latitude = np.degrees(np.arcsin(position[:, 2] / radius))
    assert latitude.max() == pytest.approx(180.0 - 98.18, abs=0.01)  # inclination 98.18 deg, retrograde
    assert ORBIT_PERIOD_S * 175 == pytest.approx(12 * NODAL_DAY_S)
    assert NODAL_DAY_S == pytest.approx(86400.0, abs=0.02)  # sun-synchronous: the node keeps pace with the Sun
    # ground-track repeat after 12 days / 175 orbits
    later_position, later_velocity = track.state(times + REPEAT_PERIOD_S)
    assert np.allclose(later_position, position, rtol=0, atol=1e-3)
    assert np.allclose(later_velocity, velocity, rtol=0, atol=1e-6)
    # inertial speed of a circular orbit: the ECEF velocity plus Earth rotation
    inertial = velocity + np.cross([0.0, 0.0, EARTH_ROTATION_RATE_RAD_S], position)
    assert np.allclose(np.linalg.norm(inertial, axis=1), radius * 2 * math.pi / ORBIT_PERIOD_S * 1.0, rtol=2e-3)


def test_velocity_is_the_derivative_of_position():
    track = default_track()
    times = np.linspace(0.0, 6000.0, 37)
    step = 1e-3
    ahead, _ = track.state(times + step)
    behind, _ = track.state(times - step)
    _, velocity = track.state(times)
    assert np.allclose((ahead - behind) / (2 * step), velocity, rtol=0, atol=1e-4)


def test_synthetic_orbit_vectors():
    start = datetime(2025, 1, 10, 3, 17, 0)
    orbit = synthetic_orbit(start, 160.0)
    assert orbit.times_s.tolist() == [10.0 * k for k in range(17)]
    assert orbit.epoch == start
    assert orbit.source == 'synthetic'
    assert synthetic_orbit(start, 5.0).times_s.size == 4  # the minimum the Hermite interpolation needs


def test_radar_geometry_is_a_realistic_iw_frame():
    geometry = synthetic_radar_geometry()
    assert geometry.number_of_lines == 13125
    assert geometry.number_of_samples == 69141
    assert geometry.range_pixel_size_m == pytest.approx(2.329562114715323, rel=1e-15)
    assert geometry.range_pixel_size_m == RANGE_PIXEL_SIZE_M
    assert geometry.prf_hz == pytest.approx(486.48631029955294, rel=1e-15)
    assert geometry.starting_range_m == pytest.approx(800421.8030922529, rel=1e-12)
    assert geometry.look_side == -1
    assert geometry.orbit.start < geometry.sensing_start and geometry.orbit.stop > geometry.sensing_stop
    again = synthetic_radar_geometry()
    assert again.sensing_start == geometry.sensing_start
    assert np.array_equal(again.orbit.positions_m, geometry.orbit.positions_m)
    assert synthetic_radar_geometry(buffer=10).number_of_samples == 69161


def test_scene_is_over_the_requested_place():
    scene = synthetic_scene(
        center_lat_deg=69.2, center_lon_deg=-49.8, center_time=datetime(2025, 2, 1, 10, 0), ascending=False
    )
    lat, lon = _ground_point(scene.track, (datetime(2025, 2, 1, 10, 0) - scene.track.anx_time).total_seconds(), 880e3)
    assert (lat, lon) == pytest.approx((69.2, -49.8), abs=1e-6)
    position, velocity = scene.track.state_at([datetime(2025, 2, 1, 10, 0)])
    assert velocity[0, 2] < 0  # descending: moving south
    _, sub_lon, height = ecef_to_geodetic(position)
    assert height[0] == pytest.approx(693000.0, abs=25000.0)  # above the ellipsoid, which is flatter than a sphere
    assert sub_lon[0] > -49.8  # descending and right-looking (to the west): the satellite is east of the scene


def test_bursts_share_ids_across_the_repeat():
    reference = synthetic_scene()
    secondary = reference.repeat()
    for swath in ('IW1', 'IW2', 'IW3'):
        ids = [burst.relative_burst_id for burst in reference.bursts(swath)]
        assert ids == [burst.relative_burst_id for burst in secondary.bursts(swath)]
        assert ids == list(range(ids[0], ids[0] + 9))
        gaps = np.diff([burst.seconds_since_anx for burst in reference.bursts(swath)])
        assert np.allclose(gaps, 2.758273)
    assert secondary.sensing_start - reference.sensing_start == pytest.approx(
        timedelta(seconds=12 * 86400 - 0.121923), abs=timedelta(microseconds=2)
    )


def test_zip_variants_read_the_same(tmp_path):
    scene = synthetic_scene(bursts_per_swath=2, polarizations=('HH', 'HV'))
    plain = open_acquisition(write_synthetic_safe(scene, tmp_path / 'dir'), orbit='annotation')
    zipped = write_synthetic_safe(scene, tmp_path / 'zip', as_zip=True, zip_prefix='extra/folder', junk=True)
    with zipfile.ZipFile(zipped) as archive:
        names = archive.namelist()
    assert any(name.startswith('__MACOSX/') for name in names)
    assert all(name.startswith(('extra/folder/', '__MACOSX/')) for name in names)
    from_zip = open_acquisition(zipped, orbit='annotation')
    assert from_zip.polarization == 'HH' and scene.name.startswith('S1A_IW_SLC__1SDH_')
    assert from_zip.radar_geometry().sensing_start == plain.radar_geometry().sensing_start
    assert [b.sensing_start for b in from_zip.bursts] == [b.sensing_start for b in plain.bursts]


def test_eof_is_deterministic_and_named_like_esa():
    scene = synthetic_scene()
    name, content = synthetic_eof(scene)
    assert (name, content) == synthetic_eof(scene)
    assert name.startswith('S1A_OPER_AUX_POEORB_OPOD_') and name.endswith('.EOF')
    assert content.count(b'<OSV>') == 721
