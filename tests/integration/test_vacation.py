"""Away replies (RFC 3834) with the real daemon: `postroom vacation` sets them, and a reply
leaves through the outbound queue to a real SMTP peer (aiosmtpd as the smarthost), from the
null sender, once per sender per period, never to lists, bulk, automatic or system mail,
only when the user is in To or Cc, and only between from and until."""

import datetime
import email
import email.policy
import poplib
import smtplib

import pytest

from conftest import DOMAIN, PASSWORD
from test_relay import peers, smarthost_config, wait_until  # noqa: F401 (fixture)

ALICE = "alice@" + DOMAIN
ALIAS = "a.smith@" + DOMAIN
BOB = "bob@" + DOMAIN
TEXT = "Ich bin bis Montag nicht im Büro.\nIn urgent cases call Bob.\n"


def message(sender, to=ALICE, subject="Lunch?", msgid=None, extra=""):
    msgid = msgid or "<%s.%s@remote.test>" % (subject.replace(" ", "-").replace("?", ""), sender.split("@")[0])
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: %s\r\n%s\r\nHello.\r\n"
            % (sender, to, subject, msgid, extra)).encode()


def send(d, sender, recipients, data):
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as c:
        assert c.sendmail(sender, recipients, data) == {}


def mailbox_count(d, user=ALICE):
    client = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=30)
    try:
        client.user(user)
        client.pass_(PASSWORD)
        return client.stat()[0]
    finally:
        client.quit()


def parsed(received):
    return email.message_from_bytes(received.content, policy=email.policy.default)


@pytest.fixture
def office(make_daemon, peers, tmp_path):  # noqa: F811
    peer = peers().start()
    d = make_daemon(start=False, extra=smarthost_config(peer.port))
    d.add_user("alice")
    d.add_user("bob")
    d.admin("alias", "add", ALIAS, ALICE)
    note = tmp_path / "away.txt"
    note.write_text(TEXT, encoding="utf-8")
    d.start()
    return d, peer, note


def set_vacation(d, note, *flags, address=ALICE):
    return d.admin("vacation", address, "--message-file", str(note), *flags)


