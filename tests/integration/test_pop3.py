"""Issue 3: the POP3 server against the real daemon: the protocol as poplib and raw sockets see it.

Greeting, CAPA, every command in its state, pipelining, input limits, the maildrop lock,
USER/PASS, APOP, AUTH PLAIN and the session log line. The helpers here (a raw-socket client,
SMTP delivery, trace-header splitting) are shared by test_pop3_transfer.py and
test_pop3_durability.py."""

import base64
import hashlib
import poplib
import re
import smtplib
import socket
import time

import pytest

from conftest import DOMAIN, PASSWORD
from line_client import LineClient

ALICE = "alice@" + DOMAIN
TIMESTAMP = re.compile(rb"<[^<>@\s]+@mail\.example\.test>")
UIDL_CHARS = re.compile(r"^[\x21-\x7e]{1,70}$")


# --- helpers -------------------------------------------------------------------------------

class Raw(LineClient):
    """A POP3 client on a plain socket; the greeting is read on connect."""

    def __init__(self, daemon, source=None, timeout=30):
        super().__init__(daemon.ports["pop3"], source=source, timeout=timeout)
        self.greeting = self.line()

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


# A message with every kind of line that needs care: dot-stuffing (S7) and 8-bit octets.
DOTTY = (b"From: bob@remote.test\r\nTo: alice@example.test\r\nSubject: dots\r\n"
         b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
         b".\r\n..\r\n...\r\n.leading dot\r\n. space\r\nmid.dle\r\n\r\n.\r\n"
         b"caf\xc3\xa9 \xe2\x82\xac \xff\xfe raw octets\r\n\tand a tab\r\nlast line.\r\n")


def big_message(mib, subject=b"big"):
    """A message of `mib` MiB whose every 1000th line starts with "." (dot-stuffed on the wire)."""
    line = b"".join(bytes([0x21 + (i * 7) % 90]) for i in range(76)) + b"\r\n"
    body = bytearray(b"From: bob@remote.test\r\nTo: alice@example.test\r\nSubject: %s\r\n\r\n" % subject)
    n = 0
    while len(body) < mib * 1024 * 1024:
        body += (b".dot-started line %d\r\n" % n) if n % 1000 == 0 else line
        n += 1
    return bytes(body)


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
        assert raw.closed_by_peer()


def test_twenty_bad_commands_in_a_row_end_the_session(daemon):
    with Raw(daemon) as raw:
        raw.send("BOGUS\r\n" * 20)
        replies = [raw.line() for _ in range(20)]
        assert all(r.startswith(b"-ERR") for r in replies)
        assert raw.closed_by_peer()


def test_quit_in_authorization_closes_and_the_per_ip_limit_answers_sys_temp(make_daemon):
    d = make_daemon(start=False, extra="limits:\n  max_connections_per_ip: 2\n")
    d.add_user("alice")
    d.start()
    with Raw(d) as raw:
        assert raw.cmd("QUIT").startswith(b"+OK")
        assert raw.closed_by_peer()
    first, second = Raw(d), Raw(d)
    try:
        with socket.create_connection(("127.0.0.1", d.ports["pop3"]), timeout=30) as third:
            reply = b""
            while not reply.endswith(b"\r\n"):
                data = third.recv(512)
                if not data:
                    break
                reply += data
            assert reply.startswith(b"-ERR [SYS/TEMP]"), reply
            assert third.recv(512) == b""
        assert first.login().cmd("QUIT").startswith(b"+OK")
    finally:
        first.close()
        second.close()


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
        assert raw.closed_by_peer()
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
        assert raw.closed_by_peer()
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
