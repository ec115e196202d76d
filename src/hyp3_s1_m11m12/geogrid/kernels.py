"""Geogrid's per-node computation (autoRIFT v1.6.0 geogrid.cpp, spec sections 2.3-2.11): the one implementation.

Two compiled kernels do everything but the map projections (pyproj, between them): `radar_kernel` (geo2rdr,
pixel location, the range step and the along-track topo step) and `outputs_kernel` (every output but the location;
the only part that depends on the repeat time dt). Every floating-point operation is that of ISCE2's
orbitHermite.c, latlon.F and geogrid.cpp, in their order, with the C maths library (numba calls libm; no
fast-math), so the outputs are autoRIFT's bit for bit; run under NUMBA_DISABLE_JIT=1 the same Python gives the same
bits. The kernels release the GIL, so a thread pool runs blocks on every core.

Throughput: each node's Newton and topo iterations are chains of dependent operations, so one node at a time
leaves the FPU waiting. The kernels advance lanes of independent nodes in lock-step instead (a lane takes the next
node as soon as its node is done): geo2rdr's Hermite step runs as loops over the lanes that LLVM vectorises, and
every C maths function (sin, cos, atan2, pow) is called for all lanes (or all nodes) in a row, so that the calls
overlap. Each lane's operations are those of latlon.F's XYZ_2_LLH / LLH_2_XYZ and orbitHermite.c, in their order
(no fast-math, so no contraction into FMA), so the bits do not change. Both iterations stop at their limit cycle
(a state seen p steps earlier repeats forever) and read the state the fixed count of geogrid.cpp would end in from
their history, which is bit-identical to running the count.

Every compiled function lives in this one file on purpose: numba's cache of a function is invalidated only when its
own source file changes, so a kernel calling a compiled helper of another file could keep stale machine code.
numba is imported (and the kernels compiled, or loaded from numba's cache) on first use only.
"""

import functools
import math
import threading
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12 import numba_target
from hyp3_s1_m11m12.constants import WGS84_ECCENTRICITY_SQUARED, WGS84_SEMI_MAJOR_AXIS_M
from hyp3_s1_m11m12.geogrid.vocabulary import DEG2RAD, DEGENERACY_LIMIT_DEG, INT32_MIN


FloatArray = npt.NDArray[np.float64]

# Per-node status bits of the radar kernel.
OK = 0
OUTSIDE_ORBIT = 1  # a Newton iterate left the orbit span (geogrid.cpp exits with 106); `times` holds it
STEP_OUTSIDE_ORBIT = 2  # the along-track step's time t + 1/prf is outside the orbit span
CYCLE_HISTORY = 16  # longest limit cycle detected (Newton: periods up to ~10 occur; topo: 2)
LANES = 32  # nodes advanced together

SEMI_MAJOR = WGS84_SEMI_MAJOR_AXIS_M
E2 = WGS84_ECCENTRICITY_SQUARED
SEMI_MINOR = SEMI_MAJOR * math.sqrt(1.0 - E2)


class OrbitTables(NamedTuple):
    """The state vectors and the node-only terms of orbitHermite.c for each run of four vectors."""

    times: FloatArray  # (k,)
    positions: FloatArray  # (k, 3)
    velocities: FloatArray  # (k, 3)
    gaps: FloatArray  # (k - 3, 4, 4): t_i - t_j
    inverse_gaps: FloatArray  # (k - 3, 4, 4): 1 / (t_i - t_j)
    inverse_gap_sums: FloatArray  # (k - 3, 4): sum over j != i of 1 / (t_i - t_j)


def orbit_tables(times: FloatArray, positions: FloatArray, velocities: FloatArray) -> OrbitTables:
    """Tabulate what orbitHermite.c recomputes on every call (the same IEEE operations, so no bit changes)."""
    runs = times.shape[0] - 3
    gaps = np.zeros((runs, 4, 4))
    inverse_gaps = np.zeros((runs, 4, 4))
    inverse_gap_sums = np.zeros((runs, 4))
    for start in range(runs):
        for i in range(4):
            total = 0.0
            for j in range(4):
                if i != j:
                    gaps[start, i, j] = times[start + i] - times[start + j]
                    inverse_gaps[start, i, j] = 1.0 / gaps[start, i, j]
                    total += inverse_gaps[start, i, j]
            inverse_gap_sums[start, i] = total

    # writeable copies: numba compiles (and caches) read-only arrays as another type
    def copy(array: FloatArray) -> FloatArray:
        return np.array(array, dtype=np.float64, order='C')

    return OrbitTables(copy(times), copy(positions), copy(velocities), gaps, inverse_gaps, inverse_gap_sums)


class RadarScalars(NamedTuple):
    """The radar image and iteration settings the radar kernel needs (times in seconds of the orbit's base)."""

    initial_time: float  # Newton's start, sensingStart + 0.5 nLines / prf
    newton_iterations: int
    topo_iterations: int
    stop_at_cycle: bool  # False: run geogrid.cpp's fixed counts (same outputs, slower)
    starting_range: float
    range_pixel_size: float
    sensing_start: float
    prf: float
    line_time: float  # 1 / prf
    last_line: float
    last_sample: float
    look_side: int


class RadarOutputs(NamedTuple):
    """What the radar kernel fills for n nodes; only the first `count` (its return value) of `inside` and `steps`."""

    location: npt.NDArray[np.int32]  # (2, n), pre-filled with nodata_out
    times: FloatArray  # (n,): zero-Doppler time, or the time outside the orbit where status has OUTSIDE_ORBIT
    status: npt.NDArray[np.int8]  # (n,)
    inside: npt.NDArray[np.int64]  # (n,): the nodes inside the image, in order
    steps: FloatArray  # (6, n): range step lat, lon (deg), height; along step lat, lon (deg), ECEF distance


