"""The int16 packing of M11/M12 used by autoRIFT <= 1.5 / hyp3-autorift 0.18-0.19 and the V2 S1 granules."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hyp3_s1_m11m12.errors import ProductError


PACKED_MIN = -50
PACKED_MAX = 50


@dataclass(frozen=True)
class Int16Packing:
    """CF packing attributes: unpacked = packed * scale_factor + add_offset (both float32, as written upstream)."""

    scale_factor: np.float32
    add_offset: np.float32


def int16_packing(values: npt.NDArray[np.floating]) -> Int16Packing:
    """Map the finite range of `values` linearly onto [-50, 50], as the seed script does.

    Raises:
        ProductError: no finite value, or all values equal (the packing is undefined).
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ProductError('cannot pack a conversion matrix that has no valid value')
    x1 = float(np.min(finite))
    x2 = float(np.max(finite))
    if x1 == x2:
        raise ProductError(f'cannot pack a constant conversion matrix ({x1}) into int16; write it as float32')
    slope = (PACKED_MAX - PACKED_MIN) / (x2 - x1)
    intercept = PACKED_MIN - x1 * slope
    return Int16Packing(scale_factor=np.float32(1 / slope), add_offset=np.float32(-intercept / slope))


def pack_int16(values: npt.NDArray[np.floating], packing: Int16Packing, fill_value: int) -> npt.NDArray[np.int16]:
    """Pack as netCDF4-python's auto-scaling does (round to nearest); NaN becomes `fill_value`."""
    scaled = (np.asarray(values, dtype=np.float64) - float(packing.add_offset)) / float(packing.scale_factor)
    packed = np.full(scaled.shape, fill_value, dtype=np.int16)
    valid = np.isfinite(scaled)
    packed[valid] = np.clip(np.around(scaled[valid]), -32768, 32767).astype(np.int16)
    return packed


def unpack_int16(packed: npt.NDArray[np.integer], packing: Int16Packing, fill_value: int) -> npt.NDArray[np.float64]:
    values = packed.astype(np.float64) * float(packing.scale_factor) + float(packing.add_offset)
    values[packed == fill_value] = np.nan
    return values
