"""Inference from a sample: delimiter, header, dtypes, time formats, file-name columns, keys, label groups, wide groups."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from pipelines.errors import InitError, SourceError
from pipelines.init.draft import InitOptions, init_dataset, profile, render, write
from pipelines.init.profile import infer_text
from pipelines.init.sample import match_files
from pipelines.init.structure import path_column
from pipelines.init.text import sniff_delimiter, sniff_header
from pipelines.spec.loader import load_project


def _project(tmp_path: Path) -> Path:
    for d in ("dataset_specs", "quality_rules", "raw"):
        (tmp_path / d).mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize(
    ("lines", "delimiter"),
    [
        (["a,b,c", "1,2,3"], ","),
        (["a;b;c", "1,5;2;3"], ";"),
        (["a\tb", "1\t2"], "\t"),
        (["1 1 -0.0007  518.67 ", "1 2 0.0019  518.67 "], "whitespace"),
    ],
)
def test_delimiter(lines: list[str], delimiter: str) -> None:
    assert sniff_delimiter(lines) == delimiter


def test_header_is_told_from_data() -> None:
    assert sniff_header([["ts", "speed"], ["2026-03-02 06:00:00", "12.5"], ["2026-03-02 06:00:10", "13"]])
    assert not sniff_header([["1", "2.5"], ["2", "3.5"]])
    assert not sniff_header([["RUN", "A"], ["RUN", "B"]])  # a first-row value recurs below: data


@pytest.mark.parametrize(
    ("values", "name", "dtype", "fmt"),
    [
        (["1", "2", "-3"], "n", "int64", None),
        (["1.5", "2", "NA"], "x", "float64", None),
        (["007", "012"], "code", "string", None),
        (["true", "false"], "ok", "bool", None),
        (["2026-03-02 06:00:00", "2026-03-02 06:00:10"], "ts", "datetime", "%Y-%m-%d %H:%M:%S%.f"),
        (["02.03.2026", "13.03.2026"], "day", "date", "%d.%m.%Y"),
        (["RUN", "IDLE"], "status", "string", None),
    ],
)
def test_text_dtypes(values: list[str], name: str, dtype: str, fmt: str | None) -> None:
    got = infer_text(pl.Series(values, dtype=pl.String), name)
    assert got[:2] == (dtype, fmt)


def test_a_few_unreadable_numbers_keep_the_column_numeric() -> None:
    values = [str(i / 10) for i in range(300)] + ["#VALUE!", "12,5%"]
    dtype, _, _, note = infer_text(pl.Series(values), "load_pct")
    assert dtype == "float64" and note is not None and "2 values" in note


def test_file_names_that_differ_give_a_from_path_column() -> None:
    name, regex = path_column(["raw/experiment_01.csv", "raw/experiment_02.csv", "raw/experiment_13.csv"], set()) or ("", "")
    assert (name, regex) == ("experiment", r"experiment_(\d+)\.csv$")
    assert path_column(["seeds/cmapss/train_FD001.txt", "seeds/cmapss/train_FD004.txt"], set()) == (
        "train",
        r"train_(FD\d+)\.txt$",
    )
    assert path_column(["raw/a.csv"], set()) is None


def test_epoch_times_and_null_tokens(tmp_path: Path) -> None:
    root = _project(tmp_path)
    rows = ["time,press_id,Force [kN],operator"] + [
        f"{1_770_000_000 + 6 * i},P{i % 3},{'NA' if i == 5 else 100 + i % 7},Zhang San" for i in range(90)
    ]
    (root / "raw" / "press.csv").write_text("\n".join(rows) + "\n")
    draft = init_dataset(root, "press", "raw/press.csv")
    cols = {c.name: c for c in draft.columns}
    assert (cols["time"].dtype, cols["time"].time_encoding, cols["time"].role) == ("datetime", "epoch_s", "timestamp")
    assert (cols["force"].unit, cols["force"].nulls) == ("kN", 1)
    assert cols["press_id"].role == "entity" and cols["operator"].personal
    assert draft.sample.null_values == ["NA"]
    assert draft.structure.key == ["press_id", "time"] and draft.structure.period == 18.0
    assert "Zhang San" not in draft.spec_text + draft.rules_text  # a personal value is never written


def test_one_hot_labels_and_binary_indicators(tmp_path: Path) -> None:
    root = _project(tmp_path)
    rows = ["area,grade_a,grade_b,scratch,stain,bump"]
    rows += [f"{10 + i},{i % 2},{1 - i % 2},{int(i % 3 == 0)},{int(i % 3 == 1)},{int(i % 3 == 2)}" for i in range(60)]
    (root / "raw" / "plates.csv").write_text("\n".join(rows) + "\n")
    draft = init_dataset(root, "plates", "raw/*.csv")
    assert draft.structure.one_hot == ["scratch", "stain", "bump"]  # the last group; grade_a/grade_b are not labels
    kinds = {r.rule["kind"]: r.rule for r in draft.rules}
    assert kinds["class_balance"]["one_hot"] == ["scratch", "stain", "bump"]
    assert "label_coverage" in kinds


def test_wide_files_group_columns_or_list_them(tmp_path: Path) -> None:
    root = _project(tmp_path)
    header = "ts," + ",".join(str(i) for i in range(60))
    body = [f"2026-03-02 06:00:{i:02d}," + ",".join(f"{(i * j) % 17 / 3:.3f}" for j in range(60)) for i in range(30)]
    (root / "raw" / "spectrum.csv").write_text("\n".join([header, *body]) + "\n")
    draft = init_dataset(root, "spectrum", "raw/spectrum.csv")
    assert draft.grouped
    spec = yaml.safe_load(draft.spec_text)
    assert spec["columns_from"] == [
        {"id": "sensors", "pattern": r"^\d+$", "name": "s{:03d}", "dtype": "float64", "role": "measurement"}
    ]
    assert [c["name"] for c in spec["columns"]] == ["ts"]
    rules = yaml.safe_load(draft.rules_text)["rules"]
    assert not [r for r in rules if str(r.get("column", "")).startswith("s0")]  # no rule per member
    (informative,) = [r for r in rules if r["kind"] == "informative_features"]
    assert informative["columns"] == {"role": "measurement"}
    write(root, draft)  # loads as `moshu check` does: the group resolves to the names the rules were drafted with
    loaded = load_project(root).datasets["spectrum"]
    assert [c.name for c in loaded.spec.columns][1:4] == ["s000", "s001", "s002"] and len(loaded.spec.columns) == 61
    nogroups = profile(root, "spectrum", "raw/spectrum.csv", InitOptions(groups=False))
    assert not nogroups.grouped
    render(nogroups, InitOptions(groups=False))
    assert len(yaml.safe_load(nogroups.spec_text)["columns"]) == 61


def test_paths_must_be_inside_the_project_and_match(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    with pytest.raises(SourceError, match="outside the project"):
        match_files(root, "../elsewhere/*.csv")
    with pytest.raises(SourceError, match=r"no file matches `raw/\*\.csv`"):
        match_files(root, "raw/*.csv")
    (root / "raw" / "blob.csv").write_bytes(bytes(range(256)) * 64)
    with pytest.raises(SourceError, match=r"`raw/blob\.csv`: cannot tell the text encoding"):
        init_dataset(root, "blob", "raw/blob.csv")


def test_gbk_file_and_existing_targets(tmp_path: Path) -> None:
    root = _project(tmp_path)
    text = "时间,设备编号,温度 [°C],操作员\n" + "".join(
        f"2026-03-02 06:00:{i:02d},M{i % 2},{20 + i / 10},王{i}\n" for i in range(40)
    )
    (root / "raw" / "mes.csv").write_bytes(text.encode("gbk"))
    draft = init_dataset(root, "mes", "raw/mes.csv")
    spec = yaml.safe_load(draft.spec_text)
    assert spec["source"]["csv"]["encoding"] == "gb18030"
    cols = {c["source"]: c for c in spec["columns"]}
    assert cols["时间"]["dtype"] == "datetime" and cols["温度 [°C]"]["unit"] == "degC"
    assert cols["操作员"]["sensitivity"] == "personal" and "王1" not in draft.spec_text + draft.rules_text
    write(root, draft)
    with pytest.raises(InitError, match="already exist; pass `--force`"):
        write(root, draft)
    write(root, draft, force=True)
    with pytest.raises(InitError, match="did you mean `core`"):
        init_dataset(root, "mes", "raw/mes.csv", InitOptions(grade="cor"))


def test_a_folder_means_its_data_files_not_the_readme(tmp_path: Path) -> None:
    root = _project(tmp_path)
    for name in ("readme.txt", "run_01.txt", "run_02.txt", "PROVENANCE.md"):
        (root / "raw" / name).write_text("1 2\n3 4\n")
    rel, files = match_files(root, "raw")
    assert rel == "raw/run_0*.txt" and [f.name for f in files] == ["run_01.txt", "run_02.txt"]
