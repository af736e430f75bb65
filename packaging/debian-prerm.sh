#!/bin/sh
# Debian prerm: stop the daemon on removal. On upgrade it keeps running; postinst restarts it
# on the new version once the config passes check-config.
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  deb-systemd-invoke stop postroomd.service >/dev/null || true
fi
exit 0
