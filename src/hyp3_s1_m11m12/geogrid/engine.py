"""The project's own Geogrid engine (CLI value `numpy`): autoRIFT v1.6.0's ISCE2 radar Geogrid, pip-installable
and multi-threaded, bit-identical to autoRIFT's on the golden cases.

`compute_numpy_geogrid` returns the output bands as arrays (nothing written); `run_numpy_geogrid` writes the
window_*.tif files into a folder. `compute_geogrid_for_dts` / `run_geogrid_for_dts` do the same for several repeat
times with one geometry pass (the radar geometry does not depend on dt): each dt's outputs are bit-identical to a
single-dt run, because the dt-dependent kernel runs the same operations on the same inputs.
"""

import logging
import shutil
import time
import traceback
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

import hyp3_s1_m11m12
from hyp3_s1_m11m12.errors import GeogridInputError, OutputError
from hyp3_s1_m11m12.geogrid import blocks, nodes
from hyp3_s1_m11m12.geogrid.blocks import (
    GeogridArrays,
    GeogridPlan,
    iterate_blocks,
    load_kernels_in_background,
    plan_geogrid,
)
from hyp3_s1_m11m12.geogrid.geotiff import GeogridTiff, TiffEncoding, close_all
from hyp3_s1_m11m12.geogrid.rasters import OpenRasters, open_rasters
from hyp3_s1_m11m12.geogrid.types import (
    DEFAULT_SETTINGS,
    BandSink,
    GeogridResult,
    GeogridSettings,
    ParameterRasters,
    check_dt,
)
from hyp3_s1_m11m12.geogrid.vocabulary import DT_INDEPENDENT_OUTPUTS, OUTPUTS
from hyp3_s1_m11m12.geometry.radar import RadarGeometry


__all__ = [
    'ENGINE_NAME',
    'GeogridArrays',
    'GeogridPlan',
    'compute_geogrid_for_dts',
    'compute_numpy_geogrid',
    'run_geogrid_for_dts',
    'run_numpy_geogrid',
]

log = logging.getLogger(__name__)

ENGINE_NAME = 'numpy'  # the CLI value of the project's own engine, kept for compatibility
# Blocks a run's GeoTIFF writer may lag behind (each holds its block's bands, a few MB): enough to keep the
# compression off the main thread's path, few enough to keep the memory flat.
WRITE_AHEAD_BLOCKS = 2


class KeptBands:
    """A BandSink keeping whole bands of some files: file name -> leading band count (None: all bands)."""

    def __init__(self, counts: Mapping[str, int | None]) -> None:
        self.counts = dict(counts)
        self.bands: dict[str, np.ndarray] = {}
        self._shape = (0, 0)

    def start(self, rows: int, columns: int, geotransform: object = None, projection_wkt: str = '') -> None:
        self._shape = (rows, columns)
        self.bands = {}

    def add(self, first_row: int, bands: dict[str, np.ndarray]) -> None:
        for name in self.counts.keys() & bands.keys():
            block = bands[name][: self.counts[name]]
            if name not in self.bands:
                self.bands[name] = np.empty((*block.shape[:-2], *self._shape), block.dtype)
            self.bands[name][..., first_row : first_row + block.shape[-2], :] = block


