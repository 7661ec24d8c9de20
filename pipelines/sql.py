"""Quoting for SQL written by moshu (DuckDB): identifiers and string literals, escaped once, here."""

from __future__ import annotations


def ident(name: str) -> str:
    """A double-quoted identifier, e.g. `"Air temperature [K]"`."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: object) -> str:
    """A string literal in single quotes; numbers and booleans as they are."""
    return "'" + value.replace("'", "''") + "'" if isinstance(value, str) else str(value)
