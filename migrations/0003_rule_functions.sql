-- The SQL helpers of compiled rules (db/rulesql.c) and of the membership machinery
-- (db/members.c). The scheme is explained in db/README.md ("Rule compilation", "Memberships").

-- A JSON value as a number, a string or a boolean, or NULL when it is not one (or is missing):
-- the typed subjects of a rule's leaves. Simple SQL functions, so the planner inlines them.
CREATE FUNCTION seg_num(v jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN jsonb_typeof(v) = 'number' THEN v::numeric END
$$;

CREATE FUNCTION seg_str(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN jsonb_typeof(v) = 'string' THEN v #>> '{}' END
$$;

CREATE FUNCTION seg_bool(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN jsonb_typeof(v) = 'boolean' THEN v::boolean END
$$;

-- The instant a string in RFC 3339 form stands for, or NULL when it is not in that form: a
-- date-time "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" ("t" or a space as the separator,
-- "z", up to 9 fraction digits truncated to microseconds, no leap second), or a full date
-- "YYYY-MM-DD" (midnight UTC); the date must exist, years 0001-9999, offsets up to 15:59 (what
-- PostgreSQL accepts). The same forms as seg_rfc3339_parse and seg_date_parse (lib/timefmt.c).
-- Never fails: the cast runs only once the form is known to be valid (nested CASE, which the
-- planner also respects when it folds constants). STABLE, as the cast it calls.
CREATE FUNCTION seg_instant(s text) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN s ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?([Zz]|[+-](0[0-9]|1[0-5]):[0-5][0-9]))?$'
			AND left(s, 4) <> '0000'
		THEN CASE WHEN substr(s, 9, 2) <= CASE substr(s, 6, 2)
				WHEN '02' THEN CASE
					WHEN substr(s, 3, 2) = '00' THEN
						CASE WHEN substr(s, 1, 2) IN ('00', '04', '08', '12', '16', '20',
							'24', '28', '32', '36', '40', '44', '48', '52', '56', '60',
							'64', '68', '72', '76', '80', '84', '88', '92', '96')
							THEN '29' ELSE '28' END
					WHEN substr(s, 3, 2) IN ('04', '08', '12', '16', '20', '24', '28', '32',
						'36', '40', '44', '48', '52', '56', '60', '64', '68', '72', '76',
						'80', '84', '88', '92', '96')
						THEN '29'
					ELSE '28' END
				WHEN '04' THEN '30' WHEN '06' THEN '30' WHEN '09' THEN '30' WHEN '11' THEN '30'
				ELSE '31' END
			THEN (CASE WHEN length(s) = 10 THEN s || 'T00:00:00Z'
				ELSE regexp_replace(s, '(\.[0-9]{6})[0-9]+', '\1') END)::timestamptz
		END
	END
$$;

-- The definitions lock of a tenant (db/README.md "Memberships"): every transaction that writes
-- customers takes it shared as its first statement, a change of the tenant's segment
-- definitions or attribute catalogue takes it exclusively. Both return the tenant's
-- segments_version and whether the tenant has any segment, read AFTER the lock was granted:
-- these are VOLATILE functions, so each of their statements takes a snapshot of its own (a
-- single statement's snapshot would predate a wait for the lock, and miss a change that
-- committed meanwhile).
CREATE FUNCTION seg_members_lock(tenant bigint, OUT version bigint, OUT segments boolean)
LANGUAGE sql VOLATILE AS $$
	SELECT pg_advisory_xact_lock_shared(1397050692, (tenant % 2147483647)::integer);
	SELECT t.segments_version, EXISTS (SELECT 1 FROM segments s WHERE s.tenant_id = t.id)
	FROM tenants t WHERE t.id = tenant;
$$;

CREATE FUNCTION seg_members_definitions_changed(tenant bigint) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
	SELECT pg_advisory_xact_lock(1397050692, (tenant % 2147483647)::integer);
	UPDATE tenants SET segments_version = segments_version + 1 WHERE id = tenant
	RETURNING segments_version;
$$;

-- The distinct ids of an array, for the membership step of a few customers (db/members.c). A
-- PL/pgSQL function is never inlined, so the planner always estimates ROWS 10, whatever the
-- array: the prepared step's custom plans then cost what its generic plan costs, and
-- PostgreSQL settles on the generic plan (planned once per connection) instead of planning
-- every write again, as it does when it can see that the array holds one id.
CREATE FUNCTION seg_ids(ids text[]) RETURNS SETOF text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE ROWS 10 AS $$
BEGIN
	RETURN QUERY SELECT DISTINCT t.id FROM unnest(ids) AS t(id);
END
$$;
