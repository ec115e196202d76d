"""ASF burst granules: locate a burst with asf_search, then read ASF's burst XML (the swath's annotation).

ASF's burst XML (the `additionalUrls` of an SLC-BURST search result) holds the product annotation of the whole
swath under `metadata/product[swath, polarisation]/content`; the burst is the `burstIndex`-th of its burst list.
"""

import logging
import os
from dataclasses import dataclass, replace

import requests

from hyp3_s1_m11m12.errors import InvalidGranuleError, MetadataError
from hyp3_s1_m11m12.sentinel1.annotation import Burst, SwathAnnotation, parse_annotation, parse_xml
from hyp3_s1_m11m12.sentinel1.names import parse_burst_name, parse_scene_name
from hyp3_s1_m11m12.sentinel1.remote import HTTP_TIMEOUT_S, RemoteAccessError, describe_http_status, earthdata_session


log = logging.getLogger(__name__)

ASF_SEARCH_HOST: str | None = None  # None: asf_search's default (CMR, cmr.earthdata.nasa.gov)
ASF_SEARCH_HOST_ENV = 'HYP3_S1_M11M12_ASF_SEARCH_HOST'
BURST_TIME_TOLERANCE_S = 1.0  # the granule name keeps whole seconds of the burst's azimuth time


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


@dataclass(frozen=True)
class BurstMetadata:
    granule: str
    scene_name: str
    annotation: SwathAnnotation  # the whole swath's annotation
    burst: Burst  # the granule's burst


def locate_burst(
    granule: str, *, search_host: str | None = None, session: requests.Session | None = None
) -> BurstLocation:
    """Search ASF (CMR) for a burst granule with asf_search.

    Raises:
        InvalidGranuleError: not a burst name, or not found; MetadataError: the search failed or is incomplete.
    """
    import asf_search

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


def fetch_burst_xml(url: str, session: requests.Session) -> bytes:
    try:
        response = session.get(url, timeout=HTTP_TIMEOUT_S)
    except requests.RequestException as error:
        raise RemoteAccessError(f'{url}: cannot download the burst metadata ({type(error).__name__})') from None
    if response.status_code >= 400:
        raise RemoteAccessError(describe_http_status(url, response))
    content: bytes = response.content
    return content


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
    data = fetch_burst_xml(location.metadata_url, session)
    annotation = annotation_from_burst_xml(data, location.swath, location.polarization, location.metadata_url)
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
    return BurstMetadata(granule=name.name, scene_name=location.scene_name, annotation=annotation, burst=burst)
