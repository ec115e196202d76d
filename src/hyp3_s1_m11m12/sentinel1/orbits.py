"""Orbit state vectors: ESA EOF files (POEORB/RESORB), their download with s1_orbits, and the annotation orbit.

As ISCE2's Sentinel-1 reader does (extractPreciseOrbit, margin 60 s), only the vectors from 60 s before the first
burst to 60 s after the last are kept from an orbit file; the annotation orbit (17 vectors, 10 s apart) is kept
whole. An orbit that does not cover the acquisition, has a gap, or has fewer than 4 vectors is an error.

Coverage rule: an orbit file is used alone only when its vectors span the acquisition plus, on both sides, a full
interpolation stencil (HERMITE_NODES vectors) and the acquisition's duration again (Geogrid evaluates the orbit
beyond the image edges). A file that covers the acquisition but not that margin (a scene that starts seconds
after a POEORB's validity start: JPL's "Error with orbit interpolation") is completed with the annotation's
vectors beyond its span; one that does not cover the acquisition falls back to the annotation orbit ('auto').
"""

import dataclasses
import itertools
import logging
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from hyp3_s1_m11m12 import network
from hyp3_s1_m11m12.errors import MetadataError, OrbitError
from hyp3_s1_m11m12.geometry.orbit import HERMITE_NODES, MINIMUM_STATE_VECTORS, Orbit, StateVector
from hyp3_s1_m11m12.sentinel1.annotation import parse_xml
from hyp3_s1_m11m12.sentinel1.safe import check_member_size
from hyp3_s1_m11m12.timeutil import parse_utc


log = logging.getLogger(__name__)

ORBIT_MARGIN_S = 60.0  # ISCE2 Sentinel1.extractPreciseOrbit(margin=60.0)
# A spacing larger than this many times the typical one is a gap (the files have a regular 10 s grid).
ORBIT_GAP_FACTOR = 2.0
ORBITS_API_URL_ENV = 'HYP3_S1_M11M12_ORBITS_API_URL'
ORBITS_API_URL: str | None = None  # None: s1_orbits.API_URL (https://s1-orbits.asf.alaska.edu/scene)
# A POEORB holds 26 h of 10 s vectors (about 4.5 MB); anything far larger is not an orbit file.
MAX_ORBIT_FILE_BYTES = 64 * 1024 * 1024

ORBIT_CHOICES = ('auto', 'annotation')


def parse_eof(data: bytes, source: str) -> list[StateVector]:
    """State vectors (UTC, ECEF) of an ESA Earth Explorer orbit file (AUX_POEORB, AUX_RESORB).

    Raises:
        OrbitError: not an EOF orbit file, not in the Earth-fixed frame, or malformed values.
    """
    try:
        root = parse_xml(data, source)
    except MetadataError as error:  # hostile or malformed XML: keep the message, as an orbit error
        raise OrbitError(str(error)) from None
    osvs = root.findall('Data_Block/List_of_OSVs/OSV')
    if not osvs:
        raise OrbitError(f'{source} has no Data_Block/List_of_OSVs/OSV; it is not an ESA EOF orbit file')
    frame = root.findtext('Earth_Explorer_Header/Variable_Header/Ref_Frame')
    if frame is not None and frame.strip() != 'EARTH_FIXED':
        raise OrbitError(f'{source}: reference frame {frame.strip()}, expected EARTH_FIXED; use a POEORB/RESORB file')
    vectors = []
    for number, osv in enumerate(osvs, start=1):
        try:
            time = parse_utc(osv.findtext('UTC') or '')
            values = [float(osv.findtext(tag) or 'nan') for tag in ('X', 'Y', 'Z', 'VX', 'VY', 'VZ')]
        except ValueError:
            raise OrbitError(f'{source}: state vector {number} has a malformed time or coordinate') from None
        if not np.all(np.isfinite(values)):
            raise OrbitError(f'{source}: state vector {number} misses a coordinate (UTC, X, Y, Z, VX, VY, VZ)')
        vectors.append(
            StateVector(
                time=time, position_m=(values[0], values[1], values[2]), velocity_m_s=(values[3], values[4], values[5])
            )
        )
    return vectors


def read_eof(path: Path) -> list[StateVector]:
    try:
        if not path.is_file():
            raise OrbitError(f'orbit file {path} is not a regular file; give an EOF file')
        check_member_size(str(path), path.stat().st_size, MAX_ORBIT_FILE_BYTES)
        with path.open('rb') as file:
            data = file.read(MAX_ORBIT_FILE_BYTES + 1)
    except MetadataError as error:
        raise OrbitError(str(error)) from None
    except OSError as error:
        raise OrbitError(f'cannot read orbit file {path} ({error.strerror}); check the path') from None
    return parse_eof(data, path.name)


