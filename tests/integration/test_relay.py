"""Issue 6: the outbound relay against real SMTP peers (aiosmtpd) and a real DNS server
(dnsmasq) on loopback: smarthost and direct MX delivery, retries, bounces, restarts."""

import os
import poplib
import re
import signal
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import DOMAIN, PASSWORD, free_port
from smtp_helpers import wait_until
from peers.smtp_peer import Dnsmasq, Peer, server_context

ALICE = "alice@" + DOMAIN
BOB = "bob@remote.test"
MESSAGE = (b"From: Alice <alice@example.test>\r\n"
           b"To: Bob <bob@remote.test>\r\n"
           b"Subject: relay test\r\n"
           b"Message-ID: <relay-1@example.test>\r\n"
           b"\r\n"
           b"Hello Bob,\r\n"
           b".a line that starts with a dot\r\n"
           b"\r\n"
           b"-- \r\nAlice\r\n")


def smarthost_config(port, host="127.0.0.1", tls="none", schedule="[1s]", smarthost_more="", relay_more=""):
    return ("relay:\n"
            "  mode: smarthost\n"
            "  smarthost:\n"
            "    host: %s\n"
            "    port: %d\n"
            "    tls: %s\n"
            "%s"
            "  retry_schedule: %s\n"
            "%s") % (host, port, tls, smarthost_more, schedule, relay_more)


def start_daemon(make_daemon, extra, **kwargs):
    d = make_daemon(start=False, extra=extra, **kwargs)
    d.add_user("alice")
    return d.start()


def send(d, recipients, message=MESSAGE, sender=ALICE):
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as client:
        refused = client.sendmail(sender, recipients, message)
    assert refused == {}


def queue_rows(d):
    return [line.split("\t") for line in d.admin("queue", "list").stdout.splitlines()]



def pop3_messages(d, user=ALICE):
    client = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=30)
    try:
        client.user(user)
        client.pass_(PASSWORD)
        count, _ = client.stat()
        return [b"\r\n".join(client.retr(i + 1)[1]) for i in range(count)]
    finally:
        client.quit()


def since_last_start(d):
    return d.log().split("postroomd ready")[-1]


@pytest.fixture
def peers():
    started = []

    def make(**kwargs):
        peer = Peer(**kwargs)
        started.append(peer)
        return peer

    yield make
    for peer in started:
        peer.stop()


# --- smarthost, plain ------------------------------------------------------------------


def test_peer_receives_the_message_byte_exact_with_received_and_without_return_path(make_daemon, peers):
    peer = peers().start()
    d = start_daemon(make_daemon, smarthost_config(peer.port))
    send(d, [BOB])
    got = peer.wait_for_messages(1)[0]
    assert got.mail_from == ALICE
    assert got.rcpt_tos == [BOB]
    assert got.content.startswith(b"Received: ")
    assert got.content.endswith(MESSAGE)
    assert b"Return-Path" not in got.content
    assert b"mail.example.test" in got.content.split(MESSAGE)[0]  # our Received line
    d.wait_for_log(r"relay queue=\S+ rcpt=bob@remote.test host=127\.0\.0\.1\[127\.0\.0\.1\]:%d "
                   r"result=delivered reply=\"250 2\.0\.0 OK queued\"" % peer.port)
    wait_until(lambda: queue_rows(d) == [], what="an empty queue")


def test_per_recipient_results_deliver_one_and_bounce_the_other(make_daemon, peers):
    peer = peers(rcpt_replies={"carol@remote.test": "550 5.1.1 no such user"}).start()
    d = start_daemon(make_daemon, smarthost_config(peer.port))
    send(d, [BOB, "carol@remote.test"])
    got = peer.wait_for_messages(1)[0]
    assert got.rcpt_tos == [BOB]
    bounces = wait_until(lambda: pop3_messages(d), what="a bounce for alice")
    assert len(bounces) == 1
    bounce = bounces[0]
    assert b"Undelivered Mail Returned to Sender" in bounce
    assert b"Final-Recipient: rfc822; carol@remote.test" in bounce
    assert b"bob@remote.test" not in bounce.split(b"message/delivery-status")[1].split(b"text/rfc822-headers")[0]
    assert b"550 5.1.1 no such user" in bounce
    wait_until(lambda: queue_rows(d) == [], what="an empty queue")


