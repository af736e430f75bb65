"""Allow and block lists (`postroom allow|block`) with the real daemon: blocked senders are
refused with 550 5.7.1 and nothing is stored, per-user rules apply to that user only, and the
admin command's changes reach a running daemon."""

import smtplib
import time

import pytest

from smtp_helpers import ALICE, mailbox_count

BOB = "bob@example.test"


@pytest.fixture
def open_daemon(make_daemon):
    """Port 25 from a client outside trusted_networks, alice and bob with mailboxes."""
    d = make_daemon(start=False, trusted=())
    d.add_user("alice")
    d.add_user("bob")
    return d


def send(d, sender, rcpts):
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as c:
        c.sendmail(sender, rcpts, "From: %s\r\nSubject: t\r\n\r\nbody\r\n" % sender)


def refused_code(d, sender, rcpts):
    with pytest.raises(smtplib.SMTPDataError) as caught:
        send(d, sender, rcpts)
    return caught.value.smtp_code, caught.value.smtp_error.decode()


def test_blocked_sender_address_and_domain_are_refused_others_delivered(open_daemon):
    d = open_daemon
    d.admin("block", "add", "spammer@remote.test")
    d.admin("block", "add", "junk.test")
    d.start()
    code, text = refused_code(d, "spammer@remote.test", [ALICE])
    assert code == 550 and text.startswith("5.7.1")
    assert refused_code(d, "x@mail.junk.test", [ALICE])[0] == 550  # subdomains too
    send(d, "friend@remote.test", [ALICE])
    assert mailbox_count(d) == 1
    assert "access=block" in d.log()


def test_a_users_own_block_applies_to_that_user_only(open_daemon):
    d = open_daemon
    d.admin("block", "add", "news.test", ALICE)
    d.start()
    assert refused_code(d, "letter@news.test", [ALICE])[0] == 550
    send(d, "letter@news.test", [BOB])
    assert mailbox_count(d, BOB) == 1
    # Mixed: bob still wants it, so it is delivered (to both: recipients were accepted).
    send(d, "letter@news.test", [ALICE, BOB])
    assert mailbox_count(d, BOB) == 2


def test_a_users_allow_beats_everyones_block(open_daemon):
    d = open_daemon
    d.admin("block", "add", "remote.test")
    d.admin("allow", "add", "boss@remote.test", ALICE)
    d.start()
    send(d, "boss@remote.test", [ALICE])
    assert mailbox_count(d) == 1
    assert refused_code(d, "boss@remote.test", [BOB])[0] == 550


def test_rules_added_while_the_daemon_runs_apply(open_daemon):
    d = open_daemon
    d.start()
    send(d, "late@remote.test", [ALICE])
    d.admin("block", "add", "late@remote.test")
    # The daemon rereads the lists every 2 s: poll for the refusal rather than sleep blindly.
    deadline = time.time() + 15
    while True:
        try:
            send(d, "late@remote.test", [ALICE])
        except smtplib.SMTPDataError as e:
            assert e.smtp_code == 550
            break
        assert time.time() < deadline, "the new block rule never applied"
        time.sleep(0.5)
    d.admin("block", "del", "late@remote.test")
    assert "late@remote.test" not in d.admin("block", "list").stdout


def test_list_output_and_usage_errors(open_daemon):
    d = open_daemon
    d.admin("allow", "add", "192.0.2.0/24")
    d.admin("block", "add", "bad.test", "example.test")
    assert d.admin("allow", "list").stdout == "network\t192.0.2.0/24\t*\n"
    assert d.admin("block", "list").stdout == "domain\tbad.test\texample.test\n"
    assert d.admin("block", "add", "bad.test", "example.test", check=False).returncode == 1
    assert d.admin("block", "add", "bad.test", "elsewhere.test", check=False).returncode == 1
    assert d.admin("block", "add", check=False).returncode == 2
