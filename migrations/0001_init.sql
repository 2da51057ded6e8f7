-- Tenants, API keys, customers with their maintained metrics, events, and the attribute
-- catalogue. Every tenant-owned table leads its primary key with tenant_id.

CREATE TABLE tenants (
	id bigserial PRIMARY KEY,
	name text NOT NULL UNIQUE,
	revenue_event_types text[] NOT NULL DEFAULT '{purchase}',
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
	tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	id bigserial NOT NULL,
	prefix text NOT NULL UNIQUE,
	hash bytea NOT NULL,
	scopes text[] NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	revoked_at timestamptz,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (id)
);

-- Customer ids compare in byte order (COLLATE "C"): the list order is stable and the
-- pagination cursor is a plain comparison on the primary key.
-- tenant_id has no foreign key: it always comes from an authenticated key's tenant, tenants are
-- never deleted, and a per-row check would cost imports a third of their time.
CREATE TABLE customers (
	tenant_id bigint NOT NULL,
	id text COLLATE "C" NOT NULL,
	kind text NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'company')),
	attributes jsonb NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	-- metrics, maintained as events arrive (SPEC §4)
	events bigint NOT NULL DEFAULT 0,
	orders bigint NOT NULL DEFAULT 0,
	revenue numeric NOT NULL DEFAULT 0,
	first_event_at timestamptz,
	last_event_at timestamptz,
	first_purchase_at timestamptz,
	last_purchase_at timestamptz,
	PRIMARY KEY (tenant_id, id)
);

CREATE TABLE events (
	tenant_id bigint NOT NULL,
	seq bigserial NOT NULL,
	id text COLLATE "C",
	customer_id text COLLATE "C" NOT NULL,
	type text NOT NULL,
	occurred_at timestamptz NOT NULL,
	amount numeric,
	properties jsonb NOT NULL DEFAULT '{}',
	received_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, seq),
	FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);
-- A client-chosen id is unique per tenant (NULLs are distinct: events without id never clash).
CREATE UNIQUE INDEX events_tenant_id_key ON events (tenant_id, id);
CREATE INDEX events_customer_time ON events (tenant_id, customer_id, occurred_at DESC, seq DESC);

CREATE TABLE attribute_definitions (
	tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	name text COLLATE "C" NOT NULL,
	type text NOT NULL,
	category text NOT NULL DEFAULT 'other',
	description text NOT NULL DEFAULT '',
	allowed jsonb,
	unit text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, name)
);

-- RFC 3339 text of a timestamp in UTC, with the fraction only when there is one. STABLE, as the
-- functions it calls: a SQL function declared more strictly than its body is not inlined, and
-- would be parsed again at every call.
CREATE FUNCTION seg_ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT CASE
		WHEN t IS NULL THEN NULL
		WHEN t = 'infinity' OR t = '-infinity' THEN t::text
		WHEN extract(microseconds FROM t)::bigint % 1000000 = 0
			THEN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
		ELSE rtrim(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '0') || 'Z'
	END
$$;

