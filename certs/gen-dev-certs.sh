#!/usr/bin/env bash
# Generates a development PKI for carebridge with OpenSSL (ECDSA P-256, SHA-256):
#   ca.crt/ca.key              dev CA, CN "carebridge dev CA"
#   server.crt/server.key      localhost: SAN DNS:localhost, IP:127.0.0.1, IP:::1 (serverAuth)
#   <partner>.crt/<partner>.key  client certificates (clientAuth), CN = partner id,
#                              URI SAN urn:carebridge:partner:<id>
#   <partner>.jwt.key/.jwt.pub   EC P-384 key pair signing its SMART Backend Services client
#                              assertions (ES384); the gateway is configured with the .pub
# With --test-extras, also (for the mutual-TLS tests):
#   expired-client.crt/.key    riverside-ehr identity, issued by the dev CA, expired in 2020
#   rogue-ca.crt/.key, rogue-client.crt/.key   a second CA and a riverside-ehr cert it issued
#   disabled-partner.crt/.key  a valid cert for a partner the registry lists as disabled
#   revoked-partner.crt/.key   a cert for partner id "revoked-partner", issued by the dev CA and
#                              revoked in ca.crl.pem
#   ca.crl.pem                 CRL of the dev CA revoking revoked-partner (rebuilt every run)
#   rogue-ca.crl.pem           an empty CRL of the rogue CA (for tests loading several CRLs)
#   .ca/                       the minimal `openssl ca` state behind the CRLs (rebuilt every run)
#
# Usage: certs/gen-dev-certs.sh OUTDIR [--force] [--test-extras]
# Idempotent: existing files are kept unless --force. Private keys are mode 600. Nothing here is
# for production, and nothing generated is committed (.gitignore ignores *.crt and *.key).
set -euo pipefail

usage() {
  echo "usage: $0 OUTDIR [--force] [--test-extras]" >&2
  exit 2
}

[[ $# -ge 1 ]] || usage
out=""
force=0
extras=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --test-extras) extras=1 ;;
    -h | --help) usage ;;
    -*) echo "unknown option: $arg" >&2; usage ;;
    *)
      [[ -z "$out" ]] || usage
      out="$arg"
      ;;
  esac
done
[[ -n "$out" ]] || usage
command -v openssl >/dev/null || { echo "openssl not found" >&2; exit 1; }

partners=(riverside-ehr lakeside-cmhc harbor-housing northside-food privacy-office
  care-coordination gateway-admin)

mkdir -p "$out"
umask 077
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# have NAME: true when NAME.crt and NAME.key exist and --force was not given.
have() {
  [[ $force -eq 0 && -s "$out/$1.crt" && -s "$out/$1.key" ]]
}

new_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  chmod 600 "$1"
}

# make_ca NAME CN
make_ca() {
  local name="$1" cn="$2"
  if have "$name"; then
    return
  fi
  new_key "$out/$name.key"
  openssl req -new -x509 -sha256 -days 3650 -key "$out/$name.key" -out "$out/$name.crt" \
    -subj "/O=carebridge dev/CN=$cn" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash"
  chmod 644 "$out/$name.crt"
}

# issue NAME CA CN EXTENSIONS — a leaf certificate for NAME signed by CA.
issue() {
  local name="$1" ca="$2" cn="$3" ext="$4"
  if have "$name"; then
    return
  fi
  new_key "$out/$name.key"
  openssl req -new -sha256 -key "$out/$name.key" -subj "/O=carebridge dev/CN=$cn" \
    -out "$tmp/$name.csr"
  printf '%s\n' "$ext" >"$tmp/$name.ext"
  openssl x509 -req -sha256 -days 825 -in "$tmp/$name.csr" -CA "$out/$ca.crt" \
    -CAkey "$out/$ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -extfile "$tmp/$name.ext" -out "$out/$name.crt" 2>/dev/null
  chmod 644 "$out/$name.crt"
}

client_ext() {
  cat <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectAltName=URI:urn:carebridge:partner:$1
authorityKeyIdentifier=keyid
subjectKeyIdentifier=hash
EOF
}

# A fresh CA invalidates everything it signed.
if ! have ca; then
  force=1
fi
make_ca ca "carebridge dev CA"

