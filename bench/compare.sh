#!/usr/bin/env bash
# One command, one sitting, one table: the echo RPC over HTTP, Centrifugo's proxy request
# exactly, against every backend with the same wrk settings (wrk -t2 -c50 --latency, SECONDS
# each, bench/echo.lua, which checks every reply):
#
#   native axum      host/examples/native_echo: parses the same request, returns the same JSON
#   plughost fresh   `plughost serve` with plugins/echo.wasm, default instances (a fresh one per call)
#   plughost per-user  the same with `[limits] instances = "per-user"` in echo.toml
#     each of those with every call from 1 user, then spread over 10,000 users
#   pyecho fresh / per-user   plugins/pyecho.wasm (Python, componentize-py), method pyecho.echo,
#   jsecho fresh / per-user   plugins/jsecho.wasm (JavaScript, componentize-js), jsecho.echo:
#     the same echo (same params, same reply, checked the same way), each policy written in its
#     manifest, every call from 1 user (leave them out with --no-polyglot)
#   django-cfg view  django-cfg 1.7.87's RPCProxyView alone in a bare Django   (bench/django.sh)
#   django-cfg full  a django-cfg 1.7.87 project with its default apps and middleware
#     both served by uvicorn with 2 workers; the echo handler is registered with
#     @websocket_rpc("echo") and Pydantic params, and returns plughost's echo reply
#
# Each server runs alone (started for its rows, stopped after); each row gets a warm-up run
# (checked too), then its measured run. Prints the date and machine line, a row per run as it finishes,
# then a Markdown table (req/s, p50, p99, failures, ratio to native and to each django-cfg
# variant, all from this run) and the issue's targets as met / not met. The last line starts
# with `compare: PASS` or `compare: FAIL`; any bad reply or socket error on any row (warm-ups
# included) is a FAIL and exit status 1.
#
# Usage: bench/compare.sh [SECONDS, default 8] [--no-django] [--no-polyglot] [--no-build]
#   --no-django (or COMPARE_DJANGO=0)  leave out the django-cfg rows (the smoke run does)
#   --no-polyglot (or COMPARE_POLYGLOT=0)  leave out the pyecho and jsecho rows (their first
#                                     start compiles 14-19 MB of wasm: about 10 s and 0.5 GB each)
#   --no-build                        use the built target/release/plughost,
#                                     target/release/examples/native_echo and plugins/echo.wasm
#                                     (and plugins/pyecho.wasm, plugins/jsecho.wasm)
#   ROUNDS=N                          run the whole sequence N times; the table shows medians
#   WARMUP=S                          seconds of warm-up before each row (default 2: Django needs
#                                     about 2 s after its start to reach its pace)
# django-cfg is installed on first use into bench/.django/ (git-ignored) by bench/django.sh;
# if that fails the script fails: a django-cfg row is never silently left out.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=8; DJANGO=${COMPARE_DJANGO:-1}; POLYGLOT=${COMPARE_POLYGLOT:-1}; BUILD=1; ROUNDS=${ROUNDS:-1}; WARMUP=${WARMUP:-2}
for arg in "$@"; do
  case $arg in
    --no-django) DJANGO=0 ;;
    --no-polyglot) POLYGLOT=0 ;;
    --no-build) BUILD=0 ;;
    [0-9]*) DURATION=${arg%s} ;;
    *) echo "usage: bench/compare.sh [SECONDS] [--no-django] [--no-polyglot] [--no-build]" >&2; exit 2 ;;
  esac
done
for tool in wrk curl python3; do
  command -v $tool >/dev/null || { echo "compare: $tool is needed (wrk: apt-get install -y wrk)" >&2; exit 1; }
done
source bench/lib.sh
clear_env

if [ "$BUILD" = 1 ]; then
  cargo build --release --workspace --bins
  cargo build --release --workspace --example native_echo
  make -s plugins >/dev/null
fi
polyglot_files=""; [ "$POLYGLOT" = 1 ] && polyglot_files="plugins/pyecho.wasm plugins/jsecho.wasm"
for f in target/release/plughost target/release/examples/native_echo plugins/echo.wasm $polyglot_files; do
  [ -e "$f" ] || { echo "compare: $f is missing (run without --no-build, or make host plugins)" >&2; exit 1; }
done
[ "$DJANGO" = 1 ] && bench/django.sh install

dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/fresh" "$dir/per-user"
cp plugins/echo.wasm "$dir/fresh/"
cp plugins/echo.wasm "$dir/per-user/"
printf '[limits]\ninstances = "per-user"\n' > "$dir/per-user/echo.toml"
# The Python and JavaScript echoes, each alone in its folder, the policy written out (whatever
# the examples' manifests in plugins/ say); no grants, the other limits the host's defaults.
if [ "$POLYGLOT" = 1 ]; then
  for lang in py js; do
    for policy in fresh per-user; do
      mkdir -p "$dir/$lang-$policy"
      cp "plugins/${lang}echo.wasm" "$dir/$lang-$policy/"
      printf 'grants = []\n[limits]\ninstances = "%s"\n' "$policy" > "$dir/$lang-$policy/${lang}echo.toml"
    done
  done
fi
secret=compare-bench-secret-0123456789abcdef
# The method the started server is checked with and the rows call (bench/echo.lua's RPC_METHOD).
method=echo
body() { echo '{"client":"c1","transport":"websocket","protocol":"json","encoding":"json","user":"42","method":"'"$method"'","data":{"session_id":"abc-123","data":"bHMgLWxhCg=="}}'; }

load() { cut -d' ' -f1-3 /proc/loadavg; }
machine() {
  local cpu; cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($cpu), $(uname -sr), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); commit $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
}

# start NAME PATH CMD...: starts a server on $port and waits until it answers the echo call.
start() {
  local name=$1 path=$2; shift 2
  "$@" >"$dir/$name.log" 2>&1 &
  server=$!
  pids+=("$server")
  local reply=""
  for _ in $(seq 1 600); do
    kill -0 "$server" 2>/dev/null || { echo "compare: $name exited at startup; log:" >&2; tail -20 "$dir/$name.log" >&2; exit 1; }
    reply=$(curl -s -m 2 -H 'Content-Type: application/json' -H "X-Plughost-Secret: $secret" -d "$(body)" "http://127.0.0.1:$port$path" || true)
    case $reply in *'"echoed"'*) break ;; esac
    sleep 0.1
  done
  case $reply in *'"echoed"'*) ;; *) echo "compare: $name never answered the echo call (last reply: $reply); log:" >&2; tail -20 "$dir/$name.log" >&2; exit 1 ;; esac
  echo "  $name on :$port answers $reply"
}
stop() {
  kill "$server" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}

# wrk_run USERS PATH SECONDS: one checked wrk run; prints its `checked:` line (and bad replies).
wrk_run() {
  USERS=$1 RPC_PATH=$2 RPC_METHOD=$method wrk -t2 -c50 -d"$3"s --latency -H "X-Plughost-Secret: $secret" -s bench/echo.lua "http://127.0.0.1:$port" \
    | grep -a -E '^(checked:|  bad reply:)' || { echo "compare: wrk printed no summary for $port (users $1)" >&2; return 1; }
}
field() { sed -n "s/.*[ (]$1=\([0-9.]*\).*/\1/p" <<<"$2" | head -1; }

