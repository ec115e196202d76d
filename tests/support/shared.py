"""Where the reference data of ../shared lives, and what it holds (golden cases); project paths for tests."""

import os
import sys
from pathlib import Path
from typing import Any


if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_directory() -> Path:
    """../shared beside the repository, or wherever HYP3_S1_M11M12_SHARED points."""
    return Path(os.environ.get('HYP3_S1_M11M12_SHARED', REPO_ROOT.parent / 'shared')).resolve()


def golden_cases() -> list[str]:
    """Names of the golden cases, for parametrizing; empty (tests skip) when ../shared is absent."""
    golden = shared_directory() / 'golden'
    if not golden.is_dir():
        return []
    return sorted(path.parent.parent.name for path in golden.glob('*/inputs/spec.json'))


def load_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())
