"""Fault injection against the s1_correction_fixed command line, run as HyP3 runs it (a child process).

Every case asserts the exit code, the one-line message, that nothing is left behind (no staging, partial file or
lock in the output folder; nothing in the bucket) and that an earlier run's products are untouched.
Categories: out-of-range repeat times, signals (SIGTERM, SIGHUP, SIGINT, SIGKILL + the next run), concurrent runs,
a full disk (a small tmpfs), refused S3 operations (an IAM-like proxy in front of moto) and unusable folders.
"""

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.simulate.parameters import write_synthetic_parameter_file
from hyp3_s1_m11m12.simulate.safe import SyntheticPair, footprint_latlon, simulated_scene_pair
from hyp3_s1_m11m12.staging import LOCK_FILE_NAME, STAGING_PREFIX, folder_lock
from tests.support import s3 as s3_support
from tests.support.s3 import Bucket


s3 = s3_support.s3  # the fixture

COARSE_SPACING_M = 960.0  # a run of ~3 s, products of ~1.1 MB uncompressed
FINE_SPACING_M = 240.0  # Geogrid runs long enough (~2 s) to be caught by a signal half way
RUN_TIMEOUT_S = 180


@dataclass(frozen=True)
class Inputs:
    pair: SyntheticPair
    coarse: Path
    fine: Path


@pytest.fixture(scope='module')
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    folder = tmp_path_factory.mktemp('fault-inputs')
    pair = simulated_scene_pair(folder, as_zip=True)
    footprint = [(lon, lat) for lat, lon in footprint_latlon(pair.reference_scene)]
    coarse, _ = write_synthetic_parameter_file(footprint, folder / 'coarse', spacing_m=COARSE_SPACING_M, fraction=0.35)
    fine, _ = write_synthetic_parameter_file(footprint, folder / 'fine', spacing_m=FINE_SPACING_M, fraction=0.5)
    return Inputs(pair=pair, coarse=coarse, fine=fine)


def command(inputs: Inputs, output_dir: Path, *extra: str, fine: bool = False, timing: tuple[str, ...] = ()) -> list:
    return [
        sys.executable,
        '-m',
        'hyp3_s1_m11m12.workflows.s1_correction_fixed',
        str(inputs.pair.reference),
        *(timing or ('--secondary', str(inputs.pair.secondary))),
        '--orbit',
        'annotation',
        '--engine',
        'numpy',
        '--parameter-file',
        str(inputs.fine if fine else inputs.coarse),
        '--output-dir',
        str(output_dir),
        *extra,
    ]


def environment(**changes: str) -> dict[str, str]:
    env = {**os.environ, 'PYTHONUNBUFFERED': '1', **changes}
    env.pop(constants.MAX_DT_DAYS_ENV, None)
    return env


@dataclass(frozen=True)
class Outcome:
    code: int
    stderr: str

    @property
    def message(self) -> str:
        """The one line the run printed on stderr (its log goes to stdout)."""
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        assert 'Traceback' not in self.stderr and 'Exception ignored' not in self.stderr, self.stderr
        return lines[0]


def run(arguments: list, **changes: str) -> Outcome:
    result = subprocess.run(
        arguments, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=environment(**changes), check=False
    )
    return Outcome(result.returncode, result.stderr)


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry of `folder` (hidden ones included) with a digest of its content."""
    if not folder.exists():
        return {}
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else 'folder'
        for path in folder.iterdir()
    }


def assert_clean(folder: Path, before: dict[str, str]) -> None:
    """Nothing of the failed run is left: the folder is exactly as it was (or gone, if the run created it)."""
    assert snapshot(folder) == before


@pytest.fixture(scope='module')
def earlier(inputs: Inputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a complete earlier run: the originals no failed run may touch."""
    folder = tmp_path_factory.mktemp('earlier') / 'products'
    assert run(command(inputs, folder)).code == 0
    return folder


