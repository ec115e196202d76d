"""Root logger configuration, done once by each command-line entry point."""

import logging
import sys


LOG_FORMAT = '%(asctime)s - %(name)s - %(levelname)s - %(message)s'


def configure_root_logger(level: int = logging.INFO) -> None:
    """Log to stdout with timestamps; `force` because isce2 sets the root logger to DEBUG on import."""
    logging.basicConfig(stream=sys.stdout, format=LOG_FORMAT, level=level, force=True)
