#!/usr/bin/env bash
# Installs the dependencies, builds larder and runs the whole test suite: the release build, then
# the AddressSanitizer + UBSan build, then the concurrency tests under ThreadSanitizer, then the
# libFuzzer targets for a bounded time each (clang; only the fuzzed sources are compiled).
#   scripts/test.sh                 all four
#   scripts/test.sh release asan    only the presets named
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(release asan tsan fuzz)
jobs=$(nproc)
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON

for preset in "${presets[@]}"; do
  echo "=== ${preset}: configure and build"
  cmake --preset "$preset" -DLARDER_WERROR="$werror" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== ${preset}: test"
  if [ "$preset" = tsan ]; then
    # ThreadSanitizer is for the concurrency tests; the rest gain nothing from it but time.
    ctest --preset "$preset" -j "$jobs" -L concurrency
  else
    ctest --preset "$preset" -j "$jobs"
  fi
done
echo "=== all test runs passed: ${presets[*]}"
