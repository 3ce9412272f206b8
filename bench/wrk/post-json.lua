-- wrk script: POST the JSON body in WRK_BODY to the URL given on the command line, and print
-- a one-line JSON summary when done (the harness parses it).
--   WRK_BODY='{"type":"page_view","visitor_id":"v"}' wrk -t1 -c32 -d10s -s post-json.lua http://127.0.0.1:8080/events
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY") or "{}"
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"duration_us":%d,"requests":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
