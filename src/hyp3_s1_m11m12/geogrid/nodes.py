"""Geogrid's per-node computation for a block of nodes: the compiled kernels with the map projections between them.

Pure: map coordinates, DEM heights and parameter values in, output bands out. The radar part (geo2rdr, topo and
both steps) does not depend on the repeat time dt, so it runs once per block whatever the number of dt values;
the outputs kernel then computes each node's dt-independent terms once and runs the dt-dependent operations for
every dt, the same operations as a single-dt run (so the same bits).
"""

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12.geogrid import kernels
from hyp3_s1_m11m12.geogrid.types import GeogridSettings
from hyp3_s1_m11m12.geogrid.vocabulary import (
    CHIP_SIZE_MAX,
    CHIP_SIZE_MIN,
    DT_INDEPENDENT_OUTPUTS,
    FLOAT_ROWS,
    INT_ROWS,
    LOCATION,
    OFF2VEL_X,
    OFFSET,
    OUTPUTS,
    RASTER_ROWS,
    SEARCH_RANGE,
    STABLE_SURFACE_MASK,
    outputs_for,
)
from hyp3_s1_m11m12.geometry.orbit import Orbit
from hyp3_s1_m11m12.geometry.projection import MapProjection, warm_up_projections


FloatArray = npt.NDArray[np.float64]
Bands = dict[str, npt.NDArray[np.generic]]

# Diagnostics (not written): the offsets before rounding, for consistency checks of the conversion matrices.
OFFSET_RANGE_UNROUNDED = 'offset_range_unrounded'
OFFSET_AZIMUTH_UNROUNDED = 'offset_azimuth_unrounded'


@dataclass(frozen=True)
class NodeContext:
    """Everything the per-node computation needs besides the node values and dt; built once per run."""

    orbit: Orbit  # for error messages; the kernels read `tables`
    tables: kernels.OrbitTables
    radar: kernels.RadarScalars
    projection: MapProjection
    settings: GeogridSettings
    vx_nodata: float | None
    chip_pixels_range: int  # ChipSizeX0_PIX_grd
    chip_pixels_azimuth: int  # ChipSizeX0_PIX_azm
    present: frozenset[str]


def search_range_scale(dt_seconds: float, settings: GeogridSettings) -> float:
    """The dt-dependent search-range factor of geogrid.cpp (5 at one day, falling to 1 at dt_unity days)."""
    m = settings.srs_max_scale
    unity = settings.srs_dt_unity_days
    return max(m * ((unity - 1) * m + (m - 1) - (m - 1) * dt_seconds / 24.0 / 3600.0) / ((unity - 1) * m), 1.0)


@dataclass(frozen=True)
class OutputSettings:
    """What the outputs kernel runs with: the settings shared by all repeat times, and the repeat times."""

    scalars: kernels.OutputScalars
    repeat_times: kernels.RepeatTimes
    outputs: tuple[str, ...]  # the files whose bands are computed, vocabulary.OUTPUT_NAMES order

    @property
    def count(self) -> int:
        return int(self.repeat_times.dt.shape[0])


def output_settings(
    context: NodeContext,
    dts_seconds: Sequence[float],
    include_diagnostics: bool = False,
    only: Collection[str] | None = None,
) -> OutputSettings:
    """The outputs kernel's settings for the repeat times `dts_seconds` (at least one): every output the rasters
    allow, or of those only the files in `only` (the location is always computed)."""
    if not dts_seconds:
        raise ValueError('at least one repeat time')
    settings = context.settings
    allowed = outputs_for(context.present)
    computed = tuple(name for name in allowed if only is None or name in only or name == LOCATION)
    wanted = set(computed)
    scalars = kernels.OutputScalars(
        range_pixel_size=float(context.radar.range_pixel_size),
        nodata_out=float(settings.nodata_out),
        vx_nodata=float(context.vx_nodata or 0.0),
        has_vx_nodata=context.vx_nodata is not None,
        search_min=float(settings.srs_min_search_m_per_yr),
        search_max=float(settings.srs_max_search_m_per_yr),
        chip_size_x0=float(settings.chip_size_x0_m),
        chip_pixels_range=float(context.chip_pixels_range),
        chip_pixels_azimuth=float(context.chip_pixels_azimuth),
        want_matrices=OFF2VEL_X in wanted,
        want_offset=OFFSET in wanted,
        want_search_range=SEARCH_RANGE in wanted,
        want_chip_size_min=CHIP_SIZE_MIN in wanted,
        want_chip_size_max=CHIP_SIZE_MAX in wanted,
        want_stable_surface_mask=STABLE_SURFACE_MASK in wanted,
        want_unrounded=include_diagnostics and OFFSET in wanted,
    )
    repeat_times = kernels.RepeatTimes(
        dt=np.array([float(dt) for dt in dts_seconds], dtype=np.float64),
        search_factor=np.array([float(search_range_scale(dt, settings)) for dt in dts_seconds], dtype=np.float64),
    )
    return OutputSettings(scalars=scalars, repeat_times=repeat_times, outputs=computed)


