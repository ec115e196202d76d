"""The merged radar geometry against the golden spec.json values, the buffer, and midnight crossings."""

import json
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pytest

from hyp3_s1_m11m12.errors import InvalidGranuleError
from hyp3_s1_m11m12.sentinel1.acquisition import open_acquisition
from hyp3_s1_m11m12.sentinel1.pairing import repeat_time
from hyp3_s1_m11m12.simulate.acquisition import synthetic_scene
from hyp3_s1_m11m12.simulate.safe import write_synthetic_safe
from hyp3_s1_m11m12.timeutil import parse_utc


REAL_PAIR = 'S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7'
S1B_SCENE = 'S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4'


def _spec(golden_dir, case):
    return json.loads((golden_dir / case / 'inputs' / 'spec.json').read_text())


def _assert_matches_spec(geometry, orbit, spec):
    radar = spec['radar']
    assert geometry.sensing_start == parse_utc(radar['sensingStart_utc'])
    assert geometry.sensing_stop == pytest.approx(parse_utc(radar['sensingStop_utc']), abs=timedelta(microseconds=1))
    assert geometry.starting_range_m == pytest.approx(radar['startingRange_m'], rel=1e-15)
    assert geometry.far_range_m == pytest.approx(radar['farRange_m'], rel=1e-15)
    assert geometry.range_pixel_size_m == radar['rangePixelSize_m']
    assert geometry.prf_hz == radar['prf_hz']
    assert geometry.number_of_lines == radar['numberOfLines']
    assert geometry.number_of_samples == radar['numberOfSamples']
    assert geometry.look_side == radar['lookSide']
    # the annotation orbit, merged over the swaths: the same vectors as the golden run
    assert [vector.time for vector in orbit.state_vectors()] == [parse_utc(t) for t in spec['orbit']['utc']]
    assert np.array_equal(orbit.positions_m, np.array(spec['orbit']['position_ecef_m']))
    assert np.array_equal(orbit.velocities_m_s, np.array(spec['orbit']['velocity_ecef_m_s']))


def test_real_pair_reference_matches_golden(s1_dir, golden_dir):
    acquisition = open_acquisition(s1_dir / f'{REAL_PAIR}.SAFE', orbit='annotation')
    assert acquisition.swaths == ('IW1', 'IW2', 'IW3')
    _assert_matches_spec(
        acquisition.radar_geometry(), acquisition.orbit, _spec(golden_dir, 's1a_iw_20250406_realpair_utm')
    )


def test_real_pair_dt_matches_golden(s1_dir, golden_dir):
    spec = _spec(golden_dir, 's1a_iw_20250406_realpair_utm')
    reference = open_acquisition(s1_dir / f'{REAL_PAIR}.SAFE', orbit='annotation')
    secondary = open_acquisition(s1_dir / f'{spec["dt"]["secondary_product"]}.SAFE', orbit='annotation')
    assert secondary.sensing_start == parse_utc(spec['dt']['secondary_sensingStart_utc'])
    pair = repeat_time(reference, secondary)
    assert pair.dt_seconds == pytest.approx(spec['dt']['dt_true_seconds'], abs=1e-6)
    assert pair.dt_seconds == pytest.approx(1036799.878077, abs=1e-6)
    assert pair.product_dt_seconds == pytest.approx(pair.dt_seconds, abs=1e-9)
    assert pair.matched_burst_id == '108_230131_IW3'
    assert not pair.swapped


def test_s1b_iw1_vv_iw2_vh_matches_golden(s1_dir, golden_dir, caplog):
    spec = _spec(golden_dir, 's1b_iw_20210401_utm')
    acquisition = open_acquisition(s1_dir / f'{S1B_SCENE}.SAFE', orbit='annotation')
    assert [(b.swath, b.polarization) for b in acquisition.bursts][:: len(acquisition.bursts) - 1] == [
        ('IW1', 'VV'),
        ('IW2', 'VH'),
    ]
    assert 'no VV annotation for IW2; using VH' in caplog.text
    _assert_matches_spec(acquisition.radar_geometry(), acquisition.orbit, spec)
    # every polarisation of a swath has the same timing: VH for both swaths gives the same geometry
    cross = open_acquisition(s1_dir / f'{S1B_SCENE}.SAFE', orbit='annotation', polarization='VH')
    assert cross.polarization == 'VH'
    _assert_matches_spec(cross.radar_geometry(), cross.orbit, spec)


