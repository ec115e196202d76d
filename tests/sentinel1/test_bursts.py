"""Burst granules: asf_search against a local HTTPS stand-in for CMR, and ASF's burst XML from a local server."""

import ipaddress
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import pytest

from hyp3_s1_m11m12.errors import InvalidGranuleError, MetadataError
from hyp3_s1_m11m12.sentinel1 import bursts as bursts_module
from hyp3_s1_m11m12.sentinel1.acquisition import open_acquisition
from hyp3_s1_m11m12.sentinel1.bursts import annotation_from_burst_xml, read_burst_metadata
from hyp3_s1_m11m12.sentinel1.pairing import repeat_time
from tests.support.sentinel1_http import LocalServer, Route, ServerState


SCENE = 'S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7'
GRANULE = 'S1_230134_IW2_20250406T022015_VV_93A7-BURST'
TOKEN = 'burst-token'


@pytest.fixture(scope='module')
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made with `cryptography` (a moto dependency), not the openssl CLI."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, '127.0.0.1')])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp('tls')
    key_path, cert_path = folder / 'key.pem', folder / 'cert.pem'
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def burst_xml(s1_dir, swath: str = 'IW2', polarization: str = 'VV') -> bytes:
    """ASF's combined burst XML: the swath's product annotation under metadata/product/content."""
    annotation = next(
        (s1_dir / f'{SCENE}.SAFE' / 'annotation').glob(f's1a-{swath.lower()}-slc-{polarization.lower()}-*.xml')
    )
    text = annotation.read_bytes()
    inner = text[text.index(b'<product>') + len(b'<product>') : text.rindex(b'</product>')]
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<burst><metadata>'
        + f'<product><swath>{swath}</swath><polarisation>{polarization}</polarisation><content>'.encode()
        + inner
        + b'</content></product><noise><swath>IW2</swath><polarisation>VV</polarisation><content/></noise>'
        + b'</metadata></burst>'
    )


def umm_item(granule: str, xml_url: str, burst_index: int = 2, relative_id: int = 230134) -> dict:
    def attribute(name, value):
        return {'Name': name, 'Values': [str(value)]}

    return {
        'meta': {'concept-id': 'G0000000001-ASF', 'native-id': granule},
        'umm': {
            'GranuleUR': granule,
            'CollectionReference': {'ShortName': 'SENTINEL-1_BURSTS'},
            'Platforms': [{'ShortName': 'SENTINEL-1A'}],
            'TemporalExtent': {
                'RangeDateTime': {
                    'BeginningDateTime': '2025-04-06T02:20:15.907Z',
                    'EndingDateTime': '2025-04-06T02:20:19.017Z',
                }
            },
            'AdditionalAttributes': [
                attribute('BURST_ID_FULL', f'108_{relative_id}_IW2'),
                attribute('BURST_ID_RELATIVE', relative_id),
                attribute('BURST_ID_ABSOLUTE', 125931168),
                attribute('BURST_INDEX', burst_index),
                attribute('SUBSWATH_NAME', 'IW2'),
                attribute('POLARIZATION', 'VV'),
                attribute('PATH_NUMBER', 108),
                attribute('ASCENDING_DESCENDING', 'ASCENDING'),
                attribute('PROCESSING_TYPE', 'BURST'),
            ],
            'OrbitCalculatedSpatialDomains': [{'OrbitNumber': 58630}],
            'InputGranules': [f'{SCENE}-SLC'],
            'RelatedUrls': [
                {'Type': 'USE SERVICE API', 'URL': f'{xml_url.rsplit("/", 1)[0]}/{burst_index}.tiff'},
                {'Type': 'USE SERVICE API', 'URL': xml_url},
            ],
            'DataGranule': {'Identifiers': [{'IdentifierType': 'ProducerGranuleId', 'Identifier': granule}]},
        },
    }


