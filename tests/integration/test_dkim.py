"""DKIM signing of outbound mail. Keys are made with `postroom dkim`, messages are submitted
through the real daemon and received by a real SMTP peer (aiosmtpd), in smarthost and in
direct mode, and every signature is checked by implementations nobody here wrote: dkimpy
(Debian's python3-dkim) and OpenDKIM (the opendkim filter's verifier in its test mode, -t),
both given the TXT records the public keys give, derived here with openssl, not with
postroom. dnsmasq serves the same records, and the MX of the direct-mode tests."""

import base64
import poplib
import os
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import dkim
import pytest

from conftest import DOMAIN, PASSWORD
from peers.smtp_peer import Peer

ALICE = "alice@" + DOMAIN
BOB = "bob@remote.test"
IS_ROOT = os.geteuid() == 0
# Port 53 of an address of its own for dnsmasq.
DNS_ADDRESS = "127.0.53.1"
MX_ADDRESS = "127.0.0.9"

needs_root = pytest.mark.skipif(not IS_ROOT, reason="DNS on port 53 and an MX peer on port 25 need "
                                "root; CI runs as root")


def headers(subject, extra=b""):
    return (b"From: Alice <alice@example.test>\r\n"
            b"To: Bob <bob@remote.test>\r\n"
            b"Subject: " + subject + b"\r\n"
            b"Date: Wed, 02 Dec 2026 06:00:00 +0000\r\n"
            b"Message-ID: <" + subject.replace(b" ", b"-") + b"@example.test>\r\n" + extra)


SMALL = headers(b"small") + b"\r\nHello Bob,\r\nsee you at ten.\r\n-- \r\nAlice\r\n"
EIGHT_BIT = (headers(b"8bit", b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                              b"Content-Transfer-Encoding: 8bit\r\n")
             + b"\r\n" + "Grüße aus Köln, très bien, 日本語\r\n".encode() * 20)
DOTS = (headers(b"dots") + b"\r\n.leading dot\r\n..two dots\r\n.\r\n. \r\nend\r\n")


def big_message():
    """25 MiB of body whose lines relaxed canonicalization changes (trailing and repeated
    whitespace), some dot-stuffed on the wire, some 8-bit."""
    line = b"line %07d  with\t\tspaces and a trailing tab\t \r\n"
    lines = []
    size = 0
    i = 0
    while size < 25 * 1024 * 1024:
        text = line % i
        if i % 97 == 0:
            text = b"." + text
        if i % 89 == 0:
            text = "ünïcödé ".encode() + text
        lines.append(text)
        size += len(text)
        i += 1
    return headers(b"big", b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                           b"Content-Transfer-Encoding: 8bit\r\n") + b"\r\n" + b"".join(lines)


# --- keys and records, derived independently ---------------------------------------------

