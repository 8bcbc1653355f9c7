#!/usr/bin/env bash
# Everything the local stack and the tests need, on a fresh machine of this kind.
# Idempotent and quick when nothing changed; `npm start` and `npm test` run it first.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, installed only when missing (needs root, as on these machines).
missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v rtpengine >/dev/null 2>&1 || missing+=(rtpengine-daemon)
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v baresip >/dev/null 2>&1 || missing+=(baresip-core baresip-ffmpeg)
# GNU patch applies patches/ (scripts/patch-dependencies.mjs; its JS applier is the fallback on VMs).
command -v patch >/dev/null 2>&1 || missing+=(patch)
# The SIP edge devices dial (edge/): Kamailio with its TLS module, started by the stack and the tests in the foreground.
command -v kamailio >/dev/null 2>&1 || [ -x /usr/sbin/kamailio ] || missing+=(kamailio kamailio-tls-modules)
# The scale sets' boot scripts (infra/scripts/*.py) run under python3 in their tests, as on the VMs.
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# The edge's scanner test runs sipvicious (svmap, svwar) against it.
command -v svwar >/dev/null 2>&1 || missing+=(sipvicious)
# Tests cut a peer off the network (its packets dropped) with nftables, as a vanished server is.
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || missing+=(nftables)
# Real H.264 for tests (test/support/media/h264Content.ts): slides up to 1080p from a room system, a bot's screen share.
command -v x264 >/dev/null 2>&1 || missing+=(x264)
# Headless Chromium joins the meeting page in the end-to-end media test (driven by playwright-core).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# NSS's certutil: a browser test trusts the local CA as a person's Chromium would (its NSS database).
command -v certutil >/dev/null 2>&1 || missing+=(libnss3-tools)
# tshark dissects the BFCP the tests send (version 1 over TCP) and its dumpcap captures it on lo; noninteractive
# install leaves dumpcap without setuid (debconf's default), which root's tests do not need.
{ command -v tshark >/dev/null 2>&1 && command -v dumpcap >/dev/null 2>&1; } || missing+=(tshark)
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 1
  fi
  echo "setup: apt-get install ${missing[*]}"
  apt-get update -qq
  # Install, but start no daemon (rtpengine's and Kamailio's own would take ports): the project runs its own instances.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$guard" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

# npm dependencies as locked; Node 22 itself arrives this way (npm package node@22).
# `npm install`, not `npm ci`: @biomejs/biome lists platform packages the registry does
# not have (android, musl, …), which `npm ci` reports as missing from the lockfile;
# `npm install` installs the locked versions and leaves package-lock.json as it is.
stamp=node_modules/.opencvi-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/node ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: npm install (as locked)"
  npm install --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi

# The web portal's own dependencies (portal/package-lock.json: React, Fluent UI, MSAL, Vite), kept
# apart from the services' so that they ship only what they run.
portal_stamp=portal/node_modules/.opencvi-lock.sha256
portal_want=$(sha256sum portal/package-lock.json | cut -d' ' -f1)
if [ ! -d portal/node_modules ] || [ "$(cat "$portal_stamp" 2>/dev/null)" != "$portal_want" ]; then
  echo "setup: portal npm install (as locked)"
  (cd portal && npm install --no-audit --no-fund --loglevel=error)
  echo "$portal_want" >"$portal_stamp"
fi

# Local fixes to dependencies (patches/<package>+<version>.patch, e.g. werift's SRTP fast path):
# re-applied after any install, a no-op when already applied, fatal when a patch no longer fits.
node_modules/.bin/node scripts/patch-dependencies.mjs

# The local certificate authority every local HTTPS endpoint uses; the server certificate also
# covers the stack's address when OPENCVI_ADDRESS names one (devices and browsers elsewhere check it).
bash scripts/dev-tls.sh .local/tls "${OPENCVI_ADDRESS:-}"

# A clean build, so no output of a deleted source file lingers in dist/.
rm -rf dist
node_modules/.bin/tsc -p .

# The portal's static files (portal/dist), built again only when its sources or lock changed.
portal_build=$(cat portal/package-lock.json portal/index.html portal/vite.config.ts portal/tsconfig.json $(find portal/src -type f | sort) | sha256sum | cut -d' ' -f1)
if [ "$(cat portal/dist/.opencvi-build.sha256 2>/dev/null)" != "$portal_build" ]; then
  echo "setup: building the portal"
  if ! (cd portal && PATH="$PWD/../node_modules/.bin:$PATH" npm run build --silent) >.local/portal-build.log 2>&1; then
    cat .local/portal-build.log >&2
    echo "setup: the portal did not build (above)" >&2
    exit 1
  fi
  echo "$portal_build" >portal/dist/.opencvi-build.sha256
fi

# The IVR's spoken prompts (espeak-ng), made once and remade only when a text changes.
node_modules/.bin/node dist/media-host/prompts/generatePrompts.js .local/prompts