def _describe(vectors: Sequence[StateVector]) -> str:
    if not vectors:
        return 'no state vectors'
    return f'{len(vectors)} state vectors from {vectors[0].time} to {vectors[-1].time}'


def coverage_margin_s(vectors: Sequence[StateVector], start: datetime, stop: datetime) -> float:
    """The margin an orbit must have on both sides: a full interpolation stencil plus the acquisition's duration."""
    times = sorted(vector.time for vector in vectors)
    spacings = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    spacing = float(np.median(spacings)) if spacings else 10.0
    return HERMITE_NODES * spacing + (stop - start).total_seconds()


def covers(vectors: Sequence[StateVector], start: datetime, stop: datetime, margin_s: float) -> bool:
    if not vectors:
        return False
    first = min(vector.time for vector in vectors)
    last = max(vector.time for vector in vectors)
    return first <= start - timedelta(seconds=margin_s) and last >= stop + timedelta(seconds=margin_s)


def completed_with_annotation(
    vectors: Sequence[StateVector], annotation_vectors: Sequence[StateVector]
) -> list[StateVector]:
    """The orbit file's vectors, with the annotation's beyond the file's span (at least one spacing away)."""
    ordered = sorted(vectors, key=lambda vector: vector.time)
    first, last = ordered[0].time, ordered[-1].time
    spacing = timedelta(seconds=(last - first).total_seconds() / max(len(ordered) - 1, 1))
    before = [vector for vector in annotation_vectors if vector.time <= first - spacing * 0.5]
    after = [vector for vector in annotation_vectors if vector.time >= last + spacing * 0.5]
    return sorted([*before, *ordered, *after], key=lambda vector: vector.time)


def orbit_for_acquisition(
    vectors: Sequence[StateVector],
    start: datetime,
    stop: datetime,
    *,
    source: str,
    margin_s: float | None = ORBIT_MARGIN_S,
) -> Orbit:
    """The vectors around [start, stop] (all of them when margin_s is None), checked for coverage and gaps.

    Raises:
        OrbitError: no coverage of [start, stop], a gap, or fewer than 4 vectors.
    """
    ordered = sorted({vector.time: vector for vector in vectors}.values(), key=lambda vector: vector.time)
    if margin_s is not None:
        low, high = start - timedelta(seconds=margin_s), stop + timedelta(seconds=margin_s)
        kept = [vector for vector in ordered if low <= vector.time < high]
    else:
        kept = ordered
    if not kept or kept[0].time > start or kept[-1].time < stop:
        raise OrbitError(
            f'the orbit {source} ({_describe(ordered)}) does not cover the acquisition from {start} to {stop}; '
            "use the orbit file of the acquisition's date (POEORB or RESORB), or --orbit annotation"
        )
    if len(kept) < MINIMUM_STATE_VECTORS:
        raise OrbitError(
            f'the orbit {source} has {len(kept)} state vectors around the acquisition; at least '
            f'{MINIMUM_STATE_VECTORS} are needed: use a complete orbit file or the annotation orbit'
        )
    times = np.array([(vector.time - kept[0].time).total_seconds() for vector in kept])
    spacing = np.diff(times)
    typical = float(np.median(spacing))
    worst = int(np.argmax(spacing))
    if spacing[worst] > ORBIT_GAP_FACTOR * typical:
        raise OrbitError(
            f'the orbit {source} has a gap of {spacing[worst]:.1f} s (vectors are {typical:.1f} s apart) between '
            f'{kept[worst].time} and {kept[worst + 1].time}; use another orbit file or the annotation orbit'
        )
    return Orbit.from_state_vectors(list(kept), source=source)


