"""Retention (RFC 2449 EXPIRE) and LOGIN-DELAY against the real daemon, with periods in seconds:
retrieved mail goes when announced and not before, mail never retrieved goes at its max age,
a maildrop held by a POP3 session is left alone until the session ends, CAPA announces what
is enforced before and after login, and a second login too early gets [LOGIN-DELAY]."""

import poplib
import smtplib
import sqlite3
import time

import pytest

from conftest import DOMAIN, PASSWORD

RETRIEVED = 4  # seconds, retention.retrieved below
LOGIN_DELAY = 5  # seconds, for dave
CONFIG = "retention:\n  retrieved: %ds\n  check_every: 1s\n" % RETRIEVED


def deliver(d, rcpt, subject):
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as client:
        client.sendmail("someone@remote.test", [rcpt],
                        ("From: someone@remote.test\r\nTo: %s\r\nSubject: %s\r\n\r\nbody\r\n"
                         % (rcpt, subject)).encode())


def message_count(d, address):
    for line in d.admin("user", "list").stdout.splitlines():
        fields = line.split("\t")
        if fields[0] == address:
            return int(fields[1])
    raise AssertionError("no mailbox " + address)


def login(d, user):
    client = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=30)
    client.user(user)
    client.pass_(PASSWORD)
    return client


def capa(client):
    """The CAPA lines, each as one string (poplib's capa() splits them into words)."""
    return [" ".join([name] + args) for name, args in client.capa().items()]


def first_retrieved(d, address):
    db = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True)
    try:
        return [row[0] for row in db.execute(
            "SELECT first_retrieved_at FROM deliveries JOIN accounts ON accounts.id = account_id "
            "WHERE address = ? ORDER BY deliveries.id", (address,))]
    finally:
        db.close()


def wait_for(condition, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


@pytest.fixture
def office(make_daemon):
    d = make_daemon(start=False, extra=CONFIG)
    users = {name: d.add_user(name) for name in ("alice", "bob", "carol", "dave")}
    d.admin("retention", "set", users["bob"], "--max-age", "3s")
    d.admin("retention", "set", users["carol"], "--retrieved", "30d")
    d.admin("retention", "set", users["dave"], "--login-delay", "%ds" % LOGIN_DELAY)
    d.start()
    return d, users


def test_retrieved_mail_goes_when_announced_and_never_under_a_session(office):
    d, users = office
    alice, bob = users["alice"], users["bob"]
    deliver(d, alice, "read me")
    deliver(d, alice, "never read")
    deliver(d, bob, "old mail")

    # Bob's session holds his maildrop past his mail's max age (3 s).
    bob_session = login(d, bob)
    assert bob_session.stat()[0] == 1

    client = login(d, alice)
    assert client.stat()[0] == 2
    assert b"Subject: read me" in b"\r\n".join(client.retr(1)[1])
    client.quit()
    marks = wait_for(lambda: first_retrieved(d, alice)[0] and first_retrieved(d, alice),
                     "the first download to be recorded")
    retrieved_at = marks[0]
    assert marks[1] is None  # the other message was never downloaded
    # Not before: while its time has not come, it is still there.
    while time.time() < retrieved_at + RETRIEVED - 1:
        assert message_count(d, alice) == 2
        time.sleep(0.5)
    wait_for(lambda: message_count(d, alice) == 1, "the retrieved message to go")
    assert time.time() >= retrieved_at + RETRIEVED
    # The message never downloaded stays (no max_age for alice).
    client = login(d, alice)
    assert client.stat()[0] == 1
    assert b"Subject: never read" in b"\r\n".join(client.retr(1)[1])
    client.quit()

    # Bob's mail is long past its max age, but his session still holds it.
    d.wait_for_log(r"retention: 1 mailbox\(es\) in use")
    assert message_count(d, bob) == 1
    assert b"Subject: old mail" in b"\r\n".join(bob_session.retr(1)[1])
    bob_session.quit()
    # At the next check after the session, never downloaded but too old: it goes.
    wait_for(lambda: message_count(d, bob) == 0, "the old message to go")
    assert "retention: deleted 1 expired message(s)" in d.log()


def test_capa_announces_what_is_enforced_before_and_after_login(office):
    d, users = office
    # What the admin sees is what CAPA says.
    assert d.admin("retention", "show", users["carol"]).stdout == (
        "carol@example.test\t30d\tnever\tnone\tEXPIRE 30\n")
    assert d.admin("retention", "show", users["bob"]).stdout == (
        "bob@example.test\t4s\t3s\tnone\tEXPIRE 0\n")
    assert "carol@example.test\t30d\t-\t-" in d.admin("retention", "list").stdout.splitlines()
    # Usage errors exit 2, a well-formed command that fails exits 1 (interface.md).
    assert d.admin("retention", "set", users["carol"], check=False).returncode == 2
    assert d.admin("retention", "set", "x@other.test", "--retrieved", "1d", check=False).returncode == 1
    assert d.admin("retention", "set", users["carol"], "--max-age", "soon", check=False).returncode == 1
    client = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=30)
    before = capa(client)
    # Retrieved mail goes after 4 s: 0 whole days; carol's 30 days differ, hence USER.
    assert "EXPIRE 0 USER" in before
    assert "LOGIN-DELAY 0 USER" in before  # only dave has one
    client.user(users["carol"])
    client.pass_(PASSWORD)
    after = capa(client)
    assert "EXPIRE 30" in after
    assert not any(line.startswith("LOGIN-DELAY") for line in after)
    client.quit()
    client = login(d, users["bob"])
    assert "EXPIRE 0" in capa(client)
    client.quit()


def test_expire_never_when_nothing_is_deleted(daemon):
    client = poplib.POP3("127.0.0.1", daemon.ports["pop3"], timeout=30)
    before = capa(client)
    assert "EXPIRE NEVER" in before
    assert not any(line.startswith("LOGIN-DELAY") for line in before)
    client.user("alice@" + DOMAIN)
    client.pass_(PASSWORD)
    assert "EXPIRE NEVER" in capa(client)
    client.quit()


def test_login_delay_refuses_a_second_login_too_early_then_allows_it(office):
    d, users = office
    dave = users["dave"]
    first = time.time()
    client = login(d, dave)
    assert "LOGIN-DELAY %d" % LOGIN_DELAY in capa(client)
    client.quit()
    again = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=30)
    again.user(dave)
    with pytest.raises(poplib.error_proto) as refused:
        again.pass_(PASSWORD)
    assert refused.value.args[0].startswith(b"-ERR [LOGIN-DELAY]")
    # Another user is not held back.
    login(d, users["alice"]).quit()

    def retry():
        try:
            again.user(dave)
            again.pass_(PASSWORD)
            return time.time()
        except poplib.error_proto as e:
            assert e.args[0].startswith(b"-ERR [LOGIN-DELAY]"), e.args[0]
            time.sleep(0.5)
            return None
    # The same connection may try again: the delay is no failed login.
    allowed_at = wait_for(retry, "the login delay to pass")
    assert allowed_at - first >= LOGIN_DELAY
    again.quit()