def test_4xx_then_250_is_delivered_after_a_retry(make_daemon, peers):
    peer = peers(data_replies=["451 4.3.0 try again later", "250 2.0.0 OK second time"]).start()
    d = start_daemon(make_daemon, smarthost_config(peer.port, schedule="[1s]"))
    send(d, [BOB])
    d.wait_for_log(r"rcpt=bob@remote.test .* result=deferred reply=\"451 4\.3\.0 try again later\"")
    got = peer.wait_for_messages(1)[0]
    assert got.content.endswith(MESSAGE)
    assert peer.data_seen == 2
    d.wait_for_log(r"rcpt=bob@remote.test .* result=delivered reply=\"250 2\.0\.0 OK second time\"")
    wait_until(lambda: queue_rows(d) == [], what="an empty queue")
    assert pop3_messages(d) == []  # no bounce, no delay notice


def test_5xx_gives_the_local_sender_a_dsn_by_pop3_and_empties_the_queue(make_daemon, peers):
    peer = peers(data_replies=["554 5.7.1 rejected by policy"]).start()
    d = start_daemon(make_daemon, smarthost_config(peer.port))
    send(d, [BOB])
    bounces = wait_until(lambda: pop3_messages(d), what="a bounce for alice")
    assert len(bounces) == 1
    bounce = bounces[0]
    assert bounce.startswith(b"Return-Path: <>")
    assert b"Subject: Undelivered Mail Returned to Sender" in bounce
    assert b"multipart/report; report-type=delivery-status" in bounce
    assert b"Final-Recipient: rfc822; bob@remote.test" in bounce
    assert b"Action: failed" in bounce
    assert b"Status: 5.7.1" in bounce
    assert b"554 5.7.1 rejected by policy" in bounce
    assert b"Message-ID: <relay-1@example.test>" in bounce  # the original headers, quoted
    assert b"Hello Bob" not in bounce  # but not its body
    assert queue_rows(d) == []
    assert peer.messages == []
    d.wait_for_log(r"rcpt=bob@remote.test .* result=bounced")


def test_a_bounce_is_never_bounced(make_daemon, peers):
    peer = peers(data_replies=["550 5.1.1 gone"]).start()
    d = start_daemon(make_daemon, smarthost_config(peer.port))
    send(d, [BOB], sender="")
    d.wait_for_log(r"rcpt=bob@remote.test .* result=bounced")
    d.wait_for_log(r"no bounce: the message came from the null sender")
    wait_until(lambda: queue_rows(d) == [], what="an empty queue")
    assert pop3_messages(d) == []


def test_peer_down_then_up_and_queue_retry_delivers(make_daemon, peers):
    port = free_port()
    d = start_daemon(make_daemon, smarthost_config(port, schedule="[1h]"))
    send(d, [BOB])
    d.wait_for_log(r"rcpt=bob@remote.test .* result=deferred reply=\"4\.4\.1 connection to .* failed")
    rows = queue_rows(d)
    assert len(rows) == 1 and rows[0][1] == BOB and rows[0][2] == "deferred" and rows[0][3] == "1"
    peer = peers(port=port).start()
    time.sleep(1.5)  # not a timing assertion: the daemon must not retry on its own within the hour
    assert peer.messages == []
    d.admin("queue", "retry")
    got = peer.wait_for_messages(1, timeout=15)[0]
    assert got.content.endswith(MESSAGE)
    wait_until(lambda: queue_rows(d) == [], what="an empty queue")


