"""Forwarding that survives SPF: an alias that forwards to another domain sends with an SRS0
sender of ours, which pyspf (python3-spf) accepts against the SPF record dns-records prints,
served by dnsmasq; a bounce to that address reaches the original sender; forged and expired
SRS addresses are refused."""

import base64
import hashlib
import hmac
import smtplib
import time

import dns.resolver
import pytest
import spf

from conftest import DOMAIN, free_port
from peers.dns_zone import dnsmasq_options, parse_zone
from peers.smtp_peer import Dnsmasq
from test_relay import peers, smarthost_config, wait_until  # noqa: F401 (fixture)

ORIGIN = "carol@origin.test"
FORWARD = "fwd@" + DOMAIN
TARGET = "bob@remote.test"
OUTSIDER = ("127.0.0.9", 0)  # not in trusted_networks below
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def srs0(key, local, domain, day):
    """An SRS0 local part as the scheme defines it, computed here independently."""
    tt = BASE32[(day % 1024) >> 5] + BASE32[day % 32]
    data = "%s=%s=%s" % (tt, domain, local)
    mac = hmac.new(key, data.lower().encode(), hashlib.sha1).digest()
    return "SRS0=%s=%s" % (base64.b64encode(mac).decode()[:6], data)


@pytest.fixture
def world(make_daemon, peers, tmp_path):  # noqa: F811
    peer = peers().start()
    dns_port = free_port()
    extra = smarthost_config(peer.port, relay_more="  dns_servers: [\"127.0.0.1:%d\"]\n" % dns_port)
    extra += "public_addresses: [\"127.0.0.1\"]\n"
    d = make_daemon(start=False, extra=extra, trusted=("127.0.0.5/32",))
    d.add_user("alice")
    d.admin("alias", "add", FORWARD, TARGET)
    d.start()
    # The box's records exactly as dns-records prints them, served by dnsmasq.
    dns = Dnsmasq(dns_port, dnsmasq_options(parse_zone(d.admin("dns-records").stdout))).start(tmp_path)
    yield d, peer, dns
    dns.stop()


def spf_result(dns_port, sender):
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = dns_port
    saved = dns.resolver.default_resolver
    dns.resolver.default_resolver = resolver
    try:
        return spf.check2(i="127.0.0.1", s=sender, h="mail." + DOMAIN)[0]
    finally:
        dns.resolver.default_resolver = saved


def test_forward_gets_an_srs_sender_that_passes_spf_and_bounces_come_back(world):
    d, peer, dnsmasq = world
    message = b"From: Carol <carol@origin.test>\r\nTo: fwd@example.test\r\nSubject: fwd\r\n\r\nhi\r\n"
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30, source_address=OUTSIDER) as c:
        assert c.sendmail(ORIGIN, [FORWARD], message) == {}
    got = peer.wait_for_messages(1)[0]
    assert got.rcpt_tos == [TARGET]
    sender = got.mail_from
    assert sender.startswith("SRS0=") and sender.endswith("=origin.test=carol@" + DOMAIN), sender
    # The receiver's SPF check: the SRS sender passes against our record; the original
    # sender's domain would not have let this box send for it.
    assert spf_result(dnsmasq.port, sender) == "pass"
    assert spf_result(dnsmasq.port, ORIGIN) != "pass"
    # A bounce from the remote side to the SRS address reaches the original sender.
    bounce = b"From: MAILER-DAEMON@remote.test\r\nSubject: Undelivered\r\n\r\nsorry\r\n"
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30, source_address=OUTSIDER) as c:
        c.ehlo("remote.test")
        assert c.mail("<>")[0] == 250
        assert c.rcpt(sender.lower())[0] == 250  # addresses arrive lower-cased: still valid
        assert c.data(bounce)[0] == 250
    second = peer.wait_for_messages(2)[1]
    assert second.rcpt_tos == [ORIGIN]
    assert second.mail_from in ("", "<>")
    assert second.content.endswith(bounce)


def test_forged_and_expired_srs_addresses_are_refused(world):
    d, peer, _ = world
    key = (d.workdir / "data" / "srs.key").read_bytes()
    today = int(time.time()) // 86400
    valid = srs0(key, "carol", "origin.test", today) + "@" + DOMAIN
    expired = srs0(key, "carol", "origin.test", today - 30) + "@" + DOMAIN
    local = valid.split("@")[0]
    forged_hash = local[:5] + ("B" if local[5] != "B" else "C") + local[6:] + "@" + DOMAIN
    forged_user = valid.replace("=carol@", "=admin@")
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30, source_address=OUTSIDER) as c:
        c.ehlo("remote.test")
        assert c.mail("<>")[0] == 250
        for address in (forged_hash, forged_user, expired, "SRS0=nonsense@" + DOMAIN):
            code, text = c.rcpt(address)
            assert code == 550, (address, code, text)
        # The same scheme computed here independently, with the key on disk, is accepted.
        assert c.rcpt(valid)[0] == 250
    log = d.log()
    assert "srs: refused forged address" in log and "srs: refused expired address" in log
    # The key never appears in the log.
    assert key.decode() not in log
