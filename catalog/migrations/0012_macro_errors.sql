-- 0012: the table macros say what is missing. Reading a version that does not exist used to fail with
-- DuckDB's "No files found that match the pattern datasets/...": a file path, in any client. Each
-- macro now reads its files with `allow_empty` and checks the catalog once per query (a one-row
-- filter, cross-joined to the scan): an unknown dataset, version or demand raises `error()` with the
-- names that exist; a version the catalog knows whose files are gone raises an error that says so.
-- Roles never call these macros (they read views); `moshu sql` and the Python client say the same.

CREATE OR REPLACE MACRO dataset(dataset_name, dataset_version) AS TABLE
    SELECT * FROM read_parquet('datasets/' || dataset_name || '/v' || CAST(dataset_version AS VARCHAR) || '/data/*.parquet', allow_empty := true)
    WHERE (SELECT CASE
        WHEN count(*) > 0 AND (SELECT count(*) FROM glob('datasets/' || dataset_name || '/v' || CAST(dataset_version AS VARCHAR) || '/data/*.parquet')) > 0 THEN true
        WHEN count(*) > 0 THEN error('dataset `' || dataset_name || '` v' || CAST(dataset_version AS VARCHAR) || ' has no data files in the warehouse (datasets/' || dataset_name || '/v' || CAST(dataset_version AS VARCHAR) || '/data/); run `moshu verify`')
        WHEN NOT EXISTS (SELECT 1 FROM datasets WHERE name = dataset_name) THEN error('no dataset `' || dataset_name || '` in the catalog (datasets: ' || coalesce((SELECT string_agg(name, ', ' ORDER BY name) FROM datasets), 'none yet') || ')')
        ELSE error('dataset `' || dataset_name || '` has no version ' || CAST(dataset_version AS VARCHAR) || ' (versions: ' || coalesce((SELECT string_agg('v' || CAST(version AS VARCHAR), ', ' ORDER BY version) FROM versions WHERE name = dataset_name), 'none yet') || ')')
        END FROM versions WHERE name = dataset_name AND version = dataset_version);

CREATE OR REPLACE MACRO quarantine(dataset_name, dataset_version) AS TABLE
    SELECT * FROM read_parquet('datasets/' || dataset_name || '/v' || CAST(dataset_version AS VARCHAR) || '/quarantine*.parquet', allow_empty := true)
    WHERE (SELECT CASE
        WHEN count(*) > 0 AND (SELECT count(*) FROM glob('datasets/' || dataset_name || '/v' || CAST(dataset_version AS VARCHAR) || '/quarantine*.parquet')) > 0 THEN true
        WHEN count(*) > 0 THEN error('dataset `' || dataset_name || '` v' || CAST(dataset_version AS VARCHAR) || ' has no quarantine file in the warehouse; run `moshu verify`')
        WHEN NOT EXISTS (SELECT 1 FROM datasets WHERE name = dataset_name) THEN error('no dataset `' || dataset_name || '` in the catalog (datasets: ' || coalesce((SELECT string_agg(name, ', ' ORDER BY name) FROM datasets), 'none yet') || ')')
        ELSE error('dataset `' || dataset_name || '` has no version ' || CAST(dataset_version AS VARCHAR) || ' (versions: ' || coalesce((SELECT string_agg('v' || CAST(version AS VARCHAR), ', ' ORDER BY version) FROM versions WHERE name = dataset_name), 'none yet') || ')')
        END FROM versions WHERE name = dataset_name AND version = dataset_version);

CREATE OR REPLACE MACRO diff_rows(dataset_name, from_v, to_v) AS TABLE
    SELECT * FROM read_parquet('datasets/' || dataset_name || '/diffs/v' || CAST(from_v AS VARCHAR) || '-v' || CAST(to_v AS VARCHAR) || '.parquet', allow_empty := true)
    WHERE (SELECT CASE
        WHEN count(*) > 0 THEN true
        ELSE error('no row diff of dataset `' || dataset_name || '` from v' || CAST(from_v AS VARCHAR) || ' to v' || CAST(to_v AS VARCHAR) || ' (diffs: ' || coalesce((SELECT string_agg('v' || CAST(d.from_version AS VARCHAR) || '-v' || CAST(d.to_version AS VARCHAR), ', ' ORDER BY d.to_version) FROM version_diffs d WHERE d.dataset = dataset_name), 'none') || ')')
        END FROM version_diffs d WHERE d.dataset = dataset_name AND d.from_version = from_v AND d.to_version = to_v);

CREATE OR REPLACE MACRO frozen_eval(dataset_name, demand_name) AS TABLE
    SELECT * FROM read_parquet('datasets/' || dataset_name || '/splits/frozen/' || demand_name || '.parquet', allow_empty := true)
    WHERE (SELECT CASE
        WHEN count(*) > 0 THEN true
        ELSE error('dataset `' || dataset_name || '` has no frozen evaluation set for demand `' || demand_name || '` (frozen sets: ' || coalesce((SELECT string_agg(f.demand, ', ' ORDER BY f.demand) FROM frozen_evals f WHERE f.dataset = dataset_name), 'none') || ')')
        END FROM frozen_evals f WHERE f.dataset = dataset_name AND f.demand = demand_name);
