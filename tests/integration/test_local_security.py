"""Local security: private files whatever the umask, warnings for open data and keys, the drop
from root to the configured account (ports below 1024 kept), and a process that is not dumpable."""

import os
import pwd
import shutil
import smtplib
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import POSTROOM, POSTROOMD, Daemon
from smtp_helpers import ALICE, message, pop3_messages

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CI runs as root)")


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def proc_status(pid):
    """/proc/PID/status as {field: value}."""
    fields = {}
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return fields


def core_limit(pid):
    """The soft and hard core file size limits of a process, from /proc/PID/limits."""
    for line in Path("/proc/%d/limits" % pid).read_text().splitlines():
        if line.startswith("Max core file size"):
            return line.split()[4:6]
    raise AssertionError("no core limit line")


def assert_not_dumpable(pid):
    # The kernel gives the /proc/PID files of a non-dumpable process to root; a dumpable one
    # keeps them with its own uid. So the check means something only for a non-root process.
    uid = int(proc_status(pid)["Uid"][1])
    assert uid != 0
    assert os.stat("/proc/%d/environ" % pid).st_uid == 0
    assert core_limit(pid) == ["0", "0"]


def deliver(port, subject):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        assert client.sendmail("sender@remote.test", [ALICE], message(subject, b"hello\r\n")) == {}


