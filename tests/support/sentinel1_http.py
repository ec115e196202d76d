"""A threaded HTTP(S) server on 127.0.0.1 for the remote-access tests: byte ranges, Earthdata-style auth, failures."""

import base64
import json
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


RANGE = re.compile(r'^bytes=(\d*)-(\d*)$')


@dataclass
class Route:
    body: bytes = b''
    status: int = 200
    content_type: str = 'application/octet-stream'
    location: str | None = None  # a redirect
    handler: Callable[[bytes], tuple[int, bytes]] | None = None  # POST handler: request body -> (status, body)


@dataclass
class ServerState:
    routes: dict[str, Route] = field(default_factory=dict)
    token: str | None = None  # bearer token accepted
    basic: tuple[str, str] | None = None  # user, password accepted
    fail_next: int = 0  # answer this many requests with 503
    fail_status: int = 503
    truncate_next: int = 0  # cut this many large range responses in half
    ranges: bool = True
    reject_authorization: bool = False  # as S3 pre-signed URLs do: one auth mechanism only
    bytes_sent: int = 0
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, range
    authorization_headers: list[str] = field(default_factory=list)  # the Authorization header of each request
    lock: threading.Lock = field(default_factory=threading.Lock)

    def authorised(self, header: str | None) -> bool:
        if self.token is None and self.basic is None:
            return True
        if header is None:
            return False
        if self.token is not None and header == f'Bearer {self.token}':
            return True
        if self.basic is not None:
            expected = base64.b64encode(f'{self.basic[0]}:{self.basic[1]}'.encode()).decode()
            return header == f'Basic {expected}'
        return False


class _Handler(BaseHTTPRequestHandler):
    server: '_Server'

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, length: int | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header('Content-Length', str(len(body) if length is None else length))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)
            with self.server.state.lock:
                self.server.state.bytes_sent += len(body)

    def _handle(self) -> None:
        state = self.server.state
        path = self.path.split('?')[0]
        with state.lock:
            state.requests.append((self.command, self.path, self.headers.get('Range', '')))
            state.authorization_headers.append(self.headers.get('Authorization', ''))
            failing = state.fail_next > 0
            if failing:
                state.fail_next -= 1
        if failing:
            self._send(state.fail_status, b'server error')
            return
        if state.reject_authorization and self.headers.get('Authorization'):
            self._send(400, b'only one auth mechanism allowed')
            return
        if not state.authorised(self.headers.get('Authorization')):
            self._send(401, b'unauthorized', {'WWW-Authenticate': 'Basic realm="Earthdata"'})
            return
        route = state.routes.get(path)
        if route is None:
            self._send(404, b'not found')
            return
        if route.location is not None:
            self._send(302, b'', {'Location': route.location})
            return
        if self.command == 'POST' and route.handler is not None:
            length = int(self.headers.get('Content-Length') or 0)
            status, body = route.handler(self.rfile.read(length))
            self._send(status, body, {'Content-Type': route.content_type})
            return
        body = route.body
        requested = self.headers.get('Range')
        match = RANGE.match(requested or '')
        if not state.ranges or match is None:
            self._send(route.status, body, {'Content-Type': route.content_type})
            return
        size = len(body)
        if match[1] == '':
            start, stop = max(0, size - int(match[2])), size - 1
        else:
            start = int(match[1])
            stop = min(int(match[2]), size - 1) if match[2] else size - 1
        if start >= size:
            self._send(416, b'', {'Content-Range': f'bytes */{size}'})
            return
        chunk = body[start : stop + 1]
        headers = {'Content-Range': f'bytes {start}-{stop}/{size}', 'Content-Type': route.content_type}
        with state.lock:
            truncate = state.truncate_next > 0 and len(chunk) > 4096 and match[1] != ''
            if truncate:
                state.truncate_next -= 1
        if truncate:  # announce the full length, send half, close the connection
            self.send_response(206)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header('Content-Length', str(len(chunk)))
            self.end_headers()
            self.wfile.write(chunk[: len(chunk) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(206, chunk, headers)

    do_GET = _handle
    do_HEAD = _handle
    do_POST = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that drop a cut-short response are expected here

    def __init__(self, state: ServerState) -> None:
        super().__init__(('127.0.0.1', 0), _Handler)
        self.state = state


class LocalServer:
    """Start with `with LocalServer(state) as server:`; `server.url` is http(s)://127.0.0.1:<port>."""

    def __init__(self, state: ServerState, *, certificate: tuple[Path, Path] | None = None) -> None:
        self.state = state
        self._server = _Server(state)
        self.scheme = 'http'
        if certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(certificate[0]), str(certificate[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = 'https'
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f'127.0.0.1:{self._server.server_address[1]}'

    @property
    def url(self) -> str:
        return f'{self.scheme}://{self.host}'

    def __enter__(self) -> 'LocalServer':  # noqa: PYI034
        self._thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def json_body(value: object) -> bytes:
    return json.dumps(value).encode()
