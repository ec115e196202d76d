"""Remote SAFE zips over HTTP range requests, against a server on 127.0.0.1 with Earthdata-style auth."""

import pytest

from hyp3_s1_m11m12 import network
from hyp3_s1_m11m12.errors import MetadataError
from hyp3_s1_m11m12.sentinel1 import remote
from hyp3_s1_m11m12.sentinel1.acquisition import open_acquisition
from hyp3_s1_m11m12.sentinel1.remote import RemoteAccessError, RemoteZipSafe, earthdata_session, scene_download_url
from hyp3_s1_m11m12.sentinel1.safe import read_safe_metadata
from hyp3_s1_m11m12.simulate.acquisition import synthetic_scene
from hyp3_s1_m11m12.simulate.safe import write_synthetic_safe
from tests.support.sentinel1_http import LocalServer, Route, ServerState


TOKEN = 'test-token-123'
MEASUREMENT_BYTES = 2_000_000  # per raster: stand-ins for the GB-sized measurement TIFFs


@pytest.fixture(scope='module')
def remote_scene(tmp_path_factory):
    scene = synthetic_scene()
    path = write_synthetic_safe(
        scene, tmp_path_factory.mktemp('zip'), as_zip=True, measurement_bytes=MEASUREMENT_BYTES, zip_prefix='extra'
    )
    return scene, path.read_bytes()


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch, tmp_path):
    monkeypatch.delenv('EARTHDATA_TOKEN', raising=False)
    empty = tmp_path / 'empty-netrc'
    empty.write_text('')
    monkeypatch.setenv('NETRC', str(empty))


def _state(scene, data: bytes, **settings) -> ServerState:
    state = ServerState(token=TOKEN, basic=('earthdata-user', 'earthdata-password'), **settings)
    state.routes[f'/SLC/SA/{scene.name}.zip'] = Route(body=data, content_type='application/zip')
    return state


def test_scene_name_is_read_remotely_with_range_requests(remote_scene, tmp_path):
    scene, data = remote_scene
    state = _state(scene, data)
    with LocalServer(state) as server:
        url = scene_download_url(scene.name, server.url)
        assert url == f'{server.url}/SLC/SA/{scene.name}.zip'
        safe = RemoteZipSafe(url, token=TOKEN)
        metadata = read_safe_metadata(safe)
        safe.close()
        fetched = safe.bytes_fetched
        acquisition = open_acquisition(scene.name, orbit='annotation', token=TOKEN, download_base_url=server.url)
    assert [annotation.swath for annotation in metadata.annotations] == ['IW1', 'IW2', 'IW3']
    local = open_acquisition(write_synthetic_safe(scene, tmp_path), orbit='annotation')
    assert acquisition.radar_geometry().sensing_start == local.radar_geometry().sensing_start
    assert acquisition.radar_geometry().number_of_samples == local.radar_geometry().number_of_samples
    assert [b.sensing_start for b in acquisition.bursts] == [b.sensing_start for b in local.bursts]
    # only the central directory and three compressed annotation members travel, not the rasters
    assert all(method == 'GET' for method, _, _ in state.requests)
    assert all(request_range for _, _, request_range in state.requests)
    assert fetched < len(data) / 10
    assert fetched == pytest.approx(state.bytes_sent / 2, rel=0.01)  # two reads, one counted


def test_redirect_to_a_pre_signed_host_drops_the_token(remote_scene):
    """ASF redirects downloads to pre-signed URLs on another host, which refuse an Authorization header."""
    scene, data = remote_scene
    storage = ServerState(reject_authorization=True, routes={'/bucket/x.zip': Route(body=data)})
    with LocalServer(storage) as bucket:
        front = ServerState(
            token=TOKEN, routes={f'/SLC/SA/{scene.name}.zip': Route(location=f'{bucket.url}/bucket/x.zip')}
        )
        with LocalServer(front) as server:
            acquisition = open_acquisition(scene.name, orbit='annotation', token=TOKEN, download_base_url=server.url)
    assert acquisition.granule == scene.name
    # the pre-signed URL is read directly after the probe: one request to the front per probe
    assert len(storage.requests) >= 5 and len(front.requests) == 1
    assert not any(header for header in storage.authorization_headers)


def test_missing_credentials_are_a_clear_error(remote_scene):
    scene, data = remote_scene
    with LocalServer(_state(scene, data)) as server, pytest.raises(RemoteAccessError, match='EARTHDATA_TOKEN') as error:
        open_acquisition(scene.name, orbit='annotation', download_base_url=server.url)
    assert 'HTTP 401' in str(error.value)


def test_bearer_token_from_the_environment(remote_scene, monkeypatch):
    scene, data = remote_scene
    monkeypatch.setenv('EARTHDATA_TOKEN', TOKEN)
    with LocalServer(_state(scene, data)) as server:
        acquisition = open_acquisition(f'{server.url}/SLC/SA/{scene.name}.zip', orbit='annotation')
    assert acquisition.granule == scene.name


