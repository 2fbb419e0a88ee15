#!/usr/bin/env bash
# Installs larder's build and test dependencies from Debian 12 packages. Idempotent: when every
# package is already installed it says so and touches nothing. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev liburing-dev libmimalloc-dev libzstd-dev libspdlog-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libtomlplusplus-dev  # the seed's TOML config form
  libxxhash-dev        # xxh3: key hashing and on-disk checksums
  libcli11-dev         # the larder command's argument parsing
  nlohmann-json3-dev   # larder stat --json
  fio                  # the baseline the disk benchmarks compare against
  gnuplot-nox          # larder replay --plot
  prometheus           # promtool: checks the /metrics exposition in tests
  libhiredis-dev       # the Redis remote tier: hiredis's reply parser
  redis-server         # the real server the remote-tier tests start on loopback
  redis-tools          # redis-cli: the tests join a Redis Cluster and migrate its slots with it
  libssl-dev           # the remote tier's TLS: OpenSSL 3 under Boost.Asio's ssl
  openssl              # the TLS tests make their CA and certificates with the openssl command
  clang libclang-rt-14-dev  # the fuzz preset: clang 14 and its libFuzzer/sanitizer runtimes
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
