"""Issue 4, limits and abuse: pipelining, over-long lines, the error budget, max_recipients,
connection limits, the NUL / bare CR / bare LF rule (docs/smtp-input-rules.md), SMTP smuggling,
garbage, and the per-transaction log line."""

import os
import poplib
import random
import re
import smtplib
import socket

from conftest import DOMAIN
from smtp_helpers import (ALICE, Raw, message, mailbox_count, no_contents_left, pop3_messages, sql,
                          strip_trace, wait_until)


def greeted(d, source=None):
    s = Raw(d.ports["smtp"], source=source)
    assert s.reply()[0] == 220
    return s


def test_pipelined_batch_is_answered_in_order(daemon):
    with greeted(daemon) as s:
        assert s.cmd("EHLO pipe.remote.test")[0] == 250
        s.send(b"MAIL FROM:<sender@remote.test>\r\n"
               b"RCPT TO:<%s>\r\n"
               b"RCPT TO:<nobody@%s>\r\n"
               b"RCPT TO:<%s>\r\n"
               b"DATA\r\n" % (ALICE.encode(), DOMAIN.encode(), ALICE.upper().encode()))
        assert s.reply()[0] == 250
        assert s.reply() == (250, "2.1.5 Ok")
        code, text = s.reply()
        assert code == 550 and text.startswith("5.1.1") and "nobody@" in text
        assert s.reply() == (250, "2.1.5 Ok")
        assert s.reply()[0] == 354
        # The message and the next transaction in one send, too.
        s.send(message("piped-1") + b".\r\nMAIL FROM:<>\r\nRCPT TO:<%s>\r\nDATA\r\n" % ALICE.encode())
        assert s.reply()[1].startswith("2.0.0 Ok: queued as")
        assert s.reply()[0] == 250
        assert s.reply()[0] == 250
        assert s.reply()[0] == 354
        s.send(message("piped-2") + b".\r\nQUIT\r\n")
        assert s.reply()[0] == 250
        assert s.reply()[0] == 221
    stored = pop3_messages(daemon)
    assert [strip_trace(m) for m in stored] == [message("piped-1"), message("piped-2")]
    assert stored[1].startswith(b"Return-Path: <>\r\n")


def test_overlong_command_line_gets_500_and_the_session_goes_on(daemon):
    with greeted(daemon) as s:
        assert s.cmd("EHLO long.remote.test")[0] == 250
        code, text = s.cmd("MAIL FROM:<%s@remote.test>" % ("a" * 600))
        assert code == 500 and text.startswith("5.5.2"), text
        code, text = s.cmd("NOOP " + "x" * 100000)  # far past the cap: discarded, not buffered
        assert code == 500
        assert s.cmd("NOOP")[0] == 250
        assert s.cmd("MAIL FROM:<sender@remote.test>")[0] == 250


def test_twenty_bad_commands_end_the_session_with_421(daemon):
    with greeted(daemon) as s:
        s.send(b"".join(b"BOGUS %d\r\n" % n for n in range(25)))
        for _ in range(19):
            assert s.reply()[0] == 500
        assert s.reply()[0] == 500  # the 20th bad command is answered, then the session ends
        code, text = s.reply()
        assert code == 421 and text.startswith("4.7.0"), text
        assert s.closed_by_peer()
        assert s.buf == b""  # nothing after the 421
    daemon.wait_for_log(r"smtp closed peer=127\.0\.0\.1 reason=too many errors")


def test_max_recipients_gives_452(make_daemon):
    d = make_daemon(start=False, extra="limits:\n  max_recipients: 3\n")
    d.add_user("alice")
    d.start()
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as client:
        client.ehlo("c.remote.test")
        client.mail("sender@remote.test")
        for _ in range(3):
            assert client.rcpt(ALICE)[0] == 250
        code, text = client.rcpt(ALICE)
        assert code == 452 and text.startswith(b"4.5.3"), text
        assert client.data(message("three"))[0] == 250  # the accepted ones still get it, once
    assert mailbox_count(d) == 1


