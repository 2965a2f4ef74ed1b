#!/usr/bin/env bash
# The key-value capability against echo, in one sitting: over HTTP (wrk) and in process
# (criterion, host/benches/kv.rs).
#
# Starts everything it needs itself, on free loopback ports, and stops it at the end:
#   redis-server        Debian's, no persistence (--save '' --appendonly no), this run only
#   Centrifugo          .tools/bin/centrifugo with the config `plughost centrifugo-config` makes
#                       (chat.send publishes to chat#<room> through its HTTP API)
#   plughost embedded   plugins echo, chat (+plugins/chat.toml), kvprobe (+a manifest granting
#                       kv, bucket `data`); the embedded store in a temp state dir
#   plughost redis      the same plugins with PLUGHOST_KV_BACKEND=redis on that Redis
# Then, with the same wrk settings (wrk -t2 -c50 --latency, bench/rpc.lua checking every reply;
# a 2 s checked warm-up before each row), on each host:
#   echo                       the baseline
#   kvprobe.get                one KV get of a 64-byte value per call
#   chat.send                  increment + set + delete in KV, publish to Centrifugo
# and prints a table (req/s, p50, p99, failures, ratio to echo on that host). Finally it runs
# `cargo bench -p plughost --bench kv` against the same Redis and Centrifugo for µs per call in
# process. Any bad reply or socket error (warm-ups included) or failed in-process call is a
# FAIL: the last line is `kv: PASS` or `kv: FAIL` and the exit status 1 on FAIL.
#
# Usage: bench/kv.sh [SECONDS, default 8] [--no-build] [--no-criterion]
#   WARMUP=S            warm-up seconds per row (default 2)
#   CRITERION_ARGS      passed to criterion (default "--warm-up-time 2 --measurement-time 5")
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=8; BUILD=1; CRITERION=1; WARMUP=${WARMUP:-2}
CRITERION_ARGS=${CRITERION_ARGS:---warm-up-time 2 --measurement-time 5}
for arg in "$@"; do
  case $arg in
    --no-build) BUILD=0 ;;
    --no-criterion) CRITERION=0 ;;
    [0-9]*) DURATION=${arg%s} ;;
    *) echo "usage: bench/kv.sh [SECONDS] [--no-build] [--no-criterion]" >&2; exit 2 ;;
  esac
done
for tool in wrk curl python3 redis-server redis-cli; do
  command -v $tool >/dev/null || { echo "kv: $tool is needed (apt-get install -y wrk redis-server)" >&2; exit 1; }
done
source bench/lib.sh
clear_env BENCH

if [ "$BUILD" = 1 ]; then
  cargo build --release --workspace --bins
  make -s plugins test-plugins >/dev/null
fi
for f in target/release/plughost .tools/bin/centrifugo plugins/echo.wasm plugins/chat.wasm plugins/chat.toml tests/plugins/kvprobe.wasm; do
  [ -e "$f" ] || { echo "kv: $f is missing (run without --no-build, or make host plugins test-plugins tools)" >&2; exit 1; }
done

dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
umask 077

load() { cut -d' ' -f1-3 /proc/loadavg; }
machine() {
  local cpu; cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($cpu), $(uname -sr); commit $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
}
secret() { head -c 24 /dev/urandom | base64 | tr -d '/+='; }
# wait_for NAME PID CMD...: until CMD succeeds (10 s), or fail with NAME's log.
wait_for() {
  local name=$1 pid=$2; shift 2
  for _ in $(seq 1 100); do
    "$@" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "kv: $name did not start; log:" >&2; tail -20 "$dir/$name.log" >&2; exit 1
}

# The plugins both hosts serve.
mkdir -p "$dir/plugins"
cp plugins/echo.wasm plugins/chat.wasm plugins/chat.toml tests/plugins/kvprobe.wasm "$dir/plugins/"
printf 'grants = ["kv"]\n[kv]\nbuckets = ["data"]\n' > "$dir/plugins/kvprobe.toml"

redis_port=$(free_port); cf_port=$(free_port); emb_port=$(free_port); red_port=$(free_port)
proxy_secret=$(secret); api_key=$(secret); token_secret=$(secret)$(secret)
redis_url="redis://127.0.0.1:$redis_port/0"

redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" > "$dir/redis.log" 2>&1 &
pids+=($!)
wait_for redis $! redis-cli -p "$redis_port" ping

