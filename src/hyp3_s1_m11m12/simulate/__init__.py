"""Realistic synthetic data generated in code, for tests, benchmarks and the offline demo (deterministic)."""

from hyp3_s1_m11m12.simulate.acquisition import (
    DEFAULT_CENTER_LAT_DEG,
    DEFAULT_CENTER_LON_DEG,
    DEFAULT_REFERENCE_TIME,
    SyntheticScene,
    SyntheticTrack,
    synthetic_orbit,
    synthetic_radar_geometry,
    synthetic_scene,
)
from hyp3_s1_m11m12.simulate.safe import simulated_scene_pair, write_synthetic_safe


__all__ = [
    'DEFAULT_CENTER_LAT_DEG',
    'DEFAULT_CENTER_LON_DEG',
    'DEFAULT_REFERENCE_TIME',
    'SyntheticScene',
    'SyntheticTrack',
    'simulated_scene_pair',
    'synthetic_orbit',
    'synthetic_radar_geometry',
    'synthetic_scene',
    'write_synthetic_safe',
]
