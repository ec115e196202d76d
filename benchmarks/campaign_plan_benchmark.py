"""Benchmark `campaign plan` over an S3 listing: granules per second, metadata only, against a local S3.

The S3 is the project's stand-in (tests/support/s3_standin.py) in its own process on 127.0.0.1, as S3 is another
machine; it shares the 2 cores with the client, so its CPU is printed too. moto's server answers only a few hundred
requests a second: its ceiling is measured beside the stand-in's (`--moto-granules N` also plans N granules against
it). `--granules` keys under per-tile prefixes cycle through `--distinct` synthetic V2 granules of `--cells` x
`--cells` cells (their names differ, so the file-name cross-check is exercised). A run lists the prefix, reads each
granule's metadata with range requests and writes the table. Target: >= 200 granules/s on 2 cores.
Usage: python benchmarks/campaign_plan_benchmark.py [--granules 10000] [--workers 32] [--repeat 3] [--moto-granules 0]
"""

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

from hyp3_s1_m11m12 import network
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
REPOSITORY = Path(__file__).resolve().parents[1]
CEILING_REQUESTS = 3000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


def wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f'the server on port {port} did not start')


def start_standin(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, '-m', 'tests.support.s3_standin', str(root), '--port', str(port)]
    process = subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.DEVNULL)
    wait_for(port, process)
    return process, f'http://127.0.0.1:{port}'


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, '-m', 'moto.server', '-H', '127.0.0.1', '-p', str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(port, process)
    return process, f'http://127.0.0.1:{port}'


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux)."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def ceiling(endpoint: str, key: str, workers: int) -> float:
    """Bare 4 KiB range GETs per second from `workers` threads of this one process through the reader's own GET
    path (no parsing): the server's ceiling as far as one client process can measure it."""
    client = boto3.client('s3', endpoint_url=endpoint)
    url = client.generate_presigned_url('get_object', Params={'Bucket': BUCKET, 'Key': key})
    pool = network.pool_for(url)

    def get(_: int) -> None:
        assert pool.request('GET', url, headers={'Range': 'bytes=0-4095'}).status == 206

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as threads:
        list(threads.map(get, range(CEILING_REQUESTS)))
    return CEILING_REQUESTS / (time.perf_counter() - start)


def client_cpu_s() -> float:
    """CPU seconds of this process and of its children that ended (the plan's reader processes; not the servers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def plan_once(
    endpoint: str, granules: int, workers: int, processes: int | None, table: Path, server_pid: int
) -> tuple[float, float, float]:
    """One plan from the listing: (granules/s, client CPU ms per granule, server CPU ms per granule)."""
    os.environ['AWS_ENDPOINT_URL'] = endpoint
    client_cpu, server_cpu = client_cpu_s(), process_cpu_s(server_pid)
    start = time.perf_counter()
    locations = expand_locations([f's3://{BUCKET}/{PREFIX}'], [], LazyS3Client(workers)())
    frame = plan_campaign(locations, table, workers=workers, processes=processes)
    elapsed = time.perf_counter() - start
    client_cpu, server_cpu = client_cpu_s() - client_cpu, process_cpu_s(server_pid) - server_cpu
    assert len(frame) == granules and set(frame['verdict']) == {'spoofed'}, set(frame['verdict'])
    return granules / elapsed, 1e3 * client_cpu / granules, 1e3 * server_cpu / granules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--granules', type=int, default=10_000)
    parser.add_argument('--distinct', type=int, default=50)
    parser.add_argument('--cells', type=int, default=400)
    parser.add_argument('--workers', type=int, default=32)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument(
        '--processes', type=int, nargs='+', default=[0], help='reader processes, alternated run by run (0: automatic)'
    )
    parser.add_argument('--moto-granules', type=int, default=0, help='also plan this many granules against moto')
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID='testing', AWS_SECRET_ACCESS_KEY='testing', AWS_DEFAULT_REGION='us-east-1')
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        matrices = synthetic_conversion_matrices(1.0, shape=(args.cells, args.cells))
        files = []
        for index in range(args.distinct):
            pair = simulated_granule_pair(6.0 + index)
            files.append(write_synthetic_granule(work / granule_name(pair, 240.0, 80.0), matrices, pair))
        keys = [f'{PREFIX}tile{index // args.distinct:04d}/{files[index % args.distinct].name}' for index in
                range(args.granules)]  # fmt: skip
        root = work / 'buckets'
        for index, key in enumerate(keys):
            (root / BUCKET / key).parent.mkdir(parents=True, exist_ok=True)
            os.link(files[index % args.distinct], root / BUCKET / key)
        standin, endpoint = start_standin(root)
        moto, moto_endpoint = start_moto()
        try:
            os.environ['AWS_ENDPOINT_URL'] = endpoint
            samples = [inspect_granule(f's3://{BUCKET}/{key}', s3_client=LazyS3Client(1))[0] for key in
                       keys[: args.distinct]]  # fmt: skip
            requests = statistics.mean(sample.requests or 0 for sample in samples)
            kib = statistics.mean(sample.bytes_read or 0 for sample in samples) / 1024
            print(
                f'{args.granules} granules of {args.cells}x{args.cells} cells, {files[0].stat().st_size / 1024:.0f} '
                f'KiB each; {requests:.2f} range requests / {kib:.0f} KiB read per granule'
            )
            moto_client = boto3.client('s3', endpoint_url=moto_endpoint)
            moto_client.create_bucket(Bucket=BUCKET)
            moto_keys = keys[: max(1, args.moto_granules)]
            with ThreadPoolExecutor(8) as threads:
                list(threads.map(lambda key: moto_client.upload_file(str(root / BUCKET / key), BUCKET, key), moto_keys))
            for name, url in (('stand-in', endpoint), ('moto', moto_endpoint)):
                rate = ceiling(url, keys[0], args.workers)
                print(
                    f'{name} ceiling: {rate:.0f} bare range GETs/s (one client process) = {rate / requests:.0f} '
                    f'granules/s at '
                    f'{requests:.2f} requests each'
                )
            if args.moto_granules:
                rate, client_ms, server_ms = plan_once(
                    moto_endpoint, len(moto_keys), args.workers, None, work / 'moto.parquet', moto.pid
                )
                print(f'moto: {rate:.0f} granules/s, CPU per granule {client_ms:.2f} ms client, {server_ms:.2f} server')
            runs: dict[int, list[tuple[float, float, float]]] = {count: [] for count in args.processes}
            for attempt in range(args.repeat):
                for count in args.processes:
                    table = work / f'campaign{attempt}_{count}.parquet'
                    runs[count].append(
                        plan_once(endpoint, args.granules, args.workers, count or None, table, standin.pid)
                    )
                    rate, client_ms, server_ms = runs[count][-1]
                    print(
                        f'  run {attempt + 1}, processes {count or "auto"}: {args.granules / rate:.1f} s, {rate:.0f} '
                        f'granules/s (listing + reads + table); CPU per granule {client_ms:.2f} ms client, '
                        f'{server_ms:.2f} ms stand-in (load average {os.getloadavg()[0]:.1f})'
                    )
            for count, results in runs.items():
                rates, clients, servers = zip(*results, strict=True)
                print(
                    f'plan, processes {count or "auto"}: median {statistics.median(rates):.0f} granules/s with '
                    f'{args.workers} workers; CPU per granule {statistics.median(clients):.2f} ms client + '
                    f'{statistics.median(servers):.2f} ms stand-in'
                )
        finally:
            for process in (standin, moto):
                process.terminate()
                process.wait()


if __name__ == '__main__':
    main()
