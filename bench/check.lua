-- wrk script of bench/run: sends one request over and over (through a forward proxy when
-- BENCH_PATH is an absolute URL) and checks every response.
--
-- Environment:
--   BENCH_PATH    request target: "/1k" (direct) or "http://127.0.0.2/1k" (proxy)
--   BENCH_HOST    Host header ("" keeps wrk's)
--   BENCH_STATUS  the status every response must have (200, or 403 for denials)
--   BENCH_LENGTH  the body length every response must have; -1 skips the check
--
-- done() prints one line "BENCH_JSON {...}" with wrk's summary, the latency percentiles
-- and the counts of wrong statuses and wrong body lengths, summed over the threads.

local path = os.getenv("BENCH_PATH") or "/"
local host = os.getenv("BENCH_HOST") or ""
local want_status = tonumber(os.getenv("BENCH_STATUS") or "200")
local want_length = tonumber(os.getenv("BENCH_LENGTH") or "-1")

wrk.path = path
if host ~= "" then
  wrk.headers["Host"] = host
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  responses = 0
  bad_status = 0
  bad_length = 0
  last_bad_status = 0
  last_bad_length = -1
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= want_status then
    bad_status = bad_status + 1
    last_bad_status = status
  end
  if want_length >= 0 and #body ~= want_length then
    bad_length = bad_length + 1
    last_bad_length = #body
  end
end

function done(summary, latency, requests)
  local r, bs, bl, lbs, lbl = 0, 0, 0, 0, -1
  for _, t in ipairs(threads) do
    r = r + (t:get("responses") or 0)
    bs = bs + (t:get("bad_status") or 0)
    bl = bl + (t:get("bad_length") or 0)
    local s = t:get("last_bad_status") or 0
    if s ~= 0 then lbs = s end
    local l = t:get("last_bad_length") or -1
    if l >= 0 then lbl = l end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
    '"responses":%d,"bad_status":%d,"bad_length":%d,"last_bad_status":%d,"last_bad_length":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    r, bs, bl, lbs, lbl,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
