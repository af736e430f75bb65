"""Issue 4, no open relay: untrusted peers cannot relay, the classic relay tricks never relay,
trusted peers' remote mail is queued for the relay."""

import smtplib

import pytest

from conftest import DOMAIN, free_port
from smtp_helpers import ALICE, message, mailbox_count, sql

TRUSTED = "127.0.0.5"
UNTRUSTED = "127.0.0.9"

# The relay (another issue) would try the first delivery at once; a smarthost port where nobody
# listens makes that attempt a temporary failure, so the queued recipient stays listed.
DEAD_SMARTHOST = "relay:\n  mode: smarthost\n  smarthost:\n    host: 127.0.0.1\n    port: %d\n    tls: none\n"

RELAY_TRICKS = [
    "u%remote.test@" + DOMAIN,        # percent hack
    '"u@remote.test"@' + DOMAIN,      # quoted local part holding an address
    "remote.test!u@" + DOMAIN,        # bang path
    "u%remote.test@" + DOMAIN.upper(),
    "@%s:u@remote.test" % DOMAIN,     # source route: the route is dropped, u@remote.test remains
    "@%s,@other.test:u@remote.test" % DOMAIN,
    "u@remote.test@" + DOMAIN,        # two @ signs: a syntax error
    "u@[192.0.2.1]",                  # address literal of a foreign host
]


@pytest.fixture
def relay_daemon(make_daemon):
    d = make_daemon(start=False, trusted=(TRUSTED + "/32",), extra=DEAD_SMARTHOST % free_port())
    d.add_user("alice")
    return d.start()


def queue_list(d):
    return d.admin("queue", "list").stdout


def smtp_from(d, source):
    return smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30, source_address=(source, 0))


def test_untrusted_peer_gets_554_for_a_remote_recipient(relay_daemon):
    with smtp_from(relay_daemon, UNTRUSTED) as client:
        client.ehlo("spammer.remote.test")
        assert client.mail("spammer@remote.test")[0] == 250
        code, text = client.rcpt("victim@remote.test")
        assert code == 554 and text.startswith(b"5.7.1"), text
        # Local mail from the same peer is still welcome.
        assert client.rcpt(ALICE)[0] == 250
        assert client.data(message("local-only"))[0] == 250
    assert queue_list(relay_daemon) == ""
    assert mailbox_count(relay_daemon) == 1


@pytest.mark.parametrize("address", RELAY_TRICKS)
def test_relay_tricks_never_relay_from_an_untrusted_peer(relay_daemon, address):
    with smtp_from(relay_daemon, UNTRUSTED) as client:
        client.ehlo("spammer.remote.test")
        assert client.mail("spammer@remote.test")[0] == 250
        client.putcmd("RCPT", "TO:<%s>" % address)
        code, text = client.getreply()
        assert code in (501, 550, 553, 554), (code, text)
        if code == 550:
            assert text.startswith(b"5.1.1"), text  # an unknown local user, never a route
        if code == 554:
            assert text.startswith(b"5.7.1"), text
        # With nothing accepted, DATA has no recipient and nothing can be queued.
        code, _ = client.docmd("DATA")
        assert code in (503, 554)
    assert queue_list(relay_daemon) == ""
    assert sql(relay_daemon, "SELECT count(*) FROM queue") == "0"


def test_percent_and_bang_are_plain_local_parts_even_for_a_trusted_peer(relay_daemon):
    # Trusted peers may relay, but only to the address as written: a local part with "%" or "!"
    # is looked up as a local user, not rewritten into a remote route.
    with smtp_from(relay_daemon, TRUSTED) as client:
        client.ehlo("office.example.test")
        client.mail("alice@%s" % DOMAIN)
        for address in ("u%remote.test@" + DOMAIN, "remote.test!u@" + DOMAIN, '"u@remote.test"@' + DOMAIN):
            client.putcmd("RCPT", "TO:<%s>" % address)
            code, text = client.getreply()
            assert code == 550 and text.startswith(b"5.1.1"), (address, code, text)
    assert queue_list(relay_daemon) == ""


def test_trusted_peer_relays_and_the_message_is_queued(relay_daemon):
    with smtp_from(relay_daemon, TRUSTED) as client:
        refused = client.sendmail(ALICE, ["bob@remote.test", ALICE], message("outbound", to="bob@remote.test"))
        assert refused == {}
    lines = queue_list(relay_daemon).splitlines()
    assert len(lines) == 1, lines
    fields = lines[0].split("\t")
    assert fields[1] == "bob@remote.test"
    assert mailbox_count(relay_daemon) == 1  # the local copy
    # One stored content serves the mailbox and the queue.
    assert sql(relay_daemon, "SELECT count(*) FROM contents") == "1"


def test_source_route_from_a_trusted_peer_goes_to_the_final_mailbox(relay_daemon):
    # RFC 5321 §3.3 / appendix C: the route is ignored; the mailbox after the colon is the target.
    with smtp_from(relay_daemon, TRUSTED) as client:
        client.ehlo("office.example.test")
        client.mail(ALICE)
        client.putcmd("RCPT", "TO:<@%s:carol@remote.test>" % DOMAIN)
        assert client.getreply()[0] == 250
        assert client.data(message("routed"))[0] == 250
    lines = queue_list(relay_daemon).splitlines()
    assert [l.split("\t")[1] for l in lines] == ["carol@remote.test"]
