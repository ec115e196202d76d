"""The engine's set-up and block loop: the plan (bounding box, DEM window, geometry context) and the row blocks.

The grid is processed in row blocks (bounded memory): the main thread reads each block from every raster, a thread
pool computes the blocks (the kernels and pyproj release the GIL) and results are consumed in order. The kernels
load (numba's cache, or a compilation) in the background while the rasters are opened and the grid is planned.
"""

import dataclasses
import logging
import math
import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid import kernels, nodes
from hyp3_s1_m11m12.geogrid.geotiff import epsg_wkt
from hyp3_s1_m11m12.geogrid.rasters import OpenRasters, bounded_block_cache
from hyp3_s1_m11m12.geogrid.types import GeogridSettings
from hyp3_s1_m11m12.geogrid.vocabulary import NEWTON_ITERATIONS, TOPO_ITERATIONS, outputs_for
from hyp3_s1_m11m12.geogrid.window import GridWindow, grid_window, incidence_angle_rad, scene_bounding_box
from hyp3_s1_m11m12.geometry.projection import MapProjection
from hyp3_s1_m11m12.geometry.radar import RadarGeometry


log = logging.getLogger(__name__)

BLOCK_NODES = 16384  # nodes per block: small enough for the cache and bounded memory, large for the call overhead
# A DEM window with at least this fraction of nodata heights is the wrong region or a broken raster (autoRIFT would
# use the nodata values as terrain); below it, a warning names the fraction (autoRIFT's results, for parity).
DEM_NODATA_ERROR_FRACTION = 0.5

Bands = dict[str, npt.NDArray[np.generic]]


@dataclass(frozen=True)
class GeogridPlan:
    """The run's set-up: grid window, geometry context and autoRIFT's derived state (getState). dt-independent."""

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
    """Geogrid's outputs in memory for one dt: file name -> (bands, l_count, p_count) array, plus the run's state."""

    plan: GeogridPlan
    dt_seconds: float
    bands: Bands
    diagnostics: Bands = field(default_factory=dict)


def load_kernels_in_background() -> threading.Thread:
    """Start loading the compiled kernels in a thread, so that the serial set-up (opening rasters, the bounding
    box, pyproj, the first reads) hides it; the first block waits for it. Loading is numba's import, the cache
    load or a compilation, and the first call of each kernel (numba loads a signature's machine code then: done
    here on empty inputs, not by the first block while the other workers wait for it)."""
    thread = threading.Thread(target=nodes.warm_up_kernels, name='geogrid-kernels', daemon=True)
    thread.start()
    return thread


def plan_geogrid(
    radar: RadarGeometry, opened: OpenRasters, settings: GeogridSettings, stop_at_fixed_point: bool = True
) -> GeogridPlan:
    """Bounding box, DEM window, incidence angle and pixel sizes (Geogrid.py + the set-up of geogrid.cpp).

    Raises:
        GeogridInputError: the scene and the DEM do not overlap.
        OrbitError: the orbit does not cover the scene.
    """
    grid = opened.grid
    projection = MapProjection(grid.epsg)
    orbit = radar.orbit.rebased_to_midnight()
    radar = dataclasses.replace(radar, orbit=orbit)
    xlim, ylim = scene_bounding_box(radar, projection)
    window = grid_window(grid.geotransform, grid.x_size, grid.y_size, xlim, ylim)
    incidence = incidence_angle_rad(radar)
    sensing_start_s = orbit.seconds_since_epoch(radar.sensing_start)
    initial_time_s = sensing_start_s + 0.5 * radar.number_of_lines / radar.prf_hz
    orbit.check_within_span(np.float64(initial_time_s))
    _, mid_velocity = orbit.interpolate(np.float64(initial_time_s))
    x_res = radar.range_pixel_size_m / math.sin(incidence)
    v = mid_velocity
    y_res = float(np.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])) / radar.prf_hz
    chip_range, chip_azimuth = nodes.chip_size_pixels(settings.chip_size_x0_m, x_res, y_res)
    context = nodes.NodeContext(
        orbit=orbit,
        tables=kernels.orbit_tables(orbit.times_s, orbit.positions_m, orbit.velocities_m_s),
        radar=kernels.RadarScalars(
            initial_time=float(initial_time_s),
            newton_iterations=NEWTON_ITERATIONS,
            topo_iterations=TOPO_ITERATIONS,
            stop_at_cycle=bool(stop_at_fixed_point),
            starting_range=float(radar.starting_range_m),
            range_pixel_size=float(radar.range_pixel_size_m),
            sensing_start=float(sensing_start_s),
            prf=float(radar.prf_hz),
            line_time=float(1 / radar.prf_hz),
            last_line=float(radar.number_of_lines - 1),
            last_sample=float(radar.number_of_samples - 1),
            look_side=int(radar.look_side),
        ),
        projection=projection,
        settings=settings,
        vx_nodata=opened.vx_nodata,
        chip_pixels_range=chip_range,
        chip_pixels_azimuth=chip_azimuth,
        present=frozenset(opened.datasets),
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
        outputs=outputs_for(context.present),
    )


