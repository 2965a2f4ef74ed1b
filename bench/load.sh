#!/usr/bin/env bash
# First load and resident memory of one plugin per host, for the Rust echo (plugins/echo.wasm,
# method echo), the Python one (plugins/pyecho.wasm, pyecho.echo, componentize-py) and the
# JavaScript one (plugins/jsecho.wasm, jsecho.echo, componentize-js), in one sitting:
#
#   cold start   `plughost serve` with the plugin alone and an empty cache dir
#                (PLUGHOST_CACHE_DIR = a new temp dir, so Cranelift compiles it): milliseconds
#                from exec to the first good reply of its method, CPU seconds the process used
#                by then, peak RSS (VmHWM) and the size of the .cwasm it wrote
#   warm starts  the same STARTS more times with that cache (a .cwasm load, no compile)
#   per-user     a host with `instances = "per-user"` in the plugin's manifest: RSS idle (after
#                one anonymous call, which is never kept), then after N distinct users called
#                once each (N warm instances kept; N up to max_instances, 64 by default):
#                (RSS after N - RSS idle) / N is the memory one kept instance holds
#   fresh load   a host with `instances = "fresh"`: RSS idle, then sampled every 0.1 s while
#                `wrk -t2 -c50 -s bench/echo.lua` (every reply checked) drives it for SECONDS,
#                with the instances running at each sample (the host's /metrics gauge); then
#                the same with `[runtime] keep_resident = "KEEP_RESIDENT MiB"` in a host config
#   memory cap   a host per cap in CAPS (`[limits] memory`, MiB): which payloads (64, 256, 512
#                and 1000 KiB of `data`; max_params is 1 MiB by default) it echoes, and the
#                error of the first it does not
#
# RSS is VmRSS of /proc/PID/status (with its anonymous, file and shmem parts: the plugin's
# memory image is shared memory mapped copy-on-write), and Pss of /proc/PID/smaps_rollup, which
# counts an image page that N instances map once (VmRSS counts it N times). Freed pool slots keep up to
# runtime.keep_resident (1 MiB by default) of their linear memory resident, so RSS after calls
# is above the idle figure even with no instance alive.
#
# The last line is `load: PASS` or `load: FAIL` (a bad reply or socket error anywhere, a host
# that never answers; exit status 1).
#
# Usage: bench/load.sh [SECONDS of wrk, default 5] [--starts N, default 3] [--users "1 8 32 64"]
#                      [--plugins "echo pyecho jsecho"] [--caps "16 24 32 48 64 80"]
#                      [--keep-resident MIB, default 16; "" for none] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=5; STARTS=3; USERS_LIST="1 8 32 64"; PLUGINS="echo pyecho jsecho"; CAPS="16 24 32 48 64 80"; KEEP_RESIDENT=16; BUILD=1
host_config=""
while [ $# -gt 0 ]; do
  case $1 in
    --no-build) BUILD=0 ;;
    --starts) STARTS=$2; shift ;;
    --users) USERS_LIST=$2; shift ;;
    --plugins) PLUGINS=$2; shift ;;
    --caps) CAPS=$2; shift ;;
    --keep-resident) KEEP_RESIDENT=$2; shift ;;
    [0-9]*) DURATION=${1%s} ;;
    *) echo "usage: bench/load.sh [SECONDS] [--starts N] [--users \"1 8 32 64\"] [--plugins \"echo pyecho jsecho\"] [--caps \"16 32 64\"] [--no-build]" >&2; exit 2 ;;
  esac
  shift
done
for tool in wrk curl python3; do
  command -v $tool >/dev/null || { echo "load: $tool is needed" >&2; exit 1; }
done
source bench/lib.sh
clear_env
if [ "$BUILD" = 1 ]; then
  cargo build --release --workspace --bins -q
  make -s plugins >/dev/null
