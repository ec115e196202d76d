"""The Geogrid stage: pick an engine, run it for one or many repeat times, and write the window_*.tif files.

The stage writes into the folder it is given (the caller stages and publishes: staging.staged_directory), under the
names it is given (`prefix` + autoRIFT's window_*.tif names, so that many pairs fit one folder), with the
requested lossless compression. With the project's engine it keeps the bands M11/M12 need in memory while the
files are written, so the products are made without reading the GeoTIFFs back.
"""

import dataclasses
import logging
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from osgeo import gdal

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid import autorift_engine, isce2_child
from hyp3_s1_m11m12.geogrid.geotiff import TiffEncoding
from hyp3_s1_m11m12.geogrid.spec import load_spec
from hyp3_s1_m11m12.geogrid.types import (
    DEFAULT_SETTINGS,
    BandSink,
    GeogridResult,
    GeogridSettings,
    ParameterRasters,
    check_dt,
)
from hyp3_s1_m11m12.geogrid.vocabulary import OUTPUT_NAMES
from hyp3_s1_m11m12.geometry.radar import RadarGeometry
from hyp3_s1_m11m12.staging import staged_directory


log = logging.getLogger(__name__)
gdal.UseExceptions()

# 'numpy' is the project's own engine (numba kernels; the CLI value is kept for compatibility).
Engine = Literal['auto', 'numpy', 'autorift', 'both']
ENGINES: tuple[Engine, ...] = typing.get_args(Engine)
GeotiffCompression = Literal['deflate', 'zstd', 'none']
GEOTIFF_COMPRESSIONS: tuple[GeotiffCompression, ...] = typing.get_args(GeotiffCompression)
BandKind = Literal['integer', 'floating']
# Lossless, with the predictor of the band kind (2: integer differences, 3: floating point); 'none' writes
# geogrid.cpp's own bytes (GTiff without creation options). The levels are where the size stops paying for the time,
# by kind: the low mantissa bytes of a float64 band are noise that a harder search cannot shrink. On a full scene
# (4.7 M nodes; three float64 files, 300 MB raw, and six int32 ones, 200 MB), DEFLATE on the float64 files costs
# 2.40 s of CPU for 119.2 MB at level 5, 1.99 s for 119.6 MB at level 2 (1.84 s, 121.4 MB at 1); the int32 files
# are 2.1 MB at level 5 for 0.6 s whatever the level. ZSTD 3 (zstd's default): 120.1 MB in all for ~0.4 s, ZSTD 9
# no smaller for ~3.3 s.
COMPRESSION_OPTIONS: dict[GeotiffCompression, dict[BandKind, tuple[str, ...]]] = {
    'deflate': {
        'integer': ('COMPRESS=DEFLATE', 'ZLEVEL=5', 'PREDICTOR=2'),
        'floating': ('COMPRESS=DEFLATE', 'ZLEVEL=2', 'PREDICTOR=3'),
    },
    'zstd': {
        'integer': ('COMPRESS=ZSTD', 'ZSTD_LEVEL=3', 'PREDICTOR=2'),
        'floating': ('COMPRESS=ZSTD', 'ZSTD_LEVEL=3', 'PREDICTOR=3'),
    },
    'none': {'integer': (), 'floating': ()},
}
# The project's engine encodes its DEFLATE strips itself (geogrid/tiff_strips.py: libtiff's predictor, then ISA-L at
# this level; the ZLEVELs above apply where GDAL compresses, i.e. the file engines' copies). On the full scene:
# 0.32 s of CPU for the float64 files' 123.0 MB (GDAL's DEFLATE 2: 1.83 s, 118.7 MB), 0.06 s for the int32 files'
# 3.8 MB (GDAL's level 5: 0.58 s, 2.6 MB); ISA-L's level 2 is no smaller, level 3 ~5x slower.
PROJECT_DEFLATE_LEVEL = 1
# The bands M11/M12 are computed from (file name -> leading bands kept in memory).
MATRIX_INPUT_BANDS = {
    'window_location.tif': 1,
    'window_rdr_off2vel_x_vec.tif': 3,
    'window_rdr_off2vel_y_vec.tif': 2,
    'window_scale_factor.tif': 1,
}
# Rows of nodes per block of the project's engine: the compressed strips are exactly one block high, so that each
# block's flush writes whole strips once.
BLOCK_NODES = 16384