# The hosts' config (Centrifugo's API for chat.send's publish); Centrifugo's own config from it.
cat > "$dir/host.toml" <<TOML
listen = "127.0.0.1:$emb_port"
plugins_dir = "$dir/plugins"
cache_dir = "$dir/cache"
proxy_secret = "$proxy_secret"

[centrifugo]
api_url = "http://127.0.0.1:$cf_port/api"
api_key = "$api_key"
token_secret = "$token_secret"
port = $cf_port
TOML
target/release/plughost centrifugo-config --config "$dir/host.toml" > "$dir/centrifugo.json" 2>"$dir/centrifugo-config.log"
.tools/bin/centrifugo --config "$dir/centrifugo.json" > "$dir/centrifugo.log" 2>&1 &
pids+=($!)
wait_for centrifugo $! curl -fsS -X POST -H "X-API-Key: $api_key" -d '{}' "http://127.0.0.1:$cf_port/api/info"

PLUGHOST_STATE_DIR="$dir/state-embedded" PLUGHOST_KV_BACKEND=embedded \
  target/release/plughost serve --config "$dir/host.toml" --listen "127.0.0.1:$emb_port" > "$dir/embedded.log" 2>&1 &
pids+=($!)
wait_for embedded $! curl -fsS "http://127.0.0.1:$emb_port/healthz"
PLUGHOST_STATE_DIR="$dir/state-redis" PLUGHOST_KV_BACKEND=redis PLUGHOST_KV_REDIS_URL="$redis_url" \
  target/release/plughost serve --config "$dir/host.toml" --listen "127.0.0.1:$red_port" > "$dir/redis-host.log" 2>&1 &
pids+=($!)
wait_for redis-host $! curl -fsS "http://127.0.0.1:$red_port/healthz"

# rpc PORT METHOD DATA: one call through the proxy endpoint; prints the reply.
rpc() {
  curl -s -m 5 -H 'Content-Type: application/json' -H "X-Plughost-Secret: $proxy_secret" \
    -d "{\"client\":\"c1\",\"transport\":\"websocket\",\"protocol\":\"json\",\"encoding\":\"json\",\"user\":\"42\",\"method\":\"$2\",\"data\":$3}" \
    "http://127.0.0.1:$1/centrifugo/rpc"
}
GET='{"bucket":"data","key":"bench"}'
SEND='{"room":"bench","text":"hello from the benchmark"}'
# The value every get reads (64 bytes), and one check of each method before measuring.
for port in $emb_port $red_port; do
  r=$(rpc "$port" kvprobe.set '{"bucket":"data","key":"bench","value":"v","pad":63}')
  case $r in *'"ok":true'*) ;; *) echo "kv: kvprobe.set on :$port failed: $r" >&2; exit 1 ;; esac
  for check in "echo|{\"session_id\":\"abc-123\",\"data\":\"aGk=\"}|\"echoed\":true" "kvprobe.get|$GET|\"len\":64" "chat.send|$SEND|\"id\":"; do
    IFS='|' read -r m d e <<<"$check"
    r=$(rpc "$port" "$m" "$d")
    case $r in *"$e"*) ;; *) echo "kv: $m on :$port failed: $r" >&2; exit 1 ;; esac
  done
done

# wrk_run PORT SECONDS METHOD DATA EXPECT: one checked wrk run; prints its `checked:` line.
wrk_run() {
  RPC_METHOD=$3 RPC_DATA=$4 RPC_EXPECT=$5 wrk -t2 -c50 -d"$2"s --latency -H "X-Plughost-Secret: $proxy_secret" \
    -s bench/rpc.lua "http://127.0.0.1:$1" | grep -a -E '^(checked:|  bad reply:)' \
    || { echo "kv: wrk printed no summary ($3 on :$1)" >&2; return 1; }
}
field() { sed -n "s/.*[ (]$1=\([0-9.]*\).*/\1/p" <<<"$2" | head -1; }
measure() {
  local store=$1 port=$2 row=$3 method=$4 data=$5 expect=$6 warm out
  warm=$(wrk_run "$port" "$WARMUP" "$method" "$data" "$expect")
  out=$(wrk_run "$port" "$DURATION" "$method" "$data" "$expect")
  local wbad=$(( $(field bad_replies "$warm") + $(field socket_errors "$warm") ))
  local bad sock rps p50 p99
  bad=$(field bad_replies "$out"); sock=$(field socket_errors "$out"); rps=$(field rps "$out")
  p50=$(field p50_us "$out"); p99=$(field p99_us "$out")
  printf '  %-9s %-12s %9s req/s  p50 %6.2f ms  p99 %6.2f ms  bad replies %s, socket errors %s, warm-up failures %s%s\n' \
    "$store" "$row" "$rps" "$(awk "BEGIN {print $p50/1000}")" "$(awk "BEGIN {print $p99/1000}")" \
    "$bad" "$sock" "$wbad" "$( [ $((bad + sock + wbad)) -gt 0 ] && echo '  FAIL' || true)"
  grep -a 'bad reply' <<<"$warm$out" | head -3 || true
  echo "$store	$row	$rps	$p50	$p99	$bad	$sock	$wbad" >> "$dir/results"
}

