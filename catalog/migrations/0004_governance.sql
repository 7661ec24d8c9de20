-- 0004: governance. Classification of every dataset (GB/T 43697 grade, industrial data domain, CDO,
-- retention) and of every column (sensitivity, pseudonymised); an append-only, hash-chained audit log.

ALTER TABLE datasets ADD COLUMN grade VARCHAR;            -- general | important | core (GB/T 43697)
ALTER TABLE datasets ADD COLUMN domain VARCHAR;           -- r_and_d | production | operations_maintenance | management | external
ALTER TABLE datasets ADD COLUMN cdo VARCHAR;              -- accountable chief data officer
ALTER TABLE datasets ADD COLUMN retention VARCHAR;        -- ISO 8601 duration, e.g. P5Y
ALTER TABLE datasets ADD COLUMN derived_from VARCHAR[];   -- source datasets (the grade is at least theirs)
ALTER TABLE datasets ADD COLUMN classification VARCHAR;   -- JSON of the spec's whole classification block

ALTER TABLE columns ADD COLUMN sensitivity VARCHAR;       -- personal | confidential | public
ALTER TABLE columns ADD COLUMN pseudonymised BOOLEAN;     -- replaced by a keyed HMAC at ingest

-- Who did what, when: publishes, gate decisions, feedback and reviews, model runs, policy-checked
-- queries, verifications. Rows are only ever appended; each row's hash covers the previous row's
-- hash, so an edited or deleted row breaks the chain (`moshu verify` checks it).
CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    logged_at TIMESTAMP NOT NULL,
    actor     VARCHAR NOT NULL,        -- who (a person, a team, or moshu itself)
    role      VARCHAR,                 -- the access role, for queries
    action    VARCHAR NOT NULL,        -- publish | gate | feedback_submit | feedback_review | model_register | query | verify
    object    VARCHAR,                 -- e.g. `ai4i2020@2`
    decision  VARCHAR,                 -- published | rejected | accepted | allowed | refused | ok | failed ...
    detail    VARCHAR,                 -- JSON
    prev_hash VARCHAR,
    hash      VARCHAR NOT NULL         -- sha256 of prev_hash and this row's fields
);
