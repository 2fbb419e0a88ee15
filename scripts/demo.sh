#!/usr/bin/env bash
# Installs the dependencies, builds larder (release) and runs `larder demo`, the training-loop
# demonstration, on the embedded default configuration. Extra arguments go to `larder demo`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target larder_tool
# The demo's cache directory is ./cache (the embedded default): run it in build/demo, not in the
# source tree, whose cache/ folder is the cache module.
mkdir -p build/demo
cd build/demo
exec ../release/tools/larder demo "$@"