# cpu_ticks PID: CPU time (user + system, clock ticks) of PID and all its descendants
# (uvicorn's workers are children of its master).
cpu_ticks() {
  local total=0 p
  for p in $1 $(descendants "$1"); do
    [ -r "/proc/$p/stat" ] || continue
    total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo $total
}
descendants() { local c; for c in $(pgrep -P "$1" || true); do echo "$c"; descendants "$c"; done; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# measure ROW USERS PATH: a warm-up run, then the measured run; records one result line with
# the server's CPU time per request over the measured run (all its processes) and wrk's.
measure() {
  local row=$1 users=$2 path=$3 warm out t0 t1 wrk_start wrk_cpu
  warm=$(wrk_run "$users" "$path" "$WARMUP")
  t0=$(cpu_ticks "$server")
  wrk_start=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
  out=$(wrk_run "$users" "$path" "$DURATION")
  # wrk is a waited-for child of this shell (through the command substitution's subshell).
  wrk_cpu=$(( $(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat) - wrk_start ))
  t1=$(cpu_ticks "$server")
  local wbad=$(( $(field bad_replies "$warm") + $(field socket_errors "$warm") ))
  local bad sock rps p50 p99 n cpu wcpu
  bad=$(field bad_replies "$out"); sock=$(field socket_errors "$out"); rps=$(field rps "$out")
  p50=$(field p50_us "$out"); p99=$(field p99_us "$out"); n=$(field requests "$out")
  cpu=$(awk "BEGIN {printf \"%.1f\", ($t1 - $t0) * $TICK_US / ($n > 0 ? $n : 1)}")
  wcpu=$(awk "BEGIN {printf \"%.1f\", $wrk_cpu * $TICK_US / ($n > 0 ? $n : 1)}")
  printf '  %-18s users=%-6s %9s req/s  p50 %6.2f ms  p99 %6.2f ms  CPU/req server %5s us, wrk %5s us  bad replies %s, socket errors %s, warm-up failures %s%s\n' \
    "$row" "$users" "$rps" "$(awk "BEGIN {print $p50/1000}")" "$(awk "BEGIN {print $p99/1000}")" "$cpu" "$wcpu" \
    "$bad" "$sock" "$wbad" "$( [ $((bad + sock + wbad)) -gt 0 ] && echo '  FAIL' || true)"
  grep -a 'bad reply' <<<"$warm$out" | head -3 || true
  echo "$row	$users	$rps	$p50	$p99	$bad	$sock	$wbad	$cpu	$wcpu" >> "$dir/results"
}

echo "compare: $(machine)"
echo "  wrk -t2 -c50 -d${DURATION}s --latency -s bench/echo.lua (every reply checked), rounds $ROUNDS"
echo "  load average before: $(load); rustc processes: $(pgrep -c rustc || true)"
for round in $(seq 1 "$ROUNDS"); do
  [ "$ROUNDS" -gt 1 ] && echo "round $round"
  port=$(free_port); start native /centrifugo/rpc target/release/examples/native_echo "127.0.0.1:$port"
  measure native 1 /centrifugo/rpc; measure native 10000 /centrifugo/rpc; stop
  for policy in fresh per-user; do
    port=$(free_port)
    start "plughost-$policy" /centrifugo/rpc env PLUGHOST_PROXY_SECRET=$secret PLUGHOST_CACHE_DIR="$dir/cache" \
      target/release/plughost serve --plugins "$dir/$policy" --listen "127.0.0.1:$port"
    measure "plughost $policy" 1 /centrifugo/rpc; measure "plughost $policy" 10000 /centrifugo/rpc; stop
  done
  if [ "$POLYGLOT" = 1 ]; then
    for lang in py js; do
      method=${lang}echo.echo
      for policy in fresh per-user; do
        port=$(free_port)
        start "${lang}echo-$policy" /centrifugo/rpc env PLUGHOST_PROXY_SECRET=$secret PLUGHOST_CACHE_DIR="$dir/cache" \
          target/release/plughost serve --plugins "$dir/$lang-$policy" --listen "127.0.0.1:$port"
        measure "${lang}echo $policy" 1 /centrifugo/rpc; stop
      done
    done
    method=echo
  fi
  if [ "$DJANGO" = 1 ]; then
    for project in bare full; do
      port=$(free_port); start "django-cfg-$project" /centrifugo/rpc/ bench/django.sh serve "$project" "$port"
      measure "django-cfg $project" 1 /centrifugo/rpc/; stop
    done
  fi
done
echo "  load average after: $(load); rustc processes: $(pgrep -c rustc || true)"

python3 - "$dir/results" "$DURATION" "$ROUNDS" <<'PY'
import statistics, sys
from collections import OrderedDict
path, duration, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = OrderedDict()
for line in open(path):
    row, users, rps, p50, p99, bad, sock, wbad, cpu, wcpu = line.rstrip("\n").split("\t")
    r = rows.setdefault((row, int(users)), {"rps": [], "p50": [], "p99": [], "cpu": [], "wcpu": [], "bad": 0, "sock": 0})
    for m, v in (("rps", float(rps)), ("p50", float(p50) / 1000), ("p99", float(p99) / 1000), ("cpu", float(cpu)), ("wcpu", float(wcpu))):
        r[m].append(v)
    r["bad"] += int(bad) + int(wbad); r["sock"] += int(sock)
med = {k: {m: statistics.median(v[m]) for m in ("rps", "p50", "p99", "cpu", "wcpu")} | {"bad": v["bad"], "sock": v["sock"]}
       for k, v in rows.items()}
names = {"native": "native axum route", "plughost fresh": "plughost, fresh instance per call (default)",
         "plughost per-user": "plughost, `instances = \"per-user\"`",
         "pyecho fresh": "pyecho (Python), fresh instance per call", "pyecho per-user": "pyecho (Python), `instances = \"per-user\"`",
         "jsecho fresh": "jsecho (JavaScript), fresh instance per call", "jsecho per-user": "jsecho (JavaScript), `instances = \"per-user\"`",
         "django-cfg bare": "django-cfg 1.7.87 RPCProxyView alone (bare Django)",
         "django-cfg full": "django-cfg 1.7.87 project, default middleware"}
native = lambda users: med.get(("native", users)) or med.get(("native", 1))
bare, full = med.get(("django-cfg bare", 1)), med.get(("django-cfg full", 1))
def x(a, b):
    return f"{a / b:.2f}x" if a and b else "-"
print()
print("| backend | users | req/s | p50 | p99 | failures | server CPU/req | req/s vs native | CPU/req vs native | req/s vs django-cfg view | req/s vs django-cfg full |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (row, users), v in med.items():
    fails = v["bad"] + v["sock"]
    fail = "0" if fails == 0 else f"**{fails}** ({v['bad']} bad replies, {v['sock']} socket errors)"
    n = native(users)
    print(f"| {names.get(row, row)} | {users:,} | {v['rps']:,.0f} | {v['p50']:.2f} ms | {v['p99']:.2f} ms | {fail} | {v['cpu']:.1f} µs | "
          f"{'-' if row == 'native' else x(v['rps'], n['rps'])} | {'-' if row == 'native' else x(n['cpu'], v['cpu'])} | "
          f"{'-' if row == 'django-cfg bare' else x(v['rps'], bare and bare['rps'])} | "
          f"{'-' if row == 'django-cfg full' else x(v['rps'], full and full['rps'])} |")
print()
print(f"wrk -t2 -c50 -d{duration}s --latency -s bench/echo.lua, every reply checked; "
      f"{'median of ' + str(rounds) + ' rounds' if rounds > 1 else 'one round'}; ratios to native at the same user count. "
      "Server CPU/req: user+system time of the server's processes over the measured run / requests; "
      "'CPU/req vs native' is native's CPU/req over the row's (below 1: the row costs more). "
      f"wrk used {min(v['wcpu'] for v in med.values()):.1f}-{max(v['wcpu'] for v in med.values()):.1f} µs of CPU per request on the same cores. "
      "django-cfg: uvicorn --workers 2, uvloop, httptools, no access log.")
print()
def target(label, a, b, goal, cpu=True):
    if not a or not b:
        print(f"target: {label}: not measured in this run")
        return
    by_rps = a["rps"] / b["rps"]
    line = f"target: {label}: {by_rps:.2f}x by req/s, goal {goal}x: {'met' if by_rps >= goal else 'NOT met'}"
    if cpu:
        by_cpu = b["cpu"] / a["cpu"]
        line += f" (by server CPU per request {by_cpu:.2f}x: {'met' if by_cpu >= goal else 'NOT met'})"
    print(line)
for users in (1, 10000):
    target(f"plughost fresh vs native, {users:,} user(s)", med.get(("plughost fresh", users)), med.get(("native", users)), 0.65)
target("plughost per-user vs native, 1 user (repeat callers)", med.get(("plughost per-user", 1)), med.get(("native", 1)), 0.85)
for users in (1, 10000):
    target(f"plughost fresh vs django-cfg view alone, {users:,} user(s)", med.get(("plughost fresh", users)), bare, 100)
    target(f"plughost fresh vs django-cfg full project, {users:,} user(s)", med.get(("plughost fresh", users)), full, 100)
# The interpreted plugins against the Rust echo under the same policy, from this run.
for lang in ("pyecho", "jsecho"):
    for policy in ("fresh", "per-user"):
        a, r = med.get((f"{lang} {policy}", 1)), med.get((f"plughost {policy}", 1))
        if a and r:
            print(f"{lang} {policy} vs the Rust echo {policy}, 1 user: {a['rps'] / r['rps']:.3f}x by req/s, "
                  f"{a['cpu'] / r['cpu']:.1f}x the server CPU per request ({a['cpu']:.1f} vs {r['cpu']:.1f} µs)")
total = sum(v["bad"] + v["sock"] for v in med.values())
failed_rows = [f"{k[0]} ({k[1]} users)" for k, v in med.items() if v["bad"] + v["sock"]]
if total:
    print(f"compare: FAIL: {total} failed replies or socket errors, in {', '.join(failed_rows)}")
    sys.exit(1)
print(f"compare: PASS: {len(med)} rows, every reply checked, 0 failures")
PY
