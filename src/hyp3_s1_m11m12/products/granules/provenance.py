"""Which pair a conversion-matrices product was made for, and whether it may repair a given granule.

The product's own global attributes say it (CONTRACTS 2): `reference_granule`, `secondary_granule`, `dt_seconds`
and `dt_convention = 'true_dt'`; a file without `dt_convention = 'true_dt'` is legacy (hyp3-autorift's
s1_correction with the 1-day spoofed dt). A granule repaired from a product records that provenance on M11/M12.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import netCDF4

from hyp3_s1_m11m12.constants import SECONDS_PER_DAY
from hyp3_s1_m11m12.errors import ProductError
from hyp3_s1_m11m12.products.granules.metadata import SOURCE_PRODUCT_ATTRIBUTE
from hyp3_s1_m11m12.products.provenance import UNKNOWN_SECONDARY


TRUE_DT_CONVENTION = 'true_dt'
# date_dt comes from the granule's mid-times, the product's dt from burst starts: seconds over days.
DT_RELATIVE_TOLERANCE = 1e-3
# Attributes written on M11 and M12 of a repaired granule.
PROVENANCE_PREFIX = SOURCE_PRODUCT_ATTRIBUTE.removesuffix('product')


@dataclass(frozen=True)
class ProductProvenance:
    source: str  # the product's file name or URL
    reference: str | None
    secondary: str | None
    dt_seconds: float | None
    dt_convention: str | None
    job_id: str | None = None

    @property
    def is_true_dt(self) -> bool:
        return self.dt_convention == TRUE_DT_CONVENTION

    def attributes(self) -> dict[str, str | float]:
        """The provenance as M11/M12 attributes (unknown values are left out)."""
        values: dict[str, str | float | None] = {
            'product': self.source,
            'reference_granule': self.reference,
            'secondary_granule': self.secondary,
            'dt_seconds': self.dt_seconds,
            'dt_convention': self.dt_convention or 'legacy',
            'hyp3_job_id': self.job_id,
        }
        return {PROVENANCE_PREFIX + key: value for key, value in values.items() if value is not None}

    def describe(self) -> str:
        dt = f'{self.dt_seconds / SECONDS_PER_DAY:.10g} days' if self.dt_seconds is not None else 'unknown dt'
        job = f', HyP3 job {self.job_id}' if self.job_id else ''
        return (
            f'{self.source} (reference {self.reference or "unknown"}, secondary {self.secondary or "unknown"}, '
            f'{dt}, {self.dt_convention or "legacy"}{job})'
        )


def _text(dataset: netCDF4.Dataset, name: str) -> str | None:
    return str(dataset.getncattr(name)) if name in dataset.ncattrs() else None


def _known(secondary: str | None) -> str | None:
    """None for a product made from a dt or a sensing time alone (its secondary scene was never named)."""
    return None if secondary == UNKNOWN_SECONDARY else secondary


def read_product_provenance(path: Path, *, source: str | None = None, job_id: str | None = None) -> ProductProvenance:
    """The provenance global attributes of a conversion-matrices file.

    Raises:
        ProductError: the file cannot be read.
    """
    try:
        with netCDF4.Dataset(path, 'r') as dataset:
            dt_text = _text(dataset, 'dt_seconds')
            provenance = ProductProvenance(
                source=source or path.name,
                reference=_text(dataset, 'reference_granule'),
                secondary=_known(_text(dataset, 'secondary_granule')),
                dt_seconds=float(dt_text) if dt_text is not None else None,
                dt_convention=_text(dataset, 'dt_convention'),
                job_id=job_id,
            )
    except (OSError, ValueError) as error:
        raise ProductError(f'cannot read the provenance of {path} ({error}); download or create it again') from error
    return provenance


def check_product_pair(
    provenance: ProductProvenance,
    *,
    granule: str,
    reference: str | None,
    secondary: str | None,
    date_dt_days: float,
    rescale_spoofed: bool,
) -> None:
    """Refuse a product made for another pair than the granule's (img_pair_info id_img1/id_img2, date_dt).

    Raises:
        ProductError: another reference (the matrices belong to another scene's geometry), another secondary or
            dt, or a request to rescale a true-dt product.
    """
    product = provenance.source
    if rescale_spoofed and provenance.is_true_dt:
        raise ProductError(
            f"{product} has dt_convention = 'true_dt': its matrices already carry the true repeat time and must "
            'never be multiplied by date_dt; drop --rescale-spoofed'
        )
    if provenance.reference is not None and reference is not None and provenance.reference != reference:
        raise ProductError(
            f'{product} was made for reference {provenance.reference} but {granule} has reference (id_img1) '
            f"{reference}; use the conversion matrices of the granule's reference scene"
        )
    if provenance.secondary is not None and secondary is not None and provenance.secondary != secondary:
        raise ProductError(
            f'{product} was made for secondary {provenance.secondary} but {granule} has secondary (id_img2) '
            f'{secondary}; use the conversion matrices of this pair'
        )
    if provenance.is_true_dt and provenance.dt_seconds is not None:
        product_days = provenance.dt_seconds / SECONDS_PER_DAY
        if not math.isclose(product_days, date_dt_days, rel_tol=DT_RELATIVE_TOLERANCE):
            raise ProductError(
                f'{product} was made for dt = {product_days:.6g} days but {granule} has date_dt = '
                f'{date_dt_days:.6g} days; use the conversion matrices of this pair'
            )