def test_queued_mail_is_delivered_after_a_restart(make_daemon, peers):
    port = free_port()
    d = start_daemon(make_daemon, smarthost_config(port, schedule="[2s]"))
    send(d, [BOB])
    d.wait_for_log(r"rcpt=bob@remote.test .* result=deferred")
    assert d.stop() == 0
    assert len(queue_rows(d)) == 1  # still queued while the daemon is down
    peer = peers(port=port).start()
    d.start()
    peer.wait_for_messages(1)
    wait_until(lambda: "result=delivered" in since_last_start(d), what="delivery by the restarted daemon")
    wait_until(lambda: queue_rows(d) == [], what="an empty queue")


def test_sigkill_during_delivery_still_delivers_after_restart(make_daemon, peers):
    peer = peers(delay=4).start()
    d = start_daemon(make_daemon, smarthost_config(peer.port, schedule="[1h]"))
    send(d, [BOB])
    wait_until(lambda: peer.data_seen >= 1, what="the peer to receive the body")
    d.kill()  # SIGKILL while the peer has not answered the end of data yet
    rows = queue_rows(d)
    assert len(rows) == 1 and rows[0][2] == "queued"  # nothing recorded without the peer's 250
    d.start()
    wait_until(lambda: "result=delivered" in since_last_start(d), what="delivery after restart")
    assert len(peer.wait_for_messages(1)) >= 1  # at least once; twice is allowed
    wait_until(lambda: queue_rows(d) == [], what="an empty queue")


def test_sigterm_during_delivery_exits_zero_and_the_recipient_stays_queued(make_daemon, peers):
    peer = peers(delay=60).start()
    d = start_daemon(make_daemon, smarthost_config(peer.port, schedule="[1h]"))
    send(d, [BOB])
    wait_until(lambda: peer.data_seen >= 1, what="the peer to receive the body")
    assert d.stop(signal.SIGTERM) == 0
    assert "postroomd stopped" in d.log()
    assert "relay stopping: 1 attempt(s) cut" in d.log()
    rows = queue_rows(d)
    assert len(rows) == 1 and rows[0][2] == "queued" and rows[0][3] == "0"
    d.start()  # the peer answers the second DATA at once
    wait_until(lambda: "result=delivered" in since_last_start(d), what="delivery after restart")


def test_max_queue_age_bounces_a_message_the_peer_keeps_deferring(make_daemon, peers):
    peer = peers(data_replies=["451 4.3.0 busy"]).start()
    d = start_daemon(make_daemon, smarthost_config(peer.port, schedule="[1s]", relay_more="  max_queue_age: 3s\n"))
    send(d, [BOB])
    bounces = wait_until(lambda: pop3_messages(d), timeout=30, what="a bounce for alice")
    assert b"Undelivered Mail Returned to Sender" in bounces[0]
    assert b"451 4.3.0 busy" in bounces[0]
    assert b"Action: failed" in bounces[0]
    assert peer.data_seen >= 2  # it was retried before giving up
    assert peer.messages == []
    d.wait_for_log(r"rcpt=bob@remote.test .* result=bounced reply=\"451 4\.3\.0 busy \(gave up")
    wait_until(lambda: queue_rows(d) == [], what="an empty queue")


def test_a_large_message_streams_through_in_chunks_byte_exact(make_daemon, peers):
    peer = peers().start()
    d = start_daemon(make_daemon, smarthost_config(peer.port))
    body = b"".join(b"%07d ........................................................................\r\n" % i
                    for i in range(40000))  # about 3 MiB: a dozen stored chunks
    big = MESSAGE.replace(b"Hello Bob,\r\n", b"Hello Bob,\r\n" + body)
    send(d, [BOB], message=big)
    got = peer.wait_for_messages(1, timeout=60)[0]
    assert got.content.endswith(big)
    assert b"Return-Path" not in got.content


