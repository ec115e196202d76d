"""What the golden cases of ../shared/golden hold, as the granule tests use it: the pair and a granule per run."""

import json
from datetime import datetime, timedelta
from pathlib import Path

from hyp3_s1_m11m12.products.conversion_matrices import conversion_matrices_from_geogrid
from hyp3_s1_m11m12.simulate.granule import (
    GranuleMatrixDtype,
    GranulePair,
    shifted_scene_id,
    write_synthetic_granule,
)


def golden_pair(case_dir: Path) -> GranulePair:
    """The pair of a golden case (../shared/golden/<case>): reference, secondary and the true repeat time."""
    spec = json.loads((case_dir / 'inputs' / 'spec.json').read_text())
    reference_id = str(spec.get('source_product', 'S1A_IW_SLC__1SDV_REFERENCE')).split()[0]
    reference_start = datetime.fromisoformat(spec['radar']['sensingStart_utc'])
    dt_seconds = float(spec['dt']['dt_true_seconds'])
    secondary_start = reference_start + timedelta(seconds=dt_seconds)
    secondary_id = spec['dt'].get('secondary_product') or shifted_scene_id(reference_id, secondary_start)
    return GranulePair(
        reference_id=reference_id, secondary_id=secondary_id, reference_start=reference_start, dt_seconds=dt_seconds
    )


def golden_granule(case_dir: Path, run: str, output: Path, *, m11m12_dtype: GranuleMatrixDtype = 'int16') -> Path:
    """A granule of the golden case's pair whose M11/M12 come from its `run` folder ('true_dt' or 'spoofed_dt').

    The grid, velocities and every other variable are the same for both runs; date_dt is the true repeat time.
    """
    matrices = conversion_matrices_from_geogrid(case_dir / run)
    return write_synthetic_granule(output, matrices, golden_pair(case_dir), m11m12_dtype=m11m12_dtype)
