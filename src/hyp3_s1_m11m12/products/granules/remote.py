"""Read parts of a NetCDF-4 (HDF5) file over HTTP(S) or S3 with range requests, from many threads at once.

h5py holds one global lock while HDF5 runs, and HDF5 calls back into a Python file object with that lock held: a
file object that downloads on demand would serialise the network waits of every thread. So the file object here
only serves bytes already fetched and raises `BlockMissing` for anything else. The caller asks for what it needs as
independent reads (the pair's attributes, M11, M12, the grid ...); a read that meets a missing block fails, the
missing blocks of all the reads of a round are fetched together with the lock released, and only the failed reads
run again, on the same open file: HDF5 keeps what it parsed (the root group, the heaps) and caches nothing from a
failed read. A granule takes a few rounds (the chain root group -> link heap -> object headers -> attribute heaps)
and one full parse of CPU; a round trip to an object store costs tens of milliseconds and, unlike the parse,
overlaps across threads. Anything unexpected (an error that is not a missing block) is decided on a fresh parse
with every byte fetched so far. (netCDF4's own `#mode=bytes` reads a granule fine, but libnetcdf is not thread-safe:
two threads opening URLs at once crash the interpreter.)

The range GETs go through one urllib3 pool with the project's network policy (timeouts, retries, budget). An s3://
object is read through a URL presigned once by its boto3 client (credentials, or none for public buckets, and the
endpoint are the client's): boto3 spends ~0.9 ms of CPU on each request, a plain GET ~0.2 ms. Any answer but the
data (an error, a redirect to another region) is asked again through boto3 itself, which reports it as S3 does.
"""

import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlparse

import boto3
import botocore.exceptions
import h5py
import urllib3
from botocore import UNSIGNED

from hyp3_s1_m11m12 import network
from hyp3_s1_m11m12.errors import ProductError


# A miss fetches whole blocks: 16 KiB holds the small structures HDF5 keeps together (an object header and its
# attribute heap); see `tests/products/test_granule_remote.py` for the requests per granule this gives.
BLOCK_SIZE_BYTES = 16 * 1024
# netCDF-C writes the superblock, the root group and the first object headers at the start of the file.
INITIAL_FETCH_BYTES = 64 * 1024
# Missing ranges of one round closer than this are fetched in one request: a round trip costs more than the bytes.
COALESCE_GAP_BYTES = 64 * 1024
MAX_REQUESTS = 200
# A presigned URL is used within seconds; this only has to outlast a slow read with its retries.
PRESIGNED_URL_EXPIRY_S = 3600

_CONTENT_RANGE = re.compile(r'bytes\s+(\d+)-(\d+)/(\d+|\*)')


