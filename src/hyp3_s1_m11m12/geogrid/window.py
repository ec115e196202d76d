"""Where Geogrid's grid lies: the radar scene's map bounding box, the incidence angle, and the DEM window.

These restate autoRIFT's Geogrid.py (determineBbox, getIncidenceAngle) and the start of geogrid.cpp.
"""

import math
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from hyp3_s1_m11m12.errors import GeogridInputError
from hyp3_s1_m11m12.geometry.ellipsoid import llh_to_ecef
from hyp3_s1_m11m12.geometry.projection import MapProjection
from hyp3_s1_m11m12.geometry.radar import RadarGeometry
from hyp3_s1_m11m12.geometry.zero_doppler import rdr2geo


BBOX_HEIGHTS_M = (-200.0, 4000.0)  # determineBbox's and getIncidenceAngle's zrange
BBOX_SAMPLES = 21
DEG2RAD = math.pi / 180.0


@dataclass(frozen=True)
class GridWindow:
    """The DEM window Geogrid processes: columns p_off..p_off+p_count-1, rows l_off..l_off+l_count-1."""

    p_off: int
    l_off: int
    p_count: int
    l_count: int


def scene_bounding_box(
    radar: RadarGeometry, projection: MapProjection
) -> tuple[tuple[float, float], tuple[float, float]]:
    """(xlim, ylim) in the map CRS of the scene's edges at heights -200 m and 4000 m (determineBbox).

    Times are formed as Python datetimes, as determineBbox does (so they carry its microsecond rounding).
    """
    ranges = (
        radar.starting_range_m
        + np.linspace(0, radar.number_of_samples - 1, num=BBOX_SAMPLES) * radar.range_pixel_size_m
    )
    last_line = radar.sensing_start + timedelta(seconds=(radar.number_of_lines - 1) / radar.prf_hz)
    fractions = np.linspace(0, 1.0, num=BBOX_SAMPLES)[1:-1]
    interior = [
        radar.sensing_start + timedelta(seconds=float(fraction) * (radar.number_of_lines - 1) / radar.prf_hz)
        for fraction in fractions
    ]
    times, slant_ranges = [], []
    for time in (radar.sensing_start, last_line):
        times += [time] * ranges.size
        slant_ranges += list(ranges)
    for time in interior:
        times += [time, time]
        slant_ranges += [ranges[0], ranges[-1]]
    orbit = radar.orbit
    seconds = np.array([orbit.seconds_since_epoch(time) for time in times])
    rng = np.array(slant_ranges)
    xs, ys = [], []
    for height in BBOX_HEIGHTS_M:
        with np.errstate(invalid='ignore'):  # a range that misses the Earth gives NaN, reported below
            solution = rdr2geo(orbit, seconds, rng, np.full(rng.shape, height), radar.look_side)
        x, y = projection.to_map(solution.lat_rad / DEG2RAD, solution.lon_rad / DEG2RAD)
        xs.append(x)
        ys.append(y)
    x_all = np.concatenate(xs)
    y_all = np.concatenate(ys)
    if not (np.all(np.isfinite(x_all)) and np.all(np.isfinite(y_all))):
        # rdr2geo has no solution where the slant range misses the Earth (or reaches past its horizon).
        raise GeogridInputError(
            f'the radar image edges (slant range {radar.starting_range_m:.0f}..{radar.far_range_m:.0f} m) do not all '
            'reach the ground: check the starting range and number of samples, or use a smaller --buffer'
        )
    return (float(np.min(x_all)), float(np.max(x_all))), (float(np.min(y_all)), float(np.max(y_all)))


def incidence_angle_rad(radar: RadarGeometry) -> float:
    """Mean incidence angle at mid-scene for heights -200 m and 4000 m (getIncidenceAngle)."""
    orbit = radar.orbit
    mid_range = radar.starting_range_m + (math.floor(radar.number_of_samples / 2) - 1) * radar.range_pixel_size_m
    mid_time = radar.sensing_start + timedelta(seconds=(math.floor(radar.number_of_lines / 2) - 1) / radar.prf_hz)
    seconds = orbit.seconds_since_epoch(mid_time)
    satellite, _ = orbit.interpolate(np.float64(seconds))
    thetas = []
    for height in BBOX_HEIGHTS_M:
        solution = rdr2geo(orbit, seconds, mid_range, height, radar.look_side)
        lat = float(solution.lat_rad)
        lon = float(solution.lon_rad)
        target = np.array(llh_to_ecef(lat, lon, float(solution.unconstrained_height_m)))
        look = (satellite - target) / np.linalg.norm(satellite - target)
        normal = np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)])
        thetas.append(math.acos(float(np.dot(look, normal))))
    return float(np.mean(thetas))


def grid_window(
    geotransform: tuple[float, float, float, float, float, float],
    x_size: int,
    y_size: int,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
) -> GridWindow:
    """The DEM window covering the bounding box, as geogrid.cpp computes it (clamped to the DEM, minus one cell).

    Raises:
        GeogridInputError: the scene and the DEM do not overlap.
    """
    gt = geotransform
    l_off = int(max(math.floor((ylim[1] - gt[3]) / gt[5]), 0.0))
    l_count = int(min(math.ceil((ylim[0] - gt[3]) / gt[5]), y_size - 1.0) - l_off)
    p_off = int(max(math.floor((xlim[0] - gt[0]) / gt[1]), 0.0))
    p_count = int(min(math.ceil((xlim[1] - gt[0]) / gt[1]), x_size - 1.0) - p_off)
    if p_count <= 0 or l_count <= 0 or p_off >= x_size or l_off >= y_size:
        dem_x = (gt[0], gt[0] + x_size * gt[1])
        dem_y = (gt[3] + y_size * gt[5], gt[3])
        raise GeogridInputError(
            f'the radar scene (map x {xlim[0]:.0f}..{xlim[1]:.0f}, y {ylim[0]:.0f}..{ylim[1]:.0f}) does not overlap '
            f'the DEM (x {dem_x[0]:.0f}..{dem_x[1]:.0f}, y {dem_y[0]:.0f}..{dem_y[1]:.0f}): use parameter rasters '
            "that cover the scene, in the CRS of the scene's region"
        )
    return GridWindow(p_off=p_off, l_off=l_off, p_count=p_count, l_count=l_count)
