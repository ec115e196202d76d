"""The compiled kernels (geogrid/kernels.py), without goldens: compiled against NUMBA_DISABLE_JIT=1 (both use the C
maths library, so the same bits), limit-cycle stops against the fixed counts, several dt values against one, and
the numpy geometry against the kernels to a physical tolerance."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hyp3_s1_m11m12.errors import OrbitError
from hyp3_s1_m11m12.geogrid import blocks, kernels, nodes
from hyp3_s1_m11m12.geogrid.engine import compute_geogrid_for_dts, compute_numpy_geogrid, run_geogrid_for_dts
from hyp3_s1_m11m12.geogrid.types import DEFAULT_SETTINGS, ParameterRasters
from hyp3_s1_m11m12.geogrid.vocabulary import DT_INDEPENDENT_OUTPUTS, LOCATION, OUTPUT_NAMES
from hyp3_s1_m11m12.geometry import fast_projection
from hyp3_s1_m11m12.geometry.ellipsoid import llh_to_ecef
from hyp3_s1_m11m12.geometry.projection import MapProjection
from hyp3_s1_m11m12.geometry.radar import RadarGeometry
from hyp3_s1_m11m12.geometry.zero_doppler import geo2rdr
from hyp3_s1_m11m12.simulate.acquisition import DEFAULT_CENTER_LAT_DEG, DEFAULT_CENTER_LON_DEG, synthetic_radar_geometry
from hyp3_s1_m11m12.simulate.parameters import MapGrid, utm_epsg, write_parameter_rasters


DT_12_DAYS_S = 1036799.636
SUBSETS = {
    'all': None,
    'dem': ('dem',),
    'slopes-ssm': ('dem', 'dhdx', 'dhdy', 'ssm'),
    'no-search-range': ('dem', 'dhdx', 'dhdy', 'vx', 'vy', 'csminx', 'csminy'),
}
NODATA = -32767


@pytest.fixture(scope='module')
def radar() -> RadarGeometry:
    return synthetic_radar_geometry()


def _grid(columns: int, rows: int) -> MapGrid:
    """A grid across the scene's near-range edge, so that some nodes fall outside the image."""
    epsg = utm_epsg(DEFAULT_CENTER_LON_DEG, DEFAULT_CENTER_LAT_DEG)
    x, y = MapProjection(epsg).to_map(np.array([DEFAULT_CENTER_LAT_DEG] * 2), np.array([DEFAULT_CENTER_LON_DEG] * 2))
    spacing = 480.0
    return MapGrid(
        epsg=epsg,
        x_min_m=float(np.floor(x[0] / spacing) * spacing - 320 * spacing),
        y_max_m=float(np.ceil(y[0] / spacing) * spacing + 12 * spacing),
        spacing_m=spacing,
        columns=columns,
        rows=rows,
    )


@pytest.fixture(scope='module')
def rasters(tmp_path_factory: pytest.TempPathFactory) -> ParameterRasters:
    return write_parameter_rasters(_grid(60, 24), tmp_path_factory.mktemp('kernel-rasters'))


def _subset(rasters: ParameterRasters, names: tuple[str, ...] | None) -> ParameterRasters:
    if names is None:
        return rasters
    return ParameterRasters(**{name: path for name, path in rasters.present().items() if name in names})


@pytest.mark.parametrize('subset', list(SUBSETS))
def test_limit_cycle_stops_are_bit_identical_to_the_fixed_counts(
    radar: RadarGeometry, rasters: ParameterRasters, subset: str
) -> None:
    chosen = _subset(rasters, SUBSETS[subset])
    runs = [
        compute_numpy_geogrid(radar, DT_12_DAYS_S, chosen, include_diagnostics=True, stop_at_fixed_point=stop)
        for stop in (True, False)
    ]
    inside = runs[0].bands[LOCATION][0] != NODATA
    assert inside.any() and not inside.all()  # both branches of every rule are exercised
    assert sorted(runs[0].bands) == sorted(runs[1].bands)
    for name, array in runs[1].bands.items():
        np.testing.assert_array_equal(runs[0].bands[name], array, err_msg=name)
    for name, array in runs[1].diagnostics.items():
        np.testing.assert_array_equal(runs[0].diagnostics[name], array, err_msg=name)


_JIT_SCRIPT = """
import json, sys
import numpy as np
from hyp3_s1_m11m12.geogrid.engine import compute_numpy_geogrid
from hyp3_s1_m11m12.geogrid.types import DEFAULT_SETTINGS, ParameterRasters
from hyp3_s1_m11m12.simulate.acquisition import synthetic_radar_geometry
arrays = compute_numpy_geogrid(synthetic_radar_geometry(), float(sys.argv[2]), ParameterRasters(**json.loads(sys.argv[1])),
                               include_diagnostics=True)
np.savez(sys.argv[3], **arrays.bands, **arrays.diagnostics)
"""


