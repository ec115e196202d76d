"""Network faults against local servers on 127.0.0.1: nothing hangs, every failure is one line and exit code 2.

Each case runs the library call the workflow makes under the workflows' own `exit_on_user_error`, so the exit
code and the message are the ones a HyP3 job shows; an output folder the run was given must not be left behind.
"""

import logging
import time
from pathlib import Path

import pytest

from hyp3_s1_m11m12.errors import UserFacingError
from hyp3_s1_m11m12.geogrid.parameter_file import find_parameter_set_at
from hyp3_s1_m11m12.sentinel1 import remote
from hyp3_s1_m11m12.sentinel1.acquisition import open_acquisition
from hyp3_s1_m11m12.sentinel1.bursts import fetch_burst_xml
from hyp3_s1_m11m12.simulate.acquisition import synthetic_scene
from hyp3_s1_m11m12.simulate.safe import write_synthetic_safe
from hyp3_s1_m11m12.workflows.cli import exit_on_user_error
from tests.support.sentinel1_http import LocalServer, Route, ServerState


TOKEN = 'fault-token'


@pytest.fixture(autouse=True)
def fast_policy(monkeypatch, tmp_path):
    remote.reset_job_sessions()
    monkeypatch.setenv('HYP3_S1_M11M12_BACKOFF_S', '0.01')
    monkeypatch.setenv('HYP3_S1_M11M12_CONNECT_TIMEOUT_S', '2')
    monkeypatch.setenv('HYP3_S1_M11M12_READ_TIMEOUT_S', '2')
    monkeypatch.setenv(remote.EARTHDATA_LOGIN_URL_ENV, 'http://127.0.0.1:9')
    monkeypatch.delenv('EARTHDATA_TOKEN', raising=False)
    empty = tmp_path / 'netrc'
    empty.write_text('')
    monkeypatch.setenv('NETRC', str(empty))
    yield
    remote.reset_job_sessions()


@pytest.fixture(scope='module')
def scene_zip(tmp_path_factory):
    scene = synthetic_scene()
    path = write_synthetic_safe(scene, tmp_path_factory.mktemp('zip'), as_zip=True, measurement_bytes=200_000)
    return scene, path.read_bytes()


def run(call, capsys) -> tuple[int, str]:
    """The exit code and stderr of `call` under the workflows' error handling."""

    @exit_on_user_error
    def job() -> None:
        call()

    with pytest.raises(SystemExit) as exit_info:
        job()
    message = capsys.readouterr().err.strip()
    return int(exit_info.value.code or 0), message


def assert_one_line_exit_2(code: int, message: str, *fragments: str) -> None:
    assert code == 2
    assert message.count('\n') == 0 and 'Traceback' not in message
    for fragment in fragments:
        assert fragment in message


def open_remote(url: str, **kwargs):
    return lambda: open_acquisition(url, orbit='annotation', token=TOKEN, **kwargs)


def serve(scene, data, **route) -> ServerState:
    return ServerState(routes={f'/SLC/SA/{scene.name}.zip': Route(body=data, content_type='application/zip', **route)})


def test_stalled_server_times_out(scene_zip, capsys, monkeypatch):
    monkeypatch.setenv('HYP3_S1_M11M12_READ_TIMEOUT_S', '0.3')
    monkeypatch.setenv('HYP3_S1_M11M12_RETRIES', '1')
    scene, data = scene_zip
    with LocalServer(serve(scene, data, stall_s=3.0)) as server:
        started = time.monotonic()
        code, message = run(open_remote(f'{server.url}/SLC/SA/{scene.name}.zip'), capsys)
    assert_one_line_exit_2(code, message, 'no answer within the timeout', 'READ_TIMEOUT_S')
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize('status', [429, 503])
def test_throttled_or_failing_then_ok(status, scene_zip, caplog):
    scene, data = scene_zip
    state = serve(scene, data)
    state.fail_next, state.fail_status = 2, status
    with LocalServer(state) as server, caplog.at_level(logging.WARNING):
        acquisition = open_remote(f'{server.url}/SLC/SA/{scene.name}.zip')()
    assert acquisition.granule == scene.name
    assert f'failed (HTTP {status}); retrying in' in caplog.text  # progress while retrying


