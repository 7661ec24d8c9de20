"""The fuzz corpus: bad specs, rule files, policies and data files, built from a small copy of the AI4I 2020 seed.

Each case is a function of the base text (or rows) it breaks, so the corpus is small, readable and
regenerated in every test run rather than stored as opaque files. `SPEC_CASES`, `RULE_CASES` and
`POLICY_CASES` replace one YAML file of a mini project; `DATA_CASES` add one raw file beside the good
one. Each case says what must happen: the exit code (0 accepted, 2 a `SpecError`) and words the
message must hold, or for data where the file's rows must go.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SEED = REPO / "seeds" / "ai4i2020" / "ai4i2020.csv"
SEED_COLUMNS = ("UDI", "Product ID", "Type", "Air temperature [K]", "Torque [Nm]")
GOOD_ROWS = 12

SPEC = """\
name: fz
title: Fuzz target
description: A small copy of the AI4I 2020 seed that the fuzz corpus breaks on purpose.
owner: security-tests
license: CC-BY-4.0
classification:
  grade: general
  domain: production
  cdo: Test CDO
  retention: P1Y
  default_sensitivity: public
source:
  format: csv
  path: seeds/fz/*.csv
  csv:
    delimiter: ","
    header: true
  drift: quarantine_file
  on_bad_file: quarantine_file
columns:
  - {name: udi, source: UDI, dtype: int64, role: entity, nullable: false, description: Row id.}
  - {name: product_id, source: Product ID, dtype: string, role: entity, description: Serial number.}
  - {name: type, source: Type, dtype: string, role: attribute, description: Quality variant.}
  - {name: air_temperature_k, source: "Air temperature [K]", dtype: float64, unit: K, role: measurement, description: Air temperature.}
  - {name: torque_nm, source: "Torque [Nm]", dtype: float64, unit: N*m, role: measurement, description: Spindle torque.}
primary_key: [udi]
rules: [quality_rules/fz.yaml]
"""

RULES = """\
rules:
  - id: fz.product_id.format
    kind: regex
    column: product_id
    pattern: "[LMH][0-9]{5}"
  - id: fz.type.allowed
    kind: in_set
    column: type
    values: [L, M, H]
  - id: fz.air.span
    kind: in_range
    column: air_temperature_k
    min: 250
    max: 350
  - id: fz.torque.span
    kind: in_range
    column: torque_nm
    min: 0
    max: 100
"""


def seed_rows(n: int = GOOD_ROWS, start: int = 0) -> list[list[str]]:
    """The first `n` data rows of the seed (after `start`), with the five columns the mini spec reads."""
    with SEED.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = [[r[c] for c in SEED_COLUMNS] for _, r in zip(range(start + n), reader, strict=False)]
    return rows[start:]


def to_csv(rows: list[list[str]], header: tuple[str, ...] | list[str] = SEED_COLUMNS, delimiter: str = ",") -> str:
    """Rows as CSV text with a header."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


# -- spec, rule and policy cases: text in, exit code and message out ---------------------------------------


@dataclass(frozen=True)
class TextCase:
    """A broken YAML file: `build` returns its bytes; `code` 0 accepted, 2 refused with every word of `expect`."""

    id: str
    build: Callable[[str], bytes]
    code: int
    expect: tuple[str, ...] = ()


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


def _laughs(key: str, levels: int = 9) -> str:
    """A billion-laughs block: 9 levels of 9 aliases each (9^9 values once expanded)."""
    out = [f'{key}0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        out.append(f"{key}{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(out) + "\n"


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


DEEP = "nested deeper than 64 levels"
NOT_YAML = "not valid YAML"
NOT_UTF8 = "not UTF-8 text"
BOMB = "YAML alias bomb"
DUP = "duplicate key"

SPEC_CASES = [
    TextCase("spec-valid", _utf8, 0),
    TextCase("spec-utf8-bom", lambda s: b"\xef\xbb\xbf" + _utf8(s), 0),
    TextCase("spec-crlf-line-endings", lambda s: _utf8(s.replace("\n", "\r\n")), 0),
    TextCase(
        "spec-small-aliases-accepted",
        lambda s: _utf8(s.replace("owner: security-tests", "owner: &o security-tests\nattribution: *o")),
        0,
    ),
    TextCase("spec-truncated-mid-line", lambda s: _utf8(s[: s.index("dtype: float64")]), 2, (NOT_YAML,)),
    TextCase("spec-truncated-before-columns", lambda s: _utf8(s[: s.index("columns:")]), 2, ("a dataset needs `columns`",)),
    TextCase("spec-latin1", lambda s: s.replace("Test CDO", "Test CDO Müller").encode("latin-1"), 2, (NOT_UTF8, "0xfc")),
    TextCase("spec-utf16", lambda s: s.encode("utf-16"), 2, (NOT_UTF8,)),
    TextCase("spec-gbk", lambda s: s.replace("Test CDO", "测试").encode("gbk"), 2, (NOT_UTF8,)),
    TextCase("spec-nul-byte", lambda s: _utf8(s.replace("Fuzz target", "Fuzz\x00target")), 2, (NOT_YAML,)),
    TextCase("spec-binary-garbage", lambda s: bytes(range(256)) * 4, 2, (NOT_UTF8,)),
    TextCase("spec-empty-file", lambda s: b"", 2, ("expected a mapping",)),
    TextCase("spec-top-level-list", lambda s: b"- name: fz\n", 2, ("expected a mapping",)),
    TextCase("spec-duplicate-top-key", lambda s: _utf8(s + "name: other\n"), 2, (DUP, "`name`", "first at line 1")),
    TextCase(
        "spec-duplicate-key-in-flow",
        lambda s: _utf8(s.replace("dtype: int64,", "dtype: int64, dtype: string,")),
        2,
        (DUP, "`dtype`"),
    ),
    TextCase("spec-deep-list-5000", lambda s: _utf8(s + f"tags: {_deep(5000)}\n"), 2, (DEEP,)),
    TextCase("spec-deep-list-100000", lambda s: _utf8(s + f"tags: {_deep(100_000)}\n"), 2, (DEEP,)),
    TextCase(
        "spec-deep-block-mapping",
        lambda s: _utf8(s + "x:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 80)) + " " * 80 + "v\n"),
        2,
        (DEEP,),
    ),
    TextCase("spec-billion-laughs", lambda s: _utf8(s + _laughs("lol")), 2, (BOMB,)),
    TextCase(
        "spec-python-tag",
        lambda s: _utf8(s.replace("title: Fuzz target", "title: !!python/object/apply:os.system [echo]")),
        2,
        (NOT_YAML,),
    ),
    TextCase("spec-unclosed-quote", lambda s: _utf8(s.replace('delimiter: ","', 'delimiter: ",')), 2, (NOT_YAML,)),
    TextCase("spec-tab-indent", lambda s: _utf8(s.replace("  grade: general", "\tgrade: general")), 2, (NOT_YAML,)),
    TextCase("spec-two-documents", lambda s: _utf8(s + "---\nname: second\n"), 2, (NOT_YAML,)),
    TextCase("spec-wrong-type-dtype", lambda s: _utf8(s.replace("dtype: int64", "dtype: 42")), 2, ("columns[0].dtype",)),
    TextCase("spec-unknown-dtype", lambda s: _utf8(s.replace("dtype: int64", "dtype: integer")), 2, ("columns[0].dtype",)),
    TextCase(
        "spec-nonsense-unit",
        lambda s: _utf8(s.replace("unit: K,", "unit: bananas per fortnight,")),
        2,
        ("`bananas per fortnight` is not a unit",),
    ),
    TextCase(
        "spec-derived-from-itself",
        lambda s: _utf8(s.replace("  default_sensitivity: public", "  default_sensitivity: public\n  derived_from: [fz]")),
        2,
        ("cannot be derived from itself",),
    ),
    TextCase("spec-name-path-traversal", lambda s: _utf8(s.replace("name: fz", "name: ../fz")), 2, ("name",)),
    TextCase(
        "spec-huge-description",
        lambda s: _utf8(s.replace("description: A small", "description: " + "x" * 2_000_000 + " A small")),
        0,
    ),
    TextCase("spec-negative-retention", lambda s: _utf8(s.replace("retention: P1Y", "retention: -P1Y")), 2, ("retention",)),
]

RULE_CASES = [
    TextCase("rules-min-nan", lambda s: _utf8(s.replace("min: 250", "min: .nan")), 2, ("`min` must be a finite number", "nan")),
    TextCase("rules-max-inf", lambda s: _utf8(s.replace("max: 350", "max: .inf")), 2, ("`max` must be a finite number",)),
    TextCase("rules-min-negative-inf", lambda s: _utf8(s.replace("min: 0", "min: -.inf")), 2, ("`min` must be a finite number",)),
    TextCase("rules-min-above-max", lambda s: _utf8(s.replace("min: 250", "min: 400")), 2, ("greater than `max`",)),
    TextCase(
        "rules-duplicate-min", lambda s: _utf8(s.replace("    min: 250\n", "    min: 250\n    min: 0\n")), 2, (DUP, "`min`")
    ),
    TextCase(
        "rules-unknown-kind",
        lambda s: _utf8(s.replace("kind: in_set", "kind: in_sett")),
        2,
        ("unknown rule kind", "did you mean `in_set`"),
    ),
    TextCase("rules-empty-in-set", lambda s: _utf8(s.replace("values: [L, M, H]", "values: []")), 2, ("values",)),
    TextCase("rules-in-set-nan", lambda s: _utf8(s.replace("values: [L, M, H]", "values: [L, .nan]")), 2, ("finite number",)),
    TextCase("rules-bad-regex", lambda s: _utf8(s.replace('"[LMH][0-9]{5}"', '"([LMH"')), 2, ("pattern",)),
    TextCase("rules-missing-column", lambda s: _utf8(s.replace("column: torque_nm", "column: torque")), 2, ("torque",)),
    TextCase("rules-duplicate-rule-id", lambda s: _utf8(s.replace("fz.torque.span", "fz.air.span")), 2, ("fz.air.span",)),
    TextCase(
        "rules-bad-severity",
        lambda s: _utf8(s.replace("  - id: fz.type.allowed\n", "  - id: fz.type.allowed\n    severity: fatal\n")),
        2,
        ("severity",),
    ),
    TextCase("rules-billion-laughs", lambda s: _utf8(_laughs("l") + s), 2, (BOMB,)),
    TextCase("rules-deep", lambda s: _utf8(s.replace("values: [L, M, H]", f"values: {_deep(3000)}")), 2, (DEEP,)),
    TextCase("rules-not-a-mapping", lambda s: b"just a string\n", 2, ("expected a mapping",)),
    TextCase(
        "rules-latin1",
        lambda s: s.replace("fz.air.span", "fz.air.span\n    description: Lufttemperatur \xfcber 250 K").encode("latin-1"),
        2,
        (NOT_UTF8,),
    ),
    TextCase(
        "rules-in-set-300000-values",
        lambda s: _utf8(s.replace("values: [L, M, H]", "values: [L, M, H, " + ", ".join(f"X{i}" for i in range(300_000)) + "]")),
        0,
    ),
]

POLICY = (REPO / "catalog" / "access_policy.yaml").read_text(encoding="utf-8")

POLICY_CASES = [
    TextCase("policy-valid", _utf8, 0),
    TextCase(
        "policy-duplicate-role",
        lambda s: _utf8(s.replace("  partner:\n", "  cdo:\n    grades: [general]\n    sensitivities: [public]\n  partner:\n")),
        2,
        (DUP, "`cdo`"),
    ),
    TextCase(
        "policy-duplicate-sensitivities",
        lambda s: _utf8(
            s.replace(
                "    sensitivities: [public, confidential]\n",
                "    sensitivities: [public, confidential]\n    sensitivities: [public, confidential, personal]\n",
            )
        ),
        2,
        (DUP, "`sensitivities`"),
    ),
    TextCase("policy-unknown-grade", lambda s: _utf8(s.replace("grades: [general]\n", "grades: [secret]\n")), 2, ("grades",)),
    TextCase("policy-billion-laughs", lambda s: _utf8(s + _laughs("x")), 2, (BOMB,)),
    TextCase("policy-latin1", lambda s: (s + "# r\xf4le\n").encode("latin-1"), 2, (NOT_UTF8,)),
]


# -- data cases: one raw file beside the good one ----------------------------------------------------------------------


@dataclass(frozen=True)
class DataCase:
    """A raw file added beside the good one.

    `outcome`: `published` (all its rows published), `quarantined` (`rules` name rules its failing rows
    cite; `bad_rows` of its rows are quarantined), `set_aside` (the file is set aside whole, the reason
    holding every word of `expect`), `refused` (the run stops before anything is published, the error
    holding every word of `expect`).
    """

    id: str
    build: Callable[[], bytes]
    outcome: str
    rules: tuple[str, ...] = ()
    bad_rows: int = 0
    expect: tuple[str, ...] = field(default_factory=tuple)


def _rows_with(col: int, *values: str, start: int = 100) -> list[list[str]]:
    """Seed rows (their own UDIs, from `start`) with column `col` replaced by each value in turn."""
    rows = seed_rows(len(values), start)
    for r, v in zip(rows, values, strict=True):
        r[col] = v
    return rows


def _csv_bytes(rows: list[list[str]], **kw: object) -> bytes:
    return to_csv(rows, **kw).encode("utf-8")  # type: ignore[arg-type]


TORQUE, AIR, TYPE, PRODUCT, UDI = 4, 3, 2, 1, 0
DECODE = "cannot decode byte offset"

DATA_CASES = [
    DataCase("data-clean-copy", lambda: _csv_bytes(seed_rows(5, 200)), "published"),
    DataCase("data-utf8-bom", lambda: b"\xef\xbb\xbf" + _csv_bytes(seed_rows(5, 210)), "published"),
    DataCase("data-crlf", lambda: _csv_bytes(seed_rows(5, 220)).replace(b"\n", b"\r\n"), "published"),
    DataCase(
        "data-nan-values", lambda: _csv_bytes(_rows_with(TORQUE, "nan", "NaN", "40.0")), "quarantined", ("fz.torque.span",), 2
    ),
    DataCase(
        "data-inf-values",
        lambda: _csv_bytes(_rows_with(AIR, "inf", "-inf", "300.1", start=110)),
        "quarantined",
        ("fz.air.span",),
        2,
    ),
    DataCase(
        "data-negative-values",
        lambda: _csv_bytes(_rows_with(TORQUE, "-5", "-0.001", "12", start=120)),
        "quarantined",
        ("fz.torque.span",),
        2,
    ),
    DataCase(
        "data-huge-number",
        lambda: _csv_bytes(_rows_with(TORQUE, "1e400", "33", start=130)),
        "quarantined",
        ("fz.torque.span",),
        1,
    ),
    DataCase(
        "data-wrong-type",
        lambda: _csv_bytes(_rows_with(TORQUE, "forty", "12,5", "41", start=140)),
        "quarantined",
        ("schema.dtype.torque_nm",),
        2,
    ),
    DataCase(
        "data-nul-in-text", lambda: _csv_bytes(_rows_with(TYPE, "L\x00", "M", start=150)), "quarantined", ("text.no_nul.type",), 1
    ),
    DataCase(
        "data-nul-in-serial",
        lambda: _csv_bytes(_rows_with(PRODUCT, "M14860\x00; DROP TABLE", "L47181", start=160)),
        "quarantined",
        ("text.no_nul.product_id",),
        1,
    ),
    DataCase(
        "data-huge-field",
        lambda: _csv_bytes(_rows_with(PRODUCT, "L" + "9" * 1_000_000, "M14861", start=170)),
        "quarantined",
        ("fz.product_id.format",),
        1,
    ),
    DataCase(
        "data-value-not-in-set",
        lambda: _csv_bytes(_rows_with(TYPE, "Z", "l", "H", start=180)),
        "quarantined",
        ("fz.type.allowed",),
        2,
    ),
    DataCase(
        "data-duplicate-key",
        lambda: _csv_bytes(_rows_with(UDI, "190", "190", start=189)),
        "quarantined",
        ("schema.primary_key",),
        2,
    ),
    DataCase(
        "data-missing-key", lambda: _csv_bytes(_rows_with(UDI, "", "231", start=230)), "quarantined", ("schema.not_null.udi",), 1
    ),
    DataCase("data-header-only", lambda: to_csv([]).encode("utf-8"), "set_aside", expect=("header but no data rows", "fill it")),
    DataCase("data-empty-file", lambda: b"", "set_aside", expect=("is empty: expected a header line",)),
    DataCase(
        "data-wrong-delimiter",
        lambda: to_csv(seed_rows(4, 240), delimiter=";").encode("utf-8"),
        "set_aside",
        expect=("schema drift: ", "no column `UDI`"),
    ),
    DataCase(
        "data-duplicate-header",
        lambda: _csv_bytes(seed_rows(3, 250), header=("UDI", "Product ID", "Type", "Type", "Torque [Nm]")),
        "refused",
        expect=("data-duplicate-header.csv", "matches 2 header fields", "source.csv.column_names"),
    ),
    DataCase(
        "data-latin1",
        lambda: _csv_bytes(seed_rows(3, 260)).replace(b"L", b"\xc4", 1) + "261,M\xfc,M,300,40\n".encode("latin-1"),
        "set_aside",
        expect=(DECODE, "bytes `c4`"),
    ),
    DataCase("data-utf16", lambda: to_csv(seed_rows(3, 270)).encode("utf-16"), "set_aside", expect=(DECODE, "offset 0")),
    DataCase(
        "data-long-row",
        lambda: (to_csv(seed_rows(3, 280)) + "283,M1,M,300,40,extra,fields\n").encode("utf-8"),
        "set_aside",
        expect=("line 5: 7 fields where the header has 5",),
    ),
    DataCase("data-binary-garbage", lambda: bytes(range(256)) * 8, "set_aside", expect=(DECODE,)),
    DataCase(
        "data-unclosed-quote",
        lambda: (to_csv(seed_rows(3, 290)) + '293,"M14862,M,300,40\n294,L1,L,300,40\n').encode("utf-8"),
        "set_aside",
    ),
    DataCase("data-truncated-mid-row", lambda: _csv_bytes(seed_rows(4, 300))[:-9], "quarantined", bad_rows=1),
    DataCase(
        "data-header-and-blank-lines",
        lambda: (to_csv([]) + "\n\n\n").encode("utf-8"),
        "set_aside",
        expect=("0 fields where 5 expected",),
    ),
    DataCase(
        "data-header-and-empty-fields",
        lambda: (to_csv([]) + ",,,,\n").encode("utf-8"),
        "quarantined",
        ("schema.not_null.udi",),
        1,
    ),
]
