"""Issue 2: the binaries as an admin uses them: admin commands, start, stop, bad starts."""

import signal
import socket
import subprocess
import time

from conftest import DOMAIN, POSTROOM, POSTROOMD, Daemon, free_port


def test_user_add_list_del_on_a_fresh_config(tmp_path):
    d = Daemon(tmp_path)
    assert not d.db.exists()
    d.add_user("alice")
    assert d.db.exists()  # created and migrated by the admin tool before any daemon ran
    d.add_user("bob")
    listed = d.admin("user", "list").stdout.splitlines()
    # ADDRESS MESSAGES BYTES, then the quota limits (none: "-").
    assert listed == ["alice@%s\t0\t0\t-\t-" % DOMAIN, "bob@%s\t0\t0\t-\t-" % DOMAIN]
    d.admin("user", "del", "bob@" + DOMAIN)
    assert d.admin("user", "list").stdout.splitlines() == ["alice@%s\t0\t0\t-\t-" % DOMAIN]
    stored = subprocess.run(["sqlite3", str(d.db), "SELECT password_hash FROM accounts"],
                            capture_output=True, text=True).stdout
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored


def test_admin_errors_and_exit_codes(tmp_path):
    d = Daemon(tmp_path)
    d.add_user("alice")
    dup = d.admin("user", "add", "ALICE@" + DOMAIN, "--password-stdin", input="x\n", check=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    other = d.admin("user", "add", "bob@elsewhere.test", "--password-stdin", input="x\n", check=False)
    assert other.returncode == 1 and "not one of the configured domains" in other.stderr
    bad = d.admin("user", "add", "not-an-address", "--password-stdin", input="x\n", check=False)
    assert bad.returncode == 1 and "not a valid address" in bad.stderr
    assert d.admin("user", "frobnicate", check=False).returncode == 2
    assert d.admin("nonsense", check=False).returncode == 2
    assert d.admin("user", "add", check=False).returncode == 2
    assert d.admin("user", "list", "--bogus", check=False).returncode == 2
    missing = subprocess.run([POSTROOM, "--config", str(tmp_path / "nope.yaml"), "user", "list"],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "nope.yaml" in missing.stderr


def test_check_config_reports_every_error_with_file_and_line(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("hostname: mail.example.test\ndomains: [example.test]\ndata_dir: d\n"
                      "listen:\n  smtp: [\"127.0.0.1:99999\"]\nlimits:\n  pop3_idle_timeout: 5m\n  bogus: 1\n")
    result = subprocess.run([POSTROOM, "--config", str(config), "check-config"], capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(l.startswith("%s:5: listen.smtp:" % config) for l in lines), lines
    assert any(l.startswith("%s:7: limits.pop3_idle_timeout:" % config) for l in lines), lines
    assert any(l.startswith("%s:8: limits.bogus: unknown key" % config) for l in lines), lines
    good = Daemon(tmp_path / "good")
    ok = subprocess.run([POSTROOM, "--config", str(good.config), "check-config"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == "ok\n"


def test_daemon_starts_accepts_and_exits_zero_on_sigterm(make_daemon):
    d = make_daemon()
    assert set(d.ports) == {"smtp", "pop3"}
    with socket.create_connection(("127.0.0.1", d.ports["smtp"]), timeout=5) as s:
        assert s.recv(100).startswith(b"220 mail.example.test")
    assert d.stop(signal.SIGTERM) == 0
    assert "postroomd stopped" in d.log()


def test_daemon_listens_on_ipv6(make_daemon):
    d = make_daemon(listen={"pop3": ["[::1]:0"]})
    with socket.create_connection(("::1", d.ports["pop3"]), timeout=5) as s:
        assert s.recv(100).startswith(b"+OK")


def test_port_in_use_is_one_clear_line_exit_1_and_nothing_created(tmp_path):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    d = Daemon(tmp_path, listen={"smtp": ["127.0.0.1:%d" % port]})
    result = subprocess.run([POSTROOMD, "--config", str(d.config)], capture_output=True, text=True, timeout=30)
    blocker.close()
    assert result.returncode == 1
    assert "127.0.0.1:%d" % port in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()


def test_bad_config_is_one_clear_line_exit_1(tmp_path):
    config = tmp_path / "postroom.yaml"
    config.write_text("hostname: mail.example.test\ndomains: [example.test]\ndata_dir: d\nlisten: {}\n")
    result = subprocess.run([POSTROOMD, "--config", str(config)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "postroom.yaml:4: listen" in result.stderr
    assert not (tmp_path / "d").exists()


def test_admin_works_while_the_daemon_runs(daemon):
    daemon.add_user("carol")
    assert "carol@example.test" in daemon.admin("user", "list").stdout
    daemon.admin("alias", "add", "team@" + DOMAIN, "alice@" + DOMAIN, "carol@" + DOMAIN)
    assert daemon.admin("alias", "list").stdout == "team@%s\talice@%s\tcarol@%s\n" % (DOMAIN, DOMAIN, DOMAIN)
    daemon.admin("alias", "del", "team@" + DOMAIN)
    assert daemon.admin("alias", "list").stdout == ""
    backup = daemon.workdir / "backup.db"
    daemon.admin("backup", str(backup))
    check = subprocess.run(["sqlite3", str(backup), "PRAGMA integrity_check; SELECT count(*) FROM accounts;"],
                           capture_output=True, text=True).stdout.split()
    assert check == ["ok", "2"]
