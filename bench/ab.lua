-- wrk script for bench/ab.sh: POSTs one echo call and counts every reply that is not an
-- HTTP 200 with the echo result (RPC errors come back as HTTP 200 with an `error` object).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"client":"c","user":"u","method":"echo","data":{"session_id":"abc-123","data":"bHMgLWxhCg=="}}'

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"echoed":true', 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  local e = summary.errors
  io.write(string.format("bad_replies=%d socket_errors=%d requests=%d\n", total,
    e.connect + e.read + e.write + e.timeout, summary.requests))
end
