import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hyp3_s1_m11m12.credentials import CredentialsError, write_earthdata_credentials


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv('HOME', str(tmp_path))
    return tmp_path


def test_netrc_created_with_mode_0600(home):
    assert write_earthdata_credentials('someone', 's3cret') == home / '.netrc'
    netrc = home / '.netrc'
    assert stat.S_IMODE(netrc.stat().st_mode) == 0o600
    assert netrc.read_text().split() == ['machine', 'urs.earthdata.nasa.gov', 'login', 'someone', 'password', 's3cret']


def test_existing_netrc_is_kept(home):
    existing = home / '.netrc'
    existing.write_text('machine example.com login a password b\n')
    existing.chmod(0o600)
    write_earthdata_credentials('someone', 's3cret')
    assert existing.read_text() == 'machine example.com login a password b\n'


def test_no_credentials_is_fine(home):
    assert write_earthdata_credentials(None, None) is None
    assert not (home / '.netrc').exists()


@pytest.mark.parametrize(
    ('username', 'password', 'message'),
    [
        ('someone', None, 'EARTHDATA_PASSWORD is not set'),
        (None, 's3cret', 'EARTHDATA_USERNAME is not set'),
        ('some one', 's3cret', 'white space'),
    ],
)
def test_unusable_credentials(home, username, password, message):
    with pytest.raises(CredentialsError, match=message):
        write_earthdata_credentials(username, password)
    assert not (home / '.netrc').exists()


def test_unwritable_home(tmp_path, monkeypatch):
    regular_file = tmp_path / 'not-a-directory'
    regular_file.write_text('')
    monkeypatch.setenv('HOME', str(regular_file))
    with pytest.raises(CredentialsError, match='cannot write'):
        write_earthdata_credentials('someone', 's3cret')


def _run_dispatcher(home: Path, **credentials: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith('EARTHDATA_')}
    environment.update(HOME=str(home), **credentials)
    return subprocess.run(
        [sys.executable, '-m', 'hyp3_s1_m11m12', '++process', 'geogrid', '-h'],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )


def test_dispatcher_writes_netrc_and_never_prints_the_password(tmp_path):
    result = _run_dispatcher(tmp_path, EARTHDATA_USERNAME='someone', EARTHDATA_PASSWORD='pa55word-xyz')
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((tmp_path / '.netrc').stat().st_mode) == 0o600
    assert 'pa55word-xyz' not in result.stdout + result.stderr


def test_dispatcher_keeps_existing_netrc_with_a_warning(tmp_path):
    (tmp_path / '.netrc').write_text('machine urs.earthdata.nasa.gov login old password old\n')
    result = _run_dispatcher(tmp_path, EARTHDATA_USERNAME='someone', EARTHDATA_PASSWORD='pa55word-xyz')
    assert result.returncode == 0, result.stderr
    assert (tmp_path / '.netrc').read_text() == 'machine urs.earthdata.nasa.gov login old password old\n'
    assert 'Using existing .netrc file' in result.stdout + result.stderr
    assert 'pa55word-xyz' not in result.stdout + result.stderr


def test_dispatcher_rejects_half_credentials_in_one_line(tmp_path):
    result = _run_dispatcher(tmp_path, EARTHDATA_USERNAME='someone')
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith('EARTHDATA_PASSWORD is not set: set both EARTHDATA_USERNAME and EARTHDATA_PASSWORD, or neither')
    )
