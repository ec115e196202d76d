"""Benchmark the numpy Geogrid engine on a full Sentinel-1 IW frame footprint (every parameter raster present).

Prints nodes, seconds, nodes per second and peak RSS. The rasters are synthetic, written to a temporary folder.
The first run's seconds include importing numba and loading the compiled kernels from its cache (once per process,
about 1 s); with --repeat, the later runs show the engine alone.
Usage: python benchmarks/geogrid_benchmark.py [--spacing-m 120] [--fraction 1.0] [--repeat 1]
"""

import argparse
import multiprocessing
import resource
import shutil
import tempfile
import time
from pathlib import Path

from hyp3_s1_m11m12.geogrid.engine import run_numpy_geogrid
from hyp3_s1_m11m12.simulate.acquisition import footprint_latlon, synthetic_scene
from hyp3_s1_m11m12.simulate.parameters import grid_covering, write_parameter_rasters


DT_12_DAYS_S = 1036799.636


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--spacing-m', type=float, default=120.0)
    parser.add_argument('--fraction', type=float, default=1.0, help='shrink the footprint box (each side) by this')
    parser.add_argument('--repeat', type=int, choices=range(1, 10), default=1, help='run the engine this many times')
    args = parser.parse_args()

    scene = synthetic_scene(60.0, -140.5)
    radar = scene.radar_geometry()
    footprint = [(lon, lat) for lat, lon in footprint_latlon(scene)]
    grid = grid_covering(footprint, args.spacing_m, fraction=args.fraction)
    with tempfile.TemporaryDirectory(prefix='geogrid-benchmark-') as folder:
        started = time.perf_counter()
        # In a child process, so that the peak RSS printed below is the engine's alone.
        with multiprocessing.get_context('spawn').Pool(1) as pool:
            rasters = pool.apply(write_parameter_rasters, (grid, Path(folder) / 'rasters'))
        print(f'rasters: {grid.columns} x {grid.rows} cells, written in {time.perf_counter() - started:.1f} s')
        runs = []
        for run in range(args.repeat):
            output = Path(folder) / f'out-{run}'
            output.mkdir()
            started = time.perf_counter()
            result = run_numpy_geogrid(radar, DT_12_DAYS_S, rasters, output)
            runs.append(time.perf_counter() - started)
            shutil.rmtree(output)  # 0.3 GB per run at 120 m
    nodes = result.p_count * result.l_count
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'nodes: {nodes} ({result.p_count} x {result.l_count})')
    for run, seconds in enumerate(runs):
        note = ' (including the kernel load)' if run == 0 else ''
        print(f'seconds: {seconds:.2f}{note}')
        print(f'nodes per second: {nodes / seconds:.0f}')
    print(f'peak RSS: {peak_rss_mb:.0f} MB')


if __name__ == '__main__':
    main()