def compute_geogrid_for_dts(
    radar: RadarGeometry,
    dt_values: Sequence[float],
    rasters: ParameterRasters,
    settings: GeogridSettings = DEFAULT_SETTINGS,
    include_diagnostics: bool = False,
    stop_at_fixed_point: bool = True,
    workers: int | None = None,
) -> list[GeogridArrays]:
    """Geogrid's output bands for each repeat time, with one geometry pass; nothing written.

    Each entry is bit-identical to compute_numpy_geogrid with that dt. `stop_at_fixed_point=False` runs
    geogrid.cpp's fixed 51 Newton and 10 topo steps (slower, identical outputs). With `include_diagnostics`,
    `diagnostics` holds the unrounded offsets (shape (l_count, p_count)).

    Raises:
        GeogridInputError: bad dt, rasters not on the DEM grid, a geographic DEM, no overlap, unreadable raster,
            a DEM window mostly nodata.
        OrbitError: a node's zero-Doppler time is outside the orbit.
    """
    for dt in dt_values:
        check_dt(dt)
    load_kernels_in_background()
    opened = open_rasters(rasters)
    try:
        plan = plan_geogrid(radar, opened, settings, stop_at_fixed_point)
        outputs = nodes.output_settings(plan.context, dt_values, include_diagnostics)
        window = plan.window
        results = [GeogridArrays(plan=plan, dt_seconds=float(dt), bands={}, diagnostics={}) for dt in dt_values]
        for first_row, per_dt in iterate_blocks(plan, opened, outputs, workers):
            for result, bands in zip(results, per_dt, strict=True):
                for name, array in bands.items():
                    target = result.bands if name in OUTPUTS else result.diagnostics
                    if name not in target:
                        target[name] = np.empty((*array.shape[:-2], window.l_count, window.p_count), array.dtype)
                    target[name][..., first_row : first_row + array.shape[-2], :] = array
        return results
    finally:
        opened.close()


def compute_numpy_geogrid(
    radar: RadarGeometry,
    dt_seconds: float,
    rasters: ParameterRasters,
    settings: GeogridSettings = DEFAULT_SETTINGS,
    include_diagnostics: bool = False,
    stop_at_fixed_point: bool = True,
    workers: int | None = None,
) -> GeogridArrays:
    """Geogrid's output bands as arrays for one repeat time, without writing anything (see compute_geogrid_for_dts).

    Raises:
        GeogridInputError: as compute_geogrid_for_dts.
        OrbitError: a node's zero-Doppler time is outside the orbit.
    """
    check_dt(dt_seconds)
    (arrays,) = compute_geogrid_for_dts(
        radar, [dt_seconds], rasters, settings, include_diagnostics, stop_at_fixed_point, workers
    )
    return arrays


CreationOptions = Callable[[np.dtype, int], TiffEncoding]  # (band dtype, rows per block) -> how the file is written


