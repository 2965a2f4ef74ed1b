#!/usr/bin/env bash
# Soak: at least 1,000,000 echo calls through /centrifugo/rpc (10,000 users), reporting the
# host's RSS at the start and the end, and how many calls failed.
# Usage: bench/soak.sh [calls, default 1000000]
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${1:-1000000}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
cargo build --release -p plughost --bin plughost >/dev/null
make -s plugins >/dev/null
dir=$(mktemp -d); cp plugins/echo.wasm "$dir/"
PORT=18095
target/release/plughost serve --plugins "$dir" --listen 127.0.0.1:$PORT 2>"$dir/host.log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
# Warm up so the start figure includes the pool slots and connections a busy host holds.
USERS=10000 wrk -t2 -c50 -d2s -s bench/echo.lua "http://127.0.0.1:$PORT" >/dev/null
start=$(rss); total=0; failed=0; rounds=0
while [ "$total" -lt "$CALLS" ]; do
  out=$(USERS=10000 wrk -t2 -c50 -d10s -s bench/echo.lua "http://127.0.0.1:$PORT")
  total=$((total + $(awk '/requests in/ {print $1}' <<<"$out")))
  failed=$((failed + $(awk '/Non-2xx/ {print $5}' <<<"$out" | tr -d ' ' || echo 0) + 0))
  rounds=$((rounds + 1))
  echo "  after $total calls: RSS $(rss) KiB"
done
echo "soak: $total calls in $rounds rounds, non-2xx $failed; RSS start $start KiB, end $(rss) KiB"
