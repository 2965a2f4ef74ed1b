-- What every wrk script of bench/ shares: each reply judged by the script's `good(status,
-- body)`, bad ones counted (with up to three samples), and one summary line at the end,
--
--   checked: requests=N good=N bad_replies=N socket_errors=N (connect=.. read=.. write=.. timeout=..) rps=.. p50_us=.. p99_us=..
--
-- which the bench scripts read; any bad reply or socket error is a failed run.
bad = 0          -- globals: done() reads them from each thread with thread:get
samples = {}

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

-- Installs wrk's `response` hook judging each reply with `good`.
function checked_replies(good)
  response = function(status, headers, body)
    if not good(status, body) then
      bad = bad + 1
      if #samples < 3 then
        local text = string.gsub(string.sub(body or "", 1, 300), "%s+", " ")
        table.insert(samples, "HTTP " .. status .. " " .. text)
      end
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
