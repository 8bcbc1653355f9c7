#!/bin/bash
# Fetches the SIP TLS key and certificate chain from Key Vault with the VM's identity into
# /etc/opencvi/tls/sip-key.pem and sip-cert.pem (the files SIP_TLS_KEY_FILE and
# SIP_TLS_CERT_FILE, or EDGE_TLS_KEY_FILE and EDGE_TLS_CERT_FILE, name).
# Usage: opencvi-tls-fetch <secret URI> [client id of the VM's user-assigned identity]
# The secret is that of a Key Vault certificate with content type application/x-pem-file; the
# identity needs Key Vault Secrets User on it (infra/README.md). Runs before each start of
# the service, so a renewed certificate is taken at the next restart; while Key Vault cannot
# be read, the files fetched before are kept.
set -euo pipefail
uri="${1%/}"
client_id="${2:-}"
dir=/etc/opencvi/tls
host="${uri#https://}"
host="${host%%/*}"
fetch() {
  local token
  token=$(curl -fsS --noproxy '*' --max-time 10 -H Metadata:true \
    "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2F${host#*.}${client_id:+&client_id=$client_id}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' 2>/dev/null)
  curl -fsS --max-time 10 -H "Authorization: Bearer $token" "$uri?api-version=7.4" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["value"])' 2>/dev/null
}
if ! pem=$(fetch); then
  if [ -s "$dir/sip-cert.pem" ] && [ -s "$dir/sip-key.pem" ]; then
    echo "cannot read $uri: keeping the certificate fetched before" >&2
    exit 0
  fi
  echo "cannot read $uri with the VM identity (does it hold Key Vault Secrets User on it?)" >&2
  exit 1
fi
umask 027
mkdir -p "$dir"
printf '%s\n' "$pem" | awk '/-----BEGIN [A-Z ]*PRIVATE KEY-----/{k=1} k{print} /-----END [A-Z ]*PRIVATE KEY-----/{k=0}' >"$dir/sip-key.pem.new"
printf '%s\n' "$pem" | awk '/-----BEGIN CERTIFICATE-----/{c=1} c{print} /-----END CERTIFICATE-----/{c=0}' >"$dir/sip-cert.pem.new"
if [ ! -s "$dir/sip-key.pem.new" ] || [ ! -s "$dir/sip-cert.pem.new" ]; then
  rm -f "$dir"/*.new
  echo "$uri holds no PEM key and certificate (content type application/x-pem-file?)" >&2
  exit 1
fi
chown root:opencvi "$dir" "$dir"/*.new
chmod 0750 "$dir"
chmod 0640 "$dir"/*.new
mv "$dir/sip-key.pem.new" "$dir/sip-key.pem"
mv "$dir/sip-cert.pem.new" "$dir/sip-cert.pem"