def run_geogrid_for_dts(
    radar: RadarGeometry,
    runs: Sequence[tuple[float, Path]],
    rasters: ParameterRasters,
    settings: GeogridSettings = DEFAULT_SETTINGS,
    keep_bands: Collection[str] | Mapping[str, int] = (),
    *,
    prefixes: Sequence[str] | None = None,
    creation_options: CreationOptions | None = None,
    block_nodes: int | None = None,
    sinks: Sequence[BandSink | None] | None = None,
    write_files: bool = True,
    computed: Collection[str] | None = None,
) -> list[GeogridResult]:
    """Write autoRIFT's window_*.tif for each (dt, existing output folder) of `runs`, with one geometry pass.

    Each run's files are named prefix + autoRIFT's name (`prefixes`, default none) and are byte-identical to
    run_numpy_geogrid with that dt when `creation_options` is None (geogrid.cpp's bytes; otherwise e.g. lossless
    compression, values unchanged). The files are written straight into the folders: staging and publishing are
    the outermost caller's (staging.staged_directory); on an error the files this call created are removed. The
    bands of the files named in `keep_bands` (all bands, or a mapping file -> leading band count) are also returned in
    memory (GeogridResult.bands), so that the caller need not read them back; a run's entry of `sinks` (one per
    run) receives its bands block by block instead, for a consumer that needs no whole band (bounded memory).
    With `write_files` False nothing is written: the bands only go to `keep_bands` and `sinks` (a product made
    without the GeoTIFFs), and each result's `outputs` is empty; `computed` then names the files whose bands are
    needed (None: all), so that the others (offsets, search ranges, chip sizes, mask) are not computed.

    Raises:
        GeogridInputError: bad dt, a missing output folder, rasters not on the DEM grid, a geographic DEM, no
            overlap, an unreadable raster, a DEM window mostly nodata.
        OrbitError: a node's zero-Doppler time is outside the orbit.
        ProductError, OutputError: the outputs cannot be written (e.g. a full disk).
    """
    started = time.monotonic()
    names = list(prefixes) if prefixes is not None else [''] * len(runs)
    if len(names) != len(runs):
        raise ValueError('one file-name prefix per run')
    run_sinks = list(sinks) if sinks is not None else [None] * len(runs)
    if len(run_sinks) != len(runs):
        raise ValueError('one band sink (or None) per run')
    for dt, output_dir in runs:
        check_dt(dt)
        if not output_dir.is_dir():
            raise GeogridInputError(f'output folder {output_dir} does not exist; create it first')
    load_kernels_in_background()
    opened = open_rasters(rasters)
    try:
        plan = plan_geogrid(radar, opened, settings)
        window = plan.window
        log.info(
            f'Geogrid (numpy): EPSG:{plan.epsg}, grid origin (pOff, lOff) = ({window.p_off}, {window.l_off}), '
            f'{window.p_count} x {window.l_count} nodes, dt = {", ".join(str(dt) for dt, _ in runs)} s'
        )
        only = None if write_files else computed
        output_settings = nodes.output_settings(plan.context, [dt for dt, _ in runs], only=only)
        paths = [
            {name: output_dir / f'{prefix}{name}' for name in plan.outputs} if write_files else {}
            for (_, output_dir), prefix in zip(runs, names, strict=True)
        ]
        counts = dict(keep_bands) if isinstance(keep_bands, Mapping) else dict.fromkeys(keep_bands, None)
        kept = [KeptBands(counts) for _ in runs]
        consumers = [[keeper] if sink is None else [keeper, sink] for keeper, sink in zip(kept, run_sinks, strict=True)]
        try:
            _write_runs(plan, opened, output_settings, paths, consumers, creation_options, block_nodes)
        except BaseException:
            for written in paths:
                for path in written.values():
                    path.unlink(missing_ok=True)
            raise
    finally:
        opened.close()
    log.info(f'Geogrid (numpy) finished in {time.monotonic() - started:.1f} s')
    return [
        _result(plan, dt, output_dir, written, keeper.bands)
        for (dt, output_dir), written, keeper in zip(runs, paths, kept, strict=True)
    ]


