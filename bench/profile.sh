#!/usr/bin/env bash
# Where a proxied echo call spends the host's CPU: `plughost serve` with plugins/echo.wasm under
# the checked echo load (wrk -t2 -c50, bench/echo.lua, every reply checked), sampled by
# `perf record` with DWARF call graphs, drawn as a flamegraph (inferno) and summarised in
# buckets (bench/profile_summary.py): kernel socket work, HTTP, the plugin's store setup,
# instantiation, guest code, teardown, and the top functions by self time.
#
# Usage: bench/profile.sh [SECONDS, default 5] [--policy fresh|per-user] [--users N] [--no-build] [--out FILE.svg]
#   writes FILE.svg (default bench/profile/echo-<policy>-<users>u.svg) and prints the summary.
#   The last line is `profile: PASS ...` or `profile: FAIL ...` (a bad reply, or no samples).
# Needs perf (Debian: linux-perf) and root or kernel.perf_event_paranoid <= 1; inferno is
# installed on first use into .tools/ (git-ignored). Guest code is JIT-compiled and shows as
# `[perf-PID.map]` (wasmtime is built without its profiling feature).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_=5; POLICY=fresh; USERS=1; BUILD=1; OUT=""
while [ $# -gt 0 ]; do
  case $1 in
    --policy) POLICY=$2; shift ;;
    --users) USERS=$2; shift ;;
    --no-build) BUILD=0 ;;
    --out) OUT=$2; shift ;;
    [0-9]*) SECONDS_=${1%s} ;;
    *) echo "usage: bench/profile.sh [SECONDS] [--policy fresh|per-user] [--users N] [--no-build] [--out FILE.svg]" >&2; exit 2 ;;
  esac
  shift
done
case $POLICY in fresh|per-user) ;; *) echo "profile: --policy is fresh or per-user" >&2; exit 2 ;; esac
OUT=${OUT:-bench/profile/echo-$POLICY-${USERS}u.svg}
for tool in perf wrk curl python3; do
  command -v $tool >/dev/null || { echo "profile: $tool is needed (apt-get install -y linux-perf wrk curl)" >&2; exit 1; }
done
perf record -q -e cpu-clock -o /dev/null -- true 2>/dev/null \
  || { echo "profile: perf cannot sample here (run as root or lower kernel.perf_event_paranoid)" >&2; exit 1; }
INFERNO=.tools/bin
if [ ! -x $INFERNO/inferno-flamegraph ]; then
  cargo install inferno@0.12.8 --locked --root .tools --no-default-features --features cli
fi
if [ "$BUILD" = 1 ]; then
  cargo build --release -p plughost --bin plughost
  make -s plugins >/dev/null
fi
for f in target/release/plughost plugins/echo.wasm; do
  [ -e "$f" ] || { echo "profile: $f is missing (run without --no-build)" >&2; exit 1; }
done
source bench/lib.sh
clear_env

dir=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; [ -n "${PROFILE_KEEP:-}" ] && cp "$dir/folded" "$PROFILE_KEEP"; rm -rf "$dir"; }
trap cleanup EXIT
mkdir -p "$dir/plugins"
cp plugins/echo.wasm "$dir/plugins/"
[ "$POLICY" = per-user ] && printf '[limits]\ninstances = "per-user"\n' > "$dir/plugins/echo.toml"
secret=profile-bench-secret-0123456789abcdef
port=$(free_port)
body='{"client":"c1","transport":"websocket","protocol":"json","encoding":"json","user":"42","method":"echo","data":{"session_id":"abc-123","data":"bHMgLWxhCg=="}}'

PLUGHOST_PROXY_SECRET=$secret PLUGHOST_CACHE_DIR="$dir/cache" \
  target/release/plughost serve --plugins "$dir/plugins" --listen "127.0.0.1:$port" >"$dir/host.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
  curl -s -m 2 -H 'Content-Type: application/json' -H "X-Plughost-Secret: $secret" -d "$body" \
    "http://127.0.0.1:$port/centrifugo/rpc" | grep -q '"echoed"' && break
  kill -0 "$server" 2>/dev/null || { echo "profile: plughost exited at startup:" >&2; tail -20 "$dir/host.log" >&2; exit 1; }
  sleep 0.1
done

echo "profile: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- host || echo ' + uncommitted host changes'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  plughost serve, echo, instances $POLICY, $USERS user(s); wrk -t2 -c50 -s bench/echo.lua for $((SECONDS_ + 2)) s,"
echo "  perf record -F 997 --call-graph dwarf,16384 on the host for the middle $SECONDS_ s"
USERS=$USERS wrk -t2 -c50 -d"$((SECONDS_ + 2))"s -H "X-Plughost-Secret: $secret" -s bench/echo.lua \
  "http://127.0.0.1:$port" >"$dir/wrk.out" 2>&1 &
wrk=$!
sleep 1
perf record -q -F 997 --call-graph dwarf,16384 -p "$server" -o "$dir/perf.data" -- sleep "$SECONDS_" 2>"$dir/perf.err" || true
wait $wrk || true
checked=$(grep -a '^checked:' "$dir/wrk.out" || true)
echo "  $checked"

perf script -i "$dir/perf.data" 2>/dev/null | $INFERNO/inferno-collapse-perf > "$dir/folded"
mkdir -p "$(dirname "$OUT")"
$INFERNO/inferno-flamegraph --title "plughost echo, instances $POLICY, $USERS user(s) (bench/profile.sh)" \
  --width 1600 --minwidth 1 < "$dir/folded" > "$OUT"
python3 bench/profile_summary.py "$dir/folded" 20
echo "  flamegraph: $OUT"

bad=$(sed -n 's/.*bad_replies=\([0-9]*\).*/\1/p' <<<"$checked"); sock=$(sed -n 's/.*socket_errors=\([0-9]*\).*/\1/p' <<<"$checked")
if [ -z "$checked" ] || [ "${bad:-1}" != 0 ] || [ "${sock:-1}" != 0 ] || [ ! -s "$dir/folded" ]; then
  echo "profile: FAIL (bad replies ${bad:-?}, socket errors ${sock:-?}, $(wc -l < "$dir/folded") stacks)"
  exit 1
fi
echo "profile: PASS (bad replies 0, socket errors 0, $(wc -l < "$dir/folded") distinct stacks)"
