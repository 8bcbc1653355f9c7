#!/bin/bash
# Installs or upgrades OpenCVI on a media host or SIP edge VM from a package: a .tgz of the
# built repository (package.json, package-lock.json, dist/, edge/kamailio.cfg, patches/; at
# the top or under one directory).
# Usage: opencvi-install [package URL]; without one, the URL installed last.
# The VM's role (media-host or edge) is in /etc/opencvi/role, its settings in
# /etc/opencvi/<role>.env. Each install is a new release under /opt/opencvi/releases;
# /opt/opencvi/current points at the one that runs. The service's restart stops the old
# process first (a media host drains on SIGTERM) and starts the new one.
set -euo pipefail
role=$(cat /etc/opencvi/role)
case "$role" in
  media-host) unit=opencvi-media-host.service entry=dist/media-host/main.js ;;
  edge) unit=opencvi-edge.service entry=dist/edge/agent/main.js ;;
  *) echo "unknown role '$role' in /etc/opencvi/role" >&2; exit 1 ;;
esac
url="${1:-$(cat /etc/opencvi/package-url)}"
# The VM's user-assigned identity (the AZURE_CLIENT_ID of its settings) reads a Blob package.
client_id=$(sed -n 's/^AZURE_CLIENT_ID=//p' "/etc/opencvi/$role.env")
base=/opt/opencvi
release="$base/releases/$(date -u +%Y%m%dT%H%M%SZ)"
id -u opencvi >/dev/null 2>&1 || useradd --system --home-dir /var/lib/opencvi --shell /usr/sbin/nologin opencvi
mkdir -p "$release" /var/lib/opencvi
trap 'rm -rf "$release"' ERR

# An Azure Blob URL is read with the VM identity (it needs Storage Blob Data Reader there);
# any other URL must be readable without credentials.
auth=()
case "$url" in
  https://*.blob.core.*)
    token=$(curl -fsS --noproxy '*' --retry 5 -H Metadata:true \
      "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com%2F${client_id:+&client_id=$client_id}" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    auth=(-H "Authorization: Bearer $token" -H "x-ms-version: 2021-08-06")
    ;;
esac
curl -fsSL --retry 10 --retry-delay 5 --retry-all-errors "${auth[@]}" -o "$release/package.tgz" "$url"
tar -xzf "$release/package.tgz" -C "$release" --no-same-owner
rm "$release/package.tgz"
# A package with one top-level directory (npm pack's package/, or a named one) is flattened.
if [ ! -f "$release/package.json" ]; then
  top=$(find "$release" -mindepth 2 -maxdepth 2 -name package.json -printf '%h\n' | head -n 1)
  if [ -z "$top" ]; then echo "no package.json in $url" >&2; false; fi
  shopt -s dotglob
  mv "$top"/* "$release"/
  rmdir "$top"
fi
if [ ! -f "$release/$entry" ]; then echo "no $entry in $url: npm run build before packing" >&2; false; fi
# The edge agent runs Kamailio with edge/kamailio.cfg, which the build does not copy into dist/.
if [ "$role" = edge ] && [ ! -f "$release/edge/kamailio.cfg" ] && [ ! -f "$release/dist/edge/kamailio.cfg" ]; then
  echo "no edge/kamailio.cfg in $url: pack it with dist/" >&2
  false
fi
cd "$release"
# Production dependencies as locked (npm install, not npm ci: see scripts/setup.sh).
npm install --omit=dev --no-audit --no-fund --loglevel=error
# Node itself: Debian 12's nodejs is 18, the app needs the version package.json pins as its
# devDependency "node" (the npm package node, as scripts/setup.sh gets it), installed beside it.
node_version=$(node -p 'require("./package.json").devDependencies.node')
npm install --global --prefix "$release/runtime" --no-audit --no-fund --loglevel=error "node@$node_version"
"$release/runtime/bin/node" --version
if [ "$role" = media-host ]; then
  # The IVR prompts, spoken by espeak-ng (remade only when a text changed).
  mkdir -p /var/lib/opencvi/prompts
  "$release/runtime/bin/node" dist/media-host/prompts/generatePrompts.js /var/lib/opencvi/prompts
fi
chmod -R a+rX "$release" /var/lib/opencvi
trap - ERR

printf '%s\n' "$url" >/etc/opencvi/package-url
ln -sfn "$release" "$base/current.new"
mv -T "$base/current.new" "$base/current"
systemctl daemon-reload
systemctl enable "$unit"
systemctl restart "$unit"
# Keep the three newest releases.
ls -1d "$base"/releases/*/ | head -n -3 | xargs -r rm -rf
