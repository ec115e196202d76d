"""Benchmark `campaign repair`: granules per second and peak memory per worker on a 2-worker LocalCluster.

`--granules` spoofed int16 V2 granules of distinct pairs (synthetic, `--cells` x `--cells` cells) and one true-dt
product per pair are written locally; the table is planned, the products recorded as `follow` would, and the
repair runs into a target folder (one thread per worker process, --memory-limit each). A second run measures the
cost of the resume check with the table's record lost (every granule found already repaired at the target).
Usage: python benchmarks/campaign_repair_benchmark.py [--granules 1000] [--cells 120] [--workers 2]
"""

import argparse
import tempfile
import time
from pathlib import Path

from hyp3_s1_m11m12.campaign.plan import plan_campaign
from hyp3_s1_m11m12.campaign.repair import repair_campaign
from hyp3_s1_m11m12.campaign.table import write_table
from hyp3_s1_m11m12.simulate.granule import (
    simulated_granule_pair,
    synthetic_conversion_matrices,
    write_spoofed_granule_and_product,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--granules', type=int, default=1000)
    parser.add_argument('--cells', type=int, default=120)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--memory-limit', default='1GiB')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / 'granules').mkdir()
        (work / 'products').mkdir()
        spoofed = synthetic_conversion_matrices(1.0, shape=(args.cells, args.cells))
        granules, products = [], {}
        for index in range(args.granules):
            pair = simulated_granule_pair(6.0 + index)
            granule, product = write_spoofed_granule_and_product(
                pair, work / 'granules', work / 'products', cells=args.cells, spoofed=spoofed, software_version='bench'
            )
            granules.append(granule)
            products[str(granule)] = str(product)
        table = work / 'campaign.parquet'
        frame = plan_campaign([str(path) for path in granules], table)
        frame['product'] = frame['granule'].map(products)
        frame['job_id'] = 'bench-job'
        frame['job_status'] = 'SUCCEEDED'
        write_table(frame, table)
        size = granules[0].stat().st_size / 1024
        print(f'{args.granules} granules of {args.cells}x{args.cells} cells ({size:.0f} KiB each), products float32')
        target = work / 'repaired'
        target.mkdir()
        for label in ('repair', 'resume (table lost: every granule checked at the target)'):
            if label != 'repair':
                frame['repair_status'] = 'pending'
            start = time.perf_counter()
            frame, report = repair_campaign(
                frame,
                target=str(target),
                n_workers=args.workers,
                memory_limit=args.memory_limit,
                save=lambda frame: write_table(frame, table),
            )
            elapsed = time.perf_counter() - start
            print(f'{label}: {elapsed:.1f} s, {args.granules / elapsed:.1f} granules/s (cluster start included)')
            for line in report.lines():
                print('  ' + line)


if __name__ == '__main__':
    main()
