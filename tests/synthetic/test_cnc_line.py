"""The CNC generator is deterministic and the committed seed is exactly what it produces."""

from __future__ import annotations

from pathlib import Path

from pipelines.synthetic.cnc_line import DEFECT_KINDS, generate, write_sample

SEED_DIR = Path(__file__).resolve().parents[2] / "seeds" / "cnc_line"


def test_committed_sample_matches_the_generator(tmp_path: Path) -> None:
    csv, meta = write_sample(tmp_path)
    assert csv.read_bytes() == (SEED_DIR / "cnc_line_sample.csv").read_bytes()
    assert meta.read_text() == (SEED_DIR / "defects.json").read_text()


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, da = generate(1800, seed=1, defects_per_kind=1)
    b, db = generate(1800, seed=1, defects_per_kind=1)
    c, _ = generate(1800, seed=2, defects_per_kind=1)
    assert a.equals(b) and da == db
    assert not a.equals(c)
    assert {d.kind for d in da} == set(DEFECT_KINDS)


def test_clean_stream_balances() -> None:
    df, defects = generate(3000, machines=4)
    assert defects == []
    total, good, scrap = (df[c].cast(int) for c in ("total_count", "good_count", "scrap_count"))
    assert (total == good + scrap).all()
    assert df.select("machine_id", "ts").is_unique().all()


def test_too_few_rows_for_the_defects_is_a_clear_error() -> None:
    import pytest

    with pytest.raises(ValueError, match="generate more rows"):
        generate(600, seed=1, defects_per_kind=3)
