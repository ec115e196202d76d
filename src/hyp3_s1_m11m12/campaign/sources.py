"""Granule locations from what an operator gives: paths, http(s):// or s3:// URLs, S3 prefixes, files of them."""

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

import botocore.exceptions

from hyp3_s1_m11m12.errors import UserFacingError
from hyp3_s1_m11m12.products.granules.report import read_granule_list


GRANULE_SUFFIX = '.nc'


def is_s3_prefix(location: str) -> bool:
    """An s3:// URL that names a folder (ends in /, or not in .nc) rather than one granule."""
    parsed = urlparse(location)
    return parsed.scheme == 's3' and not parsed.path.endswith(GRANULE_SUFFIX)


def list_s3_granules(prefix: str, s3_client: object) -> list[str]:
    """Every s3://bucket/key ending in .nc under `prefix` (sorted by key).

    Raises:
        UserFacingError: the bucket does not exist or cannot be listed.
    """
    parsed = urlparse(prefix)
    bucket, key_prefix = parsed.netloc, parsed.path.lstrip('/')
    paginator = s3_client.get_paginator('list_objects_v2')  # type: ignore[attr-defined]
    keys: list[str] = []
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=key_prefix):
            keys.extend(item['Key'] for item in page.get('Contents', []) if item['Key'].endswith(GRANULE_SUFFIX))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise UserFacingError(f'cannot list {prefix} ({error}); check the bucket name and your access') from None
    return [f's3://{bucket}/{key}' for key in sorted(keys)]


def expand_locations(given: Sequence[str], from_files: Sequence[Path], s3_client: object) -> list[str]:
    """Granule locations, S3 prefixes listed, duplicates dropped (first occurrence kept)."""
    locations: list[str] = []
    for path in from_files:
        locations += read_granule_list(path)
    locations += list(given)
    expanded: list[str] = []
    for location in locations:
        expanded += list_s3_granules(location, s3_client) if is_s3_prefix(location) else [location]
    unique = list(dict.fromkeys(expanded))
    if not unique:
        raise UserFacingError('no granule given: pass paths, URLs, s3:// prefixes, or --from-file with one per line')
    return unique
