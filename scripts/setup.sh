#!/usr/bin/env bash
# Installs what Vigie's build, lab and tests need on a fresh Debian machine (as root), and says
# what it installs. Safe to run again: it installs only what is missing.
set -euo pipefail

APT_PACKAGES=(
  pkg-config libpcsclite-dev # building the client's PC/SC layer
  pcscd vsmartcard-vpcd      # the real PC/SC daemon and the virtual reader our card plugs into
  opensc                     # an independent check of the emulated CPS3 card
  openssl                    # building test certificates in tests, independently of vigie-pki
  iproute2 iputils-ping procps # network namespaces, veth links and process control in the lab
  nftables                   # the connector's address translation to the published apps
  wireguard-go wireguard-tools # a standard WireGuard peer, to prove our data plane interoperates
  slapd ldap-utils           # a real OpenLDAP server for the HR directory sync tests
  python3                    # small test servers (HTTP) behind the connector
  python3-flask python3-authlib python3-requests # a real OpenID Connect app (the SSO tests)
  dovecot-imapd              # a real IMAP server behind the connector
  curl                       # a real HTTP and IMAP client through the tunnel
  dpkg-dev binutils          # packaging/build-debs.sh: dpkg-shlibdeps, strip
  debootstrap systemd-container # the packages installed on a fresh Debian booted by systemd-nspawn
  systemd                    # systemd-analyze security, the unit's hardening score
)
CARGO_TOOLS=(cargo-fuzz) # bounded fuzz runs of every parser of untrusted bytes

if [[ $(id -u) -ne 0 ]]; then
  echo "setup: run as root (it installs Debian packages and the lab needs network namespaces)" >&2
  exit 1
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Daemons installed here (pcscd, slapd) must not start as system services: the lab and the
  # tests start their own private instances. policy-rc.d tells the packages not to start them.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: Debian packages already present: ${APT_PACKAGES[*]}"
fi

for t in "${CARGO_TOOLS[@]}"; do
  if ! cargo "${t#cargo-}" --help >/dev/null 2>&1; then
    echo "setup: installing $t with cargo install --locked"
    cargo install "$t" --locked --quiet
  else
    echo "setup: $t already present"
  fi
done