def test_many_messages_are_all_delivered_under_the_concurrency_limits(make_daemon, peers):
    peer = peers().start()
    d = start_daemon(make_daemon, smarthost_config(peer.port))
    for i in range(30):
        send(d, ["user%d@remote.test" % i], message=MESSAGE.replace(b"relay test", b"relay test %d" % i))
    peer.wait_for_messages(30, timeout=60)
    assert sorted(m.rcpt_tos[0] for m in peer.messages) == sorted("user%d@remote.test" % i for i in range(30))
    wait_until(lambda: queue_rows(d) == [], what="an empty queue")


def test_sighup_points_the_relay_at_a_new_smarthost(make_daemon, peers):
    dead = free_port()
    d = start_daemon(make_daemon, smarthost_config(dead, schedule="[1s]"))
    send(d, [BOB])
    d.wait_for_log(r"rcpt=bob@remote.test .* result=deferred")
    peer = peers().start()
    d.config.write_text(d.config.read_text().replace("port: %d" % dead, "port: %d" % peer.port))
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for_log(r"reloaded ")
    peer.wait_for_messages(1)
    d.wait_for_log(r"rcpt=bob@remote.test host=127\.0\.0\.1\[127\.0\.0\.1\]:%d result=delivered" % peer.port)


def test_queue_list_show_and_delete(make_daemon):
    port = free_port()
    d = start_daemon(make_daemon, smarthost_config(port, schedule="[1h]"))
    send(d, [BOB, "carol@remote.test"])
    wait_until(lambda: all(r[3] == "1" for r in queue_rows(d)), what="one attempt per recipient")
    rows = queue_rows(d)
    assert sorted(r[1] for r in rows) == [BOB, "carol@remote.test"]
    for queue_id, recipient, state, attempts, next_attempt, last_reply in rows:
        assert queue_id == rows[0][0] and re.fullmatch(r"\S+", queue_id)
        assert state == "deferred" and attempts == "1" and next_attempt
        assert last_reply.startswith("4.4.1 connection to 127.0.0.1[127.0.0.1]:%d failed" % port)
    shown = d.admin("queue", "show", rows[0][0]).stdout
    assert BOB in shown and "carol@remote.test" in shown and ALICE in shown
    d.admin("queue", "delete", rows[0][0])
    assert queue_rows(d) == []


# --- smarthost with TLS and AUTH --------------------------------------------------------


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "smarthost.secret"
    path.write_text("s3cret-Pa55word\n")
    return path


def tls_smarthost_config(port, tls, ca_file, password_file):
    return smarthost_config(port, host="localhost", tls=tls, smarthost_more=(
        "    username: office@example.test\n"
        "    password_file: %s\n"
        "    ca_file: %s\n") % (password_file, ca_file))


def test_smarthost_starttls_and_auth_with_a_ca_file(make_daemon, peers, certificate, password_file):
    peer = peers(starttls_context=server_context(*certificate),
                 credentials=("office@example.test", "s3cret-Pa55word")).start()
    d = start_daemon(make_daemon, tls_smarthost_config(peer.port, "starttls", certificate[0], password_file))
    send(d, [BOB])
    got = peer.wait_for_messages(1)[0]
    assert got.tls and got.login == b"office@example.test"
    assert got.content.endswith(MESSAGE)
    assert peer.auth_failures == 0
    d.wait_for_log(r"rcpt=bob@remote.test host=localhost\[127\.0\.0\.1\]:%d result=delivered" % peer.port)
    assert "s3cret" not in d.log()


def test_smarthost_implicit_tls(make_daemon, peers, certificate, password_file):
    peer = peers(implicit_context=server_context(*certificate),
                 credentials=("office@example.test", "s3cret-Pa55word")).start()
    d = start_daemon(make_daemon, tls_smarthost_config(peer.port, "implicit", certificate[0], password_file))
    send(d, [BOB])
    got = peer.wait_for_messages(1)[0]
    assert got.tls and got.login == b"office@example.test"


