"""Uploads to moto's S3 server behind an IAM-like proxy: all or none, and an error that says what is left."""

from pathlib import Path

import pytest

from hyp3_s1_m11m12.errors import UploadError
from hyp3_s1_m11m12.products.upload import object_key, upload_products
from tests.support import s3 as s3_support
from tests.support.s3 import Bucket


s3 = s3_support.s3  # the fixture

NAMES = ('A_X_B_window_location.tif', 'A_X_B_conversion_matrices.png', 'A_X_B_conversion_matrices.nc')


def product_files(folder: Path) -> list[Path]:
    files = []
    for index, name in enumerate(NAMES):
        path = folder / name
        path.write_bytes(bytes([index]) * (1000 + index))
        files.append(path)
    return files


def test_every_file_is_uploaded_tagged_and_counted(tmp_path: Path, s3: Bucket) -> None:
    files = product_files(tmp_path)
    report = upload_products(files, s3.name, 'job-1')
    assert report.keys == tuple(f'job-1/{name}' for name in NAMES)
    assert report.bytes_uploaded == sum(path.stat().st_size for path in files)
    assert s3.keys() == sorted(report.keys)
    tags = s3.client.get_object_tagging(Bucket=s3.name, Key='job-1/A_X_B_conversion_matrices.png')['TagSet']
    assert tags == [{'Key': 'file_type', 'Value': 'amp-browse'}]
    # The NetCDF goes last: whoever waits for it finds the rest there.
    assert [name for name in s3.proxy.seen if name == 'PutObject'] == ['PutObject'] * 3
    assert object_key('', files[0]) == NAMES[0]


def test_refused_tagging_removes_the_untagged_object(tmp_path: Path, s3: Bucket) -> None:
    """s3:PutObject without s3:PutObjectTagging: the first object is in the bucket, untagged, when tagging fails."""
    s3.proxy.refused = {'PutObjectTagging'}
    with pytest.raises(UploadError) as caught:
        upload_products(product_files(tmp_path), s3.name, 'job-1')
    message = str(caught.value)
    assert 'AccessDenied: Access Denied' in message
    assert s3.proxy.seen.count('PutObjectTagging') == 1 and s3.proxy.seen.count('DeleteObject') >= 1
    assert 'removed the 1 object(s) already uploaded, nothing was left in the bucket' in message
    assert '\n' not in message
    assert s3.keys() == []


def test_refused_delete_names_exactly_what_is_left(tmp_path: Path, s3: Bucket) -> None:
    s3.proxy.refused = {'PutObjectTagging', 'DeleteObject'}
    with pytest.raises(UploadError) as caught:
        upload_products(product_files(tmp_path), s3.name, 'job-1')
    message = str(caught.value)
    assert s3.keys() == ['job-1/A_X_B_window_location.tif']
    assert '1 object(s) are left in the bucket' in message
    assert f's3://{s3.name}/job-1/A_X_B_window_location.tif; delete them by hand' in message
    assert 'nothing was left' not in message


def test_a_failed_put_part_way_removes_the_earlier_objects(tmp_path: Path, s3: Bucket, monkeypatch) -> None:
    files = product_files(tmp_path)
    files[2].unlink()
    with pytest.raises(UploadError, match='missing; rerun the workflow'):
        upload_products(files, s3.name)
    assert s3.keys() == []
    files = product_files(tmp_path)
    import hyp3lib.aws

    real = hyp3lib.aws.S3_CLIENT.upload_file
    calls = []

    def fail_on_the_third(path, bucket, key, *args, **kwargs):
        calls.append(key)
        if len(calls) == 3:
            from botocore.exceptions import ClientError

            raise ClientError(
                {'Error': {'Code': 'SlowDown', 'Message': 'Please reduce your request rate.'}}, 'PutObject'
            )
        return real(path, bucket, key, *args, **kwargs)

    monkeypatch.setattr(hyp3lib.aws.S3_CLIENT, 'upload_file', fail_on_the_third)
    with pytest.raises(UploadError, match='SlowDown.*removed the 2 object'):
        upload_products(files, s3.name, 'p')
    assert s3.keys() == []


def test_an_interrupt_during_the_upload_rolls_back_and_says_so(tmp_path: Path, s3: Bucket, monkeypatch) -> None:
    import hyp3lib.aws

    from hyp3_s1_m11m12.staging import Terminated, cleanup_notes

    real = hyp3lib.aws.S3_CLIENT.put_object_tagging
    calls = []

    def terminated_on_the_second(**kwargs):
        calls.append(kwargs['Key'])
        real(**kwargs)
        if len(calls) == 2:
            raise Terminated(15)

    monkeypatch.setattr(hyp3lib.aws.S3_CLIENT, 'put_object_tagging', terminated_on_the_second)
    with pytest.raises(Terminated) as caught:
        upload_products(product_files(tmp_path), s3.name, 'job-1')
    assert s3.keys() == []
    assert cleanup_notes(caught.value) == [
        (
            f'the upload to s3://{s3.name}/job-1 was rolled back: removed the 2 object(s) already uploaded, nothing '
            'was left in the bucket'
        )
    ]


def test_a_missing_bucket_is_one_line(tmp_path: Path, s3: Bucket) -> None:
    with pytest.raises(UploadError) as caught:
        upload_products(product_files(tmp_path), 'no-such-bucket')
    assert 'NoSuchBucket' in str(caught.value) and 'nothing was left in the bucket' in str(caught.value)