class FakeAsf:
    """A CMR stand-in (HTTPS, as asf_search requires) and ASF's burst metadata service (HTTP, Earthdata auth)."""

    def __init__(self, s1_dir, certificate, items=None):
        self.searches: list[dict] = []
        self.cmr = ServerState()
        self.cmr.routes['/search/granules.umm_json'] = Route(handler=self._search, content_type='application/json')
        self.xml = ServerState(token=TOKEN)
        self.xml.routes[f'/{SCENE}/IW2/VV/2.xml'] = Route(body=burst_xml(s1_dir), content_type='text/xml')
        self._cmr_server = LocalServer(self.cmr, certificate=certificate)
        self._xml_server = LocalServer(self.xml)
        self.items = items

    def _search(self, body: bytes) -> tuple[int, bytes]:
        query = parse_qs(body.decode())
        self.searches.append(query)
        names = query.get('readable_granule_name[]', []) + query.get('granule_ur[]', [])
        items = self.items if self.items is not None else [umm_item(GRANULE, self.xml_url)]
        found = [item for item in items if item['umm']['GranuleUR'] in names]
        return 200, json.dumps({'hits': len(found), 'took': 1, 'items': found}).encode()

    @property
    def xml_url(self) -> str:
        return f'{self._xml_server.url}/{SCENE}/IW2/VV/2.xml'

    @property
    def host(self) -> str:
        return self._cmr_server.host

    def __enter__(self):
        self._cmr_server.__enter__()
        self._xml_server.__enter__()
        return self

    def __exit__(self, *args):
        self._xml_server.__exit__(*args)
        self._cmr_server.__exit__(*args)


@pytest.fixture
def trust(certificate, monkeypatch):
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', str(certificate[0]))
    monkeypatch.delenv('EARTHDATA_TOKEN', raising=False)


def test_burst_granule_geometry(s1_dir, certificate, trust):
    with FakeAsf(s1_dir, certificate) as asf:
        acquisition = open_acquisition(GRANULE, orbit='annotation', token=TOKEN, burst_search_host=asf.host)
    assert asf.searches, 'asf_search did not query the local CMR'
    assert acquisition.granule == GRANULE
    assert len(acquisition.bursts) == 1
    burst = acquisition.bursts[0]
    assert burst.burst_id == '108_230134_IW2'
    assert burst.index == 2
    assert burst.sensing_start == datetime(2025, 4, 6, 2, 20, 15, 907917)
    assert acquisition.sensing_start == burst.sensing_start and acquisition.sensing_stop == burst.sensing_stop
    geometry = acquisition.radar_geometry()
    assert geometry.number_of_lines == burst.lines
    assert geometry.number_of_samples == burst.samples
    assert geometry.starting_range_m == pytest.approx(burst.starting_range_m)
    # the same burst in the SAFE
    safe = open_acquisition(s1_dir / f'{SCENE}.SAFE', orbit='annotation', swaths=['IW2'])
    assert safe.bursts[2].sensing_start == burst.sensing_start
    assert safe.bursts[2].starting_range_m == burst.starting_range_m
    lons, lats = zip(*acquisition.footprint_lonlat(), strict=True)
    assert len(lons) >= 5 and max(lats) - min(lats) < 0.5  # one burst is ~20 km long


def test_burst_search_host_from_the_environment(s1_dir, certificate, trust, monkeypatch):
    with FakeAsf(s1_dir, certificate) as asf:
        monkeypatch.setenv(bursts_module.ASF_SEARCH_HOST_ENV, asf.host)
        monkeypatch.setenv('EARTHDATA_TOKEN', TOKEN)
        metadata = read_burst_metadata(GRANULE)
    assert metadata.scene_name == SCENE
    assert metadata.burst.relative_burst_id == 230134


def test_burst_pair_with_the_slc(s1_dir, certificate, trust):
    """A burst granule and the next cycle's SLC: dt over the burst."""
    with FakeAsf(s1_dir, certificate) as asf:
        reference = open_acquisition(GRANULE, orbit='annotation', token=TOKEN, burst_search_host=asf.host)
    secondary = open_acquisition(
        s1_dir / 'S1A_IW_SLC__1SDV_20250418T022008_20250418T022035_058805_074946_C7D4.SAFE',
        orbit='annotation',
        swaths=['IW2'],
    )
    pair = repeat_time(reference, secondary)
    assert pair.matched_burst_id == '108_230134_IW2'
    assert 1036799.5 < pair.dt_seconds < 1036800.5


def test_unknown_burst(s1_dir, certificate, trust):
    with FakeAsf(s1_dir, certificate, items=[]) as asf, pytest.raises(InvalidGranuleError, match='ASF has no burst'):
        open_acquisition(GRANULE, orbit='annotation', token=TOKEN, burst_search_host=asf.host)


def test_burst_xml_needs_credentials(s1_dir, certificate, trust, tmp_path, monkeypatch):
    monkeypatch.setenv('NETRC', str(tmp_path / 'no-netrc'))
    with FakeAsf(s1_dir, certificate) as asf, pytest.raises(MetadataError, match='EARTHDATA_TOKEN'):
        open_acquisition(GRANULE, orbit='annotation', burst_search_host=asf.host)


