"""Remote SAFE zips read with HTTP range requests (remotezip), with Earthdata credentials and retries.

Credentials: a bearer token from EARTHDATA_TOKEN (or the `token` argument), else requests' own ~/.netrc lookup
for each host, including the Earthdata Login redirect (urs.earthdata.nasa.gov), as hyp3lib.fetch does.
"""

import logging
import os
import threading
from dataclasses import dataclass, field

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from hyp3_s1_m11m12.errors import MetadataError, UserFacingError
from hyp3_s1_m11m12.sentinel1.names import parse_scene_name
from hyp3_s1_m11m12.sentinel1.safe import ZipSafe


log = logging.getLogger(__name__)

ASF_DOWNLOAD_BASE_URL = 'https://sentinel1.asf.alaska.edu'  # hyp3lib.scene.SENTINEL_DISTRIBUTION_URL
ASF_DOWNLOAD_BASE_URL_ENV = 'HYP3_S1_M11M12_ASF_DOWNLOAD_URL'
EARTHDATA_TOKEN_ENV = 'EARTHDATA_TOKEN'
HTTP_TIMEOUT_S = 60.0
HTTP_RETRIES = 4
HTTP_BACKOFF_S = 0.5
RETRY_STATUSES = (429, 500, 502, 503, 504)
# The end of the zip is fetched first: it holds the central directory (~1 KB per member of an SLC zip).
CENTRAL_DIRECTORY_FETCH_BYTES = 64 * 1024


class RemoteAccessError(MetadataError):
    """A remote product that cannot be reached, authorised or read."""


class _BearerAuth(requests.auth.AuthBase):
    """A bearer token; requests drops it on redirects to another host (e.g. pre-signed S3 URLs)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers['Authorization'] = f'Bearer {self.token}'
        return request


@dataclass
class TransferCounter:
    """Bytes received in response bodies (Content-Length, or what was read for streams without it)."""

    bytes: int = 0
    request_count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def hook(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        with self._lock:
            self.request_count += 1
            length = response.headers.get('Content-Length')
            if length and length.isdigit() and response.request.method != 'HEAD':
                self.bytes += int(length)


def earthdata_session(
    token: str | None = None,
    *,
    retries: int | None = None,
    backoff_s: float | None = None,
    counter: TransferCounter | None = None,
) -> requests.Session:
    """A requests session with Earthdata auth (bearer token, or netrc via requests) and retries on 429/5xx."""
    retries = HTTP_RETRIES if retries is None else retries
    backoff_s = HTTP_BACKOFF_S if backoff_s is None else backoff_s
    session = requests.Session()
    token = token or os.environ.get(EARTHDATA_TOKEN_ENV) or None
    if token:
        session.auth = _BearerAuth(token)
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff_s,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({'GET', 'HEAD'}),
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount('http://', adapter)
    session.mount('https://', adapter)
    if counter is not None:
        session.hooks['response'].append(counter.hook)
    return session


def scene_download_url(scene: str, base_url: str | None = None) -> str:
    """ASF's download URL of an SLC scene (hyp3lib.scene.get_download_url), on an overridable host."""
    from hyp3lib.scene import SENTINEL_DISTRIBUTION_URL, get_download_url

    name = parse_scene_name(scene).name
    base = base_url or os.environ.get(ASF_DOWNLOAD_BASE_URL_ENV) or ASF_DOWNLOAD_BASE_URL
    url: str = get_download_url(name)
    return base.rstrip('/') + url[len(SENTINEL_DISTRIBUTION_URL) :]


def describe_http_status(url: str, response: requests.Response) -> str:
    status = response.status_code
    if status in (401, 403):
        return (
            f'{url}: access denied (HTTP {status}); set EARTHDATA_TOKEN to an Earthdata Login token, or '
            'EARTHDATA_USERNAME/EARTHDATA_PASSWORD (or a ~/.netrc entry for urs.earthdata.nasa.gov)'
        )
    if status == 404:
        return f'{url}: not found (HTTP 404); check the scene name or URL'
    if status >= 500 or status == 429:
        return f'{url}: the server keeps failing (HTTP {status}) after retries; try again later'
    return f'{url}: unexpected HTTP {status}; check the URL'


def probe(session: requests.Session, url: str, timeout_s: float = HTTP_TIMEOUT_S) -> str:
    """Check access and range support with a one-byte request; returns the final URL after redirects.

    Raises:
        RemoteAccessError: unreachable, unauthorised, missing, failing, or no range support.
    """
    try:
        with session.get(url, headers={'Range': 'bytes=0-0'}, stream=True, timeout=timeout_s) as response:
            if response.status_code >= 400:
                raise RemoteAccessError(describe_http_status(url, response))
            if response.status_code != 206 or 'Content-Range' not in response.headers:
                raise RemoteAccessError(
                    f'{url}: the server does not support HTTP range requests (HTTP {response.status_code}); '
                    'download the zip and give its local path instead'
                )
            final_url: str = response.url
    except requests.exceptions.RetryError as error:
        raise RemoteAccessError(f'{url}: the server keeps failing after retries ({error}); try again later') from None
    except requests.RequestException as error:
        raise RemoteAccessError(f'{url}: cannot connect ({type(error).__name__}); check the URL and network') from None
    return final_url


class RemoteZipSafe(ZipSafe):
    """A SAFE zip on an HTTP(S) server, read member by member with range requests."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        session: requests.Session | None = None,
        attempts: int = 3,
        timeout_s: float = HTTP_TIMEOUT_S,
    ) -> None:
        from remotezip import RemoteZip

        self.url = url
        self.counter = TransferCounter()
        self.session = session or earthdata_session(token, counter=self.counter)
        if session is not None:
            session.hooks['response'].append(self.counter.hook)
        final_url = probe(self.session, url, timeout_s)
        if final_url != url:
            # Keep requesting the original URL: requests drops the credentials on each cross-host redirect, which
            # a pre-signed target needs, and the Earthdata session cookie makes the later redirects cheap.
            log.info(f'{url} redirects to {final_url.split("?")[0]}')

        def opener() -> RemoteZip:
            try:
                return RemoteZip(
                    url,
                    initial_buffer_size=CENTRAL_DIRECTORY_FETCH_BYTES,
                    session=self.session,
                    timeout=timeout_s,
                )
            except Exception as error:
                if isinstance(error, UserFacingError) or type(error).__name__ == 'BadZipFile':
                    raise
                raise RemoteAccessError(f'{url}: cannot read the zip directory ({error}); try again later') from None

        super().__init__(url, opener, attempts=attempts)

    @property
    def bytes_fetched(self) -> int:
        return self.counter.bytes
