"""ASF burst granules: locate a burst with asf_search, then read ASF's burst XML (the swath's annotation).

ASF's burst XML (the `additionalUrls` of an SLC-BURST search result) holds the product annotation of the whole
swath under `metadata/product[swath, polarisation]/content`; the burst is the `burstIndex`-th of its burst list.
"""

import logging
import os
import time
from dataclasses import dataclass, replace

import requests

from hyp3_s1_m11m12 import network
from hyp3_s1_m11m12.errors import InvalidGranuleError, MetadataError
from hyp3_s1_m11m12.sentinel1.annotation import Burst, SwathAnnotation, parse_annotation, parse_xml
from hyp3_s1_m11m12.sentinel1.names import cross_checked_relative_orbit, parse_burst_name, parse_scene_name
from hyp3_s1_m11m12.sentinel1.remote import (
    EarthdataSession,
    RemoteAccessError,
    describe_http_status,
    describe_request_error,
    earthdata_session,
    is_login_page,
    login_url,
)
from hyp3_s1_m11m12.sentinel1.safe import check_member_size


log = logging.getLogger(__name__)

ASF_SEARCH_HOST: str | None = None  # None: asf_search's default (CMR, cmr.earthdata.nasa.gov)
ASF_SEARCH_HOST_ENV = 'HYP3_S1_M11M12_ASF_SEARCH_HOST'
BURST_TIME_TOLERANCE_S = 1.0  # the granule name keeps whole seconds of the burst's azimuth time
# ASF's extractor answers 202 while it cuts a burst nobody asked for before; asf_search waits 90 s, burst2safe 120 s.
EXTRACTION_WAIT_S_ENV = 'HYP3_S1_M11M12_BURST_EXTRACTION_WAIT_S'
EXTRACTION_WAIT_S = 120.0
EXTRACTION_FIRST_POLL_S = 2.0
EXTRACTION_MAX_POLL_S = 15.0
# ASF's burst XML holds the swath's annotation, noise, calibration and manifest: a few MB, never this much.
MAX_BURST_XML_BYTES = 64 * 1024 * 1024
# The Earthdata Login authorisation that sets the asf-urs cookie the extractor needs (asf_search, hyp3-isce2).
ASF_URS_CLIENT_ID = 'BO_n7nTIlMljdvU6kRRB3g'
ASF_AUTH_LOGIN_URL_ENV = 'HYP3_S1_M11M12_ASF_AUTH_LOGIN_URL'
ASF_AUTH_LOGIN_URL = 'https://auth.asf.alaska.edu/login'
ASF_URS_COOKIE = 'asf-urs'


@dataclass(frozen=True)
class BurstLocation:
    """What ASF's search says about a burst granule."""

    granule: str
    scene_name: str  # the SLC the burst was cut from
    metadata_url: str  # ASF's burst XML
    burst_index: int
    swath: str
    polarization: str
    relative_burst_id: int
    absolute_orbit: int | None
    track: int | None = None  # ASF's pathNumber (relative orbit)


@dataclass(frozen=True)
class BurstMetadata:
    granule: str
    scene_name: str
    annotation: SwathAnnotation  # the whole swath's annotation
    burst: Burst  # the granule's burst
    bytes_read: int = 0  # of the burst XML


def locate_burst(
    granule: str, *, search_host: str | None = None, session: requests.Session | None = None
) -> BurstLocation:
    """Search ASF (CMR) for a burst granule with asf_search.

    Raises:
        InvalidGranuleError: not a burst name, or not found; MetadataError: the search failed or is incomplete.
    """
    import asf_search

    network.quiet_third_party_loggers()
    name = parse_burst_name(granule).name
    host = search_host or os.environ.get(ASF_SEARCH_HOST_ENV) or ASF_SEARCH_HOST
    options = asf_search.ASFSearchOptions(**({'host': host} if host else {}))
    try:
        results = asf_search.search(granule_list=[name], opts=options, session=session)
    except (asf_search.ASFError, asf_search.CMRError, requests.RequestException, ValueError) as error:
        raise MetadataError(
            f'the ASF search for {name} failed ({type(error).__name__}: {error}); try again later'
        ) from None
    products = [product for product in results if product.properties.get('fileID') == name] or list(results)
    if not products:
        raise InvalidGranuleError(f'ASF has no burst granule {name}; check the name (search.asf.alaska.edu)')
    product = products[0]
    properties = product.properties
    burst = properties.get('burst') or {}
    urls = properties.get('additionalUrls') or []
    inputs = product.umm.get('InputGranules') or []
    try:
        scene_name = parse_scene_name(str(inputs[0]).split('-')[0]).name
        location = BurstLocation(
            granule=name,
            scene_name=scene_name,
            metadata_url=str(urls[0]),
            burst_index=int(burst['burstIndex']),
            swath=str(burst['subswath']).upper(),
            polarization=str(properties['polarization']).upper(),
            relative_burst_id=int(burst['relativeBurstID']),
            absolute_orbit=int(properties['orbit']) if properties.get('orbit') is not None else None,
            track=int(properties['pathNumber']) if properties.get('pathNumber') is not None else None,
        )
    except (IndexError, KeyError, TypeError, ValueError, InvalidGranuleError):
        raise MetadataError(
            f'the ASF search result for {name} lacks the burst index, swath, source SLC or metadata URL; '
            'try again later or report it to ASF'
        ) from None
    return location


