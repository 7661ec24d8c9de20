-- 0002: measures, dimension scores and certification per version; rejected candidates;
-- views for the score trend and the worst rules.

ALTER TABLE versions ADD COLUMN status VARCHAR DEFAULT 'published';  -- published | rejected
ALTER TABLE versions ADD COLUMN level VARCHAR;                       -- gold | silver | bronze | uncertified
ALTER TABLE versions ADD COLUMN score DOUBLE;                        -- overall score in [0, 1]
ALTER TABLE versions ADD COLUMN min_level VARCHAR;                   -- the spec's publish gate at the time
ALTER TABLE versions ADD COLUMN failed_gates VARCHAR[];
ALTER TABLE versions ADD COLUMN report_path VARCHAR;                 -- HTML quality report, relative to the warehouse
ALTER TABLE versions ADD COLUMN data_docs_path VARCHAR;              -- GE Data Docs page, relative to the warehouse

ALTER TABLE rule_results ADD COLUMN suspect BIGINT;                  -- rows flagged suspect (QARTOD 3)

CREATE TABLE measures (
    name        VARCHAR NOT NULL,
    version     INTEGER NOT NULL,
    rule_id     VARCHAR NOT NULL,
    clause      VARCHAR NOT NULL,     -- guide clause, e.g. A-1 (docs/guide.md)
    dimension   VARCHAR NOT NULL,
    measure_id  VARCHAR,              -- ISO/IEC 5259-2 or 25024 id where one exists
    a           DOUBLE,
    b           DOUBLE,
    x           DOUBLE,               -- A / B; NULL when not applicable (B = 0)
    threshold   DOUBLE NOT NULL,
    gate        BOOLEAN NOT NULL,     -- hard gate (reported apart) or scored
    passed      BOOLEAN NOT NULL,     -- X >= threshold, measured on the input rows
    gate_passed BOOLEAN,              -- for gates: holds for the release (error row rules quarantine their failures)
    applicable  BOOLEAN NOT NULL,
    weight      DOUBLE,
    PRIMARY KEY (name, version, rule_id, clause)
);

CREATE TABLE dimension_scores (
    name      VARCHAR NOT NULL,
    version   INTEGER NOT NULL,
    dimension VARCHAR NOT NULL,
    score     DOUBLE,
    PRIMARY KEY (name, version, dimension)
);

CREATE OR REPLACE VIEW latest_versions AS
SELECT v.*
FROM versions v
JOIN (SELECT name, max(version) AS version FROM versions WHERE status = 'published' GROUP BY name) l USING (name, version);

-- Quality over time, one row per version (rejected candidates included, marked by status).
CREATE VIEW score_trend AS
SELECT name, version, created_at, status, level, score, rows_in, rows_published, rows_quarantined,
       rules_passed, rules_failed, failed_gates
FROM versions
ORDER BY name, version;

CREATE VIEW dimension_trend AS
SELECT d.name, d.version, v.created_at, v.status, d.dimension, d.score
FROM dimension_scores d JOIN versions v USING (name, version)
ORDER BY d.name, d.dimension, d.version;

-- The rules furthest below their thresholds in every dataset's latest version.
CREATE VIEW worst_rules AS
SELECT m.name, m.version, m.rule_id, m.clause, m.dimension, m.measure_id, m.x, m.threshold,
       m.x - m.threshold AS margin, m.gate, r.severity, r.failed, r.suspect, r.samples[1] AS example
FROM measures m
JOIN latest_versions v USING (name, version)
JOIN rule_results r USING (name, version, rule_id)
WHERE m.applicable
ORDER BY margin ASC, r.failed DESC;
