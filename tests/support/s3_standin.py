"""A fast, read-only S3 stand-in on 127.0.0.1 that serves a folder: `ROOT/<bucket>/<key>`.

moto's server answers a few hundred requests a second, too few to measure a client that reads thousands of granules
a second; this one implements only what the project's readers call, the way S3 answers it (path-style addressing):

- ListObjectsV2 (`GET /<bucket>?list-type=2`): prefix, max-keys (at most 1000), continuation-token, start-after;
  keys in UTF-8 byte order, `IsTruncated` + `NextContinuationToken` while more keys remain.
- GetObject: the whole object (200), or one `Range: bytes=a-b` / `bytes=a-` / `bytes=-n` (206 + Content-Range);
  a range past the end is 416 InvalidRange.
- HeadObject.
- Errors as S3's XML documents: 404 NoSuchKey / NoSuchBucket, 400 InvalidArgument, 405 for other methods.

Signatures are not checked (moto does not either). Tests of the project's behaviour use moto; this server exists so
that benchmarks measure the client, not the stand-in; tests/products/test_s3_standin.py runs the same boto3 calls
against it and moto. Run it alone: `python -m tests.support.s3_standin ROOT [--port N]`.
"""

import argparse
import asyncio
import base64
import binascii
import email.utils
import hashlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape


MAX_KEYS = 1000
NAMESPACE = 'http://s3.amazonaws.com/doc/2006-03-01/'
RANGE = re.compile(r'^bytes=(\d*)-(\d*)$')


@dataclass
class ServerLog:
    """What the stand-in answered: requests by S3 operation and bytes of object data sent."""

    operations: dict[str, int] = field(default_factory=dict)
    bytes_sent: int = 0

    def count(self, operation: str, sent: int = 0) -> None:
        self.operations[operation] = self.operations.get(operation, 0) + 1
        self.bytes_sent += sent


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b''


REASONS = {200: 'OK', 206: 'Partial Content', 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed',
           416: 'Requested Range Not Satisfiable'}  # fmt: skip


def error(status: int, code: str, message: str, resource: str) -> Response:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(message)}</Message>'
        f'<Resource>{escape(resource)}</Resource><RequestId>0</RequestId></Error>'
    ).encode()
    return Response(status, {'Content-Type': 'application/xml'}, body)


def list_keys(bucket_dir: Path, prefix: str) -> list[str]:
    """Every key under `prefix` in `bucket_dir`, in S3's order (UTF-8 bytes)."""
    # Walk only the folder the prefix names, not the whole bucket.
    folder = prefix.rsplit('/', 1)[0] if '/' in prefix else ''
    start = bucket_dir / folder
    keys = []
    for directory, _, files in os.walk(start):
        relative = Path(directory).relative_to(bucket_dir).as_posix()
        base = '' if relative == '.' else f'{relative}/'
        keys += [base + name for name in files if (base + name).startswith(prefix)]
    return sorted(keys, key=lambda key: key.encode())


def _token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _etag(stat: os.stat_result) -> str:
    return '"' + hashlib.md5(f'{stat.st_ino}-{stat.st_size}-{stat.st_mtime_ns}'.encode()).hexdigest() + '"'


def _timestamp(stat: os.stat_result) -> str:
    return email.utils.formatdate(stat.st_mtime, usegmt=True)


