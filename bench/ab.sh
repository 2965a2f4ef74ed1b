#!/usr/bin/env bash
# Two plughost builds side by side in one sitting, the same wrk settings against each:
# wrk -t2 -c50 with bench/echo.lua (every reply checked) on the echo plugin, ROUNDS rounds
# alternating A and B. Prints req/s, p99, bad replies and socket errors per round, and the
# B/A ratio of the medians. The last line starts with `ab: PASS` or `ab: FAIL`; any bad reply
# or socket error is a FAIL and exit status 1.
# Usage: bench/ab.sh OLD_PLUGHOST NEW_PLUGHOST [duration, default 8s] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1; B=$2; DURATION=${3:-8s}; ROUNDS=${4:-3}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
source bench/lib.sh
clear_env
dir=$(mktemp -d)
cp plugins/echo.wasm "$dir/"
secret=ab-bench-secret-0123456789
start() { # binary port
  PLUGHOST_PROXY_SECRET=$secret PLUGHOST_CACHE_DIR="$dir/cache-$2" "$1" serve --plugins "$dir" --listen "127.0.0.1:$2" >"$dir/host-$2.log" 2>&1 &
  echo $!
}
port_a=$(free_port); port_b=$(free_port)
pa=$(start "$A" "$port_a"); pb=$(start "$B" "$port_b")
trap 'kill $pa $pb 2>/dev/null; rm -rf "$dir"' EXIT
for port in $port_a $port_b; do
  for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
done
field() { sed -n "s/.*[ (]$1=\([0-9.]*\).*/\1/p" <<<"$2" | head -1; }
failed=0
run() { # name port
  local out rps p99
  out=$(wrk -t2 -c50 -d"$DURATION" --latency -H "X-Plughost-Secret: $secret" -s bench/echo.lua "http://127.0.0.1:$2" \
    | grep -a -E '^(checked:|  bad reply:)') || { echo "ab: FAIL: wrk printed no summary for $1" >&2; exit 1; }
  rps=$(field rps "$out"); p99=$(field p99_us "$out")
  local bad sock; bad=$(field bad_replies "$out"); sock=$(field socket_errors "$out")
  failed=$((failed + bad + sock))
  printf '%-2s %10s req/s  p99 %6.2f ms  bad replies %s, socket errors %s\n' "$1" "$rps" "$(awk "BEGIN {print $p99/1000}")" "$bad" "$sock"
  grep -a 'bad reply' <<<"$out" || true
  echo "$rps" >> "$dir/$1"
}
for _ in $(seq 1 "$ROUNDS"); do run A "$port_a"; run B "$port_b"; done
python3 - "$dir/A" "$dir/B" "$failed" <<'PY'
import statistics, sys
a, b = (statistics.median(float(x) for x in open(p)) for p in sys.argv[1:3])
failed = int(sys.argv[3])
verdict = "FAIL" if failed else "PASS"
print(f"ab: {verdict}: median A {a:.0f} req/s, median B {b:.0f} req/s, B/A {b/a:.3f}; {failed} failed replies or socket errors")
sys.exit(1 if failed else 0)
PY
