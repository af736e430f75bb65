"""Moving from an old POP3 server without a single re-download: a real Dovecot holds the
mail, `postroom import pop3` (and `import maildir` of Dovecot's Maildir) copies it with its
UIDLs, and a fetchmail in keep mode that knew the old server downloads nothing from postroom
until new mail arrives. An import killed half-way and run again brings each message once."""

import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import DOMAIN, PASSWORD, POSTROOM
from line_client import LineClient
from peers.dovecot_pop3 import Dovecot
from test_pop3 import deliver

OLD_PASSWORD = "old server secret"
USERS = ["alice", "bob", "carol", "dave"]


def old_messages(local, count):
    """Messages as an MDA leaves them in a Maildir (LF line ends), with what a byte-exact
    copy must survive: dot lines, 8-bit text, no final newline, a body over one chunk."""
    out = []
    for i in range(count):
        body = b"line one\n.starts with a dot\n..two dots\n.\nlast\n"
        if i % 4 == 1:
            body = "caf\u00e9 8-bit body\n".encode() * 3
        if i % 4 == 2:
            body = b"no final newline"
        if i == 3:
            body = (b"x" * 999 + b"\n") * 300  # 300 KB: more than one stored chunk
        msg = (b"From: old@remote.test\nTo: %s@%s\nSubject: old %s %d\nX-Test: %s-%d\n\n"
               % (local.encode(), DOMAIN.encode(), local.encode(), i, local.encode(), i)) + body
        out.append(("17000%05d.M%dP1.oldhost" % (i, i), msg))
    return out


@pytest.fixture(scope="module")
def dovecot():
    users = {"%s@%s" % (u, DOMAIN): OLD_PASSWORD for u in USERS}
    server = Dovecot(users)
    counts = {"alice": 6, "bob": 5, "carol": 24, "dave": 3}
    for local, n in counts.items():
        for name, data in old_messages(local, n):
            server.put("%s@%s" % (local, DOMAIN), name, data)
    server.start()
    yield server
    server.stop()


def dump(port, user, password):
    """[(uidl, list size, raw RETR reply body)] in message order, read on a plain socket so
    the exact octets (dot-stuffing and CRLF included) can be compared between servers."""
    c = LineClient(port)
    assert c.line().startswith(b"+OK")

    def cmd(line):
        c.send(line + "\r\n")
        reply = c.line()
        assert reply.startswith(b"+OK"), (line, reply)
        return reply

    def listing():
        lines = []
        while True:
            line = c.line()
            if line == b".":
                return lines
            lines.append(line)

    cmd("USER " + user)
    cmd("PASS " + password)
    cmd("UIDL")
    uidls = [l.split(b" ", 1) for l in listing()]
    cmd("LIST")
    sizes = dict(l.split(b" ", 1) for l in listing())
    out = []
    for number, uidl in uidls:
        cmd("RETR " + number.decode())
        while b"\r\n.\r\n" not in c.buf and not c.buf.startswith(b".\r\n"):
            chunk = c.sock.recv(65536)
            assert chunk
            c.buf += chunk
        if c.buf.startswith(b".\r\n"):
            body, c.buf = b"", c.buf[3:]
        else:
            body, c.buf = c.buf.split(b"\r\n.\r\n", 1)
            body += b"\r\n"
        out.append((uidl.decode(), int(sizes[number]), body))
    cmd("QUIT")
    c.sock.close()
    return out


class Fetchmail:
    """fetchmail in keep mode with UIDL tracking, polling "mail.example.test" through
    whichever server the office points it at; each message lands in its own file."""

    def __init__(self, tmp_path, user):
        self.home = tmp_path / ("fetchmail-" + user.split("@")[0])
        self.out = self.home / "out"
        self.out.mkdir(parents=True)
        self.user = user
        self.mda = self.home / "mda.sh"
        self.mda.write_text('#!/bin/sh\ncat > "%s/$(date +%%s%%N).$$"\n' % self.out)
        self.mda.chmod(0o755)

    def run(self, port, password):
        rc = self.home / ".fetchmailrc"
        # The poll name stays the office's server name: only the address behind it moves,
        # so the .fetchids entries (keyed by user and poll name) carry over. Neither server
        # offers TLS here (sslproto "": plain POP3 on loopback).
        rc.write_text('poll mail.%s via 127.0.0.1 protocol POP3 port %d uidl timeout 60\n'
                      '  user "%s" password "%s" is "tester" here keep sslproto ""\n'
                      '  mda "%s"\n' % (DOMAIN, port, self.user, password, self.mda))
        rc.chmod(0o600)
        env = dict(os.environ, HOME=str(self.home), FETCHMAILHOME=str(self.home))
        before = set(self.out.iterdir())
        result = subprocess.run(["fetchmail", "-f", str(rc), "-i", str(self.home / ".fetchids"),
                                 "--nosyslog", "--pidfile", str(self.home / "pid"), "--invisible"],
                                capture_output=True, text=True, env=env, timeout=120)
        new = [f.read_bytes() for f in sorted(set(self.out.iterdir()) - before)]
        return result, new