def test_one_reply_per_sender_with_the_rfc3834_fields(office):
    d, peer, note = office
    out = set_vacation(d, note, "--subject", "Away until Monday", "--days", "7").stdout
    assert "vacation set for " + ALICE + ": active" in out
    shown = d.admin("vacation", ALICE).stdout
    assert "state: active" in shown and "subject: Away until Monday" in shown and "days: 7" in shown
    assert TEXT in shown
    assert d.admin("vacation", "list").stdout.split("\t")[:2] == [ALICE, "active"]

    carol = "carol@remote.test"
    first = message(carol, to="Alice <%s>" % ALICE, msgid="<m1@remote.test>",
                    extra="References: <m0@remote.test>\r\n")
    send(d, carol, [ALICE], first)
    reply = peer.wait_for_messages(1)[0]
    assert reply.mail_from in ("", "<>")  # RFC 3834 §3.3: the null reverse-path
    assert reply.rcpt_tos == [carol]
    m = parsed(reply)
    assert m["Auto-Submitted"] == "auto-replied"
    assert m["From"] == ALICE and m["To"] == carol
    assert m["Subject"] == "Away until Monday"
    assert m["In-Reply-To"] == "<m1@remote.test>"
    assert m["References"].split() == ["<m0@remote.test>", "<m1@remote.test>"]
    assert m["Message-ID"].endswith("@mail.%s>" % DOMAIN) and m["Message-ID"] != "<m1@remote.test>"
    sent_at = email.utils.parsedate_to_datetime(m["Date"])
    assert abs((sent_at - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) < 3600
    assert m.get_content() == TEXT.replace("\n", "\r\n") or m.get_content() == TEXT

    # The same sender again within the period: delivered, no second reply.
    send(d, carol, [ALICE], message(carol, subject="Again"))
    d.wait_for_log("vacation: %s no reply to %s: replied recently" % (ALICE, carol))
    # Another sender, through the alias in Cc: a reply from that address, "Auto:" subject
    # when the setting has none.
    set_vacation(d, note)
    dave = "dave@remote.test"
    send(d, dave, [ALIAS], message(dave, to="team@remote.test", extra="Cc: %s\r\n" % ALIAS))
    second = peer.wait_for_messages(2)[1]
    assert second.rcpt_tos == [dave]
    m2 = parsed(second)
    assert m2["From"] == ALIAS and m2["Subject"] == "Auto: Lunch?"
    assert len(peer.messages) == 2
    # Every original reached the mailbox: replies never hold up delivery.
    assert mailbox_count(d) == 3
    assert d.admin("queue", "list").stdout == ""


def test_no_reply_to_lists_bulk_automatic_system_or_unaddressed_mail(office):
    d, peer, note = office
    set_vacation(d, note, "--subject", "Away")
    cases = [
        ("list@remote.test", "List-Id: <staff.remote.test>\r\n"),
        ("unsub@remote.test", "List-Unsubscribe: <mailto:leave@remote.test>\r\n"),
        ("bulk@remote.test", "Precedence: bulk\r\n"),
        ("junk@remote.test", "Precedence: junk\r\n"),
        ("robot@remote.test", "Auto-Submitted: auto-generated\r\n"),
        ("other-vacation@remote.test", "Auto-Submitted: auto-replied\r\n"),
        ("MAILER-DAEMON@remote.test", ""),
        ("owner-staff@remote.test", ""),
        ("staff-request@remote.test", ""),
    ]
    for sender, extra in cases:
        send(d, sender, [ALICE], message(sender, extra=extra))
    # The null sender (a bounce).
    send(d, "", [ALICE], message("mailer@remote.test", subject="Undelivered"))
    # Rules that need the setting: the user's own alias as sender; Bcc (not in To or Cc).
    send(d, ALIAS, [ALICE], message(ALIAS, subject="Note to self"))
    d.wait_for_log("vacation: %s no reply to %s: own address" % (ALICE, ALIAS))
    send(d, "eve@remote.test", [ALICE], message("eve@remote.test", to="friends@remote.test"))
    d.wait_for_log("vacation: %s no reply to eve@remote.test: not in To or Cc" % ALICE)
    # A person writing to Alice gets the only reply; the messages above were decided before
    # their 250 (no lookup) or logged above, so none can follow.
    send(d, "frank@remote.test", [ALICE], message("frank@remote.test", extra="Auto-Submitted: no\r\n"))
    got = peer.wait_for_messages(1)
    assert [r.rcpt_tos for r in got] == [["frank@remote.test"]]
    assert mailbox_count(d) == len(cases) + 4
    assert d.admin("queue", "list").stdout == ""
    assert len(peer.messages) == 1


def test_from_until_off_and_the_admin_command(office):
    d, peer, note = office
    today = datetime.date.today()
    # Bob is away throughout: his log line proves a message's lookup for Alice is done too.
    set_vacation(d, note, address=BOB)
    set_vacation(d, note, "--from", (today + datetime.timedelta(days=1)).isoformat())
    assert d.admin("vacation", ALICE).stdout.count("state: scheduled") == 1
    send(d, "gina@remote.test", [ALICE], message("gina@remote.test"))
    d.wait_for_log("vacation: %s no reply to gina@remote.test: not active now" % ALICE)
    ended = set_vacation(d, note, "--until", (today - datetime.timedelta(days=1)).isoformat())
    assert "in the past" in ended.stderr
    send(d, "hal@remote.test", [ALICE], message("hal@remote.test"))
    d.wait_for_log("vacation: %s no reply to hal@remote.test: not active now" % ALICE)
    assert d.admin("vacation", ALICE, "--off").stdout == "vacation off for %s\n" % ALICE
    assert "no vacation set" in d.admin("vacation", ALICE).stdout
    # To Alice (off) and Bob (away): only Bob answers.
    send(d, "ivan@remote.test", [ALICE, BOB], message("ivan@remote.test", to="%s, %s" % (ALICE, BOB)))
    got = peer.wait_for_messages(1)
    assert got[0].rcpt_tos == ["ivan@remote.test"] and parsed(got[0])["From"] == BOB
    d.wait_for_log("vacation: %s reply to ivan@remote.test" % BOB)
    assert "vacation: %s" % ALICE not in d.log().split("no reply to hal@remote.test")[-1]
    # Within from/until (today .. today): active.
    set_vacation(d, note, "--from", today.isoformat(), "--until", today.isoformat())
    send(d, "judy@remote.test", [ALICE], message("judy@remote.test"))
    assert peer.wait_for_messages(2)[1].rcpt_tos == ["judy@remote.test"]
    assert len(peer.messages) == 2

    # Usage errors exit 2, well-formed commands that fail exit 1.
    def rc(*args):
        return d.admin("vacation", *args, check=False).returncode

    assert rc(ALICE, "--off", "--subject", "x") == 2
    assert rc(ALICE, "--subject", "x") == 2
    assert rc(ALICE, "--bogus") == 2
    assert rc("nobody@" + DOMAIN, "--message-file", str(note)) == 1
    assert rc(ALICE, "--message-file", str(note), "--from", "2026-02-31") == 1
    assert rc(ALICE, "--message-file", str(note), "--from", "2030-01-02", "--until", "2030-01-01") == 1
    assert rc(ALICE, "--message-file", str(note), "--days", "0") == 1
    assert rc(ALICE, "--message-file", str(note.parent / "missing.txt")) == 1
