#!/usr/bin/env bash
# The main job: the Star Wars walkthrough of shared/seed/TUTORIAL.md, end to end, on this machine (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/src/cli/main.js demo "$@"