Bands = dict[str, npt.NDArray[np.generic]]


@dataclass(frozen=True)
class GeogridRun:
    """One Geogrid run's files and, with the project's engine, the bands M11/M12 need (None: read them back)."""

    result: GeogridResult  # result.outputs maps autoRIFT's output names to the files written (prefixed)
    geotransform: tuple[float, float, float, float, float, float] | None = None
    projection_wkt: str = ''
    nodata: float = float(constants.NODATA_OUT)
    bands: Bands | None = field(default=None, repr=False)
    streamed: bool = False  # the run's band sink received every block (the project's engine)


def resolve_engine(engine: str) -> str:
    """The engine to run: 'auto' is the project's ('numpy') unless autoRIFT >= 1.5's radar Geogrid is positively
    detected (in a child process); 'autorift' and 'both' are checked here, before any work.

    Raises:
        GeogridInputError: an unknown engine name, or 'autorift'/'both' where autoRIFT >= 1.5 cannot run (one line
            naming what is missing and how to get it).
    """
    if engine not in ENGINES:
        raise GeogridInputError(f'unknown Geogrid engine {engine!r}: choose one of {", ".join(ENGINES)}')
    if engine in ('autorift', 'both'):
        isce2_child.require_autorift(engine)
        return engine
    if engine != 'auto':
        return engine
    capabilities = isce2_child.probe_autorift()
    if capabilities.available:
        log.info("Geogrid engine: autorift (autoRIFT's radar Geogrid %s is installed)", capabilities.cpp_version)
        return 'autorift'
    log.info('Geogrid engine: numpy (autoRIFT >= 1.5 radar Geogrid not available: %s)', capabilities.problem)
    return 'numpy'


def geotiff_options(
    compression: str, dtype: type[np.generic] | np.dtype, rows_per_strip: int | None
) -> tuple[str, ...]:
    """GTiff creation options for a lossless `compression` of bands of `dtype`.

    Raises:
        GeogridInputError: an unknown compression.
    """
    if compression not in COMPRESSION_OPTIONS:
        raise GeogridInputError(
            f'unknown GeoTIFF compression {compression!r}: choose one of {", ".join(GEOTIFF_COMPRESSIONS)}'
        )
    kind: BandKind = 'floating' if np.issubdtype(np.dtype(dtype), np.floating) else 'integer'
    options = COMPRESSION_OPTIONS[compression][kind]  # type: ignore[index, unused-ignore]
    if not options:
        return ()
    strips = (f'BLOCKYSIZE={rows_per_strip}',) if rows_per_strip else ()
    return (*options, *strips)


def tiff_encoding(compression: str, dtype: type[np.generic] | np.dtype, rows_per_strip: int) -> TiffEncoding:
    """How the project's engine writes a GeoTIFF of `dtype` bands in strips of its blocks' rows."""
    options = geotiff_options(compression, dtype, rows_per_strip)
    return TiffEncoding(options, PROJECT_DEFLATE_LEVEL if compression == 'deflate' else None)


def engine_function(name: str) -> Callable[..., GeogridResult]:
    """The run-into-a-folder function of an engine that writes autoRIFT's file names itself: autoRIFT's C++, or
    both engines cross-checked; imported here so that neither loads unless it runs."""
    if name == 'autorift':
        return autorift_engine.run_autorift_geogrid
    if name == 'both':
        from hyp3_s1_m11m12.geogrid.cross_check import run_both_engines

        return run_both_engines
    raise GeogridInputError(f'unknown Geogrid engine {name!r}: choose one of {", ".join(ENGINES)}')


