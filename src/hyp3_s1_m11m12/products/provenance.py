"""What a product records about where it came from, and the names that make each pair's products unique.

Every product of this project carries `dt_convention = 'true_dt'` with `dt_seconds`, `dt_days`,
`reference_granule` and `secondary_granule`; a conversion-matrices file without that flag is a legacy (hyp3-autorift
`s1_correction`, spoofed 1-day dt) file. The title says the same in words, and the file name
`<reference>_X_<secondary>_conversion_matrices.nc` keeps JPL's restore script (which reads `conversion_matrices.nc`
and multiplies by date_dt unconditionally) from ever picking these files up.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.sentinel1.pairing import RepeatTime
from hyp3_s1_m11m12.timeutil import format_utc


PRODUCT_SUFFIX = '_conversion_matrices'
NETCDF_EXTENSION = '.nc'
QUICKLOOK_EXTENSION = '.png'
PAIR_SEPARATOR = '_X_'
# Extensions of the scene and burst sources the workflows accept; a product is named for the scene, not the file.
SOURCE_EXTENSIONS = ('.zip', '.SAFE', '.safe', '.xml')
DT_CONVENTION = 'true_dt'
DT_CONVENTION_DESCRIPTION = (
    'M11/M12 are computed with the true repeat time dt_seconds of the pair (secondary minus reference sensing '
    'start); they must not be rescaled by date_dt (hyp3-autorift s1_correction files used a spoofed 1-day dt)'
)
TITLE = 'Sentinel-1 M11/M12 conversion matrices with the TRUE repeat time (true_dt convention, do not rescale)'
LEI_2021_URL = 'https://www.mdpi.com/2072-4292/13/4/749'
UNKNOWN_SECONDARY = 'unknown (repeat time given directly)'


def scene_name(source: str) -> str:
    """A scene or burst name from a name, a path or a URL: the last component without a known extension."""
    name = PurePath(source.rstrip('/')).name
    for extension in SOURCE_EXTENSIONS:
        if name.endswith(extension):
            return name[: -len(extension)]
    return name


def secondary_label(repeat_time: RepeatTime) -> str:
    """The secondary's scene name, or for a run given only dt, the dt itself (still unique per pair)."""
    if repeat_time.secondary_granule is not None:
        return scene_name(repeat_time.secondary_granule)
    return f'dt{repeat_time.dt_seconds:.6f}s'


def conversion_matrices_file_name(reference: str, secondary: str) -> str:
    """`<reference>_X_<secondary>_conversion_matrices.nc` (scene or burst names, extensions dropped)."""
    return f'{product_stem(reference, secondary)}{PRODUCT_SUFFIX}{NETCDF_EXTENSION}'


def product_stem(reference: str, secondary: str) -> str:
    stem = f'{scene_name(reference)}{PAIR_SEPARATOR}{scene_name(secondary)}'
    if not re.fullmatch(r'[\w.+-]+', stem):
        raise ValueError(f'{stem!r} cannot name a product file; use scene or burst names')
    return stem


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where a set of conversion matrices came from; written as global attributes of the NetCDF.

    `engine` is the Geogrid engine that ran ('numpy' is the project's own engine) and `engine_version` its
    version; `autorift_version` is the autoRIFT Geogrid version whose algorithm produced the numbers (the
    project's engine reproduces autoRIFT's v1.6.0 radar Geogrid). `parameter_file` is the ITS_LIVE autoRIFT
    parameter shapefile (a /vsicurl/ prefix is dropped when written), `parameter_region` its region used.
    """

    software_version: str
    repeat_time: RepeatTime
    engine: str
    engine_version: str
    autorift_version: str = constants.AUTORIFT_ALGORITHM_VERSION
    parameter_file: str | None = None
    parameter_region: str | None = None
    orbit_source: str | None = None  # the orbit the reference geometry used: 'annotation' or an EOF file name
    orbit_source_detail: str | None = None  # e.g. why a fetch fell back to the annotation (sentinel1/ fills it)
    buffer_pixels: int | None = None  # range pixels added on each side of the reference image
    geotiff_compression: str | None = None

    @property
    def reference_id(self) -> str:
        return self.repeat_time.reference_granule

    @property
    def secondary_id(self) -> str | None:
        return self.repeat_time.secondary_granule

    @property
    def dt_seconds(self) -> float:
        return self.repeat_time.dt_seconds

    @property
    def dt_days(self) -> float:
        return self.repeat_time.dt_days

    @property
    def stem(self) -> str:
        """The pair's file-name stem, `<reference>_X_<secondary>`."""
        return product_stem(self.reference_id, secondary_label(self.repeat_time))


def global_attributes(provenance: Provenance, created: datetime) -> dict[str, Any]:
    """The global attributes of a conversion-matrices NetCDF: hyp3-autorift's first, then the provenance.

    Attributes whose value is unknown (None) are left out. `created` is naive UTC.
    """
    timing = provenance.repeat_time
    attributes: dict[str, Any] = {
        'GDAL_AREA_OR_POINT': 'Area',
        'Conventions': 'CF-1.8',
        'date_created': format_utc(created),
        'title': TITLE,
        'autoRIFT_software_version': provenance.autorift_version,
    }
    optional = {
        'autoRIFT_parameter_file': (
            None
            if provenance.parameter_file is None
            else provenance.parameter_file.removeprefix(constants.VSICURL_PREFIX)
        ),
        'autoRIFT_parameter_region': provenance.parameter_region,
    }
    attributes.update({name: value for name, value in optional.items() if value is not None})
    attributes.update(
        {
            'software': 'hyp3_s1_m11m12',
            'software_version': provenance.software_version,
            'geogrid_engine': provenance.engine,
            'geogrid_engine_version': provenance.engine_version,
            'dt_convention': DT_CONVENTION,
            'dt_convention_description': DT_CONVENTION_DESCRIPTION,
            'dt_seconds': float(timing.dt_seconds),
            'dt_days': float(timing.dt_days),
            'dt_source': timing.source,
            'reference_granule': timing.reference_granule,
            'secondary_granule': timing.secondary_granule or UNKNOWN_SECONDARY,
            'reference_sensing_start': format_utc(timing.reference_sensing_start),
            'secondary_sensing_start': format_utc(timing.secondary_sensing_start),
        }
    )
    rule = getattr(timing, 'rule', None)  # the dt rule sentinel1/pairing.py applied, once it records one
    details = {
        'dt_rule': rule or None,
        'dt_matched_burst_id': timing.matched_burst_id,
        'orbit_source': provenance.orbit_source,
        'orbit_source_detail': provenance.orbit_source_detail,
        'buffer_range_pixels': provenance.buffer_pixels,
        'geotiff_compression': provenance.geotiff_compression,
    }
    attributes.update({name: value for name, value in details.items() if value is not None})
    secondary = timing.secondary_granule or 'a secondary given by its repeat time'
    attributes['history'] = (
        f'{format_utc(created)}: M11/M12 computed by hyp3_s1_m11m12 {provenance.software_version} from '
        f'{provenance.engine} {provenance.engine_version} radar Geogrid (autoRIFT {provenance.autorift_version} '
        f'algorithm) outputs of {timing.reference_granule} and {secondary}, with the true repeat time '
        f'dt = {timing.dt_seconds} s'
    )
    attributes['references'] = LEI_2021_URL
    return attributes
