#!/usr/bin/env bash
# The whole test suite, as CI runs it: setup, lint, layer rules, then every test (root tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run lint --silent
npm run deps --silent
npm run test:ci --silent
