#!/bin/sh
# Builds every fuzz target and runs each for a short fixed time, from the
# committed seeds only (new inputs go to a temporary directory, so a CI run
# leaves the local corpus alone). Then checks that the seeds of the `engine`
# target still reach the deep paths (upgrade, ping timeout, binary
# attachments, connection state recovery).
#
# Usage: fuzz/ci.sh [seconds per target, default 20]
# Environment: FUZZ_SANITIZER (default none; `address` for ASan).
# Exits non-zero on a build failure, a crash, or a path no longer reached.
set -eu

cd "$(dirname "$0")"
seconds="${1:-20}"
sanitizer="${FUZZ_SANITIZER:-none}"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cargo +nightly fuzz build -s "$sanitizer"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

for target in $(cargo +nightly fuzz list); do
    mkdir "$scratch/$target"
    log="$scratch/$target.log"
    if cargo +nightly fuzz run -s "$sanitizer" "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" >"$log" 2>&1; then
        echo "$target: $(grep -E '^Done' "$log")"
    else
        tail -n 60 "$log" >&2
        echo "$target: failed; a crashing input is kept in fuzz/artifacts/$target" >&2
        exit 1
    fi
done

echo "== engine: paths reached by the seeds"
mkdir "$scratch/seeds"
cp corpus/engine/seed-* "$scratch/seeds/"
stats=$(FUZZ_STATS=1 cargo +nightly fuzz run -s "$sanitizer" engine "$scratch/seeds" -- -runs=0 2>&1 |
    grep '^FUZZ_STATS')
echo "$stats"
for path in upgrades ping_timeout_disconnects events_with_attachments recovered_connections; do
    if echo "$stats" | grep -Eq " $path=0( |\$)"; then
        echo "engine: the seeds no longer reach $path" >&2
        exit 1
    fi
done