def annotation_from_burst_xml(data: bytes, swath: str, polarization: str, source: str) -> SwathAnnotation:
    """The swath annotation inside ASF's burst XML (parsed without resolving entities)."""
    root = parse_xml(data, source)
    for product in root.findall('metadata/product'):
        if (product.findtext('swath') or '').strip() == swath and (
            product.findtext('polarisation') or ''
        ).strip().upper() == polarization:
            content = product.find('content')
            if content is None:
                break
            return parse_annotation(content, f'{source}:{swath}/{polarization}')
    raise MetadataError(
        f'{source} has no product annotation for {swath} {polarization}; it is not an ASF burst XML of this burst'
    )


def extraction_wait_s() -> float:
    text = os.environ.get(EXTRACTION_WAIT_S_ENV, '').strip()
    try:
        return float(text) if text else EXTRACTION_WAIT_S
    except ValueError:
        raise network.NetworkSettingError(f'{EXTRACTION_WAIT_S_ENV}={text!r} is not a number of seconds') from None


def obtain_asf_urs_cookie(session: EarthdataSession) -> str | None:
    """The asf-urs cookie ASF's burst extractor needs, from one Earthdata Login authorisation (as asf_search does).

    With only a token this is the one way to get it; with a username and password or a netrc it is the same login.

    Returns:
        None when the cookie is set, else why not (the extractor may still accept the credentials themselves).
    """
    if ASF_URS_COOKIE in session.cookies:
        return None
    if session.credentials == 'none':  # nothing to log in with: the extractor's answer says what to set
        return None
    redirect = os.environ.get(ASF_AUTH_LOGIN_URL_ENV) or ASF_AUTH_LOGIN_URL
    url = f'{login_url()}/oauth/authorize'
    session.trust(redirect)
    params = {'splash': 'false', 'client_id': ASF_URS_CLIENT_ID, 'response_type': 'code', 'redirect_uri': redirect}
    try:
        response = session.get(url, params=params)
    except requests.RequestException as error:
        return describe_request_error(url, error)
    if ASF_URS_COOKIE in session.cookies:
        log.info(f'Earthdata Login set the {ASF_URS_COOKIE} cookie for the ASF burst extractor')
        return None
    if response.status_code == 200 and is_login_page(response):
        answer = 'its login or "approve application" page'
    else:
        answer = f'HTTP {response.status_code}'
    reason = (
        f'Earthdata Login answered {answer} and set no {ASF_URS_COOKIE} cookie with the {session.credentials} '
        'credentials given'
    )
    log.warning(f'{reason}; trying the burst extractor without it')
    return reason


def fetch_burst_xml(url: str, session: requests.Session, *, wait_s: float | None = None) -> bytes:
    """ASF's burst XML, waiting while the extractor answers 202 (extraction in progress).

    Raises:
        RemoteAccessError: unreachable, refused, an HTML page, still extracting after `wait_s`, or too large.
    """
    wait_s = extraction_wait_s() if wait_s is None else wait_s
    started = time.monotonic()
    delay = EXTRACTION_FIRST_POLL_S
    while True:
        try:
            with session.get(url, stream=True) as response:
                if response.status_code >= 400:
                    raise RemoteAccessError(describe_http_status(url, response, session))
                if response.status_code == 200:
                    if is_login_page(response):
                        raise RemoteAccessError(
                            f'{url}: Earthdata Login answered with a web page instead of the burst metadata; log in '
                            'at https://urs.earthdata.nasa.gov and approve the ASF application, then rerun'
                        )
                    return _bounded_body(url, response)
                if response.status_code != 202:
                    raise RemoteAccessError(describe_http_status(url, response, session))
        except requests.RequestException as error:
            raise RemoteAccessError(describe_request_error(url, error)) from None
        waited = time.monotonic() - started
        if waited + delay > wait_s:
            raise RemoteAccessError(
                f'{url}: ASF is still extracting the burst after {waited:.0f} s (HTTP 202); rerun later, or raise '
                f'{EXTRACTION_WAIT_S_ENV} (now {wait_s:g} s)'
            )
        log.info(f'ASF is extracting the burst ({url.rsplit("/", 3)[-3]}, HTTP 202); asking again in {delay:.0f} s')
        time.sleep(delay)
        delay = min(2 * delay, EXTRACTION_MAX_POLL_S)


