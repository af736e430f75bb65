#!/bin/sh
# Debian postinst: the postroom account, its data directory, and the unit enabled. The daemon
# is started on upgrade only, and only when the config passes check-config: a first install
# waits for the admin to fill in /etc/postroom/postroom.yaml (README.md, "Production").
set -e

config=/etc/postroom/postroom.yaml

if [ "$1" = configure ]; then
  if ! getent passwd postroom >/dev/null; then
    # adduser makes the home directory itself (so it warns about nothing); mode below.
    adduser --system --group --quiet --home /var/lib/postroom --shell /usr/sbin/nologin \
      --gecos "postroom mail server" postroom
  fi
  # Private: the mailboxes, password hashes and APOP secrets are postroom's alone.
  install -d -o postroom -g postroom -m 0700 /var/lib/postroom
  # The daemon reads the config as postroom; other local users have no business in it.
  # Only a root-group file is changed: an admin's own choice of group is kept.
  if [ -f "$config" ] && [ "$(stat -c %G "$config")" = root ]; then
    chgrp postroom "$config"
    chmod 0640 "$config"
  fi

  if [ -x /usr/bin/deb-systemd-helper ]; then
    deb-systemd-helper unmask postroomd.service >/dev/null || true
    if deb-systemd-helper --quiet was-enabled postroomd.service; then
      deb-systemd-helper enable postroomd.service >/dev/null || true
    else
      deb-systemd-helper update-state postroomd.service >/dev/null || true
    fi
    # First install: enabled (starts at boot), not started.
    if [ -z "$2" ]; then
      deb-systemd-helper enable postroomd.service >/dev/null || true
    fi
  fi

  running_systemd=false
  [ -d /run/systemd/system ] && running_systemd=true
  if [ -z "$2" ]; then
    echo "postroom: edit $config (hostname, domains, tls, relay; see"
    echo "  /usr/share/doc/postroom/README.md, section Production), check it with"
    echo "  'postroom check-config', then: systemctl start postroomd"
  elif $running_systemd; then
    systemctl --system daemon-reload >/dev/null || true
    if systemctl is-active --quiet postroomd.service; then
      if postroom --config "$config" check-config >/dev/null 2>&1; then
        deb-systemd-invoke restart postroomd.service >/dev/null || true
      else
        echo "postroom: $config fails 'postroom check-config': postroomd keeps running the"
        echo "  previous version; fix the config, then: systemctl restart postroomd"
      fi
    fi
  fi
fi
exit 0
