"""Connection slots and write queues under abuse: trickling clients from outside fill only
the public share of the slots, so the office (trusted_networks) still fetches its mail;
a client that pipelines commands and never reads the replies cannot grow the daemon."""

import socket
import threading
import time

import pytest

from conftest import DOMAIN, PASSWORD, SANITIZED
from line_client import LineClient

ALICE = "alice@" + DOMAIN
OFFICE, OUTSIDE = "127.0.0.5", "127.0.0.9"


def test_trickling_outsiders_fill_only_the_public_share_of_slots(make_daemon):
    # reserved_connections is left at its default, a fifth of max_connections: 2.
    d = make_daemon(start=False, trusted=(OFFICE + "/32",), extra="limits:\n  max_connections: 10\n")
    d.add_user("alice")
    d.start()
    smtp_port, pop3_port = d.ports["smtp"], d.ports["pop3"]

    # Outsiders on port 25, each trickling a byte now and then, try to take every slot.
    tricklers, refused = [], 0
    for _ in range(10):
        c = LineClient(smtp_port, source=OUTSIDE)
        line = c.line()
        if line.startswith(b"220 "):
            tricklers.append(c)
        else:
            assert line.startswith(b"421 4.7.0"), line
            refused += 1
            c.close()
    stop = threading.Event()

    def trickle():
        while not stop.wait(0.5):
            for c in tricklers:
                try:
                    c.send(b"N")
                except OSError:
                    pass

    t = threading.Thread(target=trickle)
    t.start()
    try:
        assert len(tricklers) == 8 and refused == 2  # 10 slots, 2 kept for the office
        d.wait_for_log(r"refused smtp connection from 127\.0\.0\.9: public share of connections full")
        # The office fetches its mail over POP3 while the flood holds its whole share.
        with LineClient(pop3_port, source=OFFICE) as p:
            assert p.line().startswith(b"+OK")
            p.send("USER %s\r\n" % ALICE)
            assert p.line().startswith(b"+OK")
            p.send("PASS %s\r\n" % PASSWORD)
            assert p.line().startswith(b"+OK")
            p.send("STAT\r\n")
            assert p.line().startswith(b"+OK 0 ")
            p.send("QUIT\r\n")
            assert p.line().startswith(b"+OK")
        # Outsiders are still refused: their share is full.
        late = LineClient(smtp_port, source=OUTSIDE)
        assert late.line().startswith(b"421 4.7.0")
        late.close()
    finally:
        stop.set()
        t.join()
        for c in tricklers:
            c.close()


def test_an_outsider_who_logs_in_leaves_the_public_share(make_daemon):
    d = make_daemon(start=False, trusted=(OFFICE + "/32",),
                    extra="auth:\n  plaintext_without_tls: always\n"
                          "limits:\n  max_connections: 4\n  reserved_connections: 2\n")
    d.add_user("alice")
    d.start()
    pop3_port = d.ports["pop3"]
    first = LineClient(pop3_port, source=OUTSIDE)
    assert first.line().startswith(b"+OK")
    second = LineClient(pop3_port, source=OUTSIDE)
    assert second.line().startswith(b"+OK")
    third = LineClient(pop3_port, source=OUTSIDE)
    assert third.line().startswith(b"-ERR [SYS/TEMP]")  # the public share (2) is full
    third.close()
    first.send("USER %s\r\nPASS %s\r\n" % (ALICE, PASSWORD))
    assert first.line().startswith(b"+OK") and first.line().startswith(b"+OK")
    # first is now an office session: its slot left the public share.
    fourth = LineClient(pop3_port, source=OUTSIDE)
    assert fourth.line().startswith(b"+OK")
    for c in (first, second, fourth):
        c.close()


def import_messages(d, tmp_path, count):
    mbox = tmp_path / "many.mbox"
    parts = []
    for i in range(count):
        parts.append(b"From bob@remote.test Mon Jan  1 00:00:00 2024\nFrom: bob@remote.test\n"
                     b"Subject: %d\n\nbody %d\n\n" % (i, i))
    mbox.write_bytes(b"".join(parts))
    d.admin("import", "mbox", ALICE, str(mbox))


def never_reading_client(port, login_lines, command, count):
    """Connects with a small receive buffer, sends the login lines and reads their replies,
    then pipelines `count` copies of `command` from a thread without ever reading again."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    reader = s.makefile("rb")
    reader.readline()
    for line, replies in login_lines:
        s.sendall(line.encode())
        for _ in range(replies):
            reader.readline()
    sent = [0]
    s.settimeout(None)

    def flood():
        payload = command.encode() * 1000
        try:
            for _ in range(count // 1000):
                s.sendall(payload)
                sent[0] += 1000
        except OSError:
            pass

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    return s, t, sent


def rss_growth_while_flooded(d, sent):
    """RSS growth (KiB) over the daemon's size before the flood, and over the last seconds."""
    base = d.rss_kib()
    # Wait until the sender stalls (the daemon stopped reading) or has sent everything.
    last, still = -1, 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and still < 4:
        time.sleep(0.5)
        still = still + 1 if sent[0] == last else 0
        last = sent[0]
    first = d.rss_kib()
    time.sleep(2)
    second = d.rss_kib()
    return first - base, second - first


def assert_bounded(growth, late, sent):
    print("RSS growth %d KiB, then %d KiB in 2 s; %d commands sent" % (growth, late, sent[0]))
    if SANITIZED:
        pytest.skip("ASan build: shadow memory and quarantine make RSS meaningless (growth was %d KiB)"
                    % growth)
    # Generous: what is bounded is a few hundred KiB of replies and one read of commands.
    assert growth < 24 * 1024, "RSS grew by %d KiB" % growth
    assert late < 1024, "RSS still growing: %d KiB in 2 s" % late


def test_pipelined_pop3_list_never_read_keeps_the_daemon_small(make_daemon, tmp_path):
    d = make_daemon(start=False, extra="auth:\n  plaintext_without_tls: always\n")
    d.add_user("alice")
    import_messages(d, tmp_path, 60)
    d.start()
    count = 200_000  # each LIST answers about 600 octets: 120 MB if all were queued
    s, t, sent = never_reading_client(
        d.ports["pop3"], [("USER %s\r\n" % ALICE, 1), ("PASS %s\r\n" % PASSWORD, 1)], "LIST\r\n", count)
    try:
        growth, late = rss_growth_while_flooded(d, sent)
    finally:
        s.close()
    # The daemon serves on.
    with LineClient(d.ports["pop3"]) as p:
        assert p.line().startswith(b"+OK")
    assert_bounded(growth, late, sent)


def test_pipelined_smtp_commands_never_read_keep_the_daemon_small(make_daemon):
    d = make_daemon()
    count = 500_000  # each EHLO answers about 150 octets: 75 MB if all were queued
    s, t, sent = never_reading_client(d.ports["smtp"], [], "EHLO client.test\r\n", count)
    try:
        growth, late = rss_growth_while_flooded(d, sent)
    finally:
        s.close()
    with LineClient(d.ports["smtp"]) as c:
        assert c.line().startswith(b"220 ")
    assert_bounded(growth, late, sent)
