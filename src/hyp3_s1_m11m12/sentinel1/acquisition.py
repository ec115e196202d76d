"""One Sentinel-1 acquisition (SLC scene or burst granule) and its merged radar geometry for Geogrid.

The merge follows hyp3-autorift's vendored testGeogrid_ISCE.loadParsedata (ISCE2): earliest burst start and
latest burst stop over the swaths used, smallest starting range and largest far range, range pixel size and
prf of the first burst, lines = round((stop - start) x prf) + 1. With a buffer of b pixels loadParsedata moves
the near range by -b x dr and the far range by +b x dr, then adds 2b samples again:
samples = round((far - near + 2b dr) / dr) + 1 + 2b = N0 + 4b, so the image reaches b pixels before the near
range and 3b past the far range. Reproduced as is: the grid must be the one the correction products had.
Times stay datetimes (no seconds of day), so acquisitions that cross 00:00 UTC are right.
"""

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hyp3_s1_m11m12.errors import InvalidGranuleError, MetadataError
from hyp3_s1_m11m12.geometry.orbit import Orbit, StateVector
from hyp3_s1_m11m12.geometry.radar import RadarGeometry
from hyp3_s1_m11m12.sentinel1.annotation import Burst, GeolocationPoint, SwathAnnotation
from hyp3_s1_m11m12.sentinel1.names import SCENE_PATTERN, is_burst_name, parse_granule_name
from hyp3_s1_m11m12.sentinel1.orbits import resolve_orbit
from hyp3_s1_m11m12.sentinel1.safe import SafeSource, ZipSafe, open_local_safe, read_safe_metadata


log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Acquisition:
    """The metadata of one acquisition that Geogrid and dt need. Times are naive UTC."""

    granule: str  # scene name or burst granule name
    mission: str  # 'S1A' | 'S1B' | 'S1C' | 'S1D'
    polarization: str  # the primary polarisation, e.g. 'VV'
    relative_orbit: int
    sensing_start: datetime  # earliest burst start of the swaths used
    sensing_stop: datetime  # latest burst stop
    bursts: tuple[Burst, ...]  # swath by swath, in time order
    orbit: Orbit
    absolute_orbit: int = 0
    ascending: bool = True
    footprint: tuple[tuple[float, float], ...] = ()  # closed lon/lat ring
    track_source: str = 'offset table'  # where relative_orbit came from: 'manifest', 'ASF search', 'offset table'
    annotation_vectors: tuple[StateVector, ...] = ()  # the annotation orbit, to resolve another orbit choice
    orbit_scene: str | None = None  # the SLC whose orbit file is fetched

    @property
    def swaths(self) -> tuple[str, ...]:
        return tuple(sorted({burst.swath for burst in self.bursts}))

    @property
    def orbit_source(self) -> str:
        """'annotation', the EOF file name (with ' + annotation' when completed), or the fallback after a failed fetch."""
        return self.orbit.source

    def with_orbit(
        self, orbit: str | Path, *, work_dir: Path | None = None, orbit_api_url: str | None = None
    ) -> 'Acquisition':
        """The same acquisition with another orbit choice, without reading its metadata again.

        Raises:
            OrbitError: the chosen orbit cannot be used.
        """
        resolved = resolve_orbit(
            orbit,
            scene=self.orbit_scene,
            annotation_vectors=list(self.annotation_vectors),
            start=self.sensing_start,
            stop=self.sensing_stop,
            work_dir=work_dir,
            api_url=orbit_api_url,
        )
        return dataclasses.replace(self, orbit=resolved)

    def _range_extent(self) -> tuple[float, float, float, float]:
        first = self.bursts[0]
        near = min(burst.starting_range_m for burst in self.bursts)
        far = max(burst.far_range_m for burst in self.bursts)
        return first.prf_hz, first.range_pixel_size_m, near, far

    def region_radar_geometry(self) -> RadarGeometry:
        """The geometry hyp3-autorift's bounding_box gave determineBbox to choose the parameter region.

        The whole product, no buffer, round(duration x prf) lines and round((far - near) / dr) samples (one fewer
        of each than loadParsedata).
        """
        prf, range_pixel, near, far = self._range_extent()
        return RadarGeometry(
            sensing_start=self.sensing_start,
            starting_range_m=near,
            range_pixel_size_m=range_pixel,
            prf_hz=prf,
            number_of_lines=round((self.sensing_stop - self.sensing_start).total_seconds() * prf),
            number_of_samples=round((far - near) / range_pixel),
            orbit=self.orbit,
            radar_frequency_hz=self.bursts[0].radar_frequency_hz,
        )

    def radar_geometry(self, buffer: int = 0) -> RadarGeometry:
        """The merged zero-Doppler geometry of the swaths used, with loadParsedata's `buffer` (N0 + 4b samples)."""
        if buffer < 0:
            raise InvalidGranuleError(f'buffer {buffer} is negative; give 0 or more range pixels')
        first = self.bursts[0]
        prf, range_pixel, near, far = self._range_extent()
        near_buffered = near - buffer * range_pixel
        far_buffered = far + buffer * range_pixel
        lines = round((self.sensing_stop - self.sensing_start).total_seconds() * prf) + 1
        samples = round((far_buffered - near_buffered) / range_pixel) + 1 + 2 * buffer
        return RadarGeometry(
            sensing_start=self.sensing_start,
            starting_range_m=near_buffered,
            range_pixel_size_m=range_pixel,
            prf_hz=prf,
            number_of_lines=lines,
            number_of_samples=samples,
            orbit=self.orbit,
            radar_frequency_hz=first.radar_frequency_hz,
        )

    def footprint_lonlat(self) -> list[tuple[float, float]]:
        """Lon/lat polygon of the bursts used (closed ring), from the annotation geolocation grids."""
        return list(self.footprint)


