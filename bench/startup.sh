#!/usr/bin/env bash
# Startup: how long until a host with PLUGINS cached plugins answers /healthz.
# Builds PLUGINS small distinct plugins (p01..p20, one method each) once, under .cache/, then
# starts the host STARTS + 1 times (the first compiles them) and, after the last start, calls
# every plugin's method and checks its reply. The last line starts with `startup: PASS` or
# `startup: FAIL` (a host that does not answer within 30 s, or a wrong reply; exit status 1).
# Usage: bench/startup.sh [PLUGINS, default 20] [STARTS, default 5] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
COUNT=20; STARTS=5; BUILD=1; positional=()
for arg in "$@"; do
  case $arg in
    --no-build) BUILD=0 ;;
    [0-9]*) positional+=("$arg") ;;
    *) echo "usage: bench/startup.sh [PLUGINS] [STARTS] [--no-build]" >&2; exit 2 ;;
  esac
done
[ ${#positional[@]} -ge 1 ] && COUNT=${positional[0]}
[ ${#positional[@]} -ge 2 ] && STARTS=${positional[1]}
[ "$COUNT" -ge 1 ] && [ "$COUNT" -le 99 ] || { echo "startup: PLUGINS is 1-99" >&2; exit 2; }
ids=$(seq -f '%02g' 1 "$COUNT")
source bench/lib.sh
clear_env
work=.cache/bench-startup
mkdir -p "$work/.cargo"
cp plugins/.cargo/config.toml "$work/.cargo/"
cp plugins/Cargo.lock "$work/Cargo.lock"
members=""
for i in $ids; do
  members="$members\"p$i\", "
  mkdir -p "$work/p$i/src"
  cat > "$work/p$i/Cargo.toml" <<TOML
[package]
name = "p$i"
version = "0.1.0"
edition = "2021"
[lib]
crate-type = ["cdylib"]
[dependencies]
plughost-sdk = { path = "$root/plugin-sdk" }
serde = { version = "1", features = ["derive"] }
schemars = "1.2"
TOML
  cat > "$work/p$i/src/lib.rs" <<RS
use plughost_sdk::{Conn, RpcError};
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Hello { plugin: u32 }
/// Says which plugin answered.
#[plughost_sdk::rpc("p$i.hello")]
fn hello(_conn: &Conn) -> Result<Hello, RpcError> { Ok(Hello { plugin: $((10#$i)) }) }
plughost_sdk::plugin!(hello);
RS
done
cat > "$work/Cargo.toml" <<TOML
[workspace]
resolver = "2"
members = [$members]
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true
panic = "abort"
TOML
(cd "$work" && CARGO_TARGET_DIR="$root/plugins/target" cargo build --release --target wasm32-wasip2 -q)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for i in $ids; do cp "plugins/target/wasm32-wasip2/release/p$i.wasm" "$dir/p$i.wasm"; done
[ "$BUILD" = 1 ] && cargo build --release --workspace --bins -q
PORT=$(free_port)
secret=startup-bench-secret-0123456789abcdef
fail() { echo "startup: FAIL: $*"; [ -f "$dir/host.log" ] && tail -20 "$dir/host.log"; exit 1; }
# start_once [check]: prints the milliseconds from exec to the first /healthz 200; with `check`,
# also calls every plugin once before stopping the host.
start_once() {
  local t0 t1 pid
  t0=$(date +%s%N)
  PLUGHOST_PROXY_SECRET=$secret PLUGHOST_CACHE_DIR="$dir/cache" target/release/plughost serve --plugins "$dir" --listen 127.0.0.1:$PORT 2>"$dir/host.log" &
  pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz"; do
    kill -0 $pid 2>/dev/null || fail "the host exited at startup"
    [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 30000 ] || { kill $pid; fail "no /healthz 200 within 30 s"; }
    sleep 0.005
  done
  t1=$(date +%s%N)
  if [ "${1:-}" = check ]; then
    local i reply
    for i in $ids; do
      reply=$(curl -s -H 'Content-Type: application/json' -H "X-Plughost-Secret: $secret" \
        -d "{\"user\":\"u\",\"method\":\"p$i.hello\",\"data\":{}}" "http://127.0.0.1:$PORT/centrifugo/rpc")
      [ "$reply" = "{\"result\":{\"data\":{\"plugin\":$((10#$i))}}}" ] || { kill $pid; fail "p$i.hello answered $reply"; }
    done
  fi
  kill $pid; wait $pid 2>/dev/null || true
  echo $(( (t1 - t0) / 1000000 ))
}
ms=$(start_once); echo "first start (compiles $COUNT plugins): $ms ms"
times=()
for n in $(seq 1 "$STARTS"); do
  check=""; [ "$n" = "$STARTS" ] && check=check
  ms=$(start_once $check)
  times+=("$ms")
  echo "cached start $n: $ms ms  ($(grep -o 'elapsed_ms[^ ]*' "$dir/host.log" | tr -d '\033' | sed 's/\[[0-9;]*m//g'))"
done
echo "startup: PASS: $COUNT cached plugins, ${times[*]} ms over $STARTS starts; every plugin answered its method"
