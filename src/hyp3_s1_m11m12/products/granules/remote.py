"""Read parts of a NetCDF-4 (HDF5) file over HTTP(S) or S3 with range requests, from many threads at once.

h5py holds one global lock while HDF5 runs, and HDF5 calls back into a Python file object with that lock held: a
file object that downloads on demand would serialise the network waits of every thread. So the file object here
only serves bytes already fetched and raises `BlockMissing` for anything else; the caller then fetches the missing
range with the lock released and parses again. A parse costs a few milliseconds of CPU; a round trip to an object
store costs tens of milliseconds and, unlike the parse, overlaps across threads. (netCDF4's own `#mode=bytes` reads
a granule fine, but libnetcdf is not thread-safe: two threads opening URLs at once crash the interpreter.)
"""

import io
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar
from urllib.parse import urlparse

import boto3
import botocore.config
import botocore.exceptions
import h5py
import requests
from botocore import UNSIGNED
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from hyp3_s1_m11m12.errors import ProductError


T = TypeVar('T')

# A 5.5 MB granule: 10 requests / 112 KiB with 4 KiB blocks; 9 / 208 KiB with 16 KiB; 9 / 576 KiB with 64 KiB.
BLOCK_SIZE_BYTES = 4 * 1024
# netCDF-C writes the superblock, the root group and the first object headers at the start of the file.
INITIAL_FETCH_BYTES = 64 * 1024
MAX_PARSE_ATTEMPTS = 200
HTTP_TIMEOUT_S = (10.0, 60.0)
HTTP_RETRIES = 3

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


_thread_state = threading.local()


def http_session() -> requests.Session:
    """One session per thread (requests sessions are not documented as thread-safe), retrying transient errors."""
    session: requests.Session | None = getattr(_thread_state, 'session', None)
    if session is None:
        session = requests.Session()
        retry = Retry(total=HTTP_RETRIES, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504))
        session.mount('http://', HTTPAdapter(max_retries=retry))
        session.mount('https://', HTTPAdapter(max_retries=retry))
        _thread_state.session = session
    return session


@dataclass
class HttpSource:
    location: str

    def fetch(self, start: int, stop: int) -> tuple[int, bytes, int]:
        headers = {'Range': f'bytes={start}-{stop - 1}'}
        try:
            response = http_session().get(self.location, headers=headers, timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as error:
            raise ProductError(f'{self.location}: {error}') from error
        if response.status_code == 416:
            raise ProductError(f'{self.location}: range {start}-{stop - 1} is beyond the end of the file')
        if response.status_code == 200:
            # A server without range support sends the whole file: keep all of it, so it is sent only once.
            return 0, response.content, len(response.content)
        if response.status_code != 206:
            raise ProductError(f'{self.location}: HTTP {response.status_code} {response.reason}')
        return start, response.content, _total_size(response.headers.get('Content-Range'), self.location)


def make_s3_client(max_pool_connections: int = 10, endpoint_url: str | None = None) -> object:
    """An S3 client for range reads; anonymous when no credentials are configured (public buckets such as ITS_LIVE's).

    The endpoint comes from `endpoint_url`, else from boto3's own AWS_ENDPOINT_URL(_S3) environment variables.
    """
    session = boto3.session.Session()
    signature = None if session.get_credentials() is not None else UNSIGNED
    config = botocore.config.Config(
        max_pool_connections=max_pool_connections,
        retries={'max_attempts': HTTP_RETRIES + 1, 'mode': 'standard'},
        signature_version=signature,
    )
    return session.client('s3', endpoint_url=endpoint_url, config=config)


@dataclass
class S3Source:
    location: str
    bucket: str
    key: str
    client: object

    def fetch(self, start: int, stop: int) -> tuple[int, bytes, int]:
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
    """The blocks of a remote file fetched so far; fetching happens only in `fetch_missing`, never inside HDF5."""

    def __init__(self, source: ByteSource, stats: ReadStats) -> None:
        self.source = source
        self.stats = stats
        self.size: int | None = None
        self._blocks: dict[int, bytes] = {}

    def fetch(self, start: int, stop: int) -> None:
        first = start // BLOCK_SIZE_BYTES
        last = -(-stop // BLOCK_SIZE_BYTES)
        while first < last and first in self._blocks:
            first += 1
        while last > first and (last - 1) in self._blocks:
            last -= 1
        if first >= last:
            return
        begin = first * BLOCK_SIZE_BYTES
        end = last * BLOCK_SIZE_BYTES
        if self.size is not None:
            end = min(end, self.size)
        offset, data, self.size = self.source.fetch(begin, end)
        self.stats.requests += 1
        self.stats.bytes_read += len(data)
        for position in range(0, len(data), BLOCK_SIZE_BYTES):
            self._blocks[(offset + position) // BLOCK_SIZE_BYTES] = data[position : position + BLOCK_SIZE_BYTES]

    def fetch_missing(self, missing: BlockMissing) -> None:
        self.fetch(missing.start, missing.stop)

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


def read_remote_hdf5(source: ByteSource, extract: Callable[[h5py.File], T], stats: ReadStats) -> T:
    """`extract(h5file)` on a remote NetCDF-4 file, fetching only the byte ranges HDF5 asks for.

    Raises:
        ProductError: the file cannot be fetched, or is not HDF5 / is truncated (HDF5's error is in the message).
        Whatever `extract` raises once all the bytes it needs are there.
    """
    cache = RangeCache(source, stats)
    cache.fetch(0, INITIAL_FETCH_BYTES)
    for _ in range(MAX_PARSE_ATTEMPTS):
        handle = CachedFile(cache)
        try:
            with h5py.File(handle, 'r') as h5file:
                result = extract(h5file)
        except Exception as error:
            if handle.missing is None:
                if isinstance(error, OSError):
                    raise ProductError(
                        f'{source.location} is not a readable NetCDF-4 file ({error}); it is truncated or not a '
                        'granule, check the URL or upload it again'
                    ) from error
                raise
        else:
            if handle.missing is None:
                return result
            # Otherwise HDF5 swallowed a failed read (it probes optional structures): parse again with those bytes.
        cache.fetch_missing(handle.missing)
    raise ProductError(f'{source.location}: gave up after {MAX_PARSE_ATTEMPTS} range requests')
