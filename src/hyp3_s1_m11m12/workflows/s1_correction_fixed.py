"""Sentinel-1 M11/M12 conversion matrices with the TRUE repeat time: the fixed `s1_correction` of hyp3-autorift.

Geogrid runs on the reference scene's geometry with dt = the secondary's sensing start minus the reference's
(hyp3-autorift spoofed dt = 1 day), using the ITS_LIVE parameter region that contains the scene. Per pair it writes
<reference>_X_<secondary>_conversion_matrices.nc, its .png quick-look and the nine Geogrid GeoTIFFs
(<reference>_X_<secondary>_window_*.tif, unless `--include-geotiffs false`: an archive correction needs only the
NetCDF); many secondaries of one reference go into one folder.
"""

import argparse
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid.parameter_file import find_parameter_set
from hyp3_s1_m11m12.geogrid.stage import ENGINES, GEOTIFF_COMPRESSIONS
from hyp3_s1_m11m12.logger import configure_root_logger
from hyp3_s1_m11m12.products.conversion_matrices import DEFAULT_MATRIX_DTYPE, MATRIX_DTYPES
from hyp3_s1_m11m12.products.correction import (
    DEFAULT_GEOTIFF_COMPRESSION,
    CorrectionProducts,
    check_choices,
    correction_from_radar_geometry,
    product_names,
    products_in_staging,
)
from hyp3_s1_m11m12.products.upload import upload_products
from hyp3_s1_m11m12.sentinel1.orbits import ORBIT_CHOICES
from hyp3_s1_m11m12.sentinel1.repeat_time import resolve_repeat_time, resolve_repeat_times
from hyp3_s1_m11m12.staging import staged_directory
from hyp3_s1_m11m12.workflows.cli import (
    add_max_dt_argument,
    add_upload_arguments,
    apply_max_dt,
    boolean_argument,
    exit_on_user_error,
    name_list,
    new_parser,
    non_negative_int,
    seconds_argument,
    utc_argument,
)


log = logging.getLogger(__name__)

__all__ = [
    'CorrectionProducts',
    'correction_from_radar_geometry',
    'main',
    'product_names',
    's1_correction_fixed',
]


def s1_correction_fixed(
    reference: str | Path,
    *,
    secondary: str | Path | None = None,
    secondaries: Sequence[str | Path] = (),
    secondary_sensing_start: datetime | str | None = None,
    dt_seconds: float | None = None,
    buffer: int = 0,
    parameter_file: str = constants.DEFAULT_PARAMETER_FILE,
    engine: str = 'auto',
    m11m12_dtype: str = 'float32',
    geotiff_compression: str = DEFAULT_GEOTIFF_COMPRESSION,
    include_geotiffs: bool = True,
    orbit: str | Path = 'auto',
    output_dir: Path = Path('.'),
    overwrite: bool = False,
) -> list[CorrectionProducts]:
    """Conversion matrices of the `reference` scene with the true repeat time, one product set per pair.

    Args:
        reference: an SLC scene name, a burst granule name, or a local SAFE directory or zip.
        secondary, secondaries: the secondary acquisition(s) (same forms); dt from the first common burst.
        secondary_sensing_start: or the secondary's sensing start (UTC); dt = it minus the reference's.
        dt_seconds: or the repeat time itself. Exactly one kind of timing is given.
        buffer: range pixels added on each side of the reference image.
        parameter_file: the ITS_LIVE autoRIFT parameter shapefile (local path, URL or /vsicurl/ path).
        engine: Geogrid engine (stage.ENGINES); m11m12_dtype: 'float32' or 'int16' (historical packing).
        geotiff_compression: 'deflate', 'zstd' (lossless) or 'none' (autoRIFT's bytes).
        include_geotiffs: write the nine Geogrid GeoTIFFs of each pair (False: the NetCDF and quick-look only).
        orbit: 'auto' (fetch, falling back to the annotation orbit), 'annotation', or a local EOF file.
        output_dir: where the products go (created if needed); overwrite: replace an earlier run's products.

    Raises:
        UserFacingError: any bad input, with a message naming the problem and the fix.
    """
    all_secondaries = [*([secondary] if secondary is not None else []), *secondaries]
    kinds = sum(bool(given) for given in (all_secondaries, secondary_sensing_start is not None, dt_seconds is not None))
    if kinds != 1:
        raise GeogridInputError(
            'give exactly one of secondary acquisitions, a secondary sensing start or a repeat time dt in seconds'
        )
    if buffer < 0:
        raise GeogridInputError(f'the buffer must be a non-negative number of range pixels, got {buffer}')
    check_choices(engine, m11m12_dtype, geotiff_compression)
    orbit_choice: str | Path = orbit if str(orbit) in ORBIT_CHOICES else Path(orbit)

    with staged_directory(output_dir, overwrite=overwrite) as staging:
        if all_secondaries:
            pairs = resolve_repeat_times(reference, all_secondaries, orbit=orbit_choice, work_dir=staging.work)
        else:
            pairs = [
                resolve_repeat_time(
                    reference,
                    secondary_sensing_start=secondary_sensing_start,
                    dt_seconds=dt_seconds,
                    orbit=orbit_choice,
                    work_dir=staging.work,
                )
            ]
        products: list[CorrectionProducts] = []
        # A secondary older than the reference swaps the pair: one Geogrid geometry per distinct reference.
        for granule in dict.fromkeys(pair.reference.granule for pair in pairs):
            group = [pair for pair in pairs if pair.reference.granule == granule]
            acquisition = group[0].reference
            products += products_in_staging(
                staging,
                acquisition.radar_geometry(buffer),
                [pair.repeat_time for pair in group],
                find_parameter_set(parameter_file, radar=acquisition.region_radar_geometry()),
                orbit_source=acquisition.orbit_source,
                buffer=buffer,
                engine=engine,
                m11m12_dtype=m11m12_dtype,
                geotiff_compression=geotiff_compression,
                include_geotiffs=include_geotiffs,
            )
    order = {pair.repeat_time.secondary_granule: index for index, pair in enumerate(pairs)}
    return sorted(products, key=lambda product: order.get(product.provenance.secondary_id, 0))


