-- bench/soak.lua — the request mix of bench/soak.sh for wrk 4:
--   wrk -t2 -c256 -d300s --latency -s bench/soak.lua http://127.0.0.1:PORT -- N KEY
-- N: customers c-1..c-N exist; KEY: an API key with the read and write scopes.
--
-- Per request, at random: 60 % GET /v1/customers/c-R, 10 % GET /v1/customers?limit=20,
-- 10 % PUT /v1/customers/c-R (JSON), 10 % PATCH /v1/customers/c-R (merge patch),
-- 10 % POST /v1/events (a purchase with an amount and a unique id), R random in 1..N.
-- Every status is counted per thread (response()); done() adds them up and prints one line
--   SOAK requests=… rps=… p50_us=… … ok=… s503=… unexpected=… connect=… read=… write=… timeout=…
-- and one line "SOAK_STATUS 200=… 202=… …". ok counts 200, 201 and 202; unexpected counts
-- every other status (503 included; s503 counts those separately).

local threads = {}

function setup(thread)
	thread:set("tid", #threads + 1)
	table.insert(threads, thread)
end

local n, auth, run
local seq = 0
local countries = {"DE", "FR", "US", "GB", "ES", "IT", "NL", "PL", "SE", "JP"}
local plans = {"free", "pro", "team", "enterprise"}

function init(args)
	n = tonumber(args[1]) or error("soak.lua: pass N and KEY after --")
	auth = "Bearer " .. (args[2] or error("soak.lua: pass N and KEY after --"))
	run = os.time()
	math.randomseed(run * 100 + tid)
	-- Globals, so that done() can read them through thread:get().
	statuses = {}
end

local function json_headers(ctype)
	return {["Authorization"] = auth, ["Content-Type"] = ctype}
end

function request()
	local r = math.random(100)
	local path = "/v1/customers/c-" .. math.random(1, n)
	if r <= 60 then
		return wrk.format("GET", path, {["Authorization"] = auth})
	elseif r <= 70 then
		return wrk.format("GET", "/v1/customers?limit=20", {["Authorization"] = auth})
	elseif r <= 80 then
		local body = string.format(
			'{"kind": "person", "attributes": {"age": %d, "country": "%s", "plan": "%s", "score": %.4f, "signup_date": "2021-%02d-%02d"}}',
			math.random(18, 87), countries[math.random(#countries)], plans[math.random(#plans)],
			math.random() * 100, math.random(1, 12), math.random(1, 28))
		return wrk.format("PUT", path, json_headers("application/json"), body)
	elseif r <= 90 then
		local body = string.format('{"attributes": {"score": %.4f, "plan": "%s", "soak_touched": true}}',
			math.random() * 100, plans[math.random(#plans)])
		return wrk.format("PATCH", path, json_headers("application/merge-patch+json"), body)
	else
		seq = seq + 1
		local body = string.format(
			'{"id": "soak-%d-%d-%d", "customer_id": "c-%d", "type": "purchase", "occurred_at": "%s", "amount": %.2f}',
			run, tid, seq, math.random(1, n), os.date("!%Y-%m-%dT%H:%M:%SZ"), math.random(100, 20000) / 100)
		return wrk.format("POST", "/v1/events", json_headers("application/json"), body)
	end
end

function response(status, headers, body)
	statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
	local all = {}
	for _, t in ipairs(threads) do
		for status, count in pairs(t:get("statuses") or {}) do
			all[status] = (all[status] or 0) + count
		end
	end
	local ok, s503, unexpected, codes = 0, 0, 0, {}
	for status, count in pairs(all) do
		if status == 200 or status == 201 or status == 202 then
			ok = ok + count
		else
			unexpected = unexpected + count
			if status == 503 then s503 = s503 + count end
		end
		table.insert(codes, status)
	end
	table.sort(codes)
	local parts = {}
	for _, status in ipairs(codes) do
		table.insert(parts, string.format("%d=%d", status, all[status]))
	end
	local e = summary.errors
	io.write(string.format(
		"SOAK requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d ok=%d s503=%d unexpected=%d non2xx3xx=%d connect=%d read=%d write=%d timeout=%d\n",
		summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(90), latency:percentile(99),
		latency:percentile(99.9), latency.max, ok, s503, unexpected, e.status, e.connect,
		e.read, e.write, e.timeout))
	io.write("SOAK_STATUS " .. table.concat(parts, " ") .. "\n")
end
