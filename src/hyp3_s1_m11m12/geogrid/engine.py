"""The numpy Geogrid engine: autoRIFT v1.6.0's ISCE2 radar Geogrid, pip-installable and multi-threaded.

Its outputs are bit-identical to autoRIFT's on the golden cases: every floating-point operation of the reference
(ISCE2's orbit interpolation, latlon.F, geogrid.cpp) is done in the same order and time base. When numba is
installed the whole per-node computation but the map projections runs in two fused numba kernels
(geometry/kernels.py, bit-identical to the numpy code of nodes.py); in numpy otherwise.

`compute_numpy_geogrid` returns the output bands as arrays (nothing written); `run_numpy_geogrid` writes the
window_*.tif files. The grid is processed in row blocks (bounded memory): the main thread reads each block's DEM
window from every raster, a thread pool computes the blocks (numba kernels, numpy and pyproj release the GIL),
and results are consumed in order.
"""

import dataclasses
import logging
import math
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

import hyp3_s1_m11m12
from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid import nodes
from hyp3_s1_m11m12.geogrid.geotiff import GeogridTiff, epsg_wkt
from hyp3_s1_m11m12.geogrid.rasters import OpenRasters, open_rasters
from hyp3_s1_m11m12.geogrid.types import (
    DEFAULT_SETTINGS,
    GeogridResult,
    GeogridSettings,
    ParameterRasters,
    check_dt,
)
from hyp3_s1_m11m12.geogrid.window import GridWindow, grid_window, incidence_angle_rad, scene_bounding_box
from hyp3_s1_m11m12.geometry.projection import MapProjection
from hyp3_s1_m11m12.geometry.radar import RadarGeometry
from hyp3_s1_m11m12.geometry.zero_doppler import norm


log = logging.getLogger(__name__)

ENGINE_NAME = 'numpy'
BLOCK_NODES = 16384  # nodes per block: small enough for the cache and bounded memory, large for numpy overhead
TEMPORARY_PREFIX = '.numpy-geogrid-'


