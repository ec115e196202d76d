"""The Geogrid stage: pick an engine, check the inputs and the output folder, and publish the outputs atomically.

An engine writes into a temporary folder inside the output folder; only when it has finished are its files moved
into place with os.replace, so an error or an interrupt never leaves a partial set of window_*.tif behind.
"""

import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geogrid import autorift_engine, isce2_child
from hyp3_s1_m11m12.geogrid.spec import load_spec
from hyp3_s1_m11m12.geogrid.types import (
    DEFAULT_SETTINGS,
    GeogridResult,
    GeogridSettings,
    ParameterRasters,
    check_dt,
)
from hyp3_s1_m11m12.geometry.radar import RadarGeometry


log = logging.getLogger(__name__)

ENGINES = ('auto', 'numpy', 'autorift', 'both')
TEMPORARY_PREFIX = '.geogrid-partial-'

Engine = Callable[[RadarGeometry, float, ParameterRasters, Path, GeogridSettings], GeogridResult]


def resolve_engine(engine: str) -> str:
    """The engine to run: 'auto' is the project's ('numpy') unless autoRIFT >= 1.5's radar Geogrid is positively
    detected (in a child process); 'autorift' and 'both' are checked here, before any work.

    Raises:
        GeogridInputError: an unknown engine name, or 'autorift'/'both' where autoRIFT >= 1.5 cannot run (one line
            naming what is missing and how to get it).
    """
    if engine not in ENGINES:
        raise GeogridInputError(f'unknown Geogrid engine {engine!r}: choose one of {", ".join(ENGINES)}')
    if engine in ('autorift', 'both'):
        isce2_child.require_autorift(engine)
        return engine
    if engine != 'auto':
        return engine
    capabilities = isce2_child.probe_autorift()
    if capabilities.available:
        log.info("Geogrid engine: autorift (autoRIFT's radar Geogrid %s is installed)", capabilities.cpp_version)
        return 'autorift'
    log.info('Geogrid engine: numpy (autoRIFT >= 1.5 radar Geogrid not available: %s)', capabilities.problem)
    return 'numpy'


def engine_function(name: str) -> Engine:
    """The run function of a resolved engine; imported here so that neither engine loads unless it runs."""
    if name == 'autorift':
        return autorift_engine.run_autorift_geogrid
    if name == 'both':
        from hyp3_s1_m11m12.geogrid.cross_check import run_both_engines

        return run_both_engines
    if name == 'numpy':
        from hyp3_s1_m11m12.geogrid.engine import run_numpy_geogrid

        return run_numpy_geogrid
    raise GeogridInputError(f'unknown Geogrid engine {name!r}: choose numpy or autorift')


def prepare_output_dir(output_dir: Path) -> Path:
    """Create `output_dir` if needed and check that files can be created in it; return it resolved.

    Raises:
        GeogridInputError: it cannot be created or written to.
    """
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GeogridInputError(
            f'cannot create the output directory {output_dir}: {error.strerror or error}; choose another --output-dir'
        ) from None
    if not output_dir.is_dir():
        raise GeogridInputError(f'the output directory {output_dir} is not a directory; choose another --output-dir')
    try:
        with tempfile.TemporaryFile(dir=output_dir):
            pass
    except OSError as error:
        raise GeogridInputError(
            f'cannot write in the output directory {output_dir}: {error.strerror or error}; choose a writable '
            '--output-dir'
        ) from None
    return output_dir.resolve()


def existing_outputs(output_dir: Path) -> list[Path]:
    return [output_dir / name for name in constants.GEOGRID_OUTPUT_NAMES if (output_dir / name).exists()]


