-- 0009: raw files a run set aside whole, with their reasons: files whose structure does not fit the
-- spec (`source.on_bad_file: quarantine_file`: empty, header only, undecodable, wrong field count,
-- stored transposed) and files whose columns drifted (`source.drift: quarantine_file`). Their rows
-- are not in the version's rows_in; files in = files read + files set aside.
CREATE TABLE set_aside_files (
    name     VARCHAR NOT NULL,
    version  INTEGER NOT NULL,
    path     VARCHAR NOT NULL,   -- relative to the project root
    sha256   VARCHAR NOT NULL,
    rows     BIGINT,             -- the file's raw data rows, when they can be counted
    policy   VARCHAR NOT NULL,   -- on_bad_file | drift: the spec option that set it aside
    reason   VARCHAR NOT NULL,   -- what is wrong, where, and the fix
    PRIMARY KEY (name, version, path)
);
