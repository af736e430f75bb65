#!/bin/sh
# Debian postrm. Purge removes the config and the unit's state, but keeps the mail: the
# mailboxes in /var/lib/postroom (and the postroom account that owns them) stay unless
# POSTROOM_PURGE_DATA=yes is set, as in: POSTROOM_PURGE_DATA=yes apt purge postroom
set -e
if [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ] && [ -x /usr/bin/deb-systemd-helper ]; then
  deb-systemd-helper mask postroomd.service >/dev/null || true
fi
if [ "$1" = purge ]; then
  if [ -x /usr/bin/deb-systemd-helper ]; then
    deb-systemd-helper purge postroomd.service >/dev/null || true
    deb-systemd-helper unmask postroomd.service >/dev/null || true
  fi
  # dpkg has removed postroom.yaml; certificates and secrets the admin put here stay.
  rmdir --ignore-fail-on-non-empty /etc/postroom 2>/dev/null || true
  if [ "${POSTROOM_PURGE_DATA:-}" = yes ]; then
    rm -rf /var/lib/postroom
  elif [ -d /var/lib/postroom ]; then
    echo "postroom: the mail in /var/lib/postroom is kept; delete it with"
    echo "  rm -rf /var/lib/postroom (or purge with POSTROOM_PURGE_DATA=yes)"
  fi
fi
exit 0