def publish_outputs(result: GeogridResult, output_dir: Path) -> GeogridResult:
    """Move the engine's outputs from its temporary folder into `output_dir`, replacing files of an older run.

    Old window_*.tif this run did not write are removed too, so the folder never mixes two runs.
    """
    unexpected = set(result.outputs) - set(constants.GEOGRID_OUTPUT_NAMES)
    if unexpected:
        raise RuntimeError(f'the {result.engine} engine reported unknown outputs {sorted(unexpected)}')
    for stale in existing_outputs(output_dir):
        if stale.name not in result.outputs:
            log.info('Removing %s from an earlier run (this run does not write it)', stale)
            stale.unlink()
    published: dict[str, Path] = {}
    try:
        for name, path in result.outputs.items():
            os.replace(path, output_dir / name)
            published[name] = output_dir / name
    except BaseException:
        # A failure half way would leave a mix of this run and an older one: remove what was moved.
        for path in published.values():
            path.unlink(missing_ok=True)
        raise
    return dataclasses.replace(result, output_dir=output_dir, outputs=published)


def run_geogrid(
    radar: RadarGeometry,
    dt_seconds: float,
    rasters: ParameterRasters,
    output_dir: Path,
    settings: GeogridSettings = DEFAULT_SETTINGS,
    *,
    engine: str = 'auto',
    overwrite: bool = False,
) -> GeogridResult:
    """Run Geogrid with repeat time `dt_seconds` and write its window_*.tif into `output_dir` (created if needed).

    Raises:
        GeogridInputError: dt <= 0, an unknown or unavailable engine, an unusable output directory, outputs that
            exist already without `overwrite`, or whatever input the engine rejects. Nothing is left behind then.
    """
    check_dt(dt_seconds)
    name = resolve_engine(engine)
    run_engine = engine_function(name)
    created_output_dir = not Path(output_dir).exists()
    output_dir = prepare_output_dir(Path(output_dir))
    existing = existing_outputs(output_dir)
    if existing and not overwrite:
        raise GeogridInputError(
            f'{output_dir} already holds Geogrid outputs ({", ".join(path.name for path in existing)}): '
            'use --overwrite to replace them, or choose another --output-dir'
        )

    log.info(
        'Geogrid with the %s engine: dt = %.6f s = %.9f days, output directory %s',
        name,
        dt_seconds,
        dt_seconds / constants.SECONDS_PER_DAY,
        output_dir,
    )
    workspace = Path(tempfile.mkdtemp(prefix=TEMPORARY_PREFIX, dir=output_dir))
    try:
        result = run_engine(radar, dt_seconds, rasters, workspace, settings)
        published = publish_outputs(result, output_dir)
    except BaseException:
        shutil.rmtree(workspace, ignore_errors=True)
        if created_output_dir and not any(output_dir.iterdir()):
            output_dir.rmdir()
        raise
    shutil.rmtree(workspace, ignore_errors=True)

    log.info(
        'Geogrid grid: pOff = %d, lOff = %d, pCount = %d, lCount = %d (EPSG:%d); X_res = %.6f m, Y_res = %.6f m',
        published.p_off,
        published.l_off,
        published.p_count,
        published.l_count,
        published.epsg,
        published.x_res_m,
        published.y_res_m,
    )
    log.info('Geogrid wrote %s', ', '.join(sorted(published.outputs)))
    return published


def geogrid_from_spec(
    spec_path: Path,
    output_dir: Path,
    dt_seconds: float | None = None,
    engine: str = 'auto',
    overwrite: bool = False,
) -> GeogridResult:
    """Run the Geogrid stage on a run specification (the spec.json format of the golden cases).

    Raster paths in the spec are relative to its folder; dt is the spec's dt.dt_true_seconds unless given.
    """
    spec = load_spec(Path(spec_path).resolve())
    dt = spec.dt_seconds if dt_seconds is None else dt_seconds
    log.info(
        'Geogrid spec %s (case %s), dt from %s',
        spec_path,
        spec.name,
        'the spec' if dt_seconds is None else 'the command line',
    )
    return run_geogrid(
        spec.radar, dt, spec.rasters, Path(output_dir), spec.settings, engine=engine, overwrite=overwrite
    )
