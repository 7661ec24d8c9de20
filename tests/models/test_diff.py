"""Version diffs on two real AI4I versions built by the pipeline, and on small hand-written versions."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipelines.errors import NotFoundError
from pipelines.ingest.fingerprint import sha256_file
from pipelines.models.diff import ROWS_SCHEMA, VersionDiff, diff_versions, summary, write_rows
from pipelines.runner import run_dataset
from pipelines.spec.loader import load_project
from pipelines.warehouse import Warehouse
from tests.conftest import REPO

NAME = "ai4i2020"
CSV = f"seeds/{NAME}/{NAME}.csv"
LABEL_FLIPPED = ["10", "20", "30"]  # machine_failure 0 -> 1 (no failure mode: also trips the consistency warn rule)
TORQUE = {"40": "60.25", "50": "33.125"}  # exactly representable new torques
DELETED = ["100", "101", "102", "103"]
ADDED = "10001"
QUARANTINED = "60"  # torque -5 fails the error rule `ai4i.torque.span`
DATASET_COLS = [
    "udi", "product_id", "type", "air_temperature_k", "process_temperature_k", "rotational_speed_rpm",
    "torque_nm", "tool_wear_min", "machine_failure", "twf", "hdf", "pwf", "osf", "rnf",
]  # fmt: skip


@dataclass
class Versions:
    """AI4I built twice: v1 from the seed, v2 from the edited seed; the v1 file hashes taken right after v1."""

    warehouse: Warehouse
    original: pl.DataFrame
    v1_hashes: dict[str, str]


def _hashes(wh: Warehouse, version: int) -> dict[str, str]:
    """Digests of every file of a version: its folder (manifest, quality) and its files in the Delta tables."""
    folder = wh.version_dir(NAME, version)
    in_tables = [Path(f) for f in wh.data_files(NAME, version) + wh.quarantine_files(NAME, version)]
    assert len(in_tables) == 2, in_tables
    files = [p for p in folder.rglob("*") if p.is_file()] + in_tables
    return {str(p): sha256_file(p) for p in sorted(files)}


def _run(root: Path, wh: Warehouse) -> int:
    project = load_project(root, only=[NAME])
    return run_dataset(project.datasets[NAME], project.root, wh).version


def _edit_seed(path: Path) -> pl.DataFrame:
    """Apply the edits above to the raw CSV (read as text, so untouched rows stay byte-identical); return the original."""
    raw = pl.read_csv(path, infer_schema=False)
    udi = pl.col("UDI")
    new_row = raw.filter(udi == "1").with_columns(pl.lit(ADDED).alias("UDI"), pl.lit("M99999").alias("Product ID"))
    edited = (
        raw.with_columns(
            pl.when(udi.is_in(LABEL_FLIPPED)).then(pl.lit("1")).otherwise(pl.col("Machine failure")).alias("Machine failure"),
            pl.when(udi == QUARANTINED)
            .then(pl.lit("-5.0"))
            .otherwise(udi.replace_strict(TORQUE, default=pl.col("Torque [Nm]")))
            .alias("Torque [Nm]"),
        )
        .filter(~udi.is_in(DELETED))
        .vstack(new_row)
    )
    assert edited.columns == raw.columns
    edited.write_csv(path)
    return raw


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Versions:
    root = tmp_path_factory.mktemp("diff")
    for rel in (f"dataset_specs/{NAME}.yaml", f"quality_rules/{NAME}.yaml"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    shutil.copytree(REPO / "seeds" / NAME, root / "seeds" / NAME)
    wh = Warehouse(root / "warehouse")
    assert _run(root, wh) == 1
    v1_hashes = _hashes(wh, 1)
    original = _edit_seed(root / CSV)
    assert _run(root, wh) == 2
    return Versions(wh, original, v1_hashes)


@pytest.fixture(scope="module")
def forward(versions: Versions) -> VersionDiff:
    return diff_versions(versions.warehouse, NAME, 1, 2)


def _data(wh: Warehouse, version: int) -> pl.DataFrame:
    return pl.read_parquet(wh.data_files(NAME, version))


def _row_json(frame: pl.DataFrame, udi: int) -> dict[str, Any]:
    row = frame.filter(pl.col("udi") == udi).select(DATASET_COLS).to_dicts()
    assert len(row) == 1
    parsed: dict[str, Any] = json.loads(json.dumps(row[0]))
    return parsed


def _keys(diff: VersionDiff, change: str) -> list[str]:
    return diff.rows.filter(pl.col("change") == change)["row_key"].to_list()


def _by_key(diff: VersionDiff) -> dict[str, dict[str, Any]]:
    return {r["row_key"]: r for r in diff.rows.to_dicts()}


def test_counts_match_the_edits_exactly(versions: Versions, forward: VersionDiff) -> None:
    d = forward
    assert (d.dataset, d.v1, d.v2) == (NAME, 1, 2)
    assert (d.rows_added, d.rows_removed, d.rows_changed) == (1, 4, 5)
    assert (d.quarantine_added, d.quarantine_removed) == (1, 0)
    assert d.rows_unchanged == 10_000 - 4 - 5 - 1
    assert d.labels_changed == 3
    assert d.changed_by_column == {c: {"machine_failure": 3, "torque_nm": 2}.get(c, 0) for c in DATASET_COLS}
    assert d.flags_changed == 3, "the three flipped labels now fail the consistency warn rule; nothing else moved"
    assert (d.columns_added, d.columns_removed) == ((), ())
    # The diff's partition agrees with what the pipeline published.
    published_v1, published_v2 = _data(versions.warehouse, 1).height, _data(versions.warehouse, 2).height
    assert published_v2 == published_v1 + d.rows_added - d.rows_removed - d.quarantine_added + d.quarantine_removed


def test_rows_frame_names_every_key_with_its_values(versions: Versions, forward: VersionDiff) -> None:
    rows = forward.rows
    assert rows.schema == ROWS_SCHEMA
    assert rows.height == 1 + 4 + 5 + 1
    assert rows.select("change", "row_key").rows() == sorted(rows.select("change", "row_key").rows())
    assert _keys(forward, "added") == [ADDED]
    assert _keys(forward, "removed") == DELETED
    assert _keys(forward, "changed") == sorted([*LABEL_FLIPPED, *TORQUE])
    assert _keys(forward, "quarantined") == [QUARANTINED]
    assert _keys(forward, "released") == []

    by_key = _by_key(forward)
    for key in LABEL_FLIPPED:
        r = by_key[key]
        assert r["columns_changed"] == ["machine_failure"]
        assert (json.loads(r["before"]), json.loads(r["after"])) == ({"machine_failure": 0}, {"machine_failure": 1})
    original = versions.original.filter(pl.col("UDI").is_in(list(TORQUE)))
    old_torque = dict(zip(original["UDI"], original["Torque [Nm]"], strict=True))
    for key, new in TORQUE.items():
        r = by_key[key]
        assert r["columns_changed"] == ["torque_nm"]
        assert json.loads(r["before"]) == {"torque_nm": float(old_torque[key])}
        assert json.loads(r["after"]) == {"torque_nm": float(new)}

    q = by_key[QUARANTINED]
    assert q["columns_changed"] == ["torque_nm"]
    assert (json.loads(q["before"]), json.loads(q["after"])) == ({"torque_nm": 54.4}, {"torque_nm": -5.0})

    v1, v2 = _data(versions.warehouse, 1), _data(versions.warehouse, 2)
    for key in DELETED:
        r = by_key[key]
        assert r["columns_changed"] == []
        assert (json.loads(r["before"]), r["after"]) == (_row_json(v1, int(key)), "{}")
    added = by_key[ADDED]
    assert (added["before"], json.loads(added["after"])) == ("{}", _row_json(v2, int(ADDED)))
    assert json.loads(added["after"])["product_id"] == "M99999"
    assert added["after"] == json.dumps(_row_json(v2, int(ADDED)), sort_keys=True, ensure_ascii=False)


def test_reverse_diff_mirrors_the_forward_one(versions: Versions, forward: VersionDiff) -> None:
    back = diff_versions(versions.warehouse, NAME, 2, 1)
    assert (back.rows_added, back.rows_removed, back.rows_changed, back.labels_changed) == (4, 1, 5, 3)
    assert (back.quarantine_added, back.quarantine_removed, back.flags_changed) == (0, 1, 3)
    assert _keys(back, "released") == [QUARANTINED]
    assert _keys(back, "added") == DELETED and _keys(back, "removed") == [ADDED]
    fwd = _by_key(forward)
    for key, r in _by_key(back).items():
        assert (r["before"], r["after"], r["columns_changed"]) == (
            fwd[key]["after"],
            fwd[key]["before"],
            fwd[key]["columns_changed"],
        )
    assert back.score_v1 == forward.score_v2 and back.level_v2 == forward.level_v1


def test_scores_and_dimension_deltas_come_from_the_manifests(versions: Versions, forward: VersionDiff) -> None:
    q1 = versions.warehouse.manifest(NAME, 1)["quality"]
    q2 = versions.warehouse.manifest(NAME, 2)["quality"]
    assert (forward.score_v1, forward.score_v2) == (q1["overall"], q2["overall"])
    assert (forward.level_v1, forward.level_v2) == (q1["level"], q2["level"])
    assert set(forward.dimension_deltas) == set(q1["dimensions"]) | set(q2["dimensions"])
    for dim, delta in forward.dimension_deltas.items():
        assert delta == pytest.approx(q2["dimensions"][dim] - q1["dimensions"][dim])
    assert forward.dimension_deltas["consistency"] != 0, "three more rows fail the label-consistency rule"


@pytest.mark.parametrize("version", [1, 2])
def test_a_version_against_itself_is_empty(versions: Versions, version: int) -> None:
    d = diff_versions(versions.warehouse, NAME, version, version)
    assert d.rows.is_empty() and d.rows.schema == ROWS_SCHEMA
    assert (d.rows_added, d.rows_removed, d.rows_changed, d.labels_changed, d.flags_changed) == (0, 0, 0, 0, 0)
    assert (d.quarantine_added, d.quarantine_removed) == (0, 0)
    assert d.rows_unchanged == _data(versions.warehouse, version).height
    assert set(d.changed_by_column.values()) == {0}
    assert all(v == 0 for v in d.dimension_deltas.values())


def test_summary_and_rows_file(versions: Versions, forward: VersionDiff, tmp_path: Path) -> None:
    s = summary(forward)
    assert set(s) == {f.name for f in fields(VersionDiff)} - {"rows"}
    assert json.loads(json.dumps(s)) == s
    assert s["rows_removed"] == 4 and s["columns_added"] == [] and s["changed_by_column"]["torque_nm"] == 2
    target = tmp_path / "out" / "diff_rows.parquet"
    write_rows(forward, target)
    write_rows(forward, target)  # replacing an existing file is fine
    assert pl.read_parquet(target).equals(forward.rows)
    assert [p.name for p in target.parent.iterdir()] == [target.name], "no temporary file is left behind"


def test_v1_is_untouched_and_unknown_versions_raise(versions: Versions, forward: VersionDiff) -> None:
    assert _hashes(versions.warehouse, 1) == versions.v1_hashes
    with pytest.raises(NotFoundError, match="no version 9"):
        diff_versions(versions.warehouse, NAME, 1, 9)
    with pytest.raises(NotFoundError):
        diff_versions(versions.warehouse, "nope", 1, 2)


# --- hand-written versions: schema changes, no primary key, repeated keys, quarantine moves ---------


def _column(name: str, dtype: str, role: str = "measurement") -> dict[str, Any]:
    return {"name": name, "dtype": dtype, "unit": None, "nullable": True, "role": role, "description": "", "source": name}


def _write_version(
    wh: Warehouse,
    version: int,
    data: dict[str, list[Any]],
    quarantine: dict[str, list[Any]],
    schema: list[dict[str, Any]],
    primary_key: list[str],
    quality: dict[str, Any],
    row_group_size: int = 2,
) -> None:
    """A version in the layout `pipelines.stages.publish` writes (only what the diff reads): its files inside the
    dataset's `published` and `quarantine` table folders, listed by the manifest in its version folder."""
    vdir = wh.version_dir("toy", version)
    vdir.mkdir(parents=True)
    rel = {
        t: f"../{t}/v{version}/{stem}-0a1b2c3d.parquet" for t, stem in (("published", "part-00000"), ("quarantine", "quarantine"))
    }
    for r in rel.values():
        (vdir / r).parent.mkdir(parents=True)
    published = pl.DataFrame(data).with_columns(
        pl.lit([], dtype=pl.List(pl.String)).alias("_warn_rules"), pl.lit("toy.csv").alias("_source_file")
    )
    published.rename({"flag": "_qc_flag", "row": "_source_row"}).cast({"_qc_flag": pl.UInt8}).write_parquet(
        vdir / rel["published"], row_group_size=row_group_size
    )
    held = pl.DataFrame(quarantine).with_columns(
        pl.lit(["toy.rule"], dtype=pl.List(pl.String)).alias("_failed_rules"),
        pl.lit(["toy.rule: bad"], dtype=pl.List(pl.String)).alias("_reasons"),
        pl.lit([], dtype=pl.List(pl.String)).alias("_warn_rules"),
        pl.lit("toy.csv").alias("_source_file"),
    )
    held.rename({"row": "_source_row"}).write_parquet(vdir / rel["quarantine"])
    files = [{"path": r} for r in rel.values()]
    manifest = {"dataset": "toy", "version": version, "schema": schema, "primary_key": primary_key, "quality": quality}
    manifest["files"] = files
    (vdir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_no_primary_key_schema_change_exact_floats_and_quarantine_moves(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    v1_schema = [_column("a", "float64"), _column("b", "string"), _column("y", "int64", "label")]
    v2_schema = [_column("a", "float64"), _column("y", "int64", "label"), _column("c", "string")]
    _write_version(
        wh, 1,
        data={"a": [0.1 + 0.2, None, 1.0, 7.0, None], "b": ["x", "y", "z", "w", "v"], "y": [0, 1, 0, 0, 0],
              "flag": [1, 1, 1, 1, 1], "row": [1, 2, 3, 7, 8]},
        quarantine={"a": [-4.0, 6.0], "b": ["q", "h"], "y": [0, 0], "row": [4, 6]},
        schema=v1_schema, primary_key=[],
        quality={"overall": None, "level": "uncertified", "dimensions": {"accuracy": 0.9, "timeliness": None}},
    )  # fmt: skip
    _write_version(
        wh, 2,
        data={"a": [0.30000000000000004, None, 1.0 + 2**-52, 4.0, 2.0], "y": [1, 1, 0, 0, 0], "c": ["n"] * 5,
              "flag": [1, 3, 1, 1, 1], "row": [1, 2, 3, 4, 8]},
        quarantine={"a": [5.0, 6.5], "y": [0, 0], "c": ["n", "n"], "row": [5, 6]},
        schema=v2_schema, primary_key=[],
        quality={"overall": 0.95, "level": "gold", "dimensions": {"accuracy": 1.0, "balance": 0.5}},
    )  # fmt: skip
    d = diff_versions(wh, "toy", 1, 2)
    assert (d.columns_added, d.columns_removed) == (("c",), ("b",))
    assert (d.rows_added, d.rows_removed, d.rows_changed, d.rows_unchanged) == (0, 1, 3, 1)
    assert (d.labels_changed, d.flags_changed, d.quarantine_added, d.quarantine_removed) == (1, 1, 1, 1)
    assert d.changed_by_column == {"a": 2, "y": 1}
    assert (d.score_v1, d.score_v2, d.level_v1, d.level_v2) == (None, 0.95, "uncertified", "gold")
    assert d.dimension_deltas == {"accuracy": pytest.approx(0.1), "balance": None, "timeliness": None}
    got = {r["row_key"]: (r["change"], r["columns_changed"], r["before"], r["after"]) for r in d.rows.to_dicts()}
    assert got == {
        "toy.csv#1": ("changed", ["y"], '{"y": 0}', '{"y": 1}'),
        "toy.csv#3": ("changed", ["a"], '{"a": 1.0}', '{"a": 1.0000000000000002}'),
        "toy.csv#4": ("released", ["a"], '{"a": -4.0}', '{"a": 4.0}'),
        "toy.csv#5": ("quarantined", [], "{}", '{"a": 5.0, "c": "n", "y": 0}'),
        "toy.csv#7": ("removed", [], '{"a": 7.0, "b": "w", "y": 0}', "{}"),
        "toy.csv#8": ("changed", ["a"], '{"a": null}', '{"a": 2.0}'),
    }, "#2 (nulls, a flag change) is unchanged; #6 stays quarantined and is not listed"
    assert d.rows["row_key"].to_list() == ["toy.csv#1", "toy.csv#3", "toy.csv#8", "toy.csv#5", "toy.csv#4", "toy.csv#7"]


def test_repeated_and_null_keys_are_told_apart_by_lineage(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    schema = [_column("id", "int64", "entity"), _column("v", "float64")]
    quality = {"overall": 1.0, "level": "gold", "dimensions": {}}
    _write_version(
        wh, 1, data={"id": [1, 2, 2, 3], "v": [1.0, 2.0, 2.5, 3.0], "flag": [1, 4, 4, 1], "row": [1, 2, 3, 4]},
        quarantine={"id": [None], "v": [0.0], "row": [5]}, schema=schema, primary_key=["id"], quality=quality,
    )  # fmt: skip
    # The same rows written in another order; a third `2` and a second null-keyed row appear.
    _write_version(
        wh, 2, data={"id": [3, 2, 1, 2, 2], "v": [3.0, 2.75, 1.0, 2.0, 9.0], "flag": [1, 4, 1, 4, 4], "row": [4, 3, 1, 2, 6]},
        quarantine={"id": [None, None], "v": [0.5, 0.0], "row": [7, 5]}, schema=schema, primary_key=["id"], quality=quality,
    )  # fmt: skip
    d = diff_versions(wh, "toy", 1, 2)
    assert d.rows.select("row_key", "change", "before", "after").rows() == [
        ("2~3", "added", "{}", '{"id": 2, "v": 9.0}'),
        ("2~2", "changed", '{"v": 2.5}', '{"v": 2.75}'),
        ("toy.csv#7", "quarantined", "{}", '{"id": null, "v": 0.5}'),
    ]
    assert (d.rows_unchanged, d.flags_changed, d.quarantine_removed) == (3, 0, 0)


def test_large_scanned_versions_are_exact(tmp_path: Path) -> None:
    """A few hundred thousand rows over many row groups: the diff is exact (guards the polars 2.1 misorder)."""
    wh = Warehouse(tmp_path)
    n = 300_000
    schema = [_column("id", "int64", "entity"), _column("x", "float64"), _column("label", "int64", "label")]
    quality = {"overall": 1.0, "level": "gold", "dimensions": {}}
    ids = list(range(n))
    base: dict[str, list[Any]] = {
        "id": ids,
        "x": [i / 7 for i in ids],
        "label": [i % 2 for i in ids],
        "flag": [1] * n,
        "row": ids,
    }
    _write_version(wh, 1, base, {"id": [], "x": [], "label": [], "row": []}, schema, ["id"], quality, 25_000)
    v2 = pl.DataFrame(base).with_columns(
        pl.when(pl.col("id").is_in([7, 150_001])).then(pl.col("x") + 1).otherwise(pl.col("x")).alias("x"),
        pl.when(pl.col("id") == 299_998).then(1 - pl.col("label")).otherwise(pl.col("label")).alias("label"),
    )
    v2 = v2.filter(~pl.col("id").is_in([5, 200_000])).vstack(
        pl.DataFrame({"id": [n], "x": [0.5], "label": [0], "flag": [1], "row": [n]})
    )
    _write_version(
        wh, 2, v2.to_dict(as_series=False), {"id": [], "x": [], "label": [], "row": []}, schema, ["id"], quality, 25_000
    )
    d = diff_versions(wh, "toy", 1, 2)
    assert d.rows.select("row_key", "change").rows() == [
        (str(n), "added"),
        ("150001", "changed"),
        ("299998", "changed"),
        ("7", "changed"),
        ("200000", "removed"),
        ("5", "removed"),
    ]
    assert (d.rows_unchanged, d.labels_changed, d.changed_by_column) == (n - 5, 1, {"id": 0, "x": 2, "label": 1})
