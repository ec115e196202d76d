"""Outputs that appear complete or not at all: the one place where files are staged, locked and published.

- `atomic_file(path)` writes one file under a hidden temporary name beside it and renames it into place.
- `staged_directory(output_dir, names)` is a whole run's products: it checks the folder once (created if needed,
  writable, no earlier products unless `overwrite`), takes the folder's lock, removes the staging an earlier
  killed run left there, hands out a hidden staging folder (products + scratch space), and publishes the products
  with os.replace only when all are complete. Whatever happens before that (an error, Ctrl-C, SIGTERM), the
  folder is left as it was.
- `terminate_on_signals()` turns SIGTERM and SIGHUP (AWS Batch's timeout/cancel, a closed terminal) into an
  exception, so every `finally` and `except BaseException` cleans up exactly as it does for Ctrl-C.

Only the outermost caller stages; everything below writes into the folder it is given.
"""

import contextlib
import errno
import fcntl
import logging
import os
import re
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from hyp3_s1_m11m12.errors import OutputError


log = logging.getLogger(__name__)

PACKAGE = 'hyp3_s1_m11m12'
STAGING_PREFIX = f'.{PACKAGE}-staging-'
LOCK_FILE_NAME = f'.{PACKAGE}.lock'
PARTIAL_SUFFIX = '.partial'
# Staging folders of releases before this module: a killed run of those left them too.
LEGACY_STAGING_PREFIXES = ('.s1_correction_fixed-partial-', '.geogrid-partial-', '.numpy-geogrid-')
# atomic_file's temporary names: '.<name>.<32 hex digits>.partial'.
PARTIAL_FILE_PATTERN = re.compile(r'^\..+\.[0-9a-f]{32}\.partial$')
HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived; a BaseException like KeyboardInterrupt, so that no `except Exception` eats it."""

    def __init__(self, signal_number: int) -> None:
        self.signal_number = signal_number
        super().__init__(f'terminated by {signal.Signals(signal_number).name}')

    @property
    def exit_code(self) -> int:
        return 128 + self.signal_number


def add_cleanup_note(error: BaseException, note: str) -> None:
    """Attach what the cleanup after `error` left or did, for the one-line message the command line prints."""
    notes = getattr(error, 'cleanup_notes', None)
    if notes is None:
        notes = []
        error.cleanup_notes = notes  # type: ignore[attr-defined]
    notes.append(note)


def cleanup_notes(error: BaseException) -> list[str]:
    return list(getattr(error, 'cleanup_notes', []))


def _raise_terminated(signal_number: int, frame: FrameType | None) -> None:
    # Once cleanup has begun, a second signal must not interrupt it half way.
    for number in HANDLED_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    raise Terminated(signal_number)


@contextlib.contextmanager
def terminate_on_signals() -> Iterator[None]:
    """Within the block SIGTERM and SIGHUP raise `Terminated` in the main thread; the old handlers come back after.

    A signal the process was started with ignored stays ignored: `nohup` (or a scheduler) ignoring SIGHUP asked for
    the run to survive a hang-up, and turning that into a clean abort would defeat it."""
    previous = {
        number: signal.signal(number, _raise_terminated)
        for number in HANDLED_SIGNALS
        if signal.getsignal(number) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _is_no_space(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def output_error(path: Path, error: OSError) -> OutputError:
    """The one-line error for a failed write of `path`, naming the cause (a full disk, no permission, ...)."""
    if _is_no_space(error):
        return OutputError(
            f'cannot write {path}: no space left on the device; free some space or choose another '
            '--output-dir, then rerun'
        )
    return OutputError(f'cannot write {path} ({error.strerror or error}); check that its folder is writable')


def partial_path(path: Path) -> Path:
    """A new hidden temporary name beside `path`, for a file that becomes `path` with os.replace once complete
    (in the same folder: os.replace is atomic only within one file system)."""
    return path.with_name(f'.{path.name}.{uuid.uuid4().hex}{PARTIAL_SUFFIX}')


def check_output_file(path: Path, overwrite: bool) -> None:
    """Raises: OutputError: `path` exists and `overwrite` is False, is a folder, or its folder is missing."""
    if path.is_dir():
        raise OutputError(f'{path} is a directory; choose another output file name')
    if path.exists() and not overwrite:
        raise OutputError(f'{path} already exists; remove it or pass --overwrite to replace it')
    if not path.parent.is_dir():
        raise OutputError(f'output directory {path.parent} does not exist; create it or choose another one')


@contextlib.contextmanager
def atomic_file(path: Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a hidden temporary path beside `path`; once the block ends without error it becomes `path`.

    On any error or interrupt the temporary file is removed and an existing `path` is untouched.

    Raises:
        OutputError: `path` exists and `overwrite` is False, is a folder, its folder is missing, or the rename fails.
    """
    path = Path(path)
    check_output_file(path, overwrite)
    temporary = partial_path(path)
    try:
        yield temporary
        os.replace(temporary, path)
    except OSError as error:
        raise output_error(path, error) from None
    finally:
        temporary.unlink(missing_ok=True)


