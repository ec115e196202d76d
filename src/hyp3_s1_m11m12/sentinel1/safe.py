"""Reading the annotation of a Sentinel-1 SAFE product: a .SAFE directory or a zip, local or remote.

Only the product annotation XML of the swaths and polarisation used is read (a few MB of a 4-8 GB product).
Zips may hold their SAFE under an extra leading folder and junk members (`__MACOSX/`, `.DS_Store`, `._*`).
"""

import logging
import re
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from hyp3_s1_m11m12.errors import InvalidGranuleError, MetadataError
from hyp3_s1_m11m12.sentinel1.annotation import SwathAnnotation, parse_annotation, parse_xml
from hyp3_s1_m11m12.sentinel1.names import (
    ORBITS_PER_CYCLE,
    PRIMARY_POLARIZATION,
    SCENE_PATTERN,
    cross_checked_relative_orbit,
)


log = logging.getLogger(__name__)

IW_SWATHS = ('IW1', 'IW2', 'IW3')
# Real product annotation is < 10 MB and a manifest < 1 MB: anything larger is not metadata (a zip bomb, a link to
# /dev/zero) and is refused before it is read.
MAX_MEMBER_BYTES = 32 * 1024 * 1024
POLARIZATIONS = ('VV', 'VH', 'HH', 'HV')
# Product annotation only: calibration/, noise/ and rfi/ live in sub-folders of annotation/.
ANNOTATION_MEMBER = re.compile(
    r'^(?P<prefix>(?:.*/)?)annotation/(?P<mission>s1[abcd])-(?P<swath>iw[123])-slc-(?P<polarization>vv|vh|hh|hv)-'
    r'[^/]*\.xml$',
    re.IGNORECASE,
)


class SafeSource(Protocol):
    """A SAFE product whose members can be listed and read; member names are relative to the SAFE folder."""

    @property
    def description(self) -> str: ...

    def product_name(self) -> str: ...

    def annotation_members(self) -> dict[tuple[str, str], str]: ...  # (swath, polarization) -> member

    def read(self, member: str) -> bytes: ...

    def has(self, member: str) -> bool: ...


def is_junk(name: str) -> bool:
    """macOS resource forks and folder metadata that zip tools add."""
    parts = PurePosixPath(name).parts
    return any(part == '__MACOSX' for part in parts) or (bool(parts) and parts[-1].startswith(('._', '.DS_Store')))


def _product_name_from(path_text: str) -> str:
    for part in reversed(PurePosixPath(path_text).parts):
        stem = part[: -len('.SAFE')] if part.upper().endswith('.SAFE') else part
        stem = stem.removesuffix('.zip')
        if SCENE_PATTERN.match(stem):
            return stem
    return ''


def _annotation_map(names: Sequence[str], description: str) -> tuple[str, dict[tuple[str, str], str]]:
    """The SAFE root prefix inside an archive and its product annotation members."""
    found: dict[str, dict[tuple[str, str], str]] = {}
    for name in names:
        if is_junk(name):
            continue
        match = ANNOTATION_MEMBER.match(name)
        if match:
            key = (match['swath'].upper(), match['polarization'].upper())
            found.setdefault(match['prefix'], {})[key] = name[len(match['prefix']) :]
    if not found:
        raise MetadataError(
            f'{description} holds no Sentinel-1 product annotation (annotation/s1?-iw?-slc-*.xml); '
            'it is not a Sentinel-1 IW SLC SAFE product: give the SLC zip or .SAFE folder as downloaded from ASF'
        )
    if len(found) > 1:
        raise MetadataError(
            f'{description} holds several SAFE products ({", ".join(sorted(p or "/" for p in found))}); '
            'give one product at a time'
        )
    prefix, members = next(iter(found.items()))
    return prefix, members


@dataclass
class DirectorySafe:
    path: Path

    @property
    def description(self) -> str:
        return str(self.path)

    def product_name(self) -> str:
        return _product_name_from(str(self.path))

    def annotation_members(self) -> dict[tuple[str, str], str]:
        annotation = self.path / 'annotation'
        names = [f'annotation/{p.name}' for p in annotation.glob('*.xml')] if annotation.is_dir() else []
        return _annotation_map(names, self.description)[1]

    def has(self, member: str) -> bool:
        return (self.path / member).exists()

    def read(self, member: str) -> bytes:
        path = self.path / member
        try:
            if not path.is_file():  # a FIFO, a device (a link to /dev/zero), a folder
                raise MetadataError(f'{path} is not a regular file; give the SAFE folder as downloaded')
            check_member_size(str(path), path.stat().st_size)
            with path.open('rb') as file:
                data = file.read(MAX_MEMBER_BYTES + 1)
        except OSError as error:
            raise MetadataError(f'cannot read {path} ({error.strerror}); check the SAFE folder') from None
        check_member_size(str(path), len(data))
        return data