def test_buffer_is_load_parsedata_s_n0_plus_4b_samples(s1_dir):
    """loadParsedata: near range - b dr, far range + b dr, then 2b samples more: b at near range, 3b at far range.

    The old geometry (2b samples, b on each side) ended 2b samples short of the correction products' far edge.
    """
    acquisition = open_acquisition(s1_dir / f'{REAL_PAIR}.SAFE', orbit='annotation')
    plain, buffered = acquisition.radar_geometry(), acquisition.radar_geometry(buffer=30)
    dr = plain.range_pixel_size_m
    assert buffered.number_of_samples == plain.number_of_samples + 4 * 30
    assert buffered.starting_range_m == pytest.approx(plain.starting_range_m - 30 * dr, abs=1e-9)
    assert buffered.far_range_m == pytest.approx(plain.far_range_m + 3 * 30 * dr, abs=1e-6)
    assert buffered.far_range_m != pytest.approx(plain.far_range_m + 30 * dr, abs=1.0)  # the old choice
    assert buffered.number_of_lines == plain.number_of_lines
    with pytest.raises(InvalidGranuleError, match='negative'):
        acquisition.radar_geometry(buffer=-1)


def test_synthetic_safe_round_trip(tmp_path):
    scene = synthetic_scene()
    acquisition = open_acquisition(write_synthetic_safe(scene, tmp_path), orbit='annotation')
    expected, geometry = scene.radar_geometry(), acquisition.radar_geometry()
    assert acquisition.granule == scene.name
    assert acquisition.relative_orbit == scene.relative_orbit
    assert geometry.sensing_start == expected.sensing_start
    assert geometry.starting_range_m == pytest.approx(expected.starting_range_m, rel=1e-15)
    assert geometry.range_pixel_size_m == pytest.approx(expected.range_pixel_size_m, rel=1e-15)
    assert geometry.prf_hz == pytest.approx(expected.prf_hz, rel=1e-15)
    assert (geometry.number_of_lines, geometry.number_of_samples) == (
        expected.number_of_lines,
        expected.number_of_samples,
    )
    assert np.allclose(geometry.orbit.positions_m, expected.orbit.positions_m, rtol=0, atol=1e-6)
    assert np.allclose(geometry.orbit.velocities_m_s, expected.orbit.velocities_m_s, rtol=0, atol=1e-9)
    lons, lats = zip(*acquisition.footprint_lonlat(), strict=True)
    assert min(lats) < 60.0 < max(lats) and min(lons) < -140.5 < max(lons)


def test_acquisition_across_midnight(tmp_path):
    """A frame whose bursts straddle 00:00 UTC: times stay continuous (no seconds-of-day wrap)."""
    reference = synthetic_scene(center_time=datetime(2024, 12, 31, 23, 59, 59))
    secondary = reference.repeat()
    acquisition = open_acquisition(write_synthetic_safe(reference, tmp_path), orbit='annotation')
    assert acquisition.sensing_start.date() == datetime(2024, 12, 31).date()
    assert acquisition.sensing_stop.date() == datetime(2025, 1, 1).date()
    geometry = acquisition.radar_geometry()
    assert geometry.number_of_lines == reference.radar_geometry().number_of_lines
    assert 13000 < geometry.number_of_lines < 13300
    assert geometry.sensing_stop == pytest.approx(acquisition.sensing_stop, abs=timedelta(seconds=1 / geometry.prf_hz))
    later = open_acquisition(write_synthetic_safe(secondary, tmp_path), orbit='annotation')
    pair = repeat_time(acquisition, later)
    assert pair.dt_seconds == pytest.approx(12 * 86400 - 0.121923, abs=1e-3)


def test_acquisition_is_frozen(s1_dir):
    acquisition = open_acquisition(s1_dir / f'{REAL_PAIR}.SAFE', orbit='annotation', swaths=['IW2'])
    with pytest.raises(AttributeError):
        acquisition.granule = 'x'  # type: ignore[misc]
    assert replace(acquisition, polarization='VH').polarization == 'VH'
