"""HyP3 entry point: `python -m hyp3_s1_m11m12 ++process <workflow> [workflow arguments]`."""

import argparse
import logging
import os
import sys
from importlib.metadata import entry_points

from hyp3_s1_m11m12.credentials import CredentialsError, write_earthdata_credentials
from hyp3_s1_m11m12.logger import configure_root_logger


log = logging.getLogger(__name__)

DEFAULT_WORKFLOW = 's1_correction_fixed'


def main() -> None:
    workflows = sorted(entry_point.name for entry_point in entry_points(group='hyp3'))
    parser = argparse.ArgumentParser(
        prog='hyp3_s1_m11m12', prefix_chars='+', formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        '++process',
        choices=workflows,
        default=DEFAULT_WORKFLOW,
        help='Select the workflow to run; its own arguments follow',
    )
    parser.add_argument('++omp-num-threads', type=int, help='The number of OpenMP threads to use for parallel regions')
    args, unknowns = parser.parse_known_args()

    configure_root_logger()

    if args.omp_num_threads is not None:
        if args.omp_num_threads < 1:
            parser.error(f'++omp-num-threads must be a positive integer, not {args.omp_num_threads}')
        os.environ['OMP_NUM_THREADS'] = str(args.omp_num_threads)

    username = os.getenv('EARTHDATA_USERNAME')
    password = os.getenv('EARTHDATA_PASSWORD')
    try:
        write_earthdata_credentials(username, password)
    except CredentialsError as error:
        parser.error(str(error))

    (entry_point,) = entry_points(group='hyp3', name=args.process)
    sys.argv = [args.process, *unknowns]
    sys.exit(entry_point.load()())


if __name__ == '__main__':
    main()
