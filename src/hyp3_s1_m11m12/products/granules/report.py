"""The check_granule run: granule lists in, a table on stdout, progress on stderr, a CSV or JSON report out."""

import csv
import dataclasses
import io
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from hyp3_s1_m11m12.errors import ProductError, UserFacingError
from hyp3_s1_m11m12.products.granules.check import (
    DEFAULT_WORKERS,
    GranuleCheck,
    GranuleStatus,
    check_granules,
)


REPORT_FORMATS = ('.csv', '.json')
REPORT_FIELDS = tuple(field.name for field in dataclasses.fields(GranuleCheck))


def read_granule_list(path: Path) -> list[str]:
    """Granules listed one per line; blank lines and lines starting with # are skipped.

    Raises:
        UserFacingError: the file cannot be read.
    """
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise UserFacingError(
            f'cannot read the granule list {path} ({error}); give a text file, one granule a line'
        ) from error
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith('#')]


def check_report_path(output: Path) -> None:
    """Fail before any granule is read if the report could not be written.

    Raises:
        ProductError: unknown extension, or a folder that does not exist or is not a folder.
    """
    if output.suffix.lower() not in REPORT_FORMATS:
        raise ProductError(f'cannot write a report to {output}: its name must end in .csv or .json')
    parent = output.parent
    if not parent.is_dir():
        raise ProductError(f'cannot write the report {output}: {parent} is not an existing folder')
    if output.is_dir():
        raise ProductError(f'cannot write the report {output}: it is a folder')
    # Try it: permission bits say nothing about read-only mounts, and root ignores them.
    probe = parent / f'.{output.name}.{uuid.uuid4().hex}.probe'
    try:
        probe.touch(exist_ok=False)
    except OSError as error:
        raise ProductError(
            f'cannot write the report {output}: the folder {parent} is not writable ({error.strerror}); '
            'choose another --output'
        ) from None
    probe.unlink(missing_ok=True)


def _row(check: GranuleCheck) -> dict[str, Any]:
    row = dataclasses.asdict(check)
    row['status'] = check.status.value
    return row


def render_report(checks: Sequence[GranuleCheck], suffix: str) -> str:
    if suffix == '.json':
        counts = Counter(check.status.value for check in checks)
        document = {
            'counts': {status.value: counts.get(status.value, 0) for status in GranuleStatus},
            'granules': [_row(check) for check in checks],
        }
        return json.dumps(document, indent=2) + '\n'
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REPORT_FIELDS, lineterminator='\n')
    writer.writeheader()
    for check in checks:
        writer.writerow({key: '' if value is None else value for key, value in _row(check).items()})
    return buffer.getvalue()


def write_report(checks: Sequence[GranuleCheck], output: Path) -> Path:
    """Write the report as CSV or JSON (by extension), atomically.

    Raises:
        ProductError: bad extension or folder, or the write fails (no partial file is left).
    """
    check_report_path(output)
    temporary = output.with_name(f'.{output.name}.{uuid.uuid4().hex}.partial')
    try:
        temporary.write_text(render_report(checks, output.suffix.lower()))
        os.replace(temporary, output)
    except OSError as error:
        raise ProductError(f'cannot write the report {output} ({error}); check the folder is writable') from error
    finally:
        temporary.unlink(missing_ok=True)
    return output


def _number(value: float | None, digits: int = 6) -> str:
    return '-' if value is None else f'{value:.{digits}g}'


def format_table(checks: Sequence[GranuleCheck]) -> str:
    """A fixed-width table, one granule a line, and a summary line."""
    header = ('status', 'date_dt', 'dr_to_vr', 'expected', 'ratio', 'dtype', 'granule')
    rows = [
        (
            check.status.value,
            _number(check.date_dt_days),
            _number(check.dr_to_vr_factor),
            _number(check.expected_dr_to_vr_factor),
            _number(check.factor_ratio, 4),
            check.m11m12_dtype or '-',
            check.granule,
        )
        for check in checks
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header) - 1)]

    def line(row: tuple[str, ...]) -> str:
        return '  '.join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + '  ' + row[-1]

    lines = [line(header)]
    for check, row in zip(checks, rows, strict=True):
        # Anything but ok needs its reason on screen; ok rows stay short.
        lines.append(line(row) if check.status is GranuleStatus.OK else f'{line(row)}  ({check.detail})')
    counts = Counter(check.status for check in checks)
    lines.append(
        f'{len(checks)} granule(s): ' + ', '.join(f'{counts.get(status, 0)} {status.value}' for status in GranuleStatus)
    )
    return '\n'.join(lines)


class ProgressPrinter:
    """Prints 'checked N/total granules (...)' to a stream every `every` granules and at the end."""

    def __init__(self, stream: TextIO, every: int | None = None) -> None:
        self._stream = stream
        self._every = every
        self._start = time.monotonic()

    def __call__(self, done: int, total: int, counts: Counter[GranuleStatus]) -> None:
        every = self._every or max(1, min(100, total // 10))
        if done % every and done != total:
            return
        elapsed = max(time.monotonic() - self._start, 1e-9)
        summary = ', '.join(f'{counts[status]} {status.value}' for status in GranuleStatus if counts[status])
        print(
            f'check_granule: {done}/{total} granules checked ({summary}; {done / elapsed:.1f}/s)',
            file=self._stream,
            flush=True,
        )


def run_check(
    granules: Sequence[str],
    *,
    from_file: Path | None = None,
    output: Path | None = None,
    workers: int = DEFAULT_WORKERS,
    read_values: bool = False,
    s3_endpoint_url: str | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> list[GranuleCheck]:
    """Check the granules given and those listed in `from_file`, print the table, write `output`.

    Raises:
        UserFacingError: no granule given, an unreadable list, a report path that cannot be written. Bad granules
            do not raise: they are reported as unreadable.
    """
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    locations = list(granules)
    if from_file is not None:
        locations += read_granule_list(from_file)
    if not locations:
        raise UserFacingError('no granule to check; give granule paths or URLs, or --from-file with one per line')
    if output is not None:
        check_report_path(output)
    checks = check_granules(
        locations,
        workers=workers,
        read_values=read_values,
        s3_endpoint_url=s3_endpoint_url,
        progress=ProgressPrinter(stderr),
    )
    print(format_table(checks), file=stdout, flush=True)
    if output is not None:
        write_report(checks, output)
        print(f'check_granule: report written to {output}', file=stderr)
    return checks
