"""Hostile input to the config and the SMTP dialogue: a reload that cannot read its file keeps
the daemon serving, config errors stay one short line, hostnames and EHLO are US-ASCII, a
trusted network may not be the whole internet by accident, and postmaster is always there."""

import os
import poplib
import re
import signal
import smtplib
import subprocess

import pytest

from conftest import DOMAIN, PASSWORD, POSTROOM, POSTROOMD, Daemon
from line_client import LineClient

MESSAGE = b"From: x@remote.test\r\nSubject: for the postmaster\r\n\r\nHello postmaster.\r\n"


def check_config(config):
    return subprocess.run([POSTROOM, "--config", str(config), "check-config"], capture_output=True,
                          timeout=60)


def assert_short_clean_lines(text: bytes):
    """Every line is short and the only line ends are the lines' own LF: no raw CR, no NUL."""
    assert b"\r" not in text and b"\0" not in text
    for line in text.splitlines():
        assert len(line) < 600, line[:200]


def smtp_greeting_and_ehlo(d):
    with LineClient(d.ports["smtp"]) as c:
        greeting = c.line()
        c.send(b"EHLO client.test\r\n")
        lines = []
        while True:
            line = c.line()
            lines.append(line)
            if line[3:4] == b" ":
                return greeting, lines


def hostile_config(kind, good_text):
    """What the config path holds after the admin's (or an attacker's) mistake."""
    if kind == "garbage":
        return bytes((i * 7919 + 13) % 256 for i in range(20000))
    if kind == "huge value":  # larger than any config file may be
        return good_text.replace(b"hostname: mail.example.test", b"hostname: " + b"a" * (50 << 20))
    if kind == "crlf value":
        return good_text.replace(b"hostname: mail.example.test",
                                 b'hostname: "mail.example.test\\r\\nforged: log line"')
    raise AssertionError(kind)


# --- SIGHUP and check-config on a path that is not a config -----------------------------


def test_sighup_with_the_config_replaced_by_a_directory_keeps_the_old_config_and_serves(make_daemon):
    d = make_daemon()
    saved = d.config.with_name("saved.yaml")
    os.rename(d.config, saved)
    d.config.mkdir()
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for_log(r"reload failed, keeping the running config: \S+postroom.yaml:1: \(file\): "
                   r"cannot read it: is a directory, not a file")
    assert d.proc.poll() is None
    greeting, ehlo = smtp_greeting_and_ehlo(d)
    assert greeting.startswith(b"220 mail.example.test")
    assert ehlo[0].startswith(b"250-mail.example.test")
    # Back to a file: the next reload works again.
    d.config.rmdir()
    os.rename(saved, d.config)
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for_log(r"reloaded \S+postroom.yaml")
    assert d.proc.poll() is None


@pytest.mark.parametrize("kind", ["garbage", "huge value", "crlf value"])
def test_sighup_with_a_hostile_config_keeps_serving_and_logs_one_short_line(make_daemon, kind):
    d = make_daemon()
    good = d.config.read_bytes()
    d.config.write_bytes(hostile_config(kind, good))
    before = len(d.log_path.read_bytes())
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for_log(r"reload failed, keeping the running config: ")
    assert d.proc.poll() is None
    assert smtp_greeting_and_ehlo(d)[0].startswith(b"220 mail.example.test")
    written = d.log_path.read_bytes()[before:]
    assert_short_clean_lines(written)
    assert not any(line.startswith(b"forged") for line in written.splitlines())


def test_check_config_on_a_directory_exits_1_with_one_line(tmp_path):
    result = check_config(tmp_path)
    assert result.returncode == 1
    assert result.stderr.decode() == "%s:1: (file): cannot read it: is a directory, not a file\n" % tmp_path
    assert result.stdout == b""


def test_postroomd_on_a_directory_exits_1_with_one_line(tmp_path):
    result = subprocess.run([POSTROOMD, "--config", str(tmp_path)], capture_output=True, timeout=60)
    assert result.returncode == 1
    assert b"is a directory, not a file" in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("kind", ["garbage", "huge value", "crlf value"])
