-- The job store as it was when it moved to migrations: its first release plus the columns
-- added since (jobs.owner_pid, jobs.run_state, ledger.unneeded) and the list indexes.
--
-- Safe on a store made before migrations (no _sqlx_migrations table): `Store` first gives the
-- tables of such a store the columns of this file they lack, then this runs, and creates only
-- what is missing.

CREATE TABLE IF NOT EXISTS counters (
    kind TEXT NOT NULL,
    day TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (kind, day)
);

CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    phase TEXT,
    plan_id TEXT,
    plan_digest TEXT,
    config TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    completed_at TEXT,
    error TEXT,
    total_tables INTEGER NOT NULL DEFAULT 0,
    processed_tables INTEGER NOT NULL DEFAULT 0,
    failed_tables INTEGER NOT NULL DEFAULT 0,
    bytes_freed INTEGER NOT NULL DEFAULT 0,
    current_table TEXT,
    owner_pid INTEGER,
    run_state TEXT
);

-- The job list pages newest first, all jobs or those of one status (the first release's
-- jobs_status index did not page).
DROP INDEX IF EXISTS jobs_status;
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at, job_id);
CREATE INDEX IF NOT EXISTS jobs_status_created ON jobs (status, created_at, job_id);

CREATE TABLE IF NOT EXISTS plans (
    plan_id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS ledger (
    job_id TEXT NOT NULL,
    plan_digest TEXT NOT NULL,
    node TEXT NOT NULL,
    schema_name TEXT NOT NULL,
    table_name TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT NOT NULL,
    size_before INTEGER,
    size_after INTEGER,
    bytes_freed INTEGER NOT NULL,
    error TEXT,
    code INTEGER,
    unneeded INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, node, schema_name, table_name)
);

CREATE INDEX IF NOT EXISTS ledger_digest ON ledger (plan_digest, status);
