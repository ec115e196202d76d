"""How every benchmark here times a command: a fresh child process, wall clock around it, its own CPU and peak RSS."""

import os
import shutil
import subprocess
import time
from pathlib import Path


PROJECT = Path(__file__).resolve().parents[1]


def timed(
    command: list[str], output: Path | None = None, env: dict[str, str] | None = None
) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MiB) of `command` run from the project folder (os.wait4 counts only the child).

    `output`, the folder the command writes, is emptied first, untimed, as a HyP3 job's folder is: replacing the last
    run's files would time the deletion of hundreds of MB too.
    """
    if output is not None:
        shutil.rmtree(output, ignore_errors=True)
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=PROJECT)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        error = process.stderr.read().decode() if process.stderr else ''
        raise SystemExit(f'failed: {" ".join(command)}: {error}')
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
