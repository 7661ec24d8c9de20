-- Time partitions: which partitions each version of a partitioned dataset holds, and where each
-- partition was built (a partition a run did not rebuild keeps the version, run and hash it was
-- built in: its files are the same files, linked into the new version).
CREATE TABLE version_partitions (
    name              VARCHAR NOT NULL,
    version           INTEGER NOT NULL,
    partition_key     VARCHAR NOT NULL,   -- `2026-03-02` (daily) or `2026-03-02-06:00` (hourly), as in Dagster
    built_in_version  INTEGER NOT NULL,   -- the version whose run built this partition's files
    run_id            VARCHAR,
    data_hash         VARCHAR NOT NULL,   -- the partition's inputs: files, spec, rules, corrections
    rows_in           BIGINT NOT NULL,
    rows_published    BIGINT NOT NULL,
    rows_quarantined  BIGINT NOT NULL,
    rows_warned       BIGINT NOT NULL,
    rules_failed      INTEGER NOT NULL,
    data_path         VARCHAR NOT NULL,   -- the partition's published Parquet, relative to the warehouse
    PRIMARY KEY (name, version, partition_key)
);

-- Quarantine files: `quarantine.parquet`, or one `quarantine-<partition>.parquet` per partition.
CREATE OR REPLACE MACRO quarantine(dataset_name, dataset_version) AS TABLE
    SELECT * FROM read_parquet('datasets/' || dataset_name || '/v' || CAST(dataset_version AS VARCHAR) || '/quarantine*.parquet');
