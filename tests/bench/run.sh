#!/usr/bin/env bash
# Benchmarks carebridge against nginx (the ceiling of any HTTP server on this machine) and a
# peer FHIR server (@asymmetrik/node-fhir-server-core 2.2.5), all in the same run, on loopback,
# over TLS with keep-alive, driven by wrk: read of one CarePlan and create of a 7.5 KB CarePlan at
# each connection count. Prints requests/s, p50/p99 latency, non-2xx and peak RSS per server, and
# the carebridge/peer and carebridge/nginx ratios; writes the raw results to tests/bench/results/.
#
# usage: tests/bench/run.sh [--duration S] [--warmup S] [--connections "1 16 64"]
#                           [--only carebridge|nginx|peer[,...]] [--binary PATH] [--no-build]
#                           [--keep] [--perf CASE]
#   --duration S       seconds of measurement per case (default 10)
#   --warmup S         seconds of warm-up before each case, not measured (default 2)
#   --connections L    connection counts (default "1 16 64"); wrk threads = min(connections, 2)
#   --only LIST        run only these servers (comma or space separated)
#   --binary PATH      use this carebridge binary instead of building build/release
#   --no-build         do not build; use build/release/gateway/carebridge as it is
#   --keep             keep the temporary directory (configs, logs, data) for inspection
#   --perf CASE        record carebridge with `perf record -g` during CASE (read, read-consent,
#                      create, create-mapped) into the kept directory: perf.CASE.CONNS.data
# Environment: BENCH_BUILD_JOBS (default 2) parallel jobs for the carebridge build.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bench="$root/tests/bench"
cd "$root"

duration=10
warmup=2
connections="1 16 64"
only="carebridge nginx peer"
binary=""
build=1
keep=0
perf_case=

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration=${2:?}; shift 2 ;;
    --warmup) warmup=${2:?}; shift 2 ;;
    --connections) connections=${2:?}; shift 2 ;;
    --only) only=${2:?}; shift 2 ;;
    --binary) binary=${2:?}; build=0; shift 2 ;;
    --no-build) build=0; shift ;;
    --keep) keep=1; shift ;;
    --perf) perf_case=${2:?}; keep=1; shift 2 ;;
    -h | --help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
only=${only//,/ }
for s in $only; do
  case "$s" in carebridge | nginx | peer) ;; *) echo "unknown server: $s" >&2; usage ;; esac
done
[[ "$duration" =~ ^[0-9]+$ && "$duration" -ge 1 ]] || { echo "bad --duration" >&2; exit 2; }
[[ "$warmup" =~ ^[0-9]+$ ]] || { echo "bad --warmup" >&2; exit 2; }
for c in $connections; do
  [[ "$c" =~ ^[0-9]+$ && "$c" -ge 1 ]] || { echo "bad connection count: $c" >&2; exit 2; }
done
wants() { [[ " $only " == *" $1 "* ]]; }
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Temporary directory and cleanup: every process we start is recorded and killed on exit.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/carebridge-bench.XXXXXX")
pids=()
exec 3>&2 # the cleanup reports here even if a trap fires inside a redirected command
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  [[ $status -eq 130 || $status -eq 143 ]] && echo "bench: interrupted, stopping the servers" >&3
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ $keep -eq 1 || ($status -ne 0 && $status -ne 130 && $status -ne 143) ]]; then
    echo "bench: kept $tmp (logs, configs, data)" >&3
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Prerequisites: packages, carebridge binary, certificates, peer dependencies.
log "dependencies (deploy/install-deps.sh bench)"
deploy/install-deps.sh bench
for tool in wrk curl openssl node; do
  command -v "$tool" >/dev/null || die "$tool not found"
done
if wants nginx; then
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || die "nginx not found"
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

if wants carebridge; then
  if [[ -z "$binary" ]]; then
    binary="$root/build/release/gateway/carebridge"
    if [[ $build -eq 1 ]]; then
      log "building carebridge (Release, -j ${BENCH_BUILD_JOBS:-2})"
      cmake --preset release >/dev/null || die "cmake --preset release failed"
      cmake --build --preset release --target carebridge -j "${BENCH_BUILD_JOBS:-2}" ||
        die "the carebridge Release build failed (fix it, or measure another build with --binary PATH)"
    fi
  fi
  [[ -x "$binary" ]] || die "carebridge binary not found: $binary"
