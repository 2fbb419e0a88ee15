#!/usr/bin/env bash
# Installs the dependencies, builds larder (release) and runs `larder demo`, the training-loop
# demonstration, on the embedded default configuration. Extra arguments go to `larder demo`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target larder_tool
exec build/release/tools/larder demo "$@"
