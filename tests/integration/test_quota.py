"""Quotas end to end: a full mailbox gets 452 4.2.2 at RCPT (from outside and from a logged-in
user on submission), delivery resumes once POP3 DELE+QUIT made room, a declared SIZE= that
cannot fit is refused, a domain's limit holds for its mailboxes together, the 80% and 95%
warnings arrive once, and `postroom user list` and `postroom status` show usage and limits."""

import json
import poplib
import smtplib

import pytest

from conftest import DOMAIN, PASSWORD
from test_relay import wait_until
from test_tls import HOST, client_context

ALICE = "alice@" + DOMAIN
BOB = "bob@" + DOMAIN
NO_WARNINGS = "quota:\n  warnings: false\n"


def filler(octets, char=b"x"):
    """About `octets` octets of body in 100-octet lines (SMTP allows at most 998 a line)."""
    return (char * 98 + b"\r\n") * (octets // 100)


def message(n, subject="quota test", body=b"hello\r\n"):
    return b"From: sender@remote.test\r\nSubject: %s %d\r\n\r\n" % (subject.encode(), n) + body


def send(d, recipients, n=0, body=b"hello\r\n"):
    """Sends one message from outside (port 25, no login); returns smtplib's refused dict."""
    with smtplib.SMTP(HOST, d.ports["smtp"], timeout=30) as client:
        return client.sendmail("sender@remote.test", recipients, message(n, body=body))


def refused_reply(d, recipient, body=b"hello\r\n"):
    """The (code, text) RCPT got for `recipient`, which must be refused (alone)."""
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(d, [recipient], body=body)
    return refused.value.recipients[recipient]


def pop3_login(d, user):
    client = poplib.POP3(HOST, d.ports["pop3"], timeout=30)
    client.user(user)
    client.pass_(PASSWORD)
    return client


def subjects(d, user):
    client = pop3_login(d, user)
    try:
        out = []
        for n in range(1, client.stat()[0] + 1):
            headers = client.top(n, 0)[1]
            out.append(next((h for h in headers if h.startswith(b"Subject: ")), b"")[9:].decode())
        return out
    finally:
        client.quit()


def user_line(d, address):
    for line in d.admin("user", "list").stdout.splitlines():
        if line.startswith(address + "\t"):
            return line.split("\t")
    raise AssertionError("%s not in user list" % address)


def test_full_mailbox_gets_452_until_pop3_deletes_then_delivery_resumes(make_daemon, certificate):
    listen = {"smtp": ["127.0.0.1:0"], "submission": ["127.0.0.1:0"], "pop3": ["127.0.0.1:0"]}
    d = make_daemon(start=False, listen=listen, tls=certificate, extra=NO_WARNINGS)
    d.add_user("alice")
    d.add_user("bob")
    shown = d.admin("user", "quota", ALICE, "--messages", "3").stdout
    assert "messages 3 (set)" in shown and "bytes none" in shown
    d.start()

    for n in range(3):
        assert send(d, [ALICE], n) == {}
    code, text = refused_reply(d, ALICE)
    assert code == 452
    assert text == b"4.2.2 <alice@example.test>: Mailbox is full, try again later"
    # One full mailbox does not hold up the others in the same transaction.
    assert send(d, [ALICE, BOB], 10) == {ALICE: (452, b"4.2.2 <alice@example.test>: Mailbox is full, try again later")}
    assert subjects(d, BOB) == ["quota test 10"]
    line = user_line(d, ALICE)  # ADDRESS MESSAGES BYTES MAX-MESSAGES MAX-BYTES
    assert line[1] == "3" and int(line[2]) > 0 and line[3:] == ["3", "-"]
    assert user_line(d, BOB)[3:] == ["-", "-"]
    # `postroom status` names the full mailbox and counts the limited ones.
    status = json.loads(d.admin("status", "--json").stdout)["quota"]
    assert status["limited_mailboxes"] == 1
    assert status["nearly_full"] == [
        {"address": ALICE, "percent": 100, "messages": 3, "bytes": int(line[2])}]
    assert "alice@example.test 100% full (3 messages" in d.admin("status").stdout

    # A logged-in user on submission is told the same.
    with smtplib.SMTP(HOST, d.ports["submission"], timeout=30) as client:
        client.starttls(context=client_context(certificate[0]))
        client.login(BOB, PASSWORD)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail(BOB, [ALICE], message(20))
        code, text = refused.value.recipients[ALICE]
        assert code == 452 and b"Mailbox is full" in text

    # DELE without UPDATE frees nothing; DELE then QUIT does, and mail flows again.
    client = pop3_login(d, ALICE)
    client.dele(1)
    client.rset()
    client.quit()
    assert refused_reply(d, ALICE)[0] == 452
    client = pop3_login(d, ALICE)
    client.dele(1)
    client.quit()
    assert user_line(d, ALICE)[1] == "2"
    assert send(d, [ALICE], 30) == {}
    assert subjects(d, ALICE) == ["quota test 1", "quota test 2", "quota test 30"]
    assert refused_reply(d, ALICE)[0] == 452

    # none clears the setting: no limit again (the config sets no default).
    assert "messages none" in d.admin("user", "quota", ALICE, "--messages", "none").stdout
    assert send(d, [ALICE], 40) == {}
    assert d.log().count("quota: alice@example.test refused with 452 4.2.2") == 5
    # The usage counters agree with the mailboxes' contents.
    assert d.admin("verify").returncode == 0


def test_declared_size_that_cannot_fit_is_refused_at_rcpt(make_daemon):
    d = make_daemon(start=False, extra=NO_WARNINGS)
    d.add_user("alice")
    d.admin("user", "quota", ALICE, "--bytes", "4K")
    d.start()
    # smtplib declares SIZE= whenever the server offers it.
    assert send(d, [ALICE], 1, body=filler(2000)) == {}
    code, text = refused_reply(d, ALICE, body=filler(2500, b"y"))
    assert code == 452 and text.startswith(b"4.2.2 ")
    code, text = refused_reply(d, ALICE, body=filler(5000, b"z"))
    assert (code, text) == (552, b"5.2.2 <alice@example.test>: Message is larger than the mailbox's whole quota")
    # What fits still arrives.
    assert send(d, [ALICE], 2, body=filler(1000, b"w")) == {}
    assert subjects(d, ALICE) == ["quota test 1", "quota test 2"]


def test_domain_limit_holds_for_its_mailboxes_together(make_daemon):
    # The config's default per mailbox applies too; `unlimited` lifts it for one mailbox.
    d = make_daemon(start=False, extra=NO_WARNINGS + "  user_messages: 2\n")
    d.add_user("alice")
    d.add_user("bob")
    d.add_user("carol")
    d.admin("domain", "quota", DOMAIN, "--messages", "5")
    d.admin("user", "quota", "carol@" + DOMAIN, "--messages", "unlimited")
    d.start()
    assert send(d, [ALICE, BOB], 1) == {}
    assert send(d, [ALICE], 2) == {}
    code, text = refused_reply(d, ALICE)  # alice's own default limit of 2
    assert code == 452 and text == b"4.2.2 <alice@example.test>: Mailbox is full, try again later"
    assert send(d, ["carol@" + DOMAIN], 3) == {}
    assert send(d, ["carol@" + DOMAIN], 4) == {}
    # 5 messages in the domain: bob has room of his own, but the domain is full.
    code, text = refused_reply(d, BOB)
    assert code == 452
    assert text == b"4.2.2 <bob@example.test>: Mailbox is full (its domain's quota is used up), try again later"
    assert d.admin("domain", "list").stdout == "%s\t5\t%s\t5\t-\n" % (DOMAIN, domain_bytes(d))
    assert user_line(d, "carol@" + DOMAIN)[3] == "-"
    assert user_line(d, BOB)[3] == "2"
    # Raising the domain's limit takes effect at once, without a reload.
    d.admin("domain", "quota", DOMAIN, "--messages", "6")
    assert send(d, [BOB], 5) == {}


def domain_bytes(d):
    return str(sum(int(line.split("\t")[2]) for line in d.admin("user", "list").stdout.splitlines()))


def test_warnings_at_80_and_95_percent_arrive_once(make_daemon):
    d = make_daemon(start=False)
    d.add_user("alice")
    d.admin("user", "quota", ALICE, "--messages", "10")
    d.start()
    for n in range(1, 8):
        assert send(d, [ALICE], n) == {}
    assert d.log().count("quota: 1 warning(s) delivered") == 0
    assert send(d, [ALICE], 8) == {}  # 8 of 10: 80%
    wait_until(lambda: "Your mailbox is 80% full" in subjects(d, ALICE), what="the 80% warning")
    client = pop3_login(d, ALICE)
    headers, body = raw_message(client, 9)
    client.quit()
    assert b"From: Postmaster <postmaster@example.test>" in headers
    assert b"Subject: Your mailbox is 80% full" in headers
    assert b"Auto-Submitted: auto-generated" in headers
    assert b"messages: 8 of 10 (80%)" in body

    # Under 80% and over it again the same day: no second warning.
    client = pop3_login(d, ALICE)
    for n in (1, 2, 3):
        client.dele(n)
    client.quit()  # 6 messages left, the warning among them
    assert send(d, [ALICE], 9) == {}
    assert send(d, [ALICE], 10) == {}  # 8 again
    # The writer runs jobs in order: once this message is visible, any warning due after the
    # one before it would be too.
    assert send(d, [ALICE], 11) == {}  # 9: 90%
    assert subjects(d, ALICE).count("Your mailbox is 80% full") == 1

    assert send(d, [ALICE], 12) == {}  # 10: 95% and full
    wait_until(lambda: "Your mailbox is 95% full" in subjects(d, ALICE), what="the 95% warning")
    assert refused_reply(d, ALICE)[0] == 452
    all_subjects = subjects(d, ALICE)
    assert all_subjects.count("Your mailbox is 80% full") == 1
    assert all_subjects.count("Your mailbox is 95% full") == 1
    assert d.log().count("quota: 1 warning(s) delivered") == 2


def raw_message(client, n):
    lines = client.retr(n)[1]
    text = b"\r\n".join(lines)
    headers, _, body = text.partition(b"\r\n\r\n")
    return headers, body
