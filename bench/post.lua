-- wrk script for `make bench`: POSTs one GraphQL JSON body over and over, counts the
-- responses that are not HTTP 200 or whose body holds "errors", and those Quire answered from
-- its response cache (X-Quire-Cache: hit), and prints one summary line ("BENCH_RESULT {json}")
-- that bench/measure.py parses.
--
-- Env: BENCH_BODY_FILE - path of the JSON request body to send; BENCH_AUTHORIZATION - sent as
-- the Authorization header when set (scenario (e): "Bearer <a reader's access token>").

local path = os.getenv("BENCH_BODY_FILE")
if path == nil then
  error("BENCH_BODY_FILE is not set")
end
local file = assert(io.open(path, "rb"))
local body = file:read("*a")
file:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization ~= nil and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end

-- Per-thread counters (each wrk thread runs its own Lua state).
non_200 = 0
graphql_errors = 0
responses = 0
cache_hits = 0
first_error = ""

function response(status, headers, response_body)
  responses = responses + 1
  if headers["x-quire-cache"] == "hit" then
    cache_hits = cache_hits + 1
  end
  local failed = false
  if status ~= 200 then
    non_200 = non_200 + 1
    failed = true
  elseif string.find(response_body, '"errors"', 1, true) then
    graphql_errors = graphql_errors + 1
    failed = true
  end
  if failed and first_error == "" then
    first_error = "HTTP " .. status .. ": " .. string.sub(response_body or "", 1, 600)
  end
end

local function json_string(text)
  text = string.gsub(text, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. text .. '"'
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local total_non_200, total_errors, total_responses, total_hits, sample = 0, 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    total_hits = total_hits + thread:get("cache_hits")
    total_non_200 = total_non_200 + thread:get("non_200")
    total_errors = total_errors + thread:get("graphql_errors")
    total_responses = total_responses + thread:get("responses")
    if sample == "" then
      sample = thread:get("first_error")
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "responses": %d, "cache_hits": %d, "duration_us": %d, '
      .. '"latency_p50_us": %d, "latency_p90_us": %d, "latency_p99_us": %d, '
      .. '"latency_max_us": %d, "latency_mean_us": %.1f, '
      .. '"non_200": %d, "graphql_errors": %d, "first_error": %s, '
      .. '"socket_errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, total_responses, total_hits, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean,
    total_non_200, total_errors, json_string(sample),
    e.connect, e.read, e.write, e.status, e.timeout
  ))
end
