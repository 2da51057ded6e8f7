-- Schemes (SPEC §5.5): an ordered list of segments plus an optional fallback, and the history of
-- their assignments. The model is explained in db/README.md ("Schemes").

CREATE TABLE schemes (
	tenant_id bigint NOT NULL,
	id bigserial NOT NULL,
	name text NOT NULL,
	-- the name of the group of customers in none of the segments; NULL: the scheme has none
	fallback text,
	min_segment_size bigint NOT NULL DEFAULT 1 CHECK (min_segment_size >= 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (id),
	UNIQUE (tenant_id, name)
);

-- A scheme's segments in priority order (the smallest position first; positions may have
-- gaps). Deleting a segment with ?force=true removes it from its schemes through the cascade;
-- without it, the delete refuses while a scheme uses the segment (db/segments.c).
CREATE TABLE scheme_segments (
	tenant_id bigint NOT NULL,
	scheme_id bigint NOT NULL,
	position integer NOT NULL,
	segment_id bigint NOT NULL,
	PRIMARY KEY (tenant_id, scheme_id, position),
	UNIQUE (tenant_id, scheme_id, segment_id),
	FOREIGN KEY (tenant_id, scheme_id) REFERENCES schemes (tenant_id, id) ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, segment_id) REFERENCES segments (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX scheme_segments_segment ON scheme_segments (tenant_id, segment_id);

-- One row per snapshot of a scheme's assignment: when, why, and the definition it used (the
-- segments' ids and names in priority order, the fallback), so that transitions can name the
-- segments of an old snapshot after the scheme changed.
CREATE TABLE scheme_snapshots (
	tenant_id bigint NOT NULL,
	scheme_id bigint NOT NULL,
	id bigserial NOT NULL,
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	trigger text NOT NULL CHECK (trigger IN ('manual', 'refresh')),
	segment_ids bigint[] NOT NULL,
	segment_names text[] NOT NULL,
	fallback text,
	customers bigint NOT NULL DEFAULT 0,
	assigned bigint NOT NULL DEFAULT 0,
	changed bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant_id, scheme_id, id),
	UNIQUE (id)
);
CREATE INDEX scheme_snapshots_at ON scheme_snapshots (tenant_id, scheme_id, at);

-- The assignments, compactly: a row only for a customer whose assignment at this snapshot
-- differs from the previous snapshot's (segment_id NULL: in none of the segments, i.e. the
-- fallback; gone: the customer no longer exists). The assignment at snapshot k is, for each
-- customer, its latest row with snapshot_id <= k, unless that row says gone. No foreign keys
-- (a snapshot writes up to one row per customer; deleting a scheme deletes them explicitly).
CREATE TABLE scheme_assignments (
	tenant_id bigint NOT NULL,
	scheme_id bigint NOT NULL,
	customer_id text COLLATE "C" NOT NULL,
	snapshot_id bigint NOT NULL,
	segment_id bigint,
	gone boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX scheme_assignments_key
	ON scheme_assignments (tenant_id, scheme_id, customer_id, snapshot_id DESC);
