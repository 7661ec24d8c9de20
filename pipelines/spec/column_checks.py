"""Checks of a spec's columns that the pydantic models cannot make alone, and the unit arithmetic they share.

Units: a column that declares `source_unit` has its raw values converted to `unit` at ingest. Every
conversion moshu accepts is affine, `y = scale * x + offset` (an offset only for temperatures such as
degF -> degC), so pint is asked once per column for `scale` and `offset` and the data is converted
by one vectorised expression. Non-affine conversions (logarithmic units such as dB) are refused.

Cross-column: `keep_original` publishes `<name>_original`, which must not collide with another column.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import lcm
from typing import TYPE_CHECKING

from pipelines.errors import SpecIssue
from pipelines.spec.models import original_name

if TYPE_CHECKING:
    from pipelines.spec.models import DatasetSpec
    from pipelines.spec.yaml_marks import Located

# A coefficient within this relative distance of a fraction with a denominator up to _MAX_DENOMINATOR
# is taken to be that fraction: pint's float arithmetic gives 0.5555555555555429 for degF -> degC.
_SNAP_TOLERANCE = 1e-13
_MAX_DENOMINATOR = 1_000_000
_SHOWN_DENOMINATOR = 100_000


@dataclass(frozen=True)
class Conversion:
    """An affine unit conversion `y = scale * x + offset`.

    Attributes:
        source: The raw values' unit, as the spec writes it.
        target: The published unit, as the spec writes it.
        scale: The factor, as an exact fraction when pint's float is one within rounding, else a float.
        offset: The offset in the target unit (0 unless temperatures), exact where possible.
    """

    source: str
    target: str
    scale: Fraction | float
    offset: Fraction | float

    @property
    def is_identity(self) -> bool:
        """True when the conversion does not change the values."""
        return self.scale == 1 and self.offset == 0

    def coefficients(self) -> tuple[float, float, float]:
        """`(a, b, d)` such that `y = (a * x + b) / d`; integers when both coefficients are exact fractions.

        Dividing by the common denominator last keeps results such as 212 degF -> 100 degC exact.
        """
        if isinstance(self.scale, Fraction) and isinstance(self.offset, Fraction):
            d = lcm(self.scale.denominator, self.offset.denominator)
            a = self.scale.numerator * (d // self.scale.denominator)
            b = self.offset.numerator * (d // self.offset.denominator)
            if max(abs(a), abs(b), d) < 2**53:  # exact as floats
                return float(a), float(b), float(d)
        return float(self.scale), float(self.offset), 1.0

    def text(self) -> str:
        """Human form of the conversion, e.g. `degF -> degC: x * 5/9 - 160/9`."""
        head = f"{self.source} -> {self.target}: "
        if self.is_identity:
            return head + "x (same quantity, another spelling)"
        body = "x" if self.scale == 1 else f"x * {_number(self.scale)}"
        if self.offset:
            sign, size = ("-", -self.offset) if self.offset < 0 else ("+", self.offset)
            body += f" {sign} {_number(size)}"
        return head + body


def _number(v: Fraction | float) -> str:
    """A coefficient as text: `273.15` when its decimal form is finite, a small fraction as `5/9`, else 12 digits."""
    if isinstance(v, Fraction):
        if v.denominator == 1:
            return str(v.numerator)
        if _decimal_is_finite(v.denominator) and v.denominator <= _SHOWN_DENOMINATOR:
            return f"{float(v):.12g}"
        if v.denominator <= _SHOWN_DENOMINATOR:
            return f"{v.numerator}/{v.denominator}"
        v = float(v)
    return f"{v:.12g}"


def _decimal_is_finite(denominator: int) -> bool:
    """True when 1/denominator has a finite decimal expansion (only the prime factors 2 and 5)."""
    for p in (2, 5):
        while denominator % p == 0:
            denominator //= p
    return denominator == 1


def _snap(v: float) -> Fraction | float:
    """`v` as an exact fraction when one with a modest denominator is within float rounding of it."""
    f = Fraction(v).limit_denominator(_MAX_DENOMINATOR)
    if abs(float(f) - v) <= _SNAP_TOLERANCE * max(abs(v), 1e-300):
        return f
    return v


def unit_conversion(source: str, target: str) -> Conversion:
    """The affine conversion from `source` to `target` units, computed once with pint.

    Args:
        source: The raw values' unit (e.g. `degF`, `psi`, `mm/min`).
        target: The canonical unit (e.g. `degC`, `bar`, `m/s`).

    Returns:
        The conversion, with exact fractions where pint's floats are ones within rounding.

    Raises:
        ValueError: a unit pint does not know, units of different dimensions, or a non-affine conversion.
    """
    from pipelines.quality.units import convertible, registry, valid

    for which, u in (("source_unit", source), ("unit", target)):
        if not valid(u):
            raise ValueError(f"`{which}` `{u}` is not a unit the units library (pint) knows; write e.g. `degC`, `psi`, `mm/min`")
    if not convertible(source, target):
        ureg = registry()
        have, want = ureg.Quantity(1, source).dimensionality, ureg.Quantity(1, target).dimensionality
        raise ValueError(f"`{source}` ({have}) does not convert to `{target}` ({want})")
    ureg = registry()
    try:
        y0, y1, y2 = (float(ureg.Quantity(float(x), source).to(target).magnitude) for x in (0, 1, 1000))
    except Exception as e:  # pint raises several error types (offset, logarithmic units)
        raise ValueError(f"`{source}` -> `{target}` cannot be computed: {e}") from None
    scale, offset = y1 - y0, y0
    if abs(y2 - (1000 * scale + offset)) > 1e-9 * max(abs(y2), 1.0):
        raise ValueError(f"`{source}` -> `{target}` is not a linear conversion (scale and offset)")
    return Conversion(source, target, _snap(scale), _snap(offset))


def check_columns(spec: DatasetSpec, located: Located, issues: list[SpecIssue]) -> None:
    """Cross-column checks of a spec, appended to `issues` with file and line.

    Today: every `unit` must be one the units library (pint) reads, and a `keep_original` column's
    `<name>_original` must not be another column's name (or another `<name>_original`).

    Args:
        spec: The validated spec.
        located: The spec file as parsed, to locate each problem.
        issues: Where problems are appended.
    """
    _check_units(spec, located, issues)
    taken = {c.name: i for i, c in enumerate(spec.columns)}
    for i, c in enumerate(spec.columns):
        if not c.keep_original:
            continue
        extra = original_name(c.name)
        if extra in taken:
            line, col = located.locate(("columns", i, "keep_original"))
            issues.append(
                SpecIssue(
                    located.display, line, col, f"columns[{i}].keep_original",
                    f"column `{c.name}` keeps its raw text in `{extra}`, which is already the name of columns[{taken[extra]}]",
                    f"rename column `{extra}` or drop `keep_original` from `{c.name}`",
                )
            )  # fmt: skip
        taken[extra] = i


def _check_units(spec: DatasetSpec, located: Located, issues: list[SpecIssue]) -> None:
    """Every declared `unit` parses with pint (pint is loaded only when a column declares one)."""
    units = [(i, c) for i, c in enumerate(spec.columns) if c.unit and c.source_unit is None]  # source_unit: checked on the model
    if not units:
        return
    from pipelines.quality.units import valid

    for i, c in units:
        assert c.unit is not None
        if not valid(c.unit):
            line, col = located.locate(("columns", i, "unit"))
            issues.append(
                SpecIssue(
                    located.display, line, col, f"columns[{i}].unit",
                    f"column `{c.name}`: `{c.unit}` is not a unit the units library (pint) knows",
                    "write a unit such as `degC`, `rpm`, `N*m`, `mm/min` or `%`, or remove `unit:`",
                )
            )  # fmt: skip
