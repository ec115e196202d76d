"""Command-line plumbing shared by the workflows."""

import argparse
import functools
import logging
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from hyp3_s1_m11m12.errors import UserFacingError


log = logging.getLogger(__name__)

P = ParamSpec('P')
R = TypeVar('R')


def exit_on_user_error(function: Callable[P, R]) -> Callable[P, R]:
    """Turn a `UserFacingError` into a one-line message on stderr and exit code 2, without a traceback."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except UserFacingError as error:
            prog = sys.argv[0].rsplit('/', 1)[-1] if sys.argv else 'hyp3_s1_m11m12'
            print(f'{prog}: error: {error}', file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print('interrupted; no outputs were completed', file=sys.stderr)
            sys.exit(130)

    return wrapper


def nullable_string(value: str) -> str | None:
    """HyP3 passes '""' for an empty default (see hyp3-autorift's FIXME); treat it and '' as absent."""
    return None if value in ('', '""', "''") else value


def new_parser(description: str | None) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def add_upload_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        '--bucket', type=nullable_string, help='AWS S3 bucket HyP3 uses for uploading the final products'
    )
    parser.add_argument('--bucket-prefix', default='', help='Add a bucket prefix to products')
