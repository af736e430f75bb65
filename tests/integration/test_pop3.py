"""Issue 3: the POP3 server against the real daemon, with poplib, raw sockets, curl and fetchmail.

Messages go in by SMTP (smtplib) or `postroom import`, and come out by POP3 byte for byte,
after the trace header lines (Return-Path:, Received:) the SMTP server prepends."""

import base64
import hashlib
import os
import poplib
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from conftest import DOMAIN, PASSWORD, SANITIZED

ALICE = "alice@" + DOMAIN
TIMESTAMP = re.compile(rb"<[^<>@\s]+@mail\.example\.test>")
UIDL_CHARS = re.compile(r"^[\x21-\x7e]{1,70}$")


# --- helpers -------------------------------------------------------------------------------

class Raw:
    """A POP3 client on a plain socket, so tests see the exact octets the server sends.

    `source` binds the client to another loopback address (127.0.0.x): the per-address
    login-failure delay then starts from zero for that test."""

    def __init__(self, daemon, source=None, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", daemon.ports["pop3"]), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""
        self.greeting = self.line()

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        """One reply line without its CRLF; AssertionError at end of stream."""
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("connection closed; unread %r" % self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.line()

    def body(self):
        """The rest of a multi-line reply, dot-unstuffed, with CRLF line ends (RFC 1939 §3)."""
        out = []
        while True:
            line = self.line()
            if line == b".":
                return b"".join(out)
            out.append((line[1:] if line.startswith(b".") else line) + b"\r\n")

    def multi(self, text):
        status = self.cmd(text)
        assert status.startswith(b"+OK"), (text, status)
        return self.body()

    def login(self, user=ALICE, password=PASSWORD):
        assert self.cmd("USER " + user).startswith(b"+OK")
        reply = self.cmd("PASS " + password)
        assert reply.startswith(b"+OK"), reply
        return self

    def closed(self, timeout=30):
        """True when the server closes the connection (after any unread bytes)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def deliver(daemon, message, rcpt=ALICE, sender="bob@remote.test"):
    """Delivers `message` (bytes with CRLF line ends) by SMTP; smtplib dot-stuffs it."""
    with smtplib.SMTP("127.0.0.1", daemon.ports["smtp"], timeout=120) as s:
        s.ehlo("client.test")
        options = ["BODY=8BITMIME"] if s.has_extn("8bitmime") and re.search(rb"[\x80-\xff]", message) else []
        refused = s.sendmail(sender, [rcpt], message, mail_options=options)
        assert refused == {}


def simple(n, extra=b""):
    return (b"From: bob@remote.test\r\nTo: %s\r\nSubject: message %d\r\n\r\nbody of message %d\r\n"
            % (ALICE.encode(), n, n)) + extra


def split_trace(stored):
    """(trace, rest): the leading Return-Path:/Received: fields (with folded lines) and the rest."""
    pos = 0
    while True:
        end = stored.index(b"\r\n", pos) + 2
        line = stored[pos:end]
        if line.startswith((b"Return-Path:", b"Received:")) or (pos and line[:1] in (b" ", b"\t")):
            pos = end
        else:
            return stored[:pos], stored[pos:]


def assert_delivered_as(stored, original):
    trace, rest = split_trace(stored)
    assert trace.startswith(b"Return-Path: <bob@remote.test>\r\nReceived: "), trace
    assert rest == original


def uidl_map(raw):
    out = {}
    for line in raw.multi("UIDL").splitlines():
        number, uid = line.split(b" ")
        out[int(number)] = uid.decode()
    return out


def session_lines(daemon, session_id):
    return [l for l in daemon.log().splitlines() if "session=%s " % session_id in l]


def closed_line(daemon, session_id, timeout=15):
    daemon.wait_for_log(r"session=%s pop3 closed" % re.escape(session_id), timeout=timeout)
    return [l for l in session_lines(daemon, session_id) if " pop3 closed " in l]


def session_id_of_last_connect(daemon):
    ids = re.findall(r"session=(\S+) pop3 connect", daemon.log())
    assert ids, daemon.log()
    return ids[-1]


# --- greeting, CAPA, a whole dialogue ---------------------------------------------------------

def test_greeting_carries_apop_timestamp_and_capa_lists_the_extensions(daemon):
    with Raw(daemon) as raw:
        assert raw.greeting.startswith(b"+OK ")
        assert TIMESTAMP.search(raw.greeting), raw.greeting
        before = raw.multi("CAPA").decode().splitlines()
        for capability in ("USER", "UIDL", "TOP", "SASL PLAIN", "RESP-CODES", "AUTH-RESP-CODE",
                           "PIPELINING"):
            assert capability in before, before
        assert any(c.startswith("IMPLEMENTATION ") for c in before), before
        assert "STLS" not in before  # no tls: in the config (RFC 2595 §4)
        raw.login()
        after = raw.multi("capa").decode().splitlines()  # keywords are case-insensitive (S5)
        assert "UIDL" in after and "TOP" in after and "PIPELINING" in after
    with Raw(daemon) as other:  # every greeting has its own timestamp (RFC 1939 §7)
        assert TIMESTAMP.search(other.greeting).group() != TIMESTAMP.search(raw.greeting).group()


def test_poplib_stat_list_uidl_retr_top_dele_rset_quit(daemon):
    messages = [simple(n) for n in (1, 2, 3)]
    for m in messages:
        deliver(daemon, m)
    pop = poplib.POP3("127.0.0.1", daemon.ports["pop3"], timeout=30)
    assert pop.user(ALICE).startswith(b"+OK")
    assert pop.pass_(PASSWORD).startswith(b"+OK")
    count, total = pop.stat()
    sizes = {int(n): int(s) for n, s in (l.split() for l in pop.list()[1])}
    assert count == 3 and total == sum(sizes.values())
    assert pop.list(2) .split()[1:] == [b"2", str(sizes[2]).encode()]
    uidls = {int(n): u.decode() for n, u in (l.split() for l in pop.uidl()[1])}
    assert len(set(uidls.values())) == 3 and all(UIDL_CHARS.match(u) for u in uidls.values())
    for n in (1, 2, 3):
        _, lines, octets = pop.retr(n)
        stored = b"\r\n".join(lines) + b"\r\n"
        assert_delivered_as(stored, messages[n - 1])
        assert len(stored) == sizes[n]  # RFC 1939 §11: LIST gives the exact size
    _, top, _ = pop.top(2, 0)
    assert top[-1] == b"" and b"Subject: message 2" in top and b"body of message 2" not in top
    _, top, _ = pop.top(2, 1)
    assert top[-1] == b"body of message 2"
    assert pop.dele(1).startswith(b"+OK")
    assert pop.stat() == (2, total - sizes[1])  # deleted messages are not counted
    for call in (lambda: pop.retr(1), lambda: pop.dele(1), lambda: pop.list(1), lambda: pop.top(1, 0),
                 lambda: pop.retr(4), lambda: pop.retr(0)):
        with pytest.raises(poplib.error_proto):
            call()
    assert pop.list(3).split()[1] == b"3"  # numbers are kept after a DELE
    assert pop.rset().startswith(b"+OK")
    assert pop.stat() == (3, total)
    assert pop.noop().startswith(b"+OK")
    pop.dele(2)
    assert b"1 message" in pop.quit()
    again = poplib.POP3("127.0.0.1", daemon.ports["pop3"], timeout=30)
    again.user(ALICE)
    again.pass_(PASSWORD)
    assert again.stat() == (2, sizes[1] + sizes[3])
    assert [l.split()[1].decode() for l in again.uidl()[1]] == [uidls[1], uidls[3]]
    again.quit()


def test_commands_in_the_wrong_state_and_bad_arguments_get_err_and_the_session_goes_on(daemon):
    deliver(daemon, simple(1))
    with Raw(daemon) as raw:
        for command in ("STAT", "RETR 1", "DELE 1", "LIST", "UIDL", "RSET", "NOOP", "TOP 1 1", "PASS x",
                        "HELO", "", "USER"):
            assert raw.cmd(command).startswith(b"-ERR"), command
        raw.login()
        for command in ("USER alice", "PASS x", "APOP a b", "RETR", "RETR x", "RETR -1", "RETR 1 2",
                        "TOP 1", "TOP 1 -1", "LIST 99", "UIDL 0", "DELE 2", "FROB", "RETRY 1",
                        "LIST " + "1" * 41):
            assert raw.cmd(command).startswith(b"-ERR"), command
        assert raw.cmd("stat").startswith(b"+OK 1 ")
        assert raw.cmd("QUIT").startswith(b"+OK")
        assert raw.closed()


def test_twenty_bad_commands_in_a_row_end_the_session(daemon):
    with Raw(daemon) as raw:
        raw.send("BOGUS\r\n" * 20)
        replies = [raw.line() for _ in range(20)]
        assert all(r.startswith(b"-ERR") for r in replies)
        assert raw.closed()


# --- byte-exact transfer ----------------------------------------------------------------------

DOTTY = (b"From: bob@remote.test\r\nTo: alice@example.test\r\nSubject: dots\r\n"
         b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
         b".\r\n..\r\n...\r\n.leading dot\r\n. space\r\nmid.dle\r\n\r\n.\r\n"
         b"caf\xc3\xa9 \xe2\x82\xac \xff\xfe raw octets\r\n\tand a tab\r\nlast line.\r\n")


def test_dot_stuffing_round_trip_and_8bit_body_are_byte_exact(daemon):
    deliver(daemon, DOTTY)
    with Raw(daemon) as raw:
        raw.login()
        size = int(raw.cmd("LIST 1").split()[2])
        assert raw.cmd("RETR 1").startswith(b"+OK")
        wire = []
        while True:  # the stuffed lines as sent: every line starting with "." gets one more (S7)
            line = raw.line()
            if line == b".":
                break
            wire.append(line)
        assert b".." in wire and b"..." in wire and b"..leading dot" in wire and b"." not in wire
        stored = b"".join((l[1:] if l.startswith(b".") else l) + b"\r\n" for l in wire)
        assert_delivered_as(stored, DOTTY)
        assert len(stored) == size
        assert int(raw.cmd("STAT").split()[2]) == size
        header_end = stored.index(b"\r\n\r\n") + 4
        assert raw.multi("TOP 1 0") == stored[:header_end]
        assert raw.multi("TOP 1 3") == stored[:header_end] + b".\r\n..\r\n...\r\n"
        assert raw.multi("TOP 1 1000") == stored


def test_curl_retrieves_and_lists(daemon):
    deliver(daemon, DOTTY)
    deliver(daemon, simple(2))
    base = "pop3://127.0.0.1:%d/" % daemon.ports["pop3"]
    user = ["--user", "%s:%s" % (ALICE, PASSWORD)]
    listing = subprocess.run(["curl", "-sS", "--max-time", "60", *user, base], capture_output=True, timeout=90)
    assert listing.returncode == 0, listing.stderr
    sizes = [int(l.split()[1]) for l in listing.stdout.splitlines()]
    assert len(sizes) == 2
    got = subprocess.run(["curl", "-sS", "--max-time", "60", *user, base + "1"], capture_output=True, timeout=90)
    assert got.returncode == 0, got.stderr
    assert_delivered_as(got.stdout, DOTTY)  # curl undoes the dot-stuffing
    assert len(got.stdout) == sizes[0]
    uidl = subprocess.run(["curl", "-sS", "--max-time", "60", *user, "-X", "UIDL", base],
                          capture_output=True, timeout=90)
    assert uidl.returncode == 0 and len(uidl.stdout.splitlines()) == 2, uidl


def fetchmail(daemon, tmp_path, *flags):
    """Runs fetchmail against the daemon; each message goes to its own file in tmp_path/out."""
    home = tmp_path / "home"
    out = tmp_path / "out"
    home.mkdir(exist_ok=True)
    out.mkdir(exist_ok=True)
    mda = tmp_path / "mda.sh"
    mda.write_text('#!/bin/sh\ncat > "%s/$(date +%%s%%N).$$"\n' % out)
    mda.chmod(0o755)
    rc = home / ".fetchmailrc"
    rc.write_text('poll 127.0.0.1 protocol POP3 port %d timeout 60\n'
                  '  user "%s" password "%s" is "tester" here\n'
                  '  mda "%s"\n' % (daemon.ports["pop3"], ALICE, PASSWORD, mda))
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(home), FETCHMAILHOME=str(home))
    result = subprocess.run(["fetchmail", "-f", str(rc), "-i", str(home / ".fetchids"), "--nosyslog",
                             "--pidfile", str(home / "pid"), "--invisible", "--nosslcertck", *flags],
                            capture_output=True, text=True, env=env, timeout=120)
    files = sorted(out.iterdir())
    return result, [f.read_bytes() for f in files]


def test_fetchmail_keeps_then_fetches_only_new_mail_then_deletes(daemon, tmp_path):
    deliver(daemon, simple(1))
    deliver(daemon, simple(2))
    # --keep with UIDL tracking: a second run finds nothing new, so the UIDLs held still.
    first, got = fetchmail(daemon, tmp_path, "--keep", "--uidl")
    assert first.returncode == 0, first.stdout + first.stderr
    assert len(got) == 2
    assert b"Subject: message 1" in got[0] and b"body of message 1" in got[0]
    second, got = fetchmail(daemon, tmp_path, "--keep", "--uidl")
    assert second.returncode == 1, second.stdout + second.stderr  # 1: no new mail
    assert len(got) == 2
    deliver(daemon, simple(3))
    third, got = fetchmail(daemon, tmp_path, "--nokeep", "--uidl")
    assert third.returncode == 0, third.stdout + third.stderr
    assert len(got) == 3 and b"body of message 3" in got[2]
    with Raw(daemon) as raw:
        assert raw.login().cmd("STAT").startswith(b"+OK 2 ")  # only the new one was deleted
        assert raw.cmd("QUIT").startswith(b"+OK")
    fourth, got = fetchmail(daemon, tmp_path, "--nokeep", "--flush", "--uidl")
    assert fourth.returncode in (0, 1), fourth.stdout + fourth.stderr
    with Raw(daemon) as raw:
        assert raw.login().cmd("STAT").startswith(b"+OK 0 0")  # --flush deleted the seen ones


# --- UIDL -------------------------------------------------------------------------------------

def test_uidl_stable_across_sessions_restart_backup_restore_and_never_reused(daemon, tmp_path):
    deliver(daemon, simple(1))
    deliver(daemon, simple(2))
    with Raw(daemon) as raw:
        first = uidl_map(raw.login())
        assert raw.cmd("UIDL 2") == b"+OK 2 " + first[2].encode()
        raw.cmd("QUIT")
    with Raw(daemon) as raw:
        assert uidl_map(raw.login()) == first
        raw.cmd("QUIT")
    daemon.restart()
    with Raw(daemon) as raw:
        assert uidl_map(raw.login()) == first
        raw.cmd("QUIT")
    backup = tmp_path / "backup.db"
    daemon.admin("backup", str(backup))
    seen = set(first.values())
    # Mail after the backup, some of it deleted: the restored database knows nothing of it.
    for n in (3, 4, 5):
        deliver(daemon, simple(n))
    with Raw(daemon) as raw:
        later = uidl_map(raw.login())
        seen |= set(later.values())
        assert raw.cmd("DELE 3").startswith(b"+OK")
        assert raw.cmd("QUIT").startswith(b"+OK")
    assert len(seen) == 5
    daemon.stop()
    for suffix in ("-wal", "-shm"):
        if os.path.exists(str(daemon.db) + suffix):
            os.remove(str(daemon.db) + suffix)
    shutil.copyfile(backup, daemon.db)
    daemon.start()
    with Raw(daemon) as raw:
        assert uidl_map(raw.login()) == first
        raw.cmd("QUIT")
    for n in (6, 7, 8, 9):
        deliver(daemon, simple(n))
    with Raw(daemon) as raw:
        restored = uidl_map(raw.login())
        assert len(restored) == 6
        new = [restored[n] for n in (3, 4, 5, 6)]
        assert all(UIDL_CHARS.match(u) for u in new)
        assert not set(new) & seen, (new, seen)
        assert len(set(restored.values())) == 6
        _, rest = split_trace(raw.multi("RETR 3"))
        assert rest == simple(6)


# --- rollback: dropped connection, shutdown ---------------------------------------------------

def test_dropped_connection_deletes_nothing_and_releases_the_lock(daemon):
    for n in (1, 2):
        deliver(daemon, simple(n))
    raw = Raw(daemon).login()
    session = session_id_of_last_connect(daemon)
    assert raw.cmd("DELE 1").startswith(b"+OK")
    assert raw.cmd("DELE 2").startswith(b"+OK")
    raw.sock.shutdown(socket.SHUT_RDWR)
    raw.close()  # no QUIT: RFC 1939 §6, no UPDATE
    line = closed_line(daemon, session)
    assert len(line) == 1 and "deleted=0" in line[0]
    with Raw(daemon) as raw:
        assert raw.login().cmd("STAT").startswith(b"+OK 2 ")


def test_sigterm_during_a_session_deletes_nothing(daemon):
    for n in (1, 2, 3):
        deliver(daemon, simple(n))
    raw = Raw(daemon).login()
    assert raw.cmd("DELE 1").startswith(b"+OK")
    assert raw.cmd("DELE 3").startswith(b"+OK")
    assert daemon.stop(signal.SIGTERM) == 0
    assert raw.closed()
    raw.close()
    daemon.start()
    with Raw(daemon) as raw:
        assert raw.login().cmd("STAT").startswith(b"+OK 3 ")


def test_quit_commits_before_its_ok_and_the_deletion_survives_a_kill(daemon):
    for n in (1, 2):
        deliver(daemon, simple(n))
    with Raw(daemon) as raw:
        raw.login()
        assert raw.cmd("DELE 2").startswith(b"+OK")
        assert raw.cmd("QUIT").startswith(b"+OK")
    daemon.kill()  # no clean shutdown: the +OK promised the commit was durable
    daemon.start()
    with Raw(daemon) as raw:
        _, rest = split_trace(raw.login().multi("RETR 1"))
        assert rest == simple(1)
        assert raw.cmd("STAT").startswith(b"+OK 1 ")


# --- maildrop lock ----------------------------------------------------------------------------

def in_use_reply(daemon):
    with Raw(daemon) as raw:
        assert raw.cmd("USER " + ALICE).startswith(b"+OK")
        return raw.cmd("PASS " + PASSWORD)


def test_second_session_gets_in_use_until_the_first_quits_or_disconnects(daemon):
    deliver(daemon, simple(1))
    first = Raw(daemon).login()
    second = Raw(daemon)
    assert second.cmd("USER " + ALICE).startswith(b"+OK")
    assert second.cmd("PASS " + PASSWORD).startswith(b"-ERR [IN-USE]")
    # Still in AUTHORIZATION (S14): after the first QUITs, the same session may try again.
    assert second.cmd("NOOP").startswith(b"-ERR")
    assert first.cmd("QUIT").startswith(b"+OK")
    first.close()
    second.login()
    assert second.cmd("STAT").startswith(b"+OK 1 ")
    assert in_use_reply(daemon).startswith(b"-ERR [IN-USE]")
    second.close()  # a disconnect without QUIT releases the lock too
    deadline = time.time() + 20
    while True:
        reply = in_use_reply(daemon)
        if reply.startswith(b"+OK") or time.time() > deadline:
            break
        time.sleep(0.1)
    assert reply.startswith(b"+OK"), reply


# --- pipelining and input limits --------------------------------------------------------------

def test_pipelined_commands_get_their_replies_in_order(daemon):
    deliver(daemon, simple(1))
    deliver(daemon, DOTTY)
    with Raw(daemon) as raw:
        raw.send("USER %s\r\nPASS %s\r\nSTAT\r\nLIST\r\nUIDL 2\r\nRETR 2\r\nTOP 1 0\r\nNOOP\r\nBOGUS\r\n"
                 "DELE 1\r\nRETR 1\r\nRSET\r\nLIST 1\r\nQUIT\r\n" % (ALICE, PASSWORD))
        assert raw.line().startswith(b"+OK")  # USER
        assert raw.line().startswith(b"+OK")  # PASS
        assert raw.line().startswith(b"+OK 2 ")  # STAT
        assert raw.line().startswith(b"+OK")  # LIST
        listing = raw.body().splitlines()
        assert [l.split()[0] for l in listing] == [b"1", b"2"]
        assert raw.line().startswith(b"+OK 2 ")  # UIDL 2
        assert raw.line().startswith(b"+OK")  # RETR 2
        retrieved = raw.body()
        assert_delivered_as(retrieved, DOTTY)
        assert len(retrieved) == int(listing[1].split()[1])
        assert raw.line().startswith(b"+OK")  # TOP 1 0
        assert b"Subject: message 1" in raw.body()
        assert raw.line().startswith(b"+OK")  # NOOP
        assert raw.line().startswith(b"-ERR")  # BOGUS
        assert raw.line().startswith(b"+OK")  # DELE 1
        assert raw.line().startswith(b"-ERR")  # RETR 1: deleted
        assert raw.line().startswith(b"+OK")  # RSET
        assert raw.line().startswith(b"+OK 1 ")  # LIST 1
        assert raw.line().startswith(b"+OK")  # QUIT
        assert raw.closed()
    with Raw(daemon) as raw:
        assert raw.login().cmd("STAT").startswith(b"+OK 2 ")  # RSET undid the DELE


def test_over_long_command_lines_get_err_and_the_session_goes_on(daemon):
    deliver(daemon, simple(1))
    with Raw(daemon) as raw:
        assert raw.cmd("NOOP " + "x" * 251).startswith(b"-ERR")  # 257 octets with CRLF (RFC 2449 §4)
        assert raw.cmd("CAPA").startswith(b"+OK")
        raw.body()
        raw.send("USER " + "y" * 1024 * 1024 + "\r\n")  # 1 MiB is consumed, not buffered
        assert raw.line().startswith(b"-ERR")
        raw.login()
        assert raw.cmd("LIST 1 " + "z" * 300).startswith(b"-ERR")
        assert raw.cmd("STAT").startswith(b"+OK 1 ")
        # A pipelined over-long line does not swallow its neighbours.
        raw.send("NOOP\r\n" + "LIST " + "9" * 400 + "\r\nUIDL 1\r\n")
        assert raw.line().startswith(b"+OK")
        assert raw.line().startswith(b"-ERR")
        assert raw.line().startswith(b"+OK 1 ")


def test_long_login_name_and_password_fit_the_255_octet_line(daemon):
    local = "a" * 60 + ".box"  # 64 octets, the most RFC 5321 §4.5.3.1.1 allows: 77 with the domain
    password = "p" * 200 + " with spaces"
    address = daemon.add_user(local, password=password)
    with Raw(daemon) as raw:
        raw.login(address, password)
        assert raw.cmd("STAT").startswith(b"+OK 0 0")


# --- authentication ---------------------------------------------------------------------------

def test_unknown_user_and_wrong_password_get_the_same_reply_and_three_failures_close(daemon):
    # Three failures from one address wait 1 s, 2 s and 4 s; other addresses are not slowed.
    with Raw(daemon, source="127.0.0.2") as raw:
        assert raw.cmd("USER nobody@" + DOMAIN).startswith(b"+OK")  # USER reveals nothing
        unknown = raw.cmd("PASS " + PASSWORD)
        assert raw.cmd("USER " + ALICE).startswith(b"+OK")
        wrong = raw.cmd("PASS not the password")
        assert unknown.startswith(b"-ERR [AUTH]") and unknown == wrong
        assert raw.cmd("USER " + ALICE).startswith(b"+OK")
        assert raw.cmd("PASS still wrong").startswith(b"-ERR [AUTH]")
        assert raw.closed()
    with Raw(daemon, source="127.0.0.3") as raw:
        assert raw.login().cmd("STAT").startswith(b"+OK")


def test_login_names_are_case_insensitive(daemon):
    with Raw(daemon) as raw:
        raw.login("ALICE@Example.TEST")
        assert raw.cmd("QUIT").startswith(b"+OK")


def test_apop_for_a_user_with_a_secret_and_refused_without(daemon):
    secret = "apop shared secret"
    daemon.admin("user", "apop", ALICE, "--password-stdin", input=secret + "\n")
    bob = daemon.add_user("bob")
    deliver(daemon, simple(1))
    with Raw(daemon) as raw:
        stamp = TIMESTAMP.search(raw.greeting).group()
        digest = hashlib.md5(stamp + secret.encode()).hexdigest()
        assert raw.cmd("APOP %s %s" % (ALICE, digest)).startswith(b"+OK")
        assert raw.cmd("STAT").startswith(b"+OK 1 ")
        assert raw.cmd("QUIT").startswith(b"+OK")
    pop = poplib.POP3("127.0.0.1", daemon.ports["pop3"], timeout=30)  # poplib's own APOP
    assert pop.apop(ALICE, secret).startswith(b"+OK")
    pop.quit()
    with Raw(daemon, source="127.0.0.4") as raw:  # a digest over the login password is not APOP
        stamp = TIMESTAMP.search(raw.greeting).group()
        refused = raw.cmd("APOP %s %s" % (bob, hashlib.md5(stamp + PASSWORD.encode()).hexdigest()))
        assert refused.startswith(b"-ERR [AUTH]")
    with Raw(daemon, source="127.0.0.5") as raw:  # a digest from another greeting's timestamp
        digest = hashlib.md5(stamp + secret.encode()).hexdigest()
        assert raw.cmd("APOP %s %s" % (ALICE, digest)).startswith(b"-ERR [AUTH]")
    daemon.admin("user", "apop", ALICE, "--off")
    with Raw(daemon, source="127.0.0.6") as raw:
        stamp = TIMESTAMP.search(raw.greeting).group()
        assert raw.cmd("APOP %s %s" % (ALICE, hashlib.md5(stamp + secret.encode()).hexdigest())) \
            .startswith(b"-ERR [AUTH]")
    assert secret not in daemon.log()


def test_auth_plain_with_and_without_initial_response(daemon):
    token = base64.b64encode(b"\0" + ALICE.encode() + b"\0" + PASSWORD.encode()).decode()
    with Raw(daemon) as raw:
        assert raw.cmd("AUTH PLAIN " + token).startswith(b"+OK")
        assert raw.cmd("STAT").startswith(b"+OK 0 0")
        assert raw.cmd("QUIT").startswith(b"+OK")
    with Raw(daemon) as raw:
        assert raw.cmd("AUTH PLAIN") == b"+ "
        assert raw.cmd(token).startswith(b"+OK")
        assert raw.cmd("QUIT").startswith(b"+OK")
    with Raw(daemon) as raw:
        assert raw.cmd("AUTH PLAIN") == b"+ "
        assert raw.cmd("*").startswith(b"-ERR")  # RFC 5034 §4: the client cancels
        assert raw.cmd("AUTH CRAM-MD5").startswith(b"-ERR")
        assert raw.cmd("AUTH PLAIN !!notbase64").startswith(b"-ERR")
        raw.login()  # none of that counted as a login
    assert token not in daemon.log()


# --- logging ----------------------------------------------------------------------------------

def test_one_summary_line_per_session_and_no_password_in_the_log(daemon):
    deliver(daemon, simple(1))
    deliver(daemon, simple(2))
    with Raw(daemon) as raw:
        session = session_id_of_last_connect(daemon)
        raw.login()
        raw.multi("RETR 1")
        raw.multi("RETR 2")
        raw.cmd("DELE 2")
        assert raw.cmd("QUIT").startswith(b"+OK")
    lines = closed_line(daemon, session)
    assert len(lines) == 1, lines
    assert re.search(r"peer=127\.0\.0\.1 user=%s retrieved=2 deleted=1 reason=\S" % re.escape(ALICE), lines[0]), \
        lines[0]
    with Raw(daemon, source="127.0.0.7") as raw:
        session = session_id_of_last_connect(daemon)
        raw.cmd("USER " + ALICE)
        raw.cmd("PASS wrong-" + PASSWORD)
    lines = closed_line(daemon, session)
    assert len(lines) == 1 and "retrieved=0 deleted=0" in lines[0], lines
    assert PASSWORD not in daemon.log()


# --- big messages -----------------------------------------------------------------------------

def test_retr_of_a_50_mib_message_streams_with_bounded_memory(make_daemon):
    d = make_daemon(start=False, extra="limits:\n  max_message_size: 60MiB\n")
    d.add_user("alice")
    d.start()
    line = b"".join(bytes([0x21 + (i * 7) % 90]) for i in range(76)) + b"\r\n"
    body = bytearray(b"From: bob@remote.test\r\nTo: alice@example.test\r\nSubject: big\r\n\r\n")
    n = 0
    while len(body) < 50 * 1024 * 1024:
        body += (b".dot-started line %d\r\n" % n) if n % 1000 == 0 else line
        n += 1
    message = bytes(body)
    deliver(d, message)
    raw = Raw(d, timeout=120).login()
    size = int(raw.cmd("LIST 1").split()[2])
    baseline = d.rss_kib()
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], d.rss_kib())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        raw.send("RETR 1\r\n")
        assert raw.line().startswith(b"+OK")
        # A slow reader: the daemon must wait for the socket, not buffer the message.
        digest = hashlib.sha256()
        received = 0
        tail = b""
        while True:
            chunk = raw.buf or raw.sock.recv(64 * 1024)
            raw.buf = b""
            assert chunk, "connection closed during RETR"
            data = tail + chunk
            if data.endswith(b"\r\n.\r\n"):
                digest.update(data[:-3])
                received += len(data) - 3
                break
            keep = 4  # the end marker may straddle two reads
            digest.update(data[:-keep])
            received += len(data) - keep
            tail = data[-keep:]
            time.sleep(0.002)  # ~30 MB/s at most: slower than the store reads
    finally:
        done.set()
        sampler.join()
    # Rebuild what the server should have sent: trace + message, dot-stuffed.
    with Raw(d) as other:
        assert other.cmd("USER " + ALICE).startswith(b"+OK")
        assert other.cmd("PASS " + PASSWORD).startswith(b"-ERR [IN-USE]")
    raw.send("TOP 1 0\r\n")
    assert raw.line().startswith(b"+OK")
    trace, _ = split_trace(raw.body())
    expected = (trace + message).replace(b"\r\n.", b"\r\n..")
    assert received == len(expected)
    assert digest.hexdigest() == hashlib.sha256(expected).hexdigest()
    assert len(trace) + len(message) == size
    assert raw.cmd("QUIT").startswith(b"+OK")
    growth = peak[0] - baseline
    if SANITIZED:
        pytest.skip("ASan build: shadow memory and quarantine make RSS meaningless (growth was %d KiB)"
                    % growth)
    print("RSS baseline %d KiB, peak %d KiB during RETR" % (baseline, peak[0]))
    assert growth < 8 * 1024, "RSS grew %d KiB during RETR of %d octets" % (growth, size)


# --- import -----------------------------------------------------------------------------------

MBOX = (b"From bob@remote.test Mon Jan  1 00:00:00 2024\n"
        b"From: bob@remote.test\nSubject: one\n\n"
        b"body\n>From the start of a line\n>>From quoted twice\n.dot line\n\n"
        b"From carol@remote.test Tue Jan  2 00:00:00 2024\n"
        b"From: carol@remote.test\nSubject: two\n\n"
        b"last line\n\n")


def test_import_mbox_then_fetch_with_crlf(daemon, tmp_path):
    mbox = tmp_path / "in.mbox"
    mbox.write_bytes(MBOX)
    daemon.admin("import", "mbox", ALICE, str(mbox))
    with Raw(daemon) as raw:
        raw.login()
        sizes = [int(l.split()[1]) for l in raw.multi("LIST").splitlines()]
        one, two = raw.multi("RETR 1"), raw.multi("RETR 2")
    assert one == (b"From: bob@remote.test\r\nSubject: one\r\n\r\n"
                   b"body\r\nFrom the start of a line\r\n>From quoted twice\r\n.dot line\r\n")
    assert two == b"From: carol@remote.test\r\nSubject: two\r\n\r\nlast line\r\n"
    assert sizes == [len(one), len(two)]


def test_import_maildir_then_fetch_with_crlf(daemon, tmp_path):
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "cur" / "1000.a.host:2,S").write_bytes(b"Subject: first\n\nbare LF body\n.dot\n")
    (maildir / "new" / "2000.b.host").write_bytes(b"Subject: second\r\n\r\nCRLF body\r\n")
    (maildir / "new" / "3000.c.host").write_bytes(b"Subject: third\n\nno final line end")
    (maildir / "tmp" / "4000.d.host").write_bytes(b"Subject: unfinished\n\nnot delivered\n")
    daemon.admin("import", "maildir", ALICE, str(maildir))
    with Raw(daemon) as raw:
        raw.login()
        sizes = [int(l.split()[1]) for l in raw.multi("LIST").splitlines()]
        assert len(sizes) == 3
        got = [raw.multi("RETR %d" % n) for n in (1, 2, 3)]
    assert got[0] == b"Subject: first\r\n\r\nbare LF body\r\n.dot\r\n"
    assert got[1] == b"Subject: second\r\n\r\nCRLF body\r\n"
    # RFC 1939 §3: the reply ends in CRLF.CRLF, so a last line without its end gets one...
    assert got[2] == b"Subject: third\r\n\r\nno final line end\r\n"
    # ...and RFC 1939 §11: LIST counts exactly the octets RETR sends, that CRLF included.
    assert sizes == [len(m) for m in got]
