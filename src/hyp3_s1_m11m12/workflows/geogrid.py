"""Run autoRIFT's radar Geogrid standalone from a run specification (the spec.json format of the golden cases).

Writes the nine window_*.tif into the output directory, with the spec's true repeat time unless --dt-seconds
overrides it (e.g. 86400 to reproduce hyp3-autorift's spoofed 1-day s1_correction run).
"""

import argparse
import logging
from pathlib import Path

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.geogrid.stage import ENGINES, geogrid_from_spec
from hyp3_s1_m11m12.logger import configure_root_logger
from hyp3_s1_m11m12.workflows.cli import exit_on_user_error, new_parser


log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument('--spec', type=Path, required=True, help='Geogrid run specification (spec.json)')
    parser.add_argument('--output-dir', type=Path, required=True, help='Folder for the window_*.tif outputs')
    parser.add_argument(
        '--dt-seconds',
        type=float,
        default=None,
        help="Repeat time in seconds (secondary minus reference sensing start); default: the spec's dt_true_seconds",
    )
    parser.add_argument(
        '--engine',
        choices=ENGINES,
        default='auto',
        help='numpy, or autorift (autoRIFT 1.x ISCE2 Geogrid, conda only); auto picks autorift when importable',
    )
    parser.add_argument('--overwrite', action='store_true', help='Replace window_*.tif already in the output folder')
    return parser


@exit_on_user_error
def main() -> None:
    args = build_parser().parse_args()
    configure_root_logger()
    result = geogrid_from_spec(
        args.spec, args.output_dir, dt_seconds=args.dt_seconds, engine=args.engine, overwrite=args.overwrite
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
