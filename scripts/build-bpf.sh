#!/usr/bin/env bash
# Compiles the eBPF programs (bpf/podwall.bpf.c) to dist/bpf/podwall.bpf.o. Needs clang and libbpf-dev (setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG="${CLANG:-clang}"
if ! command -v "$CLANG" >/dev/null 2>&1; then
  echo "build-bpf: $CLANG not found (apt-get install clang llvm libbpf-dev, or run scripts/setup.sh)" >&2
  exit 1
fi
if [ ! -e /usr/include/bpf/bpf_helpers.h ]; then
  echo "build-bpf: /usr/include/bpf/bpf_helpers.h not found (apt-get install libbpf-dev)" >&2
  exit 1
fi

# <asm/types.h> lives under the multiarch include dir, which -target bpf does not search by itself.
multiarch="$(gcc -print-multiarch 2>/dev/null || true)"
[ -n "$multiarch" ] || multiarch="$(uname -m)-linux-gnu"

mkdir -p dist/bpf
"$CLANG" -O2 -g -target bpf -Wall -Werror \
  -I"/usr/include/$multiarch" -Ibpf \
  -c bpf/podwall.bpf.c -o dist/bpf/podwall.bpf.o.tmp
mv dist/bpf/podwall.bpf.o.tmp dist/bpf/podwall.bpf.o