def check_member_size(description: str, size: int, limit: int = MAX_MEMBER_BYTES) -> None:
    """Refuse metadata larger than `limit` bytes before reading it.

    Raises:
        MetadataError: naming the size and the limit.
    """
    if size > limit:
        raise MetadataError(
            f'{description} is {size / 2**20:.1f} MiB, more than the {limit / 2**20:.0f} MiB any Sentinel-1 metadata '
            'file has; refusing to read it: re-download the product from ASF'
        )


ZIP_READ_ERRORS: tuple[type[BaseException], ...] = (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError)


class ZipSafe:
    """A SAFE inside a zip archive (local, or remote through a ZipFile subclass such as remotezip.RemoteZip)."""

    def __init__(self, description: str, opener: Callable[[], zipfile.ZipFile], attempts: int = 1) -> None:
        self.description = description
        self._opener = opener
        self._attempts = attempts
        self._zip = self._open()
        self._prefix, self._members = _annotation_map(self._zip.namelist(), description)

    def _open(self) -> zipfile.ZipFile:
        try:
            return self._opener()
        except zipfile.BadZipFile:
            raise MetadataError(
                f'{self.description} is not a readable zip (truncated or corrupt: no central directory); '
                'download the product again'
            ) from None
        except MetadataError:
            raise
        except OSError as error:
            raise MetadataError(f'cannot open {self.description} ({error}); check the path or URL') from None

    def product_name(self) -> str:
        return _product_name_from(self._prefix) or _product_name_from(self.description)

    def annotation_members(self) -> dict[tuple[str, str], str]:
        return dict(self._members)

    def has(self, member: str) -> bool:
        return self._prefix + member in self._zip.NameToInfo

    def read(self, member: str) -> bytes:
        last_error: BaseException | None = None
        try:
            info = self._zip.getinfo(self._prefix + member)
        except KeyError:
            raise MetadataError(f'{self.description} has no member {member}; download the product again') from None
        # The central directory's size is checked first; zipfile then never inflates more than that size.
        check_member_size(f'{self.description}:{member}', info.file_size)
        for attempt in range(1, self._attempts + 1):
            try:
                with self._zip.open(info) as stream:
                    return stream.read(MAX_MEMBER_BYTES + 1)
            except ZIP_READ_ERRORS as error:
                last_error = error
                if attempt < self._attempts:
                    log.warning(f'reading {member} from {self.description} failed ({error}); retrying')
                    self._zip.close()
                    self._zip = self._open()
            except Exception as error:  # remote read errors of urllib3/remotezip that are not OSErrors
                if not _is_transfer_error(error):
                    raise
                last_error = error
                if attempt < self._attempts:
                    log.warning(f'reading {member} from {self.description} failed ({error}); retrying')
                    self._zip.close()
                    self._zip = self._open()
        raise MetadataError(
            f'cannot read {member} from {self.description}: the zip is truncated or corrupt ({last_error}); '
            'download the product again'
        )

    def close(self) -> None:
        self._zip.close()


def _is_transfer_error(error: BaseException) -> bool:
    module = type(error).__module__
    return module.startswith(('urllib3', 'requests', 'remotezip', 'http.client'))


def open_local_zip(path: Path) -> ZipSafe:
    return ZipSafe(str(path), lambda: zipfile.ZipFile(path))


def open_local_safe(path: Path) -> SafeSource:
    """A .SAFE folder or a local .zip."""
    if path.is_dir():
        return DirectorySafe(path)
    if path.is_file():
        return open_local_zip(path)
    raise InvalidGranuleError(f'{path} does not exist; give an existing .SAFE folder or .zip, or a scene name')


@dataclass(frozen=True)
class SafeMetadata:
    name: str  # product name (scene name when known)
    annotations: tuple[SwathAnnotation, ...]  # one per swath used, in swath order
    primary_polarization: str
    track_source: str = 'offset table'  # where the relative orbit came from: 'manifest' or 'offset table'


