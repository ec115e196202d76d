"""Golden-free checks of the numpy Geogrid engine on a synthetic Sentinel-1 frame and synthetic parameter rasters."""

import dataclasses
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, osr

from hyp3_s1_m11m12.errors import GeogridInputError, OrbitError
from hyp3_s1_m11m12.geogrid.engine import GeogridArrays, compute_numpy_geogrid, run_numpy_geogrid
from hyp3_s1_m11m12.geogrid.types import ParameterRasters
from hyp3_s1_m11m12.geometry.orbit import Orbit
from hyp3_s1_m11m12.geometry.radar import RadarGeometry
from hyp3_s1_m11m12.simulate.acquisition import (
    synthetic_radar_geometry,
    synthetic_scene,
)
from hyp3_s1_m11m12.simulate.parameters import grid_covering, write_parameter_rasters
from hyp3_s1_m11m12.simulate.safe import footprint_latlon
from tests.support.scenes import DT_12_DAYS_S, rasters_around_scene


NODATA = -32767


@pytest.fixture(scope='module')
def radar() -> RadarGeometry:
    return synthetic_radar_geometry()


@pytest.fixture(scope='module')
def rasters(tmp_path_factory: pytest.TempPathFactory) -> ParameterRasters:
    return rasters_around_scene(tmp_path_factory.mktemp('synthetic-rasters'))


@pytest.fixture(scope='module')
def twelve_days(radar: RadarGeometry, rasters: ParameterRasters) -> GeogridArrays:
    return compute_numpy_geogrid(radar, DT_12_DAYS_S, rasters, include_diagnostics=True)


def test_m11_m12_reproduce_the_unrounded_range_offset(twelve_days: GeogridArrays, rasters: ParameterRasters) -> None:
    bands = twelve_days.bands
    x1, x2 = bands['window_rdr_off2vel_x_vec.tif'][:2]
    y1, y2 = bands['window_rdr_off2vel_y_vec.tif'][:2]
    sf1 = bands['window_scale_factor.tif'][0]
    window = twelve_days.plan.window
    datasets = {name: gdal.Open(getattr(rasters, name)) for name in ('vx', 'vy')}
    vx, vy = (
        datasets[name].GetRasterBand(1).ReadAsArray(window.p_off, window.l_off, window.p_count, window.l_count)
        for name in ('vx', 'vy')
    )
    nodata = datasets['vx'].GetRasterBand(1).GetNoDataValue()
    datasets.clear()
    valid = (x1 != NODATA) & (x2 != NODATA) & (y1 != NODATA) & (y2 != NODATA) & (vx != nodata)
    assert valid.sum() > 100
    determinant = x1 * y2 - x2 * y1
    m11 = y2 / determinant / sf1
    m12 = -x2 / determinant / sf1
    predicted = m11 * vx + m12 * vy
    unrounded = twelve_days.diagnostics['offset_range_unrounded']
    scale = np.max(np.abs(unrounded[valid]))
    np.testing.assert_allclose(predicted[valid], unrounded[valid], rtol=0, atol=1e-9 * scale)
    offsets = bands['window_offset.tif'][0]
    rounded = np.sign(unrounded[valid]) * np.floor(np.abs(unrounded[valid]) + 0.5)
    np.testing.assert_array_equal(offsets[valid], rounded)


def test_off2vel_scales_as_one_over_dt(
    radar: RadarGeometry, rasters: ParameterRasters, twelve_days: GeogridArrays
) -> None:
    one_day = compute_numpy_geogrid(radar, 86400.0, rasters)
    ratio = DT_12_DAYS_S / 86400.0
    for name in ('window_rdr_off2vel_x_vec.tif', 'window_rdr_off2vel_y_vec.tif'):
        long, short = twelve_days.bands[name], one_day.bands[name]
        valid = long != NODATA
        np.testing.assert_array_equal(valid, short != NODATA)
        np.testing.assert_allclose(short[valid], long[valid] * ratio, rtol=1e-13)
    for name in ('window_scale_factor.tif', 'window_location.tif', 'window_chip_size_min.tif'):
        np.testing.assert_array_equal(one_day.bands[name], twelve_days.bands[name])


