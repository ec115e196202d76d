"""Remote SAFE zips read with HTTP range requests (remotezip) through ASF's redirect chains, with Earthdata auth.

ASF serves a scene as datapool (307) -> TEA/cumulus (302 to Earthdata Login unless its cookie is set) ->
Earthdata Login (urs.earthdata.nasa.gov, which checks the credentials and redirects back to TEA, which sets the
cookie) -> 307 to a pre-signed S3 URL that refuses any Authorization header. So, as asf_search does:
credentials are (re)applied on every redirect to an ASF or Earthdata host (and to the host the caller asked for),
never sent to amazonaws.com, and one session (one login, its cookies) serves every read of a job.

Credentials, first found wins: a bearer token (EARTHDATA_TOKEN or the `token` argument), EARTHDATA_USERNAME and
EARTHDATA_PASSWORD (sent only to Earthdata Login), a ~/.netrc entry for urs.earthdata.nasa.gov.
"""

import logging
import netrc
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3

from hyp3_s1_m11m12 import network
from hyp3_s1_m11m12.credentials import missing_credentials_message
from hyp3_s1_m11m12.errors import MetadataError, UserFacingError
from hyp3_s1_m11m12.sentinel1.names import parse_scene_name
from hyp3_s1_m11m12.sentinel1.safe import ZipSafe


log = logging.getLogger(__name__)

ASF_DOWNLOAD_BASE_URL = 'https://sentinel1.asf.alaska.edu'  # hyp3lib.scene.SENTINEL_DISTRIBUTION_URL
ASF_DOWNLOAD_BASE_URL_ENV = 'HYP3_S1_M11M12_ASF_DOWNLOAD_URL'
EARTHDATA_TOKEN_ENV = 'EARTHDATA_TOKEN'
EARTHDATA_USERNAME_ENV = 'EARTHDATA_USERNAME'
EARTHDATA_PASSWORD_ENV = 'EARTHDATA_PASSWORD'
EARTHDATA_LOGIN_URL = 'https://urs.earthdata.nasa.gov'
# Stand-ins and mirrors: the Earthdata Login server, and more hosts that may receive credentials (comma-separated).
EARTHDATA_LOGIN_URL_ENV = 'HYP3_S1_M11M12_EARTHDATA_LOGIN_URL'
AUTH_HOSTS_ENV = 'HYP3_S1_M11M12_AUTH_HOSTS'
# As asf_search's ASFSession.auth_domains: the domains that may see Earthdata credentials.
AUTH_DOMAINS = ('asf.alaska.edu', 'earthdata.nasa.gov')
NO_AUTH_DOMAINS = ('amazonaws.com',)  # pre-signed S3 URLs refuse a second auth mechanism
# The end of the zip is fetched first: it holds the central directory (~1 KB per member of an SLC zip).
CENTRAL_DIRECTORY_FETCH_BYTES = 64 * 1024
APPROVE_APPLICATION_HINT = (
    'log in at https://urs.earthdata.nasa.gov, approve the "Alaska Satellite Facility Data Access" application '
    '(Applications > Authorized Apps) and accept its EULA, then rerun'
)


class RemoteAccessError(MetadataError):
    """A remote product that cannot be reached, authorised or read."""


def _host(url: str) -> str:
    return (urlsplit(url).netloc or '').lower()


def _hostname(url: str) -> str:
    return (urlsplit(url).hostname or '').lower()


def _in_domains(hostname: str, domains: tuple[str, ...]) -> bool:
    return any(hostname == domain or hostname.endswith('.' + domain) for domain in domains)


def login_url() -> str:
    return (os.environ.get(EARTHDATA_LOGIN_URL_ENV, '').strip() or EARTHDATA_LOGIN_URL).rstrip('/')


def login_host() -> str:
    return _host(login_url())


def netrc_path() -> Path:
    return Path(os.environ.get('NETRC') or Path.home() / '.netrc')


def netrc_has_login_entry() -> bool | None:
    """True/False whether the netrc has an Earthdata Login entry; None when there is no (readable) netrc."""
    path = netrc_path()
    if not path.is_file():
        return None
    try:
        return netrc.netrc(str(path)).authenticators(login_host().split(':')[0]) is not None
    except (OSError, netrc.NetrcParseError):
        return False


