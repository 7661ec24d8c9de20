"""Physical units, through pint: is a declared unit convertible to another?"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def registry() -> Any:
    """The shared pint unit registry."""
    import pint

    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


def convertible(unit: str | None, target: str) -> bool:
    """True when `unit` parses and has the same dimensionality as `target`."""
    if not unit:
        return False
    ureg = registry()
    try:
        return bool(ureg.Quantity(1, unit).is_compatible_with(ureg.Quantity(1, target)))
    except Exception:  # pint raises several error types for units it cannot parse
        return False


def valid(unit: str) -> bool:
    """True when pint understands `unit`."""
    try:
        registry().Unit(unit)
        return True
    except Exception:
        return False
