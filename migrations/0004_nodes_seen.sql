-- The nodes each discovery of a cluster found, so a node seen before and missing now (its
-- replication stopped and its source forgot it, or it is down and no one announces it) can be
-- reported. One row per cluster and address: `cluster` is the cluster's name when one was given
-- (`--cluster`), else the root's address; `server_id`/`server_uuid` as last known (NULL when never
-- known); `role` and `source` as the last discovery that found it saw them; times RFC 3339 UTC.
CREATE TABLE IF NOT EXISTS nodes_seen (
    cluster TEXT NOT NULL,
    address TEXT NOT NULL,
    server_id INTEGER,
    server_uuid TEXT,
    role TEXT NOT NULL,
    source TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (cluster, address)
);
