"""Synthetic ITS_LIVE V2 Sentinel-1 velocity granules, in the layout autoRIFT's `netcdf_output.py` writes.

A granule holds vx, vy, v, vr, va (int16, fill -32767), chip sizes and the interpolation mask, M11/M12 (int16
packed to -50..50 as in hyp3-autorift 0.18-0.19, or float32 as from 0.20), `mapping` and `img_pair_info` (with
date_dt and the acquisition times), and the global attributes. Velocities are a smooth deterministic glacier-like
flow; M11/M12 come from conversion matrices (e.g. those of a golden Geogrid run), cropped as hyp3-autorift crops
a granule to its valid velocities.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, Literal

import netCDF4
import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12.constants import DAYS_PER_YEAR, NODATA_OUT, S1_IW_RANGE_PIXEL_SIZE_M, SECONDS_PER_DAY
from hyp3_s1_m11m12.products.conversion_matrices import (
    ConversionMatrices,
    chunk_lines,
    write_matrix_variable,
)
from hyp3_s1_m11m12.products.mapping import MAPPING_VARIABLE_NAME, write_mapping_variable, write_projection_coordinates
from hyp3_s1_m11m12.products.packing import int16_packing


FloatArray = npt.NDArray[np.float64]
GranuleMatrixDtype = Literal['int16', 'float32']

# autoRIFT writes its mid-times in this format (`get_topsinsar_config`).
ACQUISITION_DATE_FORMAT = '%Y%m%dT%H:%M:%S.%f'
# Half an IW slice: the mid-time is this much after the sensing start.
SLICE_HALF_DURATION_S = 13.5
MAX_SPEED_M_PER_YR = 1500.0
COMPRESSION_LEVEL: Final = 2


@dataclass(frozen=True)
class GranulePair:
    """The two acquisitions of a granule and their repeat time."""

    reference_id: str
    secondary_id: str
    reference_start: datetime
    dt_seconds: float

    @property
    def date_dt_days(self) -> float:
        return self.dt_seconds / SECONDS_PER_DAY


def granule_name(pair: GranulePair, grid_spacing_m: float, valid_percent: float) -> str:
    """The ITS_LIVE OD name: <ref>_X_<sec>_G<spacing>V02_P<valid %>_IL_ASF_OD.nc."""
    return f'{pair.reference_id}_X_{pair.secondary_id}_G{grid_spacing_m:04.0f}V02_P{valid_percent:03.0f}_IL_ASF_OD.nc'


def _image_attributes(product_id: str, mid_time: datetime, suffix: str) -> dict[str, object]:
    parts = product_id.split('_')
    return {
        f'absolute_orbit_number_{suffix}': parts[-3] if len(parts) >= 3 else '000000',
        f'acquisition_date_{suffix}': mid_time.strftime(ACQUISITION_DATE_FORMAT),
        f'flight_direction_{suffix}': 'descending',
        f'id_{suffix}': product_id,
        f'mission_data_take_ID_{suffix}': parts[-2] if len(parts) >= 2 else '000000',
        f'mission_{suffix}': product_id[0],
        f'product_unique_ID_{suffix}': parts[-1] if parts else '0000',
        f'satellite_{suffix}': product_id[1:3],
        f'sensor_{suffix}': 'C',
        f'time_standard_{suffix}': 'UTC',
    }


def img_pair_info_attributes(pair: GranulePair, valid_percent: float) -> dict[str, object]:
    mid1 = pair.reference_start + timedelta(seconds=SLICE_HALF_DURATION_S)
    mid2 = mid1 + timedelta(seconds=pair.dt_seconds)
    return {
        **_image_attributes(pair.reference_id, mid1, 'img1'),
        **_image_attributes(pair.secondary_id, mid2, 'img2'),
        'date_center': (mid1 + (mid2 - mid1) / 2).strftime(ACQUISITION_DATE_FORMAT),
        'date_dt': np.float64(pair.date_dt_days),
        'latitude': np.float64(46.5),
        'longitude': np.float64(9.8),
        'roi_valid_percentage': np.float64(valid_percent),
        'autoRIFT_software_version': '1.5.0',
    }


def synthetic_velocities(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """A glacier-like flow: fast along a sinuous valley, slow elsewhere (m/yr, deterministic)."""
    xx, yy = np.meshgrid((x - x.min()) / max(np.ptp(x), 1.0), (y - y.min()) / max(np.ptp(y), 1.0))
    centre = 0.5 + 0.15 * np.sin(2 * math.pi * xx)
    speed = 20.0 + MAX_SPEED_M_PER_YR * np.exp(-(((yy - centre) / 0.12) ** 2))
    heading = np.arctan(0.15 * 2 * math.pi * np.cos(2 * math.pi * xx))
    return speed * np.cos(heading), speed * np.sin(heading)


def valid_velocity_mask(matrices_valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Where autoRIFT found a match: inside Geogrid's valid nodes, minus a decorrelated patch and a sparse pattern."""
    ny, nx = matrices_valid.shape
    rows, columns = np.mgrid[0:ny, 0:nx]
    patch = (rows - 0.3 * ny) ** 2 + (columns - 0.6 * nx) ** 2 < (0.12 * min(nx, ny)) ** 2
    sparse = (rows * 7 + columns * 13) % 29 == 0
    return matrices_valid & ~patch & ~sparse