class OutputScalars(NamedTuple):
    """The outputs kernel's settings shared by every repeat time; the `want_*` flags say which outputs autoRIFT
    writes for the given rasters."""

    range_pixel_size: float
    nodata_out: float
    vx_nodata: float
    has_vx_nodata: bool
    search_min: float
    search_max: float
    chip_size_x0: float
    chip_pixels_range: float
    chip_pixels_azimuth: float
    want_matrices: bool
    want_offset: bool
    want_search_range: bool
    want_chip_size_min: bool
    want_chip_size_max: bool
    want_stable_surface_mask: bool
    want_unrounded: bool


class RepeatTimes(NamedTuple):
    """The repeat times the outputs kernel runs for, and what depends on each."""

    dt: FloatArray  # (k,): seconds
    search_factor: FloatArray  # (k,): the search-range scale of each dt (nodes.search_range_scale)


class OutputArrays(NamedTuple):
    """The outputs kernel's bands per repeat time, pre-filled with nodata_out (NaN for `unrounded`); rows as
    vocabulary.OUTPUT_FILES. The dt-independent rows (vocabulary.DT_INDEPENDENT_OUTPUTS) are filled for the first
    repeat time only."""

    ints: npt.NDArray[np.int32]  # (k, INT_ROWS, n)
    floats: FloatArray  # (k, FLOAT_ROWS, n)
    unrounded: FloatArray  # (k, 2, n): the offsets before rounding (diagnostics), or (k, 2, 0)


def _hermite(orbit, time, scratch):
    """orbitHermite.c at one time, with interpolateWGS84Orbit's choice of four vectors, into scratch[7, :3]
    (position) and scratch[8, :3] (velocity); returns OUTSIDE_ORBIT outside the span (False for NaN, as in ISCE2).

    `scratch` is a (9, 4) work array, indexed in place rather than sliced: a slice of a numba array takes an atomic
    reference count, and the along-track step calls this once per node. Rows: 0 the offsets, 1 the basis, 2 its
    rate, 3-6 the ratios (time - t_k) / (t_i - t_k), which orbitHermite.c recomputes (identically) per product.
    """
    node_t = orbit.times
    gaps = orbit.gaps
    inverse_gaps = orbit.inverse_gaps
    inverse_gap_sums = orbit.inverse_gap_sums
    positions = orbit.positions
    velocities = orbit.velocities
    count = node_t.shape[0]
    first = np.searchsorted(node_t, time) - 2  # first index with t_i >= time, minus 2
    first = max(first, 0)
    first = min(first, count - 4)
    for i in range(4):
        scratch[0, i] = time - node_t[first + i]
    for i in range(4):
        for k in range(4):
            if k != i:
                scratch[3 + i, k] = scratch[0, k] / gaps[first, i, k]
    for i in range(4):
        product = 1.0
        for k in range(4):
            if k != i:
                product *= scratch[3 + i, k]
        scratch[1, i] = product
        total = 0.0
        for j in range(4):
            if j == i:
                continue
            product = 1.0
            for k in range(4):
                if k != i and k != j:
                    product *= scratch[3 + i, k]
            total += inverse_gaps[first, i, j] * product
        scratch[2, i] = total
    for axis in range(3):
        scratch[7, axis] = 0.0
        scratch[8, axis] = 0.0
    for i in range(4):
        offset = scratch[0, i]
        basis = scratch[1, i]
        basis_rate = scratch[2, i]
        f0 = 1.0 - 2.0 * offset * inverse_gap_sums[first, i]
        g1 = basis + 2.0 * offset * basis_rate
        g0 = 2.0 * (f0 * basis_rate - basis * inverse_gap_sums[first, i])
        for axis in range(3):
            x = positions[first + i, axis]
            v = velocities[first + i, axis]
            scratch[7, axis] += (x * f0 + v * offset) * basis * basis
            scratch[8, axis] += (x * g0 + v * g1) * basis
    if time < node_t[0] or time > node_t[count - 1]:
        return OUTSIDE_ORBIT
    return OK


HERMITE_ROWS = 56  # per lane: offsets (4), gaps (12), inverse gaps (12), inverse gap sums (4), positions, velocities
HERMITE_WORK = HERMITE_ROWS + 12 + 8  # + ratios (12), basis (4), basis rates (4)


