#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy) over the modules that do not include Asio/Beast (fhir, mappings,
# consent, audit, store, config, auth): their headers parse quickly enough for every test run.
# Fails when a check configured as an error (WarningsAsErrors: bugprone-*) fires; the other
# checks' warnings are printed and counted, not fatal.
#
# usage: tests/check-tidy.sh BUILD_DIR   (a configured build with compile_commands.json)
set -euo pipefail
build=${1:?usage: tests/check-tidy.sh BUILD_DIR}
cd "$(dirname "$0")/.."
[[ -f "$build/compile_commands.json" ]] || { echo "no $build/compile_commands.json" >&2; exit 2; }
command -v clang-tidy >/dev/null || { echo "clang-tidy not installed" >&2; exit 2; }
files=$(git ls-files 'fhir/*.cc' 'mappings/*.cc' 'gateway/consent/*.cc' 'gateway/audit/*.cc' \
  'gateway/store/*.cc' 'gateway/config/*.cc' 'gateway/auth/*.cc' 2>/dev/null)
[[ -n "$files" ]] || exit 0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# g++-only warning flags in the compile commands mean nothing to clang.
# shellcheck disable=SC2086
printf '%s\n' $files | xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet \
  --extra-arg=-Wno-unknown-warning-option >"$out" 2>/dev/null || true
warnings=$(grep -c ': warning: ' "$out" || true)
errors=$(grep ': error: ' "$out" || true)
echo "clang-tidy: $(wc -w <<<"$files") files, $warnings warnings"
if [[ -n "$errors" ]]; then
  echo "$errors"
  exit 1
fi