def _int16_velocity(values: FloatArray, valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.int16]:
    out = np.full(values.shape, NODATA_OUT, dtype=np.int16)
    out[valid] = np.round(np.clip(values[valid], -32768, 32767)).astype(np.int16)
    return out


def _create(
    dataset: netCDF4.Dataset, name: str, dtype: str, fill: float | None, chunks: tuple[int, int]
) -> netCDF4.Variable:
    variable = dataset.createVariable(
        name,
        np.dtype(dtype),
        ('y', 'x'),
        fill_value=fill,
        zlib=True,
        complevel=COMPRESSION_LEVEL,
        shuffle=True,
        chunksizes=chunks,
    )
    variable.set_auto_maskandscale(False)
    return variable


def _write_velocity(
    dataset: netCDF4.Dataset,
    name: str,
    standard_name: str,
    description: str,
    values: FloatArray,
    valid: npt.NDArray[np.bool_],
    chunks: tuple[int, int],
) -> None:
    variable = _create(dataset, name, 'int16', NODATA_OUT, chunks)
    variable.setncatts(
        {
            'standard_name': standard_name,
            'description': description,
            'units': 'm/y',
            'grid_mapping': MAPPING_VARIABLE_NAME,
        }
    )
    if name in ('vx', 'vy'):
        variable.setncatts(
            {
                'error': np.float64(3.2),
                'error_description': 'best estimate of velocity error',
                'stable_shift': np.float64(-0.4),
                'stable_shift_flag': np.int64(1),
                'stable_count_mask': np.int64(1234),
            }
        )
    variable[:] = _int16_velocity(values, valid)


def crop_to_valid(matrices: ConversionMatrices) -> tuple[slice, slice]:
    """The bounding box of the valid M11 cells (hyp3-autorift crops granules to valid data)."""
    rows = np.flatnonzero(np.isfinite(matrices.M11).any(axis=1))
    columns = np.flatnonzero(np.isfinite(matrices.M11).any(axis=0))
    if rows.size == 0:
        raise ValueError('the conversion matrices have no valid cell')
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(columns[0]), int(columns[-1]) + 1)


