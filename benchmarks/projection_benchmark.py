"""Benchmark the map projections single-threaded: ns per point, pyproj against the compiled kernels (same bits).

For each CRS: to_map of random geodetic points in the CRS's domain, to_geographic of their images (random order)
and of a grid of nodes in rows of one northing (as Geogrid's blocks, where UTM reuses sin/cos of the northing).
Both sides get float64 arrays and return new ones; the best of `--repeat` runs is printed.
Usage: python benchmarks/projection_benchmark.py [--points 200000] [--repeat 5]
"""

import argparse
import time
from collections.abc import Callable

import numpy as np
import pyproj

from hyp3_s1_m11m12.geometry import fast_projection
from hyp3_s1_m11m12.geometry.projection import MapProjection


def best_ns_per_point(run: Callable[[], object], points: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times) / points * 1e9


def benchmark_crs(epsg: int, lat: np.ndarray, lon: np.ndarray, repeat: int) -> None:
    geographic = pyproj.CRS.from_epsg(4326)
    projected = pyproj.CRS.from_epsg(epsg)
    to_map = pyproj.Transformer.from_crs(geographic, projected, always_xy=True)
    to_geographic = pyproj.Transformer.from_crs(projected, geographic, always_xy=True)
    mapped = MapProjection(epsg)
    x, y = to_map.transform(lon, lat)
    columns = 1000
    grid_x, grid_y = (
        array.reshape(-1)
        for array in np.meshgrid(
            np.linspace(x.min(), x.max(), columns), np.linspace(y.min(), y.max(), x.size // columns)
        )
    )
    runs = {
        'to_map': (lat.size, lambda: to_map.transform(lon, lat), lambda: mapped.to_map(lat, lon)),
        'to_geographic': (x.size, lambda: to_geographic.transform(x, y), lambda: mapped.to_geographic(x, y)),
        'to_geographic (grid)': (
            grid_x.size,
            lambda: to_geographic.transform(grid_x, grid_y),
            lambda: mapped.to_geographic(grid_x, grid_y),
        ),
    }
    for direction, (points, reference, compiled) in runs.items():
        slow = best_ns_per_point(reference, points, repeat)
        fast = best_ns_per_point(compiled, points, repeat)
        print(f'EPSG:{epsg:<5} {direction:>22} {slow:10.1f} {fast:12.1f} {slow / fast:6.2f}')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--points', type=int, default=200_000)
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args()
    n = args.points
    rng = np.random.default_rng(0)
    fast_projection.compiled()
    cases = {
        32632: (rng.uniform(30.0, 72.0, n), 9.0 + rng.uniform(-3.5, 3.5, n)),
        32760: (rng.uniform(-60.0, -1.0, n), 177.0 + rng.uniform(-3.5, 3.5, n)),
        3413: (rng.uniform(60.0, 84.0, n), rng.uniform(-75.0, 10.0, n)),
        3031: (rng.uniform(-90.0, -60.0, n), rng.uniform(-180.0, 180.0, n)),
    }
    print(f'{"CRS":>10} {"direction":>22} {"pyproj ns":>10} {"compiled ns":>12} {"ratio":>6}')
    for epsg, (lat, lon) in cases.items():
        benchmark_crs(epsg, lat, lon, args.repeat)


if __name__ == '__main__':
    main()