def _bounded_body(url: str, response: requests.Response) -> bytes:
    length = response.headers.get('Content-Length', '')
    if length.isdigit():
        check_member_size(url, int(length), MAX_BURST_XML_BYTES)
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(1 << 20):
            size += len(chunk)
            check_member_size(url, size, MAX_BURST_XML_BYTES)
            chunks.append(chunk)
    except requests.RequestException as error:
        raise RemoteAccessError(describe_request_error(url, error)) from None
    if length.isdigit() and size != int(length):
        raise RemoteAccessError(f'{url}: the burst metadata was cut short ({size} of {length} bytes); try again')
    return b''.join(chunks)


def read_burst_metadata(
    granule: str,
    *,
    token: str | None = None,
    search_host: str | None = None,
    polarization: str | None = None,
    search_session: requests.Session | None = None,
) -> BurstMetadata:
    """Locate a burst granule with asf_search and read its geometry from ASF's burst XML.

    Raises:
        InvalidGranuleError, MetadataError: unknown burst, failed download, inconsistent metadata.
    """
    name = parse_burst_name(granule)
    if polarization is not None and polarization.upper() != name.polarization:
        raise InvalidGranuleError(f'{name.name} is a {name.polarization} burst; do not ask for {polarization}')
    location = locate_burst(name.name, search_host=search_host, session=search_session)
    session = earthdata_session(token)
    session.trust(location.metadata_url)
    cookie_problem = obtain_asf_urs_cookie(session)
    log.info(f'{name.name}: downloading the burst metadata from {location.metadata_url}')
    try:
        data = fetch_burst_xml(location.metadata_url, session)
    except RemoteAccessError as error:
        if cookie_problem is None or 'access denied' not in str(error):
            raise
        raise RemoteAccessError(
            f'{location.metadata_url}: the ASF burst extractor refused access: it needs the {ASF_URS_COOKIE} cookie '
            f'of an Earthdata login, and {cookie_problem}; check the credentials, approve the ASF application at '
            'https://urs.earthdata.nasa.gov (Applications > Authorized Apps), or set EARTHDATA_USERNAME and '
            'EARTHDATA_PASSWORD'
        ) from None
    log.info(f'{name.name}: read {network.format_bytes(len(data))} of burst metadata')
    annotation = annotation_from_burst_xml(data, location.swath, location.polarization, location.metadata_url)
    track = cross_checked_relative_orbit(
        annotation.mission, annotation.absolute_orbit, location.track, f'the ASF search result for {name.name}'
    )
    annotation = annotation.with_track(track)
    if not 0 <= location.burst_index < len(annotation.bursts):
        raise MetadataError(
            f'{name.name}: burst index {location.burst_index} is outside the {len(annotation.bursts)} bursts of '
            f'{location.metadata_url}'
        )
    burst = annotation.bursts[location.burst_index]
    if burst.relative_burst_id is None:  # annotation before IPF 3.40: ASF computed the id
        burst = replace(burst, relative_burst_id=name.relative_burst_id)
    elif burst.relative_burst_id != name.relative_burst_id:
        raise MetadataError(
            f'{name.name}: the annotation gives burst id {burst.relative_burst_id} to burst {location.burst_index}, '
            f'the granule name {name.relative_burst_id}; report it to ASF'
        )
    if abs((burst.sensing_start - name.start).total_seconds()) > BURST_TIME_TOLERANCE_S:
        raise MetadataError(
            f'{name.name}: the burst starts at {burst.sensing_start}, not at the time in its name; report it to ASF'
        )
    bursts = list(annotation.bursts)
    bursts[location.burst_index] = burst
    annotation = replace(annotation, bursts=tuple(bursts))
    log.info(
        f'{name.name}: burst {location.burst_index} of {location.swath} {location.polarization} in {location.scene_name}'
    )
    return BurstMetadata(
        granule=name.name, scene_name=location.scene_name, annotation=annotation, burst=burst, bytes_read=len(data)
    )
