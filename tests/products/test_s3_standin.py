"""The S3 stand-in the plan benchmark uses answers boto3 as moto's S3 does: every case runs against both."""

from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.exceptions
import pytest

from tests.support.http_server import started_moto_server
from tests.support.s3_standin import s3_standin


BUCKET = 'standin-test'
# Keys whose order differs between str and UTF-8 bytes would show a wrong sort; '+' and ' ' need escaping.
KEYS = sorted(
    [f'v02/tile{tile}/granule_{index:02d}.nc' for tile in range(3) for index in range(7)]
    + ['v02/tile1/a b+c.nc', 'v02/tile1/\u00e9t\u00e9.nc', 'other/granule.nc'],
    key=lambda key: key.encode(),
)
BODY = bytes(range(256)) * 40  # 10 240 bytes


@pytest.fixture(params=['moto', 'stand-in'])
def client(request, tmp_path, monkeypatch) -> Iterator[object]:
    for name, value in {'AWS_ACCESS_KEY_ID': 'testing', 'AWS_SECRET_ACCESS_KEY': 'testing',
                        'AWS_DEFAULT_REGION': 'us-east-1'}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv('AWS_ENDPOINT_URL', raising=False)
    if request.param == 'moto':
        pytest.importorskip('moto.server')
        server = started_moto_server()
        host, port = server.get_host_and_port()
        s3 = boto3.client('s3', endpoint_url=f'http://{host}:{port}')
        s3.create_bucket(Bucket=BUCKET)
        for key in KEYS:
            s3.put_object(Bucket=BUCKET, Key=key, Body=BODY)
        try:
            yield s3
        finally:
            server.stop()
    else:
        for key in KEYS:
            path = tmp_path / BUCKET / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(BODY)
        with s3_standin(tmp_path) as (endpoint, _):
            yield boto3.client('s3', endpoint_url=endpoint)


def test_listing_pages_through_continuation_tokens(client):
    pages = list(
        client.get_paginator('list_objects_v2').paginate(Bucket=BUCKET, Prefix='v02/', PaginationConfig={'PageSize': 5})
    )
    listed = [item['Key'] for page in pages for item in page.get('Contents', [])]
    assert listed == [key for key in KEYS if key.startswith('v02/')]
    assert [page['KeyCount'] for page in pages] == [5, 5, 5, 5, 3]
    assert all(page['IsTruncated'] for page in pages[:-1]) and not pages[-1]['IsTruncated']
    assert 'NextContinuationToken' not in pages[-1]
    assert {item['Size'] for page in pages for item in page['Contents']} == {len(BODY)}


def test_listing_a_prefix_and_after_a_key(client):
    tile = client.list_objects_v2(Bucket=BUCKET, Prefix='v02/tile1/')
    assert [item['Key'] for item in tile['Contents']] == [key for key in KEYS if key.startswith('v02/tile1/')]
    after = client.list_objects_v2(Bucket=BUCKET, StartAfter='v02/tile2/granule_04.nc')
    assert [item['Key'] for item in after['Contents']] == ['v02/tile2/granule_05.nc', 'v02/tile2/granule_06.nc']
    assert client.list_objects_v2(Bucket=BUCKET, Prefix='none/')['KeyCount'] == 0


@pytest.mark.parametrize(
    ('asked', 'start', 'stop'),
    [
        ('bytes=100-199', 100, 200),
        ('bytes=10000-', 10000, 10240),
        ('bytes=-40', 10200, 10240),
        ('bytes=10000-99999', 10000, 10240),
    ],
)
def test_ranges_are_206_with_content_range(client, asked, start, stop):
    response = client.get_object(Bucket=BUCKET, Key=KEYS[0], Range=asked)
    assert response['ResponseMetadata']['HTTPStatusCode'] == 206
    assert response['ContentRange'] == f'bytes {start}-{stop - 1}/{len(BODY)}'
    assert response['Body'].read() == BODY[start:stop]


def test_whole_object_head_and_escaped_keys(client):
    key = 'v02/tile1/a b+c.nc'
    response = client.get_object(Bucket=BUCKET, Key=key)
    assert response['ResponseMetadata']['HTTPStatusCode'] == 200 and response['Body'].read() == BODY
    assert client.head_object(Bucket=BUCKET, Key='v02/tile1/\u00e9t\u00e9.nc')['ContentLength'] == len(BODY)


@pytest.mark.parametrize(
    ('bucket', 'key', 'asked', 'code'),
    [
        (BUCKET, 'v02/missing.nc', None, 'NoSuchKey'),
        ('no-such-bucket', 'v02/granule.nc', None, 'NoSuchBucket'),
        (BUCKET, KEYS[0], 'bytes=20000-', 'InvalidRange'),
    ],
)
def test_errors_are_s3_error_documents(client, bucket, key, asked, code):
    arguments = {'Bucket': bucket, 'Key': key} | ({'Range': asked} if asked else {})
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.get_object(**arguments)
    assert raised.value.response['Error']['Code'] == code


def test_presigned_urls_work_as_on_moto(client, tmp_path):
    import urllib3

    url = client.generate_presigned_url('get_object', Params={'Bucket': BUCKET, 'Key': KEYS[1]})
    response = urllib3.PoolManager().request('GET', url, headers={'Range': 'bytes=0-9'})
    assert response.status == 206 and response.data == BODY[:10]
    assert response.headers['Content-Range'] == f'bytes 0-9/{len(BODY)}'


def test_the_standin_counts_what_it_served(tmp_path, monkeypatch):
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', 'testing')
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', 'testing')
    (tmp_path / BUCKET).mkdir()
    (tmp_path / BUCKET / 'a.nc').write_bytes(BODY)
    with s3_standin(Path(tmp_path)) as (endpoint, log):
        s3 = boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1')
        s3.list_objects_v2(Bucket=BUCKET)
        s3.get_object(Bucket=BUCKET, Key='a.nc', Range='bytes=0-99')['Body'].read()
    assert log.operations == {'ListObjectsV2': 1, 'GetObject': 1}
    assert log.bytes_sent == 100
