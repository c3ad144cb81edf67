-- The fragmentation history of `monitoring.metrics` (persistence.metrics.file): one row per scan
-- of a cluster, one per node it covered, one per table recorded on a node. Times are Unix
-- milliseconds (UTC). Deleting a scan deletes its nodes and tables.
CREATE TABLE scans (
    scan_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster     TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('ok', 'partial', 'failed')),
    error       TEXT,
    -- The discovered topology (JSON), NULL when discovery failed.
    topology    TEXT
);
CREATE INDEX scans_by_cluster ON scans (cluster, started_at);

CREATE TABLE node_scans (
    scan_id           INTEGER NOT NULL REFERENCES scans (scan_id) ON DELETE CASCADE,
    node              TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('scanned', 'unreachable', 'failed')),
    error             TEXT,
    duration_ms       INTEGER NOT NULL,
    tables            INTEGER NOT NULL,
    file_bytes        INTEGER NOT NULL,
    reclaimable_bytes INTEGER NOT NULL,
    PRIMARY KEY (scan_id, node)
);

CREATE TABLE table_scans (
    scan_id       INTEGER NOT NULL REFERENCES scans (scan_id) ON DELETE CASCADE,
    node          TEXT    NOT NULL,
    schema_name   TEXT    NOT NULL,
    table_name    TEXT    NOT NULL,
    file_bytes    INTEGER NOT NULL,
    reclaim_bytes INTEGER NOT NULL,
    PRIMARY KEY (scan_id, node, schema_name, table_name)
);
CREATE INDEX table_scans_by_table ON table_scans (node, schema_name, table_name);