def test_persistent_503_is_given_up_on(scene_zip, capsys):
    scene, data = scene_zip
    state = serve(scene, data)
    state.fail_next = 10_000
    with LocalServer(state) as server:
        code, message = run(open_remote(f'{server.url}/SLC/SA/{scene.name}.zip'), capsys)
    assert_one_line_exit_2(code, message, 'keeps failing', 'try again later')
    assert len(state.requests) == 4  # the first attempt and 3 retries


def test_retry_budget_bounds_many_retries(scene_zip, capsys, monkeypatch):
    monkeypatch.setenv('HYP3_S1_M11M12_RETRIES', '1000')
    monkeypatch.setenv('HYP3_S1_M11M12_BACKOFF_S', '0.1')
    monkeypatch.setenv('HYP3_S1_M11M12_RETRY_BUDGET_S', '1')
    scene, data = scene_zip
    state = serve(scene, data)
    state.fail_next = 10_000
    with LocalServer(state) as server:
        started = time.monotonic()
        code, message = run(open_remote(f'{server.url}/SLC/SA/{scene.name}.zip'), capsys)
    assert_one_line_exit_2(code, message, 'keeps failing')
    assert time.monotonic() - started < 3.0 and len(state.requests) < 30


def test_dead_server_is_given_up_on_well_under_a_minute_by_default(capsys, monkeypatch, caplog):
    for name in ('BACKOFF_S', 'CONNECT_TIMEOUT_S', 'READ_TIMEOUT_S'):
        monkeypatch.delenv(f'HYP3_S1_M11M12_{name}', raising=False)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        code, message = run(open_remote('http://127.0.0.1:9/SLC/SA/x.zip'), capsys)
    assert_one_line_exit_2(code, message, 'cannot connect', 'check the URL and the network')
    assert time.monotonic() - started < 15.0
    assert caplog.text.count('retrying in') == 3


def test_redirect_loop(capsys):
    state = ServerState(routes={'/a': Route(location='/b'), '/b': Route(location='/a')})
    with LocalServer(state) as server:
        code, message = run(open_remote(f'{server.url}/a'), capsys)
    assert_one_line_exit_2(code, message, 'too many redirects')


def test_html_login_page_is_not_a_range_problem(scene_zip, capsys):
    page = b'<html><body>Earthdata Login: approve the application</body></html>'
    state = ServerState(routes={'/x.zip': Route(body=page, content_type='text/html; charset=utf-8')}, ranges=False)
    with LocalServer(state) as server:
        code, message = run(open_remote(f'{server.url}/x.zip'), capsys)
    assert_one_line_exit_2(code, message, 'application is not approved')
    assert 'range requests' not in message


def test_truncated_range_responses(scene_zip, capsys):
    scene, data = scene_zip
    state = serve(scene, data)
    state.truncate_next = 10_000
    with LocalServer(state) as server:
        code, message = run(open_remote(f'{server.url}/SLC/SA/{scene.name}.zip'), capsys)
    assert_one_line_exit_2(code, message, 'truncated or corrupt', 'download the product again')


def test_burst_extractor_202_forever(capsys, monkeypatch):
    monkeypatch.setattr('hyp3_s1_m11m12.sentinel1.bursts.EXTRACTION_FIRST_POLL_S', 0.05)
    state = ServerState(routes={'/b.xml': Route(body=b'<burst/>', pending=10_000)})
    with LocalServer(state) as server:
        url = f'{server.url}/b.xml'
        code, message = run(lambda: fetch_burst_xml(url, remote.earthdata_session(TOKEN), wait_s=0.3), capsys)
    assert_one_line_exit_2(code, message, 'still extracting the burst', 'BURST_EXTRACTION_WAIT_S')


def test_oversized_burst_xml_is_refused_unread(capsys):
    big = b'<burst>' + b' ' * (70 * 1024 * 1024) + b'</burst>'
    state = ServerState(routes={'/b.xml': Route(body=big, content_type='text/xml')}, ranges=False)
    with LocalServer(state) as server:
        url = f'{server.url}/b.xml'
        code, message = run(lambda: fetch_burst_xml(url, remote.earthdata_session(TOKEN), wait_s=0), capsys)
    assert_one_line_exit_2(code, message, 'more than the 64 MiB')
    assert state.bytes_sent < len(big)  # refused on its Content-Length, not downloaded