def read_secondaries_file(path: Path) -> list[str]:
    """One secondary per line; blank lines and '#' comments are skipped.

    Raises:
        GeogridInputError: the file cannot be read or lists nothing.
    """
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise GeogridInputError(f'cannot read the secondaries file {path} ({error}); give a text file') from None
    names = [line.split('#', 1)[0].strip() for line in lines]
    names = [name for name in names if name]
    if not names:
        raise GeogridInputError(f'the secondaries file {path} lists no secondary; give one scene name per line')
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument(
        'reference', help='Reference: an S1 IW SLC scene name, a burst granule name, or a local SAFE directory or zip'
    )
    parser.add_argument(
        '--secondary',
        type=name_list,
        action='extend',
        help='Secondary acquisition (same forms); dt by the earliest-burst rule. Repeat it, or give several '
        'separated by spaces (as HyP3 passes a list), for more pairs',
    )
    parser.add_argument('--secondaries-file', type=Path, help='Or a text file of secondaries, one per line')
    parser.add_argument(
        '--secondary-sensing-start',
        type=utc_argument,
        help='Or the secondary sensing start (ISO UTC); dt = it minus the reference sensing start',
    )
    parser.add_argument('--dt-seconds', type=seconds_argument, help='Or the repeat time dt itself, in seconds')
    add_max_dt_argument(parser)
    parser.add_argument(
        '--buffer', type=non_negative_int, default=0, help='Range pixels to add on each edge of the reference'
    )
    parser.add_argument(
        '--parameter-file',
        default=constants.DEFAULT_PARAMETER_FILE,
        help='ITS_LIVE autoRIFT parameter shapefile: local path, URL or /vsicurl/ path',
    )
    parser.add_argument(
        '--engine', choices=ENGINES, default='auto', help="Geogrid engine ('numpy' is the project's own engine)"
    )
    parser.add_argument(
        '--m11m12-dtype',
        choices=MATRIX_DTYPES,
        default=DEFAULT_MATRIX_DTYPE,
        help='M11/M12 encoding: float32 (hyp3-autorift >= 0.20) or int16 packed to -50..50 (historical V2 granules)',
    )
    parser.add_argument(
        '--geotiff-compression',
        choices=GEOTIFF_COMPRESSIONS,
        default=DEFAULT_GEOTIFF_COMPRESSION,
        help="Lossless compression of the Geogrid GeoTIFFs; none writes autoRIFT's own bytes",
    )
    parser.add_argument(
        '--include-geotiffs',
        type=boolean_argument,
        default=True,
        help="true or false: write each pair's nine Geogrid GeoTIFFs beside its NetCDF and quick-look (an archive "
        'correction needs only the NetCDF)',
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
    secondaries = [name for name in args.secondary or [] if name is not None]
    if args.secondaries_file is not None:
        secondaries += read_secondaries_file(args.secondaries_file)
    timings = [bool(secondaries), args.secondary_sensing_start is not None, args.dt_seconds is not None]
    if sum(timings) != 1:
        parser.error('give exactly one of --secondary/--secondaries-file, --secondary-sensing-start or --dt-seconds')
    apply_max_dt(args.max_dt_days)
    configure_root_logger()

    products = s1_correction_fixed(
        args.reference,
        secondaries=secondaries,
        secondary_sensing_start=args.secondary_sensing_start,
        dt_seconds=args.dt_seconds,
        buffer=args.buffer,
        parameter_file=args.parameter_file,
        engine=args.engine,
        m11m12_dtype=args.m11m12_dtype,
        geotiff_compression=args.geotiff_compression,
        include_geotiffs=args.include_geotiffs,
        orbit=args.orbit,
        output_dir=args.output_dir,
        overwrite=args.overwrite,
    )
    size = sum(path.stat().st_size for product in products for path in product.files)
    log.info('%d product set(s), %.1f MB in %s', len(products), size / 1e6, args.output_dir)
    if args.bucket:
        # GeoTIFFs and quick-looks of every pair first, the NetCDFs last.
        files = [path for product in products for path in product.files if path != product.netcdf]
        upload_products([*files, *(product.netcdf for product in products)], args.bucket, args.bucket_prefix)


if __name__ == '__main__':
    main()
