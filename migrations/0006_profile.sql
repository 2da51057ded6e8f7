-- Segment profiles (SPEC §5.4 GET /v1/segments/{id}/profile; db/README.md "Profiles and
-- overlap"): the two helpers of the profile's statements (db/profile.c).

-- The attributes a profile reads: the customer's attributes object, plus, for each registered
-- attribute whose name is a dotted path ('address.city'), the value at that path under its
-- dotted name (it replaces a top-level key of the same name). Without such paths it is the
-- object itself, and the planner inlines the function to just that.
CREATE FUNCTION seg_profile_attrs(a jsonb, paths text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN cardinality(paths) = 0 OR jsonb_typeof(a) IS DISTINCT FROM 'object' THEN a
		ELSE a || coalesce((SELECT jsonb_object_agg(p, a #> string_to_array(p, '.'))
			FROM unnest(paths) p WHERE a #> string_to_array(p, '.') IS NOT NULL), '{}')
	END
$$;

-- The statistics of one numeric attribute or metric over a segment of size members, from
-- the values its members have (NULLs ignored): {"count", "missing" (size - count), "mean",
-- "p25", "median", "p75", "min", "max"}; the percentiles are percentile_cont's (linear
-- interpolation), and everything but the counts is null when there is no value.
CREATE FUNCTION seg_profile_stats(arr float8[], size bigint) RETURNS json
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT json_build_object('count', s.n, 'missing', size - s.n, 'mean', s.mean,
		'p25', s.p[1], 'median', s.p[2], 'p75', s.p[3], 'min', s.lo, 'max', s.hi)
	FROM (SELECT count(x) AS n, avg(x) AS mean, min(x) AS lo, max(x) AS hi,
		percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY x) AS p
		FROM unnest(arr) x) s
$$;