fi
for p in $PLUGINS; do
  [ -e "plugins/$p.wasm" ] || { echo "load: plugins/$p.wasm is missing (make plugins)" >&2; exit 1; }
done
[ -e target/release/plughost ] || { echo "load: target/release/plughost is missing" >&2; exit 1; }

dir=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  rm -rf "$dir"
}
trap cleanup EXIT
secret=load-bench-secret-0123456789abcdef
failures=0
fail() { echo "load: FAIL: $*"; [ -f "$dir/host.log" ] && tail -20 "$dir/host.log"; exit 1; }
method_of() { [ "$1" = echo ] && echo echo || echo "$1.echo"; }

# call USER: one call of $method as USER ("" = anonymous); 0 when the reply is the echo.
call() {
  local reply
  reply=$(curl -s -m 10 -H 'Content-Type: application/json' -H "X-Plughost-Secret: $secret" \
    -d '{"client":"c1","transport":"websocket","protocol":"json","encoding":"json","user":"'"$1"'","method":"'"$method"'","data":{"session_id":"abc-123","data":"bHMgLWxhCg=="}}' \
    "http://127.0.0.1:$port/centrifugo/rpc" || true)
  case $reply in
    *'"error"'*) ;;
    *'"result"'*'"session_id":"abc-123"'*'"echoed":true'*) return 0 ;;
  esac
  echo "  bad reply: $reply" >&2
  return 1
}
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$server/status"; }
cpu_s() { sed 's/.*) //' "/proc/$server/stat" | awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($12 + $13) / t}'; }
mib() { awk "BEGIN {printf \"%.1f\", $1 / 1024}"; }

# start PLUGIN POLICY CACHE: starts a host serving plugins/PLUGIN.wasm with `instances = POLICY`;
# waits for the first good (anonymous) reply; sets $ready_ms.
start() {
  local plugin=$1 policy=$2 cache=$3 extra=${4:-} t0
  rm -rf "$dir/plugins"; mkdir -p "$dir/plugins"
  cp "plugins/$plugin.wasm" "$dir/plugins/"
  printf 'grants = []\n[limits]\ninstances = "%s"\n%s\n' "$policy" "$extra" > "$dir/plugins/$plugin.toml"
  port=$(free_port)
  t0=$(date +%s%N)
  PLUGHOST_PROXY_SECRET=$secret PLUGHOST_CACHE_DIR="$cache" target/release/plughost ${host_config:+--config "$host_config"} serve \
    --plugins "$dir/plugins" --listen "127.0.0.1:$port" >"$dir/host.log" 2>&1 &
  server=$!
  until call "" 2>/dev/null; do
    kill -0 "$server" 2>/dev/null || fail "$plugin: the host exited at startup"
    ! grep -q 'plugin refused' "$dir/host.log" || fail "$plugin: the host refused the plugin"
    [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 120000 ] || fail "$plugin: no good reply within 120 s"
    sleep 0.01
  done
  ready_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
}
stop() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
}
rss_line() { echo "VmRSS $(mib "$(kib VmRSS)") MiB (anon $(mib "$(kib RssAnon)"), file $(mib "$(kib RssFile)"), shmem $(mib "$(kib RssShmem)")), Pss $(mib "$(pss Pss)") MiB (anon $(mib "$(pss Pss_Anon)"), shmem $(mib "$(pss Pss_Shmem)"))"; }
# pss FIELD: a field of /proc/PID/smaps_rollup (kB). Pss counts a page mapped N times 1/N each:
# a page of the plugin's memory image that N instances map (copy-on-write, only read) counts
# once, where VmRSS counts it N times.
pss() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$server/smaps_rollup"; }
# running: the instances running now, from the host's /metrics gauge.
running() {
  curl -s -m 2 "http://127.0.0.1:$port/metrics" | awk '/^plughost_instances/ {s += $2} END {print s + 0}'
}