def dkim_record(pem: Path) -> str:
    """The TXT record for a private key, from openssl (RFC 6376 §3.6.1, RFC 8463 §4)."""
    der = subprocess.run(["openssl", "pkey", "-in", str(pem), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    text = subprocess.run(["openssl", "pkey", "-in", str(pem), "-noout", "-text"],
                          check=True, capture_output=True, text=True).stdout
    if text.startswith("ED25519"):
        return "v=DKIM1; k=ed25519; p=" + base64.b64encode(der[-32:]).decode()
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def key_dir(d):
    return d.workdir / "data" / "dkim" / DOMAIN


def records_of(d):
    """{"SELECTOR._domainkey.example.test": record} for every key file the daemon has."""
    return {"%s._domainkey.%s" % (pem.stem, DOMAIN): dkim_record(pem)
            for pem in sorted(key_dir(d).glob("*.pem"))}


class KeyDns:
    """dnsmasq on DNS_ADDRESS:53 serving the DKIM records (and any other records)."""

    def __init__(self, tmp_path, records, extra=()):
        args = ["/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                "--no-hosts", "--port=53", "--listen-address=" + DNS_ADDRESS, "--bind-interfaces",
                "--pid-file=", "--user=root", "--local=/test/"]
        for name, record in records.items():
            # A TXT record holds strings of at most 255 octets (RFC 1035 §3.3.14).
            chunks = [record[i:i + 250] for i in range(0, len(record), 250)]
            args.append("--txt-record=%s,%s" % (name, ",".join(chunks)))
        args += list(extra)
        self.records = records
        self.log = tmp_path / "keydns.log"
        args += ["--log-queries", "--log-facility=" + str(self.log)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while not (self.log.exists() and "started" in self.log.read_text()):
            if self.proc.poll() is not None:
                raise AssertionError("dnsmasq exited: %s" % self.proc.stderr.read().decode())
            if time.time() > deadline:
                raise AssertionError("dnsmasq did not start")
            time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


# --- verifiers ----------------------------------------------------------------------------

def signatures(content):
    head = content.split(b"\r\n\r\n", 1)[0]
    return re.findall(rb"^DKIM-Signature:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head, re.M)


def only_signature(content, index):
    """The message with every DKIM-Signature field but the index-th removed."""
    head, body = content.split(b"\r\n\r\n", 1)
    fields = re.findall(rb"[^\r\n]+\r\n(?:[ \t][^\r\n]*\r\n)*", head + b"\r\n")
    kept, seen = [], 0
    for field in fields:
        if field.lower().startswith(b"dkim-signature:"):
            seen += 1
            if seen - 1 != index:
                continue
        kept.append(field)
    return b"".join(kept) + b"\r\n" + body


def dkimpy_verify(content, records, index):
    def dnsfunc(name, timeout=5):
        return records.get(name.decode().rstrip("."), "").encode()
    try:
        return dkim.DKIM(content).verify(idx=index, dnsfunc=dnsfunc)
    except dkim.DKIMException:  # a body hash mismatch is raised, not returned
        return False


def opendkim_verify(content, dns, tmp_path):
    """OpenDKIM's verdict on the one signature in `content`, from the opendkim filter's test
    mode (-t) with the key records as its TestDNSData: (ok, what it said). Its files live in
    a private directory under /run: opendkim refuses a configuration below a directory that
    others may write (/tmp)."""
    work = Path(tempfile.mkdtemp(prefix="postroom-test-opendkim-", dir="/run"))
    try:
        keys = work / "keys"
        keys.write_text("".join("%s %s\n" % (name, record) for name, record in dns.records.items()))
        conf = work / "opendkim.conf"
        conf.write_text("Mode v\nSyslog no\nTestDNSData %s\n" % keys)
        message = work / "verify.eml"
        message.write_bytes(content)
        result = subprocess.run(["/usr/sbin/opendkim", "-x", str(conf), "-t", str(message)],
                                capture_output=True, timeout=120)
        said = (result.stdout + result.stderr).decode(errors="replace")
        return result.returncode == 0 and re.search(r"verification \(.*\) succeeded", said) is not None, said
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_signed(content, records, algorithms=("rsa-sha256", "ed25519-sha256"), dns=None, tmp_path=None):
    """Both verifiers accept each signature alone; returns the signature fields. dkimpy takes
    about 6 s per signature of a 25 MiB message, so for one that big it checks the first
    signature only (OpenDKIM, at about 1 s, checks each) and the body hashes must agree."""
    sigs = signatures(content)
    big = len(content) > 1024 * 1024
    if big:
        hashes = {re.sub(rb"\s+", b"", s).split(b"bh=")[1].split(b";")[0] for s in sigs}
        assert len(hashes) == 1
    assert len(sigs) == len(algorithms), sigs
    for index, algorithm in enumerate(algorithms):
        sig = re.sub(rb"\s+", b"", sigs[index])
        assert b"a=" + algorithm.encode() + b";" in sig
        assert b"c=relaxed/relaxed;" in sig and b"d=example.test;" in sig
        # From, To, Subject, Date and Message-ID are signed and oversigned.
        h = re.search(rb"(?:^|;)h=([^;]*)", sig).group(1).lower().split(b":")
        for name in (b"from", b"to", b"subject", b"date", b"message-id"):
            assert h.count(name) == 2, (name, h)
        if index == 0 or not big:
            assert dkimpy_verify(content, records, index), "dkimpy rejects signature %d" % index
        if dns:
            ok, why = opendkim_verify(only_signature(content, index), dns, tmp_path)
            assert ok, "OpenDKIM rejects signature %d: %s" % (index, why)
    return sigs


def tamper(content, old, new):
    assert old in content
    return content.replace(old, new, 1)


# --- the daemon ---------------------------------------------------------------------------

def make_signing_daemon(make_daemon, certificate, relay, keys=(("r1", "rsa"), ("e1", "ed25519")),
                        activate=True, dkim_config="", start=True):
    d = make_daemon(start=False, trusted=None, tls=certificate,
                    listen={"smtp": ["127.0.0.1:0"], "submission": ["127.0.0.1:0"],
                            "pop3": ["127.0.0.1:0"]},
                    extra=relay + "limits:\n  max_message_size: 40MiB\n" + dkim_config)
    d.add_user("alice")
    for selector, algorithm in keys:
        d.admin("dkim", "generate", DOMAIN, "--selector", selector, "--algorithm", algorithm)
        if activate:
            d.admin("dkim", "activate", DOMAIN, selector)
    return d.start() if start else d


def submit(d, content, recipients=(BOB,)):
    """Submission (587) with STARTTLS and AUTH, as an office PC sends."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", d.ports["submission"], timeout=120) as client:
        client.starttls(context=context)
        client.login(ALICE, PASSWORD)
        assert client.sendmail(ALICE, list(recipients), content, mail_options=["BODY=8BITMIME"]) == {}


def smarthost(port):
    return ("relay:\n  mode: smarthost\n  smarthost:\n    host: 127.0.0.1\n    port: %d\n"
            "    tls: none\n  retry_schedule: [1s]\n" % port)


def direct(dns_address, dns_port):
    return ('relay:\n  mode: direct\n  dns_servers: ["%s:%d"]\n  retry_schedule: [1s]\n'
            % (dns_address, dns_port))


@pytest.fixture
def peers():
    started = []

    def make(**kwargs):
        peer = Peer(**kwargs).start()
        started.append(peer)
        return peer

    yield make
    for peer in started:
        peer.stop()


def received(peer, count):
    """The messages the peer got, without the Received field the relay does not sign."""
    return [m.content for m in peer.wait_for_messages(count, timeout=120)[:count]]


# --- key management -----------------------------------------------------------------------

def test_generate_list_activate_rotate_and_no_private_key_in_any_output(make_daemon):
    d = make_daemon(start=False)
    outputs = []

    def admin(*args, check=True):
        result = d.admin(*args, check=check)
        outputs.append(result.stdout + result.stderr)
        return result

    first = admin("dkim", "generate", DOMAIN, "--selector", "r1")
    assert "r1._domainkey.example.test. IN TXT" in first.stdout
    admin("dkim", "generate", DOMAIN.upper(), "--algorithm=ed25519", "--selector", "e1")
    pems = {p.stem: p for p in key_dir(d).glob("*.pem")}
    assert sorted(pems) == ["e1", "r1"]
    for pem in pems.values():
        assert pem.stat().st_mode & 0o777 == 0o600
        assert pem.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert key_dir(d).stat().st_mode & 0o777 == 0o700
    # The record printed is the one openssl derives from the private key.
    assert dkim_record(pems["r1"]) in first.stdout

    def listed():
        rows = [line.split("\t") for line in admin("dkim", "list").stdout.splitlines()]
        return {row[1]: row for row in rows}

    rows = listed()
    assert rows["r1"][:5] == [DOMAIN, "r1", "rsa", "published", "r1._domainkey.example.test"]
    assert rows["e1"][:4] == [DOMAIN, "e1", "ed25519", "published"]
    assert rows["r1"][5] == dkim_record(pems["r1"])
    assert rows["e1"][5] == dkim_record(pems["e1"])

    admin("dkim", "activate", DOMAIN, "r1")
    assert listed()["r1"][3] == "active"
    admin("dkim", "generate", DOMAIN, "--selector", "r2")
    rows = listed()
    assert (rows["r1"][3], rows["r2"][3]) == ("active", "published")  # r2 published, r1 still signs
    out = admin("dkim", "activate", DOMAIN, "r2").stdout
    assert "retired example.test r1" in out
    rows = listed()
    assert (rows["r1"][3], rows["r2"][3], rows["e1"][3]) == ("retired", "active", "published")

    # Refusals: a name taken, a domain not ours, a selector that is no DNS label, a bad
    # algorithm (usage), an unknown key.
    r1_before = pems["r1"].read_text()
    assert admin("dkim", "generate", DOMAIN, "--selector", "r1", check=False).returncode == 1
    assert admin("dkim", "generate", "other.test", check=False).returncode == 1
    assert admin("dkim", "generate", DOMAIN, "--selector", "../../x", check=False).returncode == 1
    assert admin("dkim", "generate", DOMAIN, "--algorithm", "dsa", check=False).returncode == 2
    assert admin("dkim", "activate", DOMAIN, "nope", check=False).returncode == 1
    assert pems["r1"].read_text() == r1_before  # never overwritten

    secrets = [line for pem in key_dir(d).glob("*.pem") for line in pem.read_text().splitlines()
               if "-----" not in line]
    assert secrets
    for text in outputs:
        assert "PRIVATE" not in text
        for line in secrets:
            assert line not in text


# --- signing through the real daemon ------------------------------------------------------

@needs_root
def test_messages_leaving_by_smarthost_are_signed_and_verify(make_daemon, certificate, peers, tmp_path):
    peer = peers()
    d = make_signing_daemon(make_daemon, certificate, smarthost(peer.port))
    records = records_of(d)
    dns = KeyDns(tmp_path, records)
    try:
        sent = [SMALL, EIGHT_BIT, DOTS, big_message()]
        for content in sent:
            submit(d, content)
        got = received(peer, len(sent))
        by_subject = {re.search(rb"Subject: (\S+)", m).group(1): m for m in got}
        for content in sent:
            subject = re.search(rb"Subject: (\S+)", content).group(1)
            message = by_subject[subject]
            assert message.endswith(content.split(b"\r\n\r\n", 1)[1])  # body as sent
            check_signed(message, records, dns=dns, tmp_path=tmp_path)
        # A changed body, a changed Subject, or a second From added on the way: both
        # verifiers now refuse (the checks above could fail).
        small = by_subject[b"small"]
        for forged in (tamper(small, b"see you at ten", b"see you at two"),
                       tamper(small, b"Subject: small", b"Subject: smalL"),
                       tamper(small, b"From: Alice", b"From: Mallory <m@evil.test>\r\nFrom: Alice")):
            for index in (0, 1):
                assert not dkimpy_verify(forged, records, index)
                ok, _ = opendkim_verify(only_signature(forged, index), dns, tmp_path)
                assert not ok
        big = tamper(by_subject[b"big"], b"line 0123456", b"line 0123457")
        ok, _ = opendkim_verify(only_signature(big, 1), dns, tmp_path)
        assert not ok
        d.wait_for_log(r"dkim-sign=ok d=example\.test s=r1,e1")
    finally:
        dns.stop()


@needs_root
def test_messages_leaving_directly_by_mx_are_signed_and_verify(make_daemon, certificate, peers, tmp_path):
    peer = peers(host=MX_ADDRESS, port=25)
    d = make_signing_daemon(make_daemon, certificate, direct(DNS_ADDRESS, 53), start=False)
    records = records_of(d)
    dns = KeyDns(tmp_path, records, ["--mx-host=remote.test,mx1.remote.test,10",
                                     "--host-record=mx1.remote.test," + MX_ADDRESS])
    try:
        d.start()
        sent = [SMALL, EIGHT_BIT, DOTS, big_message()]
        for content in sent:
            submit(d, content)
        got = received(peer, len(sent))
        assert len(got) == 4
        for message in got:
            check_signed(message, records, dns=dns, tmp_path=tmp_path)
        d.wait_for_log(r"rcpt=bob@remote.test host=mx1\.remote\.test\[127\.0\.0\.9\]:25 result=delivered")
        small = [m for m in got if b"Subject: small" in m][0]
        ok, _ = opendkim_verify(only_signature(tamper(small, b"see you at ten", b"see you at two"), 1), dns, tmp_path)
        assert not ok
    finally:
        dns.stop()


def test_mail_from_outside_and_local_mail_are_not_signed(make_daemon, certificate, peers):
    peer = peers()
    d = make_signing_daemon(make_daemon, certificate, smarthost(peer.port))
    # An unauthenticated client outside trusted_networks, to a mailbox here.
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as client:
        assert client.sendmail("someone@remote.test", [ALICE], SMALL) == {}
    # A logged-in user, to a mailbox here only: it never leaves, nothing to sign.
    submit(d, SMALL, recipients=[ALICE])

    client = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=30)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    client.stls(context)
    client.user(ALICE)
    client.pass_(PASSWORD)
    stored = [b"\r\n".join(client.retr(i + 1)[1]) for i in range(client.stat()[0])]
    client.quit()
    assert len(stored) == 2
    for message in stored:
        assert b"DKIM-Signature" not in message
    # The same user to another domain: signed.
    submit(d, SMALL)
    assert len(signatures(received(peer, 1)[0])) == 2


def test_a_published_key_signs_only_once_activated_and_reloaded(make_daemon, certificate, peers):
    peer = peers()
    d = make_signing_daemon(make_daemon, certificate, smarthost(peer.port),
                            keys=(("r1", "rsa"),), activate=False)
    submit(d, SMALL)
    assert signatures(received(peer, 1)[0]) == []  # published only: its record may not be in DNS yet
    d.admin("dkim", "activate", DOMAIN, "r1")
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for_log(r"dkim: key domain=example\.test selector=r1 algorithm=rsa state=active")
    submit(d, SMALL)
    message = received(peer, 2)[1]
    check_signed(message, records_of(d), algorithms=("rsa-sha256",))

    # Rotation: r2 is published (r1 still signs), then activated: r2 signs, r1 is retired.
    d.admin("dkim", "generate", DOMAIN, "--selector", "r2")
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for_log(r"selector=r2 algorithm=rsa state=published")
    submit(d, SMALL)
    assert b"s=r1;" in re.sub(rb"\s+", b"", signatures(received(peer, 3)[2])[0])
    d.admin("dkim", "activate", DOMAIN, "r2")
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for_log(r"selector=r1 algorithm=rsa state=retired")
    submit(d, SMALL)
    message = received(peer, 4)[3]
    sig = check_signed(message, records_of(d), algorithms=("rsa-sha256",))[0]
    assert b"s=r2;" in re.sub(rb"\s+", b"", sig)
    # No private key material in the daemon's log.
    log = d.log()
    assert "PRIVATE" not in log
    for pem in key_dir(d).glob("*.pem"):
        for line in pem.read_text().splitlines()[1:-1]:
            assert line not in log


def test_a_key_published_for_activate_after_signs_without_an_admin(make_daemon, certificate, peers):
    peer = peers()
    d = make_signing_daemon(make_daemon, certificate, smarthost(peer.port),
                            keys=(("e1", "ed25519"),), activate=False,
                            dkim_config="dkim:\n  activate_after: 0s\n")
    assert d.admin("dkim", "list").stdout.split("\t")[3] == "active"
    submit(d, SMALL)
    check_signed(received(peer, 1)[0], records_of(d), algorithms=("ed25519-sha256",))
