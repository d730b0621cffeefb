#!/usr/bin/env bash
# Installs the Debian 12 packages carebridge needs, and only those that are missing.
#   deploy/install-deps.sh run     what building and running the gateway needs
#   deploy/install-deps.sh test    plus what the test suite needs
#   deploy/install-deps.sh bench   plus what the benchmarks need
set -euo pipefail

run_packages=(g++ cmake ninja-build ccache pkg-config openssl libboost1.81-dev rapidjson-dev
  libsqlite3-dev libcurl4-openssl-dev libssl-dev libgtest-dev)
test_packages=(clang-format clang-tidy sqlite3 curl nodejs npm)
bench_packages=(wrk nginx-light)

wanted=("${run_packages[@]}")
for set in "$@"; do
  case "$set" in
    run) ;;
    test) wanted+=("${test_packages[@]}") ;;
    bench) wanted+=("${test_packages[@]}" "${bench_packages[@]}") ;;
    *) echo "usage: $0 [run|test|bench]..." >&2; exit 2 ;;
  esac
done

missing=()
for package in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
# A node from outside Debian (e.g. in /usr/local) serves the e2e tests and benchmarks as well.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  filtered=()
  for package in "${missing[@]}"; do
    [[ "$package" == nodejs || "$package" == npm ]] || filtered+=("$package")
  done
  missing=("${filtered[@]}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
