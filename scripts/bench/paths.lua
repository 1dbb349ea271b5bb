-- wrk script for `make bench`: each request takes the next path of the file named by the
-- environment variable BENCH_PATHS (one per line; each thread starts at its own offset),
-- so that tracking tokens vary per request; done() prints one line "BENCH {json}".
local paths = {}
local idx = 0
-- A browser's User-Agent: without one every event would be recorded as a bot's.
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"

function init(args)
  local f = io.open(os.getenv("BENCH_PATHS") or "", "r")
  if f then
    for line in f:lines() do
      if #line > 0 then paths[#paths + 1] = line end
    end
    f:close()
  end
  if #paths > 0 then idx = math.random(0, #paths - 1) end
end

function request()
  if #paths == 0 then return wrk.format(nil) end
  idx = idx % #paths + 1
  return wrk.format(nil, paths[idx])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"non_2xx_3xx":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