MANIFEST = 'manifest.safe'


def manifest_relative_orbit(source: SafeSource) -> int | None:
    """`safe:relativeOrbitNumber type="start"` of the manifest, or None without a manifest or that element.

    Raises:
        MetadataError: an oversized, malformed or hostile manifest, or a relative orbit outside 1..175.
    """
    if not source.has(MANIFEST):
        return None
    root = parse_xml(source.read(MANIFEST), f'{source.description}:{MANIFEST}')
    for element in root.iter():
        if element.tag.rsplit('}', 1)[-1] == 'relativeOrbitNumber' and element.get('type', 'start') == 'start':
            text = (element.text or '').strip()
            if not text.isdigit() or not 1 <= int(text) <= ORBITS_PER_CYCLE:
                raise MetadataError(
                    f'{source.description}:{MANIFEST}: relativeOrbitNumber {text[:20]!r} is not a track 1..'
                    f'{ORBITS_PER_CYCLE}; re-download the product'
                )
            return int(text)
    return None


def choose_polarization(product_name: str, available: set[tuple[str, str]], requested: str | None) -> str:
    """The polarisation hyp3-autorift uses: VV for SV/DV, HH for SH/DH (from the name; else what is present)."""
    if requested is not None:
        requested = requested.upper()
        if requested not in POLARIZATIONS:
            raise InvalidGranuleError(f'polarization {requested!r} is not one of {", ".join(POLARIZATIONS)}')
        return requested
    match = SCENE_PATTERN.match(product_name)
    if match:
        return PRIMARY_POLARIZATION[match['polarization_code']]
    present = {polarization for _, polarization in available}
    for candidate in ('VV', 'HH', 'VH', 'HV'):
        if candidate in present:
            return candidate
    raise MetadataError('no polarisation found')  # unreachable: _annotation_map found at least one member


def read_safe_metadata(
    source: SafeSource, *, swaths: Sequence[str] | None = None, polarization: str | None = None
) -> SafeMetadata:
    """Read the product annotation of the swaths used.

    Swaths default to all IW swaths present. The polarisation defaults to hyp3-autorift's choice; when a swath lacks
    it (and none was requested), another polarisation of that swath is used with a warning: all polarisations of
    a swath share the same timing and sampling.

    Raises:
        MetadataError, InvalidGranuleError: missing swaths or polarisation, unreadable or invalid annotation.
    """
    members = source.annotation_members()
    name = source.product_name()
    primary = choose_polarization(name, set(members), polarization)
    present_swaths = sorted({swath for swath, _ in members})
    if swaths is None:
        used_swaths = present_swaths
    else:
        used_swaths = sorted({swath.upper() for swath in swaths})
        unknown = [swath for swath in used_swaths if swath not in IW_SWATHS]
        if unknown:
            raise InvalidGranuleError(f'unknown swath(s) {", ".join(unknown)}; use IW1, IW2 and/or IW3')
        missing = [swath for swath in used_swaths if swath not in present_swaths]
        if missing:
            raise MetadataError(
                f'{source.description} has no annotation for {", ".join(missing)} (it has '
                f'{", ".join(present_swaths)}); choose swaths among those'
            )
    annotations = []
    for swath in used_swaths:
        member = members.get((swath, primary))
        if member is None:
            others = sorted(pol for sw, pol in members if sw == swath)
            if polarization is not None or not others:
                raise MetadataError(
                    f'{source.description} has no {primary} annotation for {swath} (it has {", ".join(others)}); '
                    'choose another polarization'
                )
            log.warning(
                f'{source.description}: no {primary} annotation for {swath}; using {others[0]}, whose burst timing and '
                'range sampling are the same'
            )
            member = members[(swath, others[0])]
        annotation = parse_annotation(source.read(member), f'{source.description}:{member}')
        if annotation.swath != swath:
            raise MetadataError(f'{source.description}:{member} annotates {annotation.swath}, not {swath}')
        annotations.append(annotation)
    product = name or annotations[0].source
    track = manifest_relative_orbit(source)
    if track is not None:
        first = annotations[0]
        cross_checked_relative_orbit(first.mission, first.absolute_orbit, track, f'{source.description}:{MANIFEST}')
        annotations = [annotation.with_track(track) for annotation in annotations]
    return SafeMetadata(
        name=product,
        annotations=tuple(annotations),
        primary_polarization=primary,
        track_source='manifest' if track is not None else 'offset table',
    )
