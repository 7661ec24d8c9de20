-- 0014: `diff_rows` and `frozen_eval` open in DuckDB 1.5 clients again. Migration 0012 read their files with
-- `read_parquet(..., allow_empty := true)`, a parameter DuckDB 1.5 does not have, so every call failed there
-- (`Invalid named parameter "allow_empty"`), even on a diff that exists. They read the file plainly now; a
-- diff or frozen set that does not exist fails with DuckDB's "No files found" naming the file, which
-- `moshu sql` and the Python client turn into the catalog's words (the diffs or frozen sets that exist).

CREATE OR REPLACE MACRO diff_rows(dataset_name, from_v, to_v) AS TABLE
    SELECT * FROM read_parquet('datasets/' || dataset_name || '/diffs/v' || CAST(from_v AS VARCHAR) || '-v' || CAST(to_v AS VARCHAR) || '.parquet');

CREATE OR REPLACE MACRO frozen_eval(dataset_name, demand_name) AS TABLE
    SELECT * FROM read_parquet('datasets/' || dataset_name || '/splits/frozen/' || demand_name || '.parquet');
