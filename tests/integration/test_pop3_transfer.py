"""Issue 3: POP3 message transfer: byte-exact round trips, curl, fetchmail, 50 MiB, import.

Messages go in by SMTP (smtplib) or `postroom import`, and come out by POP3 byte for byte,
after the trace header lines the SMTP server prepends. Helpers live in test_pop3.py."""

import hashlib
import os
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from conftest import PASSWORD, SANITIZED
from test_pop3 import ALICE, DOTTY, Raw, assert_delivered_as, big_message, deliver, simple, split_trace

# --- byte-exact transfer ----------------------------------------------------------------------

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


def test_a_message_for_two_mailboxes_deleted_by_one_stays_for_the_other(daemon):
    bob = daemon.add_user("bob")
    message = simple(1)
    with smtplib.SMTP("127.0.0.1", daemon.ports["smtp"], timeout=60) as s:
        assert s.sendmail("bob@remote.test", [ALICE, bob], message) == {}
    with Raw(daemon) as raw:
        raw.login()
        alice_uidl = raw.cmd("UIDL 1").split()[2]
        assert raw.cmd("DELE 1").startswith(b"+OK")
        assert raw.cmd("QUIT").startswith(b"+OK")
    with Raw(daemon) as raw:
        raw.login(bob)
        assert raw.cmd("UIDL 1").split()[2] != alice_uidl
        _, rest = split_trace(raw.multi("RETR 1"))
        assert rest == message
    with Raw(daemon) as raw:
        assert raw.login().cmd("STAT").startswith(b"+OK 0 0")


# --- big messages -----------------------------------------------------------------------------

def test_retr_of_a_50_mib_message_streams_with_bounded_memory(make_daemon):
    d = make_daemon(start=False, extra="limits:\n  max_message_size: 60MiB\n")
    d.add_user("alice")
    d.start()
    message = big_message(50)
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
