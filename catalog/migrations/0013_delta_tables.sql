-- 0013: the storage of record is Delta Lake. Each dataset's published rows and quarantine are two Delta
-- tables (datasets/<name>/published, datasets/<name>/quarantine); a version is one commit of each, and the
-- files of a version are no longer one folder a glob can name (a partitioned version keeps the files of the
-- partitions it did not rebuild where an earlier version wrote them). The catalog records every version's
-- files, and keeps one view per version over that list, so any stock DuckDB reads any version with plain
-- `read_parquet` (no extension): the macros below pick the view by name with `query_table`.
-- `versions.data_glob` and `quarantine_path` are kept for versions written before (NULL for new ones); read
-- `version_files`.
ALTER TABLE versions ALTER COLUMN data_glob DROP NOT NULL;
ALTER TABLE versions ALTER COLUMN quarantine_path DROP NOT NULL;

CREATE TABLE version_files (
    name           VARCHAR NOT NULL,
    version        INTEGER NOT NULL,
    table_name     VARCHAR NOT NULL,      -- published | quarantine
    path           VARCHAR NOT NULL,      -- relative to the warehouse
    bytes          BIGINT,
    rows           BIGINT,
    sha256         VARCHAR,
    PRIMARY KEY (name, version, table_name, path)
);

ALTER TABLE versions ADD COLUMN delta_version BIGINT;              -- the published table's commit of the version
ALTER TABLE versions ADD COLUMN quarantine_delta_version BIGINT;   -- the quarantine table's commit of the version

CREATE SCHEMA IF NOT EXISTS version_data;        -- "<name>@<version>": the version's published rows
CREATE SCHEMA IF NOT EXISTS version_quarantine;  -- "<name>@<version>": the version's quarantined rows

-- An unknown dataset or version fails with DuckDB's own message, which names the closest existing view
-- (`Table with name cnc_line@5 does not exist! Did you mean "cnc_line@1"?`).
CREATE OR REPLACE MACRO dataset(dataset_name, dataset_version) AS TABLE
    SELECT * FROM query_table('version_data."' || dataset_name || '@' || CAST(dataset_version AS VARCHAR) || '"');

CREATE OR REPLACE MACRO quarantine(dataset_name, dataset_version) AS TABLE
    SELECT * FROM query_table('version_quarantine."' || dataset_name || '@' || CAST(dataset_version AS VARCHAR) || '"');

CREATE OR REPLACE MACRO split(dataset_name, dataset_version, demand_name) AS TABLE
    SELECT d.*, s.split
    FROM query_table('version_data."' || dataset_name || '@' || CAST(dataset_version AS VARCHAR) || '"') d
    JOIN read_parquet('datasets/' || dataset_name || '/splits/v' || CAST(dataset_version AS VARCHAR) || '/' || demand_name || '.parquet') s
    USING (_source_file, _source_row);
