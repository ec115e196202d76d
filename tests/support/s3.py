"""S3 on 127.0.0.1 for upload tests: moto's server, optionally behind a proxy that refuses operations as IAM would.

moto's server mode does not enforce IAM policies by default; a bucket policy or a role without
s3:PutObjectTagging or s3:DeleteObject is reproduced by `RefusingProxy`, which answers those requests with S3's own
403 AccessDenied document and forwards everything else to moto unchanged.
"""

import http.client
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.http_server import QuietHTTPServer, started_moto_server


ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message>'
    b'<RequestId>0</RequestId></Error>'
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


def operation(method: str, target: str) -> str:
    """The S3 operation of a request, as IAM names it (only those the tests refuse need to be exact)."""
    parts = urlsplit(target)
    query = parts.query
    key = '/' in parts.path.strip('/')
    if method == 'PUT' and 'tagging' in query:
        return 'PutObjectTagging'
    if method == 'DELETE' and key and 'uploadId' not in query:
        return 'DeleteObject'
    if method == 'POST' and 'delete' in query:
        return 'DeleteObjects'
    if method == 'PUT' and key:
        return 'PutObject'
    return f'{method} {parts.path}'


@dataclass
class RefusingProxy:
    """Forward S3 requests to `upstream_port`, refusing the operations in `refused` with 403 AccessDenied."""

    upstream_port: int
    refused: set[str] = field(default_factory=set)
    seen: list[str] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b';')[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b'\r\n', b''):
                                pass
                            return b''.join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get('Content-Length') or 0))

            def _handle(self) -> None:
                body = self._body()
                name = operation(self.command, self.path)
                proxy.seen.append(name)
                if name in proxy.refused:
                    self.send_response(403)
                    self.send_header('Content-Type', 'application/xml')
                    self.send_header('Content-Length', str(len(ACCESS_DENIED)))
                    self.end_headers()
                    self.wfile.write(ACCESS_DENIED)
                    return
                connection = http.client.HTTPConnection('127.0.0.1', proxy.upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != 'transfer-encoding'}
                headers['Content-Length'] = str(len(body))
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ('transfer-encoding', 'content-length', 'connection'):
                        self.send_header(key, value)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                connection.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = QuietHTTPServer(('127.0.0.1', 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass(frozen=True)
class Bucket:
    client: Any  # talks to moto directly: sees what is really in the bucket
    name: str
    proxy: RefusingProxy

    def keys(self) -> list[str]:
        return sorted(item['Key'] for item in self.client.list_objects_v2(Bucket=self.name).get('Contents', []))


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bucket]:
    """moto's S3 server on 127.0.0.1 with an empty bucket; hyp3lib's client goes through a `RefusingProxy` (which
    refuses nothing until a test says so). moto keeps its state per process: every test gets a bucket of its own."""
    import boto3
    import hyp3lib.aws

    port = free_port()
    server = started_moto_server(port)
    proxy = RefusingProxy(upstream_port=port)
    for name, value in {
        'AWS_ACCESS_KEY_ID': 'testing',
        'AWS_SECRET_ACCESS_KEY': 'testing',
        'AWS_SESSION_TOKEN': 'testing',
        'AWS_DEFAULT_REGION': 'us-west-2',
        'AWS_ENDPOINT_URL': f'http://127.0.0.1:{proxy.port}',
    }.items():
        monkeypatch.setenv(name, value)
    direct = boto3.client('s3', region_name='us-west-2', endpoint_url=f'http://127.0.0.1:{port}')
    through_proxy = boto3.client('s3', region_name='us-west-2', endpoint_url=f'http://127.0.0.1:{proxy.port}')
    monkeypatch.setattr(hyp3lib.aws, 'S3_CLIENT', through_proxy)
    name = f'hyp3-test-{uuid.uuid4().hex[:12]}'
    direct.create_bucket(Bucket=name, CreateBucketConfiguration={'LocationConstraint': 'us-west-2'})
    try:
        yield Bucket(client=direct, name=name, proxy=proxy)
    finally:
        proxy.stop()
        server.stop()
