#!/usr/bin/env bash
# Builds the benchmark (release) and runs it: our server side by side with
# socketioxide, the official Node server and a raw WebSocket echo server.
#
#   bash bench/run.sh            # the recorded run: writes BENCHMARKS.md at the repo root
#   bash bench/run.sh --quick    # small N, short durations: writes $target/BENCHMARKS-quick.md
#
# Any other loader flag passes through (--rounds N, --only echo,broadcast,
# --servers ours-tokio,node, --idle-hold SECS, --sources N, --out FILE).
# CARGO_TARGET_DIR is honoured; JOBS sets cargo's -j (2 by default).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/bench/target}

# Clients and servers each hold one file per connection.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

(cd "$root/bench" && CARGO_TARGET_DIR=$target cargo build --release --locked -j "${JOBS:-2}" --bins)
if [ ! -d "$root/bench/node/node_modules/socket.io" ]; then
  (cd "$root/bench/node" && npm ci --no-audit --no-fund)
fi

out="$root/BENCHMARKS.md"
for arg in "$@"; do
  if [ "$arg" = "--quick" ]; then out="$target/BENCHMARKS-quick.md"; fi
done

cd "$root"
exec "$target/release/loader" \
  --bin-dir "$target/release" \
  --node-dir "$root/bench/node" \
  --notes "$root/bench/NOTES.md" \
  --out "$out" \
  "$@"