def test_compiled_kernels_give_the_bits_of_the_uncompiled_python(tmp_path: Path) -> None:
    """NUMBA_DISABLE_JIT=1 runs the kernels' Python with the same C maths library: every band bit for bit."""
    rasters = write_parameter_rasters(_grid(40, 6), tmp_path / 'rasters')
    results = []
    for disable in ('0', '1'):
        output = tmp_path / f'jit-disabled-{disable}.npz'
        env = {**os.environ, 'NUMBA_DISABLE_JIT': disable}
        subprocess.run(
            [sys.executable, '-c', _JIT_SCRIPT, json.dumps(rasters.present()), str(DT_12_DAYS_S), str(output)],
            check=True,
            env=env,
            timeout=600,
        )
        results.append(dict(np.load(output)))
    assert (results[0][LOCATION][0] != NODATA).any()
    assert sorted(results[0]) == sorted(results[1])
    for name, array in results[0].items():
        np.testing.assert_array_equal(results[1][name], array, err_msg=name)


def test_several_dt_values_give_the_bits_of_separate_runs(
    radar: RadarGeometry, rasters: ParameterRasters, tmp_path: Path
) -> None:
    dts = [DT_12_DAYS_S, 86400.0, 6 * 86400.0 + 0.25, 366 * 86400.0]
    together = compute_geogrid_for_dts(radar, dts, rasters, include_diagnostics=True)
    for dt, arrays in zip(dts, together, strict=True):
        alone = compute_numpy_geogrid(radar, dt, rasters, include_diagnostics=True)
        assert arrays.dt_seconds == dt and sorted(arrays.bands) == sorted(alone.bands)
        for name, array in alone.bands.items():
            np.testing.assert_array_equal(arrays.bands[name], array, err_msg=f'{dt} {name}')
        for name, array in alone.diagnostics.items():
            np.testing.assert_array_equal(arrays.diagnostics[name], array, err_msg=f'{dt} {name}')
    assert not np.array_equal(together[0].bands['window_offset.tif'], together[1].bands['window_offset.tif'])
    # run_geogrid_for_dts writes the dt-independent files once and copies them: they must be exactly those.
    for name in together[0].bands:
        same = all(np.array_equal(arrays.bands[name], together[0].bands[name]) for arrays in together[1:])
        assert same == (name in DT_INDEPENDENT_OUTPUTS), name
    folders = [tmp_path / f'dt-{index}' for index in range(2)]
    for folder in folders:
        folder.mkdir()
    results = run_geogrid_for_dts(radar, list(zip(dts[:2], folders, strict=True)), rasters, keep_bands=[LOCATION])
    single = tmp_path / 'single'
    single.mkdir()
    run_geogrid_for_dts(radar, [(dts[1], single)], rasters)
    for name in OUTPUT_NAMES:
        assert (folders[1] / name).read_bytes() == (single / name).read_bytes(), name
    np.testing.assert_array_equal(results[0].bands[LOCATION], together[0].bands[LOCATION])


