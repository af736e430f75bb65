#!/usr/bin/env bash
# The Debian package as a new admin meets it: built with cpack from a build directory,
# installed with `apt install ./postroom_*.deb` into a fresh Debian 12 (debootstrap
# --variant=minbase), used before and after the daemon's first start, upgraded to a second
# version with an edited config, and purged. The daemon runs as the unit would run it (user
# postroom, only CAP_NET_BIND_SERVICE; the chroot has no systemd) in its own network
# namespace, so ports 25/110/587/465/995 collide with nothing on the host. Also checks the
# unit with `systemd-analyze verify` and `systemd-analyze security --offline=true`.
#
# usage (root): tests/package/test_package.sh [BUILD_DIR]      (default: build)
# environment:
#   POSTROOM_PKGTEST_CACHE  where the debootstrapped base root and the downloaded .debs are
#                           kept between runs (default /var/cache/postroom-pkgtest);
#                           remove it to start from a new debootstrap
#   DEBIAN_MIRROR           default http://deb.debian.org/debian
#   KEEP=1                  keep the work directory (path printed) for a look afterwards
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$project/build}" && pwd)
cache=${POSTROOM_PKGTEST_CACHE:-/var/cache/postroom-pkgtest}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

[ "$(id -u)" -eq 0 ] || { echo "test_package: needs root (debootstrap, chroot, mounts)" >&2; exit 1; }
for tool in cpack debootstrap chroot setpriv ip ss openssl file systemd-analyze python3; do
  command -v "$tool" >/dev/null || { echo "test_package: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

# Every mount below is private to this process and gone when it ends, however it ends.
if [ -z "${POSTROOM_PKGTEST_UNSHARED:-}" ]; then
  export POSTROOM_PKGTEST_UNSHARED=1
  if mountpoint -q /; then
    exec unshare --mount --propagation private -- "$0" "$build"
  fi
  # In a chroot "/" is no mount point and its propagation cannot be changed; make private
  # the mounts that can be instead (a chroot runner's namespace keeps them private anyway).
  # shellcheck disable=SC2016 # $0 and $1 are bash -c's own arguments
  exec unshare --mount --propagation unchanged -- bash -c \
    'mount --make-rprivate / 2>/dev/null || true; exec "$0" "$1"' "$0" "$build"
fi

start=$SECONDS
step() { echo "== [$((SECONDS - start)) s] $*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

work=$(mktemp -d /var/tmp/postroom-pkgtest.XXXXXX)
root=$work/root
netns_holder=""  # a process whose network namespace the daemon runs in
daemon_pid=""
# The processes whose program lies in the test root (the chroot has no init of its own).
running_from_root() {
  local exe target
  for exe in /proc/[0-9]*/exe; do
    target=$(readlink "$exe" 2>/dev/null) || continue
    [[ $target == "$root"/* ]] && { exe=${exe%/exe}; echo "${exe#/proc/}"; }
  done
  return 0
}
cleanup() {
  local status=$?
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  # Anything else still running from the test root (they would keep its mounts alive).
  local pid
  for pid in $(running_from_root); do kill -KILL "$pid" 2>/dev/null || true; done
  [ -n "$netns_holder" ] && kill "$netns_holder" 2>/dev/null
  local mount
  for mount in var/cache/apt/archives proc dev ""; do
    mountpoint -q "$root/$mount" && umount -l "$root/$mount"
  done
  if [ "${KEEP:-}" = 1 ]; then
    echo "kept: $work"
  elif findmnt -rn -o TARGET | grep "^$work" >/dev/null; then
    # Never remove through a bind mount (the host's /dev, the package cache).
    echo "test_package: mounts left under $work, not removing it" >&2
  else
    rm -rf --one-file-system "$work"
  fi
  if [ "$status" -eq 0 ]; then echo "test_package: passed in $((SECONDS - start)) s"; fi
}
trap cleanup EXIT

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

# ---------------------------------------------------------------------------------------
step "building two package versions with cpack from $build"
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
[ -n "$version" ] || fail "no CPACK_PACKAGE_VERSION in $build/CPackConfig.cmake"
(cd "$work" && cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/v1" >/dev/null)
(cd "$work" && cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/v2" \
  -D CPACK_PACKAGE_VERSION="$version+upgrade" >/dev/null)
deb1=$(ls "$work"/v1/postroom_"$version"_*.deb)
deb2=$(ls "$work"/v2/postroom_"$version"+upgrade_*.deb)
size=$(stat -c %s "$deb1")
echo "package: $(basename "$deb1"), $((size / 1024)) KiB"
# Stripped binaries: the RelWithDebInfo build with its debug information is several times that.
[ "$size" -lt $((6 * 1024 * 1024)) ] || fail "the package is $size bytes: are the binaries stripped?"
# (grep reads everything: with -q it could stop early and pipefail blame the writer)
dpkg-deb --info "$deb1" | grep "Depends: .*adduser" >/dev/null || fail "the package does not depend on adduser"
dpkg-deb --ctrl-tarfile "$deb1" | tar -tf - | grep conffiles >/dev/null || fail "no conffiles in the package"

# ---------------------------------------------------------------------------------------
# minbase has no init; a Debian 12 machine has systemd, which systemd-analyze verify --root
# needs too (the targets the unit refers to). It is not running in the chroot.
step "a fresh Debian 12 root (debootstrap --variant=minbase --include=systemd bookworm)"
mkdir -p "$cache/archives/partial"
base=$cache/bookworm-minbase-systemd.tar
if [ ! -f "$base" ]; then
  t0=$SECONDS
  debootstrap --variant=minbase --include=systemd bookworm "$work/base" "$mirror" \
    >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; fail "debootstrap failed"; }
  echo "debootstrap took $((SECONDS - t0)) s; cached as $base"
  tar -C "$work/base" -cf "$base.part" . && mv "$base.part" "$base"
  rm -rf "$work/base"
fi
mkdir "$root"
# In memory: unpacking and removing a quarter gigabyte of small files on a busy disk costs
# more than everything else here.
mount -t tmpfs -o size=1500m,mode=0755 postroom-pkgtest "$root"
tar -C "$root" -xf "$base"
# What a Debian 12 installed from its media has: the point-release updates and security.
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"   # with /dev/pts: dpkg logs through a pty
# Downloaded packages are kept between runs (apt checks their hashes against the new lists).
mount --bind "$cache/archives" "$root/var/cache/apt/archives"
in_root apt-get update -q >"$work/apt-update.log" 2>&1 || { cat "$work/apt-update.log"; fail "apt-get update"; }
in_root dpkg -s postroom >/dev/null 2>&1 && fail "postroom is already in the fresh root"

# ---------------------------------------------------------------------------------------
step "apt install ./$(basename "$deb1")"
cp "$deb1" "$deb2" "$root/tmp/"
# systemd does not run in the chroot: the maintainer scripts see a running one (the
# directory they test for) and call stand-ins that write down what they were asked to do
# and answer that the unit is active, so the test can check what would start when. What
# works offline (deb-systemd-helper's `systemctl preset`) goes to the real systemctl.
mkdir -p "$root/run/systemd/system"
mv "$root/usr/bin/systemctl" "$root/usr/bin/systemctl.real"
cat >"$root/usr/bin/systemctl" <<'EOF'
#!/bin/sh
echo "systemctl $*" >>/var/log/systemd-calls
case " $* " in
  *" is-active "* | *" start "* | *" stop "* | *" restart "* | *" reload "* | *" daemon-reload "*) exit 0 ;;
esac
exec /usr/bin/systemctl.real "$@"
EOF
printf '#!/bin/sh\necho "deb-systemd-invoke $*" >>/var/log/systemd-calls\n' >"$root/usr/bin/deb-systemd-invoke"
chmod 755 "$root/usr/bin/systemctl" "$root/usr/bin/deb-systemd-invoke"
: >"$root/var/log/systemd-calls"
systemd_calls() { cat "$root/var/log/systemd-calls"; }
# Run from /: apt takes ./tmp/... relative to the chroot's working directory, its root.
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  "./tmp/$(basename "$deb1")" </dev/null >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "apt install of the package"; }
if grep -Ei "warning|can.t be accessed|cannot be accessed|^E:" "$work/install.log" | grep -v "^W: .*unsandboxed"; then
  fail "the installation printed a warning (above)"
fi
grep -q "postroom: edit /etc/postroom/postroom.yaml" "$work/install.log" ||
  fail "postinst did not tell the admin what to edit"

step "the account, the files and their modes"
IFS=: read -r _ _ uid gid _ home shell < <(in_root getent passwd postroom) || fail "no postroom account"
[ "$uid" -lt 1000 ] || fail "postroom is not a system account (uid $uid)"
[ "$home" = /var/lib/postroom ] && [ "$shell" = /usr/sbin/nologin ] || fail "postroom: home $home, shell $shell"
in_root getent group postroom >/dev/null || fail "no postroom group"
expect_stat() { # PATH "user:group mode"
  local got
  got=$(in_root stat -c '%U:%G %a' "$1")
  [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
}
expect_stat /var/lib/postroom "postroom:postroom 700"
expect_stat /etc/postroom/postroom.yaml "root:postroom 640"
expect_stat /usr/sbin/postroomd "root:root 755"
expect_stat /usr/bin/postroom "root:root 755"
[ "$(in_root readlink -f /usr/sbin/sendmail)" = /usr/bin/postroom ] || fail "/usr/sbin/sendmail is not postroom"
file -L "$root/usr/sbin/postroomd" | grep ", stripped" >/dev/null || fail "postroomd is not stripped"
in_root dpkg-query -W -f='${Conffiles}\n' postroom | grep "^ /etc/postroom/postroom.yaml " >/dev/null ||
  fail "/etc/postroom/postroom.yaml is not a conffile"
wants=$root/etc/systemd/system/multi-user.target.wants/postroomd.service
[ "$(readlink "$wants")" = /lib/systemd/system/postroomd.service ] || fail "the unit is not enabled"
[ -z "$(running_from_root)" ] || fail "the package started postroomd before the config was edited"
if systemd_calls | grep -E "start|restart" >/dev/null; then
  systemd_calls
  fail "the first installation started the unit"
fi
in_root postroom check-config >"$work/check.log" 2>&1 || { cat "$work/check.log"; fail "check-config fails on the config as installed"; }

step "systemd-analyze verify and security on the installed unit"
unit=$root/lib/systemd/system/postroomd.service
verify=$(systemd-analyze verify --root="$root" --man=no /lib/systemd/system/postroomd.service 2>&1) ||
  { echo "$verify"; fail "systemd-analyze verify"; }
[ -z "$verify" ] || { echo "$verify"; fail "systemd-analyze verify has complaints"; }
security=$(systemd-analyze security --offline=true "$unit" 2>&1 | tail -1)
echo "$security"
[[ $security =~ exposure\ level\ for\ postroomd.service:\ ([0-9.]+)\ (PERFECT|SAFE|OK) ]] ||
  fail "the unit's exposure is not OK or better: $security"

# ---------------------------------------------------------------------------------------
step "postroom user add, as root, before the daemon ever ran"
echo 'pkg-test password 1' | in_root postroom user add alice@example.test --password-stdin ||
  fail "postroom user add"
for f in /var/lib/postroom/postroom.db /var/lib/postroom/postroom.db-wal /var/lib/postroom/postroom.db-shm; do
  [ -e "$root$f" ] || continue
  expect_stat "$f" "postroom:postroom 600"
done
[ -e "$root/var/lib/postroom/postroom.db" ] || fail "user add made no database"

step "the admin edits the config: a certificate, the TLS listeners"
mkdir -p "$root/etc/postroom/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mail.example.test \
  -keyout "$root/etc/postroom/tls/privkey.pem" -out "$root/etc/postroom/tls/fullchain.pem" 2>/dev/null
chmod 600 "$root/etc/postroom/tls/privkey.pem"
config=$root/etc/postroom/postroom.yaml
python3 - "$config" <<'EOF'
import sys
path = sys.argv[1]
text = open(path).read()
replacements = [
    ("  #submissions: [", "  submissions: ["),
    ("  #pop3s: [", "  pop3s: ["),
    ("#tls:\n#  cert: /etc/postroom/tls/fullchain.pem\n#  key: /etc/postroom/tls/privkey.pem\n",
     "tls:\n  cert: /etc/postroom/tls/fullchain.pem\n  key: /etc/postroom/tls/privkey.pem\n"),
]
for old, new in replacements:
    if old not in text:
        sys.exit("the sample config has no " + repr(old))
    text = text.replace(old, new)
open(path, "w").write(text + "# edited by the package test\n")
EOF
in_root postroom check-config >"$work/check.log" 2>&1 || { cat "$work/check.log"; fail "check-config after the edit"; }

# ---------------------------------------------------------------------------------------
# A network namespace of its own, held by a sleeping process and entered with nsenter: `ip
# netns` would need to remount / (impossible in a chroot such as fresh-debian's).
unshare --net -- sh -c 'ip link set lo up && exec sleep infinity' &
netns_holder=$!
in_netns=(nsenter --net=/proc/"$netns_holder"/ns/net)
for _ in $(seq 50); do
  "${in_netns[@]}" ip -o link show lo 2>/dev/null | grep -q "state UNKNOWN\|,UP" && break
  sleep 0.1
done
# As the unit runs it: User=postroom, AmbientCapabilities and CapabilityBoundingSet
# CAP_NET_BIND_SERVICE only, NoNewPrivileges.
# An array, not a function: started in the background, $! is then postroomd itself (each of
# these execs the next).
# shellcheck disable=SC2054 # the commas belong to setpriv's capability lists
as_unit=("${in_netns[@]}" chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin LANG=C.UTF-8
  setpriv --reuid=postroom --regid=postroom --init-groups --no-new-privs
  --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service
  --bounding-set=-all,+net_bind_service)
start_daemon() {
  "${as_unit[@]}" /usr/sbin/postroomd --config /etc/postroom/postroom.yaml >>"$work/daemon.log" 2>&1 &
  daemon_pid=$!
  local ports
  for _ in $(seq 100); do
    ports=$("${in_netns[@]}" ss -Hltn | awk '{print $4}' | sed 's/.*://' | sort -n | tr '\n' ' ')
    [ "$ports" = "25 110 465 587 995 " ] && return 0
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/daemon.log"; fail "postroomd exited"; }
    sleep 0.1
  done
  cat "$work/daemon.log"
  fail "postroomd listens on '$ports', expected 25 110 465 587 995"
}
stop_daemon() {
  kill -TERM "$daemon_pid"
  wait "$daemon_pid" || fail "postroomd exited with $? on SIGTERM"
  daemon_pid=""
}

step "a TLS key only root can read: postroomd says how to set its group"
if "${as_unit[@]}" /usr/sbin/postroomd --config /etc/postroom/postroom.yaml >"$work/key.log" 2>&1; then
  fail "postroomd started with a key it cannot read"
fi
grep -q "chgrp postroom /etc/postroom/tls/privkey.pem; chmod 640" "$work/key.log" ||
  { cat "$work/key.log"; fail "the unreadable-key error does not say how to fix it"; }
chgrp "$gid" "$root/etc/postroom/tls/privkey.pem"
chmod 640 "$root/etc/postroom/tls/privkey.pem"

step "postroomd as postroom with CAP_NET_BIND_SERVICE binds 25/110/587/465/995"
start_daemon
status=$(cat "/proc/$daemon_pid/status")
grep -E "^(Name|Uid|Gid|Cap[A-Za-z]+):" <<<"$status"
grep -Eq "^Uid:\s+$uid\s+$uid\s+$uid\s+$uid$" <<<"$status" || fail "postroomd does not run as postroom"
grep -Eq "^CapBnd:\s+0000000000000400$" <<<"$status" || fail "postroomd's bounding set is not CAP_NET_BIND_SERVICE alone"
# Once bound it needs no capability at all, and drops the one it had.
grep -Eq "^CapEff:\s+0000000000000000$" <<<"$status" || fail "postroomd kept a capability after binding"

step "a message in on port 25, out by POP3S on 995 and STLS on 110"
mail_test() { # deliver|count N
  "${in_netns[@]}" python3 - "$@" <<'EOF'
import poplib, smtplib, ssl, sys
tls = ssl.create_default_context()
tls.check_hostname = False
tls.verify_mode = ssl.CERT_NONE
marker = "package-test-7d1f"
if sys.argv[1] == "deliver":
    with smtplib.SMTP("127.0.0.1", 25, timeout=10) as s:
        s.sendmail("someone@outside.test", ["alice@example.test"],
                   f"From: someone@outside.test\r\nTo: alice@example.test\r\nSubject: {marker}\r\n\r\nhello\r\n")
for pop in (poplib.POP3_SSL("127.0.0.1", 995, context=tls, timeout=10),
            poplib.POP3("127.0.0.1", 110, timeout=10)):
    if isinstance(pop, poplib.POP3) and not isinstance(pop, poplib.POP3_SSL):
        pop.stls(context=tls)
    pop.user("alice@example.test")
    pop.pass_("pkg-test password 1")
    count, _ = pop.stat()
    assert count == 1, f"{count} messages in the mailbox, expected 1"
    lines = pop.retr(1)[1]
    assert any(marker.encode() in line for line in lines), "the message retrieved is not the one sent"
    pop.quit()
print("mail: " + ("delivered, " if sys.argv[1] == "deliver" else "") + "1 message, retrieved by POP3S and by POP3 with STLS")
EOF
}
mail_test deliver || fail "delivery or retrieval"
stop_daemon

# ---------------------------------------------------------------------------------------
step "upgrade to $(basename "$deb2")"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  "./tmp/$(basename "$deb2")" </dev/null >"$work/upgrade.log" 2>&1 ||
  { cat "$work/upgrade.log"; fail "the upgrade"; }
[ "$(in_root dpkg-query -W -f='${Version}' postroom)" = "$version+upgrade" ] || fail "not upgraded"
# A running daemon (the stand-in says active) is restarted, as its config passes check-config.
systemd_calls | grep -x "deb-systemd-invoke restart postroomd.service" >/dev/null ||
  { systemd_calls; fail "the upgrade did not restart the running daemon"; }
grep -q "^# edited by the package test$" "$config" || fail "the upgrade replaced the edited config"
expect_stat /etc/postroom/postroom.yaml "root:postroom 640"
[ -L "$wants" ] || fail "the upgrade disabled the unit"
start_daemon
mail_test count || fail "the mail is not there after the upgrade"
stop_daemon

step "purge: config gone, mail kept"
in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q postroom </dev/null >"$work/purge.log" 2>&1 ||
  { cat "$work/purge.log"; fail "apt purge"; }
grep -q "the mail in /var/lib/postroom is kept" "$work/purge.log" || fail "purge did not say the mail is kept"
systemd_calls | grep -x "deb-systemd-invoke stop postroomd.service" >/dev/null ||
  { systemd_calls; fail "removal did not stop the daemon"; }
[ ! -e "$config" ] || fail "purge left /etc/postroom/postroom.yaml"
[ -e "$root/etc/postroom/tls/privkey.pem" ] || fail "purge removed the admin's own key"
[ ! -e "$wants" ] || fail "purge left the unit enabled"
[ -s "$root/var/lib/postroom/postroom.db" ] || fail "purge removed the mail"
expect_stat /var/lib/postroom/postroom.db "postroom:postroom 600"
in_root dpkg -s postroom >/dev/null 2>&1 && fail "postroom is still installed"
step "done; cleaning up"
echo "package size: $size bytes"
