"""Offline demo: s1_correction_fixed on a synthetic but realistic 12-day Sentinel-1 pair, in under a minute.

Generates, in OUTPUT_DIR/inputs, a reference and a secondary IW SLC (SAFE zips with annotation XML and their orbit,
no measurement data) 12 days apart on the same track over a glaciated region, and ITS_LIVE-style parameter rasters
(DEM with a glacier valley, slopes, reference flow up to ~2000 m/yr, search ranges, chip sizes, stable-surface
mask) with the parameter shapefile that points at them. Then runs the workflow exactly as
`s1_correction_fixed REFERENCE.zip --secondary SECONDARY.zip --orbit annotation --engine numpy
--parameter-file SHAPEFILE --output-dir OUTPUT_DIR` would, and prints dt, dr_to_vr_factor and the outputs.

Usage: python -m hyp3_s1_m11m12.demo --output-dir DIR
"""

import argparse
import logging
import shlex
import time
from pathlib import Path

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.logger import configure_root_logger
from hyp3_s1_m11m12.products.conversion_matrices import DEFAULT_MATRIX_DTYPE
from hyp3_s1_m11m12.simulate.parameters import write_synthetic_parameter_file
from hyp3_s1_m11m12.simulate.safe import footprint_latlon, simulated_scene_pair
from hyp3_s1_m11m12.workflows.cli import exit_on_user_error
from hyp3_s1_m11m12.workflows.s1_correction_fixed import CorrectionProducts, s1_correction_fixed


log = logging.getLogger(__name__)

# A 240 m grid (ITS_LIVE's coarser parameter sets) over the central half of the frame in each direction: about
# 100 000 nodes, which keeps the whole demo well under a minute on two cores.
DEMO_GRID_SPACING_M = 240.0
DEMO_GRID_FRACTION = 0.5
DEMO_ENGINE = 'numpy'


def run_demo(
    output_dir: Path,
    *,
    spacing_m: float = DEMO_GRID_SPACING_M,
    fraction: float = DEMO_GRID_FRACTION,
    m11m12_dtype: str = DEFAULT_MATRIX_DTYPE,
) -> CorrectionProducts:
    """Generate the inputs in `output_dir`/inputs and run s1_correction_fixed into `output_dir` (replacing a
    previous demo run)."""
    inputs = output_dir / 'inputs'
    pair = simulated_scene_pair(inputs, as_zip=True)
    footprint_lonlat = [(lon, lat) for lat, lon in footprint_latlon(pair.reference_scene)]
    parameter_file, grid = write_synthetic_parameter_file(
        footprint_lonlat, inputs / 'parameters', spacing_m=spacing_m, fraction=fraction
    )
    log.info(
        'Synthetic parameter rasters: %d x %d cells of %.0f m in EPSG:%d',
        grid.columns,
        grid.rows,
        grid.spacing_m,
        grid.epsg,
    )
    command = [
        's1_correction_fixed',
        str(pair.reference),
        '--secondary',
        str(pair.secondary),
        '--orbit',
        'annotation',
        '--engine',
        DEMO_ENGINE,
        '--m11m12-dtype',
        m11m12_dtype,
        '--parameter-file',
        str(parameter_file),
        '--output-dir',
        str(output_dir),
        '--overwrite',
    ]
    log.info('Running: %s', shlex.join(command))
    (products,) = s1_correction_fixed(
        pair.reference,
        secondary=pair.secondary,
        orbit='annotation',
        engine=DEMO_ENGINE,
        m11m12_dtype=m11m12_dtype,
        parameter_file=str(parameter_file),
        output_dir=output_dir,
        overwrite=True,
    )
    return products


def summary(products: CorrectionProducts, seconds: float) -> str:
    spoofed_factor = products.dr_to_vr_factor * products.dt_seconds / constants.SPOOFED_DT_SECONDS
    lines = [
        '',
        f'reference:        {products.provenance.reference_id}',
        f'secondary:        {products.provenance.secondary_id}',
        f'dt:               {products.dt_seconds:.6f} s = {products.dt_days:.9f} days',
        f'dr_to_vr_factor:  {products.dr_to_vr_factor:.10f}',
        f'                  (hyp3-autorift s1_correction, dt spoofed to 1 day: {spoofed_factor:.10f})',
        f'parameter region: {products.parameter_region} (EPSG:{products.epsg})',
        'outputs:',
        *(f'  {path}' for path in products.files),
        f'done in {seconds:.1f} s',
    ]
    return '\n'.join(lines)


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(
        prog='python -m hyp3_s1_m11m12.demo',
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument('--output-dir', type=Path, default=Path('demo-output'), help='where inputs and outputs go')
    args = parser.parse_args()
    configure_root_logger()

    start = time.perf_counter()
    products = run_demo(args.output_dir.resolve())
    print(summary(products, time.perf_counter() - start))


if __name__ == '__main__':
    main()
