-- Batches of `batch_size` tables a job has finished (shown in the job view as batches_done),
-- and where the job's failure alert stands: NULL (no alert wanted: the job's process had no
-- webhook), 'wanted', 'pending' (failed, not delivered yet: sent again at the server's next
-- start) or 'delivered'.
ALTER TABLE jobs ADD COLUMN batches_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN alert TEXT;