def test_smarthost_with_the_wrong_ca_is_deferred_not_delivered(make_daemon, peers, certificate, password_file,
                                                                tmp_path):
    other_cert, other_key = tmp_path / "other.pem", tmp_path / "other.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(other_key), "-out", str(other_cert)], check=True, capture_output=True)
    peer = peers(starttls_context=server_context(*certificate),
                 credentials=("office@example.test", "s3cret-Pa55word")).start()
    d = start_daemon(make_daemon, tls_smarthost_config(peer.port, "starttls", other_cert, password_file))
    send(d, [BOB])
    d.wait_for_log(r"rcpt=bob@remote.test .* result=deferred reply=\"4\.7\.0 TLS handshake failed")
    rows = queue_rows(d)
    assert len(rows) == 1 and rows[0][2] == "deferred"
    assert peer.messages == [] and peer.data_seen == 0
    assert "s3cret" not in d.log()


def port_free_on_both_loopbacks():
    """A port that nothing uses on 127.0.0.1 nor on ::1."""
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET6) as s6:
            try:
                s6.bind(("::1", port))
                return port
            except OSError:
                continue
    raise AssertionError("no port free on both 127.0.0.1 and ::1")


@pytest.mark.parametrize("tls_on", ["127.0.0.1", "::1"])
def test_a_tls_failure_on_one_address_is_reported_over_a_refusal_on_the_other(
        make_daemon, peers, certificate, password_file, tmp_path, tls_on):
    # A smarthost name with two addresses, as localhost has on a stock Debian 12 (127.0.0.1 and
    # ::1): one refuses the connection, the other presents a certificate the CA file does not
    # sign. Whichever the relay tries last, it must report the TLS failure, not the refusal.
    # Both placements run, so the test does not depend on the order of the addresses.
    other_cert, other_key = tmp_path / "other.pem", tmp_path / "other.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=smart.test", "-addext", "subjectAltName=DNS:smart.test",
                    "-keyout", str(other_key), "-out", str(other_cert)], check=True, capture_output=True)
    dns = Dnsmasq(free_port(), ["--local=/test/", "--host-record=smart.test,127.0.0.1,::1"]).start(tmp_path)
    try:
        port = port_free_on_both_loopbacks()
        peer = peers(host=tls_on, port=port, starttls_context=server_context(*certificate),
                     credentials=("office@example.test", "s3cret-Pa55word")).start()
        config = smarthost_config(port, host="smart.test", tls="starttls", smarthost_more=(
            "    username: office@example.test\n"
            "    password_file: %s\n"
            "    ca_file: %s\n") % (password_file, other_cert),
            relay_more="  dns_servers: [\"127.0.0.1:%d\"]\n" % dns.port)
        d = start_daemon(make_daemon, config)
        send(d, [BOB])
        d.wait_for_log(r"rcpt=bob@remote.test .* result=deferred reply=\"4\.7\.0 TLS handshake failed", timeout=20)
        assert "smart.test" in dns.log.read_text()  # both addresses came from dnsmasq
        first = re.search(r"rcpt=bob@remote.test .* result=deferred reply=\"([^\"]*)\"", d.log()).group(1)
        assert "refused" not in first
        assert peer.messages == [] and peer.data_seen == 0
    finally:
        dns.stop()


# --- relay policy -----------------------------------------------------------------------


def test_no_open_relay_for_an_untrusted_unauthenticated_client(make_daemon):
    d = start_daemon(make_daemon, smarthost_config(free_port()), trusted=("127.0.0.5/32",))
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30, source_address=("127.0.0.9", 0)) as client:
        client.ehlo("outsider.test")
        assert client.mail("spammer@outsider.test")[0] == 250
        code, text = client.rcpt(BOB)
        assert code == 554 and text.startswith(b"5.7.1")
        assert client.rcpt(ALICE)[0] == 250  # local mail is still accepted
    assert queue_rows(d) == []


# --- direct MX delivery against dnsmasq -------------------------------------------------

