"""Greylisting at RCPT with the real daemon: first try 451 4.7.1, a retry after the window is
accepted and delivered, the triplet is remembered across a restart, the sender domain that
passed is allow-listed, and trusted networks and allow-listed senders are never delayed."""

import smtplib
import time

import pytest

from smtp_helpers import ALICE, mailbox_count

WINDOW = 2  # seconds: a tiny window so the test can wait it out


def greylist_daemon(make_daemon, trusted=(), window=WINDOW):
    d = make_daemon(start=False, trusted=trusted,
                    extra="greylisting:\n  enabled: true\n  window: %ds\n" % window)
    d.add_user("alice")
    return d


def attempt(d, sender, rcpt=ALICE):
    """One delivery attempt: the RCPT reply (code, text); on 250 the message is sent too."""
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as c:
        c.ehlo("sender.remote.test")
        c.mail(sender)
        code, text = c.rcpt(rcpt)
        if code == 250:
            c.data("From: %s\r\nSubject: grey\r\n\r\nbody\r\n" % sender)
        return code, text.decode()


def test_first_try_451_retry_after_the_window_is_accepted(make_daemon):
    d = greylist_daemon(make_daemon).start()
    code, text = attempt(d, "first@remote.test")
    assert code == 451 and text.startswith("4.7.1"), (code, text)
    assert mailbox_count(d) == 0
    time.sleep(WINDOW + 0.5)
    assert attempt(d, "first@remote.test")[0] == 250
    assert mailbox_count(d) == 1
    # The sender domain passed from this network: another sender there is not delayed.
    assert attempt(d, "second@remote.test")[0] == 250
    # Another domain still is.
    assert attempt(d, "someone@other.test")[0] == 451
    assert "result=defer" in d.log() and "result=pass" in d.log()


def test_triplet_remembered_across_restart(make_daemon):
    d = greylist_daemon(make_daemon, window=WINDOW).start()
    assert attempt(d, "restart@remote.test")[0] == 451
    d.restart()
    time.sleep(WINDOW + 0.5)
    # Had the restart forgotten the first try, this would be a first try again (451).
    assert attempt(d, "restart@remote.test")[0] == 250
    assert mailbox_count(d) == 1


def test_trusted_networks_and_allow_listed_senders_are_never_greylisted(make_daemon):
    trusted = greylist_daemon(make_daemon, trusted=("127.0.0.1/32",)).start()
    assert attempt(trusted, "office@remote.test")[0] == 250
    d = greylist_daemon(make_daemon)
    d.admin("allow", "add", "partner.test")
    d.start()
    assert attempt(d, "orders@partner.test")[0] == 250
    assert attempt(d, "orders@stranger.test")[0] == 451


def test_greylisting_is_off_by_default(make_daemon):
    d = make_daemon(start=False, trusted=())
    d.add_user("alice")
    d.start()
    assert attempt(d, "any@remote.test")[0] == 250
