import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _forget_stream_handlers_of_the_test() -> Iterator[None]:
    """Workflows' main() configure the root logger on pytest's captured stdout, which is closed after the test."""
    root = logging.getLogger()
    before = set(root.handlers)
    yield
    for handler in root.handlers[:]:
        if handler not in before and type(handler) is logging.StreamHandler:
            root.removeHandler(handler)


def shared_directory() -> Path:
    """../shared beside the repository, or wherever HYP3_S1_M11M12_SHARED points."""
    return Path(os.environ.get('HYP3_S1_M11M12_SHARED', REPO_ROOT.parent / 'shared')).resolve()


@pytest.fixture(scope='session')
def shared_dir() -> Path:
    path = shared_directory()
    if not path.is_dir():
        pytest.skip(f'reference data {path} is absent (set HYP3_S1_M11M12_SHARED to its location)')
    return path


@pytest.fixture(scope='session')
def golden_dir(shared_dir: Path) -> Path:
    path = shared_dir / 'golden'
    if not path.is_dir():
        pytest.skip(f'golden Geogrid outputs {path} are absent')
    return path


@pytest.fixture(scope='session')
def s1_dir(shared_dir: Path) -> Path:
    path = shared_dir / 's1'
    if not path.is_dir():
        pytest.skip(f'real Sentinel-1 metadata {path} is absent')
    return path


def golden_cases() -> list[str]:
    """Names of the golden cases, for parametrizing; empty (tests skip) when ../shared is absent."""
    golden = shared_directory() / 'golden'
    if not golden.is_dir():
        return []
    return sorted(path.parent.parent.name for path in golden.glob('*/inputs/spec.json'))


def load_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())
