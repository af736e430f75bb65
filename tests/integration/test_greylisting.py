"""Greylisting at RCPT with the real daemon: first try 451 4.7.1, a retry after the window is
accepted and delivered, the triplet is remembered across a restart, the sender domain that
passed is allow-listed, trusted networks are never delayed, and an allow-listed sender only
when SPF or a DKIM signature of its domain proves it (DNS from dnsmasq, dkimpy signing)."""

import base64
import re
import smtplib
import sqlite3
import subprocess
import threading
import time

import dkim
import pytest

from conftest import free_port
from peers.smtp_peer import Dnsmasq
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


def test_a_greylist_check_the_store_cannot_make_lets_the_mail_through(make_daemon):
    """Another process holds the database's write lock past the writer's busy timeout while
    a stranger's RCPT is checked: greylisting is a spam measure, not a promise, so the
    recipient is accepted (and logged), and the message is stored once the lock is gone."""
    d = greylist_daemon(make_daemon).start()
    locked = threading.Event()

    def hold_lock():
        other = sqlite3.connect(str(d.db), timeout=30, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(11.5)  # the daemon's writer waits at most 10 s for the lock
        other.execute("ROLLBACK")
        other.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        code, text = attempt(d, "stranger@remote.test")
    finally:
        holder.join()
    assert code == 250, (code, text)
    assert re.search(r"greylisting: cannot check 127\.0\.0\.0/24: .*; letting it through", d.log()), d.log()
    assert mailbox_count(d) == 1


def test_triplet_remembered_across_restart(make_daemon):
    d = greylist_daemon(make_daemon, window=WINDOW).start()
    assert attempt(d, "restart@remote.test")[0] == 451
    d.restart()
    time.sleep(WINDOW + 0.5)
    # Had the restart forgotten the first try, this would be a first try again (451).
    assert attempt(d, "restart@remote.test")[0] == 250
    assert mailbox_count(d) == 1


def test_trusted_networks_are_never_greylisted(make_daemon):
    trusted = greylist_daemon(make_daemon, trusted=("127.0.0.1/32",)).start()
    assert attempt(trusted, "office@remote.test")[0] == 250


@pytest.fixture
def allow_world(tmp_path, make_daemon):
    """An allow-listed partner domain, with DNS: spf.partner.test's SPF allows the client,
    dkim.partner.test publishes a DKIM key and an SPF that does not, and nothing.partner.test
    proves nothing."""
    pem = subprocess.run(["openssl", "genrsa", "2048"], capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "rsa", "-pubout", "-outform", "DER"], input=pem,
                         capture_output=True, check=True).stdout
    key = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    records = [
        "--local=/test/",
        "--txt-record=spf.partner.test,v=spf1 ip4:127.0.0.0/8 -all",
        "--txt-record=dkim.partner.test,v=spf1 -all",
        "--txt-record=sel._domainkey.dkim.partner.test," + key[:255] + "," + key[255:],
        "--txt-record=nothing.partner.test,v=spf1 -all",
        "--txt-record=sel._domainkey.other.test," + key[:255] + "," + key[255:],
    ]
    dns = Dnsmasq(free_port(), records).start(tmp_path)
    d = make_daemon(start=False, trusted=(),
                    extra="greylisting:\n  enabled: true\n  window: %ds\n"
                          "relay:\n  dns_servers: [\"127.0.0.1:%d\"]\n" % (WINDOW, dns.port))
    d.add_user("alice")
    d.admin("allow", "add", "partner.test")
    d.start()
    yield d, pem
    dns.stop()


def send_whole(d, sender, data):
    """RCPT must pass (the sender is allow-listed); returns the reply to the data."""
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as c:
        c.ehlo("sender.remote.test")
        c.mail(sender)
        assert c.rcpt(ALICE)[0] == 250
        code, text = c.data(data)
        return code, text.decode()


def body(sender, subject):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nhello\r\n" % (sender, ALICE, subject)).encode()


def test_allow_listed_senders_skip_greylisting_only_when_spf_or_dkim_proves_them(allow_world):
    d, pem = allow_world
    # SPF passes for the allow-listed sender's domain: no delay.
    assert send_whole(d, "orders@spf.partner.test", body("orders@spf.partner.test", "a"))[0] == 250
    assert mailbox_count(d) == 1
    # SPF fails, but a DKIM signature of the sender's own domain verifies: no delay.
    data = body("orders@dkim.partner.test", "b")
    signed = dkim.sign(data, b"sel", b"dkim.partner.test", pem) + data
    assert send_whole(d, "orders@dkim.partner.test", signed)[0] == 250
    assert mailbox_count(d) == 2
    # A good signature by another organization does not vouch for this sender.
    data = body("orders@nothing.partner.test", "c")
    code, text = send_whole(d, "orders@nothing.partner.test",
                            dkim.sign(data, b"sel", b"other.test", pem) + data)
    # Anyone can write an allow-listed address: unproven, it is greylisted (after DATA).
    assert code == 451 and text.startswith("4.7.1"), (code, text)
    assert mailbox_count(d) == 2
    assert re.search(r"dkim=pass .*greylist=aligned", d.log())
    assert re.search(r"dkim=pass .*greylist=defer", d.log())  # verified, but not its own
    time.sleep(WINDOW + 0.5)
    assert send_whole(d, "orders@nothing.partner.test", body("orders@nothing.partner.test", "d"))[0] == 250
    assert mailbox_count(d) == 3
    # Strangers are still greylisted at RCPT.
    assert attempt(d, "orders@stranger.test")[0] == 451


def test_greylisting_is_off_by_default(make_daemon):
    d = make_daemon(start=False, trusted=())
    d.add_user("alice")
    d.start()
    assert attempt(d, "any@remote.test")[0] == 250
