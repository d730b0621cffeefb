#!/usr/bin/env bash
# Builds and starts the gateway with the embedded default: SQLite under var/data, dev
# certificates under var/certs, TLS on 127.0.0.1:8443. Extra arguments go to `carebridge serve`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

deploy/install-deps.sh run
cmake --preset release -DCAREBRIDGE_BUILD_TESTS=OFF >/dev/null
cmake --build --preset release --target carebridge
bash certs/gen-dev-certs.sh var/certs
mkdir -p var/data
exec build/release/gateway/carebridge serve --config deploy/carebridge.example.json "$@"