def _swath_grid(annotation: SwathAnnotation, bursts: Sequence[Burst]) -> list[GeolocationPoint]:
    """Geolocation grid points of the lines of the bursts used (grid lines fall on burst boundaries)."""
    lines_per_burst = annotation.bursts[0].lines
    first_line = min(burst.index for burst in bursts) * lines_per_burst
    last_line = (max(burst.index for burst in bursts) + 1) * lines_per_burst
    points = [point for point in annotation.geolocation if first_line <= point.line <= last_line]
    if not points:  # a coarse grid around a single burst: take the nearest grid lines
        points = list(annotation.geolocation)
    return points


def footprint_from_grids(grids: Sequence[list[GeolocationPoint]]) -> tuple[tuple[float, float], ...]:
    """Outline of the swath grids (ordered near to far): top edge, far edge, bottom edge, near edge."""
    grids = [grid for grid in grids if grid]
    if not grids:
        return ()

    def row(grid: list[GeolocationPoint], line: int) -> list[GeolocationPoint]:
        return sorted((point for point in grid if point.line == line), key=lambda point: point.pixel)

    def column(grid: list[GeolocationPoint], pixel: int) -> list[GeolocationPoint]:
        return sorted((point for point in grid if point.pixel == pixel), key=lambda point: point.line)

    top: list[GeolocationPoint] = []
    bottom: list[GeolocationPoint] = []
    for grid in grids:
        top += row(grid, min(point.line for point in grid))
        bottom += row(grid, max(point.line for point in grid))
    far = column(grids[-1], max(point.pixel for point in grids[-1]))
    near = column(grids[0], min(point.pixel for point in grids[0]))
    ring = top + far[1:-1] + bottom[::-1] + near[::-1][1:-1]
    coordinates = [(point.longitude_deg, point.latitude_deg) for point in ring]
    return (*coordinates, coordinates[0])


def build_acquisition(
    granule: str,
    annotations: Sequence[SwathAnnotation],
    polarization: str,
    *,
    bursts_used: dict[str, Sequence[Burst]] | None = None,
    orbit: str | Path = 'auto',
    orbit_scene: str | None = None,
    work_dir: Path | None = None,
    orbit_api_url: str | None = None,
    track_source: str = 'offset table',
) -> Acquisition:
    """An Acquisition from parsed annotation (all bursts of each swath unless `bursts_used` selects some).

    Raises:
        MetadataError: swaths of different products; OrbitError: no usable orbit.
    """
    if not annotations:
        raise MetadataError(f'{granule}: no annotation was read')
    annotations = sorted(annotations, key=lambda annotation: annotation.swath)
    first = annotations[0]
    for annotation in annotations[1:]:
        if (annotation.mission, annotation.absolute_orbit) != (first.mission, first.absolute_orbit):
            raise MetadataError(
                f'{granule}: {annotation.source} is from {annotation.mission} orbit {annotation.absolute_orbit}, '
                f'{first.source} from {first.mission} orbit {first.absolute_orbit}; give swaths of one product'
            )
    selected = {
        annotation.swath: tuple(bursts_used[annotation.swath]) if bursts_used else annotation.bursts
        for annotation in annotations
    }
    bursts = tuple(burst for annotation in annotations for burst in selected[annotation.swath])
    start = min(burst.sensing_start for burst in bursts)
    stop = max(burst.sensing_stop for burst in bursts)
    # getMergedOrbit: every state vector of every swath, duplicates (same time) once
    vectors: dict[datetime, StateVector] = {}
    for annotation in annotations:
        for vector in annotation.orbit_vectors:
            vectors.setdefault(vector.time, vector)
    merged_orbit = resolve_orbit(
        orbit,
        scene=orbit_scene,
        annotation_vectors=list(vectors.values()),
        start=start,
        stop=stop,
        work_dir=work_dir,
        api_url=orbit_api_url,
    )
    grids = [_swath_grid(annotation, selected[annotation.swath]) for annotation in annotations]
    return Acquisition(
        granule=granule,
        mission=first.mission,
        polarization=polarization,
        relative_orbit=first.relative_orbit,
        sensing_start=start,
        sensing_stop=stop,
        bursts=bursts,
        orbit=merged_orbit,
        absolute_orbit=first.absolute_orbit,
        ascending=first.ascending,
        footprint=footprint_from_grids(grids),
        track_source=track_source if first.track is not None else 'offset table',
        annotation_vectors=tuple(vectors.values()),
        orbit_scene=orbit_scene,
    )


