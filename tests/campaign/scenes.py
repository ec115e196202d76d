"""A campaign in miniature: synthetic SAFE pairs sharing a reference, their spoofed V2 granules, a job runner
that makes each pair's product with the project's own s1_correction_fixed and stores it as HyP3 does."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyp3_s1_m11m12.products.conversion_matrices import read_conversion_matrices
from hyp3_s1_m11m12.simulate.granule import GranulePair, granule_name, write_synthetic_granule
from hyp3_s1_m11m12.simulate.parameters import write_synthetic_parameter_file
from hyp3_s1_m11m12.simulate.safe import SyntheticPair, footprint_latlon, simulated_scene_pair
from hyp3_s1_m11m12.workflows.s1_correction_fixed import s1_correction_fixed


GRID_SPACING_M = 960.0
GRID_FRACTION = 0.35
PRODUCT_BUCKET = 'hyp3-products'
PRODUCT_SUFFIX = '_conversion_matrices.nc'


@dataclass(frozen=True)
class Scenes:
    pairs: tuple[SyntheticPair, ...]  # one reference, secondaries 12 and 24 days later
    parameter_file: Path
    safes: dict[str, Path]  # scene name -> SAFE zip
    spoofed_matrices: Path  # the reference's 1-day spoofed conversion matrices (hyp3-autorift's s1_correction)

    @property
    def reference(self) -> str:
        return self.pairs[0].reference_scene.name


def _run(reference: Path, parameter_file: Path, output_dir: Path, **timing: Any) -> Path:
    (products,) = s1_correction_fixed(
        reference,
        orbit='annotation',
        engine='numpy',
        m11m12_dtype='float32',
        parameter_file=str(parameter_file),
        output_dir=output_dir,
        **timing,
    )
    return products.netcdf


def make_scenes(folder: Path) -> Scenes:
    pairs = tuple(simulated_scene_pair(folder / f'cycles{n}', cycles=n, as_zip=True) for n in (1, 2))
    assert pairs[0].reference_scene.name == pairs[1].reference_scene.name
    footprint = [(lon, lat) for lat, lon in footprint_latlon(pairs[0].reference_scene)]
    parameter_file, _ = write_synthetic_parameter_file(
        footprint, folder / 'parameters', spacing_m=GRID_SPACING_M, fraction=GRID_FRACTION
    )
    safes = {pair.reference_scene.name: pair.reference for pair in pairs}
    safes.update({pair.secondary_scene.name: pair.secondary for pair in pairs})
    spoofed = _run(pairs[0].reference, parameter_file, folder / 'spoofed', dt_seconds=86400.0)
    return Scenes(pairs=pairs, parameter_file=parameter_file, safes=safes, spoofed_matrices=spoofed)


def write_spoofed_granules(scenes: Scenes, folder: Path) -> list[Path]:
    """One int16 V2 granule per pair, patched with the 1-day spoofed matrices as hyp3-autorift did."""
    matrices = read_conversion_matrices(scenes.spoofed_matrices)
    folder.mkdir(parents=True, exist_ok=True)
    granules = []
    for pair in scenes.pairs:
        granule_pair = GranulePair(
            reference_id=pair.reference_scene.name,
            secondary_id=pair.secondary_scene.name,
            reference_start=pair.reference_scene.sensing_start,
            dt_seconds=pair.dt_seconds,
        )
        path = folder / granule_name(granule_pair, GRID_SPACING_M, 80.0)
        granules.append(write_synthetic_granule(path, matrices, granule_pair))
    return granules


def job_runner(scenes: Scenes, work: Path, s3_client: Any, endpoint: str) -> Any:
    """A HyP3 stand-in runner: one s1_correction_fixed run for the job's reference and all its secondaries, as the
    job spec's command does (with the job's include_geotiffs), every product file stored under the job id."""

    def run(job: dict[str, Any]) -> list[dict[str, Any]]:
        parameters = job['job_parameters']
        reference = parameters['reference'][0]
        for name in (reference, *parameters['secondary']):
            if name not in scenes.safes:
                raise RuntimeError(f'no such scene: {name}')
        products = s1_correction_fixed(
            scenes.safes[reference],
            secondaries=[scenes.safes[secondary] for secondary in parameters['secondary']],
            orbit='annotation',
            engine='numpy',
            m11m12_dtype='float32',
            include_geotiffs=parameters.get('include_geotiffs', True),
            parameter_file=str(scenes.parameter_file),
            output_dir=work / job['job_id'],
        )
        files = []
        for path in (path for product in products for path in product.files):
            key = f'{job["job_id"]}/{path.name}'
            s3_client.upload_file(str(path), PRODUCT_BUCKET, key)
            files.append(
                {
                    'filename': path.name,
                    'size': path.stat().st_size,
                    'url': f'{endpoint}/{PRODUCT_BUCKET}/{key}',
                    's3': {'bucket': PRODUCT_BUCKET, 'key': key},
                }
            )
        return files

    return run
