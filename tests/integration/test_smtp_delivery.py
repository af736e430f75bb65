"""Issue 4, delivery: SMTP in (smtplib, swaks, curl, raw BDAT), POP3 out byte-exact after the
trace headers; aliases, unknown users, VRFY, the hop limit."""

import smtplib
import subprocess

import pytest

from conftest import DOMAIN
from smtp_helpers import (ALICE, Raw, message, mailbox_count, no_contents_left, pop3_messages, sql,
                          strip_trace, trace_of)

# Lines that start with dots (stuffed on the wire, unstuffed in the store), a line that is only
# dots, trailing spaces, a tab, and 8-bit octets that are not UTF-8.
TRICKY_BODY = (b"first line\r\n"
               b".a line starting with a dot\r\n"
               b"..two dots\r\n"
               b"...\r\n"
               b". \r\n"
               b"trailing space   \r\n"
               b"\ttab\r\n"
               b"8-bit: \xe4\xf6\xfc \xc3\xa9 \xff\xfe\r\n"
               b"\r\n"
               b"last line\r\n")


def test_smtplib_8bit_body_with_dot_lines_is_fetched_byte_exact(daemon):
    sent = message("dots-8bit", TRICKY_BODY)
    with smtplib.SMTP("127.0.0.1", daemon.ports["smtp"], timeout=30) as client:
        code, ehlo = client.ehlo("client.remote.test")
        assert code == 250
        for keyword in (b"PIPELINING", b"SIZE 26214400", b"8BITMIME", b"ENHANCEDSTATUSCODES",
                        b"SMTPUTF8", b"CHUNKING"):
            assert keyword in ehlo, ehlo
        assert client.sendmail("sender@remote.test", [ALICE], sent, mail_options=["BODY=8BITMIME"]) == {}
    [stored] = pop3_messages(daemon)
    assert strip_trace(stored) == sent
    trace = trace_of(stored).decode()
    assert trace.startswith("Return-Path: <sender@remote.test>\r\nReceived: from client.remote.test ([127.0.0.1])")
    assert "by mail.%s with ESMTP id " % DOMAIN in trace
    assert "for <%s>;" % ALICE in trace


def test_swaks_delivers_byte_exact(daemon, tmp_path):
    sent = message("swaks", b"hello from swaks\r\n.dot line\r\nend\r\n")
    data = tmp_path / "swaks.eml"
    data.write_bytes(sent[:-2])  # swaks always appends CRLF "." itself
    result = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(daemon.ports["smtp"]),
                             "--helo", "swaks.remote.test", "--from", "sender@remote.test", "--to", ALICE,
                             "--data", "@%s" % data],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "<-  250 2.0.0 Ok: queued as" in result.stdout
    [stored] = pop3_messages(daemon)
    assert strip_trace(stored) == sent


