"""s1_correction_fixed end to end on a synthetic 12-day pair: products, provenance, the dt fix, upload, bad input."""

import dataclasses
import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest
import xarray

from hyp3_s1_m11m12 import __version__, constants
from hyp3_s1_m11m12.errors import GeogridInputError, OutputError, ProductError, TimingError, UserFacingError
from hyp3_s1_m11m12.geogrid.parameter_file import ParameterSet
from hyp3_s1_m11m12.geogrid.types import ParameterRasters
from hyp3_s1_m11m12.geogrid.vocabulary import OUTPUT_NAMES
from hyp3_s1_m11m12.sentinel1.pairing import RepeatTime
from hyp3_s1_m11m12.simulate.acquisition import RANGE_PIXEL_SIZE_M
from hyp3_s1_m11m12.simulate.parameters import (
    ParameterRegion,
    write_parameter_shapefile,
    write_synthetic_parameter_file,
)
from hyp3_s1_m11m12.simulate.safe import SyntheticPair, footprint_latlon, simulated_scene_pair, synthetic_eof
from hyp3_s1_m11m12.timeutil import format_utc
from hyp3_s1_m11m12.workflows import s1_correction_fixed as workflow
from hyp3_s1_m11m12.workflows.s1_correction_fixed import CorrectionProducts, product_names
from tests.support import s3 as s3_support
from tests.support.s3 import Bucket


def s1_correction_fixed(reference: Any, **arguments: Any) -> CorrectionProducts:
    """One pair: the workflow returns one product set per pair."""
    (products,) = workflow.s1_correction_fixed(reference, **arguments)
    return products


def product_paths(products: CorrectionProducts) -> list[Path]:
    folder = products.netcdf.parent
    return [folder / name for name in product_names(products.provenance.stem)]


s3 = s3_support.s3  # the fixture: moto's S3 server behind an IAM-like proxy


# A coarse grid over the middle of the frame keeps each run to a few seconds.
TEST_GRID_SPACING_M = 960.0
TEST_GRID_FRACTION = 0.35


@dataclass(frozen=True)
class Inputs:
    pair: SyntheticPair
    parameter_file: Path
    folder: Path


@pytest.fixture(scope='module')
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    folder = tmp_path_factory.mktemp('inputs')
    pair = simulated_scene_pair(folder, as_zip=True)
    footprint = [(lon, lat) for lat, lon in footprint_latlon(pair.reference_scene)]
    parameter_file, _ = write_synthetic_parameter_file(
        footprint, folder / 'parameters', spacing_m=TEST_GRID_SPACING_M, fraction=TEST_GRID_FRACTION
    )
    return Inputs(pair=pair, parameter_file=parameter_file, folder=folder)


@pytest.fixture(scope='module')
def products(inputs: Inputs, tmp_path_factory: pytest.TempPathFactory) -> CorrectionProducts:
    return s1_correction_fixed(
        inputs.pair.reference,
        secondary=inputs.pair.secondary,
        orbit='annotation',
        engine='numpy',
        m11m12_dtype='float32',
        parameter_file=str(inputs.parameter_file),
        output_dir=tmp_path_factory.mktemp('products'),
    )


def read_matrices(path: Path) -> dict[str, Any]:
    with netCDF4.Dataset(path) as dataset:
        values = {name: np.ma.filled(dataset[name][:].astype(np.float64), np.nan) for name in ('M11', 'M12')}
        values['attributes'] = {name: dataset.getncattr(name) for name in dataset.ncattrs()}
        values['factor'] = float(dataset['M11'].dr_to_vr_factor)
    return values


def test_every_product_is_written(inputs: Inputs, products: CorrectionProducts) -> None:
    folder = products.netcdf.parent
    stem = f'{inputs.pair.reference_scene.name}_X_{inputs.pair.secondary_scene.name}'
    assert products.provenance.stem == stem
    assert products.netcdf.name == f'{stem}_conversion_matrices.nc'
    assert products.quicklook.name == f'{stem}_conversion_matrices.png'
    assert list(products.files) == product_paths(products)
    assert [path.name for path in products.geotiffs] == [f'{stem}_{name}' for name in OUTPUT_NAMES]
    assert all(path.is_file() and path.stat().st_size > 0 for path in products.files)
    assert products.quicklook.read_bytes().startswith(b'\x89PNG')
    assert sorted(path.name for path in folder.iterdir()) == sorted(path.name for path in products.files)


def test_true_dt_is_the_first_common_burst_separation(inputs: Inputs, products: CorrectionProducts) -> None:
    assert products.dt_seconds == pytest.approx(inputs.pair.dt_seconds, abs=1e-6)
    assert 11.9 * 86400 < products.dt_seconds < 12.1 * 86400
    assert products.dr_to_vr_factor == pytest.approx(
        RANGE_PIXEL_SIZE_M * constants.SECONDS_PER_YEAR / products.dt_seconds, rel=1e-12
    )


