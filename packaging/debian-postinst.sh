#!/bin/sh
# Debian postinst: a system user for the daemon and a config to start from.
set -e
if ! getent passwd postroom >/dev/null; then
  adduser --system --group --home /var/lib/postroom --no-create-home postroom
fi
# Private: the mailboxes, password hashes and APOP secrets are postroom's alone.
install -d -o postroom -g postroom -m 0700 /var/lib/postroom
if [ ! -f /etc/postroom/postroom.yaml ]; then
  install -d -m 0755 /etc/postroom
  install -m 0640 -g postroom /usr/share/postroom/postroom.yaml /etc/postroom/postroom.yaml
fi
exit 0