def test_check_config_on_a_hostile_file_exits_1_with_short_clean_lines(tmp_path, kind):
    d = Daemon(tmp_path / "d")
    d.config.write_bytes(hostile_config(kind, d.config.read_bytes()))
    result = check_config(d.config)
    assert result.returncode == 1
    assert result.stderr.startswith(str(d.config).encode() + b":")
    assert_short_clean_lines(result.stderr)


def test_a_one_megabyte_value_is_quoted_and_cut_in_the_error(tmp_path):
    d = Daemon(tmp_path / "d", extra="limits:\n  max_message_size: %s\n" % ("9" * (1 << 20)))
    result = check_config(d.config)
    assert result.returncode == 1
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1
    assert re.match(r".*postroom.yaml:\d+: limits.max_message_size: '9{80}\.\.\.'[: ]", lines[0]), lines[0]
    assert len(lines[0]) < 300


def test_a_cr_lf_in_a_value_is_escaped_in_the_error_and_the_daemon_log(tmp_path):
    d = Daemon(tmp_path / "d", extra='relay:\n  mode: "direct\\r\\n220 forged"\n')
    result = check_config(d.config)
    assert result.returncode == 1
    assert "relay.mode: 'direct\\r\\n220 forged' is not one of" in result.stderr.decode()
    assert_short_clean_lines(result.stderr)
    start = subprocess.run([POSTROOMD, "--config", str(d.config)], capture_output=True, timeout=60)
    assert start.returncode == 1
    assert len(start.stderr.splitlines()) == 1
    assert_short_clean_lines(start.stderr)


# --- hostname and EHLO are US-ASCII --------------------------------------------------------


def test_a_non_ascii_hostname_is_refused_by_check_config_and_at_start(tmp_path):
    d = Daemon(tmp_path / "d")
    text = d.config.read_text().replace("hostname: mail.example.test", "hostname: m\u00e4il.example.test")
    d.config.write_text(text, encoding="utf-8")
    result = check_config(d.config)
    assert result.returncode == 1
    assert b":1: hostname: 'm\\xc3\\xa4il.example.test' is not a host name" in result.stderr
    assert subprocess.run([POSTROOMD, "--config", str(d.config)], capture_output=True,
                          timeout=60).returncode == 1


def test_an_address_literal_hostname_is_accepted(make_daemon):
    d = make_daemon(start=False)
    d.config.write_text(d.config.read_text().replace("hostname: mail.example.test", 'hostname: "[127.0.0.1]"'))
    assert check_config(d.config).returncode == 0
    d.start()
    assert smtp_greeting_and_ehlo(d)[0].startswith(b"220 [127.0.0.1]")


def test_ehlo_and_helo_with_non_ascii_get_501_and_the_session_goes_on(daemon):
    with LineClient(daemon.ports["smtp"]) as c:
        assert c.line().startswith(b"220 ")
        c.send(b"EHLO m\xc3\xa4il.example\r\n")
        assert c.line().startswith(b"501 5.5.4")
        c.send(b"HELO \xff\xfe\r\n")
        assert c.line().startswith(b"501 5.5.4")
        c.send(b"MAIL FROM:<a@remote.test>\r\n")
        assert c.line().startswith(b"503 ")  # no greeting was accepted
        c.send(b"EHLO client.test\r\n")
        assert c.line().startswith(b"250-mail.example.test")


# --- trusted_networks may not be the whole internet by accident -------------------------