def _vector(values: npt.ArrayLike) -> FloatArray:
    """A writeable C-contiguous float64 vector: the one array type the kernels are compiled (and cached) for."""
    return np.require(values, dtype=np.float64, requirements=['C', 'W']).reshape(-1)


def compute_nodes(
    context: NodeContext,
    x: FloatArray,
    y: FloatArray,
    values: dict[str, FloatArray],
    outputs: OutputSettings,
) -> list[Bands]:
    """Output bands, shape (bands, n), for n nodes at map (x, y) with the rasters' values there (`values['dem']` ...),
    one dict per repeat time of `outputs`, keyed by file name (plus the unrounded offsets with diagnostics). The
    bands that do not depend on dt (the location, vocabulary.DT_INDEPENDENT_OUTPUTS) are shared between the dicts.

    Raises:
        OrbitError: a node's zero-Doppler time (or that time + 1/prf) falls outside the orbit.
    """
    x = _vector(x)
    y = _vector(y)
    height = _vector(values['dem'])
    total = x.size
    compiled = kernels.compiled()
    lat_deg, lon_deg = context.projection.to_geographic(x, y)
    radar_out = kernels.RadarOutputs(
        location=np.full((2, total), context.settings.nodata_out, dtype=np.int32),
        times=np.empty(total),
        status=np.zeros(total, dtype=np.int8),
        inside=np.empty(total, dtype=np.int64),
        steps=np.empty((6, total)),
    )
    count = compiled.radar(context.tables, context.radar, np.stack((lat_deg, lon_deg, height)), radar_out)
    _check_status(context, radar_out)
    steps = radar_out.steps[:, :count]
    map_steps = np.empty((6, count))
    map_steps[0], map_steps[1] = context.projection.to_map(steps[0], steps[1])
    map_steps[2] = steps[2]
    map_steps[3], map_steps[4] = context.projection.to_map(steps[3], steps[4])
    map_steps[5] = steps[5]
    nodes = np.stack((x, y, height))
    stack = np.full((len(RASTER_ROWS), total), np.nan)
    for name, row in RASTER_ROWS.items():
        if name in values:
            stack[row] = values[name].reshape(-1)
    inside = radar_out.inside[:count]
    wanted = outputs.outputs
    dts = outputs.count
    nodata = context.settings.nodata_out
    scalars = outputs.scalars
    # A stack gets a layer per repeat time only where the kernel writes one (the dt-dependent rows of wanted
    # outputs); otherwise its first layer, which holds the dt-independent rows: ten pairs without GeoTIFFs fill
    # 36 bytes per node of int32, not 360.
    int_layers = dts if scalars.want_offset or scalars.want_search_range else 1
    float_layers = dts if scalars.want_matrices else 1
    out = kernels.OutputArrays(
        ints=np.full((int_layers, INT_ROWS, total), nodata, dtype=np.int32),
        floats=np.full((float_layers, FLOAT_ROWS, total), float(nodata)),
        unrounded=np.full((dts, 2, total if outputs.scalars.want_unrounded else 0), np.nan),
    )
    compiled.outputs(outputs.scalars, outputs.repeat_times, nodes, inside, map_steps, stack, out)
    results = []
    for k in range(dts):
        bands: Bands = {LOCATION: radar_out.location}
        for name in wanted:
            if name == LOCATION:  # the radar kernel's
                continue
            layout = OUTPUTS[name]
            row = 0 if name in DT_INDEPENDENT_OUTPUTS else k  # filled for the first repeat time only
            source = out.ints[row] if layout.dtype is np.int32 else out.floats[row]
            bands[name] = source[layout.first_row : layout.first_row + layout.bands]
        if outputs.scalars.want_unrounded:
            bands[OFFSET_RANGE_UNROUNDED] = out.unrounded[k, 0]
            bands[OFFSET_AZIMUTH_UNROUNDED] = out.unrounded[k, 1]
        results.append(bands)
    return results


