#!/usr/bin/env bash
# Creates the local stack's own certificate authority and a localhost server
# certificate (once). Everything local speaks HTTPS like its Azure counterpart;
# Node trusts this CA through NODE_EXTRA_CA_CERTS, so no client code changes.
set -euo pipefail
dir="${1:-.local/tls}"
[ -s "$dir/server.pem" ] && [ -s "$dir/ca.pem" ] && exit 0
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=OpenCVI local CA" \
  -keyout ca-key.pem -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server-key.pem -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 \
  -extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl
chmod 600 ca-key.pem server-key.pem
