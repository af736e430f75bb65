"""dns-records prints every record an office needs; served by a real DNS server (dnsmasq)
exactly as printed, check-dns finds them all right; each one broken in turn is reported."""

import subprocess

import pytest

from conftest import DOMAIN, free_port
from peers.dns_zone import dnsmasq_options, parse_zone, txt_strings
from peers.smtp_peer import Dnsmasq

HOST = "mail." + DOMAIN
ADDRESSES = ["192.0.2.10", "2001:db8::10"]


@pytest.fixture
def office(make_daemon, tmp_path):
    """A config (never started) with DKIM keys on disk, and its dns-records output."""
    dns_port = free_port()
    extra = ("public_addresses: [\"192.0.2.10\", \"2001:db8::10\"]\n"
             "relay:\n  mode: direct\n  dns_servers: [\"127.0.0.1:%d\"]\n" % dns_port)
    d = make_daemon(start=False, extra=extra,
                    listen={"smtp": ["127.0.0.1:0"], "submission": ["127.0.0.1:0"], "pop3": ["127.0.0.1:0"]})
    keys = d.workdir / "data" / "dkim" / DOMAIN
    keys.mkdir(parents=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(keys / "s1.pem")], check=True, capture_output=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "ED25519", "-out", str(keys / "e1.pem")],
                   check=True, capture_output=True)
    printed = d.admin("dns-records")
    return d, dns_port, printed.stdout, tmp_path


def check_dns(d, dns_port, records, workdir, extra=()):
    # A fresh directory each time: Dnsmasq.start waits for "started" in its own log.
    run = workdir / ("dns%d" % len(list(workdir.glob("dns*"))))
    run.mkdir()
    dns = Dnsmasq(dns_port, dnsmasq_options(records, extra)).start(run)
    try:
        result = d.admin("check-dns", check=False)
    finally:
        dns.stop()
    lines = result.stdout.splitlines()
    assert lines, result.stderr
    return result.returncode, lines, [l for l in lines if not l.startswith("ok ")]


def test_dns_records_prints_every_record_ready_to_paste(office):
    d, _, text, _ = office
    records = parse_zone(text)
    kinds = {(name, rtype) for name, rtype, _ in records}
    for expected in [(DOMAIN, "MX"), (HOST, "A"), (HOST, "AAAA"), (DOMAIN, "TXT"),
                     ("s1._domainkey." + DOMAIN, "TXT"), ("e1._domainkey." + DOMAIN, "TXT"),
                     ("_dmarc." + DOMAIN, "TXT"), ("_mta-sts." + DOMAIN, "TXT"),
                     ("mta-sts." + DOMAIN, "CNAME"), ("_smtp._tls." + DOMAIN, "TXT"),
                     ("_submission._tcp." + DOMAIN, "SRV"), ("_submissions._tcp." + DOMAIN, "SRV"),
                     ("_pop3._tcp." + DOMAIN, "SRV"), ("_pop3s._tcp." + DOMAIN, "SRV"),
                     ("10.2.0.192.in-addr.arpa", "PTR")]:
        assert expected in kinds, expected
    by_name = {(n, t): v for n, t, v in records}
    assert txt_strings(by_name[(DOMAIN, "TXT")]) == ["v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 ~all"]
    assert txt_strings(by_name[("_dmarc." + DOMAIN, "TXT")]) == ["v=DMARC1; p=none; rua=mailto:postmaster@" + DOMAIN]
    # A 2048-bit RSA key does not fit one 255-octet string: it is split, each part at most 255.
    dkim = txt_strings(by_name[("s1._domainkey." + DOMAIN, "TXT")])
    assert len(dkim) == 2 and all(len(s) <= 255 for s in dkim)
    assert "".join(dkim).startswith("v=DKIM1; k=rsa; p=MIIB")
    assert txt_strings(by_name[("e1._domainkey." + DOMAIN, "TXT")])[0].startswith("v=DKIM1; k=ed25519; p=")
    assert by_name[("_submission._tcp." + DOMAIN, "SRV")] == "10 1 587 %s." % HOST
    assert by_name[("_pop3._tcp." + DOMAIN, "SRV")] == "10 1 110 %s." % HOST
    assert by_name[("_submissions._tcp." + DOMAIN, "SRV")] == "0 0 0 ."  # not offered
    assert by_name[("10.2.0.192.in-addr.arpa", "PTR")] == HOST + "."
    assert "mode: testing" in text  # the MTA-STS policy to serve
    # One domain only, and a domain that is not ours is refused.
    assert d.admin("dns-records", DOMAIN).stdout == text
    other = d.admin("dns-records", "other.test", check=False)
    assert other.returncode == 1 and "not one of the domains" in other.stderr