def _run_project_engine(
    radar: RadarGeometry,
    dts_seconds: Sequence[float],
    rasters: ParameterRasters,
    output_dir: Path,
    prefixes: Sequence[str],
    settings: GeogridSettings,
    compression: str,
    keep_matrix_bands: bool,
    sinks: Sequence[BandSink] | None,
    write_geotiffs: bool,
) -> list[GeogridRun]:
    """The project's engine for every dt with one geometry pass, feeding `sinks` (one per dt) block by block, or
    else keeping the bands M11/M12 need in memory if asked; the GeoTIFFs only if `write_geotiffs`."""
    from hyp3_s1_m11m12.geogrid import engine

    results = engine.run_geogrid_for_dts(
        radar,
        [(dt, output_dir) for dt in dts_seconds],
        rasters,
        settings,
        keep_bands=MATRIX_INPUT_BANDS if keep_matrix_bands and sinks is None else {},
        prefixes=prefixes,
        creation_options=lambda dtype, rows: tiff_encoding(compression, dtype, rows),
        block_nodes=BLOCK_NODES,
        sinks=sinks,
        write_files=write_geotiffs,
        computed=tuple(MATRIX_INPUT_BANDS),
    )
    return [
        GeogridRun(
            result=dataclasses.replace(result, bands={}),
            geotransform=result.geotransform,
            projection_wkt=result.projection_wkt,
            nodata=float(settings.nodata_out),
            bands={
                name: result.bands[name][:count] for name, count in MATRIX_INPUT_BANDS.items() if name in result.bands
            },
            streamed=sinks is not None,
        )
        for result in results
    ]


def _compress(path: Path, target: Path, compression: str) -> None:
    """Copy an engine's GeoTIFF losslessly compressed (values, nodata, geotransform and bands unchanged)."""
    dataset = gdal.Open(str(path))
    dtype = gdal.GetDataTypeName(dataset.GetRasterBand(1).DataType)
    numpy_type = np.float64 if dtype.startswith('Float') else np.int32
    options = list(geotiff_options(compression, numpy_type, None))
    gdal.Translate(str(target), dataset, creationOptions=options)
    del dataset


def _run_file_engine(
    name: str,
    radar: RadarGeometry,
    dt_seconds: float,
    rasters: ParameterRasters,
    output_dir: Path,
    prefix: str,
    settings: GeogridSettings,
    compression: str,
    work_dir: Path | None,
) -> GeogridRun:
    """An engine that writes autoRIFT's names itself: run it in `work_dir` when the files must be renamed or
    compressed, then move them into `output_dir`."""
    run_engine = engine_function(name)
    direct = not prefix and compression == 'none'
    if not direct and work_dir is None:
        raise ValueError('a prefixed or compressed run of a file-writing engine needs a work_dir')
    folder = output_dir if direct else Path(work_dir)  # type: ignore[arg-type]
    result = run_engine(radar, dt_seconds, rasters, folder, settings)
    outputs = {}
    for output_name, path in result.outputs.items():
        target = output_dir / f'{prefix}{output_name}'
        if compression == 'none':
            Path(path).replace(target)
        else:
            _compress(Path(path), target, compression)
            Path(path).unlink()
        outputs[output_name] = target
    return GeogridRun(result=dataclasses.replace(result, output_dir=output_dir, outputs=outputs))


def geogrid_for_repeat_times(
    radar: RadarGeometry,
    dts_seconds: Sequence[float],
    rasters: ParameterRasters,
    output_dir: Path,
    prefixes: Sequence[str],
    settings: GeogridSettings = DEFAULT_SETTINGS,
    *,
    engine: str = 'auto',
    compression: str = 'none',
    work_dir: Path | None = None,
    keep_matrix_bands: bool = True,
    sinks: Sequence[BandSink] | None = None,
    write_geotiffs: bool = True,
) -> list[GeogridRun]:
    """Geogrid for each repeat time, its files named `prefix` + window_*.tif in the existing folder `output_dir`.

    The one entry point for many dt values on one reference geometry: with the project's engine the dt-independent
    radar geometry is computed once for all of them (each dt's files bit-identical to a single-dt run); a
    file-writing engine (autorift, both) runs once per dt. With the project's engine, `sinks` (one per dt) receive
    the bands block by block (GeogridRun.streamed); a file-writing engine leaves them unused. `write_geotiffs`
    False: the project's engine writes no file (its sinks still receive every band); a file-writing engine cannot
    help writing them, and the caller removes what it does not publish.

    Raises:
        GeogridInputError: an unknown or unavailable engine or compression, or whatever input the engine rejects.
        OrbitError: the orbit does not cover the scene.
    """
    if len(dts_seconds) != len(prefixes):
        raise ValueError('one file-name prefix per repeat time')
    if sinks is not None and len(sinks) != len(dts_seconds):
        raise ValueError('one band sink per repeat time')
    name = resolve_engine(engine)
    geotiff_options(compression, np.int32, None)  # an unknown compression fails before any work
    for dt_seconds in dts_seconds:
        log.info(
            'Geogrid with the %s engine: dt = %.6f s = %.9f days, into %s',
            name,
            dt_seconds,
            dt_seconds / constants.SECONDS_PER_DAY,
            output_dir,
        )
    if name == 'numpy':  # one geometry pass for every dt
        runs = _run_project_engine(
            radar,
            dts_seconds,
            rasters,
            output_dir,
            prefixes,
            settings,
            compression,
            keep_matrix_bands,
            sinks,
            write_geotiffs,
        )
    else:
        runs = [
            _run_file_engine(name, radar, dt, rasters, output_dir, prefix, settings, compression, work_dir)
            for dt, prefix in zip(dts_seconds, prefixes, strict=True)
        ]
    for run in runs:
        _log_grid(run.result)
    return runs