fi

certs="$tmp/certs"
if [[ -f certs/gen-dev-certs.sh ]]; then
  bash certs/gen-dev-certs.sh "$certs" >/dev/null
else
  log "certs/gen-dev-certs.sh missing: using a temporary self-signed ECDSA certificate"
  mkdir -p "$certs"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$certs/server.key" -out "$certs/server.crt" -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
  cp "$certs/server.crt" "$certs/ca.crt"
fi
for f in ca.crt server.crt server.key; do
  [[ -s "$certs/$f" ]] || die "missing $certs/$f"
done

if wants peer; then
  core="$bench/peer/node_modules/@asymmetrik/node-fhir-server-core/package.json"
  if [[ ! -f "$core" ]] || ! grep -q '"version": "2.2.5"' "$core"; then
    log "installing peer dependencies (npm ci --ignore-scripts)"
    (cd "$bench/peer" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi
fi

# The create body: the 7.5 KB CarePlan fixture with a fixed patient.
body="$tmp/careplan.json"
sed 's/PATIENT_ID/bench-patient/g' tests/fixtures/rest/careplan-7k.json >"$body"
export BENCH_BODY="$body"

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
curl_tls() { curl -sS --max-time 10 --cacert "$certs/ca.crt" "${auth_header[@]}" "$@"; }
auth_header=()  # set while talking to carebridge: its /fhir answers authenticated partners only
carebridge_auth=""

# wait_ready URL PID NAME: until URL answers 200 (30 s), or the process dies.
wait_ready() {
  local url=$1 pid=$2 name=$3
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || die "$name exited at start-up (see $tmp/$name.log)"
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$certs/ca.crt" "$url")" == 200 ]]; then
      return 0
    fi
    sleep 0.1
  done
  die "$name did not become ready at $url (see $tmp/$name.log)"
}