def import_pop3(daemon, address, port, *extra, check=True):
    return daemon.admin("import", "pop3", address, "--host", "127.0.0.1:%d" % port, "--user", address,
                        "--password-stdin", *extra, input=OLD_PASSWORD + "\n", check=check)


def assert_nothing_deleted(dovecot):
    """Dovecot logs each POP3 logout with the messages it deleted: "del=DELETED/TOTAL"."""
    deleted = re.findall(r"Logged out .*\bdel=(\d+)/", dovecot.log())
    assert deleted and set(deleted) == {"0"}, dovecot.log()


def assert_same_mailbox(dovecot, daemon, address):
    old = dump(dovecot.port, address, OLD_PASSWORD)
    new = dump(daemon.ports["pop3"], address, PASSWORD)
    assert [u for u, _, _ in new] == [u for u, _, _ in old]
    for (uidl, old_size, old_body), (_, new_size, new_body) in zip(old, new):
        assert new_body == old_body, uidl
        # postroom's LIST size is the octets RETR sends (RFC 1939 §11). Dovecot's leaves out
        # the CRLF it adds after an unterminated last line, so only the others must agree.
        sent = len(old_body.replace(b"\r\n..", b"\r\n.")) - (1 if old_body.startswith(b"..") else 0)
        assert new_size == sent, uidl
        if b"no final newline" not in old_body:
            assert old_size == sent, uidl
    return old


def test_import_pop3_keeps_dovecot_uidls_and_fetchmail_downloads_nothing(dovecot, make_daemon, tmp_path):
    address = "alice@" + DOMAIN
    # Before the move: the office's fetchmail keeps mail on the old server and remembers it.
    fm = Fetchmail(tmp_path, address)
    before, got = fm.run(dovecot.port, OLD_PASSWORD)
    assert before.returncode == 0, before.stdout + before.stderr
    assert len(got) == 6
    d = make_daemon(start=False)
    d.add_user("alice")
    d.start()
    result = import_pop3(d, address, dovecot.port)
    assert "imported 6 messages" in result.stdout, result.stdout + result.stderr
    old = assert_same_mailbox(dovecot, d, address)
    assert len(old) == 6  # nothing was deleted on the old server
    assert all(len(u) == 16 for u, _, _ in old)  # Dovecot's %08Xu%08Xv
    # The same fetchmail state, the server behind the name moved.
    again, got = fm.run(d.ports["pop3"], PASSWORD)
    assert again.returncode == 1, again.stdout + again.stderr
    assert got == []
    deliver(d, b"From: new@remote.test\r\nTo: %s\r\nSubject: after the move\r\n\r\nnew\r\n"
            % address.encode(), rcpt=address)
    new, got = fm.run(d.ports["pop3"], PASSWORD)
    assert new.returncode == 0, new.stdout + new.stderr
    assert len(got) == 1 and b"Subject: after the move" in got[0]
    # A second import finds everything there already and adds nothing.
    rerun = import_pop3(d, address, dovecot.port)
    assert "imported 0 messages" in rerun.stdout and "6 there already" in rerun.stdout, rerun.stdout
    assert_nothing_deleted(dovecot)


