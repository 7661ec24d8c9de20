"""Pseudonymisation at ingest: columns marked `personal` are replaced by a keyed HMAC before anything is written.

The key comes from `MOSHU_PSEUDONYM_KEY` (the key itself) or `MOSHU_PSEUDONYM_KEY_FILE` (a file holding
it); it is never written to the warehouse. The same value maps to the same pseudonym under the same
key, in every version, so joins and counts per person still work; without the key a pseudonym cannot
be turned back into the value. What the warehouse records is a key id: an HMAC of a fixed label,
which tells whether two versions used the same key and reveals nothing of a key of 32 characters or more.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.errors import MoshuError

KEY_ENV = "MOSHU_PSEUDONYM_KEY"
KEY_FILE_ENV = "MOSHU_PSEUDONYM_KEY_FILE"
MIN_KEY_LENGTH = 32
PREFIX = "psn-"
PSEUDONYM = re.compile(r"^psn-[0-9a-f]{24}$")
METHOD = "HMAC-SHA256, first 96 bits, hex, prefixed psn-"


class PseudonymKeyError(MoshuError):
    """Personal columns must be pseudonymised, and no usable key was given."""


@dataclass(frozen=True)
class Key:
    """A pseudonymisation key and its public id."""

    secret: bytes

    @property
    def key_id(self) -> str:
        """Identifies the key without revealing it."""
        return hmac.new(self.secret, b"moshu pseudonym key id", hashlib.sha256).hexdigest()[:16]

    def pseudonym(self, value: str) -> str:
        """The pseudonym of one value."""
        return PREFIX + hmac.new(self.secret, value.encode("utf-8"), hashlib.sha256).hexdigest()[:24]


def load_key(dataset: str, columns: list[str]) -> Key:
    """The key from the environment or a key file.

    Raises:
        PseudonymKeyError: neither is set, the file is missing, or the key is shorter than 32 characters.
    """
    where = f"dataset `{dataset}` has personal columns ({', '.join(columns)}) that must be pseudonymised"
    text = os.environ.get(KEY_ENV)
    if not text and os.environ.get(KEY_FILE_ENV):
        path = Path(os.environ[KEY_FILE_ENV])
        if not path.is_file():
            raise PseudonymKeyError(f"{where}, but {KEY_FILE_ENV} names `{path}`, which does not exist")
        text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise PseudonymKeyError(
            f"{where}, and no key is set: set {KEY_ENV} to a secret of at least {MIN_KEY_LENGTH} characters, or "
            f'{KEY_FILE_ENV} to a file holding one (e.g. `python -c "import secrets; print(secrets.token_hex(32))" '
            f"> .secrets/pseudonym.key`; `make run` creates a development key there). No data was read or written"
        )
    if len(text) < MIN_KEY_LENGTH:
        raise PseudonymKeyError(f"{where}: the key is {len(text)} characters; use at least {MIN_KEY_LENGTH}")
    return Key(text.encode("utf-8"))


def pseudonymise(lf: pl.LazyFrame, columns: list[str], key: Key) -> pl.LazyFrame:
    """Replace every value of `columns` by its pseudonym (nulls stay null), in the same pass as the read.

    Each batch hashes its distinct values once, so a column of a few thousand operators costs a few
    thousand HMACs per batch, not one per row.
    """

    def batch(values: pl.Series) -> pl.Series:
        distinct = values.drop_nulls().unique()
        mapped = [key.pseudonym(v) for v in distinct.to_list()]
        return values.replace_strict(distinct, mapped, default=None, return_dtype=pl.String)

    return lf.with_columns(
        [pl.col(c).cast(pl.String).map_batches(batch, return_dtype=pl.String, is_elementwise=True).alias(c) for c in columns]
    )


def identifiable(lf: pl.LazyFrame, columns: list[str]) -> tuple[int, int]:
    """(values that are not pseudonyms, non-null values) over `columns`: ISO/IEC 5259-2 Idn-ML-1 is their ratio."""
    if not columns:
        return 0, 0
    row = lf.select(
        *[(pl.col(c).is_not_null() & ~pl.col(c).cast(pl.String).str.contains(PSEUDONYM.pattern)).sum().alias(f"i{i}")
          for i, c in enumerate(columns)],
        *[pl.col(c).is_not_null().sum().alias(f"n{i}") for i, c in enumerate(columns)],
    ).collect().row(0, named=True)  # fmt: skip
    return sum(int(row[f"i{i}"]) for i in range(len(columns))), sum(int(row[f"n{i}"]) for i in range(len(columns)))
