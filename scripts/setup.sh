#!/usr/bin/env bash
# Installs what podwall needs on a fresh Debian machine with Node 20 (as root), then builds it. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for cmd in nft conntrack ip curl iperf3 clang; do command -v "$cmd" >/dev/null 2>&1 || need+=("$cmd"); done
[ -x /usr/lib/cni/ptp ] || need+=(cni)
[ -e /usr/lib/x86_64-linux-gnu/libnftables.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/libnftables.so.1 ] || need+=(libnftables)
[ -e /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
if [ "${#need[@]}" -gt 0 ] || [ "${PODWALL_FORCE_APT:-}" = 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    nftables libnftables1 conntrack iproute2 containernetworking-plugins curl iperf3 ca-certificates openssl \
    clang llvm libbpf-dev >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
