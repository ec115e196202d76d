"""The one network policy of the package: timeouts, bounded retries with backoff, and a total retry budget.

Every HTTP read (requests sessions, urllib3 pools, remotezip, s1_orbits, asf_search, hyp3_sdk, GDAL's /vsicurl/,
boto3 clients) takes its settings from here. The defaults suit a HyP3 job: a dead or stalled ASF server is given up
on in well under a minute, with a warning logged before every retry. Each setting can be overridden with an
environment variable:

    HYP3_S1_M11M12_CONNECT_TIMEOUT_S  seconds to establish a connection (default 10)
    HYP3_S1_M11M12_READ_TIMEOUT_S     seconds without a byte from the server (default 30)
    HYP3_S1_M11M12_RETRIES            retries after the first attempt, on connection errors, 429 and 5xx (default 3)
    HYP3_S1_M11M12_BACKOFF_S          first wait between attempts, doubled each time (default 1)
    HYP3_S1_M11M12_RETRY_BUDGET_S     total seconds one request may spend retrying (default 40)
"""

import functools
import logging
import os
import time
import urllib.request
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from hyp3_s1_m11m12.errors import UserFacingError


log = logging.getLogger(__name__)

ENV_PREFIX = 'HYP3_S1_M11M12_'
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Loggers of libraries that log whole responses (asf_search logs its CMR JSON at INFO) or every retry (urllib3
# warns of each; BudgetedRetry says it once, with the wait and the budget).
NOISY_LOGGERS = {
    'asf_search': logging.WARNING,
    'urllib3': logging.ERROR,
    'botocore': logging.WARNING,
    'remotezip': logging.WARNING,
}


class NetworkSettingError(UserFacingError):
    """A network setting in the environment that is not a valid number."""


@dataclass(frozen=True)
class NetworkPolicy:
    """Timeouts and retries of every network read."""

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    retries: int = 3
    backoff_s: float = 1.0
    retry_budget_s: float = 40.0

    @property
    def timeout(self) -> tuple[float, float]:
        """The (connect, read) timeout pair requests takes."""
        return (self.connect_timeout_s, self.read_timeout_s)

    @property
    def worst_case_s(self) -> float:
        """An upper bound of the time one request can take before it is given up on."""
        return self.retry_budget_s + self.connect_timeout_s + self.read_timeout_s

    @classmethod
    def from_environment(cls) -> 'NetworkPolicy':
        """The defaults, overridden by the HYP3_S1_M11M12_* variables that are set.

        Raises:
            NetworkSettingError: a variable that is not a non-negative number.
        """
        defaults = cls()
        values: dict[str, Any] = {}
        for name, field_name, kind in (
            ('CONNECT_TIMEOUT_S', 'connect_timeout_s', float),
            ('READ_TIMEOUT_S', 'read_timeout_s', float),
            ('RETRIES', 'retries', int),
            ('BACKOFF_S', 'backoff_s', float),
            ('RETRY_BUDGET_S', 'retry_budget_s', float),
        ):
            text = os.environ.get(ENV_PREFIX + name, '').strip()
            if not text:
                continue
            try:
                value = kind(text)
            except ValueError:
                value = -1
            if not value >= 0 or (field_name.endswith('timeout_s') and value == 0):
                raise NetworkSettingError(
                    f'{ENV_PREFIX}{name}={text!r} is not a valid {"whole " if kind is int else ""}number '
                    f'{"> 0" if field_name.endswith("timeout_s") else ">= 0"}; fix or unset it'
                )
            values[field_name] = value
        return replace(defaults, **values)


def policy() -> NetworkPolicy:
    """The policy in force (read from the environment at each call, so tests and jobs can change it)."""
    return NetworkPolicy.from_environment()


class BudgetedRetry(Retry):
    """urllib3 retries that also stop once a request has spent its retry budget, and say so before each retry."""

    def __init__(self, *args: Any, budget_s: float = 40.0, first_failure: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.budget_s = budget_s
        self.first_failure = first_failure

    def new(self, **kw: Any) -> 'BudgetedRetry':
        kw.setdefault('budget_s', self.budget_s)
        kw.setdefault('first_failure', self.first_failure)
        retry: BudgetedRetry = super().new(**kw)
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> 'BudgetedRetry':
        now = time.monotonic()
        started = self.first_failure if self.first_failure is not None else now
        what = f'HTTP {response.status}' if response is not None and response.status else type(error).__name__
        if now - started > self.budget_s:
            raise MaxRetryError(_pool, url or '', error or Exception(f'{what}; the retry budget is spent'))  # type: ignore[arg-type]
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        retry.first_failure = started
        if not retry.is_exhausted() and (error is not None or (response is not None and response.status >= 400)):
            attempts_left = retry.total if isinstance(retry.total, int) else '?'
            log.warning(
                f'{method} {f"{_pool.host}:{_pool.port}" if _pool is not None else ""}{url} failed ({what}); retrying in {retry.get_backoff_time():.1f} s '
                f'({attempts_left} attempt(s) left, at most {self.budget_s:.0f} s in all)'
            )
        return retry


def retry_strategy(network: NetworkPolicy | None = None) -> BudgetedRetry:
    network = network or policy()
    return BudgetedRetry(
        total=network.retries,
        connect=network.retries,
        read=network.retries,
        status=network.retries,
        other=0,
        redirect=30,
        backoff_factor=network.backoff_s / 2,  # urllib3 waits factor x 2^(n-1): backoff_s, 2 x backoff_s, ...
        backoff_max=max(network.backoff_s, network.retry_budget_s / 2),
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({'GET', 'HEAD'}),
        raise_on_status=False,
        respect_retry_after_header=True,
        retry_after_max=max(network.backoff_s, network.retry_budget_s / 2),
        budget_s=network.retry_budget_s,
    )


class PolicyAdapter(HTTPAdapter):
    """The policy's retries, and its timeouts for every request sent without one (libraries such as remotezip and
    hyp3_sdk pass none)."""

    def __init__(self, network: NetworkPolicy | None = None) -> None:
        self.network = network or policy()
        super().__init__(max_retries=retry_strategy(self.network))

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get('timeout') is None:
            kwargs['timeout'] = self.network.timeout
        return super().send(request, **kwargs)


def apply_policy(session: requests.Session, network: NetworkPolicy | None = None) -> requests.Session:
    """Put the policy on a session another library made (e.g. hyp3_sdk's): its http(s) requests get the policy's
    timeouts and retries. Returns the session."""
    adapter = PolicyAdapter(network)
    session.mount('http://', adapter)
    session.mount('https://', adapter)
    return session


class PolicySession(requests.Session):
    """A session with the network policy (PolicyAdapter) on http and https."""

    def __init__(self, network: NetworkPolicy | None = None) -> None:
        super().__init__()
        quiet_third_party_loggers()
        self.network = network or policy()
        apply_policy(self, self.network)


def http_session(network: NetworkPolicy | None = None) -> requests.Session:
    """A plain session with the network policy (timeouts, retries on 429/5xx within the retry budget)."""
    return PolicySession(network)


# Connections kept open per host by `pool_for`: one per worker thread of the busiest reader (check_granule, plan).
POOL_CONNECTIONS = 64


@functools.lru_cache(maxsize=8)
def _pool(network: NetworkPolicy, proxy: str | None) -> urllib3.PoolManager:
    quiet_third_party_loggers()
    options: dict[str, Any] = {
        'num_pools': 16,
        'maxsize': POOL_CONNECTIONS,
        'retries': retry_strategy(network),
        'timeout': urllib3.Timeout(connect=network.connect_timeout_s, read=network.read_timeout_s),
    }
    return urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)


def pool_for(url: str, network: NetworkPolicy | None = None) -> urllib3.PoolManager:
    """A shared, thread-safe urllib3 pool for `url` with the policy's timeouts and retries.

    For reads made thousands of times a second (granule metadata), where a requests session's own cost per request
    matters (~0.3 ms of CPU of the ~0.5 ms). The proxy the environment names for the URL (HTTP(S)_PROXY,
    NO_PROXY) is used, as requests would.
    """
    network = network or policy()
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get('all')
    if proxy and urllib.request.proxy_bypass(parts.hostname or ''):
        proxy = None
    return _pool(network, proxy)


def botocore_config(network: NetworkPolicy | None = None, **options: Any) -> Any:
    """A botocore Config with the policy's connect/read timeouts and retry count (boto3's "standard" retry mode:
    exponential backoff on throttling, 5xx and connection errors); `options` are further Config settings."""
    import botocore.config

    network = network or policy()
    return botocore.config.Config(
        connect_timeout=network.connect_timeout_s,
        read_timeout=network.read_timeout_s,
        # botocore's `max_attempts` counts retries (it adds the first attempt); `total_max_attempts` counts all.
        retries={'total_max_attempts': network.retries + 1, 'mode': 'standard'},
        **options,
    )


def gdal_options(network: NetworkPolicy | None = None) -> dict[str, str]:
    """GDAL's HTTP settings for /vsicurl/, /vsis3/ ...: the same timeouts and retries as every other read."""
    network = network or policy()
    return {
        'GDAL_HTTP_CONNECTTIMEOUT': f'{network.connect_timeout_s:g}',
        # GDAL_HTTP_TIMEOUT bounds each whole transfer; GDAL reads rasters in small ranges, so the read timeout fits.
        'GDAL_HTTP_TIMEOUT': f'{network.read_timeout_s:g}',
        'GDAL_HTTP_MAX_RETRY': str(network.retries),
        'GDAL_HTTP_RETRY_DELAY': f'{network.backoff_s:g}',
        # A server that sends nothing for the read timeout is stalled (GDAL >= 3.? ignores unknown options).
        'GDAL_HTTP_LOW_SPEED_TIME': f'{network.read_timeout_s:g}',
        'GDAL_HTTP_LOW_SPEED_LIMIT': '1',
    }


def configure_gdal(network: NetworkPolicy | None = None) -> dict[str, str]:
    """Put GDAL's HTTP settings into the environment, where GDAL (and autoRIFT's child process) reads them.

    Settings the user already put in the environment are kept. Returns the settings in force.
    """
    applied = {}
    for key, value in gdal_options(network).items():
        applied[key] = os.environ.setdefault(key, value)
    return applied


def quiet_third_party_loggers() -> None:
    """Keep libraries from flooding the job log (asf_search logs whole search results at INFO)."""
    for name, level in NOISY_LOGGERS.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(level, logger.level))


def format_bytes(count: int) -> str:
    return f'{count / 1e6:.2f} MB' if count >= 100_000 else f'{count} bytes'