def _hermite_lanes(orbit, time, state, work, firsts, indexes):
    """_hermite at time[l] for every lane l, lanes innermost so that the arithmetic is vectorised (each lane's
    operations are _hermite's, in its order). state: (6, LANES) position, velocity; work: (HERMITE_WORK, LANES),
    which keeps each lane's tables between calls; firsts, indexes: (LANES,) the run of four vectors they are of and
    the searchsorted index of the last time (-1: none)."""
    node_t = orbit.times  # the tables as locals: an attribute read in a loop costs a reference count each time
    gaps = orbit.gaps
    inverse_gaps = orbit.inverse_gaps
    inverse_gap_sums = orbit.inverse_gap_sums
    positions = orbit.positions
    velocities = orbit.velocities
    count = node_t.shape[0]
    lanes = time.shape[0]
    for lane in range(lanes):  # each lane's four vectors and their tables, gathered when the run changes
        t = time[lane]
        index = indexes[lane]  # np.searchsorted(node_t, t) of the previous call: still it when t is in its span
        if not (index >= 0 and (index == 0 or node_t[index - 1] < t) and (index == count or t <= node_t[index])):
            index = np.searchsorted(node_t, t)
            indexes[lane] = index
        first = index - 2
        first = max(first, 0)
        first = min(first, count - 4)
        for i in range(4):
            work[i, lane] = time[lane] - node_t[first + i]
        if first == firsts[lane]:
            continue
        firsts[lane] = first
        row = 0
        for i in range(4):
            work[28 + i, lane] = inverse_gap_sums[first, i]
            for k in range(4):
                if k != i:
                    work[4 + row, lane] = gaps[first, i, k]
                    work[16 + row, lane] = inverse_gaps[first, i, k]
                    row += 1
            for axis in range(3):
                work[32 + 3 * i + axis, lane] = positions[first + i, axis]
                work[44 + 3 * i + axis, lane] = velocities[first + i, axis]
    ratio = HERMITE_ROWS
    basis = HERMITE_ROWS + 12
    rate = HERMITE_ROWS + 16
    row = 0
    for i in range(4):
        for k in range(4):
            if k != i:
                for lane in range(lanes):
                    work[ratio + row, lane] = work[k, lane] / work[4 + row, lane]
                row += 1
    for i in range(4):
        for lane in range(lanes):
            work[basis + i, lane] = 1.0
            work[rate + i, lane] = 0.0
        for k in range(3):
            for lane in range(lanes):
                work[basis + i, lane] *= work[ratio + 3 * i + k, lane]
        for j in range(3):  # the j-th other index; the product of the ratios of the two remaining ones
            k1 = 1 if j == 0 else 0
            k2 = 1 if j == 2 else 2
            for lane in range(lanes):
                product = 1.0
                product *= work[ratio + 3 * i + k1, lane]
                product *= work[ratio + 3 * i + k2, lane]
                work[rate + i, lane] += work[16 + 3 * i + j, lane] * product
    for axis in range(6):
        for lane in range(lanes):
            state[axis, lane] = 0.0
    for i in range(4):
        for lane in range(lanes):
            offset = work[i, lane]
            b = work[basis + i, lane]
            b_rate = work[rate + i, lane]
            sums = work[28 + i, lane]
            f0 = 1.0 - 2.0 * offset * sums
            g1 = b + 2.0 * offset * b_rate
            g0 = 2.0 * (f0 * b_rate - b * sums)
            for axis in range(3):
                x = work[32 + 3 * i + axis, lane]
                v = work[44 + 3 * i + axis, lane]
                state[axis, lane] += (x * f0 + v * offset) * b * b
                state[3 + axis, lane] += (x * g0 + v * g1) * b


def _geo2rdr(orbit, radar, targets, looks, ranges, times, status):
    """geogrid.cpp's zero-Doppler Newton iteration for every target (n, 3), LANES nodes in lock-step.

    Fills the look vectors (satellite -> target), ranges and times of the state geogrid.cpp ends in after its fixed
    count. The iteration's state is the time alone, so once a time repeats one seen p steps earlier the sequence
    is periodic; the detected cycle gives the final state from the history (bit-identical to the full count). A
    lane whose node is done takes the next node, so every step advances LANES nodes.
    """
    work = np.empty((HERMITE_WORK, LANES))
    firsts = np.full(LANES, -1, dtype=np.int64)
    indexes = np.full(LANES, -1, dtype=np.int64)
    state = np.empty((6, LANES))
    time = np.empty(LANES)
    step = np.empty((5, LANES))  # updated time, range, look vector
    node = np.empty(LANES, dtype=np.int64)
    target = np.zeros((3, LANES))
    iteration = np.empty(LANES, dtype=np.int64)
    history_time = np.empty((LANES, CYCLE_HISTORY))
    lowest = np.full(LANES, np.inf)  # the range of the lane's times so far
    highest = np.full(LANES, -np.inf)
    history_range = np.empty((LANES, CYCLE_HISTORY))
    history_look = np.empty((LANES, CYCLE_HISTORY, 3))
    max_iterations = radar.newton_iterations
    first_time = orbit.times[0]
    last_time = orbit.times[orbit.times.shape[0] - 1]
    total = targets.shape[0]
    following = 0  # the next node to start
    running = 0
    for lane in range(LANES):
        time[lane] = radar.initial_time
        iteration[lane] = 1
        node[lane] = -1
        if following < total:
            node[lane] = following
            for axis in range(3):
                target[axis, lane] = targets[following, axis]
            following += 1
            running += 1
    _hermite_lanes(orbit, time, state, work, firsts, indexes)
    while running > 0:
        for lane in range(LANES):
            look_x = target[0, lane] - state[0, lane]
            look_y = target[1, lane] - state[1, lane]
            look_z = target[2, lane] - state[2, lane]
            vx, vy, vz = state[3, lane], state[4, lane], state[5, lane]
            doppler = look_x * vx + look_y * vy + look_z * vz
            speed_squared = vx * vx + vy * vy + vz * vz
            step[0, lane] = time[lane] - doppler / -speed_squared
            step[1, lane] = math.sqrt(look_x * look_x + look_y * look_y + look_z * look_z)
            step[2, lane] = look_x
            step[3, lane] = look_y
            step[4, lane] = look_z
        for lane in range(LANES):
            n = node[lane]
            if n < 0:
                continue
            current = iteration[lane]
            updated = step[0, lane]
            slant_range = step[1, lane]
            cycled = False
            if radar.stop_at_cycle and current < max_iterations:
                slot = (current - 1) % CYCLE_HISTORY
                history_time[lane, slot] = time[lane]
                history_range[lane, slot] = slant_range
                history_look[lane, slot, 0] = step[2, lane]
                history_look[lane, slot, 1] = step[3, lane]
                history_look[lane, slot, 2] = step[4, lane]
                if time[lane] < lowest[lane]:  # noqa: PLR1730 (comparisons, not min/max: a NaN leaves the range)
                    lowest[lane] = time[lane]
                if time[lane] > highest[lane]:  # noqa: PLR1730
                    highest[lane] = time[lane]
                period = 0
                # a time outside the range of all the lane's earlier times cannot repeat one: no search
                if lowest[lane] <= updated <= highest[lane]:
                    for candidate in range(1, min(CYCLE_HISTORY, current) + 1):
                        if history_time[lane, (current - candidate) % CYCLE_HISTORY] == updated:
                            period = candidate
                            break
                if period > 0:
                    cycle_start = current - period  # t_current == t_cycle_start
                    time_slot = (cycle_start + (max_iterations - cycle_start) % period) % CYCLE_HISTORY
                    look_slot = (cycle_start + (max_iterations - 1 - cycle_start) % period) % CYCLE_HISTORY
                    times[n] = history_time[lane, time_slot]
                    ranges[n] = history_range[lane, look_slot]
                    for axis in range(3):
                        looks[n, axis] = history_look[lane, look_slot, axis]
                    cycled = True
            done = cycled or current == max_iterations
            if not cycled and (updated < first_time or updated > last_time):
                # geogrid.cpp exits here (106); keep the time for the error message and drop the node
                status[n] |= OUTSIDE_ORBIT
                done = True
            if done:
                lowest[lane] = np.inf
                highest[lane] = -np.inf
                if not cycled:  # the state of this step is the last
                    times[n] = updated
                    ranges[n] = slant_range
                    looks[n, 0] = step[2, lane]
                    looks[n, 1] = step[3, lane]
                    looks[n, 2] = step[4, lane]
                iteration[lane] = 1
                time[lane] = radar.initial_time
                node[lane] = -1
                running -= 1
                if following < total:
                    node[lane] = following
                    for axis in range(3):
                        target[axis, lane] = targets[following, axis]
                    following += 1
                    running += 1
            else:
                iteration[lane] = current + 1
                time[lane] = updated
        _hermite_lanes(orbit, time, state, work, firsts, indexes)


