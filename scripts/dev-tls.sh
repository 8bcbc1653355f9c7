#!/usr/bin/env bash
# Creates the local stack's own certificate authority and a server certificate for
# localhost (once). Everything local speaks HTTPS like its Azure counterpart; Node trusts
# this CA through NODE_EXTRA_CA_CERTS, so no client code changes.
#
#   scripts/dev-tls.sh [dir] [address]
#
# With an address (the stack's, e.g. OPENCVI_ADDRESS=192.168.1.20), the server certificate
# also covers it, so devices and browsers on other machines can check the edge's TLS and the
# meeting page's HTTPS: when the certificate does not cover it yet, only the server
# certificate is made anew (same CA, which devices and browsers may trust already).
set -euo pipefail
dir="${1:-.local/tls}"
address="${2:-}"
if [ -n "$address" ] && ! [[ "$address" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; then
  echo "dev-tls: \"$address\" is not an IPv4 address" >&2
  exit 2
fi
covers() { openssl x509 -in "$dir/server.pem" -noout -checkip "$1" 2>/dev/null | grep -q "does match"; }
if [ -s "$dir/server.pem" ] && [ -s "$dir/ca.pem" ] && { [ -z "$address" ] || covers "$address"; }; then
  exit 0
fi
mkdir -p "$dir"
cd "$dir"
if [ ! -s ca.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=OpenCVI local CA" \
    -keyout ca-key.pem -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
elif [ ! -s ca-key.pem ]; then
  echo "dev-tls: $dir/ca-key.pem is missing: the server certificate cannot be signed by $dir/ca.pem" >&2
  exit 1
fi
san="DNS:localhost,IP:127.0.0.1,IP:::1${address:+,IP:$address}"
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server-key.pem -out server.csr 2>/dev/null
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$san" > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 \
  -extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl
chmod 600 ca-key.pem server-key.pem
echo "dev-tls: server certificate in $dir for $san"