def _check_status(context: NodeContext, out: kernels.RadarOutputs) -> None:
    """Raise the OrbitError naming the time outside the orbit, from the kernel's per-node status.

    Raises:
        OrbitError: a Newton iterate, or a zero-Doppler time + 1/prf, is outside the orbit span.
    """
    status = out.status
    if not status.any():
        return
    outside = (status & kernels.OUTSIDE_ORBIT) != 0
    if outside.any():
        context.orbit.check_within_span(out.times[outside], purpose='the zero-Doppler (geo2rdr) iteration')
    stepped = (status & kernels.STEP_OUTSIDE_ORBIT) != 0
    context.orbit.check_within_span(out.times[stepped] + context.radar.line_time, purpose='the along-track step')


def chip_size_pixels(chip_size_x0_m: float, ground_range_pixel_m: float, azimuth_pixel_m: float) -> tuple[int, int]:
    """ChipSizeX0 in range and azimuth pixels, rounded up to a multiple of 4 (geogrid.cpp)."""
    return (
        int(math.ceil(chip_size_x0_m / ground_range_pixel_m / 4) * 4),
        int(math.ceil(chip_size_x0_m / azimuth_pixel_m / 4) * 4),
    )


def warm_up_kernels() -> None:
    """Compile the kernels, Geogrid's and the map projections', now (or load them from numba's cache), with exactly
    the argument types of a run (a test checks that a run then needs no other signature). Run it where numba's cache
    persists (e.g. while building a container image, with NUMBA_CACHE_DIR set to a folder of the image) so that jobs
    do not pay the compilation.
    """
    warm_up_projections()  # first: small and ready in ~0.1 s, for the scene's bounding box if it comes in time
    compiled = kernels.compiled()
    times = np.arange(8) * 10.0
    positions = np.stack([np.full(8, 7.0e6), times * 7.0e3, np.zeros(8)], axis=-1)
    velocities = np.stack([np.zeros(8), np.full(8, 7.0e3), np.zeros(8)], axis=-1)
    tables = kernels.orbit_tables(times, positions, velocities)
    radar = kernels.RadarScalars(35.0, 51, 10, True, 8.0e5, 2.3, 0.0, 486.0, 1 / 486.0, 1.0, 1.0, -1)
    empty = np.empty(0)
    radar_out = kernels.RadarOutputs(
        location=np.empty((2, 0), dtype=np.int32),
        times=np.empty(0),
        status=np.zeros(0, dtype=np.int8),
        inside=np.empty(0, dtype=np.int64),
        steps=np.empty((6, 0)),
    )
    compiled.radar(tables, radar, np.stack((empty, empty, empty)), radar_out)
    scalars = kernels.OutputScalars(2.3, -32767.0, -32767.0, True, 0.0, 1.0, 240.0, 4.0, 4.0, *[True] * 7)
    repeat_times = kernels.RepeatTimes(dt=np.array([86400.0]), search_factor=np.array([1.0]))
    out = kernels.OutputArrays(
        ints=np.empty((1, INT_ROWS, 0), dtype=np.int32),
        floats=np.empty((1, FLOAT_ROWS, 0)),
        unrounded=np.empty((1, 2, 0)),
    )
    compiled.outputs(
        scalars,
        repeat_times,
        np.stack((empty, empty, empty)),
        radar_out.inside[:0],
        np.empty((6, 0)),
        np.empty((11, 0)),
        out,
    )
