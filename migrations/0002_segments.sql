-- Segments, their memberships, the change feed, size history and the job queue (SPEC §3, §5.4,
-- §5.6, §7). The model is explained in db/README.md ("Memberships") and server/README-jobs.md.

-- Every write to a customer bumps rev. A full refresh computes its changes from one snapshot and
-- applies the change of a customer only while that customer's rev is still the one it saw (under
-- a row lock): a customer written meanwhile was evaluated by its own write, with newer data.
ALTER TABLE customers ADD COLUMN rev bigint NOT NULL DEFAULT 0;

-- Bumped by every change to a tenant's segment definitions; the membership step of a write
-- compiles the tenant's dynamic segments into one statement per version.
ALTER TABLE tenants ADD COLUMN segments_version bigint NOT NULL DEFAULT 0;

-- Events no longer reference customers by a foreign key: its per-row trigger cost the events
-- import most of its time. Every event insert creates its customer first (in the same
-- transaction, under the customer's row lock), and erasing a customer deletes its events.
ALTER TABLE events DROP CONSTRAINT events_tenant_id_customer_id_fkey;

CREATE TABLE segments (
	tenant_id bigint NOT NULL,
	id bigserial NOT NULL,
	name text NOT NULL,
	description text NOT NULL DEFAULT '',
	type text NOT NULL CHECK (type IN ('static', 'dynamic')),
	rule jsonb,
	source text NOT NULL DEFAULT 'manual',
	profile jsonb NOT NULL DEFAULT '{}',
	-- +1 at every change of rule; a refresh that computed with an older rule is discarded
	rule_version integer NOT NULL DEFAULT 1,
	-- the rule depends on the clock (within_days, within_last, before/after an offset,
	-- recency_days, tenure_days...): the scheduler refreshes it every SEGMENTD_REFRESH_INTERVAL
	clock boolean NOT NULL DEFAULT false,
	-- The size at the last full refresh, as of the change feed's cursor size_cursor: the
	-- current size adds the changes after it (seg_segment_size below), so writes never update
	-- this row.
	size bigint NOT NULL DEFAULT 0,
	size_cursor bigint NOT NULL DEFAULT 0,
	refreshed_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (id),
	UNIQUE (tenant_id, name),
	CHECK ((type = 'dynamic') = (rule IS NOT NULL))
);

-- Who is in which segment since when. No foreign keys (their per-row triggers would dominate a
-- refresh): a segment's and a customer's memberships are deleted with them, by the membership
-- step, which records the exits.
CREATE TABLE memberships (
	tenant_id bigint NOT NULL,
	segment_id bigint NOT NULL,
	customer_id text COLLATE "C" NOT NULL,
	since timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, segment_id, customer_id)
);
CREATE INDEX memberships_customer ON memberships (tenant_id, customer_id);

-- The change feed. A transaction that records changes takes its cursors from its tenant's
-- counter row as its last act before committing, and holds that row's lock until it commits:
-- so cursors are handed out in commit order, and the committed cursors are always a prefix
-- (no transaction can commit a smaller cursor later). A CRM that follows `since` misses none
-- and sees none twice, whatever runs concurrently (db/README.md "Memberships").
CREATE TABLE change_counters (
	tenant_id bigint PRIMARY KEY,
	last bigint NOT NULL
);

CREATE TABLE changes (
	tenant_id bigint NOT NULL,
	cursor bigint NOT NULL,
	segment_id bigint NOT NULL,
	customer_id text COLLATE "C" NOT NULL,
	change text NOT NULL CHECK (change IN ('entered', 'exited')),
	at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, cursor)
);
CREATE INDEX changes_segment ON changes (tenant_id, segment_id, cursor);

-- A point at a segment's creation and at every full refresh: its size and the changes since
-- the previous point (those with cursors in (the previous point's cursor, this one's]).
CREATE TABLE segment_history (
	tenant_id bigint NOT NULL,
	segment_id bigint NOT NULL,
	seq bigserial NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	size bigint NOT NULL,
	entered bigint NOT NULL,
	exited bigint NOT NULL,
	PRIMARY KEY (tenant_id, segment_id, seq)
);