echo "load: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r); commit $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
echo "  load average before: $(cut -d' ' -f1-3 /proc/loadavg); rustc processes: $(pgrep -c rustc || true)"
results="$dir/results"
: > "$results"
for plugin in $PLUGINS; do
  method=$(method_of "$plugin")
  size=$(stat -c %s "plugins/$plugin.wasm")
  cache="$dir/cache-$plugin"
  echo "$plugin ($method, $(awk "BEGIN {printf \"%.1f\", $size / 1048576}") MiB of wasm)"

  # First load: an empty cache, then STARTS starts with the .cwasm it wrote.
  start "$plugin" fresh "$cache"
  cold_ms=$ready_ms; cold_cpu=$(cpu_s); cold_hwm=$(kib VmHWM)
  stop
  cwasm=$(find "$cache" -name '*.cwasm' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  [ "$cwasm" -gt 0 ] || fail "$plugin: no .cwasm written to the cache"
  echo "  cold start (empty cache: compiles): ready in $cold_ms ms, CPU $cold_cpu s, peak RSS $(mib "$cold_hwm") MiB; .cwasm $(mib $((cwasm / 1024))) MiB"
  warm_ms=(); warm_cpu=(); warm_hwm=()
  for n in $(seq 1 "$STARTS"); do
    start "$plugin" fresh "$cache"
    warm_ms+=("$ready_ms"); warm_cpu+=("$(cpu_s)"); warm_hwm+=("$(kib VmHWM)")
    echo "  warm start $n (cached .cwasm): ready in $ready_ms ms, CPU ${warm_cpu[-1]} s, peak RSS $(mib "${warm_hwm[-1]}") MiB"
    stop
  done
  printf 'start\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$plugin" "$size" "$cwasm" "$cold_ms" "$cold_cpu" "$cold_hwm" \
    "$(IFS=,; echo "${warm_ms[*]}")" "$(IFS=,; echo "${warm_cpu[*]}")" "$(IFS=,; echo "${warm_hwm[*]}")" >> "$results"

  # Kept instances: per-user, N distinct users called once each.
  start "$plugin" per-user "$cache"
  sleep 1
  idle=$(kib VmRSS); idle_pss=$(pss Pss)
  echo "  per-user: idle $(rss_line)"
  called=0
  for n in $USERS_LIST; do
    while [ "$called" -lt "$n" ]; do
      call "user-$called" || failures=$((failures + 1))
      called=$((called + 1))
    done
    sleep 0.3
    now=$(kib VmRSS); now_pss=$(pss Pss)
    echo "  per-user: $n users called once each (kept instances: $n): $(rss_line); per kept instance: VmRSS $(awk "BEGIN {printf \"%.2f\", ($now - $idle) / 1024 / $n}") MiB, Pss $(awk "BEGIN {printf \"%.2f\", ($now_pss - $idle_pss) / 1024 / $n}") MiB"
    printf 'kept\t%s\t%s\t%s\t%s\t%s\t%s\n' "$plugin" "$n" "$idle" "$now" "$idle_pss" "$now_pss" >> "$results"
  done
  stop

  # Fresh instances under load: wrk -c50 for DURATION seconds, RSS and running instances
  # sampled; with the default runtime.keep_resident (1 MiB), then with KEEP_RESIDENT MiB.
  for kr in default $KEEP_RESIDENT; do
    host_config=""; label=$plugin
    if [ "$kr" != default ]; then
      host_config="$dir/host-kr.toml"; label="$plugin, keep_resident $kr MiB"
      printf '[runtime]\nkeep_resident = "%s MiB"\n' "$kr" > "$host_config"
    fi
    start "$plugin" fresh "$cache"
    sleep 0.5
    idle=$(kib VmRSS); idle_pss=$(pss Pss)
    RPC_METHOD=$method USERS=1 wrk -t2 -c50 -d"${DURATION}"s --latency -H "X-Plughost-Secret: $secret" \
      -s bench/echo.lua "http://127.0.0.1:$port" > "$dir/wrk.out" 2>&1 &
    wrk_pid=$!
    peak=0; peak_pss=0; peak_running=0; samples=0; sum=0
    while kill -0 "$wrk_pid" 2>/dev/null; do
      sleep 0.1
      now=$(kib VmRSS); r=$(running)
      [ "$now" -gt "$peak" ] && peak=$now
      now_pss=$(pss Pss); [ "$now_pss" -gt "$peak_pss" ] && peak_pss=$now_pss
      [ "$r" -gt "$peak_running" ] && peak_running=$r
      samples=$((samples + 1)); sum=$((sum + r))
    done
    wait "$wrk_pid" || true
    after=$(kib VmRSS); after_pss=$(pss Pss)
    checked=$(grep -a '^checked:' "$dir/wrk.out" || true)
    [ -n "$checked" ] || fail "$label: wrk printed no summary: $(tail -5 "$dir/wrk.out")"
    bad=$(sed -n 's/.* bad_replies=\([0-9]*\).*/\1/p' <<<"$checked"); sock=$(sed -n 's/.* socket_errors=\([0-9]*\).*/\1/p' <<<"$checked")
    rps=$(sed -n 's/.* rps=\([0-9]*\).*/\1/p' <<<"$checked")
    failures=$((failures + bad + sock))
    grep -a '  bad reply' "$dir/wrk.out" | head -3 || true
    mean_running=$(awk "BEGIN {printf \"%.1f\", $sum / ($samples > 0 ? $samples : 1)}")
    echo "  fresh under wrk -c50 ($label; ${DURATION} s, $rps req/s, bad replies $bad, socket errors $sock): VmRSS idle $(mib "$idle") MiB, peak $(mib "$peak") MiB, after $(mib "$after") MiB; Pss idle $(mib "$idle_pss") MiB, peak $(mib "$peak_pss") MiB, after $(mib "$after_pss") MiB; instances running: mean $mean_running, peak $peak_running"
    printf 'fresh\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$idle" "$peak" "$after" "$mean_running" "$peak_running" "$rps" "$bad" "$sock" "$idle_pss" "$peak_pss" "$after_pss" >> "$results"
    stop
    host_config=""
  done

  # Memory caps: the payloads each cap can echo (a refusal here is a finding, not a failure).
  for cap in $CAPS; do
    start "$plugin" fresh "$cache" "memory = \"$cap MiB\""
    fits=""; first_error=""
    for kb in 64 256 512 1000; do
      python3 -c 'import sys; m, kb = sys.argv[1], int(sys.argv[2]); sys.stdout.write("{\"user\":\"u\",\"method\":\"%s\",\"data\":{\"session_id\":\"abc-123\",\"data\":\"%s\"}}" % (m, "A" * kb * 1024))' \
        "$method" "$kb" > "$dir/big.json"
      reply=$( { curl -s -m 30 -H 'Content-Type: application/json' -H "X-Plughost-Secret: $secret" --data-binary @"$dir/big.json" \
        "http://127.0.0.1:$port/centrifugo/rpc" || true; } | head -c 300)
      case $reply in
        '{"result":{"data":{"session_id":"abc-123","data":"AAAA'*) fits="$fits $kb" ;;
        *) first_error=$(sed -n 's/.*"message":"\([^"(]*\).*/\1/p' <<<"$reply"); first_error=${first_error:-${reply:0:80}}; break ;;
      esac
    done
    echo "  memory cap $cap MiB: echoes${fits:- nothing} (KiB)${first_error:+; next size: $first_error}"
    printf 'cap\t%s\t%s\t%s\t%s\n' "$plugin" "$cap" "${fits# }" "$first_error" >> "$results"
    stop
  done