def test_outputs_and_nodata_rules(twelve_days: GeogridArrays) -> None:
    bands = twelve_days.bands
    assert len(bands) == 9
    location = bands['window_location.tif']
    inside = location[0] != NODATA
    assert inside.any()
    for name, array in bands.items():
        assert np.all(array[:, ~inside] == NODATA), name
    search = bands['window_search_range.tif']
    assert np.all(np.asarray(search[:, inside], dtype=np.int64) >= 0)


def test_only_the_outputs_autorift_writes(radar: RadarGeometry, rasters: ParameterRasters) -> None:
    dem_only = compute_numpy_geogrid(radar, DT_12_DAYS_S, ParameterRasters(dem=rasters.dem))
    assert sorted(dem_only.bands) == ['window_location.tif']
    slopes = ParameterRasters(dem=rasters.dem, dhdx=rasters.dhdx, dhdy=rasters.dhdy, ssm=rasters.ssm)
    with_slopes = compute_numpy_geogrid(radar, DT_12_DAYS_S, slopes)
    assert sorted(with_slopes.bands) == sorted(
        [
            'window_location.tif',
            'window_rdr_off2vel_x_vec.tif',
            'window_rdr_off2vel_y_vec.tif',
            'window_scale_factor.tif',
            'window_stable_surface_mask.tif',
        ]
    )


def _copy_raster(
    source: str, destination: Path, *, epsg: int | None = None, shift_m: float = 0.0, crop: bool = False
) -> str:
    options = gdal.TranslateOptions(srcWin=[0, 0, 10, 10] if crop else None)
    dataset = gdal.Translate(str(destination), source, options=options)
    if shift_m:
        geotransform = list(dataset.GetGeoTransform())
        geotransform[0] += shift_m
        dataset.SetGeoTransform(geotransform)
    if epsg is not None:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        dataset.SetProjection(srs.ExportToWkt())
    dataset = None
    return str(destination)


def test_no_overlap_and_short_orbit(radar: RadarGeometry, rasters: ParameterRasters, tmp_path: Path) -> None:
    far = _copy_raster(rasters.dem, tmp_path / 'far.tif', shift_m=5e6)
    with pytest.raises(GeogridInputError, match='does not overlap'):
        compute_numpy_geogrid(radar, DT_12_DAYS_S, ParameterRasters(dem=far))
    orbit = radar.orbit
    middle = orbit.times_s.size // 2
    short = Orbit(
        epoch=orbit.epoch,
        times_s=orbit.times_s[middle - 2 : middle + 2],
        positions_m=orbit.positions_m[middle - 2 : middle + 2],
        velocities_m_s=orbit.velocities_m_s[middle - 2 : middle + 2],
    )
    with pytest.raises(OrbitError, match='outside the orbit span'):
        compute_numpy_geogrid(dataclasses.replace(radar, orbit=short), DT_12_DAYS_S, ParameterRasters(dem=rasters.dem))