def test_max_connections_per_ip_across_listeners(make_daemon):
    d = make_daemon(start=False, extra="limits:\n  max_connections_per_ip: 2\n")
    d.add_user("alice")
    d.start()
    first, second = greeted(d), greeted(d)
    try:
        with Raw(d.ports["smtp"]) as third:
            code, text = third.reply()
            assert code == 421 and text.startswith("4.7.0"), text
            assert third.closed_by_peer()
        with socket.create_connection(("127.0.0.1", d.ports["pop3"]), timeout=10) as pop:
            assert pop.recv(200).startswith(b"-ERR [SYS/TEMP]")
        with greeted(d, source="127.0.0.2") as other:  # another address is not affected
            assert other.cmd("EHLO other.remote.test")[0] == 250
    finally:
        first.close()
        second.close()
    # Closing frees the slots (the daemon notices asynchronously).
    def can_connect():
        with Raw(d.ports["smtp"]) as s:
            return s.reply()[0] == 220
    wait_until(can_connect, what="a slot to be freed")


BAD_BODIES = {
    "nul": b"Subject: nul\r\n\r\nbefore\x00after\r\n",
    "bare-lf": b"Subject: lf\r\n\r\nline one\nline two\r\n",
    "bare-cr": b"Subject: cr\r\n\r\nline one\rline two\r\n",
    "long-line": b"Subject: long\r\n\r\n" + b"x" * 1200 + b"\r\n",
}


def test_nul_bare_cr_bare_lf_and_long_lines_in_data_are_refused_with_nothing_stored(daemon):
    with greeted(daemon) as s:
        assert s.cmd("EHLO rules.remote.test")[0] == 250
        for name, body in BAD_BODIES.items():
            assert s.cmd("MAIL FROM:<sender@remote.test>")[0] == 250
            assert s.cmd("RCPT TO:<%s>" % ALICE)[0] == 250
            assert s.cmd("DATA")[0] == 354
            s.send(body + b".\r\n")
            code, text = s.reply()
            assert code == 550 and text.startswith("5.6.0"), (name, code, text)
        # The session goes on and a clean message is still accepted.
        assert s.cmd("MAIL FROM:<sender@remote.test>")[0] == 250
        assert s.cmd("RCPT TO:<%s>" % ALICE)[0] == 250
        assert s.cmd("DATA")[0] == 354
        s.send(message("clean") + b".\r\n")
        assert s.reply()[0] == 250
    [stored] = pop3_messages(daemon)
    assert strip_trace(stored) == message("clean")


def test_refused_bare_lf_message_leaves_nothing_in_the_store(daemon):
    with greeted(daemon) as s:
        assert s.cmd("EHLO rules.remote.test")[0] == 250
        assert s.cmd("MAIL FROM:<sender@remote.test>")[0] == 250
        assert s.cmd("RCPT TO:<%s>" % ALICE)[0] == 250
        assert s.cmd("DATA")[0] == 354
        # Big enough that chunks reach the store writer before the refusal.
        s.send(b"Subject: big\r\n\r\n" + (b"y" * 500 + b"\r\n") * 2000 + b"bare\nlf\r\n.\r\n")
        assert s.reply()[0] == 550
    no_contents_left(daemon)


SMUGGLE_ENDS = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r\n\x00.\r\n"]


def test_smtp_smuggling_yields_one_transaction_not_two(daemon):
    for end in SMUGGLE_ENDS:
        with greeted(daemon) as s:
            assert s.cmd("EHLO smuggler.remote.test")[0] == 250
            assert s.cmd("MAIL FROM:<sender@remote.test>")[0] == 250
            assert s.cmd("RCPT TO:<%s>" % ALICE)[0] == 250
            assert s.cmd("DATA")[0] == 354
            s.send(b"Subject: outer\r\n\r\nhello" + end +
                   b"MAIL FROM:<admin@%s>\r\nRCPT TO:<%s>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n"
                   % (DOMAIN.encode(), ALICE.encode()))
            # Everything up to the one real CRLF.CRLF is message text: one reply for the whole
            # transaction (the bare CR/LF rule refuses it), none for the fake commands.
            code, text = s.reply()
            assert code == 550 and text.startswith("5.6.0"), (end, code, text)
            assert s.cmd("NOOP") == (250, "2.0.0 Ok"), end
    assert mailbox_count(daemon) == 0
    assert "Subject: smuggled" not in daemon.log()
    assert len(re.findall(r"message id=\S+ peer=127\.0\.0\.1 from=<sender@remote\.test>", daemon.log())) == len(SMUGGLE_ENDS)
    assert "from=<admin@" not in daemon.log()


