#!/usr/bin/env bash
# Terminal before/after in one sitting: throughput of `yes | head -c 50M` (bytes received vs
# written, failed RPCs) and browser keystroke-to-echo latency, for an OLD checkout's build and
# this one, alternating, with the same settings.
#
#   bench/terminal-ab.sh OLD_CHECKOUT [MEGABYTES] [KEYSTROKES] [ROUNDS]
#
# OLD_CHECKOUT is a built checkout (target/release/{plughost,terminal-agent}, plugins/*.wasm,
# web/dist), e.g. `git worktree add /tmp/old <commit>` with its binaries built or copied in.
# Each run prints its own summary (a FAIL line when anything was lost or failed).
set -uo pipefail
cd "$(dirname "$0")/../tests/node"
old=${1:?usage: bench/terminal-ab.sh OLD_CHECKOUT [MEGABYTES] [KEYSTROKES] [ROUNDS]}
mb=${2:-50}
keys=${3:-300}
rounds=${4:-2}
old_env=(PLUGHOST_BIN="$old/target/release/plughost" TERMINAL_AGENT_BIN="$old/target/release/terminal-agent"
  PLUGHOST_PLUGIN_DIRS="$old/plugins" PLUGHOST_WEB_DIST="$old/web/dist")
echo "terminal A/B, $(date -u +%FT%TZ), $(nproc) cores, old=$old ($(git -C "$old" rev-parse --short HEAD 2>/dev/null)), new=$(git rev-parse --short HEAD)"
for round in $(seq 1 "$rounds"); do
  for side in old new; do
    if [ "$side" = old ]; then run=(env "${old_env[@]}"); else run=(env); fi
    echo "=== round $round, $side: throughput"
    "${run[@]}" node bench-terminal-throughput.mjs "$mb"
    echo "=== round $round, $side: latency"
    "${run[@]}" node bench-terminal-latency.mjs "$keys"
  done
done
