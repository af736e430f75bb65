#!/usr/bin/env bash
# Installs everything postroom needs to build, run and test on Debian 12.
# Idempotent: a second run installs nothing new.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format
  libuv1-dev libsqlite3-dev libyaml-cpp-dev doctest-dev
  libsodium-dev libssl-dev libc-ares-dev libcurl4-openssl-dev libunbound-dev dns-root-data
  openssl sqlite3 python3 python3-pytest python3-aiosmtpd
  curl swaks libnet-ssleay-perl libio-socket-ssl-perl fetchmail dnsmasq-base procps iproute2
  unbound ldnsutils
  opendkim opendkim-tools python3-dkim python3-nacl util-linux
  python3-spf
  publicsuffix python3-authres
  rspamd python3-milter
  dovecot-core dovecot-pop3d
  libh2o-dev python3-prometheus-client python3-lxml
  nlohmann-json3-dev
  file debootstrap systemd
  pebble
  libpq-dev postgresql
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# dovecot-core, opendkim and postgresql may start system services: the tests run their own
# (Dovecot on a loopback port, opendkim in its test mode, PostgreSQL by initdb in a
# temporary directory).
if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
  $SUDO systemctl disable --now dovecot opendkim postgresql 2>/dev/null || true
fi
