"""Shared pieces of the granule tests: golden-case granules, a range-capable HTTP server, layout comparisons."""

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

from hyp3_s1_m11m12.products.conversion_matrices import (
    Provenance,
    conversion_matrices_from_geogrid,
    write_conversion_matrices,
)
from hyp3_s1_m11m12.products.granules.provenance import PROVENANCE_PREFIX
from hyp3_s1_m11m12.sentinel1.pairing import RepeatTime
from tests.support.golden import golden_granule, golden_pair
from tests.support.http_server import QuietHTTPServer


RANGE = re.compile(r'^bytes=(\d+)-(\d*)$')


@dataclass(frozen=True)
class CaseFiles:
    """Granules of one golden case (M11/M12 from its true_dt or spoofed_dt run) and its conversion matrices."""

    granules: dict[tuple[str, str], Path]  # (run, dtype) -> granule
    matrices: dict[str, Path]  # run -> conversion_matrices.nc
    date_dt_days: float


def build_case(case_dir: Path, folder: Path) -> CaseFiles:
    folder.mkdir(parents=True, exist_ok=True)
    pair = golden_pair(case_dir)
    granules = {}
    matrices = {}
    for run in ('true_dt', 'spoofed_dt'):
        for dtype in ('int16', 'float32'):
            path = folder / f'{run}_{dtype}.nc'
            granules[(run, dtype)] = golden_granule(case_dir, run, path, m11m12_dtype=dtype)
        dt_seconds = pair.dt_seconds if run == 'true_dt' else 86400.0
        provenance = Provenance(
            software_version='test',
            repeat_time=RepeatTime(
                dt_seconds, pair.reference_id, datetime(2021, 1, 1), datetime(2021, 1, 1), pair.secondary_id
            ),
            engine='golden',
            engine_version='autoRIFT 1.6.0',
        )
        matrices[run] = write_conversion_matrices(
            conversion_matrices_from_geogrid(case_dir / run),
            folder / f'conversion_matrices_{run}.nc',
            provenance=provenance,
            dtype='float32',
        )
        if run == 'spoofed_dt':
            # A product of hyp3-autorift's s1_correction (the 1-day spoof) carries no dt convention.
            with netCDF4.Dataset(matrices[run], 'a') as dataset:
                dataset.delncattr('dt_convention')
    return CaseFiles(granules=granules, matrices=matrices, date_dt_days=pair.date_dt_days)


@dataclass
class ServedFiles:
    """What the range server served: requests and bytes per path."""

    root: Path
    ranges: bool = True
    requests: dict[str, int] = field(default_factory=dict)
    bytes_sent: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _RangeHandler(BaseHTTPRequestHandler):
    server: '_RangeServer'
    protocol_version = 'HTTP/1.1'  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # else delayed ACKs add 40 ms to every keep-alive request

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        served = self.server.served
        name = self.path.lstrip('/').split('?')[0]
        path = served.root / name
        if not path.is_file():
            self.send_response(404)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        size = path.stat().st_size
        match = RANGE.match(self.headers.get('Range', ''))
        with path.open('rb') as stream:
            if served.ranges and match:
                start = int(match[1])
                stop = min(int(match[2]) + 1 if match[2] else size, size)
                if start >= size:
                    self.send_response(416)
                    self.send_header('Content-Range', f'bytes */{size}')
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                stream.seek(start)
                body = stream.read(stop - start)
                self.send_response(206)
                self.send_header('Content-Range', f'bytes {start}-{stop - 1}/{size}')
            else:
                body = stream.read()
                self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Accept-Ranges', 'bytes')
        self.end_headers()
        self.wfile.write(body)
        with served.lock:
            served.requests[name] = served.requests.get(name, 0) + 1
            served.bytes_sent[name] = served.bytes_sent.get(name, 0) + len(body)


class _RangeServer(QuietHTTPServer):
    def __init__(self, served: ServedFiles) -> None:
        super().__init__(('127.0.0.1', 0), _RangeHandler)
        self.served = served


