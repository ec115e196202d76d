"""The compiled projections (geometry/fast_projection.py) against pyproj, bit for bit: both call the same libm, so
every float64 must be the same, failures (inf) and NaN included; and MapProjection's choice between them."""

import json
import logging
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyproj
import pytest

from hyp3_s1_m11m12.geometry import fast_projection, projection
from hyp3_s1_m11m12.geometry.projection import MapProjection


POINTS = 1_000_000  # per CRS and direction
UTM_CODES = [32601, 32609, 32632, 32660, 32701, 32732, 32760]
POLAR_CODES = [3413, 3031]
SPECIAL_DEGREES = [np.nan, np.inf, -np.inf, 0.0, -0.0, 90.0, -90.0, 90 + 1e-11, -90 - 1e-11, 90 + 1e-9, 180.0]
SPECIAL_DEGREES += [-180.0, 360.0, 540.0, 572.9, 573.0, -573.0, 1e308, -1e308, 5e-324, 3.0, 9.0, -45.0, 99.0, 1e-300]
SPECIAL_METRES = [np.nan, np.inf, -np.inf, 0.0, -0.0, 5e5, 1e7, -1e7, 2e7, 4e7, 6e7, 1e8, 1e12, -1e12, 1e308]
SPECIAL_METRES += [-1e308, 3.3e6, -3.3e6, 5e-324, 166021.4, 833978.6, 9e6, 1e20]


@pytest.fixture(autouse=True, scope='module')
def _kernels_loaded() -> None:
    """Load the kernels first: before that MapProjection sends calls of few points to pyproj."""
    fast_projection.compiled()


def pyproj_pair(epsg: int) -> tuple[pyproj.Transformer, pyproj.Transformer]:
    """(to_map, to_geographic), built here rather than through the module under test."""
    geographic = pyproj.CRS.from_epsg(4326)
    projected = pyproj.CRS.from_epsg(epsg)
    return (
        pyproj.Transformer.from_crs(geographic, projected, always_xy=True),
        pyproj.Transformer.from_crs(projected, geographic, always_xy=True),
    )