# check_create NAME URL: POST the body once; prints the Location header; requires 201.
check_create() {
  local name=$1 url=$2 headers="$tmp/$1.create.headers" code
  code=$(curl_tls -o "$tmp/$name.create.body" -D "$headers" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/fhir+json' -H 'Accept: application/fhir+json' \
    --data-binary @"$body" "$url")
  [[ "$code" == 201 ]] || die "$name: create answered $code, not 201: $(head -c 300 "$tmp/$name.create.body")"
  tr -d '\r' <"$headers" | sed -n 's/^[Ll]ocation: *//p' | head -1
}

# check_read NAME URL OUT: GET once into OUT; requires 200.
check_read() {
  local code
  code=$(curl_tls -o "$3" -w '%{http_code}' -H 'Accept: application/fhir+json' "$2")
  [[ "$code" == 200 ]] || die "$1: read answered $code, not 200: $(head -c 300 "$3")"
}

# ---------------------------------------------------------------------------------------------
# Servers. Each records in server_pids[NAME] the process whose RSS (plus its children's) we report.
declare -A read_url create_url server_pid server_note idle_rss

if wants carebridge; then
  log "starting carebridge"
  mkdir -p "$tmp/carebridge/data"
  # One EHR partner, authenticated by a bearer token from the token endpoint (wrk cannot present
  # a client certificate), with a rate limit the benchmark never meets. All of wrk's connections
  # come from one address without a certificate: the per-client connection limit must admit them.
  cat >"$tmp/carebridge/config.json" <<EOF
{"server":{"cert":"$certs/server.crt","key":"$certs/server.key","client_ca":"$certs/ca.crt",
            "max_connections_per_client":256},
 "token_audience":"https://carebridge.bench/auth/token","token_lifetime_s":3600,
 "partners":[{"id":"riverside-ehr","name":"Riverside","kind":"ehr",
   "cert_subjects":["urn:carebridge:partner:riverside-ehr"],
   "purposes":["TREAT"],"default_purpose":"TREAT",
   "jwt_public_key_file":"$certs/riverside-ehr.jwt.pub",
   "requests_per_second":1000000,"burst":1000000},
  {"id":"lakeside-cmhc","name":"Lakeside","kind":"ehr",
   "cert_subjects":["urn:carebridge:partner:lakeside-cmhc"],
   "purposes":["TREAT"],"default_purpose":"TREAT","mapping_profile":"lakeside-cmhc",
   "jwt_public_key_file":"$certs/lakeside-cmhc.jwt.pub",
   "requests_per_second":1000000,"burst":1000000},
  {"id":"care-coordination","name":"Care coordination","kind":"coordinator",
   "cert_subjects":["urn:carebridge:partner:care-coordination"],
   "purposes":["TREAT"],"default_purpose":"TREAT",
   "jwt_public_key_file":"$certs/care-coordination.jwt.pub",
   "requests_per_second":1000000,"burst":1000000}]}
EOF
  "$binary" serve --config "$tmp/carebridge/config.json" --listen 127.0.0.1:0 \
    --data-dir "$tmp/carebridge/data" --port-file "$tmp/carebridge/port" \
    >"$tmp/carebridge.log" 2>&1 &
  server_pid[carebridge]=$!
  pids+=($!)
  for _ in $(seq 300); do
    [[ -s "$tmp/carebridge/port" ]] && break
    kill -0 "${server_pid[carebridge]}" 2>/dev/null || die "carebridge exited at start-up: $(tail -20 "$tmp/carebridge.log")"
    sleep 0.1
  done
  port=$(cat "$tmp/carebridge/port" 2>/dev/null) || die "carebridge wrote no port file"
  base="https://127.0.0.1:$port"
  wait_ready "$base/readyz" "${server_pid[carebridge]}" carebridge
  # SMART Backend Services: an ES384 client assertion signed with the partner's key.
  fetch_token() { # PARTNER -> access token on stdout
    local assertion
    assertion=$(node -e '
      const crypto = require("crypto"), fs = require("fs");
      const [key, aud, iss] = process.argv.slice(1);
      const b64 = (b) => Buffer.from(b).toString("base64url");
      const now = Math.floor(Date.now() / 1000);
      const head = b64(JSON.stringify({alg: "ES384", typ: "JWT"}));
      const body = b64(JSON.stringify({iss, sub: iss, aud,
                                       exp: now + 240, iat: now, jti: crypto.randomUUID()}));
      const sig = crypto.sign("sha384", Buffer.from(head + "." + body),
                              {key: fs.readFileSync(key), dsaEncoding: "ieee-p1363"});
      console.log(head + "." + body + "." + sig.toString("base64url"));' \
      "$certs/$1.jwt.key" "https://carebridge.bench/auth/token" "$1")
    curl_tls -X POST --data-urlencode grant_type=client_credentials \
      --data-urlencode client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
      --data-urlencode "client_assertion=$assertion" --data-urlencode 'scope=system/*.*' \
      "$base/auth/token" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
        try{console.log(JSON.parse(s).access_token||"")}catch(e){console.log("")}})'
  }
  token=$(fetch_token riverside-ehr)
  [[ -n "$token" ]] || die "carebridge: the token endpoint gave no access token"
  carebridge_auth="Authorization: Bearer $token"
  coordinator_token=$(fetch_token care-coordination)
  [[ -n "$coordinator_token" ]] || die "carebridge: no access token for care-coordination"
  consent_auth="Authorization: Bearer $coordinator_token"
  mapped_token=$(fetch_token lakeside-cmhc)
  [[ -n "$mapped_token" ]] || die "carebridge: no access token for lakeside-cmhc"
  mapped_auth="Authorization: Bearer $mapped_token"
  auth_header=(-H "$carebridge_auth")
  create_url[carebridge]="$base/fhir/CarePlan"
  location=$(check_create carebridge "${create_url[carebridge]}")
  id=$(node -e 'const fs=require("fs");let id="";try{id=JSON.parse(fs.readFileSync(process.argv[1],"utf8")).id||""}catch(e){}
    if(!id){const m=/CarePlan\/([^/\s]+)/.exec(process.argv[2]||"");if(m)id=m[1]}console.log(id)' \
    "$tmp/carebridge.create.body" "$location")
  [[ -n "$id" ]] || die "carebridge: no id in the create response (Location: $location)"
  read_url[carebridge]="$base/fhir/CarePlan/$id"
  check_read carebridge "${read_url[carebridge]}" "$tmp/carebridge.read.json"
  # read-consent: the same CarePlan read by another partner, released by the patient's Consent:
  # the consents are loaded and evaluated, and the decision and the disclosure are audited.
  code=$(curl_tls -o "$tmp/consent.body" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/fhir+json' --data-binary @- "$base/fhir/Consent" <<'JSON'
{"resourceType":"Consent","status":"active",
 "scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
 "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
 "patient":{"reference":"Patient/bench-patient"},
 "policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},
 "provision":{"type":"permit","actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},
   "reference":{"reference":"Organization/care-coordination"}}],
   "purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"TREAT"}]}}
JSON
  )
  [[ "$code" == 201 ]] || die "carebridge: the bench Consent was not created ($code): $(cat "$tmp/consent.body")"
  auth_header=(-H "$consent_auth")
  check_read carebridge "${read_url[carebridge]}" "$tmp/carebridge.read-consent.json"
  auth_header=()
  server_note[carebridge]="TLS, SQLite WAL synchronous=FULL (durable), $binary, tree $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- 2>/dev/null || echo '+dirty')"
fi

# The JSON body nginx serves for both read and create: carebridge's own read when we have it.
static_json="$tmp/nginx/html/careplan.json"
mkdir -p "$tmp/nginx/html" "$tmp/nginx/tmp"
if [[ -s "$tmp/carebridge.read.json" ]]; then
  cp "$tmp/carebridge.read.json" "$static_json"
else
  node -e 'const fs=require("fs");const r=JSON.parse(fs.readFileSync(process.argv[1],"utf8"));
    process.stdout.write(JSON.stringify(Object.assign({resourceType:r.resourceType,id:"bench-read",
    meta:{versionId:"1",lastUpdated:new Date().toISOString()}},r)))' "$body" >"$static_json"
fi

if wants nginx; then
  log "starting nginx"
  port=$(free_port)
  n="$tmp/nginx"
  user_line=""
  [[ $(id -u) -eq 0 ]] && user_line="user root;"
  cat >"$n/nginx.conf" <<EOF
$user_line
worker_processes 2;
daemon off;
master_process on;
pid $n/nginx.pid;
error_log $n/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $n/tmp/body;
  proxy_temp_path $n/tmp/proxy;
  fastcgi_temp_path $n/tmp/fastcgi;
  uwsgi_temp_path $n/tmp/uwsgi;
  scgi_temp_path $n/tmp/scgi;
  keepalive_timeout 300s;
  keepalive_requests 100000000;
  client_body_buffer_size 16k;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $certs/server.crt;
    ssl_certificate_key $certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    root $n/html;
    default_type application/fhir+json;
    # read: the same JSON carebridge returns for GET /fhir/CarePlan/<id>
    location /fhir/CarePlan/ { try_files /careplan.json =404; }
    # create: static files refuse POST with 405; turn that into 201 with the same body
    location = /fhir/CarePlan { try_files /careplan.json =404; error_page 405 =201 /careplan.json; }
  }
}
EOF
  "$nginx_bin" -p "$n" -c "$n/nginx.conf" >"$tmp/nginx.log" 2>&1 &
  server_pid[nginx]=$!
  pids+=($!)
  base="https://127.0.0.1:$port"
  read_url[nginx]="$base/fhir/CarePlan/bench-read"
  create_url[nginx]="$base/fhir/CarePlan"
  wait_ready "${read_url[nginx]}" "${server_pid[nginx]}" nginx
  check_create nginx "${create_url[nginx]}" >/dev/null
  check_read nginx "${read_url[nginx]}" "$tmp/nginx.read.json"
  server_note[nginx]="TLS, static file, $("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //'), worker_processes 2"
