"""Inbound SPF, DKIM and DMARC end to end: the real daemon, DNS from dnsmasq on loopback,
messages signed at test time by dkimpy (python3-dkim), and the Authentication-Results field
read back over POP3 and parsed by python3-authres."""

import base64
import re
import smtplib
import socket
import subprocess

import authres
import dkim
import pytest

from conftest import DOMAIN, free_port
from peers.smtp_peer import Dnsmasq
from smtp_helpers import ALICE, pop3_messages

OUTSIDE = "127.0.0.9"  # the client's address: not in trusted_networks
HOSTNAME = "mail." + DOMAIN


def txt(name, text):
    """A dnsmasq TXT record; texts past 255 octets are split into several strings (the
    resolver joins them again, RFC 7208 §3.3). On dnsmasq's command line each comma-separated
    part is one string, quotes included, so nothing is quoted (no record here has a comma)."""
    parts = [text[i:i + 255] for i in range(0, len(text), 255)]
    return "--txt-record=%s,%s" % (name, ",".join(parts))


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory):
    pem = subprocess.run(["openssl", "genrsa", "2048"], capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "rsa", "-pubout", "-outform", "DER"], input=pem,
                         capture_output=True, check=True).stdout
    return pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


class Blackhole:
    """A UDP socket that takes DNS queries and never answers: a DNS timeout."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


@pytest.fixture
def world(tmp_path, signing_key, make_daemon):
    hole = Blackhole()
    records = [
        "--local=/test/",
        # good.test: SPF allows the loopback client, DKIM key published, p=reject.
        txt("good.test", "v=spf1 ip4:127.0.0.0/8 -all"),
        txt("_dmarc.good.test", "v=DMARC1; p=reject"),
        txt("sel._domainkey.good.test", signing_key[1]),
        # The forger's own domain passes SPF, but aligns with nobody's From.
        txt("forger.test", "v=spf1 +all"),
        txt("bank.test", "v=spf1 -all"),
        txt("_dmarc.bank.test", "v=DMARC1; p=reject"),
        txt("shop.test", "v=spf1 -all"),
        txt("_dmarc.shop.test", "v=DMARC1; p=quarantine"),
        # slow.test is forwarded to a server that never answers.
        "--server=/slow.test/127.0.0.1#%d" % hole.port,
    ]
    dns = Dnsmasq(free_port(), records).start(tmp_path)
    # POP3 reads the mailbox from 127.0.0.1, outside trusted_networks here.
    extra = ("auth:\n  plaintext_without_tls: always\n"
             "relay:\n  dns_servers: [\"127.0.0.1:%d\"]\n"
             "mail_auth:\n  dmarc: enforce\n  dns_timeout: 3s\n  subject_tag: \"[SPAM]\"\n"
             % dns.port)
    d = make_daemon(start=False, extra=extra, trusted=("127.0.0.5/32",))
    d.add_user("alice")
    d.start()
    yield d, signing_key[0]
    dns.stop()
    hole.close()


def message(sender, subject, extra_headers=b""):
    return (extra_headers +
            b"From: <" + sender.encode() + b">\r\n"
            b"To: <" + ALICE.encode() + b">\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <" + subject.replace(" ", "-").encode() + b"@test>\r\n"
            b"\r\n"
            b"Please find the invoice attached.\r\n"
            b".a dot line\r\n")


def send(d, mail_from, data, helo="client.good.test"):
    """Sends from the untrusted address; returns (code, text) of the reply to the data."""
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=60,
                      source_address=(OUTSIDE, 0)) as client:
        client.ehlo(helo)
        assert client.mail(mail_from)[0] == 250
        assert client.rcpt(ALICE)[0] == 250
        code, text = client.data(data)
        return code, text


def auth_results(stored):
    """The Authentication-Results fields of a stored message, unfolded, as authres objects."""
    header = stored.split(b"\r\n\r\n", 1)[0].decode()
    fields = re.findall(r"^Authentication-Results:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*", header,
                        re.M)
    out = []
    for f in fields:
        text = re.sub(r"\r\n([ \t])", r"\1", f)
        try:
            out.append(authres.AuthenticationResultsHeader.parse(text))
        except authres.core.SyntaxError as e:
            raise AssertionError("authres cannot parse %r: %s" % (text, e))
    return out


def results_of(field):
    """Method -> result, the first of each method (SPF's MAIL FROM comes before its HELO)."""
    out = {}
    for r in field.results:
        out.setdefault(r.method, r.result)
    return out


def test_good_signed_message_passes_spf_dkim_dmarc_and_forged_results_are_removed(world):
    d, key = world
    forged = (b"Authentication-Results: " + HOSTNAME.encode() +
              b"; dkim=pass header.d=bank.test; dmarc=pass header.from=bank.test\r\n"
              b"Authentication-Results: other.example; spf=pass smtp.mailfrom=x@good.test\r\n")
    body = message("alice@good.test", "good one")
    signature = dkim.sign(body, b"sel", b"good.test", key,
                          include_headers=[b"from", b"to", b"subject", b"message-id"])
    code, _ = send(d, "alice@good.test", forged + signature + body)
    assert code == 250
    [stored] = pop3_messages(d)
    fields = auth_results(stored)
    ours = [f for f in fields if f.authserv_id == HOSTNAME]
    assert len(ours) == 1, stored[:1500]
    results = results_of(ours[0])
    assert results == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
    spf = [r for r in ours[0].results if r.method == "spf"][0]
    assert [(p.type, p.name, p.value) for p in spf.properties] == [
        ("smtp", "mailfrom", "alice@good.test")]
    # The HELO identity is checked too: client.good.test publishes no SPF record.
    helo = [r for r in ours[0].results if r.method == "spf"][1]
    assert (helo.result, helo.properties[0].name) == ("none", "helo")
    dkim_result = [r for r in ours[0].results if r.method == "dkim"][0]
    assert ("header", "d", "good.test") in [(p.type, p.name, p.value)
                                            for p in dkim_result.properties]
    # The foreign one stays: it does not claim to be from this host.
    assert [f.authserv_id for f in fields] == [HOSTNAME, "other.example"]
    assert b"X-Spam-Flag" not in stored
    assert b"Subject: good one\r\n" in stored
    assert re.search(r"spf=pass dkim=pass dmarc=pass", d.log())


def test_tampered_signature_fails_dkim_and_dmarc_still_passes_on_spf(world):
    d, key = world
    body = message("alice@good.test", "tampered")
    signature = dkim.sign(body, b"sel", b"good.test", key)
    code, _ = send(d, "alice@good.test", signature + body.replace(b"invoice", b"INVOICE"))
    assert code == 250
    [stored] = pop3_messages(d)
    [ours] = [f for f in auth_results(stored) if f.authserv_id == HOSTNAME]
    assert results_of(ours) == {"spf": "pass", "dkim": "fail", "dmarc": "pass"}
    # RFC 6376 §6.3: a signature that fails is treated as none, so no tag.
    assert b"X-Spam-Flag" not in stored and b"[SPAM]" not in stored


def test_dmarc_reject_forgery_is_refused_with_550_and_nothing_stored(world):
    d, _ = world
    code, text = send(d, "mallory@forger.test", message("ceo@bank.test", "pay now"),
                      helo="forger.test")
    assert code == 550
    assert text.startswith(b"5.7.1")
    assert pop3_messages(d) == []
    assert re.search(r"spf=pass dkim=none dmarc=fail action=reject", d.log())


def test_dmarc_quarantine_forgery_is_delivered_tagged(world):
    d, _ = world
    code, _ = send(d, "mallory@forger.test", message("orders@shop.test", "your order"),
                   helo="forger.test")
    assert code == 250
    [stored] = pop3_messages(d)
    [ours] = [f for f in auth_results(stored) if f.authserv_id == HOSTNAME]
    assert results_of(ours)["dmarc"] == "fail"
    assert b"\r\nX-Spam-Flag: YES\r\n" in stored
    assert b"\r\nSubject: [SPAM] your order\r\n" in stored


def test_dns_timeout_gives_temperror_and_the_message_is_delivered_tagged(world):
    d, _ = world
    code, _ = send(d, "someone@slow.test", message("someone@slow.test", "slow dns"),
                   helo="slow.test")
    assert code == 250
    [stored] = pop3_messages(d)
    [ours] = [f for f in auth_results(stored) if f.authserv_id == HOSTNAME]
    results = results_of(ours)
    assert results["spf"] == "temperror"
    assert results["dmarc"] == "temperror"
    assert b"\r\nX-Spam-Flag: YES\r\n" in stored
    assert b"\r\nSubject: [SPAM] slow dns\r\n" in stored
