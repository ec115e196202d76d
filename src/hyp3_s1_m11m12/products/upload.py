"""Upload a run's products to S3 as HyP3 does (hyp3lib's client, content types and file_type tags), all or none.

Every object is tracked from the moment its PUT succeeds, before it is tagged, so a refused PutObjectTagging, a
failed PUT, an interrupt or SIGTERM always rolls back what reached the bucket. The error then states exactly what is
left there: nothing, or the keys DeleteObject refused to remove. The NetCDF goes last, so whoever waits for it finds
the rest already there. hyp3lib.aws creates its S3 client when imported, so it is imported only when needed.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from hyp3_s1_m11m12.errors import UploadError
from hyp3_s1_m11m12.staging import add_cleanup_note


log = logging.getLogger(__name__)

# hyp3lib's multipart settings (upload_file_to_s3's default chunk size).
MULTIPART_CHUNK_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class UploadReport:
    bucket: str
    keys: tuple[str, ...]
    bytes_uploaded: int

    def describe(self) -> str:
        return (
            f'Uploaded {len(self.keys)} files ({self.bytes_uploaded / 1e6:.1f} MB) to s3://{self.bucket}/'
            f'{PurePosixPath(self.keys[0]).parent if self.keys else ""}'
        )


def object_key(prefix: str, path: Path) -> str:
    """The key hyp3lib gives a file: prefix/name (no leading slash for an empty prefix)."""
    return str(PurePosixPath(prefix) / path.name) if prefix else path.name


def _error_text(error: BaseException) -> str:
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        details = error.response.get('Error', {})
        return f'{details.get("Code", "error")}: {details.get("Message", error)}'
    return str(error) or type(error).__name__


def _abort_multipart_uploads(client: Any, bucket: str, key: str) -> None:
    """An interrupted multipart upload leaves its parts in the bucket (and on the bill) until aborted."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        listing = client.list_multipart_uploads(Bucket=bucket, Prefix=key)
        for upload in listing.get('Uploads', []):
            if upload['Key'] == key:
                client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload['UploadId'])
    except (BotoCoreError, ClientError) as error:
        log.warning('Could not check s3://%s/%s for an unfinished multipart upload: %s', bucket, key, error)


def roll_back(client: Any, bucket: str, keys: Sequence[str], uncertain: str | None = None) -> str:
    """Delete `keys` (and `uncertain`, a key whose PUT may or may not have landed); say what is left, in words.

    Returns e.g. 'nothing was left in the bucket' or '2 objects are left in the bucket (DeleteObject refused:
    AccessDenied: ...): s3://b/k1, s3://b/k2; delete them by hand'.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    left: list[str] = []
    reasons: set[str] = set()
    candidates = list(keys)
    if uncertain is not None:
        _abort_multipart_uploads(client, bucket, uncertain)
        candidates.append(uncertain)
    for key in candidates:
        try:
            client.delete_object(Bucket=bucket, Key=key)
        except (BotoCoreError, ClientError) as error:
            if key == uncertain and _absent(client, bucket, key):
                continue  # it never landed: nothing to remove
            left.append(key)
            reasons.add(_error_text(error))
    if not left:
        removed = len(keys)
        return (
            f'removed the {removed} object(s) already uploaded, nothing was left in the bucket'
            if removed
            else ('nothing was left in the bucket')
        )
    return (
        f'{len(left)} object(s) are left in the bucket (DeleteObject failed: {"; ".join(sorted(reasons))}): '
        f'{", ".join(f"s3://{bucket}/{key}" for key in left)}; delete them by hand'
    )


def _absent(client: Any, bucket: str, key: str) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        return str(error.response.get('Error', {}).get('Code')) in ('404', 'NoSuchKey', 'NotFound')
    except BotoCoreError:
        return False
    return False


def upload_products(files: Sequence[Path], bucket: str, bucket_prefix: str = '') -> UploadReport:
    """Upload `files` in order (put the one others wait for last) to s3://bucket/prefix/; all or none.

    Raises:
        UploadError: a file is missing, or S3 refused or failed a request; the message says what is left in the
            bucket. On an interrupt or SIGTERM the objects are removed too and the interrupt propagates.
    """
    from boto3.exceptions import S3UploadFailedError
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import BotoCoreError, ClientError
    from hyp3lib import aws

    missing = [path for path in files if not path.is_file()]
    if missing:
        raise UploadError(f'cannot upload: {", ".join(map(str, missing))} missing; rerun the workflow')
    client = aws.S3_CLIENT
    config = TransferConfig(multipart_threshold=MULTIPART_CHUNK_BYTES, multipart_chunksize=MULTIPART_CHUNK_BYTES)
    uploaded: list[str] = []
    current: str | None = None
    total = 0
    try:
        for path in files:
            key = object_key(bucket_prefix, path)
            current = key
            log.info('Uploading s3://%s/%s', bucket, key)
            client.upload_file(str(path), bucket, key, {'ContentType': aws.get_content_type(key)}, Config=config)
            uploaded.append(key)  # in the bucket from here on, tagged or not
            current = None
            client.put_object_tagging(Bucket=bucket, Key=key, Tagging=aws.get_tag_set(path.name))
            total += path.stat().st_size
    except BaseException as error:
        left = roll_back(client, bucket, uploaded, current)
        where = f's3://{bucket}/{bucket_prefix}'
        if isinstance(error, BotoCoreError | ClientError | S3UploadFailedError):
            raise UploadError(
                f'uploading to {where} failed ({_error_text(error)}); {left}: check the bucket name, the AWS '
                'credentials and permissions (s3:PutObject, s3:PutObjectTagging) and the network, then rerun'
            ) from None
        log.warning('Upload to %s interrupted: %s', where, left)
        add_cleanup_note(error, f'the upload to {where} was rolled back: {left}')
        raise
    report = UploadReport(bucket=bucket, keys=tuple(uploaded), bytes_uploaded=total)
    log.info(report.describe())
    return report
