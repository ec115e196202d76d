"""Sentinel-1 M11/M12 conversion matrices with the TRUE repeat time: the fixed `s1_correction` of hyp3-autorift.

Geogrid runs on the reference scene's geometry with dt = the secondary's sensing start minus the reference's
(hyp3-autorift spoofed dt = 1 day), using the ITS_LIVE parameter region that contains the scene. Outputs:
conversion_matrices.nc, the nine window_*.tif Geogrid GeoTIFFs and conversion_matrices.png.
"""

import argparse
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hyp3_s1_m11m12 import __version__, constants
from hyp3_s1_m11m12.errors import GeogridInputError, ProductError
from hyp3_s1_m11m12.geogrid.parameter_file import ParameterSet, find_parameter_set
from hyp3_s1_m11m12.geogrid.stage import ENGINES, prepare_output_dir, run_geogrid
from hyp3_s1_m11m12.geogrid.types import check_dt
from hyp3_s1_m11m12.geometry.radar import RadarGeometry
from hyp3_s1_m11m12.logger import configure_root_logger
from hyp3_s1_m11m12.products.conversion_matrices import (
    CONVERSION_MATRICES_FILE_NAME,
    MATRIX_DTYPES,
    Provenance,
    conversion_matrices_from_geogrid,
    write_conversion_matrices,
)
from hyp3_s1_m11m12.products.mapping import mapping_attributes
from hyp3_s1_m11m12.products.quicklook import QUICKLOOK_FILE_NAME, write_quicklook
from hyp3_s1_m11m12.sentinel1.acquisition import Acquisition, open_acquisition
from hyp3_s1_m11m12.sentinel1.orbits import ORBIT_CHOICES
from hyp3_s1_m11m12.sentinel1.pairing import repeat_time
from hyp3_s1_m11m12.timeutil import format_utc, parse_utc
from hyp3_s1_m11m12.workflows.cli import add_upload_arguments, exit_on_user_error, new_parser, nullable_string


log = logging.getLogger(__name__)

# Any north-up grid: only the projection matters when checking early that the NetCDF can describe it.
UNIT_GEOTRANSFORM = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


@dataclass(frozen=True)
class CorrectionProducts:
    """The outputs of one run, all complete, and the numbers worth printing."""

    netcdf: Path
    geotiffs: tuple[Path, ...]  # the nine window_*.tif, in GEOGRID_OUTPUT_NAMES order
    quicklook: Path
    dt_seconds: float
    dr_to_vr_factor: float
    provenance: Provenance
    parameter_region: str
    epsg: int

    @property
    def dt_days(self) -> float:
        return self.dt_seconds / constants.SECONDS_PER_DAY

    @property
    def files(self) -> tuple[Path, ...]:
        """Everything to upload: the NetCDF, the nine GeoTIFFs and the quick-look."""
        return (self.netcdf, *self.geotiffs, self.quicklook)


def product_paths(output_dir: Path) -> list[Path]:
    """Every file a run writes in `output_dir`."""
    return [
        output_dir / CONVERSION_MATRICES_FILE_NAME,
        *(output_dir / name for name in constants.GEOGRID_OUTPUT_NAMES),
        output_dir / QUICKLOOK_FILE_NAME,
    ]


def prepare_products_dir(output_dir: Path, overwrite: bool) -> Path:
    """Check the output directory before any long work; returns it, created and resolved.

    Raises:
        GeogridInputError: the directory cannot be created or written, or holds outputs and `overwrite` is False.
    """
    output_dir = prepare_output_dir(Path(output_dir))
    present = [path for path in product_paths(output_dir) if path.exists()]
    if present and not overwrite:
        raise GeogridInputError(
            f'{output_dir} already holds outputs ({", ".join(path.name for path in present)}): use --overwrite to '
            'replace them, or choose another --output-dir'
        )
    return output_dir


