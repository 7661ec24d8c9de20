-- Anomalies across versions and partitions (clause K-6, docs/guide.md): each comparison of a new
-- version (or of a newly built partition) with its history, flagged or not. Written only for
-- datasets whose spec has an `anomalies` block.
CREATE TABLE anomalies (
    name          VARCHAR NOT NULL,
    version       INTEGER NOT NULL,
    partition_key VARCHAR,             -- the partition compared (partitioned datasets), else NULL
    metric        VARCHAR NOT NULL,    -- volume | null_rate | distinct | psi | share_shift
    column_name   VARCHAR,             -- NULL for volume
    baseline      DOUBLE,              -- median rows / pooled null share / median distinct of the history (0 for psi, share_shift)
    observed      DOUBLE NOT NULL,     -- the batch's rows / null share / distinct / PSI / total variation distance
    score         DOUBLE NOT NULL,     -- the size of the change
    threshold     DOUBLE NOT NULL,     -- from the spec's `anomalies.sensitivity`
    flagged       BOOLEAN NOT NULL,    -- score > threshold
    reference     VARCHAR NOT NULL     -- the history: `v3`, `v1..v3`, `2026-03-01..2026-03-07`
);
