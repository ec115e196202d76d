"""Every test here starts without a job session (logins, cookies) and with a fast, local-only network policy."""

import pytest

from hyp3_s1_m11m12.sentinel1 import remote


@pytest.fixture(autouse=True)
def fresh_network(monkeypatch):
    remote.reset_job_sessions()
    monkeypatch.setenv('HYP3_S1_M11M12_BACKOFF_S', '0.01')
    monkeypatch.setenv('HYP3_S1_M11M12_CONNECT_TIMEOUT_S', '5')
    monkeypatch.setenv('HYP3_S1_M11M12_READ_TIMEOUT_S', '5')
    # Never the real Earthdata Login: a closed port on 127.0.0.1 unless a test starts a stand-in.
    monkeypatch.setenv(remote.EARTHDATA_LOGIN_URL_ENV, 'http://127.0.0.1:9')
    monkeypatch.setenv('HYP3_S1_M11M12_BURST_EXTRACTION_WAIT_S', '5')
    for name in (remote.EARTHDATA_USERNAME_ENV, remote.EARTHDATA_PASSWORD_ENV):
        monkeypatch.delenv(name, raising=False)
    yield
    remote.reset_job_sessions()
