"""The AI4I and steel seeds read straight from their raw files, and a demand builder, for the learning tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import yaml

from pipelines.models.demand import Demand, SplitSpec

REPO = Path(__file__).resolve().parents[2]
AI4I_FEATURES = (
    "Type",
    "Air temperature [K]",
    "Process temperature [K]",
    "Rotational speed [rpm]",
    "Torque [Nm]",
    "Tool wear [min]",
)
STEEL_CLASSES = ("Pastry", "Z_Scratch", "K_Scatch", "Stains", "Dirtiness", "Bumps", "Other_Faults")


def demand(**fields: object) -> Demand:
    """A demand on `ai4i2020` with a seeded random split, `fields` overriding."""
    base: dict[str, object] = {
        "name": "test_demand",
        "dataset": "ai4i2020",
        "title": "Test demand",
        "team": "tests",
        "split": SplitSpec(method="random", seed=7),
    }
    return Demand.model_validate(base | fields)


def read_ai4i() -> pl.DataFrame:
    """The AI4I 2020 seed with its raw headers."""
    return pl.read_csv(REPO / "seeds/ai4i2020/ai4i2020.csv")


def read_steel() -> pl.DataFrame:
    """The steel plates seed with the column names its spec gives the headerless file."""
    spec = yaml.safe_load((REPO / "dataset_specs/steel_plates_faults.yaml").read_text())
    names = spec["source"]["csv"]["column_names"]
    return pl.read_csv(REPO / "seeds/steel_plates_faults/Faults.NNA", separator="\t", has_header=False, new_columns=names)


def split(df: pl.DataFrame, seed: int, test_share: float = 0.2) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A seeded random train / test split of `df`."""
    is_test = np.random.default_rng(seed).random(df.height) < test_share
    return df.filter(~pl.Series(is_test)), df.filter(pl.Series(is_test))


def failure_demand() -> Demand:
    """AI4I's machine-failure classifier on its six process features."""
    return demand(task="classification", label="Machine failure", features=AI4I_FEATURES)
