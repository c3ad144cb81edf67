-- Batches of `batch_size` tables a job has finished (issue 13 item 11), shown in the job view.
ALTER TABLE jobs ADD COLUMN batches_done INTEGER NOT NULL DEFAULT 0;
