-- The job queue's additions (server/README.md "Jobs").
--
-- A cancel request for a running job cannot always be written to its row: a job holds its row
-- FOR UPDATE for the whole of its own transaction (seg_db_job_lock), and an HTTP request must not
-- wait minutes for it. Such a request is recorded here instead, without a foreign key (whose check
-- would lock the job's row too), and the heartbeat reads both places.
CREATE TABLE job_cancel_requests (
	job_id bigint PRIMARY KEY,
	requested_at timestamptz NOT NULL DEFAULT now()
);

-- Whether a job was asked to stop: its own flag, or a request recorded beside it.
CREATE FUNCTION seg_job_cancel_wanted(j jobs) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT j.cancel_requested
		OR EXISTS (SELECT 1 FROM job_cancel_requests r WHERE r.job_id = j.id)
$$;

