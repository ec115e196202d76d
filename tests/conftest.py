"""Fixtures shared by every layer's tests. Helpers that tests import live in tests/support/."""

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.shared import shared_directory


@pytest.fixture(autouse=True)
def _forget_stream_handlers_of_the_test() -> Iterator[None]:
    """Workflows' main() configure the root logger on pytest's captured stdout, which is closed after the test."""
    root = logging.getLogger()
    before = set(root.handlers)
    yield
    for handler in root.handlers[:]:
        if handler not in before and type(handler) is logging.StreamHandler:
            root.removeHandler(handler)


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