@pytest.mark.parametrize(
    ('change', 'message'),
    [
        ('geographic_dem', 'geographic CRS'),
        ('dem_without_crs', 'no coordinate reference system'),
        ('vx_off_grid', 'not on the DEM grid'),
        ('vx_other_crs', 'not on the DEM grid'),
        ('vx_cropped', 'not on the DEM grid'),
        ('missing_file', 'cannot open the vx raster'),
        ('vy_missing', 'vy raster is missing'),
        ('zero_dt', 'positive number of seconds'),
        ('range_beyond_the_earth', 'do not all reach the ground'),
    ],
)
def test_bad_inputs(radar: RadarGeometry, rasters: ParameterRasters, tmp_path: Path, change: str, message: str) -> None:
    dt = DT_12_DAYS_S
    dem, vx, vy = rasters.dem, rasters.vx, rasters.vy
    assert rasters.vx is not None
    source_vx: str = rasters.vx
    if change == 'geographic_dem':
        dem = _copy_raster(rasters.dem, tmp_path / 'dem.tif', epsg=4326)
    elif change == 'dem_without_crs':
        dem = str(tmp_path / 'dem.tif')
        dataset = gdal.Translate(dem, rasters.dem)
        dataset.SetProjection('')
        dataset = None
    elif change == 'vx_off_grid':
        vx = _copy_raster(source_vx, tmp_path / 'vx.tif', shift_m=120.0)
    elif change == 'vx_other_crs':
        vx = _copy_raster(source_vx, tmp_path / 'vx.tif', epsg=32601)
    elif change == 'vx_cropped':
        vx = _copy_raster(source_vx, tmp_path / 'vx.tif', crop=True)
    elif change == 'missing_file':
        vx = str(tmp_path / 'absent.tif')
    elif change == 'vy_missing':
        vy = None
    elif change == 'zero_dt':
        dt = 0.0
    elif change == 'range_beyond_the_earth':
        radar = dataclasses.replace(radar, number_of_samples=10**9)
    output = tmp_path / 'out'
    output.mkdir()
    with pytest.raises(GeogridInputError, match=message):
        run_numpy_geogrid(radar, dt, ParameterRasters(dem=dem, vx=vx, vy=vy), output)
    assert list(output.iterdir()) == []


def test_an_error_mid_run_leaves_nothing_behind(
    radar: RadarGeometry, rasters: ParameterRasters, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hyp3_s1_m11m12.geogrid import blocks, nodes

    calls = []
    original = nodes.compute_nodes

    def failing_on_the_second_block(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise OrbitError('the orbit ends here')
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(nodes, 'compute_nodes', failing_on_the_second_block)
    monkeypatch.setattr(blocks, 'BLOCK_NODES', 40)  # one row per block
    with pytest.raises(OrbitError, match='the orbit ends here'):
        run_numpy_geogrid(radar, DT_12_DAYS_S, rasters, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(('omp_num_threads', 'expected'), [('3', 3), ('', None), ('zero', None), ('0', None)])
def test_worker_threads_follow_omp_num_threads(monkeypatch, omp_num_threads, expected):
    """HyP3's ++omp-num-threads sets OMP_NUM_THREADS; without it, the CPUs the process may use (at most 8)."""
    import os

    from hyp3_s1_m11m12.geogrid.blocks import available_workers

    monkeypatch.setenv('OMP_NUM_THREADS', omp_num_threads)
    allowed = max(1, min(len(os.sched_getaffinity(0)), 8))
    assert available_workers() == (expected if expected is not None else allowed)


def test_a_frame_across_midnight_maps_every_line(tmp_path):
    """ISCE2 counts orbit times from the orbit's midnight and sensingStart from its own: a frame across 00:00 UTC
    would be shifted by a day. One continuous timeline maps the lines after midnight to the end of the image."""
    scene = synthetic_scene(center_time=datetime(2024, 12, 31, 23, 59, 59))
    radar = scene.radar_geometry()
    assert radar.sensing_start.day == 31 and radar.sensing_stop.day == 1
    footprint = [(lon, lat) for lat, lon in footprint_latlon(scene)]
    rasters = write_parameter_rasters(grid_covering(footprint, 4000.0, fraction=0.9), tmp_path)
    arrays = compute_numpy_geogrid(radar, DT_12_DAYS_S, rasters)
    azimuth = arrays.bands['window_location.tif'][1]
    lines = azimuth[azimuth != NODATA]
    assert lines.size > 100
    assert lines.min() >= 0 and lines.max() <= radar.number_of_lines - 1
    after_midnight = (datetime(2025, 1, 1) - radar.sensing_start).total_seconds() * radar.prf_hz
    assert lines.min() < after_midnight < lines.max()
