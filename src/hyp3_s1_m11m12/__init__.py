"""HyP3 plugin that writes Sentinel-1 ITS_LIVE M11/M12 conversion matrices with the true repeat time."""

from importlib.metadata import PackageNotFoundError, version


try:
    __version__ = version(__name__)
except PackageNotFoundError:  # pragma: no cover - only when run from a source tree that was never installed
    __version__ = '0.0.0+unknown'

__all__ = ['__version__']
