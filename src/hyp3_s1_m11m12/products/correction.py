"""A pair's products from Geogrid on the reference geometry: the NetCDF, the quick-look and the nine GeoTIFFs.

`products_in_staging` runs Geogrid once for all the repeat times of one reference geometry and makes each pair's
products from the bands it produced (nothing is read back with the project's engine), named for the pair, in the
staging folder of the caller (staging.staged_directory), which publishes them. The GeoTIFFs are optional
(`include_geotiffs`): an archive correction uses only the NetCDF, and each pair's dt-dependent GeoTIFFs are most of
the cost of an extra secondary (about 0.6 s of DEFLATE for 52 MB of float64 per 1 M nodes).
"""

import dataclasses
import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hyp3_s1_m11m12 import __version__, constants
from hyp3_s1_m11m12.errors import GeogridInputError, ProductError
from hyp3_s1_m11m12.geogrid import nodes
from hyp3_s1_m11m12.geogrid.engine import ENGINE_NAME
from hyp3_s1_m11m12.geogrid.parameter_file import ParameterSet
from hyp3_s1_m11m12.geogrid.stage import GEOTIFF_COMPRESSIONS, GeogridRun, geogrid_for_repeat_times, resolve_engine
from hyp3_s1_m11m12.geogrid.vocabulary import OUTPUT_NAMES, outputs_for
from hyp3_s1_m11m12.geometry.radar import RadarGeometry
from hyp3_s1_m11m12.products import matrix_kernel
from hyp3_s1_m11m12.products.conversion_matrices import (
    MATRIX_DTYPES,
    MATRIX_STORAGE_DTYPES,
    StreamedMatrices,
    write_conversion_matrices,
)
from hyp3_s1_m11m12.products.mapping import mapping_attributes
from hyp3_s1_m11m12.products.matrices import MatrixAccumulator, conversion_matrices_from_bands, read_geogrid_bands
from hyp3_s1_m11m12.products.provenance import NETCDF_EXTENSION, PRODUCT_SUFFIX, QUICKLOOK_EXTENSION, Provenance
from hyp3_s1_m11m12.products.quicklook import decimation_step, write_quicklook
from hyp3_s1_m11m12.sentinel1.pairing import RepeatTime
from hyp3_s1_m11m12.staging import Staging, staged_directory


log = logging.getLogger(__name__)

# Any north-up grid: only the projection matters when checking early that the NetCDF can describe it.
UNIT_GEOTRANSFORM = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
DEFAULT_GEOTIFF_COMPRESSION = 'deflate'


@dataclass(frozen=True)
class CorrectionProducts:
    """The outputs of one pair, all complete, and the numbers worth printing."""

    netcdf: Path
    geotiffs: tuple[Path, ...]  # the nine <stem>_window_*.tif, in OUTPUT_NAMES order (none if not included)
    quicklook: Path
    dr_to_vr_factor: float
    provenance: Provenance
    parameter_region: str
    epsg: int

    @property
    def dt_seconds(self) -> float:
        return self.provenance.dt_seconds

    @property
    def dt_days(self) -> float:
        return self.provenance.dt_days

    @property
    def files(self) -> tuple[Path, ...]:
        """Everything to upload, the NetCDF last (whoever waits for it finds the rest there)."""
        return (*self.geotiffs, self.quicklook, self.netcdf)

    def geotiff(self, name: str) -> Path:
        """The file of Geogrid output `name` (e.g. 'window_location.tif').

        Raises:
            ValueError: the run was made without its GeoTIFFs.
        """
        if not self.geotiffs:
            raise ValueError(f'{self.netcdf.name} was made without its GeoTIFFs (include_geotiffs=False)')
        return self.geotiffs[OUTPUT_NAMES.index(name)]


def product_names(stem: str) -> list[str]:
    """Every file a pair's run writes, named for the pair."""
    return [
        *(f'{stem}_{name}' for name in OUTPUT_NAMES),
        f'{stem}{PRODUCT_SUFFIX}{QUICKLOOK_EXTENSION}',
        f'{stem}{PRODUCT_SUFFIX}{NETCDF_EXTENSION}',
    ]


def check_choices(engine: str, m11m12_dtype: str, geotiff_compression: str) -> None:
    """Fail on a bad engine, dtype or compression before any metadata is read or Geogrid runs."""
    if engine != 'auto':  # 'auto' is resolved when Geogrid runs (it may probe for autoRIFT)
        resolve_engine(engine)
    if m11m12_dtype not in MATRIX_DTYPES:
        raise ProductError(f'unknown M11/M12 data type {m11m12_dtype!r}; choose one of {", ".join(MATRIX_DTYPES)}')
    if geotiff_compression not in GEOTIFF_COMPRESSIONS:
        raise ProductError(
            f'unknown GeoTIFF compression {geotiff_compression!r}; choose one of {", ".join(GEOTIFF_COMPRESSIONS)}'
        )