def assert_same_bits(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, what
    differ = actual.view(np.uint64) != expected.view(np.uint64)
    if differ.any():
        first = np.flatnonzero(differ.reshape(-1))[:5]
        pytest.fail(
            f'{what}: {int(differ.sum())} of {differ.size} differ, e.g. {actual.reshape(-1)[first]} against pyproj '
            f'{expected.reshape(-1)[first]}'
        )


def compare_both_directions(epsg: int, lat: np.ndarray, lon: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    """MapProjection (compiled) against pyproj: to_map of (lat, lon), to_geographic of (x, y)."""
    to_map, to_geographic = pyproj_pair(epsg)
    mapped = MapProjection(epsg)
    assert projection._compiled_for(epsg, lat.size) is not None  # the compiled path, not the fallback
    expected_x, expected_y = to_map.transform(lon, lat)
    actual_x, actual_y = mapped.to_map(lat, lon)
    assert_same_bits(actual_x, expected_x, f'EPSG:{epsg} to_map x')
    assert_same_bits(actual_y, expected_y, f'EPSG:{epsg} to_map y')
    expected_lon, expected_lat = to_geographic.transform(x, y)
    actual_lat, actual_lon = mapped.to_geographic(x, y)
    assert_same_bits(actual_lat, expected_lat, f'EPSG:{epsg} to_geographic lat')
    assert_same_bits(actual_lon, expected_lon, f'EPSG:{epsg} to_geographic lon')


def central_meridian(epsg: int) -> float:
    return 6.0 * (epsg % 100) - 183.0


def map_grid(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-major grid nodes (y constant along a row, as Geogrid's blocks)."""
    xx, yy = np.meshgrid(x, y)
    return xx.reshape(-1), yy.reshape(-1)


@pytest.mark.parametrize('epsg', UTM_CODES)
def test_utm_matches_pyproj_bit_for_bit(epsg: int) -> None:
    """A million points within 6 degrees of the central meridian from 80 S to 84 N each way; the map points half
    pyproj's images of random points, half a grid over the zone (rows of one northing, with the equator's 0 and
    -0)."""
    rng = np.random.default_rng(epsg)
    lat = rng.uniform(-80.0, 84.0, POINTS)
    lon = central_meridian(epsg) + rng.uniform(-6.0, 6.0, POINTS)
    to_map, _ = pyproj_pair(epsg)
    x_random, y_random = to_map.transform(lon[: POINTS // 2], lat[: POINTS // 2])
    false_northing = 1e7 if epsg > 32700 else 0.0
    rows = np.concatenate([[0.0, -0.0, false_northing], false_northing + np.linspace(-8.9e6, 9.4e6, 497)])
    x_grid, y_grid = map_grid(np.linspace(-2e5, 1.2e6, POINTS // 2 // rows.size), rows)
    compare_both_directions(epsg, lat, lon, np.concatenate([x_random, x_grid]), np.concatenate([y_random, y_grid]))


@pytest.mark.parametrize('epsg', POLAR_CODES)
def test_polar_stereographic_matches_pyproj_bit_for_bit(epsg: int) -> None:
    """A million points poleward of 60 degrees (all of Greenland or Antarctica) each way, the pole included; the
    map points half pyproj's images, half a grid reaching ~57 degrees."""
    rng = np.random.default_rng(epsg)
    sign = 1.0 if epsg == 3413 else -1.0
    lat = sign * np.concatenate([rng.uniform(60.0, 90.0, POINTS - 4), [90.0, 90.0, 89.999999, 60.0]])
    lon = np.concatenate([rng.uniform(-180.0, 180.0, POINTS - 4), [0.0, -45.0, 135.0, 180.0]])
    to_map, _ = pyproj_pair(epsg)
    x_random, y_random = to_map.transform(lon[: POINTS // 2], lat[: POINTS // 2])
    x_grid, y_grid = map_grid(np.linspace(-3.7e6, 3.7e6, 1000), np.linspace(-3.7e6, 3.7e6, POINTS // 2 // 1000))
    compare_both_directions(epsg, lat, lon, np.concatenate([x_random, x_grid]), np.concatenate([y_random, y_grid]))


@pytest.mark.parametrize('epsg', [32632, 32601, 32760, 3413, 3031])
def test_nan_inf_and_points_outside_the_domain_match_pyproj(epsg: int) -> None:
    """Every pair of special values (NaN, inf, poles and beyond, huge or subnormal values, wrapped longitudes)."""
    lat, lon = (array.reshape(-1) for array in np.meshgrid(SPECIAL_DEGREES, SPECIAL_DEGREES))
    x, y = (array.reshape(-1) for array in np.meshgrid(SPECIAL_METRES, SPECIAL_METRES))
    compare_both_directions(epsg, lat, lon, x, y)


def test_failures_are_inf_and_nan_gives_nan_as_in_pyproj() -> None:
    utm = MapProjection(32632)
    x, y = utm.to_map(np.array([0.0, 91.0, 45.0, np.nan, 45.0]), np.array([99.0, 9.0, 600.0, 9.0, np.nan]))
    assert np.all(np.isinf(x[:3])) and np.all(np.isinf(y[:3]))  # 90 degrees from the meridian; beyond a pole
    assert np.all(np.isnan(x[3:])) and np.all(np.isnan(y[3:]))
    lat, lon = utm.to_geographic(np.array([-2e7, np.inf, np.nan, 5e5]), np.array([5e6, 5e6, 5e6, np.nan]))
    assert np.all(np.isinf(lat[:2])) and np.all(np.isinf(lon[:2]))  # beyond tmerc's 150 degrees
    assert np.all(np.isnan(lat[2:])) and np.all(np.isnan(lon[2:]))
    x, y = MapProjection(3413).to_map(np.array([-90.0]), np.array([0.0]))  # the other pole: PROJ's huge value
    assert 1e23 < abs(float(x[0])) < np.inf


def test_round_trips() -> None:
    rng = np.random.default_rng(3)
    for epsg, lat in (
        (32632, rng.uniform(-80, 84, 10000)),
        (32760, rng.uniform(-80, 84, 10000)),
        (3413, rng.uniform(60, 90, 10000)),
        (3031, rng.uniform(-90, -60, 10000)),
    ):
        mapped = MapProjection(epsg)
        lon = central_meridian(epsg) + rng.uniform(-6, 6, lat.size) if epsg > 30000 else rng.uniform(-180, 179, 10000)
        back_lat, back_lon = mapped.to_geographic(*mapped.to_map(lat, lon))
        np.testing.assert_allclose(back_lat, lat, rtol=0, atol=1e-9)
        turn = (back_lon - lon + 180.0) % 360.0 - 180.0  # 32760's zone straddles the antimeridian
        near_pole = np.abs(lat) > 89.9999  # the longitude is undefined at the pole
        np.testing.assert_allclose(turn[~near_pole], 0.0, rtol=0, atol=1e-8)


def test_every_supported_crs_passes_the_self_check() -> None:
    """All 120 UTM zones and both polar CRSs: the first-use check against pyproj keeps the compiled path."""
    codes = [*fast_projection.UTM_NORTH, *fast_projection.UTM_SOUTH, *fast_projection.POLAR_STEREOGRAPHIC]
    assert len(codes) == 122
    kernels = fast_projection.compiled()
    for epsg in codes:
        assert fast_projection.supported(epsg)
        assert projection._agrees_with_pyproj(epsg, projection._compiled_definition(epsg, kernels)), epsg


@pytest.mark.parametrize('epsg', [3857, 32661, 32761, 4326, 2154])
def test_other_crs_use_pyproj(epsg: int) -> None:
    """Web Mercator, UPS north and south (not compiled), geographic, Lambert-93: pyproj's results."""
    assert not fast_projection.supported(epsg)
    assert projection._compiled_for(epsg, 10**6) is None
    lat = np.linspace(-60.0, 85.0, 1000) if epsg != 32761 else np.linspace(-89.0, -60.0, 1000)
    lon = np.linspace(-10.0, 10.0, 1000)
    to_map, to_geographic = pyproj_pair(epsg)
    expected_x, expected_y = to_map.transform(lon, lat)
    x, y = MapProjection(epsg).to_map(lat, lon)
    assert_same_bits(x, expected_x, 'x')
    assert_same_bits(y, expected_y, 'y')
    expected_lon, expected_lat = to_geographic.transform(expected_x, expected_y)
    back_lat, back_lon = MapProjection(epsg).to_geographic(expected_x, expected_y)
    assert_same_bits(back_lat, expected_lat, 'lat')
    assert_same_bits(back_lon, expected_lon, 'lon')


def test_array_shapes_and_types_as_the_pyproj_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scalars, lists, 2-D, read-only, strided and float32 inputs: the pyproj path's shapes and values."""
    grid = np.linspace(40.0, 50.0, 12).reshape(3, 4)
    read_only = grid.copy()
    read_only.flags.writeable = False
    cases: list[tuple[npt.ArrayLike, npt.ArrayLike]] = [
        (45.0, 9.0),
        ([45.0, 46.0], [9.0, 10.0]),
        (grid, grid / 5),
        (read_only, read_only / 5),
        (grid[:, ::2], grid[:, ::2] / 5),
        (grid.astype(np.float32), (grid / 5).astype(np.float32)),
        (np.array([45.0]), np.array([9.0])),
        (np.empty(0), np.empty(0)),
    ]
    mapped = MapProjection(32632)

    def both(lat: npt.ArrayLike, lon: npt.ArrayLike) -> list[np.ndarray]:
        x, y = mapped.to_map(lat, lon)
        return [x, y, *mapped.to_geographic(x, y)]

    results = [both(lat, lon) for lat, lon in cases]
    monkeypatch.setattr(projection, '_compiled_for', lambda epsg, points: None)
    for (lat, lon), compiled in zip(cases, results, strict=True):
        for mine, theirs in zip(compiled, both(lat, lon), strict=True):
            assert mine.dtype == np.float64
            assert_same_bits(mine, theirs, f'shape {np.shape(lat)}')


def test_a_crs_whose_kernels_differ_from_pyproj_stays_with_pyproj(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The first-use check: a kernel one ulp off (here a perturbed false easting) leaves the CRS with pyproj."""
    real = fast_projection.parameters

    def perturbed(epsg: int) -> tuple[str, np.ndarray] | None:
        definition = real(epsg)
        assert definition is not None
        kind, params = definition
        params[fast_projection.X0] = np.nextafter(params[fast_projection.X0], np.inf)
        return kind, params

    monkeypatch.setattr(projection, '_checked', {})
    monkeypatch.setattr(fast_projection, 'parameters', perturbed)
    with caplog.at_level(logging.WARNING, logger=projection.__name__):
        assert projection._compiled_for(32633, 10**6) is None
    assert 'EPSG:32633 stays with pyproj' in caplog.text
    to_map, _ = pyproj_pair(32633)
    expected_x, _ = to_map.transform(np.array([15.5, 16.0]), np.array([45.0, 46.0]))
    x, _ = MapProjection(32633).to_map(np.array([45.0, 46.0]), np.array([15.5, 16.0]))
    assert_same_bits(x, expected_x, 'x')


def test_small_calls_take_pyproj_until_the_kernels_are_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the kernels are loaded a few points do not wait for numba; many points load them."""
    fast_projection.compiled()
    monkeypatch.setattr(fast_projection, 'loaded', lambda: None)
    assert projection._compiled_for(32632, projection.WAIT_FOR_KERNELS_POINTS - 1) is None
    assert projection._compiled_for(32632, projection.WAIT_FOR_KERNELS_POINTS) is not None


def test_threads_share_the_kernels() -> None:
    """The kernels release the GIL and keep no state between calls: concurrent calls give one thread's bits."""
    rng = np.random.default_rng(11)
    chunks = [(rng.uniform(-80, 84, 50000), 9 + rng.uniform(-6, 6, 50000)) for _ in range(8)]
    mapped = MapProjection(32632)
    alone = [mapped.to_geographic(*mapped.to_map(lat, lon)) for lat, lon in chunks]
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = list(pool.map(lambda chunk: mapped.to_geographic(*mapped.to_map(*chunk)), chunks))
    for (lat, lon), (lat_alone, lon_alone) in zip(together, alone, strict=True):
        assert_same_bits(lat, lat_alone, 'lat')
        assert_same_bits(lon, lon_alone, 'lon')


_UNCOMPILED_SCRIPT = """
import json, sys
import numpy as np
from hyp3_s1_m11m12.geometry import fast_projection
kernels = fast_projection.compiled()
rng = np.random.default_rng(5)
results = {}
for epsg in json.loads(sys.argv[1]):
    kind, params = fast_projection.parameters(epsg)
    polar = kind == 'polar'
    lat = rng.uniform(60, 90, 3000) * (1 if epsg != 3031 else -1) if polar else rng.uniform(-80, 84, 3000)
    lon = rng.uniform(-180, 180, 3000) if polar else 6.0 * (epsg % 100) - 183.0 + rng.uniform(-6, 6, 3000)
    x, y, back_lat, back_lon = (np.empty(lat.size) for _ in range(4))
    getattr(kernels, kind + '_to_map')(params, lat, lon, x, y)
    getattr(kernels, kind + '_to_geographic')(params, x, y, back_lat, back_lon)
    results[str(epsg)] = np.stack([x, y, back_lat, back_lon])
np.savez(sys.argv[2], **results)
"""


def test_uncompiled_python_gives_the_compiled_bits(tmp_path: Path) -> None:
    """NUMBA_DISABLE_JIT=1 runs the kernels' Python (for the Geogrid engine's JIT-off check): the same bits, with
    libm's hypot bound in place of CPython's own math.hypot."""
    codes = json.dumps([32632, 32760, 3413, 3031])
    runs = []
    for disable in ('0', '1'):
        output = tmp_path / f'jit-disabled-{disable}.npz'
        env = {**os.environ, 'NUMBA_DISABLE_JIT': disable}
        subprocess.run([sys.executable, '-c', _UNCOMPILED_SCRIPT, codes, str(output)], check=True, env=env, timeout=300)
        runs.append(np.load(output))
    for name in runs[0].files:
        assert_same_bits(runs[1][name], runs[0][name], f'EPSG:{name}')
