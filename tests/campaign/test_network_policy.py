"""The campaign's HTTP reads (the HyP3 API through hyp3_sdk, product downloads) follow the one network policy:
its retries on 503 and its read timeout, set from the environment, against a real server on 127.0.0.1."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from hyp3_s1_m11m12 import network
from hyp3_s1_m11m12.campaign import hyp3
from hyp3_s1_m11m12.campaign.transfer import TransferError, fetch
from hyp3_s1_m11m12.errors import UserFacingError
from tests.support.http_server import QuietHTTPServer


BODY = b'conversion matrices'


@dataclass
class Flaky:
    """Answers 503 to the first `failures` requests, then 200 (after `stall_s`, when set)."""

    failures: int = 0
    stall_s: float = 0.0
    requests: list[str] = field(default_factory=list)


@contextmanager
def flaky_server(state: Flaky) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            state.requests.append(self.path)
            if len(state.requests) <= state.failures:
                self.send_response(503)
                self.send_header('Content-Length', '0')
                self.end_headers()
                return
            time.sleep(state.stall_s)
            body = json.dumps({'user_id': 'tester'}).encode() if self.path == '/user' else BODY
            self.send_response(200)
            self.send_header('Content-Type', 'application/json' if self.path == '/user' else 'application/x-netcdf')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = QuietHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def fast_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('HYP3_S1_M11M12_BACKOFF_S', '0.01')
    monkeypatch.setenv('HYP3_S1_M11M12_READ_TIMEOUT_S', '0.5')
    monkeypatch.setenv('HYP3_S1_M11M12_RETRIES', '2')


def test_the_hyp3_client_retries_503_as_the_policy_says() -> None:
    state = Flaky(failures=2)
    with flaky_server(state) as url:
        client = hyp3.connect(url, token='token')
    assert state.requests == ['/user'] * 3
    adapter = client.session.get_adapter(url)
    assert isinstance(adapter, network.PolicyAdapter) and adapter.network.read_timeout_s == 0.5


def test_the_hyp3_client_gives_up_after_the_policy_retries() -> None:
    state = Flaky(failures=10)
    with flaky_server(state) as url, pytest.raises(UserFacingError, match='cannot use the HyP3 API'):
        hyp3.connect(url, token='token')
    assert state.requests == ['/user'] * 3  # the first attempt and the policy's 2 retries


def test_the_hyp3_client_times_out_on_a_stalled_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('HYP3_S1_M11M12_RETRIES', '0')
    with flaky_server(Flaky(stall_s=3.0)) as url, pytest.raises(UserFacingError, match='timed out'):
        hyp3.connect(url, token='token')


def test_a_product_download_retries_503_then_times_out_on_a_stall(tmp_path: Path) -> None:
    state = Flaky(failures=1)
    with flaky_server(state) as url:
        path = fetch(f'{url}/p/product.nc', tmp_path, lambda: None)
    assert path.read_bytes() == BODY and len(state.requests) == 2
    with flaky_server(Flaky(stall_s=3.0)) as url, pytest.raises(TransferError, match='cannot fetch'):
        fetch(f'{url}/p/stalled.nc', tmp_path, lambda: None)


def test_boto3_clients_get_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('HYP3_S1_M11M12_CONNECT_TIMEOUT_S', '3')
    config = network.botocore_config(max_pool_connections=4)
    assert (config.connect_timeout, config.read_timeout) == (3.0, 0.5)
    assert config.retries == {'total_max_attempts': 3, 'mode': 'standard'}
    assert config.max_pool_connections == 4