done
echo "  load average after: $(cut -d' ' -f1-3 /proc/loadavg); rustc processes: $(pgrep -c rustc || true)"

python3 - "$results" "$DURATION" "$STARTS" <<'PY'
import statistics, sys
path, duration, starts = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [l.rstrip("\n").split("\t") for l in open(path)]
mib = lambda kib: float(kib) / 1024
print()
print(f"| plugin | wasm | .cwasm | cold start: ready | cold: CPU | cold: peak RSS | warm start: ready (median of {starts}) | warm: CPU | warm: peak RSS |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if r[0] != "start":
        continue
    _, plugin, size, cwasm, cold_ms, cold_cpu, cold_hwm, warm_ms, warm_cpu, warm_hwm = r
    wm = [float(x) for x in warm_ms.split(",")]; wc = [float(x) for x in warm_cpu.split(",")]; wh = [float(x) for x in warm_hwm.split(",")]
    print(f"| {plugin} | {int(size) / 1048576:.1f} MiB | {int(cwasm) / 1048576:.1f} MiB | {float(cold_ms):,.0f} ms | {float(cold_cpu):.2f} s | "
          f"{mib(cold_hwm):.0f} MiB | {statistics.median(wm):,.0f} ms ({', '.join(f'{x:.0f}' for x in wm)}) | {statistics.median(wc):.2f} s | {mib(statistics.median(wh)):.0f} MiB |")
print()
print("| plugin | kept instances | VmRSS (idle -> with them) | VmRSS per kept instance | Pss (idle -> with them) | Pss per kept instance | Pss per instance beyond the first |")
print("|---|---|---|---|---|---|---|")
first = {}
for r in rows:
    if r[0] == "kept":
        _, plugin, n, idle, now, idle_pss, now_pss = r
        first.setdefault(plugin, (int(n), mib(now_pss)))
        n1, p1 = first[plugin]
        beyond = f"{(mib(now_pss) - p1) / (int(n) - n1):.2f} MiB" if int(n) > n1 else "-"
        print(f"| {plugin} | {n} | {mib(idle):.1f} -> {mib(now):.1f} MiB | {(mib(now) - mib(idle)) / int(n):.2f} MiB | "
              f"{mib(idle_pss):.1f} -> {mib(now_pss):.1f} MiB | {(mib(now_pss) - mib(idle_pss)) / int(n):.2f} MiB | {beyond} |")
print()
print(f"| plugin | fresh, wrk -c50 {duration} s: req/s | failures | instances running (mean / peak) | VmRSS idle / peak / after | (peak - idle) / peak running | Pss idle / peak / after | (peak - idle) / peak running |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    if r[0] == "fresh":
        _, plugin, idle, peak, after, mean_run, peak_run, rps, bad, sock, idle_pss, peak_pss, after_pss = r
        fails = int(bad) + int(sock)
        per = lambda a, b: f"{(mib(b) - mib(a)) / int(peak_run):.2f} MiB" if int(peak_run) else "-"
        print(f"| {plugin} | {int(rps):,} | {fails if fails == 0 else f'**{fails}** ({bad} bad replies, {sock} socket errors)'} | {mean_run} / {peak_run} | "
              f"{mib(idle):.1f} / {mib(peak):.1f} / {mib(after):.1f} MiB | {per(idle, peak)} | "
              f"{mib(idle_pss):.1f} / {mib(peak_pss):.1f} / {mib(after_pss):.1f} MiB | {per(idle_pss, peak_pss)} |")
print()
caps = [r for r in rows if r[0] == "cap"]
if caps:
    print("| plugin | memory cap | payloads echoed (KiB of `data`) | the next size's reply |")
    print("|---|---|---|---|")
    for _, plugin, cap, fits, err in caps:
        print(f"| {plugin} | {cap} MiB | {fits.replace(' ', ', ') or 'none'} | {err.strip() or '-'} |")
PY
if [ "$failures" -gt 0 ]; then
  echo "load: FAIL: $failures failed replies or socket errors"
  exit 1
fi
echo "load: PASS: $PLUGINS; every reply checked, 0 failures"
