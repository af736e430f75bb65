"""DNS blocklists at connect on port 25, against a test zone served by dnsmasq on loopback:
listed, not listed, Spamhaus's "query refused" code, weights and threshold, tag mode."""

import smtplib

import pytest

from conftest import free_port
from peers.smtp_peer import Dnsmasq
from smtp_helpers import ALICE, mailbox_count, pop3_messages

# 127.0.0.1 is listed in both zones, 127.0.0.4 only in bl.test, 127.0.0.3 gets the
# "query refused" answer, 127.0.0.2 is in neither.
RECORDS = [
    "--local=/bl.test/", "--local=/bl2.test/",
    "--host-record=1.0.0.127.bl.test,127.0.0.2",
    # No shell here: quotes would be part of the text.
    "--txt-record=1.0.0.127.bl.test,Listed by bl.test: see http://bl.test/q?127.0.0.1",
    "--host-record=4.0.0.127.bl.test,127.0.0.3",
    "--host-record=3.0.0.127.bl.test,127.255.255.254",
    "--host-record=1.0.0.127.bl2.test,127.0.0.10",
]


@pytest.fixture
def dns(tmp_path):
    server = Dnsmasq(free_port(), RECORDS).start(tmp_path)
    yield server
    server.stop()


def dnsbl_daemon(make_daemon, dns, body, trusted=()):
    # POP3 from the untrusted loopback client needs plaintext logins allowed. SPF, DKIM and
    # DMARC are off: the test domains publish nothing, and their tags are not under test.
    extra = ("auth:\n  plaintext_without_tls: always\nrelay:\n  dns_servers: [\"127.0.0.1:%d\"]\n"
             "mail_auth:\n  spf: off\n  dkim: off\n  dmarc: off\n"
             "dnsbl:\n%s" % (dns.port, body))
    d = make_daemon(start=False, trusted=trusted, extra=extra)
    d.add_user("alice")
    return d.start()


def greeting_from(daemon, source):
    """The greeting (code, text) a client at `source` gets."""
    client = smtplib.SMTP(timeout=30)
    client.source_address = (source, 0)
    try:
        return client.connect("127.0.0.1", daemon.ports["smtp"])
    except smtplib.SMTPConnectError as e:
        return e.smtp_code, e.smtp_error
    finally:
        client.close()


def deliver_from(daemon, source, subject="hi"):
    with smtplib.SMTP("127.0.0.1", daemon.ports["smtp"], timeout=30, source_address=(source, 0)) as c:
        c.sendmail("someone@remote.test", [ALICE], "Subject: %s\r\n\r\nbody\r\n" % subject)


REJECT_ONE_ZONE = "  action: reject\n  zones:\n    - zone: bl.test\n"


def test_listed_client_is_refused_with_the_lists_text(make_daemon, dns):
    d = dnsbl_daemon(make_daemon, dns, REJECT_ONE_ZONE)
    code, text = greeting_from(d, "127.0.0.1")
    assert code == 554
    assert text.decode() == "5.7.1 Listed by bl.test: see http://bl.test/q?127.0.0.1"
    assert "1.0.0.127.bl.test" in dns.log.read_text()
    assert "dnsbl=listed(score=1 bl.test:127.0.0.2)" in d.log()


def test_unlisted_client_and_the_query_refused_code_are_greeted_and_deliver(make_daemon, dns):
    d = dnsbl_daemon(make_daemon, dns, REJECT_ONE_ZONE)
    for source in ("127.0.0.2", "127.0.0.3"):
        code, _ = greeting_from(d, source)
        assert code == 220, source
        deliver_from(d, source)
    assert mailbox_count(d) == 2
    assert "bl.test=refused" in d.log()  # 127.255.255.254 seen, and not counted


def test_weights_add_up_to_the_threshold(make_daemon, dns):
    d = dnsbl_daemon(make_daemon, dns, "  action: reject\n  threshold: 2\n  zones:\n"
                                       "    - zone: bl.test\n    - zone: bl2.test\n      codes: [127.0.0.10]\n")
    assert greeting_from(d, "127.0.0.1")[0] == 554  # both zones: 2
    assert greeting_from(d, "127.0.0.4")[0] == 220  # one zone: 1


def test_codes_not_in_the_zones_list_do_not_count(make_daemon, dns):
    d = dnsbl_daemon(make_daemon, dns, "  action: reject\n  zones:\n    - zone: bl.test\n      codes: [127.0.0.4]\n")
    assert greeting_from(d, "127.0.0.1")[0] == 220  # answered 127.0.0.2, not one of its codes


def test_trusted_networks_are_never_checked(make_daemon, dns):
    d = dnsbl_daemon(make_daemon, dns, REJECT_ONE_ZONE, trusted=("127.0.0.1/32",))
    assert greeting_from(d, "127.0.0.1")[0] == 220
    assert "1.0.0.127.bl.test" not in dns.log.read_text()


def test_tag_mode_delivers_with_an_x_dnsbl_field(make_daemon, dns):
    d = dnsbl_daemon(make_daemon, dns, "  action: tag\n  zones:\n    - zone: bl.test\n")
    deliver_from(d, "127.0.0.1", "listed")
    deliver_from(d, "127.0.0.2", "clean")
    stored = pop3_messages(d)
    assert len(stored) == 2
    listed = [m for m in stored if b"Subject: listed" in m][0]
    clean = [m for m in stored if b"Subject: clean" in m][0]
    assert b"\r\nX-DNSBL: bl.test=127.0.0.2; score=1\r\n" in listed
    assert b"X-DNSBL" not in clean


def test_allow_listed_network_skips_the_blocklists(make_daemon, dns):
    d = make_daemon(start=False, trusted=(),
                    extra="relay:\n  dns_servers: [\"127.0.0.1:%d\"]\ndnsbl:\n%s" % (dns.port, REJECT_ONE_ZONE))
    d.add_user("alice")
    d.admin("allow", "add", "127.0.0.1")
    d.start()
    assert greeting_from(d, "127.0.0.1")[0] == 220