def check_choices(engine: str, m11m12_dtype: str) -> None:
    """Fail on a bad engine or dtype before any metadata is read or Geogrid runs."""
    if engine not in ENGINES:
        raise GeogridInputError(f'unknown Geogrid engine {engine!r}: choose one of {", ".join(ENGINES)}')
    if m11m12_dtype not in MATRIX_DTYPES:
        raise ProductError(f'unknown M11/M12 data type {m11m12_dtype!r}; choose one of {", ".join(MATRIX_DTYPES)}')


def log_repeat_time(dt_seconds: float, source: str) -> None:
    log.info('Repeat time dt = %.6f s = %.9f days (%s)', dt_seconds, dt_seconds / constants.SECONDS_PER_DAY, source)


def correction_from_radar_geometry(
    radar: RadarGeometry,
    *,
    dt_seconds: float,
    parameter_set: ParameterSet,
    reference_id: str,
    secondary_id: str | None = None,
    reference_sensing_start: datetime | None = None,
    secondary_sensing_start: datetime | None = None,
    engine: str = 'auto',
    m11m12_dtype: str = 'int16',
    output_dir: Path = Path('.'),
    overwrite: bool = False,
) -> CorrectionProducts:
    """Geogrid with repeat time `dt_seconds` on `radar`, then conversion_matrices.nc and its quick-look.

    The part of the workflow after the metadata is resolved; tests call it with any radar geometry.

    Raises:
        UserFacingError: bad dt or dtype, an unusable output directory, outputs present without `overwrite`, or
            any error of the Geogrid stage or the products. `output_dir` is left as it was then.
    """
    check_dt(dt_seconds)
    check_choices(engine, m11m12_dtype)
    # Before Geogrid runs: the NetCDF's grid mapping exists only for UTM and polar stereographic grids.
    mapping_attributes(parameter_set.epsg, UNIT_GEOTRANSFORM)
    output_dir = prepare_products_dir(output_dir, overwrite)

    # Everything is made in a hidden folder beside the outputs and moved into place only once all of it is
    # complete, so a failed or interrupted run leaves the folder as it was (an earlier run's products included).
    staging = Path(tempfile.mkdtemp(prefix='.s1_correction_fixed-partial-', dir=output_dir))
    try:
        result = run_geogrid(radar, dt_seconds, parameter_set.rasters, staging, engine=engine)
        if result.epsg != parameter_set.epsg:
            raise GeogridInputError(
                f'Geogrid ran in EPSG:{result.epsg} (the DEM) but region {parameter_set.name} of the parameter file '
                f'says EPSG:{parameter_set.epsg}; fix the parameter file'
            )
        missing = [name for name in constants.GEOGRID_OUTPUT_NAMES if name not in result.outputs]
        if missing:
            raise GeogridInputError(
                f'the {result.engine} Geogrid engine did not write {", ".join(missing)}: region '
                f'{parameter_set.name} of the parameter file lacks rasters M11/M12 need (dhdx, dhdy, vx, vy, ...), '
                'or the engine is too old; use a complete ITS_LIVE parameter file and autoRIFT >= 1.5'
            )
        provenance = Provenance(
            software_version=__version__,
            reference_id=reference_id,
            dt_seconds=float(dt_seconds),
            engine=result.engine,
            engine_version=result.engine_version,
            secondary_id=secondary_id,
            reference_sensing_start=reference_sensing_start,
            secondary_sensing_start=secondary_sensing_start,
            parameter_file=parameter_set.parameter_file,
        )
        matrices = conversion_matrices_from_geogrid(staging)
        write_conversion_matrices(
            matrices, staging / CONVERSION_MATRICES_FILE_NAME, provenance=provenance, dtype=m11m12_dtype
        )
        write_quicklook(matrices, staging / QUICKLOOK_FILE_NAME, provenance=provenance)
        for path in product_paths(output_dir):
            os.replace(staging / path.name, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    products = CorrectionProducts(
        netcdf=output_dir / CONVERSION_MATRICES_FILE_NAME,
        geotiffs=tuple(output_dir / name for name in constants.GEOGRID_OUTPUT_NAMES),
        quicklook=output_dir / QUICKLOOK_FILE_NAME,
        dt_seconds=float(dt_seconds),
        dr_to_vr_factor=matrices.dr_to_vr_factor,
        provenance=provenance,
        parameter_region=parameter_set.name,
        epsg=result.epsg,
    )
    log.info(
        'Wrote %s (M11/M12 %s, dr_to_vr_factor = %.12g) with dt = %.6f s = %.9f days',
        products.netcdf,
        m11m12_dtype,
        products.dr_to_vr_factor,
        products.dt_seconds,
        products.dt_days,
    )
    return products


def _count_given(*values: object) -> int:
    return sum(value is not None for value in values)


@dataclass(frozen=True)
class _Timing:
    reference: Acquisition  # the older acquisition of the pair
    dt_seconds: float
    secondary_id: str | None
    secondary_sensing_start: datetime | None


def _resolve_pair(
    reference: str | Path,
    secondary: str | Path | None,
    secondary_sensing_start: datetime | str | None,
    dt_seconds: float | None,
    orbit: str | Path,
    work_dir: Path,
) -> _Timing:
    """The Geogrid reference (opened with `orbit`) and dt from whichever timing was given, logged with its source."""
    if secondary is not None:
        # Timing needs only the annotation; the orbit is read once it is known which scene is the older one.
        given = open_acquisition(reference, orbit='annotation', work_dir=work_dir)
        pair = repeat_time(given, open_acquisition(secondary, orbit='annotation', work_dir=work_dir))
        matched = (
            f'first common burst {pair.matched_burst_id}'
            if pair.matched_burst_id
            else 'bursts matched by time since the ascending node'
        )
        log_repeat_time(pair.dt_seconds, f'secondary {pair.secondary.granule}, {matched}')
        if pair.swapped:
            log.info('The given secondary is the older acquisition: %s is the reference', pair.reference.granule)
        older = pair.reference
        if orbit != 'annotation':
            older = open_acquisition(secondary if pair.swapped else reference, orbit=orbit, work_dir=work_dir)
        return _Timing(older, pair.dt_seconds, pair.secondary.granule, pair.secondary.sensing_start)

    acquisition = open_acquisition(reference, orbit=orbit, work_dir=work_dir)
    if secondary_sensing_start is not None:
        if isinstance(secondary_sensing_start, str):
            try:
                secondary_sensing_start = parse_utc(secondary_sensing_start)
            except ValueError:
                raise GeogridInputError(
                    f'the secondary sensing start {secondary_sensing_start!r} is not an ISO-8601 UTC time; '
                    'give it as e.g. 2021-04-13T05:26:22.032990Z'
                ) from None
        dt = (secondary_sensing_start - acquisition.sensing_start).total_seconds()
        log_repeat_time(
            dt,
            f'secondary sensing start {format_utc(secondary_sensing_start)} minus reference sensing start '
            f'{format_utc(acquisition.sensing_start)}',
        )
        return _Timing(acquisition, dt, None, secondary_sensing_start)
    assert dt_seconds is not None
    log_repeat_time(float(dt_seconds), 'given directly')
    # The secondary's sensing start follows from dt; recording it keeps the provenance complete.
    return _Timing(acquisition, float(dt_seconds), None, acquisition.sensing_start + timedelta(seconds=dt_seconds))


@contextlib.contextmanager
def _removed_if_left_empty(folder: Path, created: bool) -> Iterator[None]:
    """A run that fails (a typo in a granule name, say) must not leave behind the empty folder it created."""
    try:
        yield
    except BaseException:
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise


def s1_correction_fixed(
    reference: str | Path,
    *,
    secondary: str | Path | None = None,
    secondary_sensing_start: datetime | str | None = None,
    dt_seconds: float | None = None,
    buffer: int = 0,
    parameter_file: str = constants.DEFAULT_PARAMETER_FILE,
    engine: str = 'auto',
    m11m12_dtype: str = 'int16',
    orbit: str | Path = 'auto',
    output_dir: Path = Path('.'),
    overwrite: bool = False,
) -> CorrectionProducts:
    """Conversion matrices of the `reference` scene with the true repeat time.

    Args:
        reference: an SLC scene name, a burst granule name, or a local SAFE directory or zip.
        secondary: the secondary acquisition (same forms); dt is taken from the first common burst.
        secondary_sensing_start: or the secondary's sensing start (UTC); dt = it minus the reference's.
        dt_seconds: or the repeat time itself. Exactly one of these three is given.
        buffer: range pixels added on each side of the reference image.
        parameter_file: the ITS_LIVE autoRIFT parameter shapefile (local path, URL or /vsicurl/ path).
        engine: Geogrid engine, 'auto', 'numpy' or 'autorift'.
        m11m12_dtype: 'int16' (packed to -50..50) or 'float32'.
        orbit: 'auto' (fetch, falling back to the annotation orbit), 'annotation', or a local EOF file.
        output_dir: where the products go (created if needed).
        overwrite: replace the outputs of an earlier run.

    Raises:
        UserFacingError: any bad input, with a message naming the problem and the fix.
    """
    if _count_given(secondary, secondary_sensing_start, dt_seconds) != 1:
        raise GeogridInputError(
            'give exactly one of a secondary acquisition, a secondary sensing start or a repeat time dt in seconds'
        )
    if buffer < 0:
        raise GeogridInputError(f'the buffer must be a non-negative number of range pixels, got {buffer}')
    if dt_seconds is not None:
        check_dt(dt_seconds)
    check_choices(engine, m11m12_dtype)
    created_output_dir = not Path(output_dir).exists()
    output_dir = prepare_products_dir(output_dir, overwrite)
    orbit_choice: str | Path = orbit if str(orbit) in ORBIT_CHOICES else Path(orbit)

    with (
        _removed_if_left_empty(output_dir, created_output_dir),
        tempfile.TemporaryDirectory(prefix='s1_correction_fixed-') as work,
    ):
        work_dir = Path(work)
        timing = _resolve_pair(reference, secondary, secondary_sensing_start, dt_seconds, orbit_choice, work_dir)
        check_dt(timing.dt_seconds)
        reference_acquisition = timing.reference
        radar = reference_acquisition.radar_geometry(buffer)
        parameter_set = find_parameter_set(parameter_file, reference_acquisition.footprint_lonlat())
        return correction_from_radar_geometry(
            radar,
            dt_seconds=timing.dt_seconds,
            parameter_set=parameter_set,
            reference_id=reference_acquisition.granule,
            secondary_id=timing.secondary_id,
            reference_sensing_start=reference_acquisition.sensing_start,
            secondary_sensing_start=timing.secondary_sensing_start,
            engine=engine,
            m11m12_dtype=m11m12_dtype,
            output_dir=output_dir,
            overwrite=overwrite,
        )


def upload_products(products: CorrectionProducts, bucket: str, bucket_prefix: str = '') -> list[str]:
    """Upload every product file to s3://bucket/prefix/ with hyp3lib; returns the object keys.

    The NetCDF goes last, so whoever waits for it finds the rest already there; if any upload fails, the objects
    this call already put are deleted again, so a bucket never holds a partial set.
    hyp3lib.aws creates its S3 client when imported, so it is imported only when there is something to upload.

    Raises:
        ProductError: a product file is missing, or S3 refused or failed an upload.
    """
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError
    from hyp3lib import aws

    missing = [path for path in products.files if not path.is_file()]
    if missing:
        raise ProductError(f'cannot upload: {", ".join(map(str, missing))} missing; rerun the workflow')
    uploaded: list[str] = []
    try:
        for path in (*products.geotiffs, products.quicklook, products.netcdf):
            aws.upload_file_to_s3(path, bucket, bucket_prefix)
            uploaded.append(str(Path(bucket_prefix) / path.name))
    except BaseException as error:
        _delete_uploaded(aws.S3_CLIENT, bucket, uploaded)
        if isinstance(error, BotoCoreError | ClientError | S3UploadFailedError):
            raise ProductError(
                f'uploading to s3://{bucket}/{bucket_prefix} failed ({error}); nothing was left in the bucket: '
                'check the bucket name, the AWS credentials and the network, then rerun'
            ) from None
        raise
    log.info('Uploaded %d files to s3://%s/%s', len(uploaded), bucket, bucket_prefix)
    return uploaded


def _delete_uploaded(client: Any, bucket: str, keys: list[str]) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    for key in keys:
        try:
            client.delete_object(Bucket=bucket, Key=key)
        except (BotoCoreError, ClientError) as error:  # best effort: the upload error is the one to report
            log.warning('Could not remove s3://%s/%s after the failed upload: %s', bucket, key, error)


def _utc_argument(value: str) -> datetime:
    try:
        return parse_utc(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'{value!r} is not an ISO-8601 UTC time, e.g. 2021-04-13T05:26:22.03299Z'
        ) from None


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{value!r} is not a number of seconds') from None
    if not number > 0 or number == float('inf'):
        raise argparse.ArgumentTypeError(f'the repeat time must be a positive number of seconds, not {value}')
    return number


def _non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{value!r} is not a whole number of range pixels') from None
    if number < 0:
        raise argparse.ArgumentTypeError(f'the buffer must be >= 0 range pixels, not {value}')
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument(
        'reference', help='Reference: an S1 IW SLC scene name, a burst granule name, or a local SAFE directory or zip'
    )
    timing = parser.add_mutually_exclusive_group(required=True)
    timing.add_argument(
        '--secondary', type=nullable_string, help='Secondary acquisition (same forms); dt from the first common burst'
    )
    timing.add_argument(
        '--secondary-sensing-start',
        type=_utc_argument,
        help='Or the secondary sensing start (ISO UTC); dt = it minus the reference sensing start',
    )
    timing.add_argument('--dt-seconds', type=_positive_float, help='Or the repeat time dt itself, in seconds')
    parser.add_argument(
        '--buffer', type=_non_negative_int, default=0, help='Range pixels to add on each edge of the reference'
    )
    parser.add_argument(
        '--parameter-file',
        default=constants.DEFAULT_PARAMETER_FILE,
        help='ITS_LIVE autoRIFT parameter shapefile: local path, URL or /vsicurl/ path',
    )
    parser.add_argument('--engine', choices=ENGINES, default='auto', help='Geogrid engine')
    parser.add_argument(
        '--m11m12-dtype',
        choices=MATRIX_DTYPES,
        default='int16',
        help='M11/M12 encoding: int16 packed to -50..50 (V2 granules) or float32 (hyp3-autorift >= 0.20)',
    )
    parser.add_argument(
        '--orbit',
        default='auto',
        help='Orbit: auto (fetch with s1_orbits, else the annotation orbit), annotation, or a local EOF file',
    )
    parser.add_argument('--output-dir', type=Path, default=Path('.'), help='Directory for the products')
    parser.add_argument('--overwrite', action='store_true', help='Replace the products of an earlier run')
    add_upload_arguments(parser)
    return parser


@exit_on_user_error
def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if args.secondary is None and args.secondary_sensing_start is None and args.dt_seconds is None:
        parser.error('one of the arguments --secondary --secondary-sensing-start --dt-seconds is required')
    configure_root_logger()

    products = s1_correction_fixed(
        args.reference,
        secondary=args.secondary,
        secondary_sensing_start=args.secondary_sensing_start,
        dt_seconds=args.dt_seconds,
        buffer=args.buffer,
        parameter_file=args.parameter_file,
        engine=args.engine,
        m11m12_dtype=args.m11m12_dtype,
        orbit=args.orbit,
        output_dir=args.output_dir,
        overwrite=args.overwrite,
    )
    if args.bucket:
        upload_products(products, args.bucket, args.bucket_prefix)
