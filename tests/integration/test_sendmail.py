"""The sendmail command, run from a shell as cron and scripts run it: `sendmail -t` and
`sendmail -f SENDER RCPT` deliver locally (read back by POP3) and relay out (to an aiosmtpd
smarthost on loopback) with the right envelope, Bcc removed; bad addresses, unknown users and
a stopped daemon exit with sysexits codes."""

import getpass
import os
import poplib
import shlex
import subprocess
from pathlib import Path

import pytest

from conftest import DOMAIN, PASSWORD, POSTROOM, free_port
from peers.smtp_peer import Peer

ALICE = "alice@" + DOMAIN
BOB = "bob@" + DOMAIN
REMOTE = "dave@remote.test"
# sysexits.h
EX_USAGE, EX_DATAERR, EX_NOUSER, EX_TEMPFAIL = 64, 65, 67, 75
SENDMAIL = str(Path(POSTROOM).parent / "sendmail")  # the link CMake makes beside postroom


def smarthost(port):
    return ("relay:\n  mode: smarthost\n  smarthost:\n    host: 127.0.0.1\n    port: %d\n"
            "    tls: none\n  retry_schedule: [1h]\n") % port


def sendmail(d, args, message, program=SENDMAIL):
    """Runs `program ARGS < message` through /bin/sh, as cron does, with the config in the
    environment; returns the finished process."""
    env = dict(os.environ, POSTROOM_CONFIG=str(d.config))
    command = "%s %s" % (shlex.quote(program), " ".join(shlex.quote(a) for a in args))
    return subprocess.run(["/bin/sh", "-c", command], input=message, capture_output=True,
                          env=env, timeout=60)


def pop3_messages(d, user):
    client = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=30)
    try:
        client.user(user)
        client.pass_(PASSWORD)
        count, _ = client.stat()
        return [b"\r\n".join(client.retr(i + 1)[1]) for i in range(count)]
    finally:
        client.quit()


def header(message, name):
    head = message.split(b"\r\n\r\n", 1)[0]
    return [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
            if line.lower().startswith(name.lower().encode() + b":")]


@pytest.fixture
def daemon_with_peer(make_daemon):
    peer = Peer().start()
    d = make_daemon(start=False, extra=smarthost(peer.port))
    d.add_user("alice")
    d.add_user("bob")
    d.start()
    yield d, peer
    peer.stop()


def test_sendmail_t_delivers_locally_and_out_with_bcc_removed(daemon_with_peer):
    d, peer = daemon_with_peer
    message = ("To: Alice <%s>\nCc: %s\nBcc: Bob <%s>\nSubject: nightly backup\n\n"
               "backup done\n.\nthis line follows a lone dot\n" % (ALICE, REMOTE, BOB)).encode()
    result = sendmail(d, ["-t", "-i", "-f", "backup@" + DOMAIN, "-F", "Backup Job"], message)
    assert result.returncode == 0, result.stderr
    for user in (ALICE, BOB):
        messages = pop3_messages(d, user)
        assert len(messages) == 1, user
        m = messages[0]
        assert header(m, "Return-Path") == [b"<backup@" + DOMAIN.encode() + b">"]
        assert header(m, "Bcc") == []
        assert header(m, "Subject") == [b"nightly backup"]
        # -i: the lone dot is a line of the message, and what follows it arrives too.
        assert m.endswith(b"backup done\r\n.\r\nthis line follows a lone dot")
        # From, Date and Message-ID were missing: sendmail adds them, and says who ran it.
        assert header(m, "From") == [b'"Backup Job" <backup@' + DOMAIN.encode() + b">"]
        assert len(header(m, "Date")) == 1 and len(header(m, "Message-ID")) == 1
        assert b"(postroom sendmail, from userid %d)" % os.getuid() in m
    # The Cc recipient leaves through the smarthost with the same envelope sender, alone.
    received = peer.wait_for_messages(1)[0]
    assert received.mail_from == "backup@" + DOMAIN
    assert received.rcpt_tos == [REMOTE]
    assert b"\nBcc:" not in received.content and b"bob@" not in received.content.lower()


def test_sendmail_f_with_recipients_as_arguments(daemon_with_peer):
    d, peer = daemon_with_peer
    message = b"Subject: from cron\n\nline one\n..starts with two dots\n.\nafter the dot\n"
    # `postroom sendmail`, the subcommand, with a comma list and a bare name: "alice" is
    # alice@ the first domain.
    result = sendmail(d, ["sendmail", "-f", ALICE, "alice, %s" % REMOTE], message, program=POSTROOM)
    assert result.returncode == 0, result.stderr
    [m] = pop3_messages(d, ALICE)
    assert header(m, "Return-Path") == [b"<" + ALICE.encode() + b">"]
    # Without -i a lone dot ends the message; dot-stuffing keeps the line with two dots.
    assert m.endswith(b"line one\r\n..starts with two dots")
    assert b"after the dot" not in m
    received = peer.wait_for_messages(1)[0]
    assert (received.mail_from, received.rcpt_tos) == (ALICE, [REMOTE])
    assert b"..starts with two dots" in received.content


def test_sendmail_default_sender_is_the_invoking_user(daemon_with_peer):
    d, _ = daemon_with_peer
    result = sendmail(d, [BOB], b"Subject: no sender given\n\nhi\n")
    assert result.returncode == 0, result.stderr
    [m] = pop3_messages(d, BOB)
    expected = ("<%s@%s>" % (getpass.getuser(), DOMAIN)).encode()
    assert header(m, "Return-Path") == [expected]
    assert header(m, "From") == [expected[1:-1]]


def test_sendmail_bad_addresses_and_usage_exit_with_sysexits_codes(daemon_with_peer):
    d, peer = daemon_with_peer
    body = b"Subject: x\n\nx\n"
    cases = [
        (["not an address@@x"], EX_DATAERR),                  # malformed recipient
        (["-f", "bad@@sender", ALICE], EX_DATAERR),           # malformed sender
        (["nobody@" + DOMAIN], EX_NOUSER),                    # no such local user
        (["-t"], EX_USAGE),                                   # -t, but no To/Cc/Bcc
        ([], EX_USAGE),                                       # no recipient at all
        (["-Q", ALICE], EX_USAGE),                            # unknown option
        (["-bs"], EX_USAGE),                                  # SMTP on stdin: not offered
    ]
    for args, code in cases:
        result = sendmail(d, args, body)
        assert result.returncode == code, (args, result.returncode, result.stderr)
        assert result.stderr.startswith(b"sendmail: "), result.stderr
    # All or nothing: one unknown recipient among good ones sends to nobody.
    result = sendmail(d, [ALICE, "nobody@" + DOMAIN, REMOTE], body)
    assert result.returncode == EX_NOUSER
    assert b"nobody@" + DOMAIN.encode() in result.stderr
    assert pop3_messages(d, ALICE) == []
    assert d.admin("queue", "list").stdout == ""
    assert peer.messages == []


def test_sendmail_with_the_daemon_stopped_is_a_temporary_failure(make_daemon):
    d = make_daemon(start=False, listen={"smtp": ["127.0.0.1:%d" % free_port()]})
    d.add_user("alice")
    d.start()
    d.stop()
    result = sendmail(d, [ALICE], b"Subject: x\n\nx\n")
    assert result.returncode == EX_TEMPFAIL, result.stderr
    assert b"cannot connect to postroomd" in result.stderr
    d.start()
