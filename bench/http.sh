#!/usr/bin/env bash
# HTTP benchmark, side by side in one run: wrk -t2 -c50 against plughost with the echo
# plugin and against a native axum route returning the same JSON, for 1 user and 10,000 users.
# Usage: bench/http.sh [duration, default 10s]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10s}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
cargo build --release -p plughost --bin plughost --example native_echo >/dev/null
make -s plugins >/dev/null

dir=$(mktemp -d)
cp plugins/echo.wasm "$dir/"
# ECHO_MANIFEST, e.g. '[limits]\ninstances = "per-user"', benchmarks another instance policy.
[ -n "${ECHO_MANIFEST:-}" ] && printf '%b\n' "$ECHO_MANIFEST" > "$dir/echo.toml"
PH_PORT=18090; NATIVE_PORT=18091
target/release/plughost serve --plugins "$dir" --listen 127.0.0.1:$PH_PORT 2>"$dir/host.log" &
ph=$!
target/release/examples/native_echo 127.0.0.1:$NATIVE_PORT &
native=$!
trap 'kill $ph $native 2>/dev/null; rm -rf "$dir"' EXIT
for port in $PH_PORT $NATIVE_PORT; do
  for _ in $(seq 1 100); do curl -fs -o /dev/null -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$port/centrifugo/rpc" && break; sleep 0.1; done
done
curl -s -H 'Content-Type: application/json' -d '{"method":"echo","data":{"session_id":"abc-123","data":"bHMgLWxhCg=="}}' http://127.0.0.1:$PH_PORT/centrifugo/rpc; echo
curl -s -H 'Content-Type: application/json' -d '{"method":"echo","data":{"session_id":"abc-123","data":"bHMgLWxhCg=="}}' http://127.0.0.1:$NATIVE_PORT/centrifugo/rpc; echo

run() { # name port users
  local out rps p99
  out=$(USERS=$3 wrk -t2 -c50 -d"$DURATION" --latency -s bench/echo.lua "http://127.0.0.1:$2")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  local errors; errors=$(awk '/Non-2xx|Socket errors/' <<<"$out")
  printf '%-8s users=%-6s %10s req/s  p99 %-8s %s\n' "$1" "$3" "$rps" "$p99" "$errors"
  echo "$rps" > "$dir/$1-$3"
}
for users in 1 10000; do
  run native $NATIVE_PORT $users
  run plughost $PH_PORT $users
  python3 -c "import sys; print(f'  ratio plughost/native: {float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$(cat "$dir/plughost-$users")" "$(cat "$dir/native-$users")"
done
