#!/usr/bin/env bash
# Referral delivery benchmark (issue 6, Speed): POST -> the agency's 2xx latency (paced and back to
# back) and the drain of a backlog queued during an agency outage, against the real carebridge
# Release binary and a local HTTPS agency. Reports, never fails on a missed target.
#
#   tests/bench/referral.sh [--no-build] [--build-dir DIR] [referral_bench options...]
#     --n N (1000)  --rate R (50/s)  --repeats K (3)  --outage-s S (20)  --warmup N (20)
#     --delivery '"per_destination": 8'   extra members of referrals.delivery
# BENCH_BUILD_JOBS sets the build's parallelism (default 1). Raw figures go to
# tests/bench/results/referral-<timestamp>.json (git-ignored).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=$root/build/release
build=1
args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --no-build) build=0 ;;
    --build-dir) build_dir=$2; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done

if [[ $build == 1 ]]; then
  if [[ ! -f $build_dir/build.ninja ]]; then
    cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  cmake --build "$build_dir" -j "${BENCH_BUILD_JOBS:-1}" --target carebridge referral_bench
fi
bench=$build_dir/tests/bench/referral_bench
[[ -x $bench ]] || { echo "no $bench: build it first" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/carebridge-referral-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
bash "$root/certs/gen-dev-certs.sh" "$tmp/certs" --test-extras >/dev/null 2>&1
export CAREBRIDGE_TEST_CERTS=$tmp/certs
export TMPDIR=${TMPDIR:-/tmp}  # the gateways' data directories (SQLite, fsync): not tmpfs

mkdir -p "$root/tests/bench/results"
out=$root/tests/bench/results/referral-$(date -u +%Y%m%dT%H%M%SZ).json
echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
echo "git: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo +dirty)"
"$bench" --json "$out" "${args[@]}"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); raw figures: $out"