def test_daemon_keeps_serving_after_garbage(daemon):
    rng = random.Random(4)
    with greeted(daemon) as bad:
        bad.send(bytes(rng.getrandbits(8) for _ in range(200000)))
        assert bad.closed_by_peer(timeout=30)  # the error budget runs out on all those lines
    with socket.create_connection(("127.0.0.1", daemon.ports["smtp"]), timeout=10) as raw:
        raw.sendall(os.urandom(5000))  # and one that just drops the connection afterwards
    with smtplib.SMTP("127.0.0.1", daemon.ports["smtp"], timeout=30) as client:
        assert client.sendmail("sender@remote.test", [ALICE], message("after-garbage")) == {}
    assert mailbox_count(daemon) == 1


def test_one_log_line_per_transaction(daemon):
    with smtplib.SMTP("127.0.0.1", daemon.ports["smtp"], timeout=30) as client:
        client.sendmail("sender@remote.test", [ALICE], message("logged"))
        client.mail("other@remote.test")
        client.rcpt(ALICE)
        client.rset()
    log = daemon.log()
    accepted = re.findall(r"session=(\S+) message id=(\S+) peer=127\.0\.0\.1 from=<sender@remote\.test> "
                          r"to=alice@example\.test size=(\d+) result=\"250 2\.0\.0 Ok: queued as (\S+)\"", log)
    assert len(accepted) == 1, log
    session, transaction, size, stored_id = accepted[0]
    assert transaction.startswith(session + ".")
    assert int(size) == len(message("logged"))
    aborted = re.findall(r"session=%s message id=\S+ peer=127\.0\.0\.1 from=<other@remote\.test> "
                         r"to=alice@example\.test size=0 result=\"aborted: rset\"" % re.escape(session), log)
    assert len(aborted) == 1, log
    # Exactly one line per transaction: two transactions, two lines.
    assert len(re.findall(r"session=%s message id=" % re.escape(session), log)) == 2


def test_pop3_login_unaffected_by_an_smtp_flood_of_bad_commands(daemon):
    # A client spending its error budget does not disturb another protocol's session.
    with greeted(daemon) as s:
        s.send(b"BOGUS\r\n" * 30)
        client = poplib.POP3("127.0.0.1", daemon.ports["pop3"], timeout=30)
        client.user(ALICE)
        client.pass_("correct horse battery staple")
        assert client.stat() == (0, 0)
        client.quit()
        assert s.closed_by_peer()


def test_bdat_with_bare_lf_or_nul_is_refused_too(daemon):
    # BDAT cannot be smuggled through, but the stored message could later be relayed with DATA.
    with greeted(daemon) as s:
        assert s.cmd("EHLO rules.remote.test")[0] == 250
        for name, body in BAD_BODIES.items():
            if name == "long-line":
                continue  # the line limit is a DATA rule only (docs/smtp-input-rules.md)
            assert s.cmd("MAIL FROM:<sender@remote.test>")[0] == 250
            assert s.cmd("RCPT TO:<%s>" % ALICE)[0] == 250
            s.send(b"BDAT %d LAST\r\n" % len(body) + body)
            code, text = s.reply()
            assert code == 550 and text.startswith("5.6.0"), (name, code, text)
        assert s.cmd("NOOP")[0] == 250
    no_contents_left(daemon)


def test_header_section_above_256_kib_is_refused_with_552_and_nothing_stored(daemon):
    # The header section waits in memory for the filters until the end of DATA: it is bounded.
    with greeted(daemon) as s:
        assert s.cmd("EHLO headers.remote.test")[0] == 250
        assert s.cmd("MAIL FROM:<sender@remote.test>")[0] == 250
        assert s.cmd("RCPT TO:<%s>" % ALICE)[0] == 250
        assert s.cmd("DATA")[0] == 354
        s.send(b"Subject: wide\r\n" + b"X-Filler: " + b"x" * 900 + b"\r\n" * 1 +
               (b"X-Filler: " + b"x" * 900 + b"\r\n") * 300 + b"\r\nbody\r\n.\r\n")
        code, text = s.reply()
        assert code == 552 and text.startswith("5.3.4"), (code, text)
        # The session goes on: a message whose header is below the bound is taken.
        assert s.cmd("MAIL FROM:<sender@remote.test>")[0] == 250
        assert s.cmd("RCPT TO:<%s>" % ALICE)[0] == 250
        assert s.cmd("DATA")[0] == 354
        s.send(b"Subject: narrow\r\n" + (b"X-Filler: " + b"x" * 900 + b"\r\n") * 200 +
               b"\r\nbody\r\n.\r\n")
        assert s.reply()[0] == 250
    [stored] = pop3_messages(daemon)
    assert b"Subject: narrow" in stored and b"Subject: wide" not in stored
    assert sql(daemon, "SELECT count(*) FROM contents") == "1"