@contextmanager
def range_server(root: Path, ranges: bool = True) -> Iterator[tuple[str, ServedFiles]]:
    """Serve the files of `root` on 127.0.0.1 (HTTP Range requests honoured unless `ranges` is False)."""
    served = ServedFiles(root=root, ranges=ranges)
    server = _RangeServer(served)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f'http://{host!s}:{port}', served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _attributes(item: Any) -> list[tuple[str, Any]]:
    return [(name, item.getncattr(name)) for name in item.ncattrs()]


def _same_attribute_values(left: list[tuple[str, Any]], right: list[tuple[str, Any]]) -> bool:
    if [name for name, _ in left] != [name for name, _ in right]:
        return False
    for (_, a), (_, b) in zip(left, right, strict=True):
        if isinstance(a, str) or isinstance(b, str):
            if a != b:
                return False
        elif np.asarray(a).dtype != np.asarray(b).dtype or np.asarray(a).tobytes() != np.asarray(b).tobytes():
            return False
    return True


def variable_layout(variable: Any) -> dict[str, Any]:
    """What must not change in a variable besides its values: type, dimensions, chunking, filters, endianness."""
    return {
        'dtype': str(variable.dtype),
        'dimensions': variable.dimensions,
        'chunking': variable.chunking(),
        'filters': variable.filters(),
        'endian': variable.endian(),
    }


def raw_bytes(variable: Any) -> bytes:
    variable.set_auto_maskandscale(False)
    if variable.dtype is str:
        return repr(variable.getValue() if not variable.dimensions else variable[:]).encode()
    return np.asarray(variable[:]).tobytes()


def assert_same_except_matrices(original: Path, fixed: Path) -> None:
    """Every variable but M11/M12 has identical raw bytes, attributes (names, order, types, values) and layout;
    the global attributes are those of the original plus `history`."""
    with netCDF4.Dataset(original) as a, netCDF4.Dataset(fixed) as b:
        assert a.data_model == b.data_model
        assert {name: len(dim) for name, dim in a.dimensions.items()} == {
            name: len(dim) for name, dim in b.dimensions.items()
        }
        assert list(a.variables) == list(b.variables)
        original_globals = _attributes(a)
        fixed_globals = _attributes(b)
        assert _same_attribute_values(original_globals, [item for item in fixed_globals if item[0] != 'history'])
        assert 'history' in b.ncattrs()
        for name in a.variables:
            if name in ('M11', 'M12'):
                continue
            assert variable_layout(a[name]) == variable_layout(b[name]), name
            assert _same_attribute_values(_attributes(a[name]), _attributes(b[name])), name
            assert raw_bytes(a[name]) == raw_bytes(b[name]), name
        for name in ('M11', 'M12'):
            layout_a, layout_b = variable_layout(a[name]), variable_layout(b[name])
            layout_a.pop('dtype')
            layout_b.pop('dtype')
            assert layout_a == layout_b, name
            # Values, packing, the factor and the fill's type may change; the rest (and the fill's value) may not.
            changing = ('dr_to_vr_factor', 'scale_factor', 'add_offset', '_FillValue')
            kept = [item for item in _attributes(a[name]) if item[0] not in changing]
            # The repair adds the product's provenance; nothing else is new.
            new = [
                item
                for item in _attributes(b[name])
                if item[0] not in changing and not item[0].startswith(PROVENANCE_PREFIX)
            ]
            assert f'{PROVENANCE_PREFIX}product' in b[name].ncattrs(), name
            assert _same_attribute_values(kept, new), name
            assert float(a[name].getncattr('_FillValue')) == float(b[name].getncattr('_FillValue')), name


def read_matrices(path: Path) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """M11, M12 (unpacked, NaN for fill), dr_to_vr_factor and the valid-v mask of a granule."""
    with netCDF4.Dataset(path) as dataset:
        values = []
        for name in ('M11', 'M12'):
            values.append(np.ma.filled(dataset[name][:].astype(np.float64), np.nan))
        factor = float(dataset['M11'].getncattr('dr_to_vr_factor'))
        valid_v = ~np.ma.getmaskarray(dataset['v'][:])
    return values[0], values[1], factor, valid_v


def packing_step(path: Path, name: str) -> float:
    with netCDF4.Dataset(path) as dataset:
        variable = dataset[name]
        return float(variable.getncattr('scale_factor')) if 'scale_factor' in variable.ncattrs() else 0.0
