"""Exceptions that carry a message meant for the person running the plugin.

Workflows catch `UserFacingError` at the command line and print its message on one line (exit code 2);
anything else is a bug and keeps its traceback.
"""


class UserFacingError(Exception):
    """An input or environment problem, with a message that names the problem and the fix."""


class InvalidGranuleError(UserFacingError, ValueError):
    """A granule name or product that this plugin does not support."""


class MetadataError(UserFacingError):
    """Sentinel-1 metadata (annotation, manifest, orbit) is missing, malformed or inconsistent."""


class OrbitError(MetadataError):
    """No usable orbit: too few state vectors, gaps, or no coverage of the acquisition."""


class GeogridInputError(UserFacingError, ValueError):
    """Inputs of the Geogrid stage that cannot produce a valid result."""


class ProductError(UserFacingError):
    """A product (GeoTIFF, NetCDF, granule) that cannot be read, written or aligned."""


class OutputError(ProductError):
    """An output folder or file that cannot be used: missing, not writable, full, locked by another run."""


class UploadError(ProductError):
    """Products that could not be uploaded; the message says exactly what is left in the bucket."""


class TimingError(GeogridInputError):
    """A repeat time dt outside what a Sentinel-1 pair can have (> 0 and at most the configured maximum)."""
