#!/usr/bin/env bash
# Install the benchmark peers (Postfix, Dovecot POP3, OpenDKIM and OpenDMARC milters) and
# tools (dnsmasq for the inbound scenario's DNS, dkimpy to sign and verify) from Debian's
# packages, without leaving any system instance running. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
for p in postfix dovecot-core dovecot-pop3d sqlite3 python3 procps opendkim opendmarc dnsmasq-base \
         python3-dkim; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if ((${#need[@]})); then
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    # Keep install-time service starts from binding system ports.
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; made_policy=1
    fi
    apt-get update -qq || true
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    ((made_policy)) && rm -f "$policy"
fi
# Stop any system instance that an install may have started (harmless if none).
if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
    systemctl stop postfix dovecot opendkim opendmarc 2>/dev/null || true
fi
if [[ -f /var/spool/postfix/pid/master.pid ]] && kill -0 "$(cat /var/spool/postfix/pid/master.pid 2>/dev/null)" 2>/dev/null; then
    postfix stop 2>/dev/null || true
fi
if [[ -f /run/dovecot/master.pid ]] && kill -0 "$(cat /run/dovecot/master.pid 2>/dev/null)" 2>/dev/null; then
    doveadm stop 2>/dev/null || kill "$(cat /run/dovecot/master.pid)" 2>/dev/null || true
fi
for pidfile in /run/opendkim/opendkim.pid /run/opendmarc/opendmarc.pid; do
    if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
    fi
done
for t in smtp-source smtp-sink postfix dovecot doveadm opendkim opendmarc dnsmasq; do
    command -v "$t" >/dev/null || [[ -x /usr/sbin/$t ]] || { echo "missing $t after install" >&2; exit 1; }
done