def test_basic_auth_from_netrc(remote_scene, tmp_path, monkeypatch):
    scene, data = remote_scene
    netrc = tmp_path / 'netrc'
    netrc.write_text('machine 127.0.0.1 login earthdata-user password earthdata-password\n')
    netrc.chmod(0o600)
    monkeypatch.setenv('NETRC', str(netrc))
    state = _state(scene, data)
    with LocalServer(state) as server:
        acquisition = open_acquisition(scene.name, orbit='annotation', download_base_url=server.url)
    assert acquisition.swaths == ('IW1', 'IW2', 'IW3')


def test_wrong_token(remote_scene):
    scene, data = remote_scene
    with LocalServer(_state(scene, data)) as server, pytest.raises(RemoteAccessError, match='access denied'):
        open_acquisition(scene.name, orbit='annotation', token='wrong', download_base_url=server.url)


def test_not_found(remote_scene):
    scene, data = remote_scene
    other = scene.name.replace('_1SDV_', '_1SSV_')
    with LocalServer(_state(scene, data)) as server, pytest.raises(RemoteAccessError, match='not found'):
        open_acquisition(other, orbit='annotation', token=TOKEN, download_base_url=server.url)


def test_server_errors_are_retried(remote_scene):
    scene, data = remote_scene
    state = _state(scene, data, fail_next=3)
    with LocalServer(state) as server:
        acquisition = open_acquisition(scene.name, orbit='annotation', token=TOKEN, download_base_url=server.url)
    assert acquisition.granule == scene.name
    assert len(state.requests) >= 3 + 5  # three failures, then probe, directory and three members


def test_persistent_server_errors(remote_scene):
    scene, data = remote_scene
    state = _state(scene, data, fail_next=100)
    with LocalServer(state) as server, pytest.raises(RemoteAccessError, match='keeps failing'):
        open_acquisition(scene.name, orbit='annotation', token=TOKEN, download_base_url=server.url)
    assert len(state.requests) == network.policy().retries + 1


def test_truncated_response_is_retried(remote_scene, caplog):
    scene, data = remote_scene
    state = _state(scene, data, truncate_next=1)
    with LocalServer(state) as server:
        acquisition = open_acquisition(scene.name, orbit='annotation', token=TOKEN, download_base_url=server.url)
    assert acquisition.swaths == ('IW1', 'IW2', 'IW3')
    assert state.truncate_next == 0
    assert 'retrying' in caplog.text


def test_persistently_truncated_responses(remote_scene):
    scene, data = remote_scene
    state = _state(scene, data, truncate_next=100)
    with LocalServer(state) as server, pytest.raises(MetadataError, match='truncated or corrupt'):
        open_acquisition(scene.name, orbit='annotation', token=TOKEN, download_base_url=server.url)


def test_truncated_zip_on_the_server(remote_scene):
    scene, data = remote_scene
    with (
        LocalServer(_state(scene, data[: len(data) // 2])) as server,
        pytest.raises(MetadataError, match='not a readable zip'),
    ):
        open_acquisition(scene.name, orbit='annotation', token=TOKEN, download_base_url=server.url)


def test_server_without_range_support(remote_scene):
    scene, data = remote_scene
    with (
        LocalServer(_state(scene, data, ranges=False)) as server,
        pytest.raises(RemoteAccessError, match='range requests'),
    ):
        open_acquisition(scene.name, orbit='annotation', token=TOKEN, download_base_url=server.url)


def test_unreachable_server(monkeypatch):
    monkeypatch.setenv('HYP3_S1_M11M12_RETRIES', '0')
    session = earthdata_session()
    with pytest.raises(RemoteAccessError, match='cannot connect'):
        RemoteZipSafe('http://127.0.0.1:9/x.zip', session=session)


def test_real_zip_served_remotely(s1_dir, monkeypatch):
    name = 'S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768'
    data = (s1_dir / f'{name}.zip').read_bytes()
    state = ServerState(routes={f'/SLC/SA/{name}.zip': Route(body=data)})
    monkeypatch.setenv(remote.ASF_DOWNLOAD_BASE_URL_ENV, 'http://placeholder.invalid')
    with LocalServer(state) as server:
        acquisition = open_acquisition(name, orbit='annotation', download_base_url=server.url)
        monkeypatch.setenv(remote.ASF_DOWNLOAD_BASE_URL_ENV, server.url)
        assert scene_download_url(name) == f'{server.url}/SLC/SA/{name}.zip'
    local = open_acquisition(s1_dir / f'{name}.zip', orbit='annotation')
    assert acquisition.radar_geometry().number_of_lines == local.radar_geometry().number_of_lines
    assert acquisition.radar_geometry().starting_range_m == local.radar_geometry().starting_range_m
