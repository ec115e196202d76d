"""dt of a pair: burst matching by id or by time since the ascending node, swaps, and invalid pairs."""

import logging
from dataclasses import replace
from datetime import datetime

import pytest

from hyp3_s1_m11m12.errors import InvalidGranuleError
from hyp3_s1_m11m12.sentinel1.acquisition import open_acquisition
from hyp3_s1_m11m12.sentinel1.pairing import EARLIEST_BURST_RULE, repeat_time
from hyp3_s1_m11m12.simulate.acquisition import BURST_CYCLE_S, synthetic_scene
from hyp3_s1_m11m12.simulate.safe import simulated_scene_pair, write_synthetic_safe


REFERENCE = 'S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7.SAFE'
SECONDARY = 'S1A_IW_SLC__1SDV_20250418T022008_20250418T022035_058805_074946_C7D4.SAFE'


@pytest.fixture(scope='module')
def real_pair(s1_dir):
    return (
        open_acquisition(s1_dir / REFERENCE, orbit='annotation'),
        open_acquisition(s1_dir / SECONDARY, orbit='annotation'),
    )


def test_later_reference_is_swapped(real_pair, caplog):
    reference, secondary = real_pair
    with caplog.at_level(logging.INFO):
        pair = repeat_time(secondary, reference)
    assert pair.swapped
    assert (pair.reference_granule, pair.secondary_granule) == (reference.granule, secondary.granule)
    assert (pair.reference_sensing_start, pair.secondary_sensing_start) == (
        reference.sensing_start,
        secondary.sensing_start,
    )
    assert pair.dt_seconds == pytest.approx(1036799.878077, abs=1e-6)
    assert 'using the earlier one as the reference' in caplog.text


def test_same_acquisition_is_an_error(real_pair):
    reference, _ = real_pair
    with pytest.raises(InvalidGranuleError, match='same acquisition'):
        repeat_time(reference, reference)


def test_other_track_is_an_error(real_pair, s1_dir):
    reference, _ = real_pair
    other = open_acquisition(
        s1_dir / 'S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE', orbit='annotation'
    )
    with pytest.raises(InvalidGranuleError, match='not on the same track'):
        repeat_time(reference, other)


def test_other_swaths_or_polarisation_mode_is_an_error(real_pair, s1_dir):
    reference, secondary = real_pair
    iw1 = open_acquisition(s1_dir / REFERENCE, orbit='annotation', swaths=['IW1'])
    with pytest.raises(InvalidGranuleError, match='same swaths'):
        repeat_time(iw1, secondary)
    with pytest.raises(InvalidGranuleError, match='polarisation modes'):
        repeat_time(reference, replace(secondary, polarization='HH'))


def test_one_swath_pair(s1_dir):
    reference = open_acquisition(s1_dir / REFERENCE, orbit='annotation', swaths=['IW1'])
    secondary = open_acquisition(s1_dir / SECONDARY, orbit='annotation', swaths=['IW1'])
    pair = repeat_time(reference, secondary)
    assert pair.matched_burst_id == '108_230132_IW1'
    assert pair.dt_seconds == pytest.approx(pair.product_dt_seconds, abs=1e-9)
    assert 1036799.8 < pair.dt_seconds < 1036800.0


def test_matching_by_time_since_the_node_without_burst_ids(s1_dir):
    """Single-burst S1B SAFEs a year apart (IPF < 3.40: no burst ids): 31 cycles of 12 days plus 6.7 s."""
    reference = open_acquisition(
        s1_dir / 'S1B_IW_SLC__1SSV_20180628T151555_20180628T151555_011575_015476_33AD.SAFE', orbit='annotation'
    )
    secondary = open_acquisition(
        s1_dir / 'S1B_IW_SLC__1SSV_20190705T151602_20190705T151602_017000_01FFC4_26ED.SAFE', orbit='annotation'
    )
    pair = repeat_time(reference, secondary)
    assert pair.matched_burst_id is None
    expected = (datetime(2019, 7, 5, 15, 16, 2, 220758) - datetime(2018, 6, 28, 15, 15, 55, 501598)).total_seconds()
    assert pair.dt_seconds == pytest.approx(expected, abs=1e-6)
    assert pair.dt_days == pytest.approx(372.0 + 6.71916 / 86400, abs=1e-6)


def test_synthetic_pair_dt(tmp_path):
    pair_files = simulated_scene_pair(tmp_path)
    reference = open_acquisition(pair_files.reference, orbit='annotation')
    secondary = open_acquisition(pair_files.secondary, orbit='annotation')
    pair = repeat_time(reference, secondary)
    assert pair.dt_seconds == pytest.approx(pair_files.dt_seconds, abs=1e-6)
    assert pair.dt_seconds == pytest.approx(1036799.878077, abs=1e-5)
    assert pair.matched_burst_id is not None and pair.matched_burst_id.endswith('_IW3')
    assert reference.relative_orbit == secondary.relative_orbit
    assert secondary.absolute_orbit == reference.absolute_orbit + 175


def test_products_starting_on_different_bursts(tmp_path, caplog):
    """The secondary frame starts one burst earlier: dt follows hyp3-autorift's earliest-burst rule.

    The old choice (the first common burst) gave 12 days - 0.12 s; the velocity workflow's Geogrid got the earliest
    secondary burst minus the earliest overlapping reference burst, one burst cycle less.
    """
    caplog.set_level(logging.INFO)
    reference = synthetic_scene(bursts_per_swath=4)
    secondary = replace(
        reference.repeat(),
        bursts_per_swath=5,
        first_cycle_since_anx_s=reference.repeat().first_cycle_since_anx_s - BURST_CYCLE_S,
    )
    pair = repeat_time(
        open_acquisition(write_synthetic_safe(reference, tmp_path), orbit='annotation'),
        open_acquisition(write_synthetic_safe(secondary, tmp_path), orbit='annotation'),
    )
    assert pair.common_burst_dt_seconds == pytest.approx(12 * 86400 - 0.121923, abs=1e-5)
    assert pair.dt_seconds == pytest.approx(12 * 86400 - 0.121923 - BURST_CYCLE_S, abs=1e-5)
    assert pair.rule == EARLIEST_BURST_RULE
    assert pair.product_dt_seconds == pytest.approx(pair.dt_seconds, abs=1e-5)
    assert 'burst cycles apart' in caplog.text


def test_no_common_burst(tmp_path):
    reference = synthetic_scene(bursts_per_swath=2)
    far_along = replace(
        reference.repeat(), first_cycle_since_anx_s=reference.first_cycle_since_anx_s + 10 * BURST_CYCLE_S
    )
    with pytest.raises(InvalidGranuleError, match='no burst in common'):
        repeat_time(
            open_acquisition(write_synthetic_safe(reference, tmp_path), orbit='annotation'),
            open_acquisition(write_synthetic_safe(far_along, tmp_path), orbit='annotation'),
        )
