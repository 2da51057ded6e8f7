-- Analyses (SPEC §5.6, §6): a saved request for one type of analysis, run as jobs of kind
-- "analysis" (target: the analysis). The model is explained in db/README.md ("Analyses").

CREATE TABLE analyses (
	tenant_id bigint NOT NULL,
	id bigserial NOT NULL,
	type text NOT NULL,
	-- the params as checked, with every default filled in (the same params re-run the same)
	params jsonb NOT NULL DEFAULT '{}',
	schedule text CHECK (schedule IN ('daily', 'weekly')),
	-- the latest run: its job (NULL once the job is purged, see jobs retention), and a copy of
	-- its outcome that outlives the job
	job_id bigint,
	status text NOT NULL DEFAULT 'queued'
		CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
	error jsonb,
	-- the result of the latest succeeded run, and when that run committed
	result jsonb,
	-- its customers' results: a table of seg_results (see below), NULL before the first
	store text,
	runs integer NOT NULL DEFAULT 0,
	succeeded_at timestamptz,
	-- a scheduled analysis is queued again once now() passes this
	next_run_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (id)
);
CREATE INDEX analyses_tenant_type ON analyses (tenant_id, type, id);
CREATE INDEX analyses_due ON analyses (next_run_at) WHERE schedule IS NOT NULL;

-- Each customer's own result of an analysis's latest succeeded run (GET
-- /v1/analyses/{id}/customers) is a table of its own in the schema seg_results, its "store":
-- customer_id (the primary key) and one typed column per key of the type. A run writes its
-- store with CREATE TABLE AS and builds the primary key afterwards (ten times cheaper than
-- inserting documents into a shared indexed table); analyses.store names the latest
-- succeeded run's, and the run that replaces it retires the old one into
-- analysis_stores_retired, whose tables the housekeeping of every daemon drops, each when
-- no reader holds it (db/README.md "Analyses"). Names are ours, never input:
-- seg_results.a<analysis>_<n>, n from analysis_store_seq.
CREATE SCHEMA seg_results;
CREATE SEQUENCE analysis_store_seq;
CREATE TABLE analysis_stores_retired (
	name text PRIMARY KEY,
	retired_at timestamptz NOT NULL DEFAULT now()
);

-- Erasure: deletes the customers ids from the stores of the tenant's analyses, returning how
-- many rows went. A store dropped meanwhile (retired by a run that committed after this
-- transaction's snapshot) holds nothing to erase any more.
CREATE FUNCTION seg_analysis_forget(tenant bigint, ids text[]) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	s text;
	n bigint;
	total bigint := 0;
BEGIN
	FOR s IN SELECT a.store FROM analyses a WHERE a.tenant_id = tenant AND a.store IS NOT NULL
	LOOP
		BEGIN
			EXECUTE format('DELETE FROM %s WHERE customer_id = ANY ($1)', s) USING ids;
			GET DIAGNOSTICS n = ROW_COUNT;
			total := total + n;
		EXCEPTION WHEN undefined_table THEN
			NULL;
		END;
	END LOOP;
	RETURN total;
END
$$;

-- The analysis a materialised segment came from (its source is the analysis's type, SPEC §1);
-- NULL for every other segment. Kept when the analysis is deleted, like the segment.
ALTER TABLE segments ADD COLUMN analysis_id bigint;

-- Which analysis provides a tenant's metrics of one type (SPEC §4: rfm_*, abc_class,
-- frequency_class, clv, p_alive, predicted_orders, factor_n): the analysis of that type
-- materialised last. Its every succeeded run copies its metrics into customer_scores.
CREATE TABLE analysis_metric_sources (
	tenant_id bigint NOT NULL,
	type text NOT NULL,
	analysis_id bigint NOT NULL,
	PRIMARY KEY (tenant_id, type)
);

-- The analysis metrics of each customer, as rules read them (db/rulesql.c): one column per
-- metric, NULL when the customer has no value (the leaf is false). No foreign keys, like
-- memberships; deleting a customer deletes its row explicitly.
CREATE TABLE customer_scores (
	tenant_id bigint NOT NULL,
	customer_id text COLLATE "C" NOT NULL,
	rfm_r smallint,
	rfm_f smallint,
	rfm_m smallint,
	rfm_score text,
	rfm_segment text,
	abc_class text,
	frequency_class text,
	clv double precision,
	p_alive double precision,
	predicted_orders double precision,
	-- factor_1 ... factor_n (issue 9): factors[1] ... factors[n]
	factors double precision[],
	PRIMARY KEY (tenant_id, customer_id)
);

-- The customer document (SPEC §4) shows the analysis metrics under "metrics" once a
-- customer has them: the non-null columns of its customer_scores row (factors as factor_1 ...
-- factor_n), after the metrics of 0002, in that order.
CREATE OR REPLACE FUNCTION seg_customer_json(c customers) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT json_build_object(
		'id', c.id,
		'kind', c.kind,
		'attributes', c.attributes,
		'created_at', seg_ts(c.created_at),
		'updated_at', seg_ts(c.updated_at),
		'metrics', (left(json_build_object(
			'orders', c.orders,
			'revenue', c.revenue,
			'avg_order_value', seg_avg_order_value(c.orders, c.revenue),
			'first_purchase_at', seg_ts(c.first_purchase_at),
			'last_purchase_at', seg_ts(c.last_purchase_at),
			'recency_days', seg_days_since(c.last_purchase_at),
			'tenure_days', seg_days_since(seg_tenure_start(c.created_at, c.first_event_at)),
			'events', c.events,
			'last_event_at', seg_ts(c.last_event_at))::text, -1) ||
			coalesce((SELECT ', ' || string_agg(q.p, ', ' ORDER BY q.o) FROM (
				SELECT 0 AS o, substr(y.x::text, 2, length(y.x::text) - 2) AS p FROM (
					SELECT json_strip_nulls(json_build_object(
						'rfm_r', s.rfm_r, 'rfm_f', s.rfm_f, 'rfm_m', s.rfm_m,
						'rfm_score', s.rfm_score, 'rfm_segment', s.rfm_segment,
						'abc_class', s.abc_class,
						'frequency_class', s.frequency_class,
						'clv', s.clv, 'p_alive', s.p_alive,
						'predicted_orders', s.predicted_orders)) AS x
					FROM customer_scores s
					WHERE s.tenant_id = c.tenant_id AND s.customer_id = c.id) y
				WHERE y.x::text <> '{}'
				UNION ALL
				SELECT u.i, format('"factor_%s" : %s', u.i, to_json(u.v))
				FROM customer_scores s, unnest(s.factors) WITH ORDINALITY u(v, i)
				WHERE s.tenant_id = c.tenant_id AND s.customer_id = c.id
				AND u.v IS NOT NULL) q), '') || '}')::json)
$$;

-- A static segment materialised from an analysis whose type places each customer in a group
-- (kmeans clusters, discriminant groups, conjoint benefit segments): the 0-based index of its
-- group, which the type's store column names for each customer. Every succeeded run of the
-- analysis moves the memberships of these segments to its new store (db/README.md "Static
-- materialisation"). NULL for every other segment.
ALTER TABLE segments ADD COLUMN analysis_group integer;