@dataclass
class TransferCounter:
    """Bytes received in response bodies (Content-Length), requests and Earthdata logins."""

    bytes: int = 0
    request_count: int = 0
    login_count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def hook(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        with self._lock:
            self.request_count += 1
            if _host(response.url) == login_host():
                self.login_count += 1
            length = response.headers.get('Content-Length')
            if length and length.isdigit() and response.request.method != 'HEAD':
                self.bytes += int(length)


class EarthdataSession(network.PolicySession):
    """A session that keeps Earthdata credentials across ASF's redirects and keeps them away from S3."""

    def __init__(self, token: str | None = None, username: str | None = None, password: str | None = None) -> None:
        super().__init__()
        self.token = token
        self.basic = (username, password) if username and password and not token else None
        self.trusted_hosts: set[str] = {
            host.strip().lower() for host in os.environ.get(AUTH_HOSTS_ENV, '').split(',') if host.strip()
        }
        self.trusted_hosts.add(login_host())
        self.counter = TransferCounter()
        self.hooks['response'].append(self.counter.hook)
        if self.credentials == 'none':  # said once per job, and only when ASF is actually read
            log.warning(missing_credentials_message(netrc_has_login_entry()))

    @property
    def credentials(self) -> str:
        """Which kind of credentials the session carries, for messages."""
        if self.token:
            return 'token'
        if self.basic:
            return 'username/password'
        return 'netrc' if netrc_has_login_entry() else 'none'

    def trust(self, url: str) -> None:
        """The host a caller asked for may see the credentials (unless it is S3)."""
        self.trusted_hosts.add(_host(url))

    def may_receive_credentials(self, url: str) -> bool:
        hostname = _hostname(url)
        if _in_domains(hostname, NO_AUTH_DOMAINS):
            return False
        return _host(url) in self.trusted_hosts or _in_domains(hostname, AUTH_DOMAINS)

    def _authorize(self, request: requests.PreparedRequest) -> None:
        url = request.url or ''
        request.headers.pop('Authorization', None)
        if not self.may_receive_credentials(url):
            return
        if self.token:
            request.headers['Authorization'] = f'Bearer {self.token}'
        elif self.basic is not None and _host(url) == login_host():
            request.prepare_auth(self.basic)
        elif self.basic is None:  # a netrc entry names its host: requests' own rule, on trusted hosts only
            auth = requests.utils.get_netrc_auth(url)
            if auth is not None:
                request.prepare_auth(auth)

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        prepared = super().prepare_request(request)
        if request.auth is None:
            self._authorize(prepared)
        return prepared

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        """Replaces requests' rule (strip on any host change, then netrc) by the ASF/Earthdata/S3 rule."""
        self._authorize(prepared_request)


_job_sessions: dict[tuple[str | None, str | None], EarthdataSession] = {}
_job_lock = threading.Lock()


def earthdata_session(token: str | None = None) -> EarthdataSession:
    """The job's Earthdata session: one per set of credentials, so both scenes of a pair share one login."""
    token = token or os.environ.get(EARTHDATA_TOKEN_ENV) or None
    username = os.environ.get(EARTHDATA_USERNAME_ENV) or None
    password = os.environ.get(EARTHDATA_PASSWORD_ENV) or None
    key = (token, f'{username}:{password}' if username and password else None)
    with _job_lock:
        if key not in _job_sessions:
            _job_sessions[key] = EarthdataSession(token, username, password)
        return _job_sessions[key]


def reset_job_sessions() -> None:
    """Forget the job's sessions (their logins and cookies); tests start each case from scratch."""
    with _job_lock:
        for session in _job_sessions.values():
            session.close()
        _job_sessions.clear()


def scene_download_url(scene: str, base_url: str | None = None) -> str:
    """ASF's download URL of an SLC scene (hyp3lib.scene.get_download_url), on an overridable host."""
    from hyp3lib.scene import SENTINEL_DISTRIBUTION_URL, get_download_url

    name = parse_scene_name(scene).name
    base = base_url or os.environ.get(ASF_DOWNLOAD_BASE_URL_ENV) or ASF_DOWNLOAD_BASE_URL
    url: str = get_download_url(name)
    return base.rstrip('/') + url[len(SENTINEL_DISTRIBUTION_URL) :]


def _credentials_hint(session: requests.Session) -> str:
    kind = session.credentials if isinstance(session, EarthdataSession) else 'none'
    if kind == 'token':
        return (
            'the Earthdata token was refused: it has probably expired (they last 60 days) or was revoked; create a '
            'new one at https://urs.earthdata.nasa.gov/users/tokens and set EARTHDATA_TOKEN'
        )
    if kind == 'username/password':
        return 'Earthdata Login refused EARTHDATA_USERNAME/EARTHDATA_PASSWORD; check them'
    if kind == 'netrc':
        return f'Earthdata Login refused the {login_host()} entry of {netrc_path()}; check it'
    if netrc_has_login_entry() is False:
        return (
            f'{netrc_path()} exists but has no entry for {login_host()}; add one, or set EARTHDATA_TOKEN (or '
            'EARTHDATA_USERNAME and EARTHDATA_PASSWORD)'
        )
    return (
        'set EARTHDATA_TOKEN to an Earthdata Login token, or EARTHDATA_USERNAME/EARTHDATA_PASSWORD (or a ~/.netrc '
        f'entry for {login_host()})'
    )


def describe_http_status(url: str, response: requests.Response, session: requests.Session | None = None) -> str:
    status = response.status_code
    if status in (401, 403):
        return f'{url}: access denied (HTTP {status}); {_credentials_hint(session or requests.Session())}'
    if status == 404:
        return f'{url}: not found (HTTP 404); check the scene name or URL'
    if status >= 500 or status == 429:
        return f'{url}: the server keeps failing (HTTP {status}) after retries; try again later'
    return f'{url}: unexpected HTTP {status}; check the URL'


def is_login_page(response: requests.Response) -> bool:
    """An HTML page (Earthdata's login or "approve application" page) where data was expected."""
    content_type = response.headers.get('Content-Type', '').lower()
    return 'text/html' in content_type or _host(response.url) == login_host()


def describe_request_error(url: str, error: requests.RequestException) -> str:
    if isinstance(error, requests.exceptions.RetryError):
        return f'{url}: the server keeps failing after retries ({type(error).__name__}); try again later'
    if isinstance(error, requests.exceptions.TooManyRedirects):
        return f'{url}: too many redirects (a redirect loop); check the URL or try again later'
    reason = getattr(error.args[0], 'reason', None) if error.args else None
    refused = isinstance(reason, urllib3.exceptions.NewConnectionError)  # a subclass of the timeout errors
    timed_out = isinstance(error, requests.exceptions.Timeout) or isinstance(reason, urllib3.exceptions.TimeoutError)
    if timed_out and not refused:
        return (
            f'{url}: no answer within the timeout ({type(error).__name__}); try again later, or raise '
            f'{network.ENV_PREFIX}READ_TIMEOUT_S'
        )
    return f'{url}: cannot connect ({type(error).__name__}); check the URL and the network'


def probe(session: requests.Session, url: str) -> str:
    """Check access and range support with a one-byte request; returns the final URL after redirects.

    Raises:
        RemoteAccessError: unreachable, unauthorised, an Earthdata page instead of data, missing, failing, or no
            range support.
    """
    try:
        with session.get(url, headers={'Range': 'bytes=0-0'}, stream=True) as response:
            if response.status_code >= 400:
                raise RemoteAccessError(describe_http_status(url, response, session))
            if response.status_code == 200 and is_login_page(response):
                raise RemoteAccessError(
                    f'{url}: Earthdata Login answered with a web page instead of the data (HTTP 200, '
                    f'{response.url.split("?")[0]}): the ASF application is not approved for this account; '
                    f'{APPROVE_APPLICATION_HINT}'
                )
            if response.status_code != 206 or 'Content-Range' not in response.headers:
                raise RemoteAccessError(
                    f'{url}: the server does not support HTTP range requests (HTTP {response.status_code}); '
                    'download the zip and give its local path instead'
                )
            final_url: str = response.url
    except requests.RequestException as error:
        raise RemoteAccessError(describe_request_error(url, error)) from None
    return final_url


class RemoteZipSafe(ZipSafe):
    """A SAFE zip on an HTTP(S) server, read member by member with range requests."""

    def __init__(
        self, url: str, *, token: str | None = None, session: EarthdataSession | None = None, attempts: int = 3
    ) -> None:
        from remotezip import RemoteZip

        self.url = url
        self.session = session or earthdata_session(token)
        self.session.trust(url)
        counter = self.session.counter
        self._start = (counter.bytes, counter.request_count, counter.login_count)

        def opener() -> RemoteZip:
            # The final URL of the chain (pre-signed, valid for an hour) is read directly: one request per range
            # instead of three; a reopen after a failed read probes again for a fresh one.
            final_url = probe(self.session, url)
            if final_url != url:
                log.info(f'{url} redirects to {final_url.split("?")[0]}')
            try:
                return RemoteZip(final_url, initial_buffer_size=CENTRAL_DIRECTORY_FETCH_BYTES, session=self.session)
            except Exception as error:
                if isinstance(error, UserFacingError) or type(error).__name__ == 'BadZipFile':
                    raise
                if isinstance(error, requests.RequestException):
                    raise RemoteAccessError(describe_request_error(url, error)) from None
                raise RemoteAccessError(f'{url}: cannot read the zip directory ({error}); try again later') from None

        super().__init__(url, opener, attempts=attempts)

    @property
    def bytes_fetched(self) -> int:
        return self.session.counter.bytes - self._start[0]

    @property
    def requests_made(self) -> int:
        return self.session.counter.request_count - self._start[1]

    def close(self) -> None:
        super().close()
        log.info(
            f'{self.url.rsplit("/", 1)[-1]}: read {network.format_bytes(self.bytes_fetched)} in '
            f'{self.requests_made} HTTP request(s)'
        )
