-- 0001: the catalog's first tables, views and macros.
-- Append-only: never edit a migration that has shipped; add the next number instead.
-- Paths are relative to the warehouse folder, so the warehouse can be moved or copied.

CREATE TABLE datasets (
    name                VARCHAR PRIMARY KEY,
    title               VARCHAR NOT NULL,
    description         VARCHAR,
    owner               VARCHAR,
    license             VARCHAR,
    attribution         VARCHAR,
    synthetic           BOOLEAN NOT NULL,
    synthetic_generator VARCHAR,
    synthetic_meta      VARCHAR,          -- JSON: generator, generator_version, seed, description
    source_format       VARCHAR,
    source_path         VARCHAR,
    primary_key         VARCHAR[],
    schedule            VARCHAR,
    tags                VARCHAR[],
    spec_path           VARCHAR,          -- relative to the project root
    spec_metadata_hash  VARCHAR,
    updated_at          TIMESTAMP
);

CREATE TABLE versions (
    name               VARCHAR NOT NULL,
    version            INTEGER NOT NULL,
    parent_version     INTEGER,
    data_hash          VARCHAR NOT NULL,
    spec_data_hash     VARCHAR,
    spec_metadata_hash VARCHAR,
    rules_hash         VARCHAR,
    code_version       VARCHAR,
    run_id             VARCHAR,
    created_at         TIMESTAMP,
    rows_in            BIGINT NOT NULL,
    rows_published     BIGINT NOT NULL,
    rows_quarantined   BIGINT NOT NULL,
    rows_warned        BIGINT NOT NULL,
    rules_passed       INTEGER,
    rules_failed       INTEGER,
    ge_success         BOOLEAN,
    path               VARCHAR NOT NULL,  -- version folder, relative to the warehouse
    data_glob          VARCHAR NOT NULL,  -- published Parquet, relative to the warehouse
    quarantine_path    VARCHAR NOT NULL,
    ge_suite_path      VARCHAR,
    ge_validation_path VARCHAR,
    manifest_sha256    VARCHAR,
    PRIMARY KEY (name, version)
);

CREATE TABLE columns (
    name        VARCHAR NOT NULL,
    version     INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    column_name VARCHAR NOT NULL,
    source_name VARCHAR,
    dtype       VARCHAR NOT NULL,
    unit        VARCHAR,
    nullable    BOOLEAN,
    role        VARCHAR,
    description VARCHAR,
    PRIMARY KEY (name, version, column_name)
);

CREATE TABLE rule_results (
    name        VARCHAR NOT NULL,
    version     INTEGER NOT NULL,
    rule_id     VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,
    severity    VARCHAR NOT NULL,
    engine      VARCHAR NOT NULL,     -- pandera | great_expectations
    columns     VARCHAR[],
    params      VARCHAR,              -- JSON of the rule's parameters
    description VARCHAR,
    evaluated   BIGINT,               -- rows looked at
    failed      BIGINT,               -- rows that failed (dataset-level rules: 0 or 1)
    passed      BOOLEAN NOT NULL,
    observed    VARCHAR,
    samples     VARCHAR[],            -- a few failure reasons, for people
    PRIMARY KEY (name, version, rule_id)
);

CREATE TABLE source_files (
    name       VARCHAR NOT NULL,
    version    INTEGER NOT NULL,
    path       VARCHAR NOT NULL,      -- relative to the project root
    sha256     VARCHAR NOT NULL,
    size_bytes BIGINT,
    rows       BIGINT,
    PRIMARY KEY (name, version, path)
);

CREATE TABLE quarantine_summary (
    name     VARCHAR NOT NULL,
    version  INTEGER NOT NULL,
    rule_id  VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,        -- error: rows quarantined; warn: rows published with a flag
    rows     BIGINT NOT NULL,
    PRIMARY KEY (name, version, rule_id, severity)
);

CREATE TABLE runs (
    run_id       VARCHAR PRIMARY KEY,
    name         VARCHAR NOT NULL,
    started_at   TIMESTAMP,
    finished_at  TIMESTAMP,
    status       VARCHAR NOT NULL,    -- published | unchanged | failed
    version      INTEGER,
    rows_in      BIGINT,
    message      VARCHAR,
    orchestrator VARCHAR              -- dagster run id, or 'direct'
);

CREATE VIEW latest_versions AS
SELECT v.*
FROM versions v
JOIN (SELECT name, max(version) AS version FROM versions GROUP BY name) l USING (name, version);

-- Any published version of a dataset:  SELECT * FROM dataset('ai4i2020', 1)
CREATE MACRO dataset(dataset_name, dataset_version) AS TABLE
    SELECT * FROM read_parquet('datasets/' || dataset_name || '/v' || CAST(dataset_version AS VARCHAR) || '/data/*.parquet');

-- The quarantined rows of a version, with the rules they failed and why.
CREATE MACRO quarantine(dataset_name, dataset_version) AS TABLE
    SELECT * FROM read_parquet('datasets/' || dataset_name || '/v' || CAST(dataset_version AS VARCHAR) || '/quarantine.parquet');