def fetch_orbit_file(scene: str, directory: Path, *, api_url: str | None = None) -> Path:
    """Download the POEORB (else RESORB) file of an SLC scene with s1_orbits.

    `api_url` (or HYP3_S1_M11M12_ORBITS_API_URL, or ORBITS_API_URL) replaces s1_orbits.API_URL, e.g. for a test
    server; the request is then the same as s1_orbits makes.

    Raises:
        OrbitError: no orbit file for the scene, an invalid scene, or the service cannot be reached.
    """
    import requests
    import s1_orbits

    # The request s1_orbits.fetch_for_scene makes, with the network policy's timeouts and retries (it has none).
    url = api_url or os.environ.get(ORBITS_API_URL_ENV) or ORBITS_API_URL or s1_orbits.s1_orbits.API_URL
    log.info(f'{scene}: downloading its orbit file from {url}')
    try:
        with network.http_session() as session, session.get(f'{url.rstrip("/")}/{scene}', stream=True) as response:
            if response.status_code == 400:
                raise s1_orbits.InvalidSceneError(scene)
            if response.status_code == 404:
                raise s1_orbits.OrbitNotFoundError(scene)
            response.raise_for_status()
            chunks, size = [], 0
            for chunk in response.iter_content(1 << 20):
                size += len(chunk)
                check_member_size(f'the orbit file of {scene}', size, MAX_ORBIT_FILE_BYTES)
                chunks.append(chunk)
            path = directory / response.url.split('/')[-1].split('?')[0]
        path.write_bytes(b''.join(chunks))
        log.info(f'{scene}: read {network.format_bytes(size)} of orbit file {path.name}')
        return path
    except MetadataError as error:
        raise OrbitError(str(error)) from None
    except s1_orbits.OrbitNotFoundError:
        raise OrbitError(f'no POEORB or RESORB orbit file is available for {scene}') from None
    except s1_orbits.InvalidSceneError:
        raise OrbitError(f'the orbit service rejected the scene name {scene}') from None
    except (requests.RequestException, OSError) as error:
        raise OrbitError(f'cannot download the orbit file of {scene} ({type(error).__name__}: {error})') from None


def resolve_orbit(
    choice: str | Path,
    *,
    scene: str | None,
    annotation_vectors: Sequence[StateVector],
    start: datetime,
    stop: datetime,
    work_dir: Path | None = None,
    api_url: str | None = None,
) -> Orbit:
    """The orbit of an acquisition: 'annotation', a local EOF file, or 'auto' (s1_orbits, else the annotation).

    Raises:
        OrbitError: the chosen orbit cannot be used (no coverage, gaps, too few vectors, unreadable file).
    """
    if isinstance(choice, str) and choice == 'annotation':
        return orbit_for_acquisition(annotation_vectors, start, stop, source='annotation', margin_s=None)
    if isinstance(choice, str) and choice == 'auto':
        if scene is None:
            log.warning(
                'the product name is not a scene name, so no orbit file can be fetched: using the annotation orbit'
            )
            return orbit_for_acquisition(annotation_vectors, start, stop, source='annotation', margin_s=None)
        try:
            if work_dir is not None:  # the caller decides how long the EOF file lives
                path = fetch_orbit_file(scene, Path(work_dir), api_url=api_url)
                vectors = read_eof(path)
            else:
                with tempfile.TemporaryDirectory() as temporary:
                    path = fetch_orbit_file(scene, Path(temporary), api_url=api_url)
                    vectors = read_eof(path)
            orbit = _orbit_from_file(vectors, annotation_vectors, start, stop, path.name)
            log.info(f'using orbit {orbit.source}')
            return orbit
        except OrbitError as error:
            log.warning(f'{error}; falling back to the annotation orbit (less precise)')
            orbit = orbit_for_acquisition(annotation_vectors, start, stop, source='annotation', margin_s=None)
            return dataclasses.replace(orbit, source=ANNOTATION_AFTER_FAILED_FETCH)
    path = Path(choice)
    if not path.is_file():
        raise OrbitError(f"orbit {str(choice)!r} is neither 'auto', 'annotation' nor an existing EOF file")
    return _orbit_from_file(read_eof(path), annotation_vectors, start, stop, path.name)


# Orbit.source of an 'auto' run whose orbit file could not be fetched or used (recorded in the product).
ANNOTATION_AFTER_FAILED_FETCH = 'annotation (orbit file unavailable)'


def _orbit_from_file(
    vectors: Sequence[StateVector],
    annotation_vectors: Sequence[StateVector],
    start: datetime,
    stop: datetime,
    name: str,
) -> Orbit:
    """An orbit file's orbit, completed with the annotation's vectors when it lacks the coverage margin."""
    margin = coverage_margin_s(vectors, start, stop)
    if covers(vectors, start, stop, margin) or not covers(vectors, start, stop, 0.0):
        return orbit_for_acquisition(vectors, start, stop, source=name)
    merged = completed_with_annotation(vectors, annotation_vectors)
    log.warning(
        f'the orbit file {name} covers the acquisition ({start} to {stop}) with less than the {margin:.0f} s margin '
        'interpolation needs on each side; completing it with the annotation orbit beyond its span'
    )
    return orbit_for_acquisition(merged, start, stop, source=f'{name} + annotation')
