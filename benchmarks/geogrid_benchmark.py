"""Benchmark the project's Geogrid engine: against the real autoRIFT C++ (the anchor), per core, memory, start-up, dt.

In one run it prints:
1. project vs anchor, alternating (../shared/anchor/bench_vs_project.py on the 120 m benchmark grid): wall, CPU,
   peak RSS and the median paired ratios, then parity; a clear `anchor: skipped` line when it is not built;
2. nodes per second per core of the project on that grid;
3. peak RSS at 240 / 120 / 60 m on the same footprint (each run in a fresh process);
4. kernel start-up per CPU level (this CPU, the image's portable x86-64-v3 and generic): compile, cache load,
   the cold-start penalty of a container job, and a whole run with each level's kernels;
5. the cost of each extra repeat time (engine only, no writes): 1 and 10 dt values on the 120 m grid;
6. s1_correction_fixed end to end on a full scene and its split (benchmarks/workflow_benchmark.py).
Usage: python benchmarks/geogrid_benchmark.py [--runs 3] [--work-dir /tmp/geogrid-bench] [--skip-memory]
Needs ../shared (HYP3_S1_M11M12_SHARED) for the anchor scripts and the golden case the grid is made from.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import timed


CASE = 'golden/s1b_iw_20210401_utm/inputs'
PROJECT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    return Path(os.environ.get('HYP3_S1_M11M12_SHARED', PROJECT.parent / 'shared'))


def bench_case(work: Path, spacing: int) -> Path:
    folder = work / f'bench{spacing}'
    if not (folder / 'spec.json').is_file():
        script = shared_dir() / 'anchor' / 'make_bench_case.py'
        subprocess.run([sys.executable, str(script), str(shared_dir() / CASE), str(folder), str(spacing)], check=True)
    return folder


def project_command(spec: Path, output: Path) -> list[str]:
    return [
        *(sys.executable, '-m', 'hyp3_s1_m11m12', '++process', 'geogrid'),
        *('--spec', str(spec), '--output-dir', str(output), '--engine', 'numpy'),
    ]


def anchor_pairs(work: Path, runs: int) -> None:
    build = Path(os.environ.get('CPP_GEOGRID_BUILD', Path(tempfile.gettempdir()) / 'cpp_geogrid_build'))
    if not (build / 'python' / 'geogrid.abi3.so').is_file():
        print(f'anchor: skipped (no anchor build in {build}; see ../shared/anchor/README.md)')
        return
    report = work / 'anchor.json'
    script = shared_dir() / 'anchor' / 'bench_vs_project.py'
    env = {**os.environ, 'PROJECT_PY': sys.executable, 'BENCH_DIR': str(work / 'bench120'), 'RUNS': str(runs)}
    subprocess.run([sys.executable, str(script), str(PROJECT), '--json', str(report)], env=env, check=False)
    figures = json.loads(report.read_text())
    print(
        f'anchor/project median paired ratios: wall {figures["ratio"]["wall"]:.2f}, cpu {figures["ratio"]["cpu"]:.2f}'
    )


def per_core(work: Path) -> None:
    spec = bench_case(work, 120) / 'spec.json'
    wall, cpu, peak = timed(project_command(spec, work / 'out_per_core'), work / 'out_per_core')
    nodes = _nodes(work / 'out_per_core')
    print(
        f'project 120 m: {nodes} nodes, wall {wall:.2f} s, cpu {cpu:.2f} s, peak {peak:.0f} MiB, '
        f'{nodes / cpu / 1e6:.2f} M nodes/s per core (whole process)'
    )


def _nodes(output: Path) -> int:
    from osgeo import gdal

    dataset = gdal.Open(str(output / 'window_location.tif'))
    count = int(dataset.RasterXSize) * int(dataset.RasterYSize)
    dataset = None
    return count


def memory(work: Path) -> None:
    for spacing in (240, 120, 60):
        spec = bench_case(work, spacing) / 'spec.json'
        wall, cpu, peak = timed(project_command(spec, work / f'out_memory_{spacing}'), work / f'out_memory_{spacing}')
        print(f'memory {spacing} m: peak {peak:.0f} MiB (wall {wall:.2f} s, cpu {cpu:.2f} s)')


WARM_UP = (
    'import time; t = time.perf_counter(); from hyp3_s1_m11m12.geogrid.nodes import warm_up_kernels; '
    'warm_up_kernels(); print(time.perf_counter() - t)'
)


def ready_kernel_cache() -> None:
    """Fill the kernel cache the timed runs use, as the image ships one: without this the first timed run of a fresh
    checkout pays the ~11-19 s compile (section 4 measures compile and cache load separately)."""
    seconds = subprocess.run([sys.executable, '-c', WARM_UP], check=True, capture_output=True, text=True).stdout
    print(f'kernel cache ready before the timed runs (this warm-up took {float(seconds):.2f} s)')


def start_up(work: Path, runs: int) -> None:
    """Compile and cache-load times per CPU level, and a whole run with each level's cache (alternating)."""
    from hyp3_s1_m11m12.numba_target import GENERIC, cpu_flags, select_target

    levels = [('this CPU', None)] + [
        (level, level) for level in ('x86-64-v3', GENERIC) if select_target([level], cpu_flags())
    ]
    loads: dict[str, float] = {}
    environments: dict[str, dict[str, str]] = {}
    for label, level in levels:
        cache = Path(tempfile.mkdtemp(prefix='numba-cache-', dir=work))
        env = {key: value for key, value in os.environ.items() if key != 'NUMBA_CPU_NAME'}
        env['NUMBA_CACHE_DIR'] = str(cache)
        if level is not None:
            env['NUMBA_CPU_NAME'] = level
        seconds = []
        for _ in range(2):  # the first compiles into the empty cache, the second loads it
            result = subprocess.run(
                [sys.executable, '-c', WARM_UP], env=env, check=True, capture_output=True, text=True
            )
            seconds.append(float(result.stdout.strip().splitlines()[-1]))
        loads[label] = seconds[1]
        environments[label] = env
        print(f'kernels, {label}: compile {seconds[0]:.2f} s (no cache), load from cache {seconds[1]:.2f} s')
    for label, load in loads.items():
        if label != 'this CPU':
            print(
                f'cold-start penalty of a container job with the prebuilt {label} cache: '
                f'{load - loads["this CPU"]:+.2f} s (vs a cache of this CPU)'
            )
    spec = bench_case(work, 120) / 'spec.json'
    figures: dict[str, list[tuple[float, float, float]]] = {label: [] for label in environments}
    for _ in range(runs):
        for label, env in environments.items():
            figures[label].append(timed(project_command(spec, work / 'out-level'), work / 'out-level', env))
    for label, values in figures.items():
        wall = statistics.median(value[0] for value in values)
        cpu = statistics.median(value[1] for value in values)
        print(f'project 120 m with the {label} kernels: wall {wall:.2f} s, cpu {cpu:.2f} s (median of {runs})')