issue server ca localhost "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
authorityKeyIdentifier=keyid
subjectKeyIdentifier=hash"

for id in "${partners[@]}"; do
  issue "$id" ca "$id" "$(client_ext "$id")"
done

# Token signing keys: independent of the CA, but regenerated with --force like everything else.
for id in "${partners[@]}"; do
  if [[ $force -eq 0 && -s "$out/$id.jwt.key" && -s "$out/$id.jwt.pub" ]]; then
    continue
  fi
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$out/$id.jwt.key" \
    2>/dev/null
  chmod 600 "$out/$id.jwt.key"
  openssl pkey -in "$out/$id.jwt.key" -pubout -out "$out/$id.jwt.pub"
  chmod 644 "$out/$id.jwt.pub"
done

if [[ $extras -eq 1 ]]; then
  issue disabled-partner ca disabled-partner "$(client_ext disabled-partner)"

  # A second CA nobody trusts, and a riverside-ehr certificate it issued.
  rogue_force=$force
  if ! have rogue-ca; then
    force=1
  fi
  make_ca rogue-ca "carebridge rogue CA"
  issue rogue-client rogue-ca riverside-ehr "$(client_ext riverside-ehr)"
  force=$rogue_force

  # `openssl ca` state for the dev CA and the rogue CA, rebuilt from scratch on every run (the
  # CAs may just have been replaced): it signs the expired certificate and makes the CRLs.
  # ca_init NAME: a fresh database in $out/.ca/NAME for the CA $out/NAME.crt.
  ca_init() {
    local dir="$out/.ca/$1"
    rm -rf "$dir"
    mkdir -p "$dir/new"
    : >"$dir/index.txt"
    openssl rand -hex 16 >"$dir/serial"
    echo 01 >"$dir/crlnumber"
    cat >"$dir/ca.cnf" <<EOF
[ca]
default_ca = dev
[dev]
dir = $dir
database = \$dir/index.txt
serial = \$dir/serial
crlnumber = \$dir/crlnumber
new_certs_dir = \$dir/new
certificate = $out/$1.crt
private_key = $out/$1.key
default_md = sha256
default_crl_days = 825
policy = any
unique_subject = no
copy_extensions = none
[any]
organizationName = optional
commonName = supplied
EOF
  }
  # ca_run NAME ARGS...: `openssl ca` with NAME's config; its chatter is shown only on failure.
  ca_run() {
    local name="$1"
    shift
    if ! openssl ca -batch -notext -config "$out/.ca/$name/ca.cnf" "$@" >"$tmp/ca.log" 2>&1; then
      cat "$tmp/ca.log" >&2
      return 1
    fi
  }
  ca_init ca
  ca_init rogue-ca

  # An expired certificate: OpenSSL 3.0's x509 cannot set a start date in the past, so sign it
  # with `openssl ca`, which takes explicit -startdate/-enddate.
  if ! have expired-client; then
    new_key "$out/expired-client.key"
    openssl req -new -sha256 -key "$out/expired-client.key" \
      -subj "/O=carebridge dev/CN=riverside-ehr" -out "$tmp/expired.csr"
    client_ext riverside-ehr >"$tmp/expired.ext"
    ca_run ca -startdate 20190101000000Z -enddate 20200101000000Z -extfile "$tmp/expired.ext" \
      -in "$tmp/expired.csr" -out "$out/expired-client.crt"
    chmod 644 "$out/expired-client.crt"
  fi

  # A valid certificate that the dev CA's CRL revokes. The CRLs are rebuilt on every run, so they
  # always match the CAs and certificates on disk.
  issue revoked-partner ca revoked-partner "$(client_ext revoked-partner)"
  ca_run ca -revoke "$out/revoked-partner.crt" -crl_reason keyCompromise
  ca_run ca -gencrl -out "$tmp/ca.crl.pem"
  ca_run rogue-ca -gencrl -out "$tmp/rogue-ca.crl.pem"
  chmod 644 "$tmp/ca.crl.pem" "$tmp/rogue-ca.crl.pem"
  mv -f "$tmp/ca.crl.pem" "$out/ca.crl.pem"
  mv -f "$tmp/rogue-ca.crl.pem" "$out/rogue-ca.crl.pem"
fi

echo "dev certificates in $out"
