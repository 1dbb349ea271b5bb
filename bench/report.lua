-- report.lua: wrk's summary as one JSON line for `make bench` (cmd/adnet/bench_test.go).
--
-- Usage: wrk -t2 -c64 -d10s -s bench/report.lua URL
-- A fixed URL is sent without a request() function, so wrk builds the request once and spends
-- no Lua per request: the ceiling (empty_gif) and the floor are measured as cheaply as wrk can.
-- bench/urls.lua adds a list of URLs on top of this file.

-- done runs once, after every thread has finished. Latencies are in microseconds;
-- errors.status counts answers with a status above 399 (wrk's "Non-2xx or 3xx responses").
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
