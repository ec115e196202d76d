"""Check ITS_LIVE V2 Sentinel-1 velocity granules for M11/M12 made with hyp3-autorift's 1-day spoofed repeat time.

Reads only the metadata of each granule (local paths, http(s):// URLs with range requests, s3:// URLs; the S3
endpoint follows AWS_ENDPOINT_URL), compares dr_to_vr_factor with 2.329562114715323 x 365 / img_pair_info.date_dt,
and classifies each granule as ok, spoofed, no_m11m12, inconsistent or unreadable. Prints a table on stdout and
progress on stderr.

Exit status: 0 when the check ran, whatever the granules' statuses (read them in the table or the report);
2 for bad arguments (no granule, an unreadable --from-file, a report name that is not .csv/.json).
"""

import argparse
from pathlib import Path

from hyp3_s1_m11m12.logger import configure_root_logger
from hyp3_s1_m11m12.products.granules.check import DEFAULT_WORKERS
from hyp3_s1_m11m12.products.granules.report import run_check
from hyp3_s1_m11m12.workflows.cli import exit_on_user_error


def positive_integer(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f'must be at least 1, not {number}')
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='check_granule', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('granules', nargs='*', metavar='GRANULE', help='granule path, http(s):// or s3:// URL')
    parser.add_argument(
        '--from-file', type=Path, metavar='LIST', help='text file listing granules, one a line (# comments)'
    )
    parser.add_argument('--output', type=Path, metavar='REPORT', help='write the results as CSV (.csv) or JSON (.json)')
    parser.add_argument(
        '--workers',
        type=positive_integer,
        default=DEFAULT_WORKERS,
        help=f'granules read at the same time (default: {DEFAULT_WORKERS})',
    )
    parser.add_argument(
        '--read-values',
        action='store_true',
        help='also read the M11/M12 values to check their magnitude (int16 granules are checked from their packing '
        'attributes without it; costs the size of the two variables per granule)',
    )
    return parser


@exit_on_user_error
def main() -> None:
    args = build_parser().parse_args()
    configure_root_logger()
    run_check(
        args.granules,
        from_file=args.from_file,
        output=args.output,
        workers=args.workers,
        read_values=args.read_values,
    )


if __name__ == '__main__':
    main()