Sink = MatrixAccumulator | StreamedMatrices


def _pair_products(
    run: GeogridRun,
    sink: Sink,
    provenance: Provenance,
    parameter_set: ParameterSet,
    staging: Staging,
    m11m12_dtype: str,
    include_geotiffs: bool,
    drawing: ThreadPoolExecutor,
) -> tuple[CorrectionProducts, Future[Path]]:
    """The pair's NetCDF and quick-look (drawn by `drawing`; the caller waits for it). The NetCDF was written while
    Geogrid ran (`sink` a StreamedMatrices), or is written here from M11/M12 as the project's engine produced the
    bands (a MatrixAccumulator: int16 packs from the whole matrices) or as an engine that writes only files wrote
    them (removed then unless `include_geotiffs`)."""
    result = run.result
    if result.epsg != parameter_set.epsg:
        raise GeogridInputError(
            f'Geogrid ran in EPSG:{result.epsg} (the DEM) but region {parameter_set.name} of the parameter file '
            f'says EPSG:{parameter_set.epsg}; fix the parameter file'
        )
    stem = f'{provenance.stem}{PRODUCT_SUFFIX}'
    netcdf, quicklook = (
        staging.products / f'{stem}{NETCDF_EXTENSION}',
        staging.products / f'{stem}{QUICKLOOK_EXTENSION}',
    )
    if run.streamed and isinstance(sink, StreamedMatrices):
        shown = sink.drawn()
        picture = drawing.submit(write_quicklook, shown, quicklook, provenance=provenance, decimated_by=sink.step)
        sink.finish()  # the last chunk's encoding releases the GIL: the picture is drawn meanwhile
        dr_to_vr_factor = shown.dr_to_vr_factor
    else:
        if run.streamed and run.geotransform is not None and isinstance(sink, MatrixAccumulator):
            matrices = sink.finish(run.geotransform, run.projection_wkt)
        else:
            missing = [name for name in OUTPUT_NAMES if name not in result.outputs]
            if missing:
                raise GeogridInputError(
                    f'the {result.engine} Geogrid engine did not write {", ".join(missing)}; use autoRIFT >= 1.5'
                )
            names = {name: path.name for name, path in result.outputs.items()}
            matrices = conversion_matrices_from_bands(read_geogrid_bands(staging.products, names))
            if not include_geotiffs:  # read: not to be published
                for path in result.outputs.values():
                    path.unlink()
        picture = drawing.submit(write_quicklook, matrices, quicklook, provenance=provenance)
        write_conversion_matrices(matrices, netcdf, provenance=provenance, dtype=m11m12_dtype)
        dr_to_vr_factor = matrices.dr_to_vr_factor
    published = staging.output_dir
    log.info(
        'Wrote %s (M11/M12 %s, dr_to_vr_factor = %.12g) with dt = %.6f s = %.9f days',
        published / netcdf.name,
        m11m12_dtype,
        dr_to_vr_factor,
        provenance.dt_seconds,
        provenance.dt_days,
    )
    products = CorrectionProducts(
        netcdf=published / netcdf.name,
        geotiffs=tuple(published / result.outputs[name].name for name in OUTPUT_NAMES) if include_geotiffs else (),
        quicklook=published / quicklook.name,
        dr_to_vr_factor=dr_to_vr_factor,
        provenance=provenance,
        parameter_region=parameter_set.name,
        epsg=result.epsg,
    )
    return products, picture


