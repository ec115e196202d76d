"""Command-line plumbing shared by the workflows: one-line errors, signals, and the common argument types."""

import argparse
import functools
import gc
import logging
import math
import os
import sys
from collections.abc import Callable
from datetime import datetime
from typing import ParamSpec, TypeVar

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.errors import UserFacingError
from hyp3_s1_m11m12.staging import Terminated, cleanup_notes, terminate_on_signals
from hyp3_s1_m11m12.timeutil import parse_utc


log = logging.getLogger(__name__)

P = ParamSpec('P')
R = TypeVar('R')
INTERRUPTED_EXIT_CODE = 130


def _program() -> str:
    # 'python -m ...workflows.s1_correction_fixed' runs it as s1_correction_fixed.py: the same program.
    return sys.argv[0].rsplit('/', 1)[-1].removesuffix('.py') if sys.argv else 'hyp3_s1_m11m12'


def _one_line(text: str) -> str:
    return ' '.join(text.split())


def exit_on_user_error(function: Callable[P, R]) -> Callable[P, R]:
    """Run a command line: a `UserFacingError` becomes a one-line message on stderr and exit code 2; Ctrl-C,
    SIGTERM and SIGHUP clean up (every staged output, temporary file and partial upload) and exit 128 + signal with
    a one-line message. Never a traceback for any of these."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        # The imports (numpy, GDAL, pyproj, later numba's compiler) leave 10^5-10^6 objects that live until exit:
        # frozen, the cyclic collector no longer rescans them on every full collection, nor once more at shutdown
        # (~0.25 s of a Geogrid run's exit with numba loaded).
        gc.freeze()
        try:
            with terminate_on_signals():
                return function(*args, **kwargs)
        except UserFacingError as error:
            print(f'{_program()}: error: {_one_line(str(error))}', file=sys.stderr)
            sys.exit(2)
        except (KeyboardInterrupt, Terminated) as error:
            cause = 'interrupted' if isinstance(error, KeyboardInterrupt) else str(error)
            notes = ''.join(f'; {note}' for note in cleanup_notes(error))
            print(f'{_program()}: {cause}; no outputs were completed{notes}', file=sys.stderr)
            sys.exit(error.exit_code if isinstance(error, Terminated) else INTERRUPTED_EXIT_CODE)
        finally:
            gc.freeze()

    return wrapper


def nullable_string(value: str) -> str | None:
    """HyP3 passes '""' for an empty default (see hyp3-autorift's FIXME); treat it and '' as absent."""
    return None if value in ('', '""', "''") else value


def name_list(value: str) -> list[str]:
    """Names separated by white space: HyP3 passes an array parameter as ONE argument, its items joined by spaces."""
    given = nullable_string(value)
    return [] if given is None else given.split()


def new_parser(description: str | None) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def add_upload_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        '--bucket', type=nullable_string, help='AWS S3 bucket HyP3 uses for uploading the final products'
    )
    parser.add_argument('--bucket-prefix', default='', help='Add a bucket prefix to products')


def boolean_argument(value: str) -> bool:
    """'true' or 'false' in any case: HyP3 passes a boolean job parameter as its JSON spelling. Anything else is an
    error, not False (hyp3lib's string_is_true would take 'yes' for False)."""
    spelled = value.strip().lower()
    if spelled not in ('true', 'false'):
        raise argparse.ArgumentTypeError(f'{value!r} is neither true nor false')
    return spelled == 'true'


def utc_argument(value: str) -> datetime:
    try:
        return parse_utc(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'{value!r} is not an ISO-8601 UTC time, e.g. 2021-04-13T05:26:22.03299Z'
        ) from None


def seconds_argument(value: str) -> float:
    """A number of seconds; its range is checked where dt is checked (sentinel1.pairing.RepeatTime)."""
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{value!r} is not a number of seconds') from None


def positive_days_argument(value: str) -> float:
    try:
        days = float(value)
    except ValueError:
        days = math.nan
    if not (math.isfinite(days) and days > 0):
        raise argparse.ArgumentTypeError(f'{value!r} is not a positive number of days')
    return days


def non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{value!r} is not a whole number of range pixels') from None
    if number < 0:
        raise argparse.ArgumentTypeError(f'the buffer must be >= 0 range pixels, not {value}')
    return number


def add_max_dt_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        '--max-dt-days',
        type=positive_days_argument,
        default=None,
        help=f'Longest repeat time accepted, in days (default {constants.DEFAULT_MAX_DT_DAYS:g}, or the '
        f'{constants.MAX_DT_DAYS_ENV} environment variable)',
    )


def apply_max_dt(max_dt_days: float | None) -> None:
    """The limit is read where dt is checked (sentinel1.pairing.configured_max_dt_seconds), from the environment."""
    if max_dt_days is not None:
        os.environ[constants.MAX_DT_DAYS_ENV] = repr(max_dt_days)
