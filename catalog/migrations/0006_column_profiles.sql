-- 0006: the baseline profile of every version (per column and per dataset), the reasons for each
-- version's certification level, and what a profile measure found.

CREATE TABLE column_profiles (
    name          VARCHAR NOT NULL,
    version       INTEGER NOT NULL,
    position      INTEGER NOT NULL,
    column_name   VARCHAR NOT NULL,
    dtype         VARCHAR,
    nulls         BIGINT NOT NULL,
    completeness  DOUBLE,            -- non-null values / rows; NULL for an empty version
    distinct_values BIGINT,          -- distinct non-null values (a HyperLogLog estimate above 1,000,000 rows)
    is_constant   BOOLEAN NOT NULL,  -- at most one distinct non-null value
    duplicate_of  VARCHAR,           -- the earlier column whose values equal this one's, row by row
    min_value     VARCHAR,           -- as text; NULL for personal columns
    max_value     VARCHAR,
    p01 DOUBLE, p25 DOUBLE, p50 DOUBLE, p75 DOUBLE, p99 DOUBLE,  -- numeric columns only
    top_values    VARCHAR,           -- JSON list of {value, n}, text columns only (never personal ones)
    PRIMARY KEY (name, version, column_name)
);

CREATE TABLE dataset_profiles (
    name            VARCHAR NOT NULL,
    version         INTEGER NOT NULL,
    rows_profiled   BIGINT NOT NULL,
    columns_profiled INTEGER NOT NULL,
    empty_cells     BIGINT NOT NULL,
    constant_columns INTEGER NOT NULL,
    duplicated_columns INTEGER NOT NULL,
    duplicate_rows  BIGINT NOT NULL,    -- rows equal to an earlier row over the published columns
    labels          VARCHAR,            -- JSON list of {column, rows, labelled, completeness, classes: [{value, n}]}
    PRIMARY KEY (name, version)
);

ALTER TABLE versions ADD COLUMN level_reasons VARCHAR[];  -- the verdict first, then each failed gate or scored measure
ALTER TABLE measures ADD COLUMN detail VARCHAR;           -- what a profile measure found (its offending columns)
