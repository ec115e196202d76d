"""Benchmark the whole s1_correction_fixed workflow with 1 and with 10 secondaries of one reference scene.

The issue's target: a run with 10 secondaries costs at most 1.5x a single-pair run (one geometry pass serves every
pair; each pair still writes its own NetCDF and PNG, and its GeoTIFFs unless `--include-geotiffs false`, as an
archive campaign's jobs run). Offline on the project's simulated scenes: a reference SAFE and secondaries 1..10
cycles (12..120 days) later, a synthetic parameter file at `--spacing` m over the scene, the annotation orbit, the
numpy engine. Each run is a fresh process (`python -m hyp3_s1_m11m12 ++process s1_correction_fixed ...`), timed
with os.wait4 (wall, CPU of that process, peak RSS); for each product set (with and without the GeoTIFFs) the 1-
and 10-secondary runs alternate `--runs` times and the medians and their ratios are printed.
Usage: python benchmarks/multi_secondary_benchmark.py [--runs 3] [--spacing 240] [--secondaries 10]
"""

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from hyp3_s1_m11m12.simulate.parameters import write_synthetic_parameter_file
from hyp3_s1_m11m12.simulate.safe import SyntheticPair, footprint_latlon, simulated_scene_pair
from timing import timed


def scenes(work: Path, count: int) -> list[SyntheticPair]:
    pairs = [
        simulated_scene_pair(work / f'cycles{cycles}', cycles=cycles, as_zip=True) for cycles in range(1, count + 1)
    ]
    assert len({pair.reference_scene.name for pair in pairs}) == 1, 'the pairs must share their reference scene'
    return pairs


def command(pairs: list[SyntheticPair], parameter_file: Path, output: Path, geotiffs: bool) -> list[str]:
    secondaries = [argument for pair in pairs for argument in ('--secondary', str(pair.secondary))]
    return [
        *(sys.executable, '-m', 'hyp3_s1_m11m12', '++process', 's1_correction_fixed', str(pairs[0].reference)),
        *secondaries,
        *('--orbit', 'annotation', '--engine', 'numpy', '--parameter-file', str(parameter_file)),
        *('--include-geotiffs', str(geotiffs).lower(), '--output-dir', str(output)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--spacing', type=float, default=240.0, help='map grid spacing (m) of the parameter file')
    parser.add_argument('--secondaries', type=int, default=10)
    parser.add_argument('--work-dir', type=Path, help='keep the inputs and outputs here (default: a temporary folder)')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work_dir or Path(temporary)
        pairs = scenes(work / 'scenes', args.secondaries)
        footprint = [(lon, lat) for lat, lon in footprint_latlon(pairs[0].reference_scene)]
        parameter_file, grid = write_synthetic_parameter_file(footprint, work / 'parameters', spacing_m=args.spacing)
        configurations = {
            (geotiffs, count): pairs[:count] for geotiffs in (True, False) for count in (1, args.secondaries)
        }
        figures: dict[tuple[bool, int], list[tuple[float, float, float]]] = {key: [] for key in configurations}
        warm_up = work / 'warm-up'
        timed(command(pairs[:1], parameter_file, warm_up, True), warm_up)  # kernel caches, page cache
        for run in range(args.runs):
            for (geotiffs, count), chosen in configurations.items():
                output = work / f'out-{count}-{"full" if geotiffs else "lean"}'
                wall, cpu, peak = timed(command(chosen, parameter_file, output, geotiffs), output)
                figures[geotiffs, count].append((wall, cpu, peak))
                print(
                    f'run {run + 1} {count} secondaries, {label(geotiffs)}: wall {wall:.2f} s, cpu {cpu:.2f} s, '
                    f'peak {peak:.0f} MiB',
                    flush=True,
                )
        print(f'grid {grid.columns} x {grid.rows} at {args.spacing:g} m; medians of {args.runs} alternating runs:')
        medians = {
            key: tuple(statistics.median(values[i] for values in runs) for i in range(3))
            for key, runs in figures.items()
        }
        for geotiffs in (True, False):
            one, many = medians[geotiffs, 1], medians[geotiffs, args.secondaries]
            print(f'  {label(geotiffs)}:')
            for count, (wall, cpu, peak) in ((1, one), (args.secondaries, many)):
                print(f'    {count} secondaries: wall {wall:.2f} s, cpu {cpu:.2f} s, peak RSS {peak:.0f} MiB')
            extra = (many[0] - one[0]) / (args.secondaries - 1)
            print(
                f'    ratio {args.secondaries}/1: wall {many[0] / one[0]:.2f}x, cpu {many[1] / one[1]:.2f}x, '
                f'peak RSS {many[2] / one[2]:.2f}x (target: <= 1.5x); each extra secondary {extra:.2f} s wall, '
                f'{(many[1] - one[1]) / (args.secondaries - 1):.2f} s CPU'
            )
            output = work / f'out-{args.secondaries}-{"full" if geotiffs else "lean"}'
            suffixes = sorted({path.suffix for path in output.iterdir()})
            print(f'    outputs per pair: {", ".join(suffixes)}')


def label(geotiffs: bool) -> str:
    return 'NetCDF, PNG and GeoTIFFs' if geotiffs else 'NetCDF and PNG (--include-geotiffs false)'


if __name__ == '__main__':
    main()