TOPO_LANES = 16  # nodes advanced together by the along-track step


def _topo_start(orbit, radar, time, rng, height, lane, state, scratch):
    """The along-track step's fixed per-node terms (the satellite one line later) into state[:18, lane]: position,
    distance, radius, nadir . velocity direction, velocity direction . along-track, range, height, then the along,
    cross and nadir unit vectors."""
    _hermite(orbit, time + radar.line_time, scratch)
    px, py, pz = scratch[7, 0], scratch[7, 1], scratch[7, 2]
    vx, vy, vz = scratch[8, 0], scratch[8, 1], scratch[8, 2]
    distance = math.sqrt(px * px + py * py + pz * pz)
    sx = px / SEMI_MAJOR
    sy = py / SEMI_MAJOR
    sz = pz / SEMI_MINOR
    radius = (1.0 / math.sqrt(sx * sx + sy * sy + sz * sz)) * distance
    nx = -(px / distance)
    ny = -(py / distance)
    nz = -(pz / distance)
    cx = ny * vz - nz * vy
    cy = nz * vx - nx * vz
    cz = nx * vy - ny * vx
    size = math.sqrt(cx * cx + cy * cy + cz * cz)
    cx, cy, cz = cx / size, cy / size, cz / size
    ax = cy * nz - cz * ny
    ay = cz * nx - cx * nz
    az = cx * ny - cy * nx
    size = math.sqrt(ax * ax + ay * ay + az * az)
    ax, ay, az = ax / size, ay / size, az / size
    speed = math.sqrt(vx * vx + vy * vy + vz * vz)
    dx, dy, dz = vx / speed, vy / speed, vz / speed
    state[0, lane] = px
    state[1, lane] = py
    state[2, lane] = pz
    state[3, lane] = distance
    state[4, lane] = radius
    state[5, lane] = nx * dx + ny * dy + nz * dz
    state[6, lane] = dx * ax + dy * ay + dz * az
    state[7, lane] = rng
    state[8, lane] = height
    state[9, lane], state[10, lane], state[11, lane] = ax, ay, az
    state[12, lane], state[13, lane], state[14, lane] = cx, cy, cz
    state[15, lane], state[16, lane], state[17, lane] = nx, ny, nz
    state[18, lane] = height  # the iterated target height


