#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds Release and runs every test, then builds
# with AddressSanitizer + UndefinedBehaviorSanitizer and runs every test again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

deploy/install-deps.sh run test
# The e2e tests' npm packages (tests/e2e/package-lock.json); without node they are not registered.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  (cd tests/e2e && npm ci --ignore-scripts --no-audit --no-fund)
fi
jobs=$(nproc)

run_suite() {
  local preset=$1
  echo "== $preset: build" >&2
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "== $preset: test" >&2
  ctest --preset "$preset" -j "$jobs"
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite release
run_suite asan
echo "== all suites passed" >&2
