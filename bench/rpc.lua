-- wrk script: Centrifugo's RPC proxy request for any method, with every reply checked.
--
--   RPC_METHOD   the method (required), e.g. chat.send
--   RPC_DATA     its params as JSON (default {})
--   RPC_EXPECT   text a good reply's body must contain (plain substring; default: none)
--   RPC_USER     the caller's user id (default 42; chat.send refuses anonymous callers)
--   RPC_PATH     the proxy path (default /centrifugo/rpc)
--
-- A reply counts as good only when it is HTTP 200, carries a `result`, contains RPC_EXPECT and
-- has no `error` (RPC errors are HTTP 200 with an `error` object). At the end it prints one
-- line in bench/echo.lua's format,
--
--   checked: requests=N good=N bad_replies=N socket_errors=N (connect=.. read=.. write=.. timeout=..) rps=.. p50_us=.. p99_us=..
--
-- followed by up to three bad replies. Any bad reply or socket error is a failed run.
local method = os.getenv("RPC_METHOD") or error("RPC_METHOD is not set")
local data = os.getenv("RPC_DATA") or "{}"
local expect = os.getenv("RPC_EXPECT") or ""
local user = os.getenv("RPC_USER") or "42"
local path = os.getenv("RPC_PATH") or "/centrifugo/rpc"
bad = 0          -- globals: done() reads them from each thread with thread:get
samples = {}

wrk.method = "POST"
wrk.path = path
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"client":"9336a229-2400-4ebc-8c50-0a643d22e8a0","transport":"websocket","protocol":"json","encoding":"json","user":"'
  .. user .. '","method":"' .. method .. '","data":' .. data .. '}'

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

local function good(status, body)
  return status == 200
    and body ~= nil
    and string.find(body, '^%s*{%s*"result"') ~= nil
    and string.find(body, expect, 1, true) ~= nil
    and string.find(body, '"error"', 1, true) == nil
end

response = function(status, headers, body)
  if not good(status, body) then
    bad = bad + 1
    if #samples < 3 then
      local text = string.gsub(string.sub(body or "", 1, 300), "%s+", " ")
      table.insert(samples, "HTTP " .. status .. " " .. text)
    end
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  local shown = {}
  for _, t in ipairs(threads) do
    total_bad = total_bad + (t:get("bad") or 0)
    local s = t:get("samples")
    if s then
      for i = 1, #s do
        if #shown < 3 then table.insert(shown, s[i]) end
      end
    end
  end
  local e = summary.errors
  local socket = e.connect + e.read + e.write + e.timeout
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "checked: requests=%d good=%d bad_replies=%d socket_errors=%d (connect=%d read=%d write=%d timeout=%d) rps=%.0f p50_us=%d p99_us=%d\n",
    summary.requests, summary.requests - total_bad, total_bad, socket, e.connect, e.read, e.write, e.timeout,
    summary.requests / seconds, latency:percentile(50), latency:percentile(99)))
  for _, s in ipairs(shown) do
    io.write("  bad reply: " .. s .. "\n")
  end
end