def _topo(orbit, radar, times, ranges, heights, targets, inside, count, steps):
    """geogrid.cpp's along-track step (2.7) for the inside nodes, TOPO_LANES at a time: the point at the same range
    and height one line later. Fills steps[3:6, :count]: its latitude, longitude (degrees) and ECEF distance to the
    node's target. The satellite state is fixed per node, so the iteration's state is the target height alone.

    Each step runs every lane's arithmetic in one loop and each C maths function for every lane in a row (so the
    calls overlap in the FPU); each lane's operations are those of latlon.F's XYZ_2_LLH and LLH_2_XYZ, in their order.
    """
    scratch = np.empty((9, 4))
    state = np.zeros((19, TOPO_LANES))
    work = np.zeros((16, TOPO_LANES))  # point x, y, z, xy^2, q, r, cube-root base, t, d, lat, lon, sin/cos, height
    history_height = np.empty((TOPO_LANES, CYCLE_HISTORY))
    lowest = np.full(TOPO_LANES, np.inf)  # the range of the lane's heights so far
    highest = np.full(TOPO_LANES, -np.inf)
    history_point = np.empty((TOPO_LANES, CYCLE_HISTORY, 5))
    slot_of = np.empty(TOPO_LANES, dtype=np.int64)
    iteration = np.zeros(TOPO_LANES, dtype=np.int64)
    max_iterations = radar.topo_iterations
    look_side = radar.look_side
    e4 = E2 * E2
    a_squared = SEMI_MAJOR * SEMI_MAJOR
    following = 0
    running = 0
    for lane in range(TOPO_LANES):
        slot_of[lane] = -1
        if following < count:
            node = inside[following]
            _topo_start(orbit, radar, times[node], ranges[node], heights[node], lane, state, scratch)
            slot_of[lane] = following
            following += 1
            running += 1
    while running > 0:
        for lane in range(TOPO_LANES):
            distance = state[3, lane]
            rng = state[7, lane]
            b = state[4, lane] + state[18, lane]
            cos_theta = 0.5 * (distance / rng + rng / distance - (b / distance) * (b / rng))
            sin_theta = math.sqrt(1 - cos_theta * cos_theta)
            gamma = rng * cos_theta
            alpha = 0.0 - gamma * state[5, lane] / state[6, lane]
            beta = -look_side * math.sqrt(rng * rng * sin_theta * sin_theta - alpha * alpha)
            x = state[0, lane] + (alpha * state[9, lane] + beta * state[12, lane] + gamma * state[15, lane])
            y = state[1, lane] + (alpha * state[10, lane] + beta * state[13, lane] + gamma * state[16, lane])
            z = state[2, lane] + (alpha * state[11, lane] + beta * state[14, lane] + gamma * state[17, lane])
            # XYZ_2_LLH (Vermeille 2002) up to the cube root
            xy_squared = x * x + y * y
            p = xy_squared / a_squared
            q = (1.0 - E2) * (z * z) / a_squared
            r = (p + q - e4) / 6.0
            s = (e4 * p * q) / (4.0 * (r * r * r))
            work[0, lane] = x
            work[1, lane] = y
            work[2, lane] = z
            work[3, lane] = xy_squared
            work[4, lane] = q
            work[5, lane] = r
            work[6, lane] = 1.0 + s + math.sqrt(s * (2.0 + s))
        for lane in range(TOPO_LANES):
            work[7, lane] = work[6, lane] ** (1.0 / 3.0)
        for lane in range(TOPO_LANES):
            t = work[7, lane]
            q = work[4, lane]
            u = work[5, lane] * (1.0 + t + 1.0 / t)
            rv = math.sqrt(u * u + e4 * q)
            w = E2 * (u + rv - q) / (2.0 * rv)
            k = math.sqrt(u + rv + w * w) - w
            work[8, lane] = k * math.sqrt(work[3, lane]) / (k + E2)
        for lane in range(TOPO_LANES):
            work[9, lane] = math.atan2(work[2, lane], work[8, lane])
        for lane in range(TOPO_LANES):
            work[10, lane] = math.atan2(work[1, lane], work[0, lane])
        for lane in range(TOPO_LANES):
            work[11, lane] = math.sin(work[9, lane])
        for lane in range(TOPO_LANES):
            work[12, lane] = math.cos(work[9, lane])
        for lane in range(TOPO_LANES):
            work[13, lane] = math.cos(work[10, lane])
        for lane in range(TOPO_LANES):
            work[14, lane] = math.sin(work[10, lane])
        for lane in range(TOPO_LANES):
            # LLH_2_XYZ at the target height, and the new height above the sphere of the satellite's radius
            sin_lat = work[11, lane]
            cos_lat = work[12, lane]
            height = state[8, lane]
            radius = SEMI_MAJOR / math.sqrt(1.0 - E2 * (sin_lat * sin_lat))
            tx = (radius + height) * cos_lat * work[13, lane]
            ty = (radius + height) * cos_lat * work[14, lane]
            tz = (radius * (1.0 - E2) + height) * sin_lat
            work[0, lane] = tx
            work[1, lane] = ty
            work[2, lane] = tz
            work[15, lane] = math.sqrt(tx * tx + ty * ty + tz * tz) - state[4, lane]
        for lane in range(TOPO_LANES):
            j = slot_of[lane]
            if j < 0:
                continue
            current = iteration[lane]
            new_height = work[15, lane]
            point = (work[0, lane], work[1, lane], work[2, lane], work[9, lane], work[10, lane])
            done = current + 1 == max_iterations
            if radar.stop_at_cycle:
                # iteration k computes the point from h_k and h_{k+1}; a repeated height repeats the points
                slot = current % CYCLE_HISTORY
                history_height[lane, slot] = state[18, lane]
                history_point[lane, slot, 0] = point[0]
                history_point[lane, slot, 1] = point[1]
                history_point[lane, slot, 2] = point[2]
                history_point[lane, slot, 3] = point[3]
                history_point[lane, slot, 4] = point[4]
                if state[18, lane] < lowest[lane]:  # noqa: PLR1730 (comparisons, not min/max: a NaN leaves the range)
                    lowest[lane] = state[18, lane]
                if state[18, lane] > highest[lane]:  # noqa: PLR1730
                    highest[lane] = state[18, lane]
                period = 0
                # a height outside the range of all the lane's earlier heights cannot repeat one: no search
                if lowest[lane] <= new_height <= highest[lane]:
                    for candidate in range(1, min(CYCLE_HISTORY, current + 1) + 1):
                        if history_height[lane, (current + 1 - candidate) % CYCLE_HISTORY] == new_height:
                            period = candidate
                            break
                if period > 0:
                    cycle_start = current + 1 - period  # h_{current + 1} == h_cycle_start
                    last = (cycle_start + (max_iterations - 1 - cycle_start) % period) % CYCLE_HISTORY
                    point = (
                        history_point[lane, last, 0],
                        history_point[lane, last, 1],
                        history_point[lane, last, 2],
                        history_point[lane, last, 3],
                        history_point[lane, last, 4],
                    )
                    done = True
            if not done:
                state[18, lane] = new_height
                iteration[lane] = current + 1
                continue
            node = inside[j]
            dx = point[0] - targets[node, 0]
            dy = point[1] - targets[node, 1]
            dz = point[2] - targets[node, 2]
            steps[3, j] = point[3] / DEG2RAD
            steps[4, j] = point[4] / DEG2RAD
            steps[5, j] = math.sqrt(dx * dx + dy * dy + dz * dz)
            iteration[lane] = 0
            lowest[lane] = np.inf
            highest[lane] = -np.inf
            slot_of[lane] = -1
            running -= 1
            if following < count:
                node = inside[following]
                _topo_start(orbit, radar, times[node], ranges[node], heights[node], lane, state, scratch)
                slot_of[lane] = following
                following += 1
                running += 1


