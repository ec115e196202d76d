"""Replace the M11/M12 of an ITS_LIVE V2 Sentinel-1 velocity granule with conversion matrices of the true repeat time.

The conversion matrices (conversion_matrices.nc from s1_correction_fixed, or hyp3-autorift's s1_correction with
--rescale-spoofed) are cropped to the granule's grid (same EPSG code and spacing, and covering the granule) and
masked where the granule's v is invalid. M11/M12 keep the granule's data type unless --m11m12-dtype says
otherwise; dr_to_vr_factor is updated and a line is appended to the global history attribute. Every other
variable and attribute is left as it was. The output is written under a temporary name and renamed when complete;
the granule itself is only replaced with --in-place, after a backup <granule>.bak is made.
"""

import argparse
from pathlib import Path

from hyp3_s1_m11m12.logger import configure_root_logger
from hyp3_s1_m11m12.products.granules.fix import M11M12_DTYPES, fix_granule
from hyp3_s1_m11m12.workflows.cli import exit_on_user_error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='fix_granule', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--granule', type=Path, required=True, help='the V2 velocity granule (.nc) to repair')
    parser.add_argument(
        '--conversion-matrices', type=Path, required=True, help='conversion_matrices.nc of the reference scene'
    )
    destination = parser.add_mutually_exclusive_group(required=True)
    destination.add_argument('--output', type=Path, help='write the repaired granule here')
    destination.add_argument(
        '--in-place', action='store_true', help='replace the granule, keeping the original as <granule>.bak'
    )
    parser.add_argument(
        '--rescale-spoofed',
        action='store_true',
        help="the conversion matrices were made with the 1-day spoofed dt: multiply M11/M12 by the granule's "
        'date_dt and divide dr_to_vr_factor by it',
    )
    parser.add_argument(
        '--m11m12-dtype', choices=M11M12_DTYPES, help='store M11/M12 as this type (default: as in the granule)'
    )
    parser.add_argument('--overwrite', action='store_true', help='replace an existing --output file')
    return parser


@exit_on_user_error
def main() -> None:
    args = build_parser().parse_args()
    configure_root_logger()
    fix_granule(
        args.granule,
        args.conversion_matrices,
        output=args.output,
        in_place=args.in_place,
        rescale_spoofed=args.rescale_spoofed,
        m11m12_dtype=args.m11m12_dtype,
        overwrite=args.overwrite,
    )


if __name__ == '__main__':
    main()