def test_burst_id_mismatch(s1_dir, certificate, trust):
    with FakeAsf(s1_dir, certificate) as asf:
        asf.items = [umm_item(GRANULE, asf.xml_url, burst_index=3)]
        with pytest.raises(MetadataError, match='burst id 230135'):
            open_acquisition(GRANULE, orbit='annotation', token=TOKEN, burst_search_host=asf.host)


def test_burst_xml_without_the_swath(s1_dir):
    with pytest.raises(MetadataError, match='no product annotation for IW1 VV'):
        annotation_from_burst_xml(burst_xml(s1_dir), 'IW1', 'VV', 'burst.xml')


def test_hostile_burst_xml():
    data = b'<?xml version="1.0"?><!DOCTYPE b [<!ENTITY x "y">]><burst>&x;</burst>'
    with pytest.raises(MetadataError, match='refusing XML'):
        annotation_from_burst_xml(data, 'IW2', 'VV', 'burst.xml')


def test_wrong_polarization_for_a_burst():
    with pytest.raises(InvalidGranuleError, match='VV burst'):
        read_burst_metadata(GRANULE, polarization='HH')


@pytest.fixture
def extractor(s1_dir, monkeypatch, tmp_path):
    """ASF's burst extractor behind the asf-urs cookie, with Earthdata Login, on 127.0.0.1."""
    from tests.support.sentinel1_http import AsfChain

    empty = tmp_path / 'netrc'
    empty.write_text('')
    monkeypatch.setenv('NETRC', str(empty))
    chain = AsfChain(token=TOKEN)
    chain.start()
    monkeypatch.setenv('HYP3_S1_M11M12_AUTH_HOSTS', chain.auth_hosts)
    monkeypatch.setenv('HYP3_S1_M11M12_EARTHDATA_LOGIN_URL', chain.urs_url)
    monkeypatch.setenv(bursts_module.ASF_AUTH_LOGIN_URL_ENV, f'{chain.tea_url}/login')
    monkeypatch.setattr(bursts_module, 'EXTRACTION_FIRST_POLL_S', 0.05)
    yield chain
    chain.stop()


def test_extractor_answering_202_first_succeeds_on_the_first_run(s1_dir, certificate, trust, extractor, caplog):
    """A burst nobody asked for before: 202 twice, then the XML; a token alone gets the asf-urs cookie."""
    caplog.set_level('INFO')
    url = extractor.serve_extractor(f'/{SCENE}/IW2/VV/2.xml', burst_xml(s1_dir), pending=2)
    with FakeAsf(s1_dir, certificate, items=[umm_item(GRANULE, url)]) as asf:
        acquisition = open_acquisition(GRANULE, orbit='annotation', token=TOKEN, burst_search_host=asf.host)
    assert acquisition.bursts[0].burst_id == '108_230134_IW2'
    assert acquisition.track_source == 'ASF search'
    assert extractor.logins == 1  # the cookie login, once
    assert 'ASF is extracting the burst' in caplog.text
    assert [method for method, path, _ in extractor.tea.requests if path.endswith('2.xml')] == ['GET'] * 3
    assert not any('"items"' in record.getMessage() for record in caplog.records)  # asf_search kept quiet


def test_extractor_that_never_finishes(s1_dir, certificate, trust, extractor, monkeypatch):
    monkeypatch.setenv(bursts_module.EXTRACTION_WAIT_S_ENV, '0.4')
    url = extractor.serve_extractor(f'/{SCENE}/IW2/VV/2.xml', burst_xml(s1_dir), pending=10_000)
    with (
        FakeAsf(s1_dir, certificate, items=[umm_item(GRANULE, url)]) as asf,
        pytest.raises(
            MetadataError, match=r'still extracting the burst after \d+ s \(HTTP 202\); rerun later'
        ) as error,
    ):
        open_acquisition(GRANULE, orbit='annotation', token=TOKEN, burst_search_host=asf.host)
    assert '\n' not in str(error.value)


def test_token_that_cannot_get_the_cookie(s1_dir, certificate, trust, extractor):
    url = extractor.serve_extractor(f'/{SCENE}/IW2/VV/2.xml', burst_xml(s1_dir))
    with (
        FakeAsf(s1_dir, certificate, items=[umm_item(GRANULE, url)]) as asf,
        pytest.raises(
            MetadataError, match='needs the asf-urs cookie of an Earthdata login, and Earthdata Login answered HTTP 401'
        ),
    ):
        open_acquisition(GRANULE, orbit='annotation', token='expired-token', burst_search_host=asf.host)
