-- Frozen evaluation: every version's trial is scored on the same rows with the same labels.
-- The first published version's test rows (by row key) and their labels, fixed once per demand
-- (again only when the split or the label changes); the rows are in `rows_path`.
CREATE TABLE frozen_evals (
    dataset       VARCHAR NOT NULL,
    demand        VARCHAR NOT NULL,
    freeze_hash   VARCHAR NOT NULL,       -- what decides the set: the split's definition, the label, the task
    version       INTEGER NOT NULL,       -- the version it was frozen from
    method        VARCHAR NOT NULL,       -- the split method that chose the rows (`column`: a declared test set)
    rows          BIGINT NOT NULL,
    class_counts  VARCHAR,                -- JSON: rows per frozen class (classification)
    rows_path     VARCHAR NOT NULL,       -- relative to the warehouse: row_key, label
    frozen_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (dataset, demand)
);

-- The frozen rows of a demand: SELECT * FROM frozen_eval('ai4i2020', 'ai4i_failure_classifier')
CREATE MACRO frozen_eval(dataset_name, demand_name) AS TABLE
    SELECT * FROM read_parquet('datasets/' || dataset_name || '/splits/frozen/' || demand_name || '.parquet');

-- Trial training per demand and version, on the frozen evaluation set, beside the previous version.
-- `value` is the primary metric on the frozen rows with their frozen labels (the verdict's yardstick);
-- `current_value` the same rows with the version's own labels (moves with accepted relabels, reported
-- apart); `noise` the version's spread (fold models on the frozen rows, and cross-validation);
-- `relabelled` frozen rows whose label this version changed, `missing` frozen rows it no longer has.
-- A lift counts only when it is larger than the noise of both versions.
CREATE OR REPLACE VIEW trial_trend AS
WITH runs AS (   -- the latest trial per version under the demand's current definition
    SELECT r.dataset, r.demand, r.version, r.run_id, d.metric
    FROM model_runs r
    JOIN demands d ON d.demand = r.demand AND json_extract_string(r.params, '$.demand_hash') = d.demand_hash
    WHERE r.kind = 'trial'
    QUALIFY row_number() OVER (PARTITION BY r.dataset, r.demand, r.version ORDER BY r.registered_at DESC, r.run_id) = 1
), t AS (
    SELECT runs.dataset, runs.demand, runs.version, runs.run_id, runs.metric,
           max(CASE WHEN m.split = 'test' THEN m.value END) AS value,
           max(CASE WHEN m.split = 'current' THEN m.value END) AS current_value,
           max(CASE WHEN m.split = 'cv_std' THEN m.value END) AS cv_std,
           max(CASE WHEN m.split = 'noise' THEN m.value END) AS noise,
           max(CASE WHEN m.split = 'relabelled' THEN m.value END) AS relabelled,
           max(CASE WHEN m.split = 'missing' THEN m.value END) AS missing
    FROM runs JOIN model_metrics m ON m.run_id = runs.run_id AND m.metric = runs.metric
    GROUP BY ALL
), w AS (
    SELECT *,
           lag(value) OVER v AS previous_value,
           lag(current_value) OVER v AS previous_current,
           greatest(coalesce(noise, cv_std, 0), coalesce(lag(noise) OVER v, lag(cv_std) OVER v, 0)) AS noise_both,
           CASE WHEN metric IN ('mae', 'rmse', 'mse') THEN -1 ELSE 1 END AS direction
    FROM t WINDOW v AS (PARTITION BY dataset, demand ORDER BY version)
)
SELECT dataset, demand, version, metric, value, previous_value,
       value - previous_value AS delta,
       -- lift: the improvement on the frozen set, whichever way the metric points (errors fall when better)
       direction * (value - previous_value) AS lift,
       cv_std,
       noise,
       current_value,
       direction * (current_value - previous_current) AS current_lift,
       CAST(relabelled AS BIGINT) AS relabelled,
       CAST(missing AS BIGINT) AS missing,
       CASE WHEN previous_value IS NULL THEN 'baseline'
            WHEN abs(value - previous_value) <= noise_both THEN 'within noise'
            WHEN direction * (value - previous_value) > 0 THEN 'lifted'
            ELSE 'worse' END AS verdict,
       run_id
FROM w
ORDER BY dataset, demand, version;
