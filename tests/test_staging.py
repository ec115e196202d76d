"""The one staging mechanism: atomic files, staged folders, the folder lock, leftovers, signals."""

import os
import signal
from pathlib import Path

import pytest

from hyp3_s1_m11m12.errors import OutputError
from hyp3_s1_m11m12.staging import (
    LOCK_FILE_NAME,
    STAGING_PREFIX,
    Terminated,
    atomic_file,
    folder_lock,
    remove_leftover_staging,
    staged_directory,
    terminate_on_signals,
)


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_atomic_file_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / 'a.txt'
    with atomic_file(target) as temporary:
        temporary.write_text('new')
        assert names(tmp_path) == [temporary.name] and temporary.name.endswith('.partial')
    assert names(tmp_path) == ['a.txt']
    with pytest.raises(KeyboardInterrupt), atomic_file(target) as temporary:
        temporary.write_text('half')
        raise KeyboardInterrupt
    assert target.read_text() == 'new' and names(tmp_path) == ['a.txt']
    with pytest.raises(OutputError, match='already exists'), atomic_file(target, overwrite=False):
        pass
    with pytest.raises(OutputError, match='does not exist'), atomic_file(tmp_path / 'no' / 'b.txt'):
        pass


def test_a_staged_folder_publishes_together_and_removes_stale_names(tmp_path: Path) -> None:
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'stale.tif').write_text('old run')
    (out / 'unrelated.txt').write_text('keep')
    with staged_directory(out, ['a.nc', 'stale.tif'], overwrite=True) as staging:
        (staging.products / 'a.nc').write_text('a')
        (staging.work / 'download.zip').write_text('scratch')  # never published
        assert names(out)[0].startswith('.')  # only the hidden staging and the lock meanwhile
        assert LOCK_FILE_NAME in names(out)
    assert names(out) == ['a.nc', 'unrelated.txt']


def test_a_failed_stage_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), staged_directory(tmp_path / 'new') as staging:
        (staging.products / 'a.nc').write_text('a')
        raise RuntimeError('boom')
    assert not (tmp_path / 'new').exists()
    (tmp_path / 'old').mkdir()
    (tmp_path / 'old' / 'a.nc').write_text('earlier')
    with (
        pytest.raises(OutputError, match=r'already holds outputs \(a.nc\)'),
        staged_directory(tmp_path / 'old') as staging,
    ):
        staging.claim(['a.nc'])
    assert names(tmp_path / 'old') == ['a.nc']


def test_the_lock_refuses_a_second_holder_and_is_removed(tmp_path: Path) -> None:
    with folder_lock(tmp_path):
        with pytest.raises(OutputError, match='another run is writing into'), folder_lock(tmp_path):
            pass
        assert (tmp_path / LOCK_FILE_NAME).read_text().strip() == str(os.getpid())
    assert names(tmp_path) == []
    with folder_lock(tmp_path):  # free again
        pass


def test_leftovers_are_recognised_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / f'{STAGING_PREFIX}x1').mkdir()
    (tmp_path / '.numpy-geogrid-abc').mkdir()
    (tmp_path / f'.a.nc.{"0" * 32}.partial').write_text('half')
    (tmp_path / '.hidden-but-mine').write_text('keep')
    (tmp_path / 'product.nc').write_text('keep')
    removed = remove_leftover_staging(tmp_path)
    assert len(removed) == 3
    assert names(tmp_path) == ['.hidden-but-mine', 'product.nc']


def test_sigterm_and_sighup_become_terminated_inside_the_block() -> None:
    for number, code in ((signal.SIGTERM, 143), (signal.SIGHUP, 129)):
        inherited = signal.signal(number, signal.SIG_DFL)  # the suite may run under nohup (SIGHUP ignored)
        try:
            with pytest.raises(Terminated) as caught, terminate_on_signals():
                os.kill(os.getpid(), number)
                signal.pause()  # not reached: the handler raises first
            assert caught.value.exit_code == code
            assert signal.getsignal(number) is signal.SIG_DFL
        finally:
            signal.signal(number, inherited)


def test_a_signal_started_ignored_stays_ignored() -> None:
    inherited = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with terminate_on_signals():
            os.kill(os.getpid(), signal.SIGHUP)  # ignored: the block runs on
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, inherited)