def _std_round(value):
    """C++ std::round: halves away from zero."""
    whole = np.trunc(value)
    fraction = value - whole
    return whole + (np.sign(value) if abs(fraction) >= 0.5 else 0.0)


def _to_int32(value):
    """A C double -> int conversion on x86: truncation, INT_MIN for NaN and overflow."""
    if -2147483649.0 < value < 2147483648.0:
        return np.int32(value)
    return np.int32(INT32_MIN)


def _geodetic_to_ecef_rows(geodetic, targets):
    """latlon.F's LLH_2_XYZ of every node (geodetic in degrees), each C maths function for all nodes in a row."""
    total = geodetic.shape[1]
    trig = np.empty((4, total))  # sin, cos of the latitude, cos, sin of the longitude
    for node in range(total):
        trig[0, node] = math.sin(DEG2RAD * geodetic[0, node])
    for node in range(total):
        trig[1, node] = math.cos(DEG2RAD * geodetic[0, node])
    for node in range(total):
        trig[2, node] = math.cos(DEG2RAD * geodetic[1, node])
    for node in range(total):
        trig[3, node] = math.sin(DEG2RAD * geodetic[1, node])
    for node in range(total):
        sin_lat = trig[0, node]
        cos_lat = trig[1, node]
        height = geodetic[2, node]
        radius = SEMI_MAJOR / math.sqrt(1.0 - E2 * (sin_lat * sin_lat))
        targets[node, 0] = (radius + height) * cos_lat * trig[2, node]
        targets[node, 1] = (radius + height) * cos_lat * trig[3, node]
        targets[node, 2] = (radius * (1.0 - E2) + height) * sin_lat


def _ecef_to_llh_rows(points, count, llh):
    """latlon.F's XYZ_2_LLH (Vermeille 2002) of points[:, :count] into llh[0:3, :count] (latitude, longitude in degrees, height), each C
    maths function for all points in a row."""
    e4 = E2 * E2
    a_squared = SEMI_MAJOR * SEMI_MAJOR
    work = np.empty((3, count))  # cube root base then t; d; k
    for j in range(count):
        x, y, z = points[0, j], points[1, j], points[2, j]
        p = (x * x + y * y) / a_squared
        q = (1.0 - E2) * (z * z) / a_squared
        r = (p + q - e4) / 6.0
        s = (e4 * p * q) / (4.0 * (r * r * r))
        work[0, j] = 1.0 + s + math.sqrt(s * (2.0 + s))
    for j in range(count):
        work[0, j] = work[0, j] ** (1.0 / 3.0)
    for j in range(count):
        x, y, z = points[0, j], points[1, j], points[2, j]
        xy_squared = x * x + y * y
        p = xy_squared / a_squared
        q = (1.0 - E2) * (z * z) / a_squared
        r = (p + q - e4) / 6.0
        t = work[0, j]
        u = r * (1.0 + t + 1.0 / t)
        rv = math.sqrt(u * u + e4 * q)
        w = E2 * (u + rv - q) / (2.0 * rv)
        k = math.sqrt(u + rv + w * w) - w
        work[1, j] = k * math.sqrt(xy_squared) / (k + E2)
        work[2, j] = k
    for j in range(count):
        llh[0, j] = math.atan2(points[2, j], work[1, j]) / DEG2RAD
    for j in range(count):
        llh[1, j] = math.atan2(points[1, j], points[0, j]) / DEG2RAD
    for j in range(count):
        d = work[1, j]
        z = points[2, j]
        k = work[2, j]
        llh[2, j] = (k + E2 - 1.0) * math.sqrt(d * d + z * z) / k


def radar_kernel(orbit, radar, geodetic, out):
    """Sections 2.3-2.7 for n nodes (geodetic: (3, n) latitude, longitude in degrees, DEM height); returns the count
    of nodes inside the image. See RadarOutputs for what it fills."""
    total = geodetic.shape[1]
    targets = np.empty((total, 3))
    looks = np.empty((total, 3))
    ranges = np.empty(total)
    _geodetic_to_ecef_rows(geodetic, targets)
    _geo2rdr(orbit, radar, targets, looks, ranges, out.times, out.status)
    first_time = orbit.times[0]
    last_time = orbit.times[orbit.times.shape[0] - 1]
    points = np.empty((3, total))
    count = 0
    for node in range(total):
        if out.status[node] & OUTSIDE_ORBIT:
            continue
        time = out.times[node]
        step_time = time + radar.line_time
        # geogrid.cpp takes the along-track step for every node, so a time outside the orbit stops it everywhere
        if step_time < first_time or step_time > last_time:
            out.status[node] |= STEP_OUTSIDE_ORBIT
        range_index = _std_round((ranges[node] - radar.starting_range) / radar.range_pixel_size)
        azimuth_index = _std_round((time - radar.sensing_start) * radar.prf)
        if not (0 <= range_index <= radar.last_sample and 0 <= azimuth_index <= radar.last_line):
            continue
        out.location[0, node] = _to_int32(range_index)
        out.location[1, node] = _to_int32(azimuth_index)
        out.inside[count] = node
        # 2.6: one slant-range pixel farther along the unit look vector
        lx, ly, lz = looks[node, 0], looks[node, 1], looks[node, 2]
        look_length = math.sqrt(lx * lx + ly * ly + lz * lz)
        points[0, count] = targets[node, 0] + lx / look_length * radar.range_pixel_size
        points[1, count] = targets[node, 1] + ly / look_length * radar.range_pixel_size
        points[2, count] = targets[node, 2] + lz / look_length * radar.range_pixel_size
        count += 1
    _ecef_to_llh_rows(points, count, out.steps)
    # 2.7: one azimuth line later, at the same range and height
    _topo(orbit, radar, out.times, ranges, geodetic[2], targets, out.inside, count, out.steps)
    return count


