#!/usr/bin/env bash
# Two plughost builds side by side in one sitting, the same wrk settings against each:
# wrk -t2 -c50 with bench/ab.lua (every reply checked) on the echo plugin, ROUNDS rounds
# alternating A and B. Prints req/s, p99, bad replies and socket errors per round, and the
# B/A ratio of the medians.
# Usage: bench/ab.sh OLD_PLUGHOST NEW_PLUGHOST [duration, default 8s] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1; B=$2; DURATION=${3:-8s}; ROUNDS=${4:-3}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
dir=$(mktemp -d)
cp plugins/echo.wasm "$dir/"
secret=ab-bench-secret-0123456789
start() { # binary port
  PLUGHOST_PROXY_SECRET=$secret PLUGHOST_CACHE_DIR="$dir/cache-$2" "$1" serve --plugins "$dir" --listen "127.0.0.1:$2" >"$dir/host-$2.log" 2>&1 &
  echo $!
}
pa=$(start "$A" 18093); pb=$(start "$B" 18094)
trap 'kill $pa $pb 2>/dev/null; rm -rf "$dir"' EXIT
for port in 18093 18094; do
  for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
done
run() { # name port
  local out
  out=$(wrk -t2 -c50 -d"$DURATION" --latency -H "X-Plughost-Secret: $secret" -s bench/ab.lua "http://127.0.0.1:$2/centrifugo/rpc")
  local rps p99 counts
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  counts=$(grep bad_replies <<<"$out")
  printf '%-2s %10s req/s  p99 %-8s %s\n' "$1" "$rps" "$p99" "$counts"
  echo "$rps" >> "$dir/$1"
}
for _ in $(seq 1 "$ROUNDS"); do run A 18093; run B 18094; done
python3 - "$dir/A" "$dir/B" <<'PY'
import statistics, sys
a, b = (statistics.median(float(x) for x in open(p)) for p in sys.argv[1:3])
print(f"median A {a:.0f} req/s, median B {b:.0f} req/s, B/A {b/a:.3f}")
PY
