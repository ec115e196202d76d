"""ASF's real redirect chain on 127.0.0.1 (datapool -> TEA -> Earthdata Login -> pre-signed S3) for every kind of
Earthdata credentials, one login per job, and the 8 GB ZIP64 archives ASF serves."""

import pytest

from hyp3_s1_m11m12.sentinel1 import remote
from hyp3_s1_m11m12.sentinel1.acquisition import open_acquisition
from hyp3_s1_m11m12.sentinel1.pairing import repeat_time
from hyp3_s1_m11m12.sentinel1.remote import RemoteAccessError, earthdata_session
from hyp3_s1_m11m12.simulate.acquisition import synthetic_scene
from hyp3_s1_m11m12.simulate.safe import safe_members
from tests.support.sentinel1_http import AsfChain, virtual_zip64


TOKEN = 'chain-token'
USER = ('earthdata-user', 'earthdata-password')
EIGHT_GB = 8 * 1024**3


@pytest.fixture(scope='module')
def pair_zips():
    """Both scenes of a 12-day pair as ZIP64 archives whose measurement members make them 8 GB each."""
    reference = synthetic_scene()
    secondary = reference.repeat()
    archives = {}
    for scene in (reference, secondary):
        members = {f'{scene.name}.SAFE/{name}': data for name, data in safe_members(scene).items()}
        large = {name: EIGHT_GB // 6 for name in members if name.split('/')[1] == 'measurement'}
        archives[scene.name] = virtual_zip64({k: v for k, v in members.items() if k not in large}, large)
    return reference, secondary, archives


@pytest.fixture
def chain(monkeypatch, tmp_path):
    empty = tmp_path / 'netrc'
    empty.write_text('')
    monkeypatch.setenv('NETRC', str(empty))
    monkeypatch.delenv('EARTHDATA_TOKEN', raising=False)
    asf = AsfChain(token=TOKEN, basic=USER)
    asf.start()
    monkeypatch.setenv(remote.AUTH_HOSTS_ENV, asf.auth_hosts)
    monkeypatch.setenv(remote.EARTHDATA_LOGIN_URL_ENV, asf.urs_url)
    yield asf
    asf.stop()


def _serve(chain, pair_zips):
    reference, secondary, archives = pair_zips
    for scene in (reference, secondary):
        chain.serve(f'/S1A/{scene.name}.zip', archives[scene.name])
    return reference, secondary


def _open_pair(chain, reference, secondary, **kwargs):
    acquisitions = [
        open_acquisition(scene.name, orbit='annotation', download_base_url=chain.datapool_url, **kwargs)
        for scene in (reference, secondary)
    ]
    return repeat_time(*acquisitions)


def _no_credentials_reached_s3(chain):
    assert chain.s3.requests, 'the chain was not followed to S3'
    assert not any(chain.s3.authorization_headers)


def _patch_download_path(monkeypatch):
    # hyp3lib's URL is /SLC/SA/<name>.zip; the chain serves /S1A/<name>.zip at the datapool stand-in
    monkeypatch.setattr(remote, 'scene_download_url', lambda name, base=None: f'{base}/S1A/{name}.zip')


def test_token_only_through_the_datapool_chain(chain, pair_zips, monkeypatch):
    """The bearer token survives datapool -> TEA (another host) and never reaches S3."""
    _patch_download_path(monkeypatch)
    reference, secondary = _serve(chain, pair_zips)
    pair = _open_pair(chain, reference, secondary, token=TOKEN)
    assert pair.dt_seconds == pytest.approx(12 * 86400, abs=1.0)
    _no_credentials_reached_s3(chain)
    assert chain.logins == 0  # TEA takes the token itself
    assert all(header == f'Bearer {TOKEN}' for header in chain.tea.authorization_headers)


@pytest.mark.parametrize('kind', ['username/password', 'netrc'])
def test_login_once_per_job_for_both_scenes(kind, chain, pair_zips, monkeypatch, tmp_path):
    _patch_download_path(monkeypatch)
    if kind == 'netrc':
        netrc = tmp_path / 'netrc-with-entry'
        netrc.write_text(f'machine 127.0.0.1 login {USER[0]} password {USER[1]}\n')
        netrc.chmod(0o600)
        monkeypatch.setenv('NETRC', str(netrc))
    else:
        monkeypatch.setenv('EARTHDATA_USERNAME', USER[0])
        monkeypatch.setenv('EARTHDATA_PASSWORD', USER[1])
    reference, secondary = _serve(chain, pair_zips)
    pair = _open_pair(chain, reference, secondary)
    assert pair.dt_seconds == pytest.approx(12 * 86400, abs=1.0)
    assert chain.logins == 1  # the cookie of the first login serves the second scene
    assert earthdata_session().counter.login_count == 1
    _no_credentials_reached_s3(chain)
    if kind == 'username/password':  # the password goes to Earthdata Login only
        assert not any(chain.datapool.authorization_headers + chain.tea.authorization_headers)


def test_eight_gb_zip64_reads_a_few_hundred_kb(chain, pair_zips, monkeypatch):
    _patch_download_path(monkeypatch)
    reference, _ = _serve(chain, pair_zips)
    assert len(pair_zips[2][reference.name]) > EIGHT_GB - 1024
    open_acquisition(reference.name, orbit='annotation', token=TOKEN, download_base_url=chain.datapool_url)
    counter = earthdata_session(TOKEN).counter
    assert counter.bytes < 2_000_000
    assert chain.s3.bytes_sent < 2_000_000
    assert counter.request_count <= 12


def test_unapproved_application_is_named(chain, pair_zips, monkeypatch):
    """Earthdata's approve-application page comes with HTTP 200: not a 'no range requests' server."""
    _patch_download_path(monkeypatch)
    chain.approved = False
    monkeypatch.setenv('EARTHDATA_USERNAME', USER[0])
    monkeypatch.setenv('EARTHDATA_PASSWORD', USER[1])
    reference, _ = _serve(chain, pair_zips)
    with pytest.raises(RemoteAccessError, match='application is not approved') as error:
        open_acquisition(reference.name, orbit='annotation', download_base_url=chain.datapool_url)
    assert 'range requests' not in str(error.value)


def test_expired_token_is_named(chain, pair_zips, monkeypatch):
    _patch_download_path(monkeypatch)
    reference, _ = _serve(chain, pair_zips)
    with pytest.raises(RemoteAccessError, match='token was refused: it has probably expired'):
        open_acquisition(reference.name, orbit='annotation', token='expired', download_base_url=chain.datapool_url)


def test_netrc_without_an_earthdata_entry_is_named(chain, pair_zips, monkeypatch, tmp_path):
    _patch_download_path(monkeypatch)
    netrc = tmp_path / 'other-netrc'
    netrc.write_text('machine example.org login someone password something\n')
    netrc.chmod(0o600)
    monkeypatch.setenv('NETRC', str(netrc))
    reference, _ = _serve(chain, pair_zips)
    with pytest.raises(RemoteAccessError, match='exists but has no entry for'):
        open_acquisition(reference.name, orbit='annotation', download_base_url=chain.datapool_url)


def test_environment_credentials_win_over_a_netrc_without_entry(chain, pair_zips, monkeypatch, tmp_path):
    """The old behaviour: an existing ~/.netrc without an Earthdata entry silently hid EARTHDATA_USERNAME/PASSWORD."""
    _patch_download_path(monkeypatch)
    netrc = tmp_path / 'other-netrc'
    netrc.write_text('machine example.org login someone password something\n')
    netrc.chmod(0o600)
    monkeypatch.setenv('NETRC', str(netrc))
    monkeypatch.setenv('EARTHDATA_USERNAME', USER[0])
    monkeypatch.setenv('EARTHDATA_PASSWORD', USER[1])
    reference, _ = _serve(chain, pair_zips)
    acquisition = open_acquisition(reference.name, orbit='annotation', download_base_url=chain.datapool_url)
    assert acquisition.granule == reference.name and chain.logins == 1


def test_credentials_are_never_sent_to_amazonaws():
    session = remote.EarthdataSession(token=TOKEN)
    assert not session.may_receive_credentials('https://bucket.s3.us-west-2.amazonaws.com/x.zip?X-Amz-Signature=1')
    assert session.may_receive_credentials('https://datapool.asf.alaska.edu/SLC/SA/x.zip')
    assert session.may_receive_credentials('https://urs.earthdata.nasa.gov/oauth/authorize')
    assert not session.may_receive_credentials('https://example.org/x.zip')


def test_missing_credentials_warning_only_where_asf_is_read(chain, pair_zips, monkeypatch, tmp_path, caplog):
    _patch_download_path(monkeypatch)
    from hyp3_s1_m11m12.simulate.safe import write_synthetic_safe

    reference, _ = _serve(chain, pair_zips)
    with caplog.at_level('WARNING'):
        open_acquisition(write_synthetic_safe(reference, tmp_path / 'local'), orbit='annotation')
    assert 'no Earthdata credentials' not in caplog.text  # a local input reads nothing from ASF
    with caplog.at_level('WARNING'), pytest.raises(RemoteAccessError, match='access denied'):
        open_acquisition(reference.name, orbit='annotation', download_base_url=chain.datapool_url)
    assert caplog.text.count('no Earthdata credentials') == 1
