#!/usr/bin/env bash
# `make run`: Centrifugo and plughost with the example plugins on loopback; Ctrl-C stops both.
#
# Secrets are generated once into .tools/run/ (git-ignored) and reused, so tokens minted
# with `plughost token --config .tools/run/host.toml` keep working across runs.
# The terminal agent listens on a Unix socket in that folder (0700 folder, 0600 socket) and
# requires the token TERMINAL_TOKEN from secrets.env, which it reads from a 0600 file and the
# host sends with every call. Nothing here prints a secret.
set -euo pipefail
cd "$(dirname "$0")/.."

PLUGHOST=target/release/plughost
CENTRIFUGO=.tools/bin/centrifugo
STATE=${PLUGHOST_RUN_STATE:-.tools/run}
HOST_PORT=${PLUGHOST_PORT:-8080}
CENTRIFUGO_PORT=${CENTRIFUGO_PORT:-8000}
mkdir -p "$STATE"
chmod 700 "$STATE"
STATE_ABS=$(cd "$STATE" && pwd)
AGENT_SOCKET="$STATE_ABS/agent.sock"
# sun_path holds 108 bytes: a deeper checkout needs PLUGHOST_RUN_STATE somewhere shorter.
if [ "${#AGENT_SOCKET}" -gt 100 ]; then
  echo "the agent's socket path is too long for a Unix socket: $AGENT_SOCKET (set PLUGHOST_RUN_STATE)" >&2
  exit 1
fi
# Secrets, and the configs that carry them, are readable by this user only.
umask 077

secret() { head -c 24 /dev/urandom | base64 | tr -d '/+=' ; }
if [ ! -f "$STATE/secrets.env" ]; then
  {
    echo "PROXY_SECRET=$(secret)"
    echo "API_KEY=$(secret)"
    echo "TOKEN_SECRET=$(secret)"
    echo "ADMIN_SECRET=$(secret)"
    echo "TERMINAL_TOKEN=$(secret)"
  } > "$STATE/secrets.env"
fi
# A secrets.env from before the agent took a token gets one added.
grep -q '^TERMINAL_TOKEN=' "$STATE/secrets.env" || echo "TERMINAL_TOKEN=$(secret)" >> "$STATE/secrets.env"
chmod 600 "$STATE/secrets.env"
# shellcheck disable=SC1091
. "$STATE/secrets.env"
# The agent reads its token from a file (0600 under the umask above), not from its command line.
printf '%s\n' "$TERMINAL_TOKEN" > "$STATE/agent.token"
chmod 600 "$STATE/agent.token"

cat > "$STATE/host.toml" <<TOML
listen = "127.0.0.1:$HOST_PORT"
plugins_dir = "plugins"
proxy_secret = "$PROXY_SECRET"
admin_secret = "$ADMIN_SECRET"
# The terminal agent: a Unix socket only this user can reach, and the token it requires.
terminal_endpoint = "unix:$AGENT_SOCKET"
terminal_token = "$TERMINAL_TOKEN"
# The browser terminal at /terminal/, with demo tokens (any user id; loopback only).
web_dir = "web/dist"
demo_tokens = true

[centrifugo]
api_url = "http://127.0.0.1:$CENTRIFUGO_PORT/api"
api_key = "$API_KEY"
token_secret = "$TOKEN_SECRET"
port = $CENTRIFUGO_PORT
TOML

# The page is bundled by npm; build it once if `make web` has not run yet.
if [ ! -f web/dist/index.html ]; then
  make web || echo "warning: could not build the browser terminal (make web); /terminal/ will be empty" >&2
fi

chmod 600 "$STATE/host.toml"
"$PLUGHOST" centrifugo-config --config "$STATE/host.toml" > "$STATE/centrifugo.json"
chmod 600 "$STATE/centrifugo.json"
"$CENTRIFUGO" checkconfig --config "$STATE/centrifugo.json" >/dev/null

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "stopped"
}
trap stop INT TERM EXIT

"$CENTRIFUGO" --config "$STATE/centrifugo.json" > "$STATE/centrifugo.log" 2>&1 &
pids+=($!)
if [ -x target/release/terminal-agent ]; then
  target/release/terminal-agent --listen "unix:$AGENT_SOCKET" --token-file "$STATE/agent.token" > "$STATE/terminal-agent.log" 2>&1 &
  pids+=($!)
fi
"$PLUGHOST" serve --config "$STATE/host.toml" &
pids+=($!)

# The first start compiles every plugin (the Python and JS ones take seconds each); later
# starts load them from the cache.
ready=0
for _ in $(seq 1 900); do
  curl -fsS "http://127.0.0.1:$HOST_PORT/healthz" >/dev/null 2>&1 && { ready=1; break; }
  sleep 0.1
done
[ "$ready" = 1 ] || echo "warning: plughost is not answering /healthz after 90 s" >&2
cat <<MSG

plughost      http://127.0.0.1:$HOST_PORT   (/centrifugo/rpc, /plugins, /healthz)
Terminal      http://127.0.0.1:$HOST_PORT/terminal/   (a browser shell; ?user=NAME picks the demo user)
Centrifugo    ws://127.0.0.1:$CENTRIFUGO_PORT/connection/websocket   (logs: $STATE/centrifugo.log)
Agent         unix:$AGENT_SOCKET   (token required; logs: $STATE/terminal-agent.log)
A token:      $PLUGHOST token --config $STATE/host.toml --user 42
Direct call:  . $STATE/secrets.env && curl -s -H "X-Plughost-Secret: \$PROXY_SECRET" -H 'Content-Type: application/json' -d '{"user":"42","method":"echo","data":{"session_id":"abc-123","data":"aGk="}}' http://127.0.0.1:$HOST_PORT/centrifugo/rpc
Secrets:      $STATE/secrets.env (mode 0600)
Ctrl-C stops everything.
MSG
wait -n "${pids[@]}"
