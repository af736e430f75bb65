"""DANE for SMTP (RFC 7672) in direct mode: TLSA records from a DNSSEC-signed zone (ldns-signzone)
served by unbound on loopback, validated by postroomd's libunbound against the zone's DS as
trust anchor; MX peers on 127.0.13.x:25."""

import os

import pytest

from conftest import free_port
from peers.smtp_peer import Peer, server_context
from peers.test_ca import LocalCa, spki_sha256
from peers.unbound_zone import SignedZone, Unbound
from test_relay import MESSAGE, queue_rows, send, start_daemon, wait_until

DNS = "127.0.13.53"
MX = {"good": "127.0.13.6", "bad": "127.0.13.7", "bogus": "127.0.13.8", "ta": "127.0.13.9",
      "notlsa": "127.0.13.10"}


@pytest.fixture(scope="module")
def dane_world(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("MX peers listen on port 25 of 127.0.13.x: needs root")
    work = tmp_path_factory.mktemp("dane")
    ca = LocalCa(work)
    # DANE-EE pins the key: a certificate for a name nobody asked for is fine.
    ee_cert = ca.issue("ee", "not-the-mx-name.test")
    other_cert = ca.issue("other", "other.test")
    ta_leaf = ca.issue("ta", "mx-ta.dane.example")
    ta_chain = work / "ta-chain.pem"
    ta_chain.write_text(ta_leaf[0].read_text() + ca.cert.read_text())
    ee_hash, other_hash = spki_sha256(ee_cert[0]), spki_sha256(other_cert[0])
    records = []
    for name, address in MX.items():
        records += ["%s IN MX 10 mx-%s" % (name, name), "mx-%s IN A %s" % (name, address)]
    records += ["_25._tcp.mx-good IN TLSA 3 1 1 " + ee_hash,
                "_25._tcp.mx-bad IN TLSA 3 1 1 " + other_hash,
                "_25._tcp.mx-bogus IN TLSA 3 1 1 " + ee_hash,
                "_25._tcp.mx-ta IN TLSA 2 1 1 " + spki_sha256(ca.cert)]
    # mx-bogus's TLSA is changed after signing, to the hash of the other key.
    zone = SignedZone(work, "dane.example", records, tamper=None)
    text = zone.signed.read_text()
    line = next(l for l in text.splitlines() if l.startswith("_25._tcp.mx-bogus") and "TLSA" in l
                and "RRSIG" not in l)
    zone.signed.write_text(text.replace(line, line.replace(ee_hash, other_hash)
                                        .replace(ee_hash.upper(), other_hash.upper())))
    assert zone.signed.read_text() != text
    unbound = Unbound(DNS, free_port(DNS), zone).start(work)
    peers = {
        "good": Peer(host=MX["good"], port=25, starttls_context=server_context(*ee_cert)).start(),
        "bad": Peer(host=MX["bad"], port=25, starttls_context=server_context(*ee_cert)).start(),
        "bogus": Peer(host=MX["bogus"], port=25, starttls_context=server_context(*ee_cert)).start(),
        "ta": Peer(host=MX["ta"], port=25, starttls_context=server_context(ta_chain, ta_leaf[1])).start(),
        "notlsa": Peer(host=MX["notlsa"], port=25, starttls_context=server_context(*other_cert)).start(),
    }
    relay = ("relay:\n"
             "  mode: direct\n"
             "  dns_servers: [\"%s:%d\"]\n"
             "  retry_schedule: [1h]\n"
             "  tls_policy:\n"
             "    mta_sts: false\n"
             "    dane: true\n"
             "    trust_anchor: %s\n") % (DNS, unbound.port, zone.trust_anchor)
    yield relay, peers
    for peer in peers.values():
        peer.stop()
    unbound.stop()


def last_reply(d, recipient):
    rows = [r for r in queue_rows(d) if r[1] == recipient and r[3] != "0"]
    return rows[0][5] if rows else None


def test_dane_ee_match_delivers_whatever_the_certificate_name(make_daemon, dane_world):
    relay, peers = dane_world
    d = start_daemon(make_daemon, relay)
    send(d, ["bob@good.dane.example", "carol@ta.dane.example", "dave@notlsa.dane.example"])
    got = peers["good"].wait_for_messages(1)[0]
    assert got.tls and got.content.endswith(MESSAGE)
    d.wait_for_log(r"dane host=mx-good.dane.example 1 TLSA record\(s\): DANE")
    # DANE-TA: the CA's key in the TLSA record, the MX name in the certificate.
    assert peers["ta"].wait_for_messages(1)[0].tls
    # A signed zone without TLSA for the host: opportunistic TLS, certificate unchecked.
    assert peers["notlsa"].wait_for_messages(1)[0].tls
    wait_until(lambda: queue_rows(d) == [], what="an empty queue")


def test_a_tlsa_mismatch_defers_and_never_falls_back_to_plaintext(make_daemon, dane_world):
    relay, peers = dane_world
    d = start_daemon(make_daemon, relay)
    send(d, ["bob@bad.dane.example"])
    reply = wait_until(lambda: last_reply(d, "bob@bad.dane.example"), what="the attempt's result")
    assert "TLS handshake failed" in reply and "DANE" in reply, reply
    assert queue_rows(d)[0][2] == "deferred"
    assert peers["bad"].messages == []


def test_a_bogus_tlsa_answer_makes_the_host_unusable(make_daemon, dane_world):
    relay, peers = dane_world
    d = start_daemon(make_daemon, relay)
    send(d, ["bob@bogus.dane.example"])
    reply = wait_until(lambda: last_reply(d, "bob@bogus.dane.example"), what="the attempt's result")
    assert reply.startswith("4.7.5 DANE: TLSA lookup for mx-bogus.dane.example failed: DNSSEC validation failed"), reply
    assert peers["bogus"].messages == []