-- RFC 7396 JSON merge patch of target by patch. Object members of patch that are null remove
-- the member; objects merge recursively; anything else replaces. Set-based (one pass over the
-- members of each side), so a patch with many keys costs n log n, not n².
CREATE FUNCTION seg_merge_patch(target jsonb, patch jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE
		WHEN jsonb_typeof(patch) IS DISTINCT FROM 'object' THEN patch
		ELSE (
			SELECT coalesce(jsonb_object_agg(m.key, m.value), '{}'::jsonb)
			FROM (
				SELECT t.key, t.value
				FROM jsonb_each(CASE WHEN jsonb_typeof(target) = 'object' THEN target
					ELSE '{}'::jsonb END) t
				WHERE NOT patch ? t.key
				UNION ALL
				SELECT p.key, CASE WHEN jsonb_typeof(p.value) = 'object'
					THEN seg_merge_patch(CASE WHEN jsonb_typeof(target) = 'object'
						THEN target -> p.key END, p.value)
					ELSE p.value END
				FROM jsonb_each(patch) p
				WHERE jsonb_typeof(p.value) <> 'null'
			) m)
	END
$$;

-- The value of a customer attribute at a dotted path ('address.city').
CREATE FUNCTION seg_attr_at(attributes jsonb, path text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT attributes #> string_to_array(path, '.')
$$;

-- Whether a stored value satisfies an attribute definition: the same checks as
-- seg_attr_check() in lib/attrs.c, used to find customers that a new definition would reject.
CREATE FUNCTION seg_attr_valid(v jsonb, typ text, allowed jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	s text;
	e jsonb;
BEGIN
	IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
		RETURN true;
	END IF;
	CASE typ
	WHEN 'number' THEN
		IF jsonb_typeof(v) <> 'number' THEN RETURN false; END IF;
	WHEN 'integer' THEN
		IF jsonb_typeof(v) <> 'number' OR v::numeric <> trunc(v::numeric) THEN RETURN false; END IF;
	WHEN 'string' THEN
		IF jsonb_typeof(v) <> 'string' THEN RETURN false; END IF;
	WHEN 'boolean' THEN
		IF jsonb_typeof(v) <> 'boolean' THEN RETURN false; END IF;
	WHEN 'date' THEN
		IF jsonb_typeof(v) <> 'string' THEN RETURN false; END IF;
		s := v #>> '{}';
		IF s !~ '^\d{4}-\d{2}-\d{2}$' THEN RETURN false; END IF;
		BEGIN
			PERFORM s::date;
		EXCEPTION WHEN others THEN
			RETURN false;
		END;
	WHEN 'timestamp' THEN
		IF jsonb_typeof(v) <> 'string' THEN RETURN false; END IF;
		s := v #>> '{}';
		IF s !~ '^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$' THEN
			RETURN false;
		END IF;
		BEGIN
			PERFORM s::timestamptz;
		EXCEPTION WHEN others THEN
			RETURN false;
		END;
	WHEN 'string_list' THEN
		IF jsonb_typeof(v) <> 'array' THEN RETURN false; END IF;
		IF EXISTS (SELECT 1 FROM jsonb_array_elements(v) x WHERE jsonb_typeof(x) <> 'string') THEN
			RETURN false;
		END IF;
	ELSE
		RETURN false;
	END CASE;
	IF allowed IS NOT NULL THEN
		IF typ = 'string_list' THEN
			FOR e IN SELECT x FROM jsonb_array_elements(v) x LOOP
				IF NOT allowed @> jsonb_build_array(e) THEN RETURN false; END IF;
			END LOOP;
		ELSIF NOT allowed @> jsonb_build_array(v) THEN
			RETURN false;
		END IF;
	END IF;
	RETURN true;
END
$$;

-- The JSON document of a customer as the API returns it, metrics included (SPEC §4).
CREATE FUNCTION seg_customer_json(c customers) RETURNS json
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
			'avg_order_value',
				CASE WHEN c.orders > 0 THEN trim_scale(round(c.revenue / c.orders, 4)) END,
			'first_purchase_at', seg_ts(c.first_purchase_at),
			'last_purchase_at', seg_ts(c.last_purchase_at),
			'recency_days',
				CASE WHEN c.last_purchase_at IS NOT NULL
					THEN greatest(0, floor(extract(epoch FROM now() - c.last_purchase_at) / 86400))::bigint
				END,
			'tenure_days',
				greatest(0, floor(extract(epoch FROM now()
					- least(c.created_at, coalesce(c.first_event_at, c.created_at))) / 86400))::bigint,
			'events', c.events,
			'last_event_at', seg_ts(c.last_event_at)))
$$;

-- Recomputes the stored metrics of a tenant's customers from their events (after the tenant's
-- revenue event types change). Customers without events get the zero metrics.
CREATE FUNCTION seg_recompute_metrics(tenant bigint) RETURNS bigint
LANGUAGE sql AS $$
	WITH rt AS (SELECT revenue_event_types FROM tenants WHERE id = tenant),
	agg AS (
		SELECT c.id,
			count(e.seq) AS events,
			count(e.seq) FILTER (WHERE e.type = ANY (rt.revenue_event_types)) AS orders,
			coalesce(sum(e.amount) FILTER (WHERE e.type = ANY (rt.revenue_event_types)), 0) AS revenue,
			min(e.occurred_at) AS first_event_at,
			max(e.occurred_at) AS last_event_at,
			min(e.occurred_at) FILTER (WHERE e.type = ANY (rt.revenue_event_types)) AS first_purchase_at,
			max(e.occurred_at) FILTER (WHERE e.type = ANY (rt.revenue_event_types)) AS last_purchase_at
		FROM customers c CROSS JOIN rt
		LEFT JOIN events e ON e.tenant_id = c.tenant_id AND e.customer_id = c.id
		WHERE c.tenant_id = tenant
		GROUP BY c.id),
	upd AS (
		UPDATE customers c SET
			events = agg.events, orders = agg.orders, revenue = agg.revenue,
			first_event_at = agg.first_event_at, last_event_at = agg.last_event_at,
			first_purchase_at = agg.first_purchase_at, last_purchase_at = agg.last_purchase_at
		FROM agg
		WHERE c.tenant_id = tenant AND c.id = agg.id
		RETURNING 1)
	SELECT count(*) FROM upd
$$;