def _compute_block(
    plan: GeogridPlan,
    first_row: int,
    values: dict[str, npt.NDArray[np.float64]],
    outputs: nodes.OutputSettings,
) -> list[Bands]:
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
    per_dt = nodes.compute_nodes(plan.context, xx, yy, flat, outputs)
    return [
        {name: array.reshape(*array.shape[:-1], rows, window.p_count) for name, array in outputs.items()}
        for outputs in per_dt
    ]


def available_workers() -> int:
    """Threads for the block pool: OMP_NUM_THREADS when set (HyP3's ++omp-num-threads), else the CPUs this process
    may run on (a container's CPU set, not the host's count), at most 8."""
    requested = os.environ.get('OMP_NUM_THREADS', '')
    if requested.isdigit() and int(requested) > 0:
        return int(requested)
    return max(1, min(len(os.sched_getaffinity(0)), 8))


def check_dem_coverage(nodata_count: int, total: int, dem: str) -> None:
    """Refuse a DEM window that is mostly nodata; warn with the fraction when some is.

    Raises:
        GeogridInputError: at least DEM_NODATA_ERROR_FRACTION of the window's heights are nodata.
    """
    fraction = nodata_count / total if total else 0.0
    if fraction >= DEM_NODATA_ERROR_FRACTION:
        raise GeogridInputError(
            f'{fraction:.1%} of the DEM heights under the scene are nodata ({nodata_count} of {total} in the Geogrid '
            f'window of {dem}): the DEM does not cover this scene or is broken; use the parameter file of the '
            "scene's region or a DEM that covers the scene"
        )
    if nodata_count:
        log.warning(
            f'{fraction:.2%} of the DEM heights under the scene are nodata ({nodata_count} of {total}); Geogrid uses '
            'them as heights there, as autoRIFT does'
        )


def iterate_blocks(
    plan: GeogridPlan,
    opened: OpenRasters,
    outputs: nodes.OutputSettings,
    workers: int | None = None,
    block_nodes: int | None = None,
) -> Iterator[tuple[int, list[Bands]]]:
    """(first row, outputs of shape (bands, rows, p_count) per dt) for consecutive row blocks, in order; after the
    last block, the DEM coverage is checked (check_dem_coverage)."""
    window = plan.window
    rows_per_block = max(1, (block_nodes or BLOCK_NODES) // window.p_count)
    workers = workers or available_workers()
    nodata_count = 0
    with (
        bounded_block_cache(opened.block_cache_bytes(window.p_count)),
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix='geogrid') as pool,
    ):
        pending: deque[tuple[int, Future[list[Bands]]]] = deque()
        try:
            for first_row in range(0, window.l_count, rows_per_block):
                rows = min(rows_per_block, window.l_count - first_row)
                values = opened.read_window(window.p_off, window.l_off + first_row, window.p_count, rows)
                nodata_count += opened.dem_nodata_count(values['dem'])
                pending.append((first_row, pool.submit(_compute_block, plan, first_row, values, outputs)))
                while len(pending) > 2 * workers:
                    done_row, future = pending.popleft()
                    yield done_row, future.result()
            while pending:
                done_row, future = pending.popleft()
                yield done_row, future.result()
        finally:
            for _, future in pending:
                future.cancel()
    check_dem_coverage(nodata_count, window.p_count * window.l_count, opened.datasets['dem'].GetDescription())
