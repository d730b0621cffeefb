-- Shared by get.lua and post.lua: at the end of a wrk run, print one line
--   BENCH_JSON {...}
-- with requests/s, latency percentiles (µs, as wrk measures them) and every error count,
-- so run.sh parses the same thing for every server and case. wrk counts a response with
-- status >= 400 in errors.status; socket errors are in connect/read/write/timeout.
function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,"bytes":%d,' ..
    '"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,"lat_max_us":%d,"lat_mean_us":%.1f,' ..
    '"non2xx":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_timeout":%d}\n',
    summary.requests, seconds, summary.requests / seconds, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, e.status, e.connect, e.read, e.write, e.timeout))
end