def test_provenance_in_the_netcdf(inputs: Inputs, products: CorrectionProducts) -> None:
    provenance = products.provenance
    assert provenance.reference_id == inputs.pair.reference_scene.name
    assert provenance.secondary_id == inputs.pair.secondary_scene.name
    assert provenance.repeat_time.reference_sensing_start == inputs.pair.reference_scene.sensing_start
    assert provenance.repeat_time.secondary_sensing_start == inputs.pair.secondary_scene.sensing_start
    assert provenance.engine == 'numpy'
    assert provenance.dt_seconds == products.dt_seconds

    attributes = read_matrices(products.netcdf)['attributes']
    assert attributes['reference_granule'] == inputs.pair.reference_scene.name
    assert attributes['secondary_granule'] == inputs.pair.secondary_scene.name
    assert attributes['reference_sensing_start'] == format_utc(inputs.pair.reference_scene.sensing_start)
    assert attributes['secondary_sensing_start'] == format_utc(inputs.pair.secondary_scene.sensing_start)
    assert attributes['dt_seconds'] == products.dt_seconds == pytest.approx(inputs.pair.dt_seconds, abs=1e-6)
    assert attributes['dt_days'] == products.dt_seconds / 86400.0
    assert attributes['geogrid_engine'] == 'numpy'
    assert attributes['geogrid_engine_version'] == attributes['software_version'] == __version__
    assert attributes['autoRIFT_parameter_file'] == str(inputs.parameter_file)
    assert str(products.dt_seconds) in attributes['history']
    # A true-dt file cannot be mistaken for a spoofed one, and says which algorithm, orbit, region and buffer.
    assert attributes['dt_convention'] == 'true_dt'
    assert 'TRUE repeat time' in attributes['title'] and attributes['title'] != 'autoRIFT S1 Corrections'
    assert attributes['autoRIFT_software_version'] == '1.6.0'
    assert datetime.fromisoformat(attributes['date_created'].replace('Z', '+00:00')).tzinfo is not None
    assert attributes['autoRIFT_parameter_region'] == products.parameter_region == 'SYN'
    assert attributes['orbit_source'] == 'annotation'
    assert attributes['buffer_range_pixels'] == 0
    assert attributes['geotiff_compression'] == 'deflate'
    assert 'first common burst' in attributes['dt_source']


def test_netcdf_opens_in_xarray(products: CorrectionProducts) -> None:
    with xarray.open_dataset(products.netcdf) as dataset:
        assert dataset['M11'].dims == ('y', 'x')
        assert dataset['M11'].attrs['grid_mapping'] == 'mapping'
        assert dataset['M11'].dtype == np.float32
        assert int(dataset['mapping'].attrs['spatial_epsg']) == products.epsg
        assert np.isfinite(dataset['M11'].values).any()
        assert np.all(np.diff(dataset['x'].values) > 0) and np.all(np.diff(dataset['y'].values) < 0)


def test_matrices_scale_with_dt(inputs: Inputs, products: CorrectionProducts, tmp_path: Path) -> None:
    """The fix in one line: with the 1-day spoof, M11/M12 are dt_days times too small, dr_to_vr_factor too big."""
    spoofed = s1_correction_fixed(
        inputs.pair.reference,
        dt_seconds=constants.SPOOFED_DT_SECONDS,
        orbit='annotation',
        engine='numpy',
        m11m12_dtype='float32',
        parameter_file=str(inputs.parameter_file),
        output_dir=tmp_path,
    )
    ratio = products.dt_seconds / constants.SPOOFED_DT_SECONDS
    true, bug = read_matrices(products.netcdf), read_matrices(spoofed.netcdf)
    # Given only dt, the provenance still dates the secondary: reference start + dt.
    assert bug['attributes']['secondary_sensing_start'] == format_utc(
        inputs.pair.reference_scene.sensing_start + timedelta(seconds=constants.SPOOFED_DT_SECONDS)
    )
    assert bug['attributes']['secondary_granule'] == 'unknown (repeat time given directly)'
    assert bug['attributes']['dt_source'] == 'given directly'
    assert spoofed.netcdf.name.endswith('_X_dt86400.000000s_conversion_matrices.nc')
    assert spoofed.dr_to_vr_factor == pytest.approx(products.dr_to_vr_factor * ratio, rel=1e-12)
    for name in ('M11', 'M12'):
        np.testing.assert_array_equal(np.isnan(true[name]), np.isnan(bug[name]))
        valid = ~np.isnan(true[name])
        np.testing.assert_allclose(bug[name][valid] * ratio, true[name][valid], rtol=1e-6)


def test_secondary_sensing_start(inputs: Inputs, tmp_path: Path) -> None:
    secondary_start = inputs.pair.reference_scene.sensing_start + timedelta(days=12, seconds=-0.25)
    result = s1_correction_fixed(
        inputs.pair.reference,
        secondary_sensing_start=secondary_start.isoformat() + 'Z',
        orbit='annotation',
        engine='numpy',
        parameter_file=str(inputs.parameter_file),
        output_dir=tmp_path,
    )
    assert result.dt_seconds == pytest.approx(12 * 86400 - 0.25, abs=1e-6)
    assert result.provenance.repeat_time.secondary_sensing_start == secondary_start
    assert result.provenance.secondary_id is None
    with netCDF4.Dataset(result.netcdf) as dataset:
        assert dataset['M11'].dtype == np.float32  # the default (hyp3-autorift >= 0.20)


