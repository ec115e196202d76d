from datetime import datetime, timedelta

import numpy as np
import pytest

from hyp3_s1_m11m12.errors import OrbitError
from hyp3_s1_m11m12.geometry.ellipsoid import ecef_to_llh, llh_to_ecef
from hyp3_s1_m11m12.geometry.orbit import Orbit, StateVector, hermite_node_indices
from hyp3_s1_m11m12.geometry.projection import MapProjection
from hyp3_s1_m11m12.geometry.zero_doppler import geo2rdr, norm, rdr2geo


EPOCH = datetime(2021, 4, 1, 5, 25, 19)
# A polynomial trajectory of degree 3: the 4-point Hermite interpolant (degree 7) must reproduce it exactly.
COEFFICIENTS = np.array(
    [[4.30e6, 1.45e6, 5.42e6], [5962.6, -91.1, -4695.2], [-3.1, -1.0, 4.2], [1.0e-3, 2.0e-3, -1.5e-3]]
)


def polynomial_state(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    powers = np.stack([times**k for k in range(4)], axis=-1)
    rates = np.stack([k * times ** max(k - 1, 0) for k in range(4)], axis=-1)
    return powers @ COEFFICIENTS, rates @ COEFFICIENTS


def polynomial_orbit(count: int = 17) -> Orbit:
    times = np.arange(count) * 10.0
    positions, velocities = polynomial_state(times)
    return Orbit(epoch=EPOCH, times_s=times, positions_m=positions, velocities_m_s=velocities)


def circular_orbit(count: int = 17) -> Orbit:
    """A circular polar orbit at 693 km altitude (Sentinel-1-like), 10 s state vectors."""
    radius = 6378137.0 + 693e3
    rate = np.sqrt(3.986004418e14 / radius**3)
    times = np.arange(count) * 10.0
    angle = 0.6 + rate * times
    positions = radius * np.stack([np.cos(angle), np.zeros_like(angle), np.sin(angle)], axis=-1)
    velocities = radius * rate * np.stack([-np.sin(angle), np.zeros_like(angle), np.cos(angle)], axis=-1)
    return Orbit(epoch=EPOCH, times_s=times, positions_m=positions, velocities_m_s=velocities)


def test_llh_ecef_round_trip() -> None:
    rng = np.random.default_rng(0)
    lat = np.deg2rad(rng.uniform(-89, 89, 1000))
    lon = np.deg2rad(rng.uniform(-180, 180, 1000))
    height = rng.uniform(-500, 9000, 1000)
    back_lat, back_lon, back_height = ecef_to_llh(*llh_to_ecef(lat, lon, height))
    np.testing.assert_allclose(back_lat, lat, atol=1e-13)
    np.testing.assert_allclose(back_lon, lon, atol=1e-13)
    np.testing.assert_allclose(back_height, height, atol=1e-7)


def test_equator_and_pole() -> None:
    x, y, z = llh_to_ecef(0.0, 0.0, 0.0)
    assert (float(x), float(y), float(z)) == (6378137.0, 0.0, 0.0)
    _, _, z_pole = llh_to_ecef(np.pi / 2, 0.0, 0.0)
    assert float(z_pole) == pytest.approx(6378137.0 * np.sqrt(1 - 0.0066943799901), abs=1e-6)


def test_hermite_reproduces_polynomial_orbit() -> None:
    orbit = polynomial_orbit()
    times = np.linspace(0.0, 160.0, 777)
    positions, velocities = orbit.interpolate(times)
    expected_positions, expected_velocities = polynomial_state(times)
    np.testing.assert_allclose(positions, expected_positions, rtol=0, atol=1e-6)
    np.testing.assert_allclose(velocities, expected_velocities, rtol=0, atol=1e-8)


def test_hermite_follows_circular_orbit() -> None:
    orbit = circular_orbit()
    radius = 6378137.0 + 693e3
    rate = np.sqrt(3.986004418e14 / radius**3)
    times = np.linspace(5.0, 155.0, 301)
    positions, velocities = orbit.interpolate(times)
    angle = 0.6 + rate * times
    expected = radius * np.stack([np.cos(angle), np.zeros_like(angle), np.sin(angle)], axis=-1)
    assert np.max(norm(positions - expected)) < 1e-3  # Hermite error for 10 s vectors: well under a millimetre
    assert np.max(np.abs(norm(velocities) - radius * rate)) < 1e-5


def test_hermite_node_selection() -> None:
    nodes = np.arange(10) * 10.0
    times = np.array([0.0, 5.0, 20.0, 25.0, 90.0])
    # first index with t_i >= t, minus 2, clamped to [0, n - 4]
    assert hermite_node_indices(nodes, times).tolist() == [0, 0, 0, 1, 6]


def test_interpolation_outside_the_orbit_names_the_time_and_span() -> None:
    orbit = polynomial_orbit()
    with pytest.raises(OrbitError, match=r'2021-04-01T05:28:20\.000000Z.*outside the orbit span 2021-04-01T05:25:19'):
        orbit.interpolate(np.array([10.0, 181.0]))


def test_fewer_than_four_state_vectors() -> None:
    vectors = [StateVector(EPOCH + timedelta(seconds=10 * k), (7e6, 0.0, 0.0), (0.0, 7e3, 0.0)) for k in range(3)]
    with pytest.raises(OrbitError, match='at least 4'):
        Orbit.from_state_vectors(vectors)


def test_geo2rdr_then_rdr2geo_returns_the_node() -> None:
    orbit = circular_orbit()
    rng = np.random.default_rng(1)
    times = rng.uniform(60.0, 100.0, 200)
    ranges = rng.uniform(8.0e5, 9.5e5, 200)
    heights = rng.uniform(-100.0, 3000.0, 200)
    points = rdr2geo(orbit, times, ranges, heights, look_side=-1)
    solution = geo2rdr(orbit, points.target_ecef_m, initial_time_s=80.0)
    np.testing.assert_allclose(solution.range_m, ranges, rtol=0, atol=1e-3)
    back = rdr2geo(orbit, solution.azimuth_time_s, solution.range_m, heights, look_side=-1)
    assert np.max(norm(back.target_ecef_m - points.target_ecef_m)) < 1e-3
    position, velocity = orbit.interpolate(solution.azimuth_time_s)
    doppler = np.sum((points.target_ecef_m - position) * velocity, axis=-1) / norm(velocity)
    assert np.max(np.abs(doppler)) < 1e-6


def test_geo2rdr_leaving_the_orbit_raises() -> None:
    orbit = circular_orbit(count=5)  # 40 s of orbit
    far_away = np.array(llh_to_ecef(np.deg2rad(-40.0), np.deg2rad(120.0), 0.0))[None, :]
    with pytest.raises(OrbitError, match='outside the orbit span'):
        geo2rdr(orbit, far_away, 20.0)


def test_projection_axis_order_and_round_trip() -> None:
    projection = MapProjection(32632)
    x, y = projection.to_map(np.array([47.0]), np.array([9.0]))  # central meridian of zone 32
    assert float(x[0]) == pytest.approx(500000.0, abs=1e-6)
    assert 5.2e6 < float(y[0]) < 5.3e6
    lat, lon = projection.to_geographic(x, y)
    assert float(lat[0]) == pytest.approx(47.0, abs=1e-10)
    assert float(lon[0]) == pytest.approx(9.0, abs=1e-10)