MX_RECORDS = [
    "--local=/test/",  # authoritative for .test: unknown names get NXDOMAIN
    "--mx-host=remote.test,mx1.remote.test,10",
    "--host-record=mx1.remote.test,127.0.0.9",
    # The preferred MX refuses connections: delivery falls back to the next one.
    "--mx-host=fallback.test,dead.fallback.test,10",
    "--mx-host=fallback.test,mx1.remote.test,20",
    "--host-record=dead.fallback.test,127.0.0.10",
    # No MX at all: the domain's own address is the implicit MX (RFC 5321 §5.1).
    "--host-record=implicit.test,127.0.0.9",
    # RFC 7505 null MX: preference 0, the root as exchange.
    "--dns-rr=nullmx.test,15,000000",
]


@pytest.fixture
def mx_world(tmp_path, peers):
    if os.geteuid() != 0:
        pytest.skip("direct MX delivery needs a peer on port 25 of 127.0.0.9, and binding port 25 needs root")
    dns = Dnsmasq(free_port(), MX_RECORDS).start(tmp_path)
    peer = peers(host="127.0.0.9", port=25).start()
    yield dns, peer
    dns.stop()


def direct_config(dns_port):
    return ("relay:\n"
            "  mode: direct\n"
            "  dns_servers: [\"127.0.0.1:%d\"]\n"
            "  retry_schedule: [1s]\n") % dns_port


def test_direct_mode_follows_mx_falls_back_and_uses_the_implicit_mx(make_daemon, mx_world):
    dns, peer = mx_world
    d = start_daemon(make_daemon, direct_config(dns.port))
    send(d, [BOB, "carol@fallback.test", "dave@implicit.test"])
    peer.wait_for_messages(3)
    assert sorted(r for m in peer.messages for r in m.rcpt_tos) == [BOB, "carol@fallback.test",
                                                                     "dave@implicit.test"]
    assert all(m.content.endswith(MESSAGE) for m in peer.messages)
    d.wait_for_log(r"rcpt=bob@remote.test host=mx1\.remote\.test\[127\.0\.0\.9\]:25 result=delivered")
    d.wait_for_log(r"rcpt=carol@fallback.test host=mx1\.remote\.test\[127\.0\.0\.9\]:25 result=delivered")
    d.wait_for_log(r"rcpt=dave@implicit.test host=implicit\.test\[127\.0\.0\.9\]:25 result=delivered")
    assert "remote.test" in dns.log.read_text()  # the answers came from dnsmasq
    wait_until(lambda: queue_rows(d) == [], what="an empty queue")


def test_direct_mode_null_mx_and_missing_domain_bounce(make_daemon, mx_world):
    dns, peer = mx_world
    d = start_daemon(make_daemon, direct_config(dns.port))
    send(d, ["eve@nullmx.test", "frank@missing.test"])
    d.wait_for_log(r"rcpt=eve@nullmx.test .* result=bounced reply=\"5\.1\.10 domain does not accept mail")
    d.wait_for_log(r"rcpt=frank@missing.test .* result=bounced reply=\"5\.1\.2 domain missing.test does not exist")
    bounces = wait_until(lambda: len(pop3_messages(d)) == 2 and pop3_messages(d), what="two bounces")
    text = b"".join(bounces)
    assert b"Final-Recipient: rfc822; eve@nullmx.test" in text
    assert b"Final-Recipient: rfc822; frank@missing.test" in text
    assert peer.messages == []
    wait_until(lambda: queue_rows(d) == [], what="an empty queue")


def test_direct_mode_delivers_to_an_address_literal_as_its_host(make_daemon, mx_world):
    # user@[192.0.2.1] (RFC 5321 §4.1.3): the literal is the host; an MX lookup of
    # "[127.0.0.9]" would fail and bounce the message as a domain that does not exist.
    dns, peer = mx_world
    d = start_daemon(make_daemon, direct_config(dns.port))
    send(d, ["gina@[127.0.0.9]"])
    peer.wait_for_messages(1)
    assert peer.messages[0].rcpt_tos == ["gina@[127.0.0.9]"]
    assert peer.messages[0].content.endswith(MESSAGE)
    d.wait_for_log(r"rcpt=gina@\[127\.0\.0\.9\] host=127\.0\.0\.9\[127\.0\.0\.9\]:25 result=delivered")
    wait_until(lambda: queue_rows(d) == [], what="an empty queue")


