"""The fused numba kernels of the Geogrid stage (geometry/kernels.py) against the pure-numpy path, without goldens."""

import dataclasses

import numpy as np
import pytest

from hyp3_s1_m11m12.geogrid import engine, kernels, nodes
from hyp3_s1_m11m12.geogrid.engine import compute_numpy_geogrid, plan_geogrid
from hyp3_s1_m11m12.geogrid.rasters import open_rasters
from hyp3_s1_m11m12.geogrid.types import GeogridSettings, ParameterRasters
from hyp3_s1_m11m12.geometry.projection import MapProjection
from hyp3_s1_m11m12.geometry.radar import RadarGeometry
from hyp3_s1_m11m12.simulate.acquisition import (
    DEFAULT_CENTER_LAT_DEG,
    DEFAULT_CENTER_LON_DEG,
    synthetic_radar_geometry,
)
from hyp3_s1_m11m12.simulate.parameters import MapGrid, utm_epsg, write_parameter_rasters


pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason='numba is not installed')

DT_12_DAYS_S = 1036799.636
SUBSETS = {
    'all': None,
    'dem': ('dem',),
    'slopes-ssm': ('dem', 'dhdx', 'dhdy', 'ssm'),
    'no-search-range': ('dem', 'dhdx', 'dhdy', 'vx', 'vy', 'csminx', 'csminy'),
}


@pytest.fixture(scope='module')
def radar() -> RadarGeometry:
    return synthetic_radar_geometry()


@pytest.fixture(scope='module')
def rasters(tmp_path_factory: pytest.TempPathFactory) -> ParameterRasters:
    """A grid across the scene's near-range edge, so that some nodes fall outside the image."""
    epsg = utm_epsg(DEFAULT_CENTER_LON_DEG, DEFAULT_CENTER_LAT_DEG)
    x, y = MapProjection(epsg).to_map(np.array([DEFAULT_CENTER_LAT_DEG] * 2), np.array([DEFAULT_CENTER_LON_DEG] * 2))
    spacing = 480.0
    grid = MapGrid(
        epsg=epsg,
        x_min_m=float(np.floor(x[0] / spacing) * spacing - 320 * spacing),
        y_max_m=float(np.ceil(y[0] / spacing) * spacing + 12 * spacing),
        spacing_m=spacing,
        columns=60,
        rows=24,
    )
    return write_parameter_rasters(grid, tmp_path_factory.mktemp('kernel-rasters'))


def _subset(rasters: ParameterRasters, names: tuple[str, ...] | None) -> ParameterRasters:
    if names is None:
        return rasters
    return ParameterRasters(**{name: path for name, path in rasters.present().items() if name in names})


@pytest.mark.parametrize('stop_at_fixed_point', [True, False])
@pytest.mark.parametrize('subset', list(SUBSETS))
def test_fused_kernels_are_bit_identical_to_numpy(
    radar: RadarGeometry, rasters: ParameterRasters, subset: str, stop_at_fixed_point: bool
) -> None:
    chosen = _subset(rasters, SUBSETS[subset])
    runs = [
        compute_numpy_geogrid(
            radar,
            DT_12_DAYS_S,
            chosen,
            include_diagnostics=True,
            stop_at_fixed_point=stop_at_fixed_point,
            compiled=compiled,
        )
        for compiled in (False, True)
    ]
    location = runs[0].bands['window_location.tif']
    inside = location[0] != -32767
    assert inside.any() and not inside.all()  # both branches of every rule are exercised
    assert sorted(runs[0].bands) == sorted(runs[1].bands)
    assert sorted(runs[0].diagnostics) == sorted(runs[1].diagnostics)
    for name, array in runs[0].bands.items():
        assert runs[1].bands[name].dtype == array.dtype, name
        np.testing.assert_array_equal(runs[1].bands[name], array, err_msg=name)
    for name, array in runs[0].diagnostics.items():
        np.testing.assert_array_equal(runs[1].diagnostics[name], array, err_msg=name)


def test_warm_up_compiles_every_signature_a_run_uses(
    radar: RadarGeometry, rasters: ParameterRasters, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run after warm_up_kernels needs no new compilation: the image's cache then covers real jobs."""
    from hyp3_s1_m11m12.geometry.zero_doppler import warm_up_kernels

    warm_up_kernels()
    compute_numpy_geogrid(radar, DT_12_DAYS_S, rasters, include_diagnostics=True)
    compute_numpy_geogrid(radar, DT_12_DAYS_S, _subset(rasters, ('dem',)))
    monkeypatch.setattr(engine, 'BLOCK_NODES', 1)  # one-row blocks: the node coordinates are read-only views
    compute_numpy_geogrid(radar, DT_12_DAYS_S, rasters)
    compiled = kernels.compiled()
    assert len(compiled.geogrid_radar.signatures) == 1
    assert len(compiled.geogrid_outputs.signatures) == 1


def test_blocks_without_nodes_inside_the_image(radar: RadarGeometry, rasters: ParameterRasters) -> None:
    opened = open_rasters(rasters)
    try:
        plan = plan_geogrid(radar, DT_12_DAYS_S, opened, GeogridSettings(), compiled=True)
        window = plan.window
        values = {
            name: array.reshape(-1)
            for name, array in opened.read_window(window.p_off, window.l_off, window.p_count, window.l_count).items()
        }
    finally:
        opened.close()
    gt = plan.dem_geotransform
    columns, rows = np.meshgrid(np.arange(window.p_count), np.arange(window.l_count))
    x = gt[0] + (window.p_off + columns.reshape(-1) + 0.5) * gt[1]
    y = gt[3] + (window.l_off + rows.reshape(-1) + 0.5) * gt[5]
    location = nodes.compute_nodes(plan.context, x, y, values)[nodes.LOCATION]
    outside = np.flatnonzero(location[0] == -32767)
    subset = {name: array[outside] for name, array in values.items()}
    results = [
        nodes.compute_nodes(dataclasses.replace(plan.context, compiled=compiled), x[outside], y[outside], subset)
        for compiled in (False, True)
    ]
    assert sorted(results[0]) == sorted(results[1])
    for name, array in results[0].items():
        assert np.all(array == -32767), name
        np.testing.assert_array_equal(results[1][name], array, err_msg=name)
