"""Benchmark `s1_correction_fixed` end to end on a full Sentinel-1 scene: wall, CPU, peak RSS and where the time goes.

The scene is the real 2025 S1A pair of ../shared/s1 (reference and secondary SAFEs, annotation orbits); the
parameter rasters are those of the golden real-pair case regridded over the whole radar bounding box at 120 m by
../shared/anchor/make_bench_case.py (about 4.6 M nodes), reached through a parameter shapefile as in production.
It prints the whole command (median of --runs runs, each a fresh process) and then the split of one run: imports,
metadata and dt, parameter region, Geogrid (radar geometry, GeoTIFF writes, and the NetCDF's chunks, encoded as
Geogrid completes their rows), the PNG, publishing. Targets (issue 12): <= 5 s and <= 400 MiB on 2 cores.
Usage: python benchmarks/workflow_benchmark.py [--runs 3] [--work-dir /tmp/workflow-bench]
Needs ../shared (HYP3_S1_M11M12_SHARED).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import timed


PROJECT = Path(__file__).resolve().parents[1]
CASE = 'golden/s1a_iw_20250406_realpair_utm/inputs'
REFERENCE = 'S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7.SAFE'
SECONDARY = 'S1A_IW_SLC__1SDV_20250418T022008_20250418T022035_058805_074946_C7D4.SAFE'
# The functions whose wall-clock spans make the split (module, attribute, label), outermost first.
PHASES = (
    ('hyp3_s1_m11m12.workflows.s1_correction_fixed', 'resolve_repeat_times', 'metadata and dt (both SAFEs)'),
    ('hyp3_s1_m11m12.workflows.s1_correction_fixed', 'find_parameter_set', 'parameter region (shapefile)'),
    ('hyp3_s1_m11m12.products.correction', 'geogrid_for_repeat_times', 'Geogrid (geometry, GeoTIFF and NetCDF writes)'),
    (
        'hyp3_s1_m11m12.products.conversion_matrices',
        'write_matrix_rows',
        'of which NetCDF chunks (shuffle, ISA-L, H5Dwrite_chunk: the HDF5 thread)',
    ),
    ('hyp3_s1_m11m12.products.correction', 'write_quicklook', 'PNG'),
)


def shared_dir() -> Path:
    return Path(os.environ.get('HYP3_S1_M11M12_SHARED', PROJECT.parent / 'shared'))


def prepare(work: Path) -> Path:
    """The full-scene rasters and a parameter shapefile pointing at them; returns the shapefile."""
    folder = work / 'scene120'
    if not (folder / 'spec.json').is_file():
        script = shared_dir() / 'anchor' / 'make_bench_case.py'
        subprocess.run([sys.executable, str(script), str(shared_dir() / CASE), str(folder), '120'], check=True)
    from hyp3_s1_m11m12.geogrid.parameter_file import radar_footprint_lonlat
    from hyp3_s1_m11m12.geogrid.spec import load_spec
    from hyp3_s1_m11m12.simulate.parameters import ParameterRegion, write_parameter_shapefile

    spec = load_spec(folder / 'spec.json')
    assert spec.epsg is not None
    lons, lats = zip(*radar_footprint_lonlat(spec.radar), strict=True)
    west, east, south, north = min(lons) - 1, max(lons) + 1, min(lats) - 1, max(lats) + 1
    region = ParameterRegion(
        name='FULLSCENE120',
        epsg=spec.epsg,
        polygon_lonlat=((west, south), (east, south), (east, north), (west, north)),
        rasters=spec.rasters,
    )
    nodes = json.loads((folder / 'spec.json').read_text())['map']['dem_size_xy']
    print(
        f'full scene: {spec.name}, DEM grid {nodes[0]} x {nodes[1]} = {nodes[0] * nodes[1] / 1e6:.2f} M cells at 120 m'
    )
    return write_parameter_shapefile(work / 'autorift_fullscene_0120m.shp', [region])


def workflow_arguments(shapefile: Path, output: Path) -> list[str]:
    """The arguments of s1_correction_fixed (after `++process s1_correction_fixed`)."""
    s1 = shared_dir() / 's1'
    return [
        *(str(s1 / REFERENCE), '--secondary', str(s1 / SECONDARY)),
        *('--parameter-file', str(shapefile), '--orbit', 'annotation', '--engine', 'numpy'),
        *('--output-dir', str(output)),
    ]


def phase_child(arguments: list[str]) -> None:
    """Run the workflow in this process with each phase's wall-clock span recorded; print the split as JSON."""
    started = time.perf_counter()
    import functools
    import importlib
    import threading

    spans: dict[str, list[float]] = {}
    lock = threading.Lock()
    import hyp3_s1_m11m12.workflows.s1_correction_fixed as workflow

    imported = time.perf_counter()

    def wrap(module_name: str, attribute: str, label: str) -> None:
        module = importlib.import_module(module_name)
        function = getattr(module, attribute)

        @functools.wraps(function)
        def spanned(*args: object, **kwargs: object) -> object:
            begin = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                with lock:
                    spans.setdefault(label, []).append(time.perf_counter() - begin)

        setattr(module, attribute, spanned)

    for phase in PHASES:
        wrap(*phase)
    sys.argv = ['s1_correction_fixed', *arguments]
    try:
        workflow.main()
    except SystemExit as done:
        if done.code not in (0, None):
            raise
    finished = time.perf_counter()
    print(
        json.dumps(
            {
                'imports': imported - started,
                'total_after_imports': finished - imported,
                'cpu': time.process_time(),
                'spans': {label: sum(values) for label, values in spans.items()},
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--work-dir', type=Path, default=Path(tempfile.gettempdir()) / 'workflow-bench')
    parser.add_argument('--phase-child', nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase_child is not None:
        phase_child(args.phase_child)
        return
    if not (shared_dir() / 's1' / REFERENCE).is_dir():
        print(f'workflow benchmark: skipped, {shared_dir() / "s1"} does not hold the real pair')
        return
    args.work_dir.mkdir(parents=True, exist_ok=True)
    print(f'load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs')
    shapefile = prepare(args.work_dir)
    output = args.work_dir / 'out'
    command = [sys.executable, '-m', 'hyp3_s1_m11m12', '++process', 's1_correction_fixed']
    command += workflow_arguments(shapefile, output)
    timed(command, output)  # warm the page cache and numba's cache
    runs = [timed(command, output) for _ in range(args.runs)]
    for index, (wall, cpu, peak) in enumerate(runs, start=1):
        print(f'run {index}: wall {wall:.2f} s, cpu {cpu:.2f} s, peak {peak:.0f} MiB')
    walls, cpus, peaks = zip(*runs, strict=True)
    size = sum(path.stat().st_size for path in output.iterdir() if path.is_file())
    print(
        f'end to end (median of {args.runs}): wall {statistics.median(walls):.2f} s, cpu {statistics.median(cpus):.2f} s, '
        f'peak {statistics.median(peaks):.0f} MiB; {len(list(output.iterdir()))} files, {size / 1e6:.0f} MB'
    )
    shutil.rmtree(output, ignore_errors=True)
    child = [sys.executable, str(Path(__file__).resolve()), '--phase-child', *workflow_arguments(shapefile, output)]
    result = subprocess.run(child, cwd=PROJECT, capture_output=True, text=True, check=True)
    split = json.loads(result.stdout.strip().splitlines()[-1])
    print(
        f'split of one run (wall-clock spans; "of which" is inside the span above it): imports {split["imports"]:.2f} s'
    )
    for _, _, label in PHASES:
        if label in split['spans']:
            print(f'  {split["spans"][label]:6.2f} s  {label}')
    accounted = sum(value for label, value in split['spans'].items() if not label.startswith('of which'))
    print(f'  {split["total_after_imports"] - accounted:6.2f} s  the rest (staging, publishing, logging)')
    print(f'load average after: {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
    main()