def _log_grid(result: GeogridResult) -> None:
    log.info(
        'Geogrid grid: pOff = %d, lOff = %d, pCount = %d, lCount = %d (EPSG:%d); X_res = %.6f m, Y_res = %.6f m',
        result.p_off,
        result.l_off,
        result.p_count,
        result.l_count,
        result.epsg,
        result.x_res_m,
        result.y_res_m,
    )


def run_geogrid(
    radar: RadarGeometry,
    dt_seconds: float,
    rasters: ParameterRasters,
    output_dir: Path,
    settings: GeogridSettings = DEFAULT_SETTINGS,
    *,
    engine: str = 'auto',
    compression: str = 'none',
    prefix: str = '',
    work_dir: Path | None = None,
    keep_matrix_bands: bool = True,
) -> GeogridRun:
    """Geogrid with one repeat time into the existing folder `output_dir` (see geogrid_for_repeat_times)."""
    (run,) = geogrid_for_repeat_times(
        radar,
        [dt_seconds],
        rasters,
        output_dir,
        [prefix],
        settings,
        engine=engine,
        compression=compression,
        work_dir=work_dir,
        keep_matrix_bands=keep_matrix_bands,
    )
    return run


def geogrid_from_spec(
    spec_path: Path,
    output_dir: Path,
    dt_seconds: float | None = None,
    engine: str = 'auto',
    overwrite: bool = False,
    compression: str = 'none',
) -> GeogridResult:
    """Run the Geogrid stage on a run specification (the spec.json format of the golden cases), staged: the nine
    window_*.tif appear in `output_dir` together or not at all.

    Raster paths in the spec are relative to its folder; dt is the spec's dt.dt_true_seconds unless given.

    Raises:
        UserFacingError: a bad spec, dt, engine or output folder, outputs present without `overwrite`, or whatever
            the engine rejects; `output_dir` is left as it was then.
    """
    spec = load_spec(Path(spec_path).resolve())
    dt = spec.dt_seconds if dt_seconds is None else dt_seconds
    check_dt(dt)
    name = resolve_engine(engine)
    geotiff_options(compression, np.int32, None)
    log.info(
        'Geogrid spec %s (case %s), dt from %s',
        spec_path,
        spec.name,
        'the spec' if dt_seconds is None else 'the command line',
    )
    with staged_directory(Path(output_dir), OUTPUT_NAMES, overwrite=overwrite) as staging:
        run = run_geogrid(
            spec.radar,
            dt,
            spec.rasters,
            staging.products,
            spec.settings,
            engine=name,
            compression=compression,
            work_dir=staging.work,
            keep_matrix_bands=False,  # the spec run makes no products: nothing to keep in memory
        )
        published = {output: staging.output_dir / output for output in run.result.outputs}
    log.info('Geogrid wrote %s', ', '.join(sorted(published)))
    return dataclasses.replace(run.result, output_dir=staging.output_dir, outputs=published)
