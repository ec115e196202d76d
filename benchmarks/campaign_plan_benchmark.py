"""Benchmark `campaign plan` over an S3 listing: granules per second, metadata only, against moto's S3 server.

moto runs in its own process on 127.0.0.1 (as S3 is another machine); `--granules` keys are uploaded under
per-tile prefixes, cycling through `--distinct` synthetic V2 granules of `--cells` x `--cells` cells (their names
differ, so the file-name cross-check is exercised). The plan lists the prefix, reads each granule's metadata
with range requests and writes the table. Target: >= 200 granules/s on 2 cores.
Usage: python benchmarks/campaign_plan_benchmark.py [--granules 10000] [--workers 32] [--repeat 3]
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

from hyp3_s1_m11m12.campaign.plan import plan_campaign
from hyp3_s1_m11m12.campaign.sources import expand_locations
from hyp3_s1_m11m12.products.granules.check import LazyS3Client, inspect_granule
from hyp3_s1_m11m12.simulate.granule import (
    granule_name,
    simulated_granule_pair,
    synthetic_conversion_matrices,
    write_synthetic_granule,
)


BUCKET = 'its-live-data'
PREFIX = 'velocity_image_pair/sentinel1/v02/'


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, '-m', 'moto.server', '-H', '127.0.0.1', '-p', str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f'http://127.0.0.1:{port}'
    for _ in range(100):
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
            return process, endpoint
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError('moto server did not start')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--granules', type=int, default=10_000)
    parser.add_argument('--distinct', type=int, default=50)
    parser.add_argument('--cells', type=int, default=400)
    parser.add_argument('--workers', type=int, default=32)
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    for name, value in {
        'AWS_ACCESS_KEY_ID': 'testing',
        'AWS_SECRET_ACCESS_KEY': 'testing',
        'AWS_DEFAULT_REGION': 'us-east-1',
    }.items():
        os.environ[name] = value
    moto, endpoint = start_moto()
    os.environ['AWS_ENDPOINT_URL'] = endpoint
    try:
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            matrices = synthetic_conversion_matrices(1.0, shape=(args.cells, args.cells))
            files = []
            for index in range(args.distinct):
                pair = simulated_granule_pair(6.0 + index)
                files.append(write_synthetic_granule(work / granule_name(pair, 240.0, 80.0), matrices, pair))
            client = boto3.client('s3', endpoint_url=endpoint)
            client.create_bucket(Bucket=BUCKET)
            bodies = [path.read_bytes() for path in files]

            def upload(index: int) -> None:
                key = f'{PREFIX}tile{index // args.distinct:04d}/{files[index % args.distinct].name}'
                client.put_object(Bucket=BUCKET, Key=key, Body=bodies[index % args.distinct])

            with ThreadPoolExecutor(16) as pool:
                list(pool.map(upload, range(args.granules)))
            sample = inspect_granule(f's3://{BUCKET}/{PREFIX}tile0000/{files[0].name}', s3_client=LazyS3Client(1))[0]
            print(
                f'{args.granules} granules of {args.cells}x{args.cells} cells, {len(bodies[0]) / 1024:.0f} KiB each; '
                f'{sample.requests} range requests / {(sample.bytes_read or 0) / 1024:.0f} KiB read per granule'
            )
            # The ceiling moto itself sets: bare 4 KiB range GETs from as many threads, no parsing.
            shared = LazyS3Client(args.workers)()
            key = f'{PREFIX}tile0000/{files[0].name}'

            def get(_: int) -> None:
                shared.get_object(Bucket=BUCKET, Key=key, Range='bytes=0-4095')['Body'].read()  # type: ignore[attr-defined]

            start = time.perf_counter()
            with ThreadPoolExecutor(args.workers) as pool:
                list(pool.map(get, range(2000)))
            ceiling = 2000 / (time.perf_counter() - start)
            print(
                f'moto ceiling: {ceiling:.0f} range GETs/s = {ceiling / (sample.requests or 1):.0f} granules/s at '
                f'{sample.requests} requests each'
            )
            rates = []
            for attempt in range(args.repeat):
                table = work / f'campaign{attempt}.parquet'
                start = time.perf_counter()
                locations = expand_locations([f's3://{BUCKET}/{PREFIX}'], [], LazyS3Client(args.workers)())
                frame = plan_campaign(locations, table, workers=args.workers)
                elapsed = time.perf_counter() - start
                assert len(frame) == args.granules and set(frame['verdict']) == {'spoofed'}, set(frame['verdict'])
                rates.append(args.granules / elapsed)
                print(f'  run {attempt + 1}: {elapsed:.1f} s, {rates[-1]:.0f} granules/s (listing + reads + table)')
            print(f'plan: median {statistics.median(rates):.0f} granules/s with {args.workers} workers')
    finally:
        moto.terminate()
        moto.wait()


if __name__ == '__main__':
    main()
