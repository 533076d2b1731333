#!/usr/bin/env bash
# The project's test command (README.md). On a fresh machine it installs
# what the tests need (the official JavaScript client, socket.io and the
# Redis adapter from npm), then runs every crate's unit, scenario, property
# and doc tests, then the interop tests (tests/interop: socket.io-client
# against our server, once on each runtime: tokio, async-std, smol), then
# the mixed-cluster tests (tests/cluster: needs redis-server), then the
# browser tests (tests/browser: chromium against the demo, once, on tokio),
# then the deployment tests once (tests/deploy: HTTPS, client certificates
# and HTTP/2 on each runtime, and every reverse proxy of DEPLOYMENT.md on
# tokio), and ends with one line of totals.
set -euo pipefail
cd "$(dirname "$0")/.."
# The system packages (Debian) the tests need, when missing.
bash scripts/setup.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

# adapter-redis's wire tests take their reference bytes from notepack.io
# (tests/cluster's npm packages), so those are installed first.
if command -v npm >/dev/null; then
  (cd tests/cluster && npm ci --no-audit --no-fund --loglevel=error)
fi

cargo test --workspace --locked 2>&1 | tee -a "$log" || status=$?

if command -v node >/dev/null && command -v npm >/dev/null; then
  (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
  cargo build --release --locked -p servers --bin interop-server --bin conformance-fixture
  target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
  # The same tests against the same handlers on each runtime.
  for runtime in tokio async-std smol; do
    echo "== interop tests on $runtime"
    (cd tests/interop && INTEROP_SERVER="$target_dir/release/interop-server" INTEROP_RUNTIME="$runtime" \
      FIXTURE_SERVER="$target_dir/release/conformance-fixture" \
      node --test --test-concurrency=1 --test-reporter=tap) 2>&1 | tee -a "$log" || status=$?
  done
  # Mixed clusters (tests/cluster): Rust nodes on tokio and smol and a Node
  # node on one redis-server the tests start themselves.
  if command -v redis-server >/dev/null; then
    cargo build --release --locked -p servers --bin cluster-fixture
    echo "== cluster tests (Redis, Rust and Node nodes)"
    (cd tests/cluster && CLUSTER_FIXTURE="$target_dir/release/cluster-fixture" \
      node --test --test-concurrency=1 --test-reporter=tap) 2>&1 | tee -a "$log" || status=$?
  else
    echo "redis-server is needed for the cluster tests" >&2
    status=1
  fi

  # Real-browser tests (tests/browser): the demo's page in Debian's
  # chromium, driven headless by puppeteer-core; serveClient with the real
  # npm bundle. Screenshots land in tests/browser/output.
  chromium_bin="${CHROMIUM:-$(command -v chromium || true)}"
  if [ -n "$chromium_bin" ]; then
    (cd servers/demo && npm ci --no-audit --no-fund --loglevel=error)
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
    cargo build --release --locked -p servers --bin demo
    echo "== browser tests (chromium)"
    (cd tests/browser && CHROMIUM="$chromium_bin" DEMO_SERVER="$target_dir/release/demo" \
      node --test --test-concurrency=1 --test-reporter=tap) 2>&1 | tee -a "$log" || status=$?
  else
    echo "chromium is needed for the browser tests (apt-get install chromium)" >&2
    status=1
  fi
  echo "== deployment tests (TLS, HTTP/2, reverse proxies)"
  (cd tests/deploy && npm ci --no-audit --no-fund --loglevel=error)
  (cd tests/deploy && CARGO_TARGET_DIR="$target_dir" node --test --test-concurrency=1 --test-reporter=tap) 2>&1 \
    | tee -a "$log" || status=$?
else
  echo "node and npm are needed for the interop tests" >&2
  status=1
fi

rust_passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
rust_failed=$(grep -Eo '^test result: .*[0-9]+ failed;' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
node_passed=$(grep -Eo '^# pass [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
node_failed=$(grep -Eo '^# fail [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
echo
echo "total: $((rust_passed + node_passed)) passed, $((rust_failed + node_failed)) failed"
exit "$status"