class BlockMissing(Exception):
    """Raised inside the HDF5 read callback: bytes [start, stop) have not been fetched yet."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__(f'bytes {start}-{stop} not fetched yet')
        self.start = start
        self.stop = stop


class ByteSource(Protocol):
    """A remote file that can return any byte range."""

    location: str

    def fetch(self, start: int, stop: int) -> tuple[int, bytes, int]:
        """At least bytes [start, stop) (fewer at the end of the file): (offset of the data, data, file size)."""
        ...


@dataclass
class ReadStats:
    requests: int = 0
    bytes_read: int = 0


def _total_size(content_range: str | None, location: str) -> int:
    match = _CONTENT_RANGE.match(content_range or '')
    if match is None or match[3] == '*':
        raise ProductError(f'{location}: the server sent no usable Content-Range ({content_range!r})')
    return int(match[3])


@dataclass(frozen=True)
class RangeAnswer:
    status: int
    reason: str
    data: bytes
    content_range: str | None


def range_get(url: str, start: int, stop: int, pool: urllib3.PoolManager) -> RangeAnswer:
    """GET bytes [start, stop) of `url` (the network policy's timeouts and retries are the pool's).

    Raises:
        urllib3.exceptions.HTTPError: no answer, after the retries.
    """
    response = pool.request('GET', url, headers={'Range': f'bytes={start}-{stop - 1}'}, preload_content=True)
    return RangeAnswer(response.status, response.reason or '', response.data, response.headers.get('Content-Range'))


@dataclass
class HttpSource:
    location: str
    pool: urllib3.PoolManager = field(init=False)

    def __post_init__(self) -> None:
        self.pool = network.pool_for(self.location)

    def fetch(self, start: int, stop: int) -> tuple[int, bytes, int]:
        try:
            answer = range_get(self.location, start, stop, self.pool)
        except urllib3.exceptions.HTTPError as error:
            raise ProductError(f'{self.location}: {error}') from error
        if answer.status == 416:
            raise ProductError(f'{self.location}: range {start}-{stop - 1} is beyond the end of the file')
        if answer.status == 200:
            # A server without range support sends the whole file: keep all of it, so it is sent only once.
            return 0, answer.data, len(answer.data)
        if answer.status != 206:
            raise ProductError(f'{self.location}: HTTP {answer.status} {answer.reason}')
        return start, answer.data, _total_size(answer.content_range, self.location)


def make_s3_client(max_pool_connections: int = 10, endpoint_url: str | None = None) -> object:
    """An S3 client for range reads; anonymous when no credentials are configured (public buckets such as ITS_LIVE's).

    The endpoint comes from `endpoint_url`, else from boto3's own AWS_ENDPOINT_URL(_S3) environment variables; the
    timeouts and attempts from the network policy.
    """
    session = boto3.session.Session()
    signature = None if session.get_credentials() is not None else UNSIGNED
    config = network.botocore_config(max_pool_connections=max_pool_connections, signature_version=signature)
    return session.client('s3', endpoint_url=endpoint_url, config=config)


@dataclass
class S3Source:
    location: str
    bucket: str
    key: str
    client: object
    # Set once an answer had to come through boto3 (e.g. a bucket in another region): the rest follow it.
    through_boto3: bool = False
    _url: str | None = field(default=None, init=False, repr=False)
    _pool: urllib3.PoolManager | None = field(default=None, init=False, repr=False)

    def fetch(self, start: int, stop: int) -> tuple[int, bytes, int]:
        if not self.through_boto3:
            try:
                answer = self._presigned_get(start, stop)
            except (urllib3.exceptions.HTTPError, botocore.exceptions.BotoCoreError):
                answer = None  # boto3 says what went wrong, in its words
            if answer is not None and answer.status == 206:
                return start, answer.data, _total_size(answer.content_range, self.location)
            if answer is not None and answer.status == 200:
                return 0, answer.data, len(answer.data)
        offset, data, size = self._boto3_get(start, stop)
        self.through_boto3 = True
        return offset, data, size

    def _presigned_get(self, start: int, stop: int) -> RangeAnswer:
        if self._url is None or self._pool is None:
            self._url = self.client.generate_presigned_url(  # type: ignore[attr-defined]
                'get_object', Params={'Bucket': self.bucket, 'Key': self.key}, ExpiresIn=PRESIGNED_URL_EXPIRY_S
            )
            self._pool = network.pool_for(self._url)
        return range_get(self._url, start, stop, self._pool)

    def _boto3_get(self, start: int, stop: int) -> tuple[int, bytes, int]:
        try:
            response = self.client.get_object(  # type: ignore[attr-defined]
                Bucket=self.bucket, Key=self.key, Range=f'bytes={start}-{stop - 1}'
            )
            content = response['Body'].read()
        except botocore.exceptions.ClientError as error:
            code = error.response.get('Error', {}).get('Code', '?')
            if code in ('NoSuchKey', '404'):
                raise ProductError(f'{self.location} does not exist') from error
            if code == 'NoSuchBucket':
                raise ProductError(f'{self.location}: bucket {self.bucket} does not exist') from error
            raise ProductError(f'{self.location}: S3 error {code}: {error}') from error
        except botocore.exceptions.BotoCoreError as error:
            raise ProductError(f'{self.location}: {error}') from error
        return start, content, _total_size(response.get('ContentRange'), self.location)


def is_remote(location: str) -> bool:
    return urlparse(location).scheme in ('http', 'https', 's3')


def byte_source(location: str, s3_client: Callable[[], object]) -> ByteSource:
    """The source for an http(s):// or s3:// URL; `s3_client` is called only for s3:// URLs.

    Raises:
        ProductError: another scheme, or an s3:// URL without bucket or key.
    """
    parsed = urlparse(location)
    if parsed.scheme in ('http', 'https'):
        return HttpSource(location)
    if parsed.scheme == 's3':
        key = parsed.path.lstrip('/')
        if not parsed.netloc or not key:
            raise ProductError(f'{location} is not an s3://bucket/key URL')
        return S3Source(location, parsed.netloc, key, s3_client())
    raise ProductError(f'{location}: unsupported URL scheme {parsed.scheme!r}; use a local path, http(s):// or s3://')


class RangeCache:
    """The blocks of a remote file fetched so far; fetching happens only in `fetch`, never inside HDF5."""

    def __init__(self, source: ByteSource, stats: ReadStats) -> None:
        self.source = source
        self.stats = stats
        self.size: int | None = None
        self.requests = 0
        self._blocks: dict[int, bytes] = {}

    def _missing_blocks(self, start: int, stop: int) -> tuple[int, int]:
        """The first and one past the last block of [start, stop) not fetched yet (first >= last: none)."""
        first = start // BLOCK_SIZE_BYTES
        last = -(-stop // BLOCK_SIZE_BYTES)
        while first < last and first in self._blocks:
            first += 1
        while last > first and (last - 1) in self._blocks:
            last -= 1
        return first, last

    def fetch(self, *ranges: tuple[int, int]) -> int:
        """Fetch the blocks of the byte ranges [start, stop) not fetched yet; returns the number of requests.

        Ranges less than COALESCE_GAP_BYTES apart are fetched with one request.

        Raises:
            ProductError: the source failed, or MAX_REQUESTS were made for this file.
        """
        spans: list[list[int]] = []
        for start, stop in sorted(ranges):
            first, last = self._missing_blocks(start, stop)
            if first >= last:
                continue
            if spans and (first - spans[-1][1]) * BLOCK_SIZE_BYTES <= COALESCE_GAP_BYTES:
                spans[-1][1] = max(spans[-1][1], last)
            else:
                spans.append([first, last])
        for first, last in spans:
            first, last = self._missing_blocks(first * BLOCK_SIZE_BYTES, last * BLOCK_SIZE_BYTES)
            if self.requests >= MAX_REQUESTS:
                raise ProductError(f'{self.source.location}: gave up after {MAX_REQUESTS} range requests')
            begin = first * BLOCK_SIZE_BYTES
            end = last * BLOCK_SIZE_BYTES if self.size is None else min(last * BLOCK_SIZE_BYTES, self.size)
            offset, data, self.size = self.source.fetch(begin, end)
            self.requests += 1
            self.stats.requests += 1
            self.stats.bytes_read += len(data)
            for position in range(0, len(data), BLOCK_SIZE_BYTES):
                self._blocks[(offset + position) // BLOCK_SIZE_BYTES] = data[position : position + BLOCK_SIZE_BYTES]
        return len(spans)

    def read(self, start: int, length: int) -> bytes:
        stop = start + length
        pieces = []
        position = start
        while position < stop:
            index, offset = divmod(position, BLOCK_SIZE_BYTES)
            block = self._blocks.get(index)
            if block is None:
                raise BlockMissing(position, stop)
            piece = block[offset : offset + stop - position]
            if not piece:
                break  # end of file
            pieces.append(piece)
            position += len(piece)
        return b''.join(pieces)


class CachedFile(io.RawIOBase):
    """A read-only file object over a `RangeCache`; remembers the first missing range it met."""

    def __init__(self, cache: RangeCache) -> None:
        super().__init__()
        if cache.size is None:
            raise ValueError('fetch the start of the file before opening it')
        self._cache = cache
        self._size = cache.size
        self._position = 0
        self.missing: BlockMissing | None = None

    def forget_missing(self) -> None:
        self.missing = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._position = offset
        elif whence == io.SEEK_CUR:
            self._position += offset
        else:
            self._position = self._size + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: object) -> int:
        view = memoryview(buffer).cast('B')  # type: ignore[arg-type]
        length = max(0, min(len(view), self._size - self._position))
        try:
            data = self._cache.read(self._position, length)
        except BlockMissing as missing:
            if self.missing is None:
                self.missing = missing
            raise
        view[: len(data)] = data
        self._position += len(data)
        return len(data)


# Independent reads of one file, by name: each takes the open file and returns what it read.
Reads = Mapping[str, Callable[[h5py.File], Any]]


class _ParseAgain(Exception):
    """Something other than a missing block went wrong: decide on a fresh parse."""


def _open(handle: CachedFile, cache: RangeCache) -> h5py.File:
    while True:
        handle.forget_missing()
        try:
            return h5py.File(handle, 'r')
        except Exception as error:
            if handle.missing is None or not cache.fetch((handle.missing.start, handle.missing.stop)):
                raise _ParseAgain from error


def _read_in_rounds(cache: RangeCache, reads: Reads) -> dict[str, Any]:
    """Every read on one open file: those that met missing blocks run again once all those blocks are fetched."""
    handle = CachedFile(cache)
    with _open(handle, cache) as h5file:
        results: dict[str, Any] = {}
        pending = dict(reads)
        while pending:
            missing: list[tuple[int, int]] = []
            for name, read in list(pending.items()):
                handle.forget_missing()
                try:
                    value = read(h5file)
                except Exception as error:
                    if handle.missing is None:
                        raise _ParseAgain from error
                    missing.append((handle.missing.start, handle.missing.stop))
                    continue
                if handle.missing is not None:
                    # HDF5 swallowed a failed read (it probes optional structures): the value may be wrong.
                    missing.append((handle.missing.start, handle.missing.stop))
                    continue
                results[name] = value
                del pending[name]
            if pending and not cache.fetch(*missing):
                raise _ParseAgain
        return results


def _read_from_scratch(cache: RangeCache, reads: Reads) -> dict[str, Any]:
    """Every read on a freshly opened file, opened again after each missing block (the slow, certain way)."""
    while True:
        handle = CachedFile(cache)
        try:
            with h5py.File(handle, 'r') as h5file:
                results = {name: read(h5file) for name, read in reads.items()}
        except Exception as error:
            if handle.missing is None:
                if isinstance(error, OSError):
                    raise ProductError(
                        f'{cache.source.location} is not a readable NetCDF-4 file ({error}); it is truncated or not '
                        'a granule, check the URL or upload it again'
                    ) from error
                raise
        else:
            if handle.missing is None:
                return results
            # Otherwise HDF5 swallowed a failed read (it probes optional structures): parse again with those bytes.
        if not cache.fetch((handle.missing.start, handle.missing.stop)):
            raise ProductError(f'{cache.source.location}: the server did not send bytes it was asked for')


def read_remote_hdf5(source: ByteSource, reads: Reads, stats: ReadStats) -> dict[str, Any]:
    """The results of `reads` on a remote NetCDF-4 file, fetching only the byte ranges HDF5 asks for.

    Raises:
        ProductError: the file cannot be fetched, or is not HDF5 / is truncated (HDF5's error is in the message).
        Whatever a read raises once all the bytes it needs are there.
    """
    cache = RangeCache(source, stats)
    cache.fetch((0, INITIAL_FETCH_BYTES))
    try:
        return _read_in_rounds(cache, reads)
    except _ParseAgain:
        return _read_from_scratch(cache, reads)