def write_synthetic_granule(
    output: Path,
    matrices: ConversionMatrices,
    pair: GranulePair,
    *,
    m11m12_dtype: GranuleMatrixDtype = 'int16',
    include_matrices: bool = True,
    window: tuple[slice, slice] | None = None,
) -> Path:
    """Write a V2 velocity granule whose grid is `window` (rows, columns) of `matrices`' grid (default: its valid
    bounding box) and whose M11/M12 and dr_to_vr_factor are those of `matrices`. Deterministic: the same inputs
    give the same variables, so two granules that differ only in `matrices` differ only in M11/M12."""
    rows, columns = window if window is not None else crop_to_valid(matrices)
    x = matrices.x[columns]
    y = matrices.y[rows]
    m11 = matrices.M11[rows, columns]
    m12 = matrices.M12[rows, columns]
    ny, nx = m11.shape
    valid = valid_velocity_mask(np.isfinite(m11))
    vx, vy = synthetic_velocities(x, y)
    valid_percent = 100.0 * valid.mean()
    chunks = (chunk_lines(ny), nx)
    dx = float(matrices.geotransform[1])
    dy = float(matrices.geotransform[5])
    geotransform = (float(x[0]), dx, 0.0, float(y[0]), 0.0, dy)

    with netCDF4.Dataset(output, 'w', format='NETCDF4') as dataset:
        dataset.setncatts(
            {
                'GDAL_AREA_OR_POINT': 'Area',
                'Conventions': 'CF-1.8',
                'date_created': '01-Jan-2023 00:00:00',
                'title': 'autoRIFT surface velocities',
                'author': 'Alex S. Gardner, JPL/NASA; Yang Lei, GPS/Caltech',
                'institution': 'NASA Jet Propulsion Laboratory (JPL), California Institute of Technology',
                'scene_pair_type': 'radar',
                'motion_detection_method': 'feature',
                'motion_coordinates': 'map',
                'autoRIFT_parameter_file': 'http://its-live-data.s3.amazonaws.com/autorift_parameters/v001/'
                'autorift_landice_0120m.shp',
            }
        )
        info = dataset.createVariable('img_pair_info', 'U1', (), fill_value=None)
        info.setncatts(img_pair_info_attributes(pair, valid_percent))
        write_projection_coordinates(dataset, x, y)
        write_mapping_variable(dataset, matrices.epsg, geotransform)

        radar = 'from radar range and azimuth measurements'
        speed = np.hypot(vx, vy)
        _write_velocity(dataset, 'vx', 'x_velocity', f'velocity component in x direction {radar}', vx, valid, chunks)
        _write_velocity(dataset, 'vy', 'y_velocity', f'velocity component in y direction {radar}', vy, valid, chunks)
        _write_velocity(dataset, 'v', 'velocity', f'velocity magnitude {radar}', speed, valid, chunks)
        _write_velocity(dataset, 'vr', 'range_velocity', 'velocity in radar range direction', 0.6 * vx, valid, chunks)
        _write_velocity(dataset, 'va', 'azimuth_velocity', 'velocity in radar azimuth direction', vy, valid, chunks)
        for name, size_m in (('chip_size_height', 480), ('chip_size_width', 240)):
            chip = _create(dataset, name, 'uint16', 0, chunks)
            chip.setncatts({'standard_name': name, 'units': 'm', 'grid_mapping': MAPPING_VARIABLE_NAME})
            chip[:] = np.where(valid, size_m, 0).astype(np.uint16)
        interp = _create(dataset, 'interp_mask', 'uint8', 0, chunks)
        interp.setncatts({'standard_name': 'interpolated_value_mask', 'grid_mapping': MAPPING_VARIABLE_NAME})
        interp[:] = (valid & ((np.arange(nx)[None, :] % 11) == 0)).astype(np.uint8)
        if include_matrices:
            for name, values in (('M11', m11), ('M12', m12)):
                packing = int16_packing(values) if m11m12_dtype == 'int16' else None
                write_matrix_variable(dataset, name, values, packing, chunks, matrices.dr_to_vr_factor)
    return output