def prepare_output_dir(output_dir: Path) -> Path:
    """Create `output_dir` if needed and check that files can be created in it; return it resolved.

    Raises:
        OutputError: it cannot be created, is not a folder, or cannot be written to.
    """
    output_dir = Path(output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f'cannot create the output directory {output_dir}: {error.strerror or error}; choose another --output-dir'
        ) from None
    if not output_dir.is_dir():
        raise OutputError(f'the output directory {output_dir} is not a directory; choose another --output-dir')
    try:
        with tempfile.TemporaryFile(dir=output_dir):
            pass
    except OSError as error:
        raise OutputError(
            f'cannot write in the output directory {output_dir}: {error.strerror or error}; choose a writable '
            '--output-dir'
        ) from None
    return output_dir.resolve()


@contextlib.contextmanager
def folder_lock(output_dir: Path) -> Iterator[None]:
    """Hold `output_dir`'s lock for the block; a second run into the same folder fails at once (it does not wait).

    The lock is an flock on a hidden file, so the kernel releases it when a run dies, even by SIGKILL. The file is
    removed on release; a run that locked a file removed meanwhile tries again on the new one.

    Raises:
        OutputError: another run holds the lock.
    """
    path = output_dir / LOCK_FILE_NAME
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise OutputError(
                f'another run is writing into {output_dir} (it holds {path.name}); wait for it to finish or choose '
                'another --output-dir'
            ) from None
        try:
            same_file = os.fstat(descriptor).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        os.close(descriptor)
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f'{os.getpid()}\n'.encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(descriptor)


def remove_leftover_staging(output_dir: Path) -> list[str]:
    """Remove what a killed run left in `output_dir` (staging folders, partial files); call it holding the lock.

    Every live run holds the folder's lock while its staging exists, so with the lock held anything staged is
    a leftover. Returns the names removed.
    """
    removed = []
    for entry in output_dir.iterdir():
        staged_folder = entry.name.startswith((STAGING_PREFIX, *LEGACY_STAGING_PREFIXES)) and entry.is_dir()
        partial_file = PARTIAL_FILE_PATTERN.match(entry.name) is not None and entry.is_file()
        if staged_folder or partial_file:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry.name)
    if removed:
        log.warning('Removed the leftovers of an interrupted run in %s: %s', output_dir, ', '.join(sorted(removed)))
    return removed


@dataclass(frozen=True)
class Staging:
    """A run's hidden folder in the output folder: `products` are published, `work` (scratch space) never.

    `claim(names)` declares files the run will write once their names are known (e.g. after the metadata is read):
    present ones stop the run unless it may overwrite them.
    """

    output_dir: Path
    products: Path
    work: Path
    overwrite: bool = False
    claimed: list[str] = field(default_factory=list)

    def claim(self, names: Iterable[str]) -> None:
        """Raises: OutputError when one of `names` is in the output folder and the run may not overwrite."""
        names = list(names)
        present = [name for name in names if (self.output_dir / name).exists()]
        if present and not self.overwrite:
            raise OutputError(
                f'{self.output_dir} already holds outputs ({", ".join(present)}): use --overwrite to replace them, '
                'or choose another --output-dir'
            )
        self.claimed.extend(names)


def _publish(staging: Staging, names: Iterable[str]) -> None:
    """Move every staged product into place; `names` this run did not write are removed (never mix two runs)."""
    written = sorted(path.name for path in staging.products.iterdir())
    for stale in sorted(set(names) - set(written)):
        if (staging.output_dir / stale).exists():
            log.info('Removing %s from an earlier run (this run does not write it)', staging.output_dir / stale)
            (staging.output_dir / stale).unlink()
    published: list[Path] = []
    try:
        for name in written:
            os.replace(staging.products / name, staging.output_dir / name)
            published.append(staging.output_dir / name)
    except BaseException:
        # A failure half way would leave a mix of this run and an older one: remove what was moved.
        for path in published:
            path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def staged_directory(output_dir: Path, names: Iterable[str] = (), *, overwrite: bool = False) -> Iterator[Staging]:
    """Stage a run's products and publish them into `output_dir` together when the block succeeds.

    `names` (and any `Staging.claim`ed later) are the files such a run writes: any of them present stops the run
    unless `overwrite`. Everything in `staging.products` at the end of the block is published; earlier files among
    the claimed names that this run did not write are removed, so the folder never mixes two runs. On any error or
    interrupt the staging is removed, `output_dir` keeps its earlier contents, and a folder this call created is
    removed again.

    Raises:
        OutputError: the folder is unusable, holds a claimed name without `overwrite`, or another run holds its
            lock; or the disk fills up while publishing.
    """
    created = not Path(output_dir).exists()
    output_dir = prepare_output_dir(output_dir)
    try:
        with folder_lock(output_dir):
            remove_leftover_staging(output_dir)
            try:
                root = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=output_dir))
            except OSError as error:
                raise output_error(output_dir, error) from None
            try:
                staging = Staging(
                    output_dir=output_dir, products=root / 'products', work=root / 'work', overwrite=overwrite
                )
                staging.claim(names)
                staging.products.mkdir()
                staging.work.mkdir()
                yield staging
                try:
                    _publish(staging, staging.claimed)
                except OSError as error:
                    raise output_error(output_dir, error) from None
            finally:
                shutil.rmtree(root, ignore_errors=True)
    except BaseException:
        if created and output_dir.is_dir() and not any(output_dir.iterdir()):
            output_dir.rmdir()
        raise