@dataclass(frozen=True)
class GeogridPlan:
    """The run's set-up: grid window, geometry context and autoRIFT's derived state (getState)."""

    window: GridWindow
    context: nodes.NodeContext
    epsg: int
    wkt: str
    geotransform: tuple[float, float, float, float, float, float]  # of the outputs
    dem_geotransform: tuple[float, float, float, float, float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    incidence_angle_rad: float
    x_res_m: float
    y_res_m: float
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class GeogridArrays:
    """Geogrid's outputs in memory: file name -> (bands, l_count, p_count) array, plus the run's state."""

    plan: GeogridPlan
    bands: dict[str, npt.NDArray[np.generic]]
    diagnostics: dict[str, npt.NDArray[np.generic]] = field(default_factory=dict)


def plan_geogrid(
    radar: RadarGeometry,
    dt_seconds: float,
    opened: OpenRasters,
    settings: GeogridSettings,
    stop_at_fixed_point: bool = True,
    compiled: bool | None = None,
) -> GeogridPlan:
    """Bounding box, DEM window, incidence angle and pixel sizes (Geogrid.py + the set-up of geogrid.cpp).

    Raises:
        GeogridInputError: dt <= 0, or the scene and the DEM do not overlap.
        OrbitError: the orbit does not cover the scene.
    """
    check_dt(dt_seconds)
    grid = opened.grid
    projection = MapProjection(grid.epsg)
    orbit = radar.orbit.rebased_to_midnight()
    radar = dataclasses.replace(radar, orbit=orbit)
    xlim, ylim = scene_bounding_box(radar, projection)
    window = grid_window(grid.geotransform, grid.x_size, grid.y_size, xlim, ylim)
    incidence = incidence_angle_rad(radar)
    sensing_start_s = orbit.seconds_since_epoch(radar.sensing_start)
    initial_time_s = sensing_start_s + 0.5 * radar.number_of_lines / radar.prf_hz
    _, mid_velocity = orbit.interpolate(np.float64(initial_time_s))
    x_res = radar.range_pixel_size_m / math.sin(incidence)
    y_res = float(norm(mid_velocity)) / radar.prf_hz
    chip_range, chip_azimuth = nodes.chip_size_pixels(settings.chip_size_x0_m, x_res, y_res)
    present = frozenset(opened.datasets)
    context = nodes.NodeContext(
        orbit=orbit,
        projection=projection,
        look_side=radar.look_side,
        starting_range_m=radar.starting_range_m,
        range_pixel_size_m=radar.range_pixel_size_m,
        prf_hz=radar.prf_hz,
        number_of_lines=radar.number_of_lines,
        number_of_samples=radar.number_of_samples,
        sensing_start_s=sensing_start_s,
        initial_time_s=initial_time_s,
        dt_seconds=float(dt_seconds),
        settings=settings,
        vx_nodata=opened.vx_nodata,
        chip_pixels_range=chip_range,
        chip_pixels_azimuth=chip_azimuth,
        present=present,
        stop_at_fixed_point=stop_at_fixed_point,
        compiled=compiled,
    )
    gt = grid.geotransform
    geotransform = (gt[0] + window.p_off * gt[1], gt[1], 0.0, gt[3] + window.l_off * gt[5], 0.0, gt[5])
    return GeogridPlan(
        window=window,
        context=context,
        epsg=grid.epsg,
        wkt=epsg_wkt(grid.epsg),
        geotransform=geotransform,
        dem_geotransform=gt,
        xlim=xlim,
        ylim=ylim,
        incidence_angle_rad=incidence,
        x_res_m=x_res,
        y_res_m=y_res,
        outputs=nodes.outputs_for(present),
    )


def _compute_block(
    plan: GeogridPlan, first_row: int, values: dict[str, npt.NDArray[np.float64]], include_diagnostics: bool
) -> dict[str, npt.NDArray[np.generic]]:
    window = plan.window
    rows = values['dem'].shape[0]
    gt = plan.dem_geotransform
    columns = np.arange(window.p_count, dtype=np.float64)
    row_numbers = np.arange(first_row, first_row + rows, dtype=np.float64)
    x = gt[0] + (window.p_off + columns + 0.5) * gt[1]
    y = gt[3] + (window.l_off + row_numbers + 0.5) * gt[5]
    xx = np.broadcast_to(x[None, :], (rows, window.p_count)).reshape(-1)
    yy = np.broadcast_to(y[:, None], (rows, window.p_count)).reshape(-1)
    flat = {name: array.reshape(-1) for name, array in values.items()}
    outputs = nodes.compute_nodes(plan.context, xx, yy, flat, include_diagnostics=include_diagnostics)
    return {name: array.reshape(*array.shape[:-1], rows, window.p_count) for name, array in outputs.items()}


def available_workers() -> int:
    """Threads for the block pool: OMP_NUM_THREADS when set (HyP3's ++omp-num-threads), else the CPUs this process
    may run on (a container's CPU set, not the host's count), at most 8."""
    requested = os.environ.get('OMP_NUM_THREADS', '')
    if requested.isdigit() and int(requested) > 0:
        return int(requested)
    return max(1, min(len(os.sched_getaffinity(0)), 8))


def iterate_blocks(
    plan: GeogridPlan,
    opened: OpenRasters,
    include_diagnostics: bool = False,
    workers: int | None = None,
    block_nodes: int | None = None,
) -> Iterator[tuple[int, dict[str, npt.NDArray[np.generic]]]]:
    """(first row, outputs of shape (bands, rows, p_count)) for consecutive row blocks, in order."""
    window = plan.window
    rows_per_block = max(1, (block_nodes or BLOCK_NODES) // window.p_count)
    workers = workers or available_workers()
    starts = range(0, window.l_count, rows_per_block)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix='geogrid') as pool:
        pending: deque[tuple[int, Future[dict[str, npt.NDArray[np.generic]]]]] = deque()
        try:
            for first_row in starts:
                rows = min(rows_per_block, window.l_count - first_row)
                values = opened.read_window(window.p_off, window.l_off + first_row, window.p_count, rows)
                pending.append((first_row, pool.submit(_compute_block, plan, first_row, values, include_diagnostics)))
                while len(pending) > 2 * workers:
                    done_row, future = pending.popleft()
                    yield done_row, future.result()
            while pending:
                done_row, future = pending.popleft()
                yield done_row, future.result()
        finally:
            for _, future in pending:
                future.cancel()


def compute_numpy_geogrid(
    radar: RadarGeometry,
    dt_seconds: float,
    rasters: ParameterRasters,
    settings: GeogridSettings = DEFAULT_SETTINGS,
    include_diagnostics: bool = False,
    stop_at_fixed_point: bool = True,
    workers: int | None = None,
    compiled: bool | None = None,
) -> GeogridArrays:
    """Geogrid's output bands as arrays, without writing anything.

    `stop_at_fixed_point=False` runs geogrid.cpp's fixed 51 Newton and 10 topo steps (slower, identical outputs).
    `compiled=False` forces the pure-numpy path (the default uses the numba kernels when numba is installed).
    With `include_diagnostics`, `diagnostics` holds the unrounded offsets (shape (l_count, p_count)).

    Raises:
        GeogridInputError: bad dt, rasters not on the DEM grid, a geographic DEM, no overlap, unreadable raster.
        OrbitError: a node's zero-Doppler time is outside the orbit.
    """
    check_dt(dt_seconds)
    opened = open_rasters(rasters)
    try:
        plan = plan_geogrid(radar, dt_seconds, opened, settings, stop_at_fixed_point, compiled)
        window = plan.window
        bands: dict[str, npt.NDArray[np.generic]] = {}
        diagnostics: dict[str, npt.NDArray[np.generic]] = {}
        for first_row, outputs in iterate_blocks(plan, opened, include_diagnostics, workers):
            for name, array in outputs.items():
                target = bands if name in nodes.OUTPUT_LAYOUT else diagnostics
                if name not in target:
                    target[name] = np.empty(array.shape[:-2] + (window.l_count, window.p_count), dtype=array.dtype)
                target[name][..., first_row : first_row + array.shape[-2], :] = array
        return GeogridArrays(plan=plan, bands=bands, diagnostics=diagnostics)
    finally:
        opened.close()


def run_numpy_geogrid(
    radar: RadarGeometry,
    dt_seconds: float,
    rasters: ParameterRasters,
    output_dir: Path,
    settings: GeogridSettings = DEFAULT_SETTINGS,
) -> GeogridResult:
    """Run Geogrid and write autoRIFT's window_*.tif files into the existing folder `output_dir`.

    The files are built in a temporary folder inside `output_dir` and moved into place only when all are complete,
    so an error leaves nothing behind.

    Raises:
        GeogridInputError: bad dt, rasters not on the DEM grid, a geographic DEM, no overlap, unreadable raster.
        OrbitError: a node's zero-Doppler time is outside the orbit.
        ProductError: the outputs cannot be written.
    """
    started = time.monotonic()
    check_dt(dt_seconds)
    if not output_dir.is_dir():
        raise GeogridInputError(f'output folder {output_dir} does not exist; create it first')
    opened = open_rasters(rasters)
    try:
        plan = plan_geogrid(radar, dt_seconds, opened, settings)
        window = plan.window
        log.info(
            f'Geogrid (numpy): EPSG:{plan.epsg}, grid origin (pOff, lOff) = ({window.p_off}, {window.l_off}), '
            f'{window.p_count} x {window.l_count} nodes, dt = {dt_seconds} s'
        )
        staging = Path(tempfile.mkdtemp(prefix=TEMPORARY_PREFIX, dir=output_dir))
        try:
            tiffs = {
                name: GeogridTiff(
                    staging / name,
                    window.p_count,
                    window.l_count,
                    nodes.OUTPUT_LAYOUT[name][0],
                    nodes.OUTPUT_LAYOUT[name][1],
                    plan.geotransform,
                    plan.wkt,
                    settings.nodata_out,
                )
                for name in plan.outputs
            }
            try:
                for first_row, outputs in iterate_blocks(plan, opened):
                    for name, tiff in tiffs.items():
                        tiff.write_rows(first_row, outputs[name])
            finally:
                for tiff in tiffs.values():
                    tiff.close()
            written = {}
            for name in plan.outputs:
                os.replace(staging / name, output_dir / name)
                written[name] = output_dir / name
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        opened.close()
    log.info(f'Geogrid (numpy) finished in {time.monotonic() - started:.1f} s')
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
    )
