"""Outbound limits: a user over the hourly limit gets 451 4.7.0 while others send on, the
postmaster gets exactly one notice, and the counts survive a restart."""

import poplib
import smtplib

import pytest

from conftest import DOMAIN, PASSWORD
from test_relay import peers, smarthost_config, wait_until  # noqa: F401 (fixture)

BOB = "bob@remote.test"
MESSAGE = b"From: someone@example.test\r\nTo: bob@remote.test\r\nSubject: limits\r\n\r\nhello\r\n"


def send_as(d, user):
    """Sends one message to BOB, logged in as `user` (None: from trusted_networks, no AUTH)."""
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as client:
        if user:
            client.login(user, PASSWORD)
        client.sendmail(user or "office@" + DOMAIN, [BOB], MESSAGE)


def mailbox(d, user):
    client = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=30)
    try:
        client.user(user)
        client.pass_(PASSWORD)
        count, _ = client.stat()
        return [b"\r\n".join(client.retr(i + 1)[1]) for i in range(count)]
    finally:
        client.quit()


def test_user_over_the_hourly_limit_gets_451_and_the_postmaster_one_notice(make_daemon, peers):  # noqa: F811
    peer = peers().start()
    extra = smarthost_config(peer.port) + "limits:\n  outbound_messages_per_hour: 3\n"
    d = make_daemon(start=False, extra=extra)
    alice = d.add_user("alice")
    carol = d.add_user("carol")
    postmaster = d.add_user("postmaster")
    d.start()
    for _ in range(3):
        send_as(d, alice)
    for _ in range(2):
        with pytest.raises(smtplib.SMTPDataError) as refused:
            send_as(d, alice)
        assert refused.value.smtp_code == 451
        assert refused.value.smtp_error.startswith(b"4.7.0 Outbound limit reached: 3 messages per hour")
    # Others are not affected: another user, and the office relaying without a login.
    send_as(d, carol)
    send_as(d, None)
    peer.wait_for_messages(5)
    assert sorted(m.mail_from for m in peer.messages).count(alice) == 3
    notices = wait_until(lambda: mailbox(d, postmaster), what="the postmaster's notice")
    assert len(notices) == 1
    assert b"Subject: Outbound limit reached by alice@example.test" in notices[0]
    assert b"3 messages per hour" in notices[0]
    assert d.log().count("outbound limit: alice@example.test reached 3 messages per hour") == 2

    # The counts (and the notice already sent) survive a restart.
    d.restart()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send_as(d, alice)
    assert refused.value.smtp_code == 451
    send_as(d, carol)
    peer.wait_for_messages(6)
    assert len(mailbox(d, postmaster)) == 1
