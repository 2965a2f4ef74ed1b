-- wrk script: Centrifugo's RPC proxy request for the echo method, with every reply checked.
--
--   USERS=1      every call as one user (default); USERS=10000 spreads calls over 10,000 users
--   RPC_PATH     the proxy path (default /centrifugo/rpc; django-cfg serves /centrifugo/rpc/)
--   RPC_METHOD   the method (default echo; pyecho.echo and jsecho.echo are the Python and
--                JavaScript plugins' echo): any method taking {session_id, data} and returning
--                {session_id, data, echoed: true}, the reply checked below
--
-- A reply counts as good only when it is HTTP 200 and carries a `result` whose data is the
-- echo of what was sent ({"session_id":"abc-123","data":"bHMgLWxhCg==","echoed":true}, with
-- or without spaces, in any key order) and no `error`. RPC errors are HTTP 200 with an `error`
-- object, so the status alone proves nothing. At the end it prints one line,
--
--   checked: requests=N good=N bad_replies=N socket_errors=N (connect=.. read=.. write=.. timeout=..) rps=.. p50_us=.. p99_us=..
--
-- followed by up to three bad replies (status and the start of the body). Scripts that run
-- wrk read that line; any bad reply or socket error is a failed run.
-- The reply counting and the `checked:` line (bench/checked.lua, beside this script).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "checked.lua")
local users = tonumber(os.getenv("USERS") or "1")
local path = os.getenv("RPC_PATH") or "/centrifugo/rpc"
local method = os.getenv("RPC_METHOD") or "echo"
local n = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"


request = function()
  n = n + 1
  local user = "user-" .. (n % users)
  local body = '{"client":"9336a229-2400-4ebc-8c50-0a643d22e8a0","transport":"websocket","protocol":"json","encoding":"json","user":"'
    .. user .. '","method":"' .. method .. '","data":{"session_id":"abc-123","data":"bHMgLWxhCg=="}}'
  return wrk.format(nil, path, nil, body)
end

local function good(status, body)
  return status == 200
    and body ~= nil
    and string.find(body, '^%s*{%s*"result"%s*:%s*{%s*"data"%s*:%s*{') ~= nil
    and string.find(body, '"session_id"%s*:%s*"abc%-123"') ~= nil
    and string.find(body, '"data"%s*:%s*"bHMgLWxhCg=="') ~= nil
    and string.find(body, '"echoed"%s*:%s*true') ~= nil
    and string.find(body, '"error"', 1, true) == nil
end

-- Counting and the summary line are shared with the other wrk scripts.
checked_replies(good)