def test_stalled_parameter_file_url_fails_in_one_line(capsys, monkeypatch):
    """GDAL's /vsicurl/ had no timeout: a stalled parameter-file server hung the run forever."""
    for key in ('GDAL_HTTP_TIMEOUT', 'GDAL_HTTP_CONNECTTIMEOUT', 'GDAL_HTTP_MAX_RETRY', 'GDAL_HTTP_RETRY_DELAY'):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv('HYP3_S1_M11M12_READ_TIMEOUT_S', '1')
    monkeypatch.setenv('HYP3_S1_M11M12_RETRIES', '0')
    state = ServerState(
        routes={f'/p.{ext}': Route(body=b'x' * 100, stall_s=30.0) for ext in ('shp', 'shx', 'dbf', 'prj', 'cpg')}
    )
    with LocalServer(state) as server:
        started = time.monotonic()
        code, message = run(lambda: find_parameter_set_at(f'/vsicurl/{server.url}/p.shp', 10.0, 46.0), capsys)
    assert_one_line_exit_2(code, message, 'cannot open the parameter file', 'check the network')
    assert time.monotonic() - started < 20.0


def test_invalid_network_setting(capsys, monkeypatch):
    monkeypatch.setenv('HYP3_S1_M11M12_READ_TIMEOUT_S', 'soon')
    code, message = run(open_remote('http://127.0.0.1:9/x.zip'), capsys)
    assert_one_line_exit_2(code, message, "HYP3_S1_M11M12_READ_TIMEOUT_S='soon' is not a valid number")


def test_stalled_orbit_service_falls_back_to_the_annotation(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv('HYP3_S1_M11M12_READ_TIMEOUT_S', '0.3')
    monkeypatch.setenv('HYP3_S1_M11M12_RETRIES', '0')
    scene = synthetic_scene(bursts_per_swath=3)
    safe = write_synthetic_safe(scene, tmp_path)
    state = ServerState(routes={f'/scene/{scene.name}': Route(body=b'', stall_s=3.0)})
    with LocalServer(state) as server, caplog.at_level(logging.WARNING):
        started = time.monotonic()
        acquisition = open_acquisition(safe, orbit='auto', orbit_api_url=f'{server.url}/scene')
    assert time.monotonic() - started < 3.0
    assert acquisition.orbit_source.startswith('annotation') and 'falling back' in caplog.text


def test_nothing_is_left_behind(scene_zip, tmp_path, capsys):
    """A workflow run that fails on the network leaves no output folder and no partial file."""
    from hyp3_s1_m11m12.workflows.s1_correction_fixed import s1_correction_fixed

    scene, data = scene_zip
    state = serve(scene, data)
    state.fail_next = 10_000
    output = tmp_path / 'products'
    with LocalServer(state) as server:
        url = f'{server.url}/SLC/SA/{scene.name}.zip'
        code, message = run(
            lambda: s1_correction_fixed(url, dt_seconds=86400.0 * 12, orbit='annotation', output_dir=output), capsys
        )
    assert_one_line_exit_2(code, message, 'keeps failing')
    assert not output.exists()
    assert isinstance(UserFacingError('x'), Exception) and Path(tmp_path).is_dir()


def test_retry_budget_bounds_repeated_timeouts(scene_zip, capsys, monkeypatch):
    """A server that accepts connections and never answers (what a blackholed host costs): the budget, not the
    retry count, ends it."""
    monkeypatch.setenv('HYP3_S1_M11M12_READ_TIMEOUT_S', '0.3')
    monkeypatch.setenv('HYP3_S1_M11M12_RETRIES', '100')
    monkeypatch.setenv('HYP3_S1_M11M12_RETRY_BUDGET_S', '1')
    scene, data = scene_zip
    with LocalServer(serve(scene, data, stall_s=2.0)) as server:
        started = time.monotonic()
        code, message = run(open_remote(f'{server.url}/SLC/SA/{scene.name}.zip'), capsys)
    assert_one_line_exit_2(code, message, 'no answer within the timeout')
    assert time.monotonic() - started < 3.0