def products_in_staging(
    staging: Staging,
    radar: RadarGeometry,
    repeat_times: Sequence[RepeatTime],
    parameter_set: ParameterSet,
    *,
    engine: str = 'auto',
    m11m12_dtype: str = 'float32',
    geotiff_compression: str = DEFAULT_GEOTIFF_COMPRESSION,
    orbit_source: str | None = None,
    buffer: int | None = None,
    include_geotiffs: bool = True,
) -> list[CorrectionProducts]:
    """Geogrid on `radar` for every repeat time (one call), then each pair's products, into `staging.products`
    (the NetCDF, its quick-look and, if `include_geotiffs`, the nine GeoTIFFs).

    Raises:
        UserFacingError: a bad choice; a parameter region without the rasters M11/M12 need; any error of Geogrid
            or of the products.
    """
    check_choices(engine, m11m12_dtype, geotiff_compression)
    # Before Geogrid runs: the NetCDF's grid mapping exists only for UTM and polar stereographic grids, and
    # M11/M12 need every output (the off2vel vectors need dhdx/dhdy and vx/vy, spec section 1.3).
    mapping_attributes(parameter_set.epsg, UNIT_GEOTRANSFORM)
    missing = [name for name in OUTPUT_NAMES if name not in outputs_for(set(parameter_set.rasters.present()))]
    if missing:
        raise GeogridInputError(
            f'region {parameter_set.name} of the parameter file lacks rasters M11/M12 need (dhdx, dhdy, vx, vy, ...): '
            f'Geogrid would not write {", ".join(missing)}; use a complete ITS_LIVE parameter file'
        )
    provenances = [
        Provenance(
            software_version=__version__,
            repeat_time=timing,
            engine='pending',
            engine_version='pending',
            parameter_file=parameter_set.parameter_file,
            parameter_region=parameter_set.name,
            orbit_source=orbit_source,
            buffer_pixels=buffer,
            geotiff_compression=geotiff_compression if include_geotiffs else None,
        )
        for timing in repeat_times
    ]
    stems = [provenance.stem for provenance in provenances]
    if len(set(stems)) != len(stems):
        raise GeogridInputError(f'a secondary is given twice ({", ".join(sorted(stems))}); give each once')
    staging.claim([name for stem in stems for name in product_names(stem)])
    name = resolve_engine(engine)
    matrix_kernel.warm_up_in_background()  # loaded from numba's cache while Geogrid starts
    sinks: list[Sink]
    if name == ENGINE_NAME and m11m12_dtype == 'float32':
        # The project's engine: each float32 NetCDF is written while Geogrid runs, so the provenance is final now.
        provenances = [_with_engine(provenance, ENGINE_NAME, __version__) for provenance in provenances]
        sinks = [
            StreamedMatrices(
                staging.products / f'{provenance.stem}{PRODUCT_SUFFIX}{NETCDF_EXTENSION}',
                provenance,
                float(constants.NODATA_OUT),
                f'Geogrid of {provenance.stem}',
                step=decimation_step,
            )
            for provenance in provenances
        ]
    else:
        storage = MATRIX_STORAGE_DTYPES[m11m12_dtype]  # type: ignore[index]  # checked by check_choices
        sinks = [MatrixAccumulator(float(constants.NODATA_OUT), f'Geogrid of {stem}', storage) for stem in stems]
    # The quick-looks are drawn two at a time while the next pairs are finished: Pillow encodes without the GIL.
    drawing = ThreadPoolExecutor(max_workers=2, thread_name_prefix='quicklook')
    try:
        runs = geogrid_for_repeat_times(
            radar,
            [timing.dt_seconds for timing in repeat_times],
            parameter_set.rasters,
            staging.products,
            [f'{stem}_' for stem in stems],
            engine=name,
            compression=geotiff_compression,
            work_dir=staging.work,
            sinks=sinks,
            write_geotiffs=include_geotiffs,
        )
        made = [
            _pair_products(
                run,
                sink,
                _with_engine(provenance, run.result.engine, run.result.engine_version),
                parameter_set,
                staging,
                m11m12_dtype,
                include_geotiffs,
                drawing,
            )
            for run, sink, provenance in zip(runs, sinks, provenances, strict=True)
        ]
        for _, picture in made:
            picture.result()
        return [products for products, _ in made]
    finally:  # a finished stream has nothing left to remove
        drawing.shutdown(wait=True, cancel_futures=True)
        for sink in sinks:
            if isinstance(sink, StreamedMatrices):
                sink.abort()


def warm_up_kernels() -> None:
    """Compile (or load from numba's cache) every kernel a run uses, Geogrid's and the products': the image builds
    its numba cache with this."""
    nodes.warm_up_kernels()
    matrix_kernel.warm_up()


def _with_engine(provenance: Provenance, engine: str, engine_version: str) -> Provenance:
    # autoRIFT's own Geogrid reports its version; the project's engine reproduces autoRIFT's v1.6.0 algorithm.
    autorift = engine_version if engine == 'autorift' else constants.AUTORIFT_ALGORITHM_VERSION
    return dataclasses.replace(provenance, engine=engine, engine_version=engine_version, autorift_version=autorift)


def correction_from_radar_geometry(
    radar: RadarGeometry,
    repeat_times: Sequence[RepeatTime],
    parameter_set: ParameterSet,
    *,
    output_dir: Path = Path('.'),
    overwrite: bool = False,
    **options: object,
) -> list[CorrectionProducts]:
    """Products for each repeat time on any radar geometry, staged and published into `output_dir` together.

    Raises:
        UserFacingError: a bad choice, an unusable or locked output folder, products present without `overwrite`,
            or any error of Geogrid or the products; `output_dir` is left as it was then.
    """
    with staged_directory(output_dir, overwrite=overwrite) as staging:
        return products_in_staging(staging, radar, repeat_times, parameter_set, **options)  # type: ignore[arg-type]