def test_swapped_pair_uses_the_older_scene_as_reference(inputs: Inputs, tmp_path: Path) -> None:
    result = s1_correction_fixed(
        inputs.pair.secondary,
        secondary=inputs.pair.reference,
        orbit='annotation',
        engine='numpy',
        parameter_file=str(inputs.parameter_file),
        output_dir=tmp_path,
    )
    assert result.provenance.reference_id == inputs.pair.reference_scene.name
    assert result.dt_seconds == pytest.approx(inputs.pair.dt_seconds, abs=1e-6)


def test_swapped_pair_keeps_the_requested_orbit(
    inputs: Inputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, content = synthetic_eof(inputs.pair.reference_scene)
    eof = tmp_path / name
    eof.write_bytes(content)
    seen: dict[str, Any] = {}

    def capture(staging: Any, radar: Any, repeat_times: list[RepeatTime], *args: Any, **kwargs: Any) -> list[Any]:
        seen['orbit source'] = radar.orbit.source
        seen['reference'] = repeat_times[0].reference_granule
        return []

    monkeypatch.setattr(workflow, 'products_in_staging', capture)
    workflow.s1_correction_fixed(
        inputs.pair.secondary,
        secondary=inputs.pair.reference,
        orbit=eof,
        parameter_file=str(inputs.parameter_file),
        output_dir=tmp_path / 'out',
    )
    assert seen == {'orbit source': name, 'reference': inputs.pair.reference_scene.name}


def test_a_failed_run_leaves_no_empty_output_folder(inputs: Inputs, tmp_path: Path) -> None:
    output_dir = tmp_path / 'new' / 'folder'
    with pytest.raises(UserFacingError):
        s1_correction_fixed(
            tmp_path / 'no-such-scene.zip',
            dt_seconds=86400.0,
            orbit='annotation',
            parameter_file=str(inputs.parameter_file),
            output_dir=output_dir,
        )
    assert not output_dir.exists()


def test_overwrite_replaces_an_earlier_run(inputs: Inputs, tmp_path: Path) -> None:
    common: dict[str, Any] = {
        'orbit': 'annotation',
        'engine': 'numpy',
        'parameter_file': str(inputs.parameter_file),
        'output_dir': tmp_path,
    }
    first = s1_correction_fixed(inputs.pair.reference, dt_seconds=86400.0, **common)
    created = netCDF4.Dataset(first.netcdf).getncattr('date_created')
    with pytest.raises(OutputError, match='already holds outputs.*--overwrite'):
        s1_correction_fixed(inputs.pair.reference, dt_seconds=86400.0, **common)
    # Another dt is another pair: its products go beside the first ones.
    other = s1_correction_fixed(inputs.pair.reference, dt_seconds=2 * 86400.0, **common)
    again = s1_correction_fixed(inputs.pair.reference, dt_seconds=86400.0, overwrite=True, **common)
    assert again.netcdf == first.netcdf and netCDF4.Dataset(again.netcdf).getncattr('date_created') >= created
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        path.name for path in (*again.files, *other.files)
    )


# --- bad input: each a clear error, nothing left half-written -------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


def parameter_file_without_the_scene(inputs: Inputs, folder: Path) -> str:
    region = ParameterRegion('ELSEWHERE', 32633, ((0, 0), (1, 0), (1, 1), (0, 1)), ParameterRasters(dem='x.tif'))
    return str(write_parameter_shapefile(folder / 'elsewhere.shp', [region]))


def parameter_file_with_unreachable_rasters(inputs: Inputs, folder: Path) -> str:
    footprint = [(lon, lat) for lat, lon in footprint_latlon(inputs.pair.reference_scene)]
    lons, lats = zip(*footprint, strict=True)
    box = ((min(lons), min(lats)), (max(lons), min(lats)), (max(lons), max(lats)), (min(lons), max(lats)))
    url = f'http://127.0.0.1:{closed_port()}/autorift_parameters'
    rasters = ParameterRasters(dem=f'{url}/h.tif', vx=f'{url}/vx0.tif')
    return str(write_parameter_shapefile(folder / 'unreachable.shp', [ParameterRegion('REMOTE', 32607, box, rasters)]))


def parameter_file_lacking_fields(inputs: Inputs, folder: Path) -> str:
    from osgeo import ogr, osr

    reference = osr.SpatialReference()
    reference.ImportFromEPSG(4326)
    dataset = ogr.GetDriverByName('ESRI Shapefile').CreateDataSource(str(folder / 'bare.shp'))
    layer = dataset.CreateLayer('bare', reference, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn('name', ogr.OFTString))
    del layer, dataset
    return str(folder / 'bare.shp')


BAD_PARAMETER_FILES = {
    'no region contains the scene': (parameter_file_without_the_scene, 'no region of the parameter file'),
    'unreachable rasters': (parameter_file_with_unreachable_rasters, 'cannot open 2 parameter raster'),
    'missing fields': (parameter_file_lacking_fields, 'lacks the field'),
    'no such file': (lambda inputs, folder: str(folder / 'absent.shp'), 'cannot open the parameter file'),
}


