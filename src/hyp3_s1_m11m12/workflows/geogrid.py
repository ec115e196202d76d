"""Run autoRIFT's radar Geogrid standalone from a run specification (the spec.json format of the golden cases).

Writes the nine window_*.tif into the output directory, with the spec's true repeat time unless --dt-seconds
overrides it (e.g. 86400 to reproduce hyp3-autorift's spoofed 1-day s1_correction run).
"""

import argparse
import logging
from pathlib import Path

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.geogrid.spec import load_spec
from hyp3_s1_m11m12.geogrid.stage import ENGINES, GEOTIFF_COMPRESSIONS, geogrid_from_spec
from hyp3_s1_m11m12.logger import configure_root_logger
from hyp3_s1_m11m12.sentinel1.pairing import check_dt_bounds, configured_max_dt_seconds
from hyp3_s1_m11m12.workflows.cli import (
    add_max_dt_argument,
    apply_max_dt,
    exit_on_user_error,
    new_parser,
    seconds_argument,
)


log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument('--spec', type=Path, required=True, help='Geogrid run specification (spec.json)')
    parser.add_argument('--output-dir', type=Path, required=True, help='Folder for the window_*.tif outputs')
    parser.add_argument(
        '--dt-seconds',
        type=seconds_argument,
        default=None,
        help="Repeat time in seconds (secondary minus reference sensing start); default: the spec's dt_true_seconds",
    )
    parser.add_argument(
        '--engine',
        choices=ENGINES,
        default='auto',
        help="numpy (the project's own engine), or autorift (autoRIFT 1.x ISCE2 Geogrid, conda only); auto picks "
        'autorift when importable',
    )
    parser.add_argument(
        '--geotiff-compression',
        choices=GEOTIFF_COMPRESSIONS,
        default='none',
        help="Lossless compression of the GeoTIFFs; none writes autoRIFT's own bytes",
    )
    add_max_dt_argument(parser)
    parser.add_argument('--overwrite', action='store_true', help='Replace window_*.tif already in the output folder')
    return parser


@exit_on_user_error
def main() -> None:
    args = build_parser().parse_args()
    apply_max_dt(args.max_dt_days)
    configure_root_logger()
    dt_seconds = load_spec(args.spec.resolve()).dt_seconds if args.dt_seconds is None else args.dt_seconds
    check_dt_bounds(dt_seconds, configured_max_dt_seconds())
    result = geogrid_from_spec(
        args.spec,
        args.output_dir,
        dt_seconds=dt_seconds,
        engine=args.engine,
        overwrite=args.overwrite,
        compression=args.geotiff_compression,
    )
    log.info(
        'Geogrid done: engine %s %s, dt = %.6f s (%.9f days), %d outputs in %s',
        result.engine,
        result.engine_version,
        result.dt_seconds,
        result.dt_seconds / constants.SECONDS_PER_DAY,
        len(result.outputs),
        result.output_dir,
    )


if __name__ == '__main__':
    main()
