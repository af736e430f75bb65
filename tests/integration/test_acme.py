"""ACME end to end against the real Pebble: certificates obtained with http-01 and tls-alpn-01,
validated by Pebble against the daemon's own HTTP and HTTPS listeners; a short-lived certificate
renewed and the new one served by POP3S and submissions while a connection made before keeps
its session; a challenge Pebble cannot validate reported in `postroom status`."""

import json
import re
import signal
import socket
import ssl

import pytest

from conftest import free_port
from peers.pebble import Pebble
from peers.smtp_peer import Dnsmasq
from smtp_helpers import wait_until

# Every name under example.test is the daemon on 127.0.0.1; other .test names do not exist.
DNS_RECORDS = ["--local=/test/", "--address=/example.test/127.0.0.1"]


@pytest.fixture
def acme_world(tmp_path, certificate):
    """dnsmasq, then a factory for Pebble validating against fixed ports for the daemon."""
    dns = Dnsmasq(free_port(), DNS_RECORDS).start(tmp_path)
    pebbles = []

    def pebble(validity=None):
        ports = {"http": free_port(), "https": free_port()}
        p = Pebble(tmp_path, certificate[0], certificate[1], ports["http"], ports["https"], dns.port,
                   validity=validity).start()
        pebbles.append(p)
        return p, ports

    yield pebble
    for p in pebbles:
        p.stop()
    dns.stop()


def acme_config(pebble, certificate, challenge, names=None):
    lines = ["acme:",
             "  directory_url: %s" % pebble.directory,
             "  contact: postmaster@example.test",
             "  challenge: %s" % challenge,
             "  ca_bundle: %s" % certificate[0]]
    if names:
        lines.append("  names: [%s]" % ", ".join(names))
    return "\n".join(lines) + "\n"


def peer_certificate(port, root_file, name="mail.example.test", alpn=None):
    """The DER certificate a verifying client gets on `port` (implicit TLS)."""
    context = ssl.create_default_context(cafile=str(root_file))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=name) as tls:
            return tls.getpeercert(binary_form=True)


def installed(d):
    return len(re.findall(r"acme: certificate for \S+ installed", d.log()))


def status_json(d):
    result = d.admin("status", "--json", check=False)
    return json.loads(result.stdout)


def test_http01_certificate_renewed_and_served_by_pop3s_and_submissions(make_daemon, acme_world,
                                                                      certificate, tmp_path):
    # Pebble issues certificates valid for 9 s: renewal is due 6 s after each is issued.
    pebble, ports = acme_world(validity=9)
    d = make_daemon(listen={"http": ["127.0.0.1:%d" % ports["http"]], "pop3s": ["127.0.0.1:0"],
                            "submissions": ["127.0.0.1:0"]},
                    extra=acme_config(pebble, certificate, "http-01"))
    wait_until(lambda: installed(d) >= 1, 15, "a first certificate")
    root = tmp_path / "pebble-root.pem"
    root.write_text(pebble.root())
    # The names of the box: hostname, autoconfig. and mta-sts. of the domain, each validated
    # by Pebble fetching its token from the daemon's HTTP listener.
    assert re.search(r"acme: certificate for mail.example.test,autoconfig.example.test,"
                     r"mta-sts.example.test installed", d.log())
    assert len(re.findall(r"GET /.well-known/acme-challenge/\S+ status=200", d.log())) >= 3
    first = peer_certificate(d.ports["pop3s"], root)
    assert peer_certificate(d.ports["submissions"], root, name="autoconfig.example.test") == first
    key = (d.workdir / "data" / "acme" / "key.pem")
    assert key.stat().st_mode & 0o777 == 0o600
    assert (d.workdir / "data" / "acme" / "account.key").stat().st_mode & 0o777 == 0o600

    # A POP3S session opened on the first certificate stays open across the renewal.
    context = ssl.create_default_context(cafile=str(root))
    old = context.wrap_socket(socket.create_connection(("127.0.0.1", d.ports["pop3s"]), timeout=10),
                              server_hostname="mail.example.test")
    assert old.recv(512).startswith(b"+OK")

    wait_until(lambda: installed(d) >= 2, 20, "a renewal")
    second = peer_certificate(d.ports["pop3s"], root)
    assert second != first
    assert peer_certificate(d.ports["submissions"], root) == second
    assert old.getpeercert(binary_form=True) == first
    old.sendall(b"CAPA\r\n")
    assert old.recv(512).startswith(b"+OK")
    old.close()

    status = status_json(d)
    assert status["acme"]["state"] == "valid"
    assert status["acme"]["failures"] == 0
    assert status["certificate"]["file"].endswith("acme/cert.pem")


def test_tls_alpn01_certificate_then_a_failing_name_reported_in_status(make_daemon, acme_world,
                                                                      certificate, tmp_path):
    pebble, ports = acme_world()
    d = make_daemon(listen={"https": ["127.0.0.1:%d" % ports["https"]], "pop3s": ["127.0.0.1:0"]},
                    extra=acme_config(pebble, certificate, "tls-alpn-01", names=["mail.example.test"]))
    wait_until(lambda: installed(d) >= 1, 15, "a certificate by tls-alpn-01")
    root = tmp_path / "pebble-root.pem"
    root.write_text(pebble.root())
    cert = peer_certificate(d.ports["https"], root)
    assert peer_certificate(d.ports["pop3s"], root) == cert
    # The validation happened over TLS with ALPN acme-tls/1 only: no HTTP listener exists.
    assert "http" not in d.ports

    # A name that does not resolve cannot be validated: the daemon keeps its certificate,
    # logs the failure, and postroom status says why and how long the certificate lasts.
    config = d.config.read_text().replace("names: [mail.example.test]",
                                          "names: [mail.example.test, mail.nowhere.test]")
    d.config.write_text(config)
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for_log(r"acme: ERROR: obtaining a certificate for mail.example.test,mail.nowhere.test "
                   r"failed \(attempt 1\): mail.nowhere.test")
    status = wait_until(lambda: (lambda s: s if s["acme"]["state"] == "failing" else None)(status_json(d)),
                        15, "status reporting the failure")
    assert "mail.nowhere.test" in status["acme"]["error"]
    assert status["acme"]["failures"] == 1
    assert status["acme"]["days_left"] > 300  # Pebble's default lifetime is years
    assert status["acme"]["next_attempt"] > status["acme"]["last_failure"]
    text = d.admin("status", check=False).stdout
    assert "acme:         FAILING: 1 attempt(s) failed" in text
    assert "mail.nowhere.test" in text
    assert peer_certificate(d.ports["https"], root) == cert