def _open_safe_source(text: str, *, token: str | None, download_base_url: str | None) -> SafeSource:
    if text.startswith(('http://', 'https://')):
        from hyp3_s1_m11m12.sentinel1.remote import RemoteZipSafe

        return RemoteZipSafe(text, token=token)
    path = Path(text).expanduser()
    if path.exists():
        return open_local_safe(path)
    name = path.name
    for suffix in ('.zip', '.SAFE'):
        name = name.removesuffix(suffix)
    if SCENE_PATTERN.match(name) and len(path.parts) == 1:
        from hyp3_s1_m11m12.sentinel1.remote import RemoteZipSafe, scene_download_url

        url = scene_download_url(name, download_base_url)
        log.info(f'reading the annotation of {name} remotely from {url}')
        return RemoteZipSafe(url, token=token)
    if len(path.parts) > 1 or text.endswith(('.zip', '.SAFE')):
        raise InvalidGranuleError(f'{text} does not exist; give an existing .SAFE folder or .zip, or a scene name')
    parse_granule_name(name)  # raises the error that says what is supported
    raise InvalidGranuleError(f'{text} is not a supported source')


def open_acquisition(
    source: str | Path,
    *,
    orbit: str | Path = 'auto',
    swaths: Sequence[str] | None = None,
    polarization: str | None = None,
    work_dir: Path | None = None,
    token: str | None = None,
    download_base_url: str | None = None,
    orbit_api_url: str | None = None,
    burst_search_host: str | None = None,
) -> Acquisition:
    """Read an acquisition's metadata without downloading its rasters.

    Args:
        source: an SLC scene name (read remotely with range requests from ASF), an ASF burst granule name, a local
            .SAFE folder, a local .zip, or an http(s) URL of a SAFE zip.
        orbit: 'auto' (POEORB/RESORB via s1_orbits, else the annotation orbit with a warning), 'annotation', or the
            path of a local EOF file.
        swaths: IW swaths to merge (default: all in the product; the swath of a burst granule).
        polarization: default VV for SV/DV products and HH for SH/DH, as hyp3-autorift.
        work_dir: where downloaded orbit files are kept (default: a temporary folder).
        token: Earthdata bearer token (default: EARTHDATA_TOKEN, else ~/.netrc).
        download_base_url, orbit_api_url, burst_search_host: endpoint overrides (tests, mirrors).

    Raises:
        InvalidGranuleError, MetadataError, OrbitError: with what is wrong and how to fix it.
    """
    text = str(source).strip()
    if is_burst_name(text) and not Path(text).exists():
        from hyp3_s1_m11m12.sentinel1.bursts import read_burst_metadata

        burst = read_burst_metadata(text, token=token, search_host=burst_search_host, polarization=polarization)
        if swaths is not None and {swath.upper() for swath in swaths} != {burst.annotation.swath}:
            raise InvalidGranuleError(f'{text} is a burst of {burst.annotation.swath}; do not ask for other swaths')
        return build_acquisition(
            burst.granule,
            [burst.annotation],
            burst.annotation.polarization,
            bursts_used={burst.annotation.swath: [burst.burst]},
            orbit=orbit,
            orbit_scene=burst.scene_name,
            work_dir=work_dir,
            orbit_api_url=orbit_api_url,
            track_source='ASF search',
        )
    safe = _open_safe_source(text, token=token, download_base_url=download_base_url)
    try:
        metadata = read_safe_metadata(safe, swaths=swaths, polarization=polarization)
    finally:
        if isinstance(safe, ZipSafe):
            safe.close()
    scene = metadata.name if SCENE_PATTERN.match(metadata.name) else None
    return build_acquisition(
        metadata.name,
        metadata.annotations,
        metadata.primary_polarization,
        orbit=orbit,
        orbit_scene=scene,
        work_dir=work_dir,
        orbit_api_url=orbit_api_url,
        track_source=metadata.track_source,
    )
