"""MTA-STS (RFC 8461) in direct mode: the policy id from DNS (dnsmasq), the policy over HTTPS
from a local server with a test CA, and MX hosts on 127.0.13.x:25 whose certificates match,
do not match, or do not matter (testing mode)."""

import os

import pytest

from conftest import free_port
from peers.https_policy import PolicyServer
from peers.smtp_peer import Dnsmasq, Peer, server_context
from peers.test_ca import LocalCa
from test_relay import MESSAGE, queue_rows, send, start_daemon, wait_until

POLICY_HOST = "127.0.13.1"
MX = {"good": "127.0.13.2", "bad": "127.0.13.3", "testing": "127.0.13.4", "unlisted": "127.0.13.5"}


def policy(mode, *mx):
    return "version: STSv1\nmode: %s\n%smax_age: 86400\n" % (mode, "".join("mx: %s\n" % m for m in mx))


@pytest.fixture(scope="module")
def sts_world(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("MX peers listen on port 25 and the policy server on 443 of 127.0.13.x: needs root")
    work = tmp_path_factory.mktemp("mta-sts")
    ca = LocalCa(work)
    web_cert = ca.issue("web", *("mta-sts.%s.test" % n for n in MX))
    good_cert = ca.issue("mx-good", "mx.good.test")
    wrong_cert = ca.issue("mx-wrong", "somewhere-else.test")  # valid chain, wrong name
    records = ["--local=/test/"]
    for name, address in MX.items():
        records += ["--mx-host=%s.test,mx.%s.test,10" % (name, name),
                    "--host-record=mx.%s.test,%s" % (name, address),
                    "--txt-record=_mta-sts.%s.test,v=STSv1; id=2026%s" % (name, name)]
    dns = Dnsmasq(free_port(), records).start(work)
    web = PolicyServer(POLICY_HOST, 443, *web_cert, {
        "mta-sts.good.test": policy("enforce", "mx.good.test"),
        "mta-sts.bad.test": policy("enforce", "*.bad.test"),
        "mta-sts.testing.test": policy("testing", "mx.testing.test"),
        # The domain's only MX is not in its own policy: enforce mode must not use it.
        "mta-sts.unlisted.test": policy("enforce", "mx.elsewhere.test"),
    }).start()
    peers = {
        "good": Peer(host=MX["good"], port=25, starttls_context=server_context(*good_cert)).start(),
        "bad": Peer(host=MX["bad"], port=25, starttls_context=server_context(*wrong_cert)).start(),
        "testing": Peer(host=MX["testing"], port=25, starttls_context=server_context(*wrong_cert)).start(),
        "unlisted": Peer(host=MX["unlisted"], port=25, starttls_context=server_context(*good_cert)).start(),
    }
    relay = ("relay:\n"
             "  mode: direct\n"
             "  dns_servers: [\"127.0.0.1:%d\"]\n"
             "  retry_schedule: [1h]\n"
             "  tls_policy:\n"
             "    ca_file: %s\n"
             "    mta_sts_resolve: [%s]\n") % (
        dns.port, ca.cert, ", ".join('"mta-sts.%s.test:443:%s"' % (n, POLICY_HOST) for n in MX))
    yield relay, peers, web
    for peer in peers.values():
        peer.stop()
    web.stop()
    dns.stop()


def last_reply(d, recipient):
    rows = [r for r in queue_rows(d) if r[1] == recipient and r[3] != "0"]
    return rows[0][5] if rows else None


def test_enforce_with_a_matching_certificate_delivers_over_verified_tls(make_daemon, sts_world):
    relay, peers, web = sts_world
    d = start_daemon(make_daemon, relay)
    send(d, ["bob@good.test"])
    got = peers["good"].wait_for_messages(1)[0]
    assert got.tls and got.content.endswith(MESSAGE)
    d.wait_for_log(r"mta-sts domain=good.test mode=enforce id=2026good \(fetched\)")
    d.wait_for_log(r"rcpt=bob@good.test host=mx\.good\.test\[127\.0\.13\.2\]:25 result=delivered")
    assert ("mta-sts.good.test", "/.well-known/mta-sts.txt") in web.requests
    # The next message uses the cached policy: same id in DNS, max_age not over. It must
    # find the first connection gone (else it would go on it, with no new lookup).
    d.wait_for_log(r"relay host=mx\.good\.test\[127\.0\.13\.2\]:25 connection done after 1 message")
    send(d, ["carol@good.test"])
    peers["good"].wait_for_messages(2)
    d.wait_for_log(r"mta-sts domain=good.test mode=enforce id=2026good \(cached\)")
    assert web.requests.count(("mta-sts.good.test", "/.well-known/mta-sts.txt")) == 1


def test_enforce_with_a_certificate_for_another_name_is_deferred_never_plaintext(make_daemon, sts_world):
    relay, peers, _ = sts_world
    d = start_daemon(make_daemon, relay)
    send(d, ["bob@bad.test"])
    reply = wait_until(lambda: last_reply(d, "bob@bad.test"), what="the attempt's result")
    assert "TLS handshake failed" in reply and "hostname mismatch" in reply, reply
    assert "MTA-STS enforce" in reply
    assert queue_rows(d)[0][2] == "deferred"
    assert peers["bad"].messages == []  # and the peer requires STARTTLS: nothing went in plaintext


def test_enforce_never_uses_an_mx_the_policy_does_not_list(make_daemon, sts_world):
    relay, peers, _ = sts_world
    d = start_daemon(make_daemon, relay)
    send(d, ["bob@unlisted.test"])
    reply = wait_until(lambda: last_reply(d, "bob@unlisted.test"), what="the attempt's result")
    assert reply == "4.7.5 no MX host of unlisted.test matches its MTA-STS policy (mode enforce)"
    d.wait_for_log(r"MX mx.unlisted.test is not in the policy, not used")
    assert peers["unlisted"].messages == []


def test_testing_mode_reports_the_bad_certificate_and_delivers(make_daemon, sts_world):
    relay, peers, _ = sts_world
    d = start_daemon(make_daemon, relay)
    send(d, ["bob@testing.test"])
    got = peers["testing"].wait_for_messages(1)[0]
    assert got.tls
    d.wait_for_log(r"MTA-STS testing: certificate of mx\.testing\.test\[127\.0\.13\.4\]:25 does not verify "
                   r"\(hostname mismatch\), delivering anyway")
    wait_until(lambda: queue_rows(d) == [], what="an empty queue")
