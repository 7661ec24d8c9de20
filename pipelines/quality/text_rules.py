"""Row rules every text column gets: a value holding a NUL byte (`\\x00`) is not text, so its row is quarantined."""

from __future__ import annotations

from pipelines.spec.models import DatasetSpec
from pipelines.spec.rules import Regex

NUL_RULE_PREFIX = "text.no_nul."
"""The rule id of a column's NUL check is this prefix plus the column name: the stable reason code."""

NO_NUL_PATTERN = r"[^\x00]*"
"""The whole value must be free of NUL bytes (Rust regex syntax; `\\x00` is the NUL byte)."""


def nul_rules(spec: DatasetSpec) -> list[Regex]:
    """One `text.no_nul.<column>` rule (error: the row is quarantined) for each string column of a spec.

    A NUL byte inside a value is almost always a broken export or an injection attempt: most tools cut
    the value there, so what a reader sees is not what was published.

    Args:
        spec: The dataset spec.

    Returns:
        The rules, in column order.
    """
    return [
        Regex(
            kind="regex",
            id=f"{NUL_RULE_PREFIX}{c.name}",
            column=c.name,
            pattern=NO_NUL_PATTERN,
            description=f"`{c.name}` holds no NUL byte (\\x00).",
        )
        for c in spec.declared_columns
        if c.dtype == "string"
    ]
