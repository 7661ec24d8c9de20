-- 0003: models lead data, data empowers models. Demands and what each version lacks for them,
-- reproducible splits, model runs and their metrics, row-level feedback with its reviews, the
-- corrections and changelog of every version, and diffs between versions.

-- What a model needs (dataset_specs/demands/*.yaml), as last loaded.
CREATE TABLE demands (
    demand          VARCHAR PRIMARY KEY,
    dataset         VARCHAR NOT NULL,
    title           VARCHAR,
    team            VARCHAR,
    task            VARCHAR NOT NULL,     -- classification | regression | forecasting | anomaly_detection
    label_columns   VARCHAR[],
    features        VARCHAR[],
    strata          VARCHAR,              -- JSON: column -> required values
    min_per_stratum BIGINT,
    min_per_class   BIGINT,
    split_method    VARCHAR,
    split_by        VARCHAR[],
    split_seed      BIGINT,
    metric          VARCHAR,              -- trial training's primary metric
    demand_hash     VARCHAR NOT NULL,     -- sha256 of the definition; results are per hash
    definition      VARCHAR,              -- JSON of the whole demand
    spec_path       VARCHAR,
    updated_at      TIMESTAMP
);

-- Each demand measured against each version.
CREATE TABLE demand_results (
    dataset            VARCHAR NOT NULL,
    version            INTEGER NOT NULL,
    demand             VARCHAR NOT NULL,
    demand_hash        VARCHAR NOT NULL,
    rows               BIGINT NOT NULL,
    required_strata    BIGINT,
    covered_strata     BIGINT,
    representativeness DOUBLE,            -- covered / required strata (NULL: no strata declared)
    classes            BIGINT,
    class_balance      DOUBLE,            -- smallest / largest class count (classification)
    time_coverage      DOUBLE,            -- covered / required periods (NULL: no time coverage declared)
    gaps               BIGINT NOT NULL,
    met                BOOLEAN NOT NULL,  -- no gaps
    measured_at        TIMESTAMP,
    PRIMARY KEY (dataset, version, demand)
);

-- What falls short, by how much: one row per stratum, class or time span below its minimum.
CREATE TABLE demand_gaps (
    dataset   VARCHAR NOT NULL,
    version   INTEGER NOT NULL,
    demand    VARCHAR NOT NULL,
    kind      VARCHAR NOT NULL,           -- stratum | class | time
    key       VARCHAR NOT NULL,           -- e.g. `type=H`, `class=dirtiness`, `2024-03-02 .. 2024-03-04`
    required  BIGINT NOT NULL,
    observed  BIGINT NOT NULL,
    shortfall BIGINT NOT NULL
);

-- Rows per stratum and per class of each demand (what the gaps are measured from).
CREATE TABLE demand_counts (
    dataset VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    demand  VARCHAR NOT NULL,
    kind    VARCHAR NOT NULL,             -- stratum | class
    key     VARCHAR NOT NULL,
    rows    BIGINT NOT NULL
);

-- Train / validation / test splits per version and demand; the row assignment is a Parquet file.
CREATE TABLE splits (
    dataset      VARCHAR NOT NULL,
    version      INTEGER NOT NULL,
    demand       VARCHAR NOT NULL,
    split        VARCHAR NOT NULL,        -- train | validation | test
    method       VARCHAR NOT NULL,        -- group | time | random
    seed         BIGINT,
    split_hash   VARCHAR NOT NULL,        -- sha256 of the split definition
    rows         BIGINT NOT NULL,
    entities     BIGINT,                  -- distinct groups (method group) or rows
    class_counts VARCHAR,                 -- JSON: class -> rows (classification)
    leak_free    BOOLEAN NOT NULL,        -- no entity in two splits (group) / splits ordered in time (time)
    path         VARCHAR NOT NULL,        -- assignment file, relative to the warehouse
    created_at   TIMESTAMP,
    PRIMARY KEY (dataset, version, demand, split)
);

-- Models trained on a version: registered by model teams, or by moshu's detector and trial training.
CREATE TABLE model_runs (
    run_id        VARCHAR PRIMARY KEY,
    model         VARCHAR NOT NULL,
    dataset       VARCHAR NOT NULL,
    version       INTEGER NOT NULL,
    demand        VARCHAR,
    split_hash    VARCHAR,
    kind          VARCHAR NOT NULL,       -- external | trial | detector
    params        VARCHAR,                -- JSON
    registered_by VARCHAR,
    registered_at TIMESTAMP,
    notes         VARCHAR
);

CREATE TABLE model_metrics (
    run_id  VARCHAR NOT NULL,
    metric  VARCHAR NOT NULL,
    split   VARCHAR NOT NULL,             -- test, cv_mean, cv_std, ...
    value   DOUBLE,
    PRIMARY KEY (run_id, metric, split)
);

-- Row-level findings sent back by models. Submissions are never edited: decisions are appended.
CREATE TABLE feedback (
    feedback_id     BIGINT PRIMARY KEY,
    batch_id        VARCHAR NOT NULL,
    dataset         VARCHAR NOT NULL,
    version         INTEGER NOT NULL,     -- the version the finding was made on
    row_key         VARCHAR NOT NULL,     -- primary key values joined by `|` (or source_file#source_row)
    kind            VARCHAR NOT NULL,     -- label_error | outlier | hard_example | wrong_unit
    column_name     VARCHAR,
    suggested_value VARCHAR,
    confidence      DOUBLE,
    model_run_id    VARCHAR,
    note            VARCHAR,
    submitted_by    VARCHAR NOT NULL,
    submitted_at    TIMESTAMP NOT NULL,
    source          VARCHAR,              -- file name, `sql`, or `detector`
    source_sha256   VARCHAR               -- without a primary key: the source file the lineage key points into
);

CREATE TABLE feedback_reviews (
    review_id   BIGINT PRIMARY KEY,
    feedback_id BIGINT NOT NULL,
    decision    VARCHAR NOT NULL,         -- accepted | rejected
    reviewed_by VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    reviewed_at TIMESTAMP NOT NULL
);

-- Every finding with its current state: the latest decision, or `proposed`.
CREATE VIEW feedback_status AS
SELECT f.*, coalesce(r.decision, 'proposed') AS status, r.reviewed_by, r.reason AS review_reason, r.reviewed_at
FROM feedback f
LEFT JOIN (
    SELECT * FROM feedback_reviews QUALIFY row_number() OVER (PARTITION BY feedback_id ORDER BY review_id DESC) = 1
) r USING (feedback_id);

-- Accepted feedback as applied to a version (raw data is never modified).
CREATE TABLE corrections (
    dataset       VARCHAR NOT NULL,
    version       INTEGER NOT NULL,
    feedback_id   BIGINT NOT NULL,
    row_key       VARCHAR NOT NULL,
    action        VARCHAR NOT NULL,       -- relabel | set | exclude
    column_name   VARCHAR,
    old_value     VARCHAR,
    new_value     VARCHAR,
    rows_affected BIGINT NOT NULL,        -- 0 when the row key is no longer in the raw data
    new_in_version BOOLEAN NOT NULL,      -- first applied in this version (not in its parent)
    reason        VARCHAR,
    PRIMARY KEY (dataset, version, feedback_id)
);

-- What changed in a version against its parent: corrections, source files, spec and rules.
CREATE TABLE changelog (
    dataset     VARCHAR NOT NULL,
    version     INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    change      VARCHAR NOT NULL,         -- correction_added | correction_removed | file_added | file_removed | file_changed | spec_changed | rules_changed
    detail      VARCHAR NOT NULL,
    feedback_id BIGINT,
    PRIMARY KEY (dataset, version, seq)
);

-- Differences between two versions; row-level changes are in a Parquet file (see diff_rows).
CREATE TABLE version_diffs (
    dataset            VARCHAR NOT NULL,
    from_version       INTEGER NOT NULL,
    to_version         INTEGER NOT NULL,
    rows_added         BIGINT,
    rows_removed       BIGINT,
    rows_changed       BIGINT,
    labels_changed     BIGINT,
    quarantine_added   BIGINT,
    quarantine_removed BIGINT,
    score_delta        DOUBLE,
    summary            VARCHAR,           -- JSON of everything measured
    rows_path          VARCHAR,           -- relative to the warehouse
    PRIMARY KEY (dataset, from_version, to_version)
);

-- The rows of a version with the split each one belongs to for a demand:
--   SELECT split, count(*) FROM split('ai4i2020', 1, 'ai4i_failure_classifier') GROUP BY split
CREATE MACRO split(dataset_name, dataset_version, demand_name) AS TABLE
    SELECT d.*, s.split
    FROM read_parquet('datasets/' || dataset_name || '/v' || CAST(dataset_version AS VARCHAR) || '/data/*.parquet') d
    JOIN read_parquet('datasets/' || dataset_name || '/splits/v' || CAST(dataset_version AS VARCHAR) || '/' || demand_name || '.parquet') s
    USING (_source_file, _source_row);

-- Row-level differences between two versions: SELECT * FROM diff_rows('ai4i2020', 1, 2)
CREATE MACRO diff_rows(dataset_name, from_version, to_version) AS TABLE
    SELECT * FROM read_parquet('datasets/' || dataset_name || '/diffs/v' || CAST(from_version AS VARCHAR)
                               || '-v' || CAST(to_version AS VARCHAR) || '.parquet');

-- Which models were trained on which version, and how they scored.
CREATE VIEW model_scores AS
SELECT r.model, r.kind, r.dataset, r.version, r.demand, m.metric, m.split, m.value, r.registered_by, r.registered_at, r.run_id
FROM model_runs r JOIN model_metrics m USING (run_id)
ORDER BY r.dataset, r.version, r.model, m.metric;

-- Trial training per demand and version, beside the previous version's figure: does the new version lift the model?
CREATE VIEW trial_trend AS
WITH runs AS (   -- the latest trial per version under the demand's current definition
    SELECT r.dataset, r.demand, r.version, r.run_id, d.metric
    FROM model_runs r
    JOIN demands d ON d.demand = r.demand AND json_extract_string(r.params, '$.demand_hash') = d.demand_hash
    WHERE r.kind = 'trial'
    QUALIFY row_number() OVER (PARTITION BY r.dataset, r.demand, r.version ORDER BY r.registered_at DESC, r.run_id) = 1
), t AS (
    SELECT runs.dataset, runs.demand, runs.version, runs.run_id, runs.metric,
           max(CASE WHEN m.split = 'test' THEN m.value END) AS value,
           max(CASE WHEN m.split = 'cv_std' THEN m.value END) AS cv_std
    FROM runs JOIN model_metrics m ON m.run_id = runs.run_id AND m.metric = runs.metric
    GROUP BY ALL
)
SELECT dataset, demand, version, metric, value,
       lag(value) OVER (PARTITION BY dataset, demand ORDER BY version) AS previous_value,
       value - lag(value) OVER (PARTITION BY dataset, demand ORDER BY version) AS delta,
       -- lift: the improvement, whichever way the metric points (errors such as mae and rmse fall when better)
       CASE WHEN metric IN ('mae', 'rmse', 'mse') THEN -1 ELSE 1 END
           * (value - lag(value) OVER (PARTITION BY dataset, demand ORDER BY version)) AS lift,
       cv_std,
       -- a lift smaller than the cross-validation spread is not a measured improvement
       CASE WHEN lag(value) OVER (PARTITION BY dataset, demand ORDER BY version) IS NULL THEN 'baseline'
            WHEN abs(value - lag(value) OVER (PARTITION BY dataset, demand ORDER BY version)) <= coalesce(cv_std, 0) THEN 'within noise'
            WHEN CASE WHEN metric IN ('mae', 'rmse', 'mse') THEN -1 ELSE 1 END
                 * (value - lag(value) OVER (PARTITION BY dataset, demand ORDER BY version)) > 0 THEN 'lifted'
            ELSE 'worse' END AS verdict,
       run_id
FROM t
ORDER BY dataset, demand, version;
