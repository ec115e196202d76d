"""Benchmark check_granule over HTTP: range requests and bytes per granule, and granules per second by --workers.

A synthetic V2 granule (2000 x 2000 cells, like a 240 km scene at 120 m) is served from a separate process on
127.0.0.1 that answers every request after `--latency-ms` (as a remote object store would) and honours Range.
Usage: python benchmarks/granule_check_benchmark.py [--granules 64] [--latency-ms 30] [--workers 1 4 16]
"""

import argparse
import multiprocessing
import re
import tempfile
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from hyp3_s1_m11m12.products.conversion_matrices import ConversionMatrices
from hyp3_s1_m11m12.products.granules.check import check_granules
from hyp3_s1_m11m12.simulate.granule import GranulePair, write_synthetic_granule


RANGE = re.compile(r'^bytes=(\d+)-(\d*)$')
CELLS = 2000
SPACING_M = 120.0


def write_granule(path: Path) -> Path:
    columns = np.arange(CELLS, dtype=np.float64)
    x = 400_000.0 + SPACING_M * (columns + 0.5)
    y = 5_300_000.0 - SPACING_M * (columns + 0.5)
    ramp_x, ramp_y = np.meshgrid(np.linspace(0, 1, CELLS), np.linspace(0, 1, CELLS))
    m11 = (-0.0085 + 0.001 * ramp_x) / 12
    m12 = (0.002 + 0.0005 * ramp_y) / 12
    m11[:200] = np.nan
    m12[:200] = np.nan
    matrices = ConversionMatrices(
        M11=m11,
        M12=m12,
        x=x,
        y=y,
        epsg=32632,
        geotransform=(float(x[0]), SPACING_M, 0.0, float(y[0]), 0.0, -SPACING_M),
        dr_to_vr_factor=850.290171871093,
    )
    pair = GranulePair(
        'S1A_IW_SLC__1SDV_20170203T162106_20170203T162132_015121_018B9A_1380',
        'S1A_IW_SLC__1SDV_20170215T162105_20170215T162133_015296_019127_6E1E',
        datetime(2017, 2, 3, 16, 21, 6),
        12 * 86400.0,
    )
    return write_synthetic_granule(path, matrices, pair, window=(slice(0, CELLS), slice(0, CELLS)))


def serve(root: str, latency_s: float, ports: 'multiprocessing.Queue[int]') -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'
        disable_nagle_algorithm = True  # else delayed ACKs add 40 ms to every keep-alive request

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(latency_s)
            path = Path(root) / 'granule.nc'
            size = path.stat().st_size
            match = RANGE.match(self.headers.get('Range', ''))
            start = int(match[1]) if match else 0
            stop = min(int(match[2]) + 1, size) if match and match[2] else size
            with path.open('rb') as stream:
                stream.seek(start)
                body = stream.read(stop - start)
            self.send_response(206)
            self.send_header('Content-Range', f'bytes {start}-{stop - 1}/{size}')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    ports.put(server.server_address[1])
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--granules', type=int, default=64)
    parser.add_argument('--latency-ms', type=float, default=30.0)
    parser.add_argument('--workers', type=int, nargs='+', default=[1, 4, 16])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix='granule-benchmark-') as folder:
        granule = write_granule(Path(folder) / 'granule.nc')
        print(f'granule: {CELLS} x {CELLS} cells, {granule.stat().st_size / 1e6:.1f} MB')
        ports: multiprocessing.Queue[int] = multiprocessing.Queue()
        server = multiprocessing.Process(target=serve, args=(folder, args.latency_ms / 1000, ports), daemon=True)
        server.start()
        try:
            url = f'http://127.0.0.1:{ports.get(timeout=30)}/granule.nc'
            for workers in args.workers:
                started = time.perf_counter()
                checks = check_granules([url] * args.granules, workers=workers)
                seconds = time.perf_counter() - started
                first = checks[0]
                print(
                    f'workers {workers:3d}: {args.granules / seconds:6.1f} granules/s; per granule '
                    f'{first.requests} requests, {first.bytes_read} bytes; status {first.status.value}'
                )
        finally:
            server.terminate()
            server.join()


if __name__ == '__main__':
    main()
