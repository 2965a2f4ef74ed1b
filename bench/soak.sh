#!/usr/bin/env bash
# Soak: at least CALLS echo calls through /centrifugo/rpc from 10,000 users, every reply
# checked by bench/echo.lua (HTTP 200 with the echo `result`; RPC errors are HTTP 200 too, so
# the status alone proves nothing), socket errors counted. Reports the host's RSS at the start
# (after a warm-up) and the end, and per round the calls, req/s and failures. The last line
# starts with `soak: PASS` or `soak: FAIL`; any bad reply or socket error (warm-up included) is a
# FAIL and exit status 1.
# Usage: bench/soak.sh [calls, default 1000000] [--no-build]
#   SOAK_ROUND=10s  the length of one wrk run (the smoke run uses 1s)
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=1000000; BUILD=1
for arg in "$@"; do
  case $arg in
    --no-build) BUILD=0 ;;
    [0-9]*) CALLS=$arg ;;
    *) echo "usage: bench/soak.sh [calls] [--no-build]" >&2; exit 2 ;;
  esac
done
ROUND=${SOAK_ROUND:-10s}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
source bench/lib.sh
clear_env
if [ "$BUILD" = 1 ]; then
  cargo build --release --workspace --bins
  make -s plugins >/dev/null
fi
dir=$(mktemp -d); cp plugins/echo.wasm "$dir/"
PORT=$(free_port)
secret=soak-bench-secret-0123456789abcdef
PLUGHOST_PROXY_SECRET=$secret PLUGHOST_CACHE_DIR="$dir/cache" target/release/plughost serve --plugins "$dir" --listen 127.0.0.1:$PORT 2>"$dir/host.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz" || { echo "soak: FAIL: the host did not start" >&2; tail -20 "$dir/host.log" >&2; exit 1; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
field() { sed -n "s/.*[ (]$1=\([0-9.]*\).*/\1/p" <<<"$2" | head -1; }
run() { # seconds: one checked wrk run; prints its `checked:` line and any bad replies
  USERS=10000 wrk -t2 -c50 -d"$1" -H "X-Plughost-Secret: $secret" -s bench/echo.lua "http://127.0.0.1:$PORT" \
    | grep -a -E '^(checked:|  bad reply:)' || { echo "soak: FAIL: wrk printed no summary" >&2; return 1; }
}
# Warm up so the start figure includes the pool slots and connections a busy host holds.
out=$(run 2s)
failed=$(( $(field bad_replies "$out") + $(field socket_errors "$out") ))
[ "$failed" -gt 0 ] && { echo "  warm-up: $out"; }
start=$(rss); total=0; rounds=0
while [ "$total" -lt "$CALLS" ]; do
  out=$(run "$ROUND")
  n=$(field requests "$out"); bad=$(field bad_replies "$out"); sock=$(field socket_errors "$out")
  total=$((total + n)); failed=$((failed + bad + sock)); rounds=$((rounds + 1))
  echo "  after $total calls: $(field rps "$out") req/s, bad replies $bad, socket errors $sock; RSS $(rss) KiB"
  grep -a 'bad reply' <<<"$out" || true
done
kill -0 $pid 2>/dev/null || { echo "soak: FAIL: the host exited"; exit 1; }
verdict=PASS; [ "$failed" -gt 0 ] && verdict=FAIL
echo "soak: $verdict: $total calls in $rounds rounds, $failed failed (bad replies and socket errors, warm-up included); RSS start $start KiB, end $(rss) KiB"
[ "$verdict" = PASS ]
