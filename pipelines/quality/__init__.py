"""How rules run: per-kind executors, the pandera (row-level) and Great Expectations (dataset-level) engines."""