def test_direct_mode_uses_opportunistic_starttls_without_verification(make_daemon, peers, certificate, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("direct MX delivery needs a peer on port 25 of 127.0.0.9, and binding port 25 needs root")
    dns = Dnsmasq(free_port(), MX_RECORDS).start(tmp_path)
    try:
        # The certificate names localhost, not mx1.remote.test: opportunistic TLS takes it anyway.
        peer = peers(host="127.0.0.9", port=25, starttls_context=server_context(*certificate)).start()
        d = start_daemon(make_daemon, direct_config(dns.port))
        send(d, [BOB])
        got = peer.wait_for_messages(1)[0]
        assert got.tls
        assert got.content.endswith(MESSAGE)
    finally:
        dns.stop()


# --- connection reuse -------------------------------------------------------------------


def send_batch(d, count, refused=()):
    """`count` messages in one client session, each to its own recipient; those whose index
    is in `refused` go to nobody@remote.test."""
    recipients = ["nobody@remote.test" if i in refused else "user%d@remote.test" % i for i in range(count)]
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as client:
        for i, rcpt in enumerate(recipients):
            assert client.sendmail(ALICE, [rcpt], MESSAGE.replace(b"relay test", b"relay test %d" % i)) == {}
    return recipients


def test_messages_sent_together_share_smarthost_connections_each_delivered_once(make_daemon, peers):
    # Two refused recipients on the way: their 550 (RCPT, then RSET) must not fail the
    # messages that follow them on the same connection.
    peer = peers(rcpt_replies={"nobody@remote.test": "550 5.1.1 no such user"}).start()
    d = start_daemon(make_daemon, smarthost_config(peer.port))
    recipients = send_batch(d, 20, refused={3, 11})
    wait_until(lambda: queue_rows(d) == [], what="an empty queue")
    delivered = sorted(m.rcpt_tos[0] for m in peer.messages)
    assert delivered == sorted(r for r in recipients if r != "nobody@remote.test")  # once each
    for m in peer.messages:
        i = int(m.rcpt_tos[0][4:].split("@")[0])
        assert m.content.endswith(MESSAGE.replace(b"relay test", b"relay test %d" % i))
    # At most 10 connections run at once to a smarthost: 18 messages on fewer than 18
    # connections means they were reused; fewer than 10 is the usual case.
    assert len(peer.connections()) <= 10
    log = since_last_start(d)
    assert len(re.findall(r"rcpt=nobody@remote\.test .*result=bounced", log)) == 2
    assert "result=deferred" not in log
    bounces = pop3_messages(d)
    assert len(bounces) == 2 and all(b"no such user" in b for b in bounces)


def test_a_smarthost_that_takes_one_message_per_connection_still_gets_each_once(make_daemon, peers):
    # The server says 421 to a second MAIL on a connection (as Exim does past its
    # smtp_accept_max_per_connection): the message goes again on a new connection at once,
    # neither deferred nor sent twice. Each DATA takes the server a while, so the ten
    # connections the relay may open are all busy when the last messages arrive: those wait
    # for a connection to finish, and go on it first (the second MAIL, refused).
    peer = peers(mails_per_connection=1, data_delay=2.0).start()
    d = start_daemon(make_daemon, smarthost_config(peer.port))
    recipients = send_batch(d, 14)
    wait_until(lambda: queue_rows(d) == [], what="an empty queue")
    assert sorted(m.rcpt_tos[0] for m in peer.messages) == sorted(recipients)
    assert len(peer.connections()) == 14
    log = since_last_start(d)
    assert "result=deferred" not in log
    assert "sending the next on a new connection" in log
