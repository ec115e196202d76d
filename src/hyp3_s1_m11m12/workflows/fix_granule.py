"""Replace the M11/M12 of an ITS_LIVE V2 Sentinel-1 velocity granule with conversion matrices of the true repeat time.

The conversion matrices (conversion_matrices.nc from s1_correction_fixed, or hyp3-autorift's s1_correction with
--rescale-spoofed) are cropped to the granule's grid (same EPSG code and spacing, and covering the granule) and
masked where the granule's v is invalid. M11/M12 keep the granule's data type unless --m11m12-dtype says
otherwise; dr_to_vr_factor is updated and a line is appended to the global history attribute. Every other
variable and attribute is left as it was. The output is written under a temporary name and renamed when complete;
the granule itself is only replaced with --in-place, after a backup <granule>.bak is made.

--compute makes the conversion matrices first, locally: the pair is read from the granule (img_pair_info
id_img1/id_img2), the scenes' metadata from ASF (or --scene-dir), the parameter region from the granule's
autoRIFT_parameter_file, and s1_correction_fixed runs with the true repeat time. The single-user path without HyP3.
"""

import argparse
import tempfile
from pathlib import Path

import netCDF4

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.logger import configure_root_logger
from hyp3_s1_m11m12.products.granules.check import LazyS3Client
from hyp3_s1_m11m12.products.granules.fix import M11M12_DTYPES, FixResult, fix_granule
from hyp3_s1_m11m12.products.granules.metadata import read_granule_metadata
from hyp3_s1_m11m12.workflows.cli import exit_on_user_error
from hyp3_s1_m11m12.workflows.s1_correction_fixed import s1_correction_fixed


def granule_parameter_file(granule: Path) -> str | None:
    """The ITS_LIVE parameter file the granule was made with (its autoRIFT_parameter_file), as a GDAL path."""
    try:
        with netCDF4.Dataset(granule) as dataset:
            value = (
                dataset.getncattr('autoRIFT_parameter_file') if 'autoRIFT_parameter_file' in dataset.ncattrs() else None
            )
    except OSError as error:
        raise ProductError(f'cannot read the granule {granule} ({error}); download it again') from error
    if value is None:
        return None
    text = str(value)
    return constants.VSICURL_PREFIX + text if text.startswith(('http://', 'https://')) else text


def _scene(name: str, scene_dir: Path | None) -> str | Path:
    if scene_dir is not None:
        for candidate in (scene_dir / f'{name}.zip', scene_dir / f'{name}.SAFE'):
            if candidate.exists():
                return candidate
    return name


def compute_and_fix(
    granule: Path,
    *,
    output: Path | None = None,
    in_place: bool = False,
    parameter_file: str | None = None,
    scene_dir: Path | None = None,
    orbit: str = 'auto',
    engine: str = 'auto',
    m11m12_dtype: str | None = None,
    overwrite: bool = False,
) -> FixResult:
    """Make the granule's true-dt conversion matrices with s1_correction_fixed, then repair the granule from them.

    Raises:
        UserFacingError: the granule does not say its pair, or any error of s1_correction_fixed or fix_granule.
    """
    metadata = read_granule_metadata(str(granule), s3_client=LazyS3Client(1))
    if not metadata.id_img1 or not metadata.id_img2:
        raise ProductError(
            f'{granule}: img_pair_info has no id_img1/id_img2, so its pair is unknown; use --conversion-matrices'
        )
    parameters = parameter_file or granule_parameter_file(granule) or constants.DEFAULT_PARAMETER_FILE
    with tempfile.TemporaryDirectory(prefix='fix_granule-compute-') as work:
        (products,) = s1_correction_fixed(
            _scene(metadata.id_img1, scene_dir),
            secondary=_scene(metadata.id_img2, scene_dir),
            parameter_file=parameters,
            orbit=orbit,
            engine=engine,
            m11m12_dtype='float32',
            include_geotiffs=False,  # the repair reads the NetCDF only
            output_dir=Path(work) / 'products',
        )
        return fix_granule(
            granule,
            products.netcdf,
            output=output,
            in_place=in_place,
            m11m12_dtype=m11m12_dtype,
            overwrite=overwrite,
            product_source=f'computed locally by s1_correction_fixed ({products.netcdf.name})',
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='fix_granule', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--granule', type=Path, required=True, help='the V2 velocity granule (.nc) to repair')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        '--conversion-matrices',
        type=Path,
        help="the pair's *_conversion_matrices.nc (or a legacy conversion_matrices.nc)",
    )
    source.add_argument(
        '--compute', action='store_true', help="make the pair's true-dt conversion matrices locally, then repair"
    )
    parser.add_argument('--parameter-file', help="with --compute: instead of the granule's autoRIFT_parameter_file")
    parser.add_argument('--scene-dir', type=Path, help='with --compute: local SAFE zips/folders named after the scenes')
    parser.add_argument('--orbit', default='auto', help="with --compute: 'auto', 'annotation' or an EOF file")
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
    if args.compute:
        compute_and_fix(
            args.granule,
            output=args.output,
            in_place=args.in_place,
            parameter_file=args.parameter_file,
            scene_dir=args.scene_dir,
            orbit=args.orbit,
            m11m12_dtype=args.m11m12_dtype,
            overwrite=args.overwrite,
        )
        return
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
