"""Earthdata credentials: from the environment into ~/.netrc, never printed or logged.

The sessions that read ASF (sentinel1/remote.py) use EARTHDATA_TOKEN, else EARTHDATA_USERNAME/EARTHDATA_PASSWORD
directly (sent only to Earthdata Login), else the netrc: an existing netrc without an Earthdata entry no longer
hides the environment's credentials. The warning about missing credentials is given where ASF is read, not here.
"""

import logging
import os
from pathlib import Path

from hyp3_s1_m11m12.errors import UserFacingError


log = logging.getLogger(__name__)

EARTHDATA_LOGIN_DOMAIN = 'urs.earthdata.nasa.gov'


class CredentialsError(UserFacingError):
    """Credentials that are incomplete or cannot be stored."""


def write_earthdata_credentials(username: str | None, password: str | None) -> Path | None:
    """Write Earthdata credentials to ~/.netrc with mode 0600 through hyp3lib.

    An existing ~/.netrc is kept untouched (hyp3lib logs a warning), as HyP3 plugins do.

    Returns:
        The netrc path when credentials were given, else None.

    Raises:
        CredentialsError: only one of the two was given, one of them contains white space
            (netrc cannot hold it), or the netrc cannot be written.
    """
    if not username and not password:
        return None
    if not username or not password:
        missing = 'EARTHDATA_PASSWORD' if username else 'EARTHDATA_USERNAME'
        raise CredentialsError(f'{missing} is not set: set both EARTHDATA_USERNAME and EARTHDATA_PASSWORD, or neither')
    if any(character.isspace() for character in username + password):
        raise CredentialsError(
            'EARTHDATA_USERNAME or EARTHDATA_PASSWORD contains white space, which a netrc file cannot hold; '
            'use an Earthdata token or fix the variables'
        )

    from hyp3lib.fetch import write_credentials_to_netrc_file

    netrc = Path.home() / '.netrc'
    try:
        if netrc.exists():
            write_credentials_to_netrc_file(username, password, domain=EARTHDATA_LOGIN_DOMAIN, append=False)
        else:
            # Create it private first, so the password is never in a world-readable file, even briefly.
            os.close(os.open(netrc, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            write_credentials_to_netrc_file(username, password, domain=EARTHDATA_LOGIN_DOMAIN, append=True)
    except OSError as error:
        raise CredentialsError(f'cannot write {netrc} ({error.strerror}); make the home directory writable') from None
    return netrc


def missing_credentials_message(netrc_has_entry: bool | None) -> str:
    """What to say when ASF is about to be read with no Earthdata credentials at all.

    Args:
        netrc_has_entry: whether the netrc has an Earthdata Login entry (None: there is no netrc).
    """
    where = (
        'the existing ~/.netrc has no urs.earthdata.nasa.gov entry'
        if netrc_has_entry is False
        else 'there is no ~/.netrc'
    )
    return (
        f'no Earthdata credentials ({where}, and neither EARTHDATA_TOKEN nor EARTHDATA_USERNAME/EARTHDATA_PASSWORD '
        'is set): reading Sentinel-1 metadata from ASF will be refused; set one of them'
    )