def synthetic_conversion_matrices(
    dt_days: float,
    *,
    shape: tuple[int, int] = (120, 150),
    spacing_m: float = 240.0,
    origin_m: tuple[float, float] = (500_000.0, 5_300_000.0),
    epsg: int = 32632,
    heading_deg: float = -167.0,
) -> ConversionMatrices:
    """Conversion matrices of an IW scene for a repeat time of `dt_days`, without running Geogrid.

    |(M11, M12)| = sin(incidence) x dt_years / dr, with the incidence growing from 30 to 46 deg across range and the
    range direction at `heading_deg` + 90; the corners outside the swath are nodata, as in Geogrid's output.
    """
    ny, nx = shape
    columns = np.arange(nx, dtype=np.float64)
    rows = np.arange(ny, dtype=np.float64)
    incidence = np.deg2rad(30.0 + 16.0 * (columns[None, :] + 0.1 * rows[:, None]) / (nx + 0.1 * ny))
    magnitude = np.sin(incidence) * (dt_days / DAYS_PER_YEAR) / S1_IW_RANGE_PIXEL_SIZE_M
    look = np.deg2rad(heading_deg + 90.0)
    m11 = magnitude * np.sin(look)
    m12 = magnitude * np.cos(look)
    outside = (columns[None, :] + rows[:, None] < 0.15 * (nx + ny)) | (columns[None, :] - rows[:, None] > 0.8 * nx)
    m11[outside] = np.nan
    m12[outside] = np.nan
    x0, y0 = origin_m
    x = x0 + spacing_m / 2 + spacing_m * columns
    y = y0 - spacing_m / 2 - spacing_m * rows
    return ConversionMatrices(
        M11=m11,
        M12=m12,
        x=x,
        y=y,
        epsg=epsg,
        geotransform=(float(x[0]), spacing_m, 0.0, float(y[0]), 0.0, -spacing_m),
        dr_to_vr_factor=S1_IW_RANGE_PIXEL_SIZE_M * DAYS_PER_YEAR / dt_days,
    )


def simulated_granule_pair(dt_days: float = 12.0, satellite: str = 'S1A') -> GranulePair:
    """A made-up IW pair `dt_days` apart (2017-02-03, as in autoRIFT issue 99)."""
    reference_start = datetime(2017, 2, 3, 16, 21, 6)
    secondary_start = reference_start + timedelta(days=dt_days)
    reference_id = f'{satellite}_IW_SLC__1SDV_20170203T162106_20170203T162132_015121_018B9A_1380'
    return GranulePair(
        reference_id=reference_id,
        secondary_id=shifted_scene_id(reference_id, secondary_start),
        reference_start=reference_start,
        dt_seconds=dt_days * SECONDS_PER_DAY,
    )


def shifted_scene_id(reference_id: str, secondary_start: datetime) -> str:
    parts = reference_id.split('_')
    if len(parts) < 7:
        return reference_id
    stamp = secondary_start.strftime('%Y%m%dT%H%M%S')
    return '_'.join([*parts[:5], stamp, stamp, *parts[7:]])


def write_spoofed_granule_and_product(
    pair: GranulePair,
    granules_dir: Path,
    products_dir: Path,
    *,
    cells: int,
    spoofed: ConversionMatrices | None = None,
    software_version: str = 'simulated',
) -> tuple[Path, Path]:
    """A campaign's unit of work: a V2 granule whose M11/M12 carry the 1-day spoof (as s1_correction left them), and
    its pair's true-dt conversion-matrices product (float32), named as the workflow names it. `spoofed`: the 1-day
    matrices of `cells` x `cells`, if already made (they do not depend on the pair)."""
    from hyp3_s1_m11m12.products.conversion_matrices import write_conversion_matrices
    from hyp3_s1_m11m12.products.provenance import Provenance
    from hyp3_s1_m11m12.sentinel1.pairing import RepeatTime

    matrices = spoofed if spoofed is not None else synthetic_conversion_matrices(1.0, shape=(cells, cells))
    granule = write_synthetic_granule(granules_dir / granule_name(pair, 240.0, 80.0), matrices, pair)
    secondary_start = pair.reference_start + timedelta(seconds=pair.dt_seconds)
    timing = RepeatTime(pair.dt_seconds, pair.reference_id, pair.reference_start, secondary_start, pair.secondary_id)
    provenance = Provenance(
        software_version=software_version,
        repeat_time=timing,
        engine='numpy',
        engine_version=software_version,
    )
    product = write_conversion_matrices(
        synthetic_conversion_matrices(pair.date_dt_days, shape=(cells, cells)),
        products_dir / f'{pair.reference_id}_X_{pair.secondary_id}_conversion_matrices.nc',
        provenance=provenance,
        dtype='float32',
    )
    return granule, product
