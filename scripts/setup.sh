#!/usr/bin/env bash
# Installs the system packages the tests need, from Debian, when they are
# missing: Node.js and npm (the official clients, Node servers), chromium
# (the browser tests, driven by puppeteer-core from npm; no browser is
# downloaded), redis-server and redis-cli (the cluster tests), the reverse
# proxies nginx, apache2, haproxy and caddy (the deployment tests), openssl
# (throwaway certificates) and curl (HTTP/2 checks). The tests start every
# service themselves, unprivileged, on free ports with their own configs, so
# installing must not start the packages' system services: a policy-rc.d
# that refuses every start is in place for the install only, unless the
# machine already has one. Called by scripts/test.sh and .ci/run; does
# nothing when everything is there.
set -euo pipefail

need=()
for pair in node:nodejs npm:npm chromium:chromium redis-server:redis-server redis-cli:redis-tools \
  nginx:nginx apache2:apache2 haproxy:haproxy caddy:caddy openssl:openssl curl:curl; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
[ "${#need[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${need[*]} (run this script as root, or install them)" >&2
  exit 1
fi
made_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
fi
trap '[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
echo "== installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