echo "kv: $(machine)"
echo "  wrk -t2 -c50 -d${DURATION}s --latency -s bench/rpc.lua (every reply checked; ${WARMUP}s checked warm-up per row)"
echo "  Redis $(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p'), Centrifugo $(.tools/bin/centrifugo version 2>/dev/null | head -1 | sed 's/^Centrifugo v*//')"
echo "  load average before: $(load); wrk processes: $(pgrep -c wrk || true); rustc processes: $(pgrep -c rustc || true)"
for store in embedded redis; do
  port=$emb_port; [ $store = redis ] && port=$red_port
  measure $store "$port" echo echo '{"session_id":"abc-123","data":"bHMgLWxhCg=="}' '"echoed":true'
  measure $store "$port" kv.get kvprobe.get "$GET" '"len":64'
  measure $store "$port" chat.send chat.send "$SEND" '"id":'
done
echo "  load average after: $(load)"

bench_out=""
if [ "$CRITERION" = 1 ]; then
  echo "kv: in process: cargo bench -p plughost --bench kv -- $CRITERION_ARGS"
  # shellcheck disable=SC2086
  if BENCH_REDIS_URL=$redis_url BENCH_CENTRIFUGO_API_URL="http://127.0.0.1:$cf_port/api" BENCH_CENTRIFUGO_API_KEY=$api_key \
     cargo bench -p plughost --bench kv -- $CRITERION_ARGS > "$dir/criterion.log" 2>&1; then
    bench_out=ok
  else
    bench_out=failed
  fi
  grep -a -E '^(kv/|kv bench:)|time:' "$dir/criterion.log" || true
  [ "$bench_out" = ok ] || { echo "kv: cargo bench failed; its log:" >&2; tail -30 "$dir/criterion.log" >&2; }
  echo "  load average after criterion: $(load)"
fi

table=0
python3 - "$dir/results" "$dir/criterion.log" "$DURATION" <<'PY' || table=$?
import os, re, sys
results, clog, duration = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [l.rstrip("\n").split("\t") for l in open(results)]
us = {}
if os.path.exists(clog):
    text = open(clog, errors="replace").read()
    for name, mid, unit in re.findall(r"kv/(\S+)\s+time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", text):
        scale = {"ns": 1e-3, "µs": 1, "us": 1, "ms": 1e3, "s": 1e6}.get(unit, float("nan"))
        us[name] = float(mid) * scale
key = {"echo": "echo", "kv.get": "kv_get", "chat.send": "chat_send"}
echo_rps = {r[0]: float(r[2]) for r in rows if r[1] == "echo"}
fail = False
print()
print(f"| store | call | req/s over HTTP | p50 | p99 | failures | vs echo (req/s) | µs per call in process |")
print("|---|---|---|---|---|---|---|---|")
for store, row, rps, p50, p99, bad, sock, wbad in rows:
    f = int(bad) + int(sock) + int(wbad)
    fail |= f > 0
    fails = "0" if f == 0 else f"**{f}** ({int(bad) + int(wbad)} bad replies, {sock} socket errors)"
    ratio = "1.00x" if row == "echo" else f"{float(rps) / echo_rps[store]:.2f}x"
    name = "echo" if row == "echo" else f"{key[row]}_{store}"
    m = us.get(name)
    inproc = f"{m:.1f} µs" if m is not None else "-"
    if row == "echo" and store == "redis":
        inproc = "(same as above)" if m is not None else "-"
    print(f"| {store} | {row} | {float(rps):,.0f} | {float(p50)/1000:.2f} ms | {float(p99)/1000:.2f} ms | {fails} | {ratio} | {inproc} |")
sys.exit(1 if fail else 0)
PY
status=PASS
[ "$table" = 0 ] || status=FAIL
[ "$CRITERION" = 0 ] || [ "$bench_out" = ok ] || status=FAIL
echo "kv: $status"
[ "$status" = PASS ]