MULTI_DT = """
import sys, time
from pathlib import Path

from hyp3_s1_m11m12.geogrid import blocks, nodes
from hyp3_s1_m11m12.geogrid.rasters import open_rasters
from hyp3_s1_m11m12.geogrid.spec import load_spec
spec = load_spec(Path(sys.argv[1]))
opened = open_rasters(spec.rasters)
plan = blocks.plan_geogrid(spec.radar, opened, spec.settings)
nodes.warm_up_kernels()
for count in (1, 10):
    dts = [spec.dt_seconds * (1 + k) for k in range(count)]
    scalars = nodes.output_settings(plan.context, dts)
    started = time.perf_counter()
    for _ in blocks.iterate_blocks(plan, opened, scalars):
        pass
    print(count, time.perf_counter() - started)
"""


def multi_dt(work: Path) -> None:
    spec = bench_case(work, 120) / 'spec.json'
    result = subprocess.run([sys.executable, '-c', MULTI_DT, str(spec)], check=True, capture_output=True, text=True)
    seconds = dict(line.split() for line in result.stdout.strip().splitlines())
    one, ten = float(seconds['1']), float(seconds['10'])
    print(
        f'engine, no writes: 1 dt {one:.2f} s, 10 dt {ten:.2f} s: {ten / one:.2f}x one, '
        f'{(ten - one) / 9 / one:.1%} of one per extra dt'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--work-dir', type=Path, default=Path(tempfile.gettempdir()) / 'geogrid-bench')
    parser.add_argument('--skip-memory', action='store_true', help='skip the 240/120/60 m memory runs')
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    print(f'load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs')
    ready_kernel_cache()
    anchor_pairs(args.work_dir, args.runs)
    per_core(args.work_dir)
    if not args.skip_memory:
        memory(args.work_dir)
    start_up(args.work_dir, args.runs)
    multi_dt(args.work_dir)
    # 6. the workflow end to end on a full scene, with its split (benchmarks/workflow_benchmark.py)
    script = PROJECT / 'benchmarks' / 'workflow_benchmark.py'
    subprocess.run(
        [sys.executable, str(script), '--runs', str(args.runs), '--work-dir', str(args.work_dir)], check=True
    )
    print(
        f'load average after: {os.getloadavg()[0]:.2f}; this process peak RSS '
        f'{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB'
    )


if __name__ == '__main__':
    main()
