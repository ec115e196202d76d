"""Correct an archive of ITS_LIVE V2 Sentinel-1 granules: plan -> submit -> follow -> repair -> report.

  campaign plan GRANULE|URL|s3://PREFIX/ ... [--from-file LIST] --table campaign.parquet
  campaign submit --table campaign.parquet [--api-url URL] [--job-type TYPE] [--batch-size N]
  campaign follow --table campaign.parquet [--interval S] [--timeout S]
  campaign repair --table campaign.parquet (--target DIR|s3://PREFIX/ | --in-place) [--scheduler ADDRESS]
  campaign report --table campaign.parquet

Every step reads the table, records what it did in it (atomically: parquet, a CSV copy, the job list CSV), and
can be run again: it skips what is done. `repair` also journals each outcome as it arrives (campaign.journal.jsonl
beside the table, folded into it by the next write), so a run killed at any point loses none. The S3 endpoint follows AWS_ENDPOINT_URL; the HyP3 token comes from
--token or the EARTHDATA_TOKEN environment variable (else ~/.netrc).
Exit status: 0 done; 2 bad arguments or an unusable table, API or cluster; 3 repair finished with failures.
"""

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from hyp3_s1_m11m12.campaign import hyp3
from hyp3_s1_m11m12.campaign.plan import plan_campaign
from hyp3_s1_m11m12.campaign.repair import DEFAULT_MEMORY_LIMIT, DEFAULT_WORKERS, prepare_target, repair_campaign
from hyp3_s1_m11m12.campaign.sources import expand_locations
from hyp3_s1_m11m12.campaign.table import append_journal, check_table_path, read_table, write_table
from hyp3_s1_m11m12.logger import configure_root_logger
from hyp3_s1_m11m12.products.granules.check import DEFAULT_WORKERS as READ_WORKERS
from hyp3_s1_m11m12.products.granules.check import LazyS3Client
from hyp3_s1_m11m12.products.granules.report import ProgressPrinter
from hyp3_s1_m11m12.workflows.check_granule import positive_integer
from hyp3_s1_m11m12.workflows.cli import boolean_argument, exit_on_user_error


EXIT_REPAIR_FAILURES = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='campaign', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    steps = parser.add_subparsers(dest='step', required=True)
    table = argparse.ArgumentParser(add_help=False)
    table.add_argument('--table', type=Path, required=True, help='the campaign table (.parquet)')

    plan = steps.add_parser('plan', parents=[table], help='read the granules metadata, write the table')
    plan.add_argument('granules', nargs='*', metavar='GRANULE', help='path, http(s):// or s3:// URL, s3:// prefix/')
    plan.add_argument('--from-file', type=Path, action='append', default=[], help='file of granules, one a line')
    plan.add_argument('--workers', type=positive_integer, default=READ_WORKERS, help='granules read at once')

    api = argparse.ArgumentParser(add_help=False)
    api.add_argument('--api-url', default=hyp3.DEFAULT_API_URL, help='HyP3 API (default: %(default)s)')
    api.add_argument('--token', default=os.environ.get('EARTHDATA_TOKEN'), help='Earthdata bearer token')

    submit = steps.add_parser('submit', parents=[table, api], help='submit one HyP3 job per reference scene')
    submit.add_argument('--job-type', default=hyp3.DEFAULT_JOB_TYPE, help='HyP3 job type (default: %(default)s)')
    submit.add_argument('--batch-size', type=positive_integer, default=hyp3.MAX_BATCH_SIZE, help='jobs per request')
    submit.add_argument('--name-prefix', default=hyp3.DEFAULT_NAME_PREFIX, help='job name = prefix + reference')
    submit.add_argument('--retry-failed', action='store_true', help='resubmit the jobs that failed')
    submit.add_argument(
        '--include-geotiffs',
        type=boolean_argument,
        default=False,
        help="true or false: the jobs also publish each pair's Geogrid GeoTIFFs (the repair needs only the NetCDF)",
    )

    follow = steps.add_parser('follow', parents=[table, api], help='wait for the jobs, record their products')
    follow.add_argument('--interval', type=float, default=60.0, help='seconds between polls')
    follow.add_argument('--timeout', type=float, default=3 * 3600.0, help='give up waiting after this many seconds')

    repair = steps.add_parser('repair', parents=[table], help='repair the granules on dask.distributed')
    destination = repair.add_mutually_exclusive_group(required=True)
    destination.add_argument('--target', help='folder or s3:// prefix for the repaired granules')
    destination.add_argument('--in-place', action='store_true', help='replace each granule, keeping <granule>.bak')
    repair.add_argument('--scheduler', help='address of an existing dask scheduler (default: a LocalCluster)')
    repair.add_argument('--n-workers', type=positive_integer, default=DEFAULT_WORKERS, help='LocalCluster workers')
    repair.add_argument('--memory-limit', default=DEFAULT_MEMORY_LIMIT, help='LocalCluster memory per worker')
    repair.add_argument(
        '--processes',
        action=argparse.BooleanOptionalAction,
        default=True,
        help='LocalCluster workers are processes (default) or threads of this one (--no-processes: small runs)',
    )

    steps.add_parser('report', parents=[table], help='print the counts of the table')
    return parser