@pytest.mark.parametrize("network", ["0.0.0.0/0", "::/0", "0.0.0.0/1"])
def test_a_trusted_network_wider_than_8_or_16_is_refused_unless_allowed(make_daemon, tmp_path, network):
    d = Daemon(tmp_path / "wide", trusted=(network,))
    result = check_config(d.config)
    assert result.returncode == 1
    assert b"trusted_networks: '%s' is wider than /8" % network.encode() in result.stderr
    assert b"trusted_networks_allow_wide: true" in result.stderr
    start = subprocess.run([POSTROOMD, "--config", str(d.config)], capture_output=True, timeout=60)
    assert start.returncode == 1 and b"is wider than /8" in start.stderr
    assert not (tmp_path / "wide" / "data").exists()

    allowed = make_daemon(start=False, trusted=(network,), extra="trusted_networks_allow_wide: true\n")
    assert check_config(allowed.config).returncode == 0
    allowed.start()
    if network != "::/0":  # 127.0.0.1 is inside the IPv4 ones: relaying without AUTH is allowed
        with smtplib.SMTP("127.0.0.1", allowed.ports["smtp"], timeout=30) as client:
            client.ehlo("office.test")
            assert client.mail("a@example.test")[0] == 250
            assert client.rcpt("bob@remote.test")[0] == 250


# --- postmaster (RFC 5321 §4.5.1) ----------------------------------------------------------


def pop3_count(d, user):
    client = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=30)
    try:
        client.user(user)
        client.pass_(PASSWORD)
        return client.stat()[0]
    finally:
        client.quit()


def test_rcpt_to_postmaster_without_a_domain_and_at_every_domain_is_delivered(make_daemon):
    d = make_daemon(start=False)
    d.config.write_text(d.config.read_text().replace("domains: [%s]" % DOMAIN,
                                                     "domains: [%s, other.test]" % DOMAIN))
    alice = d.add_user("alice")
    d.admin("alias", "add", "postmaster@" + DOMAIN, alice)
    d.start()
    assert "no mailbox or alias postmaster" not in d.log()
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as client:
        client.ehlo("outsider.test")
        for rcpt in ("postmaster", "PostMaster", "postmaster@other.test", "POSTMASTER@" + DOMAIN):
            assert client.mail("x@remote.test")[0] == 250
            code, text = client.rcpt(rcpt)
            assert code == 250, (rcpt, text)
            client.docmd("RSET")
        # Written exactly as RFC 5321 §4.1.1.3 has it, no domain at all.
        assert client.mail("x@remote.test")[0] == 250
        assert client.docmd("RCPT TO:<Postmaster>")[0] == 250
        assert client.rcpt("postmaster@other.test")[0] == 250
        assert client.data(MESSAGE)[0] == 250
    assert pop3_count(d, alice) == 1  # one copy for the two postmaster recipients


def test_a_missing_postmaster_is_warned_about_at_start_and_by_check_config(make_daemon):
    d = make_daemon(start=False)
    d.add_user("alice")  # creates the database; no postmaster yet
    result = check_config(d.config)
    assert result.returncode == 0 and result.stdout == b"ok\n"
    assert b"warning: no mailbox or alias postmaster@example.test" in result.stderr
    d.start()
    d.wait_for_log(r"warning: no mailbox or alias postmaster@example.test")
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as client:
        client.ehlo("outsider.test")
        client.mail("x@remote.test")
        assert client.docmd("RCPT TO:<postmaster>")[0] == 550
    d.admin("alias", "add", "postmaster@example.test", "alice@example.test")
    assert b"warning" not in check_config(d.config).stderr


# --- the demo's hints name addresses it listens on ------------------------------------------


def test_every_address_the_demo_prints_is_one_it_listens_on():
    # "localhost" is also ::1 on a stock Debian 12; a client that tries ::1 first must not
    # meet a closed port, so the hints name exactly what the demo config binds.
    from conftest import ROOT
    script = (ROOT / "scripts" / "demo.sh").read_text()
    config = script.split("<<YAML", 1)[1].split("\nYAML", 1)[0]
    info = script.split("<<INFO", 1)[1].split("\nINFO", 1)[0]
    listening = set(re.findall(r'"(\d+\.\d+\.\d+\.\d+:\d+|\[[0-9a-f:]+\]:\d+)"', config))
    printed = set(re.findall(r"(?:--server |\s)([\w.\[\]:-]+:\d{4})\b", info))
    assert printed, info
    assert printed <= listening, (printed, listening)