-- The current size of a segment: the size at its last full refresh plus the changes recorded
-- after that refresh's cursor.
CREATE FUNCTION seg_segment_size(s segments) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT s.size + coalesce((
		SELECT sum(CASE WHEN ch.change = 'entered' THEN 1 ELSE -1 END)
		FROM changes ch
		WHERE ch.tenant_id = s.tenant_id AND ch.segment_id = s.id
			AND ch.cursor > s.size_cursor), 0)::bigint
$$;

-- Background work (SPEC §5.6, §7): claimed with FOR UPDATE SKIP LOCKED, held by a lease that
-- the claiming daemon renews; attempt is the fencing token of the current claim.
CREATE TABLE jobs (
	tenant_id bigint NOT NULL,
	id bigserial NOT NULL,
	kind text NOT NULL,
	-- what the job works on (the segment of a refresh); NULL for none
	target bigint,
	params jsonb NOT NULL DEFAULT '{}',
	status text NOT NULL DEFAULT 'queued'
		CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
	progress double precision NOT NULL DEFAULT 0,
	attempts integer NOT NULL DEFAULT 0,
	max_attempts integer NOT NULL DEFAULT 5,
	run_after timestamptz NOT NULL DEFAULT now(),
	lease_until timestamptz,
	worker text,
	cancel_requested boolean NOT NULL DEFAULT false,
	error jsonb,
	result jsonb,
	created_at timestamptz NOT NULL DEFAULT now(),
	started_at timestamptz,
	finished_at timestamptz,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (id)
);
CREATE INDEX jobs_queued ON jobs (run_after, id) WHERE status = 'queued';
CREATE INDEX jobs_running ON jobs (lease_until) WHERE status = 'running';
CREATE INDEX jobs_tenant_status ON jobs (tenant_id, status, id);
-- At most one queued job per kind and target: asking again while one waits joins it.
CREATE UNIQUE INDEX jobs_one_queued ON jobs (tenant_id, kind, target)
	WHERE status = 'queued' AND target IS NOT NULL;

-- The derived metrics (SPEC §4), written once: the customer document and the rule compiler
-- (db/rulesql.c) both call these. Simple SQL functions, so the planner inlines them.
CREATE FUNCTION seg_avg_order_value(orders bigint, revenue numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN orders > 0 THEN trim_scale(round(revenue / orders, 4)) END
$$;

-- Whole days from t to now, rounded down, never negative; NULL for NULL.
CREATE FUNCTION seg_days_since(t timestamptz) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN t IS NOT NULL
		THEN greatest(0, floor(extract(epoch FROM now() - t) / 86400))::bigint END
$$;

-- tenure_days counts from the first event, or from the customer's creation if earlier.
CREATE FUNCTION seg_tenure_start(created_at timestamptz, first_event_at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT least(created_at, coalesce(first_event_at, created_at))
$$;

CREATE OR REPLACE FUNCTION seg_customer_json(c customers) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT json_build_object(
		'id', c.id,
		'kind', c.kind,
		'attributes', c.attributes,
		'created_at', seg_ts(c.created_at),
		'updated_at', seg_ts(c.updated_at),
		'metrics', json_build_object(
			'orders', c.orders,
			'revenue', c.revenue,
			'avg_order_value', seg_avg_order_value(c.orders, c.revenue),
			'first_purchase_at', seg_ts(c.first_purchase_at),
			'last_purchase_at', seg_ts(c.last_purchase_at),
			'recency_days', seg_days_since(c.last_purchase_at),
			'tenure_days', seg_days_since(seg_tenure_start(c.created_at, c.first_event_at)),
			'events', c.events,
			'last_event_at', seg_ts(c.last_event_at)))
$$;

-- Metrics are recomputed by the same statement as the events ingest adds them with
-- (db/events.c), so their formulas exist once.
DROP FUNCTION seg_recompute_metrics(bigint);