def _report(table: Path) -> None:
    frame = read_table(table)
    for column in ('verdict', 'action', 'job_status', 'repair_status'):
        counts = Counter(frame[column].fillna('-'))
        print(f'{column}: ' + ', '.join(f'{count} {value}' for value, count in sorted(counts.items())))
    failed = frame[frame['repair_status'] == 'failed']
    for _, row in failed.iterrows():
        print(f'  failed: {row["granule"]}: {row["repair_reason"]}')


def run(args: argparse.Namespace) -> int:
    endpoint = os.environ.get('AWS_ENDPOINT_URL_S3') or os.environ.get('AWS_ENDPOINT_URL')
    check_table_path(args.table)
    if args.step == 'plan':
        locations = expand_locations(args.granules, args.from_file, LazyS3Client(args.workers, endpoint)())
        frame = plan_campaign(
            locations, args.table, workers=args.workers, s3_endpoint_url=endpoint, progress=ProgressPrinter(sys.stderr)
        )
        print(f'campaign: {len(frame)} granule(s) planned, {int((frame["action"] == "repair").sum())} to repair')
    elif args.step == 'submit':
        frame = read_table(args.table)
        if args.retry_failed:
            failed = frame['job_status'] == 'FAILED'
            frame.loc[failed, ['job_id', 'job_status', 'repair_status', 'repair_reason']] = [
                None,
                None,
                'pending',
                None,
            ]
        client = hyp3.connect(args.api_url, args.token)
        frame = hyp3.submit_jobs(
            frame,
            client,
            job_type=args.job_type,
            batch_size=args.batch_size,
            name_prefix=args.name_prefix,
            include_geotiffs=args.include_geotiffs,
        )
        write_table(frame, args.table)
        print(f'campaign: {len(hyp3.jobs_of(frame))} job(s) recorded in {args.table}')
    elif args.step == 'follow':
        client = hyp3.connect(args.api_url, args.token)
        frame = hyp3.follow_jobs(
            read_table(args.table),
            client,
            interval_s=args.interval,
            timeout_s=args.timeout,
            save=lambda frame: write_table(frame, args.table),
        )
        write_table(frame, args.table)
    elif args.step == 'repair':
        from tqdm import tqdm

        prepare_target(None if args.in_place else args.target)
        with tqdm(desc='repair', unit='granule', file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            frame, report = repair_campaign(
                read_table(args.table),
                target=None if args.in_place else args.target,
                scheduler=args.scheduler,
                n_workers=args.n_workers,
                memory_limit=args.memory_limit,
                processes=args.processes,
                s3_endpoint_url=endpoint,
                save=lambda frame: write_table(frame, args.table),
                record=lambda granule, values: append_journal(args.table, granule, values),
                progress=progress,
            )
        print('\n'.join(report.lines()))
        return EXIT_REPAIR_FAILURES if report.counts.get('failed') else 0
    else:
        _report(args.table)
    return 0


@exit_on_user_error
def main() -> None:
    args = build_parser().parse_args()
    configure_root_logger()
    status = run(args)
    if status:
        sys.exit(status)


if __name__ == '__main__':
    main()