def copy_of(folder: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for path in folder.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


# --- repeat times out of range: exit 2 before any work, and no folder created ----------------------------------


@pytest.mark.parametrize(
    'timing, message',
    [
        (('--dt-seconds', '1e12'), 'longer than the maximum of 1460 days'),
        (('--dt-seconds', '1e300'), 'longer than the maximum of 1460 days'),
        (('--dt-seconds', '1e-300'), 'shorter than 1.0 s: that is the same acquisition'),
        (('--dt-seconds', 'nan'), 'not a finite number of seconds'),
        (('--dt-seconds', 'inf'), 'not a finite number of seconds'),
        (('--secondary-sensing-start', '9999-12-31T00:00:00Z'), 'longer than the maximum of 1460 days'),
    ],
    ids=['1e12', '1e300', '1e-300', 'nan', 'inf', 'year-9999'],
)
def test_a_repeat_time_out_of_range_is_one_line(inputs: Inputs, tmp_path: Path, timing: tuple, message: str) -> None:
    outcome = run(command(inputs, tmp_path / 'out', timing=timing))
    assert outcome.code == 2
    assert message in outcome.message and outcome.message.startswith('s1_correction_fixed: error: the repeat time')
    assert not (tmp_path / 'out').exists()


def test_the_dt_limit_can_be_raised(inputs: Inputs, tmp_path: Path) -> None:
    outcome = run(command(inputs, tmp_path / 'out', '--max-dt-days', '40000', timing=('--dt-seconds', '1e9')))
    assert outcome.code == 0, outcome.stderr
    assert len(list((tmp_path / 'out').glob('*_X_dt1000000000.000000s_conversion_matrices.nc'))) == 1


# --- signals: clean up as for Ctrl-C, one line, exit 128 + signal; a SIGKILLed run is cleaned by the next ---------


# Run a command with SIGHUP, SIGINT and SIGTERM at their defaults, as a terminal or a batch scheduler starts a job,
# even when the suite itself runs under nohup or in a background job (SIGHUP or SIGINT inherited as ignored): an
# exec keeps a default or ignored disposition, so the reset is done in a small Python that then execs the command.
WITH_DEFAULT_SIGNALS = (
    'import os, signal, sys\n'
    'for number in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):\n'
    '    signal.signal(number, signal.SIG_DFL)\n'
    'os.execv(sys.argv[1], sys.argv[1:])\n'
)


def start_and_signal(arguments: list, output_dir: Path, signal_number: int) -> Outcome:
    """Start a run and send `signal_number` once Geogrid has begun writing into the staging folder."""
    process = subprocess.Popen(
        [sys.executable, '-c', WITH_DEFAULT_SIGNALS, *map(str, arguments)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            staged = list(output_dir.glob(f'{STAGING_PREFIX}*/products/*')) if output_dir.exists() else []
            if staged:
                break
            assert process.poll() is None, 'the run ended before it could be signalled'
            time.sleep(0.005)
        process.send_signal(signal_number)
        _, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return Outcome(process.returncode, stderr)


@pytest.mark.parametrize(
    'signal_number, code, cause',
    [
        (signal.SIGTERM, 143, 'terminated by SIGTERM'),
        (signal.SIGHUP, 129, 'terminated by SIGHUP'),
        (signal.SIGINT, 130, 'interrupted'),
    ],
    ids=['SIGTERM', 'SIGHUP', 'SIGINT'],
)
def test_a_signal_mid_run_cleans_up(
    inputs: Inputs, earlier: Path, tmp_path: Path, signal_number: int, code: int, cause: str
) -> None:
    folder = copy_of(earlier, tmp_path / 'out')
    before = snapshot(folder)
    outcome = start_and_signal(command(inputs, folder, '--overwrite', fine=True), folder, signal_number)
    assert outcome.code == code
    assert outcome.message == f's1_correction_fixed: {cause}; no outputs were completed'
    assert_clean(folder, before)


def test_a_killed_run_is_cleaned_up_by_the_next_run(inputs: Inputs, tmp_path: Path) -> None:
    folder = tmp_path / 'out'
    start_and_signal(command(inputs, folder, fine=True), folder, signal.SIGKILL)
    leftovers = [path.name for path in folder.iterdir()]
    assert any(name.startswith(STAGING_PREFIX) for name in leftovers)  # SIGKILL cannot be handled
    (folder / '.s1_correction_fixed-partial-abc123').mkdir()  # what releases before staging.py left behind
    process = subprocess.run(
        command(inputs, folder), capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=environment(), check=False
    )
    assert process.returncode == 0, process.stderr
    assert 'Removed the leftovers of an interrupted run' in process.stdout
    names = sorted(path.name for path in folder.iterdir())
    assert len(names) == 11 and all('_X_' in name for name in names)  # exactly one product set, nothing hidden


# --- concurrent runs: one folder, one lock ------------------------------------------------------------------------


def test_a_second_run_into_a_locked_folder_fails_at_once(inputs: Inputs, earlier: Path, tmp_path: Path) -> None:
    folder = copy_of(earlier, tmp_path / 'out')
    with folder_lock(folder):
        before = snapshot(folder)
        outcome = run(command(inputs, folder, '--overwrite'))
    assert outcome.code == 2
    assert 'another run is writing into' in outcome.message and 'choose another --output-dir' in outcome.message
    before.pop(LOCK_FILE_NAME)
    assert_clean(folder, before)


def test_two_runs_at_once_never_replace_each_other(inputs: Inputs, tmp_path: Path) -> None:
    folder = tmp_path / 'out'
    first = subprocess.Popen(
        command(inputs, folder, fine=True),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not list(folder.glob(f'{STAGING_PREFIX}*')) and time.monotonic() < deadline:
        time.sleep(0.005)
    second = run(command(inputs, folder, '--overwrite', fine=True))
    _, first_error = first.communicate(timeout=RUN_TIMEOUT_S)
    assert first.returncode == 0, first_error
    assert second.code == 2 and 'another run is writing into' in second.message
    assert len(list(folder.iterdir())) == 11


# --- a full disk: one line, nothing left, the earlier products kept ---------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    def mount(size_kib: int) -> Path:
        folder = tmp_path / f'tmpfs-{size_kib}k'
        folder.mkdir()
        result = subprocess.run(
            ['mount', '-t', 'tmpfs', '-o', f'size={size_kib}k', 'tmpfs', str(folder)], capture_output=True, check=False
        )
        if result.returncode != 0:
            pytest.skip(f'cannot mount a tmpfs here ({result.stderr.decode().strip()}); needs root')
        mounted.append(folder)
        return folder

    mounted: list[Path] = []
    yield mount  # type: ignore[misc]
    for folder in mounted:
        subprocess.run(['umount', str(folder)], check=False)


@pytest.mark.parametrize(
    'size_kib, compression',
    [(64, 'none'), (400, 'none'), (1040, 'none'), (120, 'deflate')],
    ids=['during-geotiffs', 'mid-geotiffs', 'at-the-netcdf', 'compressed'],
)
def test_a_full_disk_is_one_line_and_leaves_nothing(
    inputs: Inputs, small_disk, size_kib: int, compression: str
) -> None:
    folder = small_disk(size_kib) / 'out'
    outcome = run(command(inputs, folder, '--geotiff-compression', compression))
    assert outcome.code == 2
    assert 'no space left' in outcome.message.lower() or 'free space' in outcome.message, outcome.message
    assert not folder.exists()


def test_a_full_disk_keeps_the_earlier_products(inputs: Inputs, earlier: Path, small_disk) -> None:
    disk = small_disk(1040)
    folder = copy_of(earlier, disk / 'out')  # ~590 kB of compressed products leave ~450 kB free
    before = snapshot(folder)
    outcome = run(command(inputs, folder, '--overwrite', '--geotiff-compression', 'none'))
    assert outcome.code == 2
    assert 'space' in outcome.message
    assert_clean(folder, before)


# --- S3 refusing operations, as IAM does --------------------------------------------------------------------------


@pytest.mark.parametrize(
    'refused, left',
    [({'PutObjectTagging'}, []), ({'PutObjectTagging', 'DeleteObject'}, ['first'])],
    ids=['tagging-refused', 'tagging-and-delete-refused'],
)
def test_a_refused_upload_says_exactly_what_is_left(
    inputs: Inputs, tmp_path: Path, s3: Bucket, refused: set, left: list
) -> None:
    s3.proxy.refused = refused
    outcome = run(
        command(inputs, tmp_path / 'out', '--bucket', s3.name, '--bucket-prefix', 'job-1'),
        AWS_ENDPOINT_URL=f'http://127.0.0.1:{s3.proxy.port}',
    )
    assert outcome.code == 2
    message = outcome.message
    assert 'AccessDenied' in message
    if left:
        (key,) = s3.keys()
        assert key.startswith('job-1/') and key.endswith('_window_location.tif')
        assert '1 object(s) are left in the bucket' in message and f's3://{s3.name}/{key}' in message
    else:
        assert s3.keys() == []
        assert 'nothing was left in the bucket' in message


def test_sigterm_during_the_upload_rolls_it_back(
    inputs: Inputs, tmp_path: Path, s3: Bucket, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The real signal, delivered to this process while the third object is being tagged."""
    import hyp3lib.aws

    from hyp3_s1_m11m12.workflows import s1_correction_fixed as workflow

    real = hyp3lib.aws.S3_CLIENT.put_object_tagging
    calls: list[str] = []

    def terminated_while_tagging(**kwargs: object) -> object:
        calls.append(str(kwargs['Key']))
        response = real(**kwargs)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return response

    monkeypatch.setattr(hyp3lib.aws.S3_CLIENT, 'put_object_tagging', terminated_while_tagging)
    monkeypatch.setattr(sys, 'argv', command(inputs, tmp_path / 'out', '--bucket', s3.name)[2:])
    monkeypatch.setattr(sys, 'argv', ['s1_correction_fixed', *sys.argv[1:]])
    with pytest.raises(SystemExit) as exit_info:
        workflow.main()
    assert exit_info.value.code == 143
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1
    assert message.startswith('s1_correction_fixed: terminated by SIGTERM; no outputs were completed; the upload to')
    assert message.endswith('removed the 3 object(s) already uploaded, nothing was left in the bucket')
    assert s3.keys() == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone after the run


# --- unusable folders --------------------------------------------------------------------------------------------


def test_an_output_dir_below_a_file_is_one_line(inputs: Inputs, tmp_path: Path) -> None:
    blocker = tmp_path / 'a-file'
    blocker.write_text('original')
    outcome = run(command(inputs, blocker / 'out'))
    assert outcome.code == 2 and 'cannot create the output directory' in outcome.message
    assert blocker.read_text() == 'original'


def test_earlier_products_without_overwrite_are_kept(inputs: Inputs, earlier: Path, tmp_path: Path) -> None:
    folder = copy_of(earlier, tmp_path / 'out')
    before = snapshot(folder)
    outcome = run(command(inputs, folder))
    assert outcome.code == 2 and 'already holds outputs' in outcome.message and '--overwrite' in outcome.message
    assert_clean(folder, before)