@pytest.mark.parametrize('problem', BAD_PARAMETER_FILES)
def test_bad_parameter_file(problem: str, inputs: Inputs, tmp_path: Path) -> None:
    make, message = BAD_PARAMETER_FILES[problem]
    output_dir = tmp_path / 'out'
    with pytest.raises(GeogridInputError, match=message):
        s1_correction_fixed(
            inputs.pair.reference,
            secondary=inputs.pair.secondary,
            orbit='annotation',
            engine='numpy',
            parameter_file=make(inputs, tmp_path),
            output_dir=output_dir,
        )
    assert not output_dir.exists()  # created by the run, removed again when it failed


BAD_ARGUMENTS: dict[str, tuple[dict[str, Any], type[UserFacingError], str]] = {
    'no timing': ({}, GeogridInputError, 'exactly one of'),
    'two timings': (
        {'dt_seconds': 86400.0, 'secondary_sensing_start': '2025-01-22T03:18:00Z'},
        GeogridInputError,
        'exactly one',
    ),
    'zero dt': ({'dt_seconds': 0.0}, TimingError, 'must be positive'),
    'negative dt': ({'dt_seconds': -86400.0}, TimingError, 'must be positive'),
    'secondary before reference': ({'secondary_sensing_start': '2024-12-29T03:18:00Z'}, TimingError, 'positive'),
    'dt of centuries': ({'dt_seconds': 1e12}, TimingError, 'longer than the maximum of 1460 days'),
    'dt overflowing': ({'dt_seconds': 1e300}, TimingError, 'longer than the maximum'),
    'dt of no time': ({'dt_seconds': 1e-300}, TimingError, 'same acquisition'),
    'dt not a number': ({'dt_seconds': float('nan')}, TimingError, 'not a finite number'),
    'secondary in 9999': ({'secondary_sensing_start': '9999-01-01T00:00:00Z'}, TimingError, 'longer than the maximum'),
    'unparsable sensing start': ({'secondary_sensing_start': 'next week'}, GeogridInputError, 'not an ISO-8601'),
    'negative buffer': ({'dt_seconds': 86400.0, 'buffer': -1}, GeogridInputError, 'buffer'),
    'unknown dtype': ({'dt_seconds': 86400.0, 'm11m12_dtype': 'float64'}, ProductError, 'float32, int16'),
    'unknown compression': ({'dt_seconds': 86400.0, 'geotiff_compression': 'lzma'}, ProductError, 'deflate, zstd'),
    'unknown engine': ({'dt_seconds': 86400.0, 'engine': 'gamma'}, GeogridInputError, 'unknown Geogrid engine'),
}


@pytest.mark.parametrize('problem', BAD_ARGUMENTS)
def test_bad_arguments(problem: str, inputs: Inputs, tmp_path: Path) -> None:
    arguments, error, message = BAD_ARGUMENTS[problem]
    settings: dict[str, Any] = {'orbit': 'annotation', 'engine': 'numpy', 'parameter_file': str(inputs.parameter_file)}
    with pytest.raises(error, match=message):
        workflow.s1_correction_fixed(inputs.pair.reference, **{**settings, **arguments}, output_dir=tmp_path / 'out')
    assert not (tmp_path / 'out').exists()


def test_output_dir_not_writable(inputs: Inputs, tmp_path: Path) -> None:
    blocker = tmp_path / 'a-file'
    blocker.write_text('not a directory')
    with pytest.raises(OutputError, match='output directory'):
        s1_correction_fixed(
            inputs.pair.reference,
            dt_seconds=86400.0,
            orbit='annotation',
            parameter_file=str(inputs.parameter_file),
            output_dir=blocker / 'out',
        )


def test_outputs_present_without_overwrite(inputs: Inputs, tmp_path: Path) -> None:
    earlier = tmp_path / f'{inputs.pair.reference_scene.name}_X_dt86400.000000s_conversion_matrices.nc'
    earlier.write_bytes(b'an earlier run')
    with pytest.raises(OutputError, match='conversion_matrices.nc.*--overwrite'):
        s1_correction_fixed(
            inputs.pair.reference,
            dt_seconds=86400.0,
            orbit='annotation',
            parameter_file=str(inputs.parameter_file),
            output_dir=tmp_path,
        )
    assert earlier.read_bytes() == b'an earlier run'
    assert [path.name for path in tmp_path.iterdir()] == [earlier.name]


def test_a_failed_overwrite_keeps_the_earlier_products(inputs: Inputs, tmp_path: Path) -> None:
    common: dict[str, Any] = {
        'orbit': 'annotation',
        'parameter_file': str(inputs.parameter_file),
        'output_dir': tmp_path,
    }
    first = s1_correction_fixed(inputs.pair.reference, dt_seconds=86400.0, engine='numpy', **common)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert sorted(before) == sorted(path.name for path in product_paths(first))
    with pytest.raises(GeogridInputError, match='--engine autorift cannot run: isce2 is not installed'):
        s1_correction_fixed(inputs.pair.reference, dt_seconds=2 * 86400.0, engine='autorift', overwrite=True, **common)
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before


