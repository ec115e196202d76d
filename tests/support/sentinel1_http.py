"""A threaded HTTP(S) server on 127.0.0.1 for the remote-access tests: byte ranges, Earthdata-style auth, failures."""

import base64
import http.cookies
import json
import re
import ssl
import threading
import time
import urllib.parse
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.support.http_server import QuietHTTPServer


RANGE = re.compile(r'^bytes=(\d*)-(\d*)$')


@dataclass(frozen=True)
class Request:
    """What a responder sees of a request."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]

    @property
    def cookies(self) -> dict[str, str]:
        jar = http.cookies.SimpleCookie(self.headers.get('cookie', ''))
        return {key: morsel.value for key, morsel in jar.items()}


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b''


@dataclass
class Route:
    body: 'bytes | VirtualFile' = b''
    status: int = 200
    content_type: str = 'application/octet-stream'
    location: str | None = None  # a redirect
    redirect_status: int = 302
    handler: Callable[[bytes], tuple[int, bytes]] | None = None  # POST handler: request body -> (status, body)
    responder: Callable[[Request], Answer | None] | None = None  # GET: an answer, or None to serve the body
    pending: int = 0  # answer this many requests 202 (extraction in progress) first
    stall_s: float = 0.0  # wait this long before answering (a stalled server)


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
        if route.stall_s:
            time.sleep(route.stall_s)
        with state.lock:
            pending = route.pending > 0
            if pending:
                route.pending -= 1
        if pending:
            self._send(202, b'extraction in progress', {'Retry-After': '1'})
            return
        if route.responder is not None:
            query = {
                key: values[0] for key, values in urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).items()
            }
            headers = {key.lower(): value for key, value in self.headers.items()}
            answer = route.responder(Request(self.command, path, query, headers))
            if answer is not None:
                self._send(answer.status, answer.body, answer.headers)
                return
        if route.location is not None:
            self._send(route.redirect_status, b'', {'Location': route.location})
            return
        if self.command == 'POST' and route.handler is not None:
            length = int(self.headers.get('Content-Length') or 0)
            status, body = route.handler(self.rfile.read(length))
            self._send(status, body, {'Content-Type': route.content_type})
            return
        body = route.body  # type: ignore[assignment]  # bytes, or a VirtualFile sliced like bytes
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


class _Server(QuietHTTPServer):  # clients that drop a cut-short response are expected here
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


class VirtualFile:
    """A large file held as a few written extents, zeros elsewhere: a writable, seekable object for zipfile
    and a sliceable body for the server. An 8 GB archive costs only its metadata in memory, never on disk."""

    def __init__(self) -> None:
        self.extents: dict[int, bytes] = {}
        self.position = 0
        self.size = 0

    # file-object side (zipfile writes the archive through these)
    def write(self, data: bytes) -> int:
        if data:
            self.extents[self.position] = bytes(data)
            self.position += len(data)
            self.size = max(self.size, self.position)
        return len(data)

    def skip(self, count: int) -> None:
        """Advance over `count` zero bytes without storing them."""
        self.position += count
        self.size = max(self.size, self.position)

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = offset if whence == 0 else (self.position + offset if whence == 1 else self.size + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def seekable(self) -> bool:
        return True

    def flush(self) -> None:
        pass

    # body side
    def __bool__(self) -> bool:  # zipfile tests `if not self.fp`; an empty file is still open
        return True

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, item: slice) -> bytes:
        start, stop, _ = item.indices(self.size)
        out = bytearray(max(0, stop - start))
        for offset, data in self.extents.items():
            low, high = max(start, offset), min(stop, offset + len(data))
            if low < high:
                out[low - start : high - start] = data[low - offset : high - offset]
        return bytes(out)


def virtual_zip64(members: dict[str, bytes], large_members: dict[str, int]) -> VirtualFile:
    """A ZIP64 archive whose `large_members` (name -> size, stored, zero-filled, CRC not checked) come first, so
    every other member lies beyond 4 GiB, as in the 8 GB SLC zips ASF serves."""
    archive_file = VirtualFile()
    with zipfile.ZipFile(archive_file, 'w', allowZip64=True) as archive:  # type: ignore[call-overload]
        for name, size in large_members.items():
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            with archive.open(info, 'w', force_zip64=True) as stream:
                archive_file.skip(size)  # the data, as zeros, never held
                stream._file_size = size  # what zipfile records on close
                stream._compress_size = size
        for name, content in members.items():
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return archive_file


@dataclass
class AsfChain:
    """ASF's download chain on 127.0.0.1: datapool -307-> TEA -302-> Earthdata Login (checks the credentials)
    -302-> TEA /login (sets the asf-urs cookie) -307-> TEA -307-> a pre-signed S3 URL that refuses Authorization.

    A bearer token is accepted by TEA directly (no login); the extractor route needs the asf-urs cookie.
    """

    token: str | None = None
    basic: tuple[str, str] | None = None
    approved: bool = True  # False: Earthdata answers its "approve application" HTML page with HTTP 200
    datapool: ServerState = field(default_factory=ServerState)
    tea: ServerState = field(default_factory=ServerState)
    urs: ServerState = field(default_factory=ServerState)
    s3: ServerState = field(default_factory=lambda: ServerState(reject_authorization=True))
    logins: int = 0

    def start(self) -> list['LocalServer']:
        self.servers = [LocalServer(state) for state in (self.datapool, self.tea, self.urs, self.s3)]
        for server in self.servers:
            server.__enter__()
        self.datapool_url, self.tea_url, self.urs_url, self.s3_url = (server.url for server in self.servers)
        self.urs.routes['/oauth/authorize'] = Route(responder=self._authorize)
        self.tea.routes['/login'] = Route(responder=self._tea_login)
        return self.servers

    def stop(self) -> None:
        for server in self.servers:
            server.__exit__()

    @property
    def auth_hosts(self) -> str:
        return ','.join(server.host for server in self.servers[:3])

    def serve(self, path: str, body: 'bytes | VirtualFile') -> str:
        """Serve `body` at datapool `path` through the whole chain; returns the datapool URL."""
        self.s3.routes[f'/bucket{path}'] = Route(body=body, content_type='application/zip')
        self.tea.routes[path] = Route(responder=self._tea)
        self.datapool.routes[path] = Route(location=f'{self.tea_url}{path}', redirect_status=307)
        return f'{self.datapool_url}{path}'

    def serve_extractor(self, path: str, body: bytes, pending: int = 0) -> str:
        """An extractor-style route on TEA's host: the asf-urs cookie or 401, then `pending` 202s, then `body`."""

        def extractor(request: Request) -> Answer | None:
            if 'asf-urs' not in request.cookies:
                return Answer(401, {'Content-Type': 'text/plain'}, b'missing asf-urs cookie')
            return None

        self.tea.routes[path] = Route(body=body, content_type='text/xml', responder=extractor, pending=pending)
        return f'{self.tea_url}{path}'

    def _credentials_ok(self, request: Request) -> bool:
        header = request.headers.get('authorization', '')
        if self.token is not None and header == f'Bearer {self.token}':
            return True
        if self.basic is not None:
            expected = base64.b64encode(f'{self.basic[0]}:{self.basic[1]}'.encode()).decode()
            return header == f'Basic {expected}'
        return False

    def _tea(self, request: Request) -> Answer:
        bearer = self.token is not None and request.headers.get('authorization') == f'Bearer {self.token}'
        if 'asf-urs' in request.cookies or bearer:  # TEA takes a token or its cookie, never a password
            return Answer(307, {'Location': f'{self.s3_url}/bucket{request.path}?X-Amz-Signature=abc'})
        back = urllib.parse.quote(f'{self.tea_url}/login', safe='')
        state = urllib.parse.quote(request.path, safe='')
        return Answer(302, {'Location': f'{self.urs_url}/oauth/authorize?redirect_uri={back}&state={state}'})

    def _authorize(self, request: Request) -> Answer:
        if not self._credentials_ok(request):
            return Answer(401, {'WWW-Authenticate': 'Basic realm="Earthdata Login"'}, b'unauthorized')
        if not self.approved:
            page = b'<html><body>Approve the application "Alaska Satellite Facility Data Access"</body></html>'
            return Answer(200, {'Content-Type': 'text/html; charset=utf-8'}, page)
        self.logins += 1
        target = request.query.get('redirect_uri', f'{self.tea_url}/login')
        state = request.query.get('state', '')
        return Answer(302, {'Location': f'{target}?code=secret-code&state={urllib.parse.quote(state, safe="")}'})

    def _tea_login(self, request: Request) -> Answer:
        if request.query.get('code') != 'secret-code':
            return Answer(401, {}, b'bad code')
        headers = {'Set-Cookie': 'asf-urs=cookie-value; Path=/'}
        state = request.query.get('state')
        if state:
            headers['Location'] = f'{self.tea_url}{state}'
            return Answer(307, headers)
        return Answer(200, {**headers, 'Content-Type': 'text/plain'}, b'logged in')
