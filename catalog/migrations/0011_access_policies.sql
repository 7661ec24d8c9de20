-- 0011: the access policy in force. `moshu policy apply FILE` (a cdo) stores the file in the warehouse
-- (`governance/policies/<sha256>.yaml`) and appends a row here; the latest row is the policy that
-- `moshu sql --role` enforces. Rows are only ever appended: earlier policies stay for the record.
CREATE TABLE access_policies (
    seq        INTEGER PRIMARY KEY,
    applied_at TIMESTAMP NOT NULL,
    actor      VARCHAR NOT NULL,     -- who applied it
    sha256     VARCHAR NOT NULL,     -- sha256 of the file's bytes
    path       VARCHAR NOT NULL,     -- its copy, relative to the warehouse
    body       VARCHAR NOT NULL,     -- the file's text (the copy of record when the file is missing)
    roles      VARCHAR[] NOT NULL    -- the roles it defines
);
