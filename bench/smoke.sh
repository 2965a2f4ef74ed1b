#!/usr/bin/env bash
# Benchmarks that do not rot: every benchmark script for about a second each, with every reply
# checked, against the binaries already built (`make bench-smoke` builds them first; `make test`
# runs this after its tests). Figures from here mean nothing (a second each, on a busy
# machine); what counts is that each script runs to the end and its checks pass. Every script
# runs even after one fails; the last line is `bench-smoke: PASS` or `bench-smoke: FAIL: <which>`.
#
# Not run here: bench/terminal-ab.sh (needs an older checkout; it only loops over the two
# terminal benchmarks, which run here), and the django-cfg rows of compare.sh and bench-rtt.mjs
# (installing django-cfg takes a minute and 1.3 GB; run `bench/compare.sh 1` to smoke those).
set -uo pipefail
cd "$(dirname "$0")/.."
failed=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# step NAME PASS_PATTERN CMD...: runs CMD; it passes when it exits 0 and its output has a line
# matching PASS_PATTERN (so a script that stops early without its summary fails too).
step() {
  local name=$1 pattern=$2; shift 2
  local t0=$SECONDS rc
  echo "=== bench-smoke: $name: $*"
  "$@" >"$log" 2>&1; rc=$?
  if [ $rc -eq 0 ] && grep -a -q -E "$pattern" "$log"; then
    grep -a -E "$pattern" "$log" | tail -1 | cut -c1-300
    echo "    ok ($((SECONDS - t0)) s)"
  else
    tail -40 "$log"
    echo "    FAILED (exit $rc, $((SECONDS - t0)) s)"
    failed+=("$name")
  fi
}

step "criterion runtime bench (--quick)" '^echo/per_user_10k_users' \
  cargo bench --workspace --bench runtime -- --quick --warm-up-time 0.2 --measurement-time 0.5 --noplot
step "compare.sh without django-cfg" '^compare: PASS' env WARMUP=1 bench/compare.sh 1 --no-django --no-build
step "soak.sh" '^soak: PASS' env SOAK_ROUND=1s bench/soak.sh 1 --no-build
step "ab.sh" '^ab: PASS' bench/ab.sh target/release/plughost target/release/plughost 1s 1
step "startup.sh" '^startup: PASS' bench/startup.sh 2 1 --no-build
# The Rust echo only: the Python and JavaScript rows compile 14-19 MB of wasm each (about 10 s
# and 0.5 GB apiece); compare.sh above and the criterion bench already run those plugins.
step "load.sh (echo only)" '^load: PASS' bench/load.sh 1 --starts 1 --users "1 2" --plugins echo --caps 16 --no-build
step "kv.sh" '^kv: PASS' env CRITERION_ARGS="--warm-up-time 0.2 --measurement-time 0.5 --noplot" bench/kv.sh 1 --no-build
step "icount.sh" '^icount: PASS' bench/icount.sh 20 --no-build
# perf may be refused inside a container; the profile is then skipped, and says so.
if perf record -q -e cpu-clock -o /dev/null -- true 2>/dev/null; then
  step "profile.sh" '^profile: PASS' bench/profile.sh 1 --no-build --out "${TMPDIR:-/tmp}/plughost-smoke-profile.svg"
else
  echo "=== bench-smoke: profile.sh: SKIPPED: perf cannot sample on this machine (not counted as a pass)"
fi
step "reload_bench" 'failed calls 0$' target/release/examples/reload_bench
step "bench-rtt.mjs" '^bench-rtt: PASS' \
  node tests/node/bench-rtt.mjs --clients 10 --duration 1 --publishers 4 --publish-duration 1
step "bench-proxy.mjs" '^bench-proxy: PASS' \
  node tests/node/bench-proxy.mjs --clients 10 --duration 1 --variants http,grpc,grpc-plain
step "bench-terminal-throughput.mjs" '^OK:' sh -c 'cd tests/node && node bench-terminal-throughput.mjs 1'
step "bench-terminal-latency.mjs" '^OK:' sh -c 'cd tests/node && node bench-terminal-latency.mjs 20'

if [ ${#failed[@]} -gt 0 ]; then
  echo "bench-smoke: FAIL: ${failed[*]}"
  exit 1
fi
echo "bench-smoke: PASS: every benchmark script ran with every reply checked"