def test_an_unsupported_projection_fails_before_geogrid(inputs: Inputs, tmp_path: Path) -> None:
    rasters = ParameterRasters(dem=str(tmp_path / 'never-read.tif'))
    mercator = ParameterSet(name='WEB', epsg=3857, rasters=rasters, parameter_file='regions.shp')
    with pytest.raises(ProductError, match='3857'):
        start = inputs.pair.reference_scene.sensing_start
        timing = RepeatTime(86400.0, 'S1A_TEST', start, start + timedelta(days=1))
        workflow.correction_from_radar_geometry(
            inputs.pair.reference_scene.radar_geometry(), [timing], mercator, output_dir=tmp_path / 'out'
        )
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('stage', ['write_conversion_matrices', 'write_quicklook'])
def test_interrupted_run_leaves_no_netcdf(
    stage: str, inputs: Inputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hyp3_s1_m11m12.products import conversion_matrices, correction

    if stage == 'write_quicklook':
        real_quicklook = correction.write_quicklook

        def interrupted(*args: Any, **kwargs: Any) -> Path:
            real_quicklook(*args, **kwargs)  # the PNG is complete; the interrupt comes just after
            raise KeyboardInterrupt

        monkeypatch.setattr(correction, 'write_quicklook', interrupted)
    else:
        real_write_rows = conversion_matrices.write_matrix_rows

        def interrupted_write(chunks: Any, name: str, *args: Any, **kwargs: Any) -> None:
            real_write_rows(chunks, name, *args, **kwargs)
            if name == 'M12':  # as Ctrl-C half way through the NetCDF (written while Geogrid runs)
                raise KeyboardInterrupt

        monkeypatch.setattr(conversion_matrices, 'write_matrix_rows', interrupted_write)
    with pytest.raises(KeyboardInterrupt):
        s1_correction_fixed(
            inputs.pair.reference,
            dt_seconds=86400.0,
            orbit='annotation',
            engine='numpy',
            parameter_file=str(inputs.parameter_file),
            output_dir=tmp_path,
        )
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []  # not even the GeoTIFFs: the products appear together or not at all


# --- the command line and the upload ---------------------------------------------------------------------------


def run_main(monkeypatch: pytest.MonkeyPatch, arguments: list[str]) -> int:
    monkeypatch.setattr(sys, 'argv', ['s1_correction_fixed', *arguments])
    with pytest.raises(SystemExit) as exit_info:
        workflow.main()
        raise SystemExit(0)
    return int(exit_info.value.code or 0)


def test_main_uploads_every_product(
    inputs: Inputs, tmp_path: Path, s3: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    arguments = [
        str(inputs.pair.reference),
        '--secondary',
        str(inputs.pair.secondary),
        '--orbit',
        'annotation',
        '--engine',
        'numpy',
        '--parameter-file',
        str(inputs.parameter_file),
        '--output-dir',
        str(tmp_path),
        '--bucket',
        s3.name,
        '--bucket-prefix',
        'job-1234',
    ]
    assert run_main(monkeypatch, arguments) == 0

    (netcdf,) = tmp_path.glob('*_conversion_matrices.nc')
    stem = netcdf.name.removesuffix('_conversion_matrices.nc')
    files = [tmp_path / name for name in product_names(stem)]
    assert s3.keys() == sorted(f'job-1234/{path.name}' for path in files)
    for path in files:
        body = s3.client.get_object(Bucket=s3.name, Key=f'job-1234/{path.name}')['Body'].read()
        assert body == path.read_bytes()
        tags = s3.client.get_object_tagging(Bucket=s3.name, Key=f'job-1234/{path.name}')['TagSet']
        assert tags == [{'Key': 'file_type', 'Value': 'amp-browse' if path.suffix == '.png' else 'product'}]
    head = s3.client.head_object(Bucket=s3.name, Key=f'job-1234/{netcdf.name}')
    assert head['ContentType'] in ('application/x-netcdf', 'application/netcdf', 'application/octet-stream')


@pytest.mark.parametrize('problem', ['no region contains the scene', 'interrupted'])
def test_main_uploads_nothing_on_failure(
    problem: str, inputs: Inputs, tmp_path: Path, s3: Bucket, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    parameter_file = str(inputs.parameter_file)
    if problem == 'interrupted':

        def interrupt(*args: Any, **kwargs: Any) -> Path:
            raise KeyboardInterrupt

        from hyp3_s1_m11m12.products import correction

        monkeypatch.setattr(correction, 'write_quicklook', interrupt)
    else:
        parameter_file = parameter_file_without_the_scene(inputs, tmp_path)
    arguments = [
        str(inputs.pair.reference),
        '--dt-seconds',
        '1036799.636',
        '--orbit',
        'annotation',
        '--engine',
        'numpy',
        '--parameter-file',
        parameter_file,
        '--output-dir',
        str(tmp_path / 'out'),
        '--bucket',
        s3.name,
    ]
    code = run_main(monkeypatch, arguments)
    assert code == (130 if problem == 'interrupted' else 2)
    assert s3.keys() == []
    assert not (tmp_path / 'out').exists()
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and 'Traceback' not in error


def upload_arguments(inputs: Inputs, output_dir: Path, bucket: str) -> list[str]:
    return [
        str(inputs.pair.reference),
        '--dt-seconds',
        '1036799.636',
        '--orbit',
        'annotation',
        '--engine',
        'numpy',
        '--parameter-file',
        str(inputs.parameter_file),
        '--output-dir',
        str(output_dir),
        '--bucket',
        bucket,
    ]


def test_missing_bucket_is_a_one_line_error(
    inputs: Inputs, tmp_path: Path, s3: Bucket, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    assert run_main(monkeypatch, upload_arguments(inputs, tmp_path, 'no-such-bucket')) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and 'Traceback' not in error
    assert 'uploading to s3://no-such-bucket/' in error and 'check the bucket name' in error


@pytest.mark.parametrize(
    'arguments, message',
    [
        ([], 'required'),
        (['S1A_IW_SLC__1SDV_X'], 'give exactly one of --secondary/--secondaries-file'),
        (['REF', '--dt-seconds', '86400', '--secondary', 'SEC'], 'give exactly one of'),
        (['REF', '--dt-seconds', '-5'], 'must be positive'),
        (['REF', '--dt-seconds', '1e300'], 'longer than the maximum of 1460 days'),
        (['REF', '--dt-seconds', 'inf'], 'not a finite number of seconds'),
        (['REF', '--dt-seconds', '1e12', '--max-dt-days', '0'], 'not a positive number of days'),
        (['REF', '--secondaries-file', '/no/such/file'], 'cannot read the secondaries file'),
        (['REF', '--secondary-sensing-start', 'yesterday'], 'not an ISO-8601 UTC time'),
        (['REF', '--dt-seconds', '86400', '--buffer', '-2'], 'buffer must be >= 0'),
        (['REF', '--dt-seconds', '86400', '--m11m12-dtype', 'float64'], 'invalid choice'),
        (['REF', '--dt-seconds', '86400', '--engine', 'gamma'], 'invalid choice'),
        (['REF', '--dt-seconds', '86400', '--include-geotiffs', 'yes'], "'yes' is neither true nor false"),
    ],
)
def test_command_line_errors(arguments: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.delenv(constants.MAX_DT_DAYS_ENV, raising=False)
    assert run_main(monkeypatch, arguments) == 2
    error = capsys.readouterr().err
    # The error is the last line (argparse prints its usage above its own errors), never a traceback.
    assert message in error.strip().splitlines()[-1] and 'Traceback' not in error


def test_parser_defaults() -> None:
    args = workflow.build_parser().parse_args(['REF', '--secondary', 'SEC'])
    assert args.parameter_file == constants.DEFAULT_PARAMETER_FILE
    assert (args.buffer, args.engine, args.m11m12_dtype, args.orbit) == (0, 'auto', 'float32', 'auto')
    assert args.geotiff_compression == 'deflate'
    assert args.include_geotiffs is True
    for spelled, value in (('false', False), ('False', False), ('TRUE', True)):
        parsed = workflow.build_parser().parse_args(['REF', '--secondary', 'A', '--include-geotiffs', spelled])
        assert parsed.include_geotiffs is value
    assert workflow.build_parser().parse_args(['REF', '--secondary', 'A', '--secondary', 'B']).secondary == ['A', 'B']
    assert (args.output_dir, args.overwrite, args.bucket, args.bucket_prefix) == (Path('.'), False, None, '')
    # HyP3 passes '""' for an empty parameter: it counts as absent.
    args = workflow.build_parser().parse_args(['REF', '--secondary', '""', '--dt-seconds', '86400'])
    assert (args.secondary, args.dt_seconds) == ([], 86400.0)
    # HyP3 passes an array parameter as one argument, its items joined by spaces.
    assert workflow.build_parser().parse_args(['REF', '--secondary', 'A B', '--secondary', 'C']).secondary == [
        'A',
        'B',
        'C',
    ]


def test_help_through_the_hyp3_dispatcher() -> None:
    command = [sys.executable, '-m', 'hyp3_s1_m11m12', '++process', 's1_correction_fixed', '-h']
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    for option in (
        '--secondary',
        '--secondary-sensing-start',
        '--dt-seconds',
        '--buffer',
        '--parameter-file',
        '--engine',
        '--m11m12-dtype',
        '--orbit',
        '--output-dir',
        '--overwrite',
        '--bucket',
        '--bucket-prefix',
        '--secondaries-file',
        '--geotiff-compression',
        '--max-dt-days',
    ):
        assert option in result.stdout


# --- many secondaries of one reference: one product set per pair, each as a single-pair run makes it -------------


def netcdf_content(path: Path) -> dict[str, Any]:
    """Everything of a NetCDF but the creation time (date_created and the history line that dates itself)."""
    with netCDF4.Dataset(path) as dataset:
        attributes = {name: dataset.getncattr(name) for name in dataset.ncattrs()}
        variables = {name: np.asarray(variable[:]).tobytes() for name, variable in dataset.variables.items()}
    attributes.pop('date_created')
    attributes['history'] = attributes['history'].split(': ', 1)[1]
    return {'attributes': attributes, 'variables': variables}


def test_many_secondaries_are_bit_identical_to_single_pair_runs(inputs: Inputs, tmp_path: Path) -> None:
    later = simulated_scene_pair(tmp_path / 'inputs-24d', as_zip=True, cycles=2)
    assert later.reference_scene.name == inputs.pair.reference_scene.name
    secondaries_file = tmp_path / 'secondaries.txt'
    secondaries_file.write_text(f'# two pairs\n{inputs.pair.secondary}\n\n{later.secondary}\n')
    common: dict[str, Any] = {
        'orbit': 'annotation',
        'engine': 'numpy',
        'parameter_file': str(inputs.parameter_file),
    }
    many = workflow.s1_correction_fixed(
        inputs.pair.reference,
        secondaries=workflow.read_secondaries_file(secondaries_file),
        output_dir=tmp_path / 'many',
        **common,
    )
    assert [product.provenance.secondary_id for product in many] == [
        inputs.pair.secondary_scene.name,
        later.secondary_scene.name,
    ]
    assert many[1].dt_seconds == pytest.approx(2 * many[0].dt_seconds, rel=1e-3)
    # All in one folder, nothing else there.
    assert sorted(path.name for path in (tmp_path / 'many').iterdir()) == sorted(
        path.name for product in many for path in product.files
    )
    for index, secondary in enumerate((inputs.pair.secondary, later.secondary)):
        single = s1_correction_fixed(
            inputs.pair.reference, secondary=secondary, output_dir=tmp_path / f'single-{index}', **common
        )
        assert [path.name for path in single.files] == [path.name for path in many[index].files]
        for ours, theirs in zip(many[index].files, single.files, strict=True):
            if ours.suffix == '.nc':
                assert netcdf_content(ours) == netcdf_content(theirs)
            else:
                assert ours.read_bytes() == theirs.read_bytes(), ours.name


def test_without_geotiffs_the_netcdf_and_quicklook_are_those_of_a_full_run(
    inputs: Inputs, products: CorrectionProducts, tmp_path: Path
) -> None:
    later = simulated_scene_pair(tmp_path / 'inputs-24d', as_zip=True, cycles=2)
    lean = workflow.s1_correction_fixed(
        inputs.pair.reference,
        secondaries=[inputs.pair.secondary, later.secondary],
        orbit='annotation',
        engine='numpy',
        m11m12_dtype='float32',
        include_geotiffs=False,
        parameter_file=str(inputs.parameter_file),
        output_dir=tmp_path / 'lean',
    )
    assert sorted(path.name for path in (tmp_path / 'lean').iterdir()) == sorted(
        name for product in lean for name in (product.netcdf.name, product.quicklook.name)
    )
    assert all(product.geotiffs == () and product.files == (product.quicklook, product.netcdf) for product in lean)
    with pytest.raises(ValueError, match='without its GeoTIFFs'):
        lean[0].geotiff('window_location.tif')
    # The same matrices, factor and picture as the full run's; only the GeoTIFF compression is not recorded.
    ours, theirs = netcdf_content(lean[0].netcdf), netcdf_content(products.netcdf)
    assert 'geotiff_compression' not in ours['attributes']
    assert theirs['attributes'].pop('geotiff_compression') == 'deflate'
    assert ours == theirs
    assert lean[0].quicklook.read_bytes() == products.quicklook.read_bytes()
    assert lean[1].dr_to_vr_factor == pytest.approx(products.dr_to_vr_factor / 2, rel=1e-3)


def test_a_file_engine_run_without_geotiffs_reads_them_then_publishes_none(
    inputs: Inputs, products: CorrectionProducts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """autoRIFT's engine can only write files: they are read for M11/M12, then not published."""
    from hyp3_s1_m11m12.geogrid import engine, isce2_child, stage

    written: list[Path] = []

    def file_engine(*args: Any) -> Any:  # autoRIFT's C++ stand-in: the same files, written by the project's engine
        result = engine.run_numpy_geogrid(*args)
        written.extend(result.outputs.values())
        return result

    monkeypatch.setattr(isce2_child, 'require_autorift', lambda name: None)
    monkeypatch.setattr(stage, 'engine_function', lambda name: file_engine)
    lean = s1_correction_fixed(
        inputs.pair.reference,
        secondary=inputs.pair.secondary,
        orbit='annotation',
        engine='autorift',
        m11m12_dtype='float32',
        include_geotiffs=False,
        parameter_file=str(inputs.parameter_file),
        output_dir=tmp_path / 'lean',
    )
    assert len(written) == len(OUTPUT_NAMES)  # the engine did write them (into the staging work folder)
    assert sorted(path.name for path in (tmp_path / 'lean').iterdir()) == sorted(
        [lean.netcdf.name, lean.quicklook.name]
    )
    assert lean.geotiffs == ()
    ours, theirs = read_matrices(lean.netcdf), read_matrices(products.netcdf)
    np.testing.assert_array_equal(ours['M11'], theirs['M11'])
    np.testing.assert_array_equal(ours['M12'], theirs['M12'])
    assert ours['factor'] == theirs['factor']


def test_a_region_without_the_rasters_m11m12_need_fails_before_geogrid(
    inputs: Inputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hyp3_s1_m11m12.products import correction

    real = workflow.find_parameter_set

    def without_velocities(*args: Any, **kwargs: Any) -> ParameterSet:
        found = real(*args, **kwargs)
        rasters = dataclasses.replace(found.rasters, vx=None, vy=None)
        return dataclasses.replace(found, rasters=rasters)

    def no_geogrid(*args: Any, **kwargs: Any) -> None:
        raise AssertionError('Geogrid ran')

    monkeypatch.setattr(workflow, 'find_parameter_set', without_velocities)
    monkeypatch.setattr(correction, 'geogrid_for_repeat_times', no_geogrid)
    with pytest.raises(GeogridInputError, match='lacks rasters M11/M12 need .* would not write window_offset.tif'):
        s1_correction_fixed(
            inputs.pair.reference,
            secondary=inputs.pair.secondary,
            orbit='annotation',
            engine='numpy',
            include_geotiffs=False,
            parameter_file=str(inputs.parameter_file),
            output_dir=tmp_path / 'out',
        )
    assert not (tmp_path / 'out').exists()


def test_a_secondary_given_twice_is_an_error(inputs: Inputs, tmp_path: Path) -> None:
    with pytest.raises(GeogridInputError, match='given twice'):
        workflow.s1_correction_fixed(
            inputs.pair.reference,
            secondaries=[inputs.pair.secondary, inputs.pair.secondary],
            orbit='annotation',
            engine='numpy',
            parameter_file=str(inputs.parameter_file),
            output_dir=tmp_path / 'out',
        )
    assert not (tmp_path / 'out').exists()


def test_compressed_geotiffs_hold_the_same_values(inputs: Inputs, products: CorrectionProducts, tmp_path: Path) -> None:
    from osgeo import gdal

    plain = s1_correction_fixed(
        inputs.pair.reference,
        secondary=inputs.pair.secondary,
        orbit='annotation',
        engine='numpy',
        m11m12_dtype='float32',
        geotiff_compression='none',
        parameter_file=str(inputs.parameter_file),
        output_dir=tmp_path,
    )
    assert sum(path.stat().st_size for path in products.geotiffs) < 0.6 * sum(
        path.stat().st_size for path in plain.geotiffs
    )
    for compressed, uncompressed in zip(products.geotiffs, plain.geotiffs, strict=True):
        ours, theirs = gdal.Open(str(compressed)), gdal.Open(str(uncompressed))
        assert 'COMPRESSION' in ours.GetMetadata('IMAGE_STRUCTURE') and not theirs.GetMetadata('IMAGE_STRUCTURE').get(
            'COMPRESSION'
        )
        assert ours.GetGeoTransform() == theirs.GetGeoTransform()
        assert ours.GetProjection() == theirs.GetProjection()
        assert ours.RasterCount == theirs.RasterCount
        for number in range(1, ours.RasterCount + 1):
            band, other = ours.GetRasterBand(number), theirs.GetRasterBand(number)
            assert (band.DataType, band.GetNoDataValue()) == (other.DataType, other.GetNoDataValue())
            assert band.ReadAsArray().tobytes() == other.ReadAsArray().tobytes()
        del ours, theirs
    assert netcdf_content(plain.netcdf)['variables'] == netcdf_content(products.netcdf)['variables']


def test_matrices_come_from_geogrids_arrays_not_the_files(
    inputs: Inputs, products: CorrectionProducts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the project's engine nothing is read back: the workflow fails if it tries, and the in-memory result
    equals the one read from the GeoTIFFs."""
    from hyp3_s1_m11m12.products import correction
    from hyp3_s1_m11m12.products.matrices import conversion_matrices_from_bands, read_geogrid_bands

    def no_reading(*args: Any, **kwargs: Any) -> None:
        raise AssertionError('the GeoTIFFs were read back')

    monkeypatch.setattr(correction, 'read_geogrid_bands', no_reading)
    in_memory = s1_correction_fixed(
        inputs.pair.reference,
        secondary=inputs.pair.secondary,
        orbit='annotation',
        engine='numpy',
        parameter_file=str(inputs.parameter_file),
        output_dir=tmp_path,
    )
    monkeypatch.undo()
    names = {name: path.name for name, path in zip(OUTPUT_NAMES, in_memory.geotiffs, strict=True)}
    from_files = conversion_matrices_from_bands(read_geogrid_bands(tmp_path, names))
    written = read_matrices(in_memory.netcdf)
    for name in ('M11', 'M12'):
        expected = getattr(from_files, name).astype(np.float32).astype(np.float64)
        np.testing.assert_array_equal(written[name], expected)
    assert written['factor'] == from_files.dr_to_vr_factor
