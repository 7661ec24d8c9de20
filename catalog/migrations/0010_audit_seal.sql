-- 0010: where the audit log's tail has been sealed outside the catalog. The first audit append in a
-- local warehouse folder writes `catalog.duckdb.audit-tail.json` beside the catalog (the last row's seq and hash,
-- rewritten at every append) and one row here, in the same transaction. `moshu verify` then reports a
-- missing `catalog.duckdb.audit-tail.json` as deleted; a catalog without rows here (written before sealing existed,
-- or copied from a remote warehouse, whose machines do not seal) has no tail to compare.
CREATE TABLE audit_seal (
    seal_id     VARCHAR PRIMARY KEY,  -- also in `catalog.duckdb.audit-tail.json`
    first_seq   BIGINT NOT NULL,      -- the audit row whose append wrote the seal first
    sealed_at   TIMESTAMP NOT NULL
);
