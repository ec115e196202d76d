"""Move granules and products between their locations (local, http(s)://, s3://) and a worker's scratch folder.

Every read follows the network policy (network.py: timeouts, retries). A local write goes to a temporary name then
is renamed; an S3 PUT is atomic (an object appears whole or not at all), so no reader ever sees half a granule.
"""

import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import botocore.exceptions
import requests

from hyp3_s1_m11m12 import network
from hyp3_s1_m11m12.errors import UserFacingError


class TransferError(UserFacingError):
    """A granule or product could not be fetched or stored."""


def _s3_parts(location: str) -> tuple[str, str]:
    parsed = urlparse(location)
    return parsed.netloc, parsed.path.lstrip('/')


def location_name(location: str) -> str:
    return PurePosixPath(urlparse(location).path).name


def fetch(location: str, folder: Path, s3_client: Callable[[], object]) -> Path:
    """A local path to the file at `location` (local paths are used where they are, others downloaded)."""
    scheme = urlparse(location).scheme
    if scheme not in ('s3', 'http', 'https'):
        path = Path(location)
        if not path.is_file():
            raise TransferError(f'{location} does not exist')
        return path
    destination = folder / location_name(location)
    try:
        if scheme == 's3':
            bucket, key = _s3_parts(location)
            s3_client().download_file(bucket, key, str(destination))  # type: ignore[attr-defined]
        else:
            with network.http_session() as session, session.get(location, stream=True) as response:
                response.raise_for_status()
                with destination.open('wb') as stream:
                    shutil.copyfileobj(response.raw, stream)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, requests.RequestException) as error:
        raise TransferError(f'cannot fetch {location} ({error})') from None
    return destination


def exists(location: str, s3_client: Callable[[], object]) -> bool:
    if urlparse(location).scheme != 's3':
        return Path(location).exists()
    bucket, key = _s3_parts(location)
    try:
        s3_client().head_object(Bucket=bucket, Key=key)  # type: ignore[attr-defined]
    except botocore.exceptions.ClientError as error:
        if error.response.get('Error', {}).get('Code') in ('404', 'NoSuchKey', 'NotFound'):
            return False
        raise TransferError(f'cannot look at {location} ({error})') from None
    return True


def store_s3(path: Path, location: str, s3_client: Callable[[], object], backup: str | None = None) -> None:
    """PUT `path` at `location`; first copy the object there to `backup` (in-place repair) unless it exists.

    The backup exists before the object is replaced; a run killed in between leaves the original at both keys.
    """
    bucket, key = _s3_parts(location)
    try:
        if backup is not None and not exists(backup, s3_client):
            backup_bucket, backup_key = _s3_parts(backup)
            s3_client().copy_object(  # type: ignore[attr-defined]
                Bucket=backup_bucket, Key=backup_key, CopySource={'Bucket': bucket, 'Key': key}
            )
        put_s3(path, location, s3_client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise TransferError(f'cannot store {location} ({error})') from None


def put_s3(path: Path, location: str, s3_client: Callable[[], object]) -> None:
    """Upload `path` to `location`: the object appears whole when the PUT (or the multipart upload) completes."""
    bucket, key = _s3_parts(location)
    s3_client().upload_file(str(path), bucket, key)  # type: ignore[attr-defined]
