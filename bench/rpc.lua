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
-- The reply counting and the `checked:` line (bench/checked.lua, beside this script).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "checked.lua")
local method = os.getenv("RPC_METHOD") or error("RPC_METHOD is not set")
local data = os.getenv("RPC_DATA") or "{}"
local expect = os.getenv("RPC_EXPECT") or ""
local user = os.getenv("RPC_USER") or "42"
local path = os.getenv("RPC_PATH") or "/centrifugo/rpc"

wrk.method = "POST"
wrk.path = path
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"client":"9336a229-2400-4ebc-8c50-0a643d22e8a0","transport":"websocket","protocol":"json","encoding":"json","user":"'
  .. user .. '","method":"' .. method .. '","data":' .. data .. '}'


local function good(status, body)
  return status == 200
    and body ~= nil
    and string.find(body, '^%s*{%s*"result"') ~= nil
    and string.find(body, expect, 1, true) ~= nil
    and string.find(body, '"error"', 1, true) == nil
end

-- Counting and the summary line are shared with the other wrk scripts.
checked_replies(good)