def test_warm_up_compiles_every_signature_a_run_uses(
    radar: RadarGeometry, rasters: ParameterRasters, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run after warm_up_kernels needs no new compilation (the map projections' kernels included): the image's
    cache then covers real jobs."""
    nodes.warm_up_kernels()
    compute_numpy_geogrid(radar, DT_12_DAYS_S, rasters, include_diagnostics=True)
    compute_numpy_geogrid(radar, DT_12_DAYS_S, _subset(rasters, ('dem',)))
    monkeypatch.setattr(blocks, 'BLOCK_NODES', 1)  # one-row blocks
    compute_numpy_geogrid(radar, DT_12_DAYS_S, rasters)
    compiled = kernels.compiled()
    assert len(compiled.radar.signatures) == 1
    assert len(compiled.outputs.signatures) == 1
    for name, kernel in fast_projection.compiled()._asdict().items():
        assert len(kernel.signatures) == 1, name


def test_the_numpy_geo2rdr_agrees_with_the_kernel_to_a_physical_tolerance(
    radar: RadarGeometry, rasters: ParameterRasters
) -> None:
    """numpy's SIMD maths may differ from libm in the last bit: compare times to a microsecond, not bits."""
    arrays = compute_numpy_geogrid(radar, DT_12_DAYS_S, rasters)
    context = arrays.plan.context
    window = arrays.plan.window
    gt = arrays.plan.dem_geotransform
    columns, rows = np.meshgrid(np.arange(window.p_count), np.arange(window.l_count))
    x = gt[0] + (window.p_off + columns.reshape(-1) + 0.5) * gt[1]
    y = gt[3] + (window.l_off + rows.reshape(-1) + 0.5) * gt[5]
    lat, lon = context.projection.to_geographic(x, y)
    targets = np.stack(llh_to_ecef(np.deg2rad(lat), np.deg2rad(lon), np.zeros(x.size)), axis=-1)
    solution = geo2rdr(context.orbit, targets, context.radar.initial_time)
    out = kernels.RadarOutputs(
        location=np.full((2, x.size), NODATA, dtype=np.int32),
        times=np.empty(x.size),
        status=np.zeros(x.size, dtype=np.int8),
        inside=np.empty(x.size, dtype=np.int64),
        steps=np.empty((6, x.size)),
    )
    geodetic = np.stack((lat, lon, np.zeros(x.size)))
    kernels.compiled().radar(context.tables, context.radar, geodetic, out)
    assert not out.status.any()
    np.testing.assert_allclose(out.times, solution.azimuth_time_s, rtol=0, atol=1e-6)


def test_an_orbit_error_is_found_from_the_kernel_status(radar: RadarGeometry, rasters: ParameterRasters) -> None:
    """A node whose Newton iterate leaves the orbit is reported with that time, from the kernel's per-node status
    (geo2rdr is not run again)."""
    import dataclasses

    from hyp3_s1_m11m12.geogrid.rasters import open_rasters
    from hyp3_s1_m11m12.geometry.orbit import Orbit

    opened = open_rasters(rasters)
    try:
        plan = blocks.plan_geogrid(radar, opened, DEFAULT_SETTINGS)
        window = plan.window
        values = {
            name: array.reshape(-1)
            for name, array in opened.read_window(window.p_off, window.l_off, window.p_count, window.l_count).items()
        }
    finally:
        opened.close()
    context = plan.context
    orbit = context.orbit
    keep = orbit.times_s <= context.radar.initial_time + 1.0  # the orbit ends just after Newton's start
    cut = Orbit(
        epoch=orbit.epoch,
        times_s=orbit.times_s[keep],
        positions_m=orbit.positions_m[keep],
        velocities_m_s=orbit.velocities_m_s[keep],
    )
    short = dataclasses.replace(
        context, orbit=cut, tables=kernels.orbit_tables(cut.times_s, cut.positions_m, cut.velocities_m_s)
    )
    gt = plan.dem_geotransform
    columns, rows = np.meshgrid(np.arange(window.p_count), np.arange(window.l_count))
    x = gt[0] + (window.p_off + columns.reshape(-1) + 0.5) * gt[1]
    y = gt[3] + (window.l_off + rows.reshape(-1) + 0.5) * gt[5]
    scalars = nodes.output_settings(short, [DT_12_DAYS_S])
    with pytest.raises(OrbitError, match=r'the zero-Doppler \(geo2rdr\) iteration needs the orbit at .*outside'):
        nodes.compute_nodes(short, x, y, values, scalars)


_BLAS_PROBE_SCRIPT = """
import sys
from hyp3_s1_m11m12.geogrid import nodes
nodes.warm_up_kernels()
skipped = 'scipy.linalg' not in sys.modules
import scipy.linalg.cython_blas  # the probe's stand-in is gone: a later import works
print(skipped, sys.modules['scipy.linalg.cython_blas'] is not None)
"""


def test_loading_the_kernels_skips_numbas_blas_probe_and_leaves_scipy_importable() -> None:
    pytest.importorskip('scipy.linalg.cython_blas')
    done = subprocess.run(
        [sys.executable, '-c', _BLAS_PROBE_SCRIPT], check=True, capture_output=True, text=True, timeout=600
    )
    assert done.stdout.split() == ['True', 'True']


def test_every_portable_target_gives_the_bits_of_the_host_build(tmp_path: Path) -> None:
    """The image's prebuilt levels (x86-64-v3 where this CPU has it, generic) compute the host build's bits."""
    from hyp3_s1_m11m12.numba_target import GENERIC, cpu_flags, select_target

    rasters = write_parameter_rasters(_grid(40, 6), tmp_path / 'rasters')
    targets = ['host', GENERIC] + (['x86-64-v3'] if select_target(['x86-64-v3'], cpu_flags()) else [])
    results = {}
    for target in targets:
        output = tmp_path / f'{target}.npz'
        env = {key: value for key, value in os.environ.items() if key != 'NUMBA_CPU_NAME'}
        if target != 'host':  # a cache of its own: the test compiles each level rather than trusting a cache
            env |= {'NUMBA_CPU_NAME': target, 'NUMBA_CACHE_DIR': str(tmp_path / f'cache-{target}')}
        subprocess.run(
            [sys.executable, '-c', _JIT_SCRIPT, json.dumps(rasters.present()), str(DT_12_DAYS_S), str(output)],
            check=True,
            env=env,
            timeout=600,
        )
        results[target] = dict(np.load(output))
    assert (results['host'][LOCATION][0] != NODATA).any()
    for target in targets[1:]:
        assert sorted(results[target]) == sorted(results['host'])
        for name, array in results['host'].items():
            assert results[target][name].tobytes() == array.tobytes(), (target, name)
