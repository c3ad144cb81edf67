-- The duration model's inputs and estimate of each ledger row (rows, secondary indexes, the
-- plan's estimated seconds), so a node's past rebuilds calibrate the next plan's estimates; and,
-- per running job, the rebuilds under way with their in-table progress (JSON) and the seconds
-- of work left.
ALTER TABLE ledger ADD COLUMN rows_estimate INTEGER;
ALTER TABLE ledger ADD COLUMN secondary_indexes INTEGER;
ALTER TABLE ledger ADD COLUMN estimated_duration_s REAL;
ALTER TABLE jobs ADD COLUMN rebuilds TEXT;
ALTER TABLE jobs ADD COLUMN remaining_s INTEGER;
CREATE INDEX IF NOT EXISTS ledger_node ON ledger (node, status, finished_at);
