#!/usr/bin/env bash
# Instructions per proxied echo request, counted by valgrind (callgrind): the same figure
# whatever else the machine is doing, so two builds can be compared on a busy machine where
# wrk's req/s move by ±15%. Each server runs under callgrind and gets N, then 2N requests over
# one keep-alive connection (after a warm-up run that fills the artifact cache);
# (Ir(2N) - Ir(N)) / N is the cost of one request in the server's user space (system calls
# and the kernel's socket work are not counted). Every reply is checked.
#
# Usage: bench/icount.sh [N, default 1000] [--no-build] [BINARY...]
#   BINARY: plughost binaries to count (default target/release/plughost); the native axum
#   route (target/release/examples/native_echo) is always counted first, as the baseline.
#   Under valgrind the pooling allocator cannot reserve its slots, so wasmtime falls back to
#   on-demand instance allocation: memory-reset costs of the pool are not in these counts.
# The last line is `icount: PASS ...` or `icount: FAIL ...`.
set -euo pipefail
cd "$(dirname "$0")/.."

N=1000; BUILD=1; bins=()
for arg in "$@"; do
  case $arg in
    --no-build) BUILD=0 ;;
    [0-9]*) N=$arg ;;
    *) bins+=("$arg") ;;
  esac
done
[ ${#bins[@]} -gt 0 ] || bins=(target/release/plughost)
command -v valgrind >/dev/null || { echo "icount: valgrind is needed (apt-get install -y valgrind)" >&2; exit 1; }
if [ "$BUILD" = 1 ]; then
  cargo build --release -p plughost --bin plughost --example native_echo
  make -s plugins >/dev/null
fi
for f in target/release/examples/native_echo plugins/echo.wasm "${bins[@]}"; do
  [ -e "$f" ] || { echo "icount: $f is missing (run without --no-build)" >&2; exit 1; }
done
source bench/lib.sh
clear_env

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/plugins"
cp plugins/echo.wasm "$dir/plugins/"
secret=icount-bench-secret-0123456789abcdef

# run BINARY COUNT: the instructions callgrind counted in BINARY serving COUNT checked requests.
run() {
  local bin=$1 count=$2 port out pid
  port=$(free_port)
  out="$dir/valgrind.$count.log"
  if [ "$(basename "$bin")" = native_echo ]; then
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "127.0.0.1:$port" >"$out" 2>&1 &
  else
    PLUGHOST_PROXY_SECRET=$secret PLUGHOST_CACHE_DIR="$dir/cache" valgrind --tool=callgrind \
      --callgrind-out-file=/dev/null "$bin" serve --plugins "$dir/plugins" --listen "127.0.0.1:$port" >"$out" 2>&1 &
  fi
  pid=$!
  if ! python3 - "$port" "$count" "$secret" <<'PY'
import http.client, json, sys, time
port, count, secret = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
body = ('{"client":"9336a229-2400-4ebc-8c50-0a643d22e8a0","transport":"websocket","protocol":"json",'
        '"encoding":"json","user":"user-1","method":"echo","data":{"session_id":"abc-123","data":"bHMgLWxhCg=="}}')
headers = {"Content-Type": "application/json", "X-Plughost-Secret": secret}
expected = {"session_id": "abc-123", "data": "bHMgLWxhCg==", "echoed": True}
deadline = time.time() + 120
while True:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/centrifugo/rpc", body, headers)
        conn.getresponse().read()
        break
    except OSError:
        if time.time() > deadline:
            sys.exit("the server never answered")
        time.sleep(0.2)
bad = 0
for _ in range(count):
    conn.request("POST", "/centrifugo/rpc", body, headers)
    reply = conn.getresponse()
    data = json.loads(reply.read() or b"{}")
    bad += reply.status != 200 or data.get("result", {}).get("data") != expected
if bad:
    sys.exit(f"{bad} bad replies of {count}")
PY
  then
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    echo "icount: FAIL: $bin did not serve $count good replies" >&2; tail -5 "$out" >&2; exit 1
  fi
  kill -TERM "$pid"; wait "$pid" || true
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out"
}

echo "icount: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- host || echo ' + uncommitted host changes'); $N and $((2 * N)) requests per server"
native=""
for bin in target/release/examples/native_echo "${bins[@]}"; do
  run "$bin" 10 >/dev/null
  a=$(run "$bin" "$N"); b=$(run "$bin" $((2 * N)))
  per=$(( (b - a) / N ))
  [ -n "$native" ] || native=$per
  printf '  %-40s %8d instructions/request  %5.2fx native\n' "$bin" "$per" "$(awk "BEGIN {print $per / $native}")"
done
echo "icount: PASS (every reply checked)"
