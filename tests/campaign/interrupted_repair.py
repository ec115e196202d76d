"""`campaign repair` that stops dead at a chosen point, for the SIGKILL tests: the child process of
test_interrupted_repair.py.

    python -m tests.campaign.interrupted_repair POINT K campaign-repair-arguments...

At the K-th time the run reaches POINT it prints `STOPPED POINT K` on stdout and blocks that thread forever, so
that the test kills the process exactly there (the other dask worker threads keep going until the kill):

    stored     the K-th repaired granule is stored at its target, its outcome not yet handed to the driver
    writing    the K-th granule is half written: its temporary file holds the granule but not yet the new M11/M12
    putting    S3: the K-th repaired granule is about to be PUT (in place: after its backup copy)
    backup     in place: the K-th granule's backup (hard link) is made, the granule not yet replaced
    recorded   the K-th outcome is in the table's journal
    saving     the K-th write of the table: the new parquet is written under its temporary name, not yet renamed
"""

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import pandas as pd

from hyp3_s1_m11m12.campaign import repair, transfer
from hyp3_s1_m11m12.products.granules import fix
from hyp3_s1_m11m12.workflows import campaign


POINTS = ('stored', 'writing', 'putting', 'backup', 'recorded', 'saving')
MARKER = 'STOPPED'


def stop_at(point: str, wanted: int) -> Callable[[], None]:
    """A function to call where `point` is reached: it blocks the calling thread at the `wanted`-th call."""
    lock = threading.Lock()
    calls = [0]

    def reached() -> None:
        with lock:
            calls[0] += 1
            stop = calls[0] == wanted
        if stop:
            print(f'{MARKER} {point} {wanted}', flush=True)
            threading.Event().wait()

    return reached


def wrap(
    owner: Any, name: str, before: Callable[[], None] | None = None, after: Callable[[], None] | None = None
) -> None:
    original = getattr(owner, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if before is not None:
            before()
        result = original(*args, **kwargs)
        if after is not None:
            after()
        return result

    setattr(owner, name, wrapped)


def install(point: str, wanted: int) -> None:
    reached = stop_at(point, wanted)
    if point == 'stored':
        wrap(repair, '_repair', after=reached)
    elif point == 'writing':
        wrap(fix, '_update_in_place', before=reached)
    elif point == 'putting':
        wrap(transfer, 'put_s3', before=reached)
    elif point == 'backup':
        wrap(fix.os, 'link', after=reached)
    elif point == 'recorded':
        wrap(campaign, 'append_journal', after=reached)
    elif point == 'saving':
        repair.SAVE_EVERY_S = 0.0  # a table write after every outcome
        original_to_parquet = pd.DataFrame.to_parquet

        def to_parquet(self: pd.DataFrame, path: Any, *args: Any, **kwargs: Any) -> Any:
            result = original_to_parquet(self, path, *args, **kwargs)
            reached()
            return result

        pd.DataFrame.to_parquet = to_parquet
    else:
        raise SystemExit(f'unknown point {point}; choose one of {", ".join(POINTS)}')


def main() -> None:
    point, wanted, *arguments = sys.argv[1:]
    install(point, int(wanted))
    os.environ.setdefault('DASK_DISTRIBUTED__LOGGING__DISTRIBUTED', 'error')
    sys.exit(campaign.run(campaign.build_parser().parse_args(['repair', *arguments])))


if __name__ == '__main__':
    main()