class S3StandIn:
    """Answers S3 requests from the files under `root` (one folder per bucket)."""

    def __init__(self, root: Path, log: ServerLog | None = None) -> None:
        self.root = root
        self.log = log if log is not None else ServerLog()

    def handle(self, method: str, target: str, headers: dict[str, str]) -> Response:
        parts = urlsplit(target)
        bucket, _, key = unquote(parts.path).lstrip('/').partition('/')
        query = parse_qs(parts.query, keep_blank_values=True)
        bucket_dir = self.root / bucket
        if not bucket or '..' in Path(key).parts or not bucket_dir.is_dir():
            return error(404, 'NoSuchBucket', 'The specified bucket does not exist', f'/{bucket}')
        if method == 'GET' and not key:
            if query.get('list-type') != ['2']:
                return error(400, 'InvalidArgument', 'only ListObjectsV2 (list-type=2) is implemented', f'/{bucket}')
            return self.list_objects(bucket, bucket_dir, query)
        if method in ('GET', 'HEAD') and key:
            return self.get_object(method, bucket_dir / key, f'/{bucket}/{key}', headers.get('range'))
        return error(405, 'MethodNotAllowed', f'{method} is not implemented by the stand-in', target)

    def list_objects(self, bucket: str, bucket_dir: Path, query: dict[str, list[str]]) -> Response:
        prefix = query.get('prefix', [''])[0]
        try:
            max_keys = min(int(query.get('max-keys', [str(MAX_KEYS)])[0]), MAX_KEYS)
        except ValueError:
            return error(400, 'InvalidArgument', 'max-keys must be an integer', f'/{bucket}')
        token = query.get('continuation-token', [None])[0]
        after = query.get('start-after', [''])[0]
        if token is not None:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except (binascii.Error, UnicodeDecodeError):
                return error(400, 'InvalidArgument', 'The continuation token provided is incorrect', f'/{bucket}')
        keys = [key for key in list_keys(bucket_dir, prefix) if key.encode() > after.encode()]
        page, truncated = keys[:max_keys], len(keys) > max_keys
        items = []
        for key in page:
            stat = (bucket_dir / key).stat()
            items.append(
                f'<Contents><Key>{escape(key)}</Key><LastModified>'
                f'{datetime.fromtimestamp(stat.st_mtime, timezone.utc):%Y-%m-%dT%H:%M:%S.000Z}</LastModified><ETag>{escape(_etag(stat))}</ETag><Size>{stat.st_size}</Size>'
                '<StorageClass>STANDARD</StorageClass></Contents>'
            )
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{NAMESPACE}"><Name>{escape(bucket)}'
            f'</Name><Prefix>{escape(prefix)}</Prefix><KeyCount>{len(page)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>'
            f'<IsTruncated>{"true" if truncated else "false"}</IsTruncated>'
            + (f'<ContinuationToken>{escape(token)}</ContinuationToken>' if token is not None else '')
            + (f'<NextContinuationToken>{_token(page[-1])}</NextContinuationToken>' if truncated else '')
            + ''.join(items)
            + '</ListBucketResult>'
        ).encode()
        self.log.count('ListObjectsV2')
        return Response(200, {'Content-Type': 'application/xml'}, body)

    def get_object(self, method: str, path: Path, resource: str, range_header: str | None) -> Response:
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return error(404, 'NoSuchKey', 'The specified key does not exist.', resource)
        try:
            stat = os.fstat(descriptor)
            size = stat.st_size
            start, stop, status = 0, size, 200
            match = RANGE.match(range_header or '')
            if match and (match[1] or match[2]):
                if not match[1]:  # bytes=-n: the last n bytes
                    start = max(0, size - int(match[2]))
                else:
                    start = int(match[1])
                    stop = min(int(match[2]) + 1, size) if match[2] else size
                if start >= size or start >= stop:
                    response = error(416, 'InvalidRange', 'The requested range is not satisfiable', resource)
                    response.headers['Content-Range'] = f'bytes */{size}'
                    return response
                status = 206
            headers = {
                'Content-Type': 'application/octet-stream',
                'Accept-Ranges': 'bytes',
                'ETag': _etag(stat),
                'Last-Modified': _timestamp(stat),
                'Content-Length': str(stop - start),
            }
            if status == 206:
                headers['Content-Range'] = f'bytes {start}-{stop - 1}/{size}'
            if method == 'HEAD':
                self.log.count('HeadObject')
                return Response(status, headers)
            body = os.pread(descriptor, stop - start, start)
        finally:
            os.close(descriptor)
        self.log.count('GetObject', len(body))
        return Response(status, headers, body)


class _Connection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive (and pipelining), as boto3 and urllib3 use it."""

    def __init__(self, stand_in: S3StandIn) -> None:
        self.stand_in = stand_in
        self.buffer = b''
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while True:
            end = self.buffer.find(b'\r\n\r\n')
            if end < 0:
                return
            lines = self.buffer[:end].decode('latin-1').split('\r\n')
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(':')
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get('content-length') or 0)
            if headers.get('expect', '').lower() == '100-continue' and len(self.buffer) < end + 4 + length:
                self.transport.write(b'HTTP/1.1 100 Continue\r\n\r\n')
                headers.pop('expect')
            if len(self.buffer) < end + 4 + length:
                return  # the request body is still coming (the stand-in ignores bodies)
            self.buffer = self.buffer[end + 4 + length :]
            try:
                method, target, _ = lines[0].split(' ', 2)
                response = self.stand_in.handle(method, target, headers)
            except Exception as failure:  # noqa: BLE001 (a bug in the stand-in must show in the client, not hang it)
                method, response = 'GET', error(500, 'InternalError', repr(failure), lines[0])
            response.headers.setdefault('Content-Length', str(len(response.body)))
            head = f'HTTP/1.1 {response.status} {REASONS.get(response.status, "Error")}\r\n' + ''.join(
                f'{name}: {value}\r\n' for name, value in response.headers.items()
            )
            self.transport.write(head.encode('latin-1') + b'x-amz-request-id: 0\r\n\r\n')
            if method != 'HEAD' and response.body:
                self.transport.write(response.body)


async def _serve(stand_in: S3StandIn, port: int, started: 'threading.Event | None', box: list[object]) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(stand_in), '127.0.0.1', port)
    stop = loop.create_future()
    box += [server.sockets[0].getsockname()[1], loop, stop]
    if started is not None:
        started.set()
    async with server:
        await stop


@contextmanager
def s3_standin(root: Path, log: ServerLog | None = None) -> Iterator[tuple[str, ServerLog]]:
    """The stand-in serving `root` from a thread of this process: (endpoint URL, its log)."""
    stand_in = S3StandIn(root, log)
    started = threading.Event()
    box: list[object] = []
    thread = threading.Thread(target=asyncio.run, args=(_serve(stand_in, 0, started, box),), daemon=True)
    thread.start()
    started.wait(10)
    port, loop, stop = box
    try:
        yield f'http://127.0.0.1:{port}', stand_in.log
    finally:
        loop.call_soon_threadsafe(stop.set_result, None)  # type: ignore[attr-defined]
        thread.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('root', type=Path, help='folder with one sub-folder per bucket')
    parser.add_argument('--port', type=int, default=0)
    args = parser.parse_args()
    box: list[object] = []

    async def run() -> None:
        task = asyncio.create_task(_serve(S3StandIn(args.root), args.port, None, box))
        while not box:
            await asyncio.sleep(0.01)
        print(f'http://127.0.0.1:{box[0]}', flush=True)
        await task

    asyncio.run(run())


if __name__ == '__main__':
    main()