def _slope_parallel_z(east, north, normal_x, normal_y, normal_z):
    """The vertical component that makes (east, north, z) parallel to the surface."""
    return -(east * normal_x + north * normal_y) / normal_z


def _clip(value, lower, upper):
    """np.minimum(np.maximum(value, lower), upper) for finite bounds: NaN stays NaN, as in numpy."""
    if math.isnan(value):
        return value
    return min(max(value, lower), upper)


def _per_year(value, dt, length):
    """value * dt / length / 365 / 24 / 3600, in geogrid.cpp's order (a rate in pixels for dt)."""
    return value * dt / length / 365.0 / 24.0 / 3600.0


def outputs_kernel(s, repeat_times, nodes, inside, steps, values, out):
    """Every output but the location for the inside nodes (sections 2.6-2.11), for each repeat time.

    nodes: (3, n) map x, y and DEM height; steps: the radar kernel's steps with the points projected to map x, y
    (rows 0, 1 and 3, 4); values: (11, n) the rasters besides the DEM in vocabulary.RASTER_ROWS order. What does
    not depend on dt (a node's range and azimuth vectors, the surface normal, the degeneracy test, the matrix terms,
    the reference velocity's projections, the chip sizes, the mask, the scale factor) is computed once per node;
    each dt then runs geogrid.cpp's dt-dependent operations, in its order, on those same values, so each dt's
    bands are those of a run for that dt alone, bit for bit.
    """
    dr = s.range_pixel_size
    dts = repeat_times.dt
    factors = repeat_times.search_factor
    count = dts.shape[0]
    range_rates = np.empty(count)
    range_vr = np.empty(count)
    for k in range(count):
        range_rates[k] = dts[k] / dr / 365.0 / 24.0 / 3600.0
        range_vr[k] = dr / dts[k] * 365.0 * 24.0 * 3600.0
    nodata = s.nodata_out
    nodata_int = _to_int32(nodata)
    ints = out.ints
    floats = out.floats
    for j in range(inside.shape[0]):
        n = inside[j]
        height = nodes[2, n]
        # 2.6: map-space vector of one slant-range pixel, and its direction (los)
        rx = steps[0, j] - nodes[0, n]
        ry = steps[1, j] - nodes[1, n]
        rz = steps[2, j] - height
        range_length = math.sqrt(rx * rx + ry * ry + rz * rz)
        los_x, los_y, los_z = rx / range_length, ry / range_length, rz / range_length
        # 2.7: map-space vector of one azimuth line, and its direction (`temp` in geogrid.cpp)
        ax = steps[3, j] - nodes[0, n]
        ay = steps[4, j] - nodes[1, n]
        az = height - height
        azimuth_length = math.sqrt(ax * ax + ay * ay + az * az)
        along_x, along_y, along_z = ax / azimuth_length, ay / azimuth_length, az / azimuth_length
        da_length = steps[5, j]

        if s.want_matrices:
            # 2.8: the surface normal from the slopes, the degeneracy test, and the conversion matrices
            dhdx = values[0, n]
            dhdy = values[1, n]
            slope_length = math.sqrt(dhdx * dhdx + dhdy * dhdy + -1.0 * -1.0)
            normal_x = -(dhdx / slope_length)
            normal_y = -(dhdy / slope_length)
            normal_z = -(-1.0 / slope_length)
            cx = los_y * along_z - los_z * along_y
            cy = los_z * along_x - los_x * along_z
            cz = los_x * along_y - los_y * along_x
            cross_length = math.sqrt(cx * cx + cy * cy + cz * cz)
            cosine = normal_x * (cx / cross_length) + normal_y * (cy / cross_length) + normal_z * (cz / cross_length)
            well_posed = abs(math.acos(cosine) / DEG2RAD - 90.0) > DEGENERACY_LIMIT_DEG
            a_term = normal_z * los_x - normal_x * los_z
            d_term = normal_z * los_y - normal_y * los_z
            c_term = normal_z * along_x - normal_x * along_z
            b_term = normal_z * along_y - normal_y * along_z
            determinant = a_term * b_term - c_term * d_term
            floats[0, 6, n] = range_length / dr
            floats[0, 7, n] = azimuth_length / da_length
            # 2.9: the reference velocity along the slope, projected on the two directions (dt-free)
            range_velocity = 0.0
            azimuth_velocity = 0.0
            no_velocity = False
            if s.want_offset:
                vx = values[2, n]
                vy = values[3, n]
                vz = _slope_parallel_z(vx, vy, normal_x, normal_y, normal_z)
                range_velocity = vx * los_x + vy * los_y + vz * los_z
                azimuth_velocity = vx * along_x + vy * along_y + vz * along_z
                no_velocity = s.has_vx_nodata and vx == s.vx_nodata

            for k in range(count):
                dt = dts[k]
                range_rate = range_rates[k]
                azimuth_rate = dt / da_length / 365.0 / 24.0 / 3600.0
                if well_posed:
                    floats[k, 0, n] = normal_z / range_rate * b_term / determinant
                    floats[k, 1, n] = -normal_z / azimuth_rate * d_term / determinant
                    floats[k, 3, n] = -normal_z / range_rate * c_term / determinant
                    floats[k, 4, n] = normal_z / azimuth_rate * a_term / determinant
                floats[k, 2, n] = range_vr[k]
                floats[k, 5, n] = da_length / dt * 365.0 * 24.0 * 3600.0

                if s.want_offset:
                    # 2.9: the reference velocity's offsets, zero where vx is nodata
                    range_offset = _per_year(range_velocity, dt, range_length)
                    azimuth_offset = _per_year(azimuth_velocity, dt, azimuth_length)
                    if no_velocity:
                        ints[k, 0, n] = 0
                        ints[k, 1, n] = 0
                    else:
                        ints[k, 0, n] = _to_int32(_std_round(range_offset))
                        ints[k, 1, n] = _to_int32(_std_round(azimuth_offset))
                    if s.want_unrounded:
                        out.unrounded[k, 0, n] = range_offset
                        out.unrounded[k, 1, n] = azimuth_offset

                if s.want_search_range:
                    # 2.10: the larger of the two corners' offsets (search_x = +-srx), at least 1; 0 where masked
                    search_x = _clip(values[4, n] * factors[k], s.search_min, s.search_max)
                    search_y = _clip(values[5, n] * factors[k], s.search_min, s.search_max)
                    z1 = _slope_parallel_z(search_x, search_y, normal_x, normal_y, normal_z)
                    z2 = _slope_parallel_z(-search_x, search_y, normal_x, normal_y, normal_z)
                    range_1 = abs(_std_round(_per_year(search_x * los_x + search_y * los_y + z1 * los_z, dt, dr)))
                    range_2 = abs(_std_round(_per_year(-search_x * los_x + search_y * los_y + z2 * los_z, dt, dr)))
                    azimuth_1 = abs(
                        _std_round(
                            _per_year(search_x * along_x + search_y * along_y + z1 * along_z, dt, azimuth_length)
                        )
                    )
                    azimuth_2 = abs(
                        _std_round(
                            _per_year(-search_x * along_x + search_y * along_y + z2 * along_z, dt, azimuth_length)
                        )
                    )
                    search_range_range = max(range_1, range_2)
                    search_range_azimuth = max(azimuth_1, azimuth_2)
                    if search_range_range == 0:
                        search_range_range = 1.0
                    if search_range_azimuth == 0:
                        search_range_azimuth = 1.0
                    if (s.has_vx_nodata and search_x == s.vx_nodata) or search_x == 0:
                        ints[k, 2, n] = 0
                        ints[k, 3, n] = 0
                    else:
                        ints[k, 2, n] = _to_int32(search_range_range)
                        ints[k, 3, n] = _to_int32(search_range_azimuth)

        # 2.11: chip sizes in pixels and the stable-surface mask; nodata where the raster is vx's nodata
        for row, wanted in ((4, s.want_chip_size_min), (6, s.want_chip_size_max)):
            if wanted:
                chip_x = values[row + 2, n]
                if s.has_vx_nodata and chip_x == s.vx_nodata:
                    ints[0, row, n] = nodata_int
                    ints[0, row + 1, n] = nodata_int
                else:
                    ints[0, row, n] = _to_int32(chip_x / s.chip_size_x0 * s.chip_pixels_range)
                    ints[0, row + 1, n] = _to_int32(values[row + 3, n] / s.chip_size_x0 * s.chip_pixels_azimuth)
        if s.want_stable_surface_mask:
            mask = values[10, n]
            ints[0, 8, n] = nodata_int if s.has_vx_nodata and mask == s.vx_nodata else _to_int32(mask)