def test_check_dns_finds_everything_right_as_printed(office):
    d, port, text, workdir = office
    code, lines, bad = check_dns(d, port, parse_zone(text), workdir)
    assert bad == [] and code == 0, "\n".join(lines)
    assert any(l.startswith("ok      DKIM selector s1") and "matches the private key" in l for l in lines)
    assert any(l.startswith("ok      blocklist zen.spamhaus.org: 192.0.2.10: not listed") for l in lines)


def _without(records, name, rtype):
    return [r for r in records if (r[0], r[1]) != (name, rtype)]


def _replace(records, name, rtype, value):
    return [(n, t, value if (n, t) == (name, rtype) else v) for n, t, v in records]


def test_check_dns_reports_each_broken_record(office):
    d, port, text, workdir = office
    records = parse_zone(text)
    by_name = {(n, t): v for n, t, v in records}
    # Another key's public half in place of s1's.
    other = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
                           check=True, capture_output=True).stdout
    pub = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=other,
                         check=True, capture_output=True).stdout
    import base64
    wrong_key = '"v=DKIM1; k=rsa; p=%s"' % base64.b64encode(pub).decode()
    cases = [
        ("MISSING", "MX", _without(records, DOMAIN, "MX"), ()),
        ("WRONG", "MX", _replace(records, DOMAIN, "MX", "10 mx.elsewhere.test."), ()),
        ("WRONG", "address of " + HOST, _replace(records, HOST, "A", "192.0.2.99"), ()),
        ("MISSING", "SPF", _without(records, DOMAIN, "TXT"), ()),
        ("WRONG", "SPF", _replace(records, DOMAIN, "TXT", '"v=spf1 ip4:198.51.100.1 -all"'), ()),
        ("WRONG", "DKIM selector s1", _replace(records, "s1._domainkey." + DOMAIN, "TXT", wrong_key), ()),
        ("MISSING", "DKIM selector e1", _without(records, "e1._domainkey." + DOMAIN, "TXT"), ()),
        ("MISSING", "DMARC", _without(records, "_dmarc." + DOMAIN, "TXT"), ()),
        ("WRONG", "DMARC", _replace(records, "_dmarc." + DOMAIN, "TXT", '"v=DMARC1; p=maybe"'), ()),
        ("MISSING", "MTA-STS", _without(records, "_mta-sts." + DOMAIN, "TXT"), ()),
        ("MISSING", "MTA-STS policy host", _without(records, "mta-sts." + DOMAIN, "CNAME"), ()),
        ("MISSING", "TLS-RPT", _without(records, "_smtp._tls." + DOMAIN, "TXT"), ()),
        ("WRONG", "SRV submission", _replace(records, "_submission._tcp." + DOMAIN, "SRV",
                                             "10 1 2525 %s." % HOST), ()),
        ("MISSING", "SRV pop3", _without(records, "_pop3._tcp." + DOMAIN, "SRV"), ()),
        ("WRONG", "PTR of 192.0.2.10", _replace(records, "10.2.0.192.in-addr.arpa", "PTR",
                                                "host-10.provider.test."), ()),
        ("WRONG", "blocklist zen.spamhaus.org", records,
         ("--host-record=10.2.0.192.zen.spamhaus.org,127.0.0.2",)),
    ]
    assert by_name[(DOMAIN, "MX")]  # the cases start from a complete set
    for status, label, broken, extra in cases:
        code, lines, bad = check_dns(d, port, broken, workdir, extra)
        assert code == 1, (label, lines)
        assert len(bad) == 1, (label, bad)
        assert bad[0].startswith("%-8s%s: " % (status, label)), (label, bad)
    # The wrong DKIM key is named as not matching the private key.
    code, lines, bad = check_dns(d, port, cases[5][2], workdir)
    assert "does not match the private key" in bad[0] and "s1.pem" in bad[0]