def test_import_maildir_keeps_dovecot_uidlist_uidls(dovecot, make_daemon, tmp_path):
    address = "bob@" + DOMAIN
    fm = Fetchmail(tmp_path, address)
    before, got = fm.run(dovecot.port, OLD_PASSWORD)
    assert before.returncode == 0 and len(got) == 5, before.stdout + before.stderr
    maildir = dovecot.maildir(address)
    assert (maildir / "dovecot-uidlist").exists()
    d = make_daemon(start=False)
    d.add_user("bob")
    d.start()
    result = d.admin("import", "maildir", address, str(maildir))
    assert "imported 5 messages" in result.stdout, result.stdout + result.stderr
    assert_same_mailbox(dovecot, d, address)
    again, got = fm.run(d.ports["pop3"], PASSWORD)
    assert again.returncode == 1 and got == [], again.stdout + again.stderr
    deliver(d, b"From: new@remote.test\r\nTo: %s\r\nSubject: after the move\r\n\r\nnew\r\n"
            % address.encode(), rcpt=address)
    new, got = fm.run(d.ports["pop3"], PASSWORD)
    assert new.returncode == 0 and len(got) == 1, new.stdout + new.stderr
    assert b"Subject: after the move" in got[0]
    # The same messages through POP3 afterwards: all there already, nothing added twice.
    both = import_pop3(d, address, dovecot.port)
    assert "imported 0 messages" in both.stdout and "5 there already" in both.stdout, both.stdout
    assert_nothing_deleted(dovecot)