@pytest.fixture
def umask():
    """umask(mask) sets this process's umask (children inherit it); restored afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o000])
def test_data_dir_database_wal_shm_and_backup_are_private_whatever_the_umask(make_daemon, umask, mask):
    umask(mask)
    d = make_daemon(start=False)
    data = d.workdir / "data"
    d.add_user("alice")  # the admin command creates data_dir and the database
    assert mode(data) == 0o700
    assert mode(d.db) == 0o600
    d.start()
    deliver(d.ports["smtp"], "private")
    # The daemon holds the database open: its WAL and SHM exist now.
    for path in (data, d.db, Path(str(d.db) + "-wal"), Path(str(d.db) + "-shm")):
        assert path.exists(), path
        assert mode(path) == (0o700 if path == data else 0o600), (path, oct(mode(path)))
    backup = d.workdir / "copy.db"
    d.admin("backup", str(backup))
    assert mode(backup) == 0o600


@pytest.mark.parametrize("mask", [0o022, 0o000])
def test_a_data_dir_the_daemon_creates_is_private(make_daemon, umask, mask):
    umask(mask)
    d = make_daemon()
    assert mode(d.workdir / "data") == 0o700
    assert mode(d.db) == 0o600
    assert mode(str(d.db) + "-wal") == 0o600


def no_warning_but_postmaster(stderr):
    """These tests create no postmaster alias: check-config rightly warns about that."""
    return [line for line in stderr.splitlines() if "alias postmaster@" not in line] == []


def test_check_config_reports_an_open_data_dir_and_the_daemon_fixes_it_at_start(make_daemon):
    d = make_daemon(start=False)
    d.add_user("alice")
    data = d.workdir / "data"
    os.chmod(data, 0o755)
    os.chmod(d.db, 0o644)
    check = d.admin("check-config")
    assert check.stdout == "ok\n"
    assert "warning: %s is open to group or others (mode 0755): run chmod 700 %s" % (data, data) in check.stderr
    assert "warning: %s is open to group or others (mode 0644): run chmod 600 %s" % (d.db, d.db) in check.stderr
    assert mode(data) == 0o755 and mode(d.db) == 0o644  # check-config changes nothing
    d.start()
    assert "data_dir: %s is open to group or others (mode 0755): now 0700" % data in d.log()
    assert mode(data) == 0o700 and mode(d.db) == 0o600
    assert no_warning_but_postmaster(d.admin("check-config").stderr)


def test_a_world_readable_tls_key_gets_a_warning_naming_it_and_the_fix(make_daemon, certificate, tmp_path):
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    shutil.copy(certificate[0], cert)
    shutil.copy(certificate[1], key)
    os.chmod(key, 0o644)
    d = make_daemon(start=False, listen={"pop3s": ["127.0.0.1:0"]}, tls=(cert, key))
    check = d.admin("check-config")
    assert check.stdout == "ok\n"
    [warning] = check.stderr.splitlines()
    assert warning.startswith("warning: tls.key %s is readable by every user of this machine (mode 0644)" % key)
    assert warning.endswith("run chmod 640 %s; chgrp %s %s" % (key, "postroom", key))
    d.start()
    assert "postroomd: warning: tls.key %s is readable by every user" % key in d.log()
    os.chmod(key, 0o640)
    assert no_warning_but_postmaster(d.admin("check-config").stderr)


def test_the_daemon_has_no_core_file_limit_and_a_non_root_one_is_not_dumpable(make_daemon):
    d = make_daemon()
    assert core_limit(d.proc.pid) == ["0", "0"]
    if os.geteuid() != 0:
        assert_not_dumpable(d.proc.pid)


# --- started as root -------------------------------------------------------------------------

def low_free_port():
    """A free TCP port below 1024 on 127.0.0.1 (binding it needs root)."""
    for port in range(1023, 600, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    pytest.skip("no free port below 1024")


@pytest.fixture
def nobody():
    return pwd.getpwnam("nobody")


@pytest.fixture
def open_dir():
    """A directory every account can walk into (pytest's own are root-only 0700)."""
    path = Path(tempfile.mkdtemp(prefix="postroom-sec-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def reachable(open_dir, binary):
    """A copy of `binary` that another account can run: the build may sit under a home
    directory that only root can enter (/root/project on a fresh Debian)."""
    bin_dir = open_dir / "bin"
    bin_dir.mkdir(exist_ok=True)
    os.chmod(bin_dir, 0o755)
    copy = bin_dir / Path(binary).name
    if not copy.exists():
        shutil.copy(binary, copy)
        os.chmod(copy, 0o755)
    return str(copy)


def run_as(account):
    def switch():
        os.setgroups([])
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)
    return switch


@ROOT_ONLY
def test_root_start_drops_to_the_configured_user_keeps_a_low_port_and_cannot_regain_root(open_dir, nobody):
    low = low_free_port()
    d = Daemon(open_dir / "d", listen={"smtp": ["127.0.0.1:%d" % low], "pop3": ["127.0.0.1:0"]},
               extra="user: nobody\n")
    data = d.workdir / "data"
    try:
        # The admin command, run as root, leaves data_dir and the database to the daemon's user.
        d.add_user("alice")
        for path in (data, d.db):
            assert os.stat(path).st_uid == nobody.pw_uid, path
            assert os.stat(path).st_gid == nobody.pw_gid, path
        d.start()
        assert d.ports["smtp"] == low
        assert "postroomd: running as nobody (uid %d, gid %d)" % (nobody.pw_uid, nobody.pw_gid) in d.log()
        status = proc_status(d.proc.pid)
        assert status["Uid"] == [str(nobody.pw_uid)] * 4
        assert status["Gid"] == [str(nobody.pw_gid)] * 4
        expected_groups = sorted(os.getgrouplist("nobody", nobody.pw_gid))
        assert sorted(int(g) for g in status["Groups"]) == expected_groups
        assert 0 not in expected_groups
        # No capability left anywhere: setuid(0) or binding another low port is out of reach.
        for field in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            assert int(status[field][0], 16) == 0, (field, status[field])
        # The port bound as root still serves, and the store (made by root's admin command)
        # is writable: the message is accepted and stored.
        deliver(low, "after the drop")
        assert len(pop3_messages(d)) == 1
        for path in (Path(str(d.db) + "-wal"), Path(str(d.db) + "-shm")):
            assert os.stat(path).st_uid == nobody.pw_uid, path
            assert mode(path) == 0o600, path
        assert_not_dumpable(d.proc.pid)
        # Not even its own user may read its /proc files that expose memory and environment.
        peek = subprocess.run(["cat", "/proc/%d/environ" % d.proc.pid], preexec_fn=run_as(nobody),
                              capture_output=True)
        assert peek.returncode != 0 and b"Permission denied" in peek.stderr
        # A backup made by root goes to the daemon's user, private.
        backup = open_dir / "copy.db"
        d.admin("backup", str(backup))
        assert os.stat(backup).st_uid == nobody.pw_uid and mode(backup) == 0o600
        assert d.stop() == 0
        assert "Sanitizer" not in d.log() and "runtime error:" not in d.log()
    finally:
        if d.proc and d.proc.poll() is None:
            d.kill()


@ROOT_ONLY
def test_root_start_hands_root_owned_files_from_an_older_version_to_the_user(open_dir, nobody):
    d = Daemon(open_dir / "d", extra="run_as_root: true\n")
    d.add_user("alice")  # run_as_root: the files stay root's, as an older postroom left them
    assert os.stat(d.db).st_uid == 0
    d.config.write_text(d.config.read_text().replace("run_as_root: true\n", "user: nobody\n"))
    try:
        d.start()
        for path in (d.workdir / "data", d.db):
            assert os.stat(path).st_uid == nobody.pw_uid, path
        assert "data_dir: handed %s to nobody" % d.db in d.log()
        deliver(d.ports["smtp"], "writable")
        assert d.stop() == 0
        assert "Sanitizer" not in d.log() and "runtime error:" not in d.log()
    finally:
        if d.proc and d.proc.poll() is None:
            d.kill()


@ROOT_ONLY
def test_root_with_no_account_to_switch_to_refuses_in_one_line_and_creates_nothing(tmp_path):
    try:
        pwd.getpwnam("postroom")
        pytest.skip("a postroom account exists here: root would switch to it")
    except KeyError:
        pass
    d = Daemon(tmp_path, extra="run_as_root: false\n")
    result = subprocess.run([POSTROOMD, "--config", str(d.config)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "no 'postroom' account exists" in line and "run_as_root: true" in line
    assert not (tmp_path / "data").exists()
    check = d.admin("check-config")
    assert check.stdout == "ok\n"
    assert "warning: postroomd started as root would refuse: " in check.stderr


@ROOT_ONLY
def test_the_admin_command_is_not_dumpable_while_it_waits_for_a_password(open_dir, nobody):
    # Run as nobody, so that /proc ownership can tell a non-dumpable process apart.
    d = Daemon(open_dir / "d")
    os.chmod(d.workdir, 0o777)
    admin = subprocess.Popen([reachable(open_dir, POSTROOM), "--config", str(d.config), "user", "add", ALICE,
                              "--password-stdin"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             preexec_fn=run_as(nobody))
    try:
        # It opens the store first, then blocks reading the password from stdin.
        deadline = time.time() + 20
        while not d.db.exists() and time.time() < deadline:
            time.sleep(0.05)
        assert d.db.exists()
        assert_not_dumpable(admin.pid)
    finally:
        out, err = admin.communicate(b"a long enough password\n", timeout=60)
    assert admin.returncode == 0, err
    assert b"added %s" % ALICE.encode() in out


@ROOT_ONLY
def test_a_non_root_start_refuses_another_user_and_says_when_it_cannot_write_data_dir(open_dir, nobody):
    d = Daemon(open_dir / "d", extra="user: daemon\n")
    os.chmod(d.workdir, 0o777)
    started_as_nobody = subprocess.run([reachable(open_dir, POSTROOMD), "--config", str(d.config)],
                                       capture_output=True, text=True, timeout=30, preexec_fn=run_as(nobody))
    assert started_as_nobody.returncode == 1
    [line] = started_as_nobody.stderr.strip().splitlines()
    assert "user: daemon" in line and "cannot switch without root" in line
    # A data_dir root made for itself (run_as_root) is out of nobody's reach: one clear line.
    d.config.write_text(d.config.read_text().replace("user: daemon\n", "run_as_root: true\n"))
    d.add_user("alice")
    result = subprocess.run([reachable(open_dir, POSTROOMD), "--config", str(d.config), ], capture_output=True,
                            text=True, timeout=30, preexec_fn=run_as(nobody))
    assert result.returncode == 1
    assert "data_dir %s is not writable by this process (uid %d)" % (d.workdir / "data", nobody.pw_uid) \
        in result.stderr
