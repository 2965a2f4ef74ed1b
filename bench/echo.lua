-- wrk script: Centrifugo's RPC proxy request for the echo method.
-- USERS=1 sends every call as one user; USERS=10000 spreads calls over 10,000 users.
local users = tonumber(os.getenv("USERS") or "1")
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  local user = "user-" .. (n % users)
  local body = '{"client":"9336a229-2400-4ebc-8c50-0a643d22e8a0","transport":"websocket","protocol":"json","encoding":"json","user":"'
    .. user .. '","method":"echo","data":{"session_id":"abc-123","data":"bHMgLWxhCg=="}}'
  return wrk.format(nil, "/centrifugo/rpc", nil, body)
end