_compile_lock = threading.Lock()
_HELPERS = (
    '_hermite',
    '_hermite_lanes',
    '_geo2rdr',
    '_topo_start',
    '_topo',
    '_geodetic_to_ecef_rows',
    '_ecef_to_llh_rows',
    '_std_round',
    '_to_int32',
)
_OUTPUT_HELPERS = ('_slope_parallel_z', '_clip', '_per_year')
# Helpers that take arrays and run once per node or step, inlined by numba: a compiled call takes and drops an atomic
# reference count on every array argument, and the orbit tables' counts are shared by all worker threads.
_INLINED = ('_hermite', '_topo_start')


class Kernels(NamedTuple):
    radar: Any
    outputs: Any


@functools.cache
def _compile() -> Kernels:
    numba = numba_target.import_numba()  # no SVML, the portable CPU level, numba's BLAS probe skipped

    def jit(function: Any, inline: Literal['never', 'always'] = 'never') -> Any:
        return numba.njit(cache=True, nogil=True, fastmath=False, error_model='numpy', inline=inline)(function)

    # Module-level names are resolved at compile time, so the helpers are compiled and bound here first.
    module = globals()
    for name in _HELPERS + _OUTPUT_HELPERS:
        module[name] = jit(module[name], 'always' if name in _INLINED else 'never')
    return Kernels(radar=jit(radar_kernel), outputs=jit(outputs_kernel))


def compiled() -> Kernels:
    """The kernels compiled with numba (loaded from its cache when it is warm). Thread-safe."""
    with _compile_lock:  # the first call may come from several worker threads at once
        return _compile()
