-- Finished jobs are deleted once they are older than SEGMENTD_JOB_RETENTION (server/README.md
-- "Retention"); this index finds them oldest first without reading the queue.
CREATE INDEX jobs_finished ON jobs (finished_at)
	WHERE status IN ('succeeded', 'failed', 'cancelled');