def _write_runs(
    plan: GeogridPlan,
    opened: OpenRasters,
    output_settings: nodes.OutputSettings,
    paths: Sequence[dict[str, Path]],
    sinks: Sequence[Sequence[BandSink]],
    creation_options: CreationOptions | None,
    block_nodes: int | None,
) -> None:
    """Write every block of every dt into its files and hand it to that run's sinks (e.g. its KeptBands).

    With several dt values the files of DT_INDEPENDENT_OUTPUTS are written for the first only and copied for the
    others (same bands, same creation options: the same bytes). Each run's files are written by a thread of its own
    (GDAL compresses with the GIL released; a file is only ever written by one thread, in row order), up to
    WRITE_AHEAD_BLOCKS blocks behind the main thread, which meanwhile reads the next block's rasters: the
    compression is not on the main thread's path.
    """
    window = plan.window
    nodata = plan.context.settings.nodata_out
    rows_per_block = min(window.l_count, max(1, (block_nodes or blocks.BLOCK_NODES) // window.p_count))
    copies = [(paths[0][name], files[name]) for files in paths[1:] for name in files if name in DT_INDEPENDENT_OUTPUTS]
    tiffs: list[dict[str, GeogridTiff]] = []

    def write_block(run_tiffs: dict[str, GeogridTiff], first_row: int, outputs: dict[str, np.ndarray]) -> None:
        for name, tiff in run_tiffs.items():
            tiff.write_rows(first_row, outputs[name])

    writers = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f'tiff{run}') for run in range(len(paths))]
    pending: deque[list[Future[None]]] = deque()
    try:
        for run, files in enumerate(paths):
            tiffs.append({})
            for name, path in files.items():
                if run > 0 and name in DT_INDEPENDENT_OUTPUTS:
                    continue
                dtype = OUTPUTS[name].dtype
                tiffs[-1][name] = GeogridTiff(
                    path,
                    window.p_count,
                    window.l_count,
                    OUTPUTS[name].bands,
                    dtype,
                    plan.geotransform,
                    plan.wkt,
                    nodata,
                    encoding=creation_options(np.dtype(dtype), rows_per_block) if creation_options else TiffEncoding(),
                )
        for run_sinks in sinks:
            for sink in run_sinks:
                sink.start(window.l_count, window.p_count, plan.geotransform, plan.wkt)
        for first_row, per_dt in iterate_blocks(
            plan, opened, output_settings, block_nodes=rows_per_block * window.p_count
        ):
            pending.append(
                [
                    writer.submit(write_block, run_tiffs, first_row, outputs)
                    for writer, run_tiffs, outputs in zip(writers, tiffs, per_dt, strict=True)
                ]
            )
            for run_sinks, outputs in zip(sinks, per_dt, strict=True):
                for sink in run_sinks:  # while the files are written: both only read the block
                    sink.add(first_row, outputs)
            while len(pending) > WRITE_AHEAD_BLOCKS:
                for future in pending.popleft():
                    future.result()
        while pending:
            for future in pending.popleft():
                future.result()
    except BaseException as error:
        for writer in writers:
            writer.shutdown(wait=True, cancel_futures=True)
        # The failed write's frames hold a band, which keeps its dataset open past our close otherwise.
        for failed in (error, error.__context__):
            if failed is not None:
                traceback.clear_frames(failed.__traceback__)
        close_all(tiff for files in tiffs for tiff in files.values())
        raise
    for writer in writers:
        writer.shutdown(wait=True)
    failure = close_all(tiff for files in tiffs for tiff in files.values())
    if failure is None:
        try:
            for source, copy in copies:
                shutil.copyfile(source, copy)
        except OSError as error:
            failure = str(error)
    if failure is not None:
        folders = ', '.join(sorted({str(path.parent) for files in paths for path in files.values()}))
        raise OutputError(
            f'cannot finish writing the Geogrid GeoTIFFs in {folders} ({failure}); check free space (no space left '
            'on the device?) and rerun'
        )


def _result(
    plan: GeogridPlan, dt_seconds: float, output_dir: Path, written: dict[str, Path], bands: dict[str, np.ndarray]
) -> GeogridResult:
    window = plan.window
    return GeogridResult(
        output_dir=output_dir,
        outputs=written,
        engine=ENGINE_NAME,
        engine_version=hyp3_s1_m11m12.__version__,
        dt_seconds=float(dt_seconds),
        epsg=plan.epsg,
        p_off=window.p_off,
        l_off=window.l_off,
        p_count=window.p_count,
        l_count=window.l_count,
        x_res_m=plan.x_res_m,
        y_res_m=plan.y_res_m,
        incidence_angle_rad=plan.incidence_angle_rad,
        extra={
            'xlim_min': plan.xlim[0],
            'xlim_max': plan.xlim[1],
            'ylim_min': plan.ylim[0],
            'ylim_max': plan.ylim[1],
        },
        bands=bands,
        geotransform=plan.geotransform,
        projection_wkt=plan.wkt,
    )


def run_numpy_geogrid(
    radar: RadarGeometry,
    dt_seconds: float,
    rasters: ParameterRasters,
    output_dir: Path,
    settings: GeogridSettings = DEFAULT_SETTINGS,
    keep_bands: Collection[str] | Mapping[str, int] = (),
) -> GeogridResult:
    """Run Geogrid and write autoRIFT's window_*.tif files into the existing folder `output_dir` (see
    run_geogrid_for_dts: same errors; the caller stages).

    Raises:
        GeogridInputError, OrbitError, ProductError: as run_geogrid_for_dts.
    """
    check_dt(dt_seconds)
    (result,) = run_geogrid_for_dts(radar, [(dt_seconds, output_dir)], rasters, settings, keep_bands)
    return result