class SlowProxy:
    """A TCP proxy in front of Dovecot that holds each RETR back a little and records every
    command, so an import can be killed half-way and no DELE can slip by unnoticed."""

    def __init__(self, target_port, delay, die_in_retr=None):
        self.die_in_retr = die_in_retr  # the old server "dies" half-way through this RETR
        self.dying = False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.target = target_port
        self.delay = delay
        self.commands = []
        self.retrs = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self.pipe, args=(server, client), daemon=True).start()
            threading.Thread(target=self.upstream, args=(client, server), daemon=True).start()

    def pipe(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    dying = self.dying
                if dying:
                    dst.sendall(data[: len(data) // 2])
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def upstream(self, client, server):
        buf = b""
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                buf += data
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    verb = line.split(b" ")[0].upper()
                    with self.lock:
                        self.commands.append(verb)
                    if verb == b"RETR":
                        time.sleep(self.delay)
                        with self.lock:
                            self.retrs += 1
                            self.dying = self.retrs == self.die_in_retr
                    server.sendall(line + b"\r\n")
        except OSError:
            pass
        for s in (client, server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.listener.close()


def mailbox_uidls(daemon, address):
    return [u for u, _, _ in dump(daemon.ports["pop3"], address, PASSWORD)]


def test_import_pop3_killed_half_way_resumes_and_brings_each_message_once(dovecot, make_daemon):
    address = "carol@" + DOMAIN
    d = make_daemon(start=False)
    d.add_user("carol")
    d.start()
    proxy = SlowProxy(dovecot.port, delay=0.1)
    try:
        cmd = [POSTROOM, "--config", str(d.config), "import", "pop3", address, "--host",
               "127.0.0.1:%d" % proxy.port, "--user", address, "--password-stdin"]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        proc.stdin.write((OLD_PASSWORD + "\n").encode())
        proc.stdin.close()
        deadline = time.time() + 30
        while proxy.retrs < 15 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        assert b"DELE" not in proxy.commands
    finally:
        proxy.close()
    first = mailbox_uidls(d, address)
    old = [u for u, _, _ in dump(dovecot.port, address, OLD_PASSWORD)]
    assert len(old) == 24
    assert 0 < len(first) < 24  # cut short half-way, with some batches committed
    assert first == old[:len(first)]
    result = import_pop3(d, address, dovecot.port)
    assert "imported %d messages" % (24 - len(first)) in result.stdout, result.stdout + result.stderr
    assert "%d there already" % len(first) in result.stdout
    assert_same_mailbox(dovecot, d, address)


def test_import_pop3_over_starttls_verifies_the_certificate(make_daemon, certificate, tmp_path):
    cert, key = certificate
    address = "dave@" + DOMAIN
    server = Dovecot({address: OLD_PASSWORD}, ssl=(cert, key))
    try:
        for name, data in old_messages("dave", 3):
            server.put(address, name, data)
        server.start()
        d = make_daemon(start=False)
        d.add_user("dave")
        d.start()
        # Dovecot's certificate is self-signed: without its CA the import refuses to log in.
        refused = import_pop3(d, address, server.port, "--starttls", check=False)
        assert refused.returncode == 1
        assert "not trusted" in refused.stderr, refused.stderr
        assert mailbox_uidls(d, address) == []
        ok = import_pop3(d, address, server.port, "--starttls", "--ca-file", str(cert))
        assert "imported 3 messages" in ok.stdout, ok.stdout + ok.stderr
        assert len(mailbox_uidls(d, address)) == 3
    finally:
        server.stop()


def test_import_mbox_keeps_x_uidl_and_reports_a_conflicting_one(make_daemon, tmp_path):
    address = "erin@" + DOMAIN
    d = make_daemon(start=False)
    d.add_user("erin")
    d.start()
    sep = b"From old@remote.test Mon Jan  1 00:00:00 2024\n"
    one = b"X-UIDL: 1a2b3c\nSubject: one\n\nbody one\n"
    mbox = tmp_path / "old.mbox"
    mbox.write_bytes(sep + one + b"\n" + sep + b"Subject: two, no X-UIDL\n\nbody two\n\n" +
                     sep + b"x-uidl:   GmailId1234 \nSubject: three\n\nbody three\n")
    result = d.admin("import", "mbox", address, str(mbox))
    assert "imported 3 messages" in result.stdout, result.stdout + result.stderr
    uidls = mailbox_uidls(d, address)
    assert uidls[0] == "1a2b3c" and uidls[2] == "GmailId1234"
    assert len(uidls[1]) == 25 and uidls[1] not in ("1a2b3c", "GmailId1234")  # a new random one
    # Another file holding the same message (same UIDL, same octets): there already. One with
    # the same UIDL and other octets: reported, not imported, exit 1.
    copy = tmp_path / "copy.mbox"
    copy.write_bytes(sep + one)
    same = d.admin("import", "mbox", address, str(copy))
    assert "imported 0 messages" in same.stdout and "1 there already" in same.stdout, same.stdout
    other = tmp_path / "other.mbox"
    other.write_bytes(sep + b"X-UIDL: 1a2b3c\nSubject: not the same\n\nbody\n")
    clash = d.admin("import", "mbox", address, str(other), check=False)
    assert clash.returncode == 1
    assert "UIDL 1a2b3c is in the mailbox already with other content" in clash.stderr, clash.stderr
    assert mailbox_uidls(d, address) == uidls


def test_import_maildir_keeps_courier_uidls(make_daemon, tmp_path):
    address = "frank@" + DOMAIN
    d = make_daemon(start=False)
    d.add_user("frank")
    d.start()
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "cur" / "1600000001.M1P1.host:2,S").write_bytes(b"Subject: a\n\nA\n")
    (maildir / "cur" / "1600000002.M2P1.host:2,").write_bytes(b"Subject: b\n\nB\n")
    (maildir / "new" / "1600000003.M3P1.host").write_bytes(b"Subject: c\n\nC\n")
    (maildir / "courierpop3dsizelist").write_text(
        "/2 3 1600000000\n1600000001.M1P1.host:2,S 15 1:1600000000\n"
        "1600000002.M2P1.host:2, 15 2:1600000000\n")
    result = d.admin("import", "maildir", address, str(maildir))
    assert "imported 3 messages" in result.stdout, result.stdout + result.stderr
    uidls = mailbox_uidls(d, address)
    assert uidls[:2] == ["UID1-1600000000", "UID2-1600000000"]
    assert len(uidls[2]) == 25  # not in Courier's list: a new UIDL


def test_import_pop3_survives_the_old_server_dying_mid_retr(dovecot, make_daemon):
    """The old server's connection breaks half-way through a message: the import stops with
    an error naming it, keeps the messages that arrived whole, stores no part of the broken
    one, deletes nothing there, and a second run finishes the job."""
    address = "carol@" + DOMAIN
    d = make_daemon(start=False)
    d.add_user("carol")
    d.start()
    proxy = SlowProxy(dovecot.port, delay=0, die_in_retr=10)
    try:
        broken = import_pop3(d, address, proxy.port, check=False)
    finally:
        proxy.close()
    assert broken.returncode != 0, broken.stdout
    assert "the server closed the connection (9 messages were imported" in broken.stderr, broken.stderr
    assert b"DELE" not in proxy.commands
    first = dump(d.ports["pop3"], address, PASSWORD)
    old = dump(dovecot.port, address, OLD_PASSWORD)
    # The nine whole messages before it are kept; the one cut in two is not there at all.
    assert len(first) == 9
    assert [(u, body) for u, _, body in first] == [(u, body) for u, _, body in old[: len(first)]]
    result = import_pop3(d, address, dovecot.port)
    assert "imported %d messages" % (24 - len(first)) in result.stdout, result.stdout + result.stderr
    assert_same_mailbox(dovecot, d, address)
