#!/usr/bin/env bash
# Startup: how long until a host with 20 cached plugins answers /healthz.
# Builds 20 small distinct plugins (p01..p20, one method each) once, under .cache/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=.cache/bench-startup
mkdir -p "$work/.cargo"
cp plugins/.cargo/config.toml "$work/.cargo/"
cp plugins/Cargo.lock "$work/Cargo.lock"
members=""
for i in $(seq -w 1 20); do
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
for i in $(seq -w 1 20); do cp "plugins/target/wasm32-wasip2/release/p$i.wasm" "$dir/p$i.wasm"; done
cargo build --release -p plughost --bin plughost -q
PORT=18097
start_once() {
  local t0 t1
  t0=$(date +%s%N)
  target/release/plughost serve --plugins "$dir" --listen 127.0.0.1:$PORT 2>"$dir/host.log" &
  local pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz"; do sleep 0.005; done
  t1=$(date +%s%N)
  kill $pid; wait $pid 2>/dev/null || true
  echo $(( (t1 - t0) / 1000000 ))
}
echo "first start (compiles 20 plugins): $(start_once) ms"
for n in 1 2 3 4 5; do
  echo "cached start $n: $(start_once) ms  ($(grep -o 'elapsed_ms[^ ]*' "$dir/host.log" | tr -d '\033' | sed 's/\[[0-9;]*m//g'))"
done
rm -rf "$dir"