fi

if wants peer; then
  log "starting peer (node-fhir-server-core 2.2.5)"
  port=$(free_port)
  PEER_PORT=$port PEER_CERT="$certs/server.crt" PEER_KEY="$certs/server.key" NODE_ENV=production \
    node "$bench/peer/server.js" >"$tmp/peer.log" 2>&1 &
  server_pid[peer]=$!
  pids+=($!)
  base="https://127.0.0.1:$port"
  wait_ready "$base/4_0_0/metadata" "${server_pid[peer]}" peer
  create_url[peer]="$base/4_0_0/CarePlan"
  location=$(check_create peer "${create_url[peer]}")
  id=${location##*/}
  [[ -n "$id" ]] || die "peer: no Location on create"
  read_url[peer]="$base/4_0_0/CarePlan/$id"
  check_read peer "${read_url[peer]}" "$tmp/peer.read.json"
  grep -q '"resourceType":"CarePlan"' "$tmp/peer.read.json" || die "peer: read did not return the CarePlan"
  server_note[peer]="TLS (the core's server.ssl), in-memory Map service$([[ ${PEER_SCHEMA:-} == 1 ]] && echo " with the R4 schema class (PEER_SCHEMA=1)" || true), node $(node -v), create answers 201 without a body"
fi

servers=()
for s in carebridge peer nginx; do
  wants "$s" && servers+=("$s")
done
[[ ${#servers[@]} -gt 0 ]] || die "no server to run"

# ---------------------------------------------------------------------------------------------
# Memory: the server process and its children (nginx workers). VmHWM is reset before each case
# through /proc/PID/clear_refs ("5"), so the reported peak is the peak of that case.
server_pids() {
  local pid=$1
  echo "$pid"
  pgrep -P "$pid" 2>/dev/null || true
}
# CPU time (user + system, clock ticks) the processes have used, threads included: per request it
# says what a case costs even when other work shares the cores and the wall-clock rate is noisy.
sum_cpu_ticks() { # PID...
  local total=0 v
  for p in "$@"; do
    v=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
clk_tck=$(getconf CLK_TCK)

sum_status_kb() { # FIELD PID...
  local field=$1 total=0 v
  shift
  for p in "$@"; do
    v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
hwm_resettable=1
reset_hwm() {
  local p
  for p in "$@"; do
    echo 5 >"/proc/$p/clear_refs" 2>/dev/null || hwm_resettable=0
  done
}

# Context for the durable creates: how many 8 KB write+fdatasync per second the filesystem of the
# data directory does by itself (carebridge's data directory is under $tmp).
fsync_rate=$(node -e 'const fs=require("fs");const f=process.argv[1];const fd=fs.openSync(f,"w");
  const b=Buffer.alloc(8192,120);const n=200;const t=process.hrtime.bigint();
  for(let i=0;i<n;i++){fs.writeSync(fd,b);fs.fdatasyncSync(fd)}
  const s=Number(process.hrtime.bigint()-t)/1e9;fs.closeSync(fd);fs.unlinkSync(f);console.log(Math.round(n/s))' \
  "$tmp/fsync-probe")

sleep 1
for s in "${servers[@]}"; do
  # shellcheck disable=SC2046 # one word per pid
  idle_rss[$s]=$(sum_status_kb VmRSS $(server_pids "${server_pid[$s]}"))
done

# ---------------------------------------------------------------------------------------------
# The measurement.
results="$tmp/results.ndjson"
: >"$results"
run_wrk() { # CASE URL CONNS SECONDS -> wrk output on stdout
  local kind=$1 url=$2 c=$3 secs=$4 threads=$(($3 < 2 ? $3 : 2)) script
  script="$bench/get.lua"
  [[ "$kind" == create* ]] && script="$bench/post.lua"
  local auth=""
  [[ "$s" == carebridge ]] && auth=$carebridge_auth
  [[ "$s" == carebridge && "$kind" == read-consent ]] && auth=$consent_auth
  [[ "$s" == carebridge && "$kind" == create-mapped ]] && auth=$mapped_auth
  BENCH_AUTH=$auth timeout $((secs + 30)) wrk -t "$threads" -c "$c" -d "${secs}s" --timeout 5s \
    -s "$script" "$url"
}

total_cases=$((2 * $(wc -w <<<"$connections") * ${#servers[@]}))
wants carebridge && total_cases=$((total_cases + 2 * $(wc -w <<<"$connections")))
n=0
for kind in read read-consent create create-mapped; do
  for c in $connections; do
    for s in "${servers[@]}"; do
      [[ ("$kind" == read-consent || "$kind" == create-mapped) && "$s" != carebridge ]] && continue
      n=$((n + 1))
      url=${read_url[$s]}
      [[ "$kind" == create* ]] && url=${create_url[$s]}
      kill -0 "${server_pid[$s]}" 2>/dev/null || die "$s is no longer running (see $tmp/$s.log)"
      ps=$(server_pids "${server_pid[$s]}")
      reset_hwm $ps
      if [[ $warmup -gt 0 ]]; then
        run_wrk "$kind" "$url" "$c" "$warmup" >"$tmp/wrk.$s.$kind.$c.warmup" 2>&1 || true
      fi
      log "[$n/$total_cases] $kind  $s  ${c} conn  ${duration}s"
      out="$tmp/wrk.$s.$kind.$c.out"
      status=0
      # shellcheck disable=SC2086 # one word per pid
      cpu_before=$(sum_cpu_ticks $ps)
      perf_pid=
      if [[ "$s" == carebridge && "$kind" == "$perf_case" ]]; then
        perf record ${BENCH_PERF_ARGS:--g} -o "$tmp/perf.$kind.$c.data" -p "${server_pid[$s]}" >/dev/null 2>&1 &
        perf_pid=$!
      fi
      run_wrk "$kind" "$url" "$c" "$duration" >"$out" 2>&1 || status=$?
      if [[ -n "$perf_pid" ]]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
      fi
      # shellcheck disable=SC2086
      cpu_ticks=$(($(sum_cpu_ticks $ps) - cpu_before))
      ps=$(server_pids "${server_pid[$s]}")
      hwm=$(sum_status_kb VmHWM $ps)
      rss=$(sum_status_kb VmRSS $ps)
      alive=true
      kill -0 "${server_pid[$s]}" 2>/dev/null || alive=false
      json=$(sed -n 's/^BENCH_JSON //p' "$out" | tail -1)
      if [[ -z "$json" ]]; then
        echo "bench: wrk gave no result for $s $kind $c (exit $status):" >&2
        tail -5 "$out" >&2
        json='{"failed":true}'
      fi
      printf '{"server":"%s","case":"%s","connections":%d,"threads":%d,"peak_rss_kb":%d,"rss_after_kb":%d,"cpu_s":%.2f,"alive":%s,"wrk_exit":%d,"wrk":%s}\n' \
        "$s" "$kind" "$c" $((c < 2 ? c : 2)) "$hwm" "$rss" "$(awk -v t="$cpu_ticks" -v h="$clk_tck" 'BEGIN { print t / h }')" \
        "$alive" "$status" "$json" >>"$results"
    done
  done
done

# ---------------------------------------------------------------------------------------------
# Report.
meta="$tmp/meta.json"
{
  printf '{'
  printf '"started":"%s","finished":"%s",' "$started" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf '"duration_s":%d,"warmup_s":%d,' "$duration" "$warmup"
  printf '"host":{"nproc":%d,"cpu":"%s","kernel":"%s","wrk":"%s"},' "$(nproc)" \
    "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo | tr -d '"')" "$(uname -r)" \
    "$(wrk -v 2>&1 | head -1 | awk '{ print $2 }')"
  printf '"fdatasync_per_s":%d,' "$fsync_rate"
  printf '"hwm_per_case":%s,' "$([[ $hwm_resettable -eq 1 ]] && echo true || echo false)"
  printf '"servers":{'
  first=1
  for s in "${servers[@]}"; do
    [[ $first -eq 1 ]] || printf ','
    first=0
    printf '"%s":{"idle_rss_kb":%d,"note":"%s","read_url":"%s","create_url":"%s"}' "$s" \
      "${idle_rss[$s]}" "${server_note[$s]//\"/}" "${read_url[$s]}" "${create_url[$s]}"
  done
  printf '}}\n'
} >"$meta"

mkdir -p "$bench/results"
stamp=$(date +%Y%m%d-%H%M%S)
node "$bench/report.js" "$meta" "$results" "$bench/results/$stamp.json"