def test_curl_delivers_byte_exact(daemon, tmp_path):
    sent = message("curl", b"hello from curl\r\n.dot line\r\n..\r\nend\r\n")
    data = tmp_path / "curl.eml"
    data.write_bytes(sent)
    result = subprocess.run(["curl", "-sS", "smtp://127.0.0.1:%d/curl.remote.test" % daemon.ports["smtp"],
                             "--mail-from", "sender@remote.test", "--mail-rcpt", ALICE,
                             "--upload-file", str(data)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    [stored] = pop3_messages(daemon)
    assert strip_trace(stored) == sent


def test_bdat_chunks_pipelined_over_a_raw_socket(daemon):
    # BDAT is not dot-stuffed: a "." line inside a chunk is data, and a chunk may end mid-line.
    sent = message("bdat", b".not the end\r\n.\r\n\xe4 8-bit\r\n" + (b"y" * 98 + b"\r\n") * 700 + b"end\r\n")
    parts = [sent[:100], sent[100:70100], sent[70100:]]
    assert len(parts[2]) > 0
    with Raw(daemon.ports["smtp"]) as s:
        assert s.reply()[0] == 220
        assert s.cmd("EHLO bdat.remote.test")[0] == 250
        batch = b"MAIL FROM:<sender@remote.test> BODY=8BITMIME\r\nRCPT TO:<%s>\r\n" % ALICE.encode()
        for n, part in enumerate(parts):
            last = " LAST" if n == len(parts) - 1 else ""
            batch += b"BDAT %d%s\r\n" % (len(part), last.encode()) + part
        s.send(batch)
        assert s.reply()[0] == 250  # MAIL
        assert s.reply()[0] == 250  # RCPT
        assert s.reply() == (250, "2.0.0 100 octets received")
        assert s.reply() == (250, "2.0.0 70000 octets received")
        code, text = s.reply()
        assert code == 250 and text.startswith("2.0.0 Ok: queued as"), text
        assert s.cmd("QUIT")[0] == 221
    [stored] = pop3_messages(daemon)
    assert strip_trace(stored) == sent


def test_unknown_local_user_is_refused_at_rcpt_and_domain_is_case_insensitive(daemon):
    with smtplib.SMTP("127.0.0.1", daemon.ports["smtp"], timeout=30) as client:
        client.ehlo("c.remote.test")
        assert client.mail("sender@remote.test")[0] == 250
        code, text = client.rcpt("nobody@%s" % DOMAIN)
        assert code == 550 and text.startswith(b"5.1.1"), text
        code, text = client.rcpt("nobody@EXAMPLE.TEST")
        assert code == 550 and text.startswith(b"5.1.1"), text
        assert client.rcpt("Alice@Example.TEST")[0] == 250
        code, _ = client.data(message("case"))
        assert code == 250
    assert mailbox_count(daemon) == 1


def test_alias_to_two_local_users_stores_one_copy_for_both(daemon):
    bob = daemon.add_user("bob")
    daemon.admin("alias", "add", "team@%s" % DOMAIN, ALICE, bob)
    sent = message("alias", to="team@%s" % DOMAIN)
    with smtplib.SMTP("127.0.0.1", daemon.ports["smtp"], timeout=30) as client:
        assert client.sendmail("sender@remote.test", ["team@%s" % DOMAIN], sent) == {}
    assert sql(daemon, "SELECT count(*) FROM contents") == "1"
    assert sql(daemon, "SELECT count(*) FROM deliveries") == "2"
    [for_alice] = pop3_messages(daemon, ALICE)
    [for_bob] = pop3_messages(daemon, bob)
    assert for_alice == for_bob
    assert strip_trace(for_alice) == sent
    assert "for <team@%s>" % DOMAIN in trace_of(for_alice).decode()


def test_alias_and_its_target_in_one_envelope_still_one_delivery_each(daemon):
    bob = daemon.add_user("bob")
    daemon.admin("alias", "add", "team@%s" % DOMAIN, ALICE, bob)
    with smtplib.SMTP("127.0.0.1", daemon.ports["smtp"], timeout=30) as client:
        assert client.sendmail("sender@remote.test", ["team@%s" % DOMAIN, ALICE, bob], message("dup")) == {}
    assert mailbox_count(daemon, ALICE) == 1
    assert mailbox_count(daemon, bob) == 1
    assert sql(daemon, "SELECT count(*) FROM contents") == "1"


def test_catch_all_takes_unknown_addresses_of_its_domain_but_not_postmaster_or_abuse(daemon):
    bob = daemon.add_user("bob")
    out = daemon.admin("alias", "add", "@%s" % DOMAIN.upper(), bob)
    assert "@%s" % DOMAIN in out.stdout, out
    with smtplib.SMTP("127.0.0.1", daemon.ports["smtp"], timeout=30) as client:
        client.ehlo("c.remote.test")
        client.mail("sender@remote.test")
        assert client.rcpt("typo@%s" % DOMAIN)[0] == 250
        assert client.rcpt(ALICE)[0] == 250  # a mailbox still gets its own mail
        assert client.rcpt("abuse@%s" % DOMAIN)[0] == 550  # role addresses are never caught
        assert client.data(message("caught"))[0] == 250
    assert mailbox_count(daemon, bob) == 1
    assert mailbox_count(daemon, ALICE) == 1
    assert "@%s\t%s" % (DOMAIN, bob) in daemon.admin("alias", "list").stdout
    bad = daemon.admin("alias", "add", "@nowhere.test", bob, check=False)
    assert bad.returncode != 0 and "not one of the configured domains" in bad.stderr


def test_vrfy_never_enumerates(daemon):
    with smtplib.SMTP("127.0.0.1", daemon.ports["smtp"], timeout=30) as client:
        client.ehlo("c.remote.test")
        known = client.verify(ALICE)
        unknown = client.verify("nobody@%s" % DOMAIN)
        assert known[0] == 252 and unknown[0] == 252
        assert known == unknown


def hops(n):
    return b"".join(b"Received: from hop%d.remote.test by hop%d.remote.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
                    % (i, i + 1) for i in range(n))


def test_51_received_headers_is_a_mail_loop(daemon):
    looping = hops(51) + message("loop")
    with smtplib.SMTP("127.0.0.1", daemon.ports["smtp"], timeout=30) as client:
        client.ehlo("c.remote.test")
        client.mail("sender@remote.test")
        assert client.rcpt(ALICE)[0] == 250
        code, text = client.data(looping)
        assert code == 554 and text.startswith(b"5.4.6"), text
        # The session goes on: the next message (49 hops, ours makes 50) is accepted.
        client.rset()
        assert client.sendmail("sender@remote.test", [ALICE], hops(49) + message("not-a-loop")) == {}
    [stored] = pop3_messages(daemon)
    assert b"Subject: not-a-loop" in stored


def test_refused_loop_stores_nothing(daemon):
    with smtplib.SMTP("127.0.0.1", daemon.ports["smtp"], timeout=30) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("sender@remote.test", [ALICE], hops(60) + message("loop", b"x" * 300000 + b"\r\n"))
        assert refused.value.smtp_code == 554
    no_contents_left(daemon)
    assert mailbox_count(daemon) == 0
