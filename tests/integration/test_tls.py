"""Issue 5: TLS end to end with clients nobody here wrote: STARTTLS, STLS, implicit TLS on
submissions and pop3s, protocol versions, the STARTTLS injection class (CVE-2011-0411),
certificate reload on SIGHUP, and the start-up errors an admin sees."""

import hashlib
import poplib
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import DOMAIN, PASSWORD, POSTROOM, POSTROOMD, Daemon

ALL_LISTENERS = {name: ["127.0.0.1:0"] for name in ("smtp", "submission", "submissions", "pop3", "pop3s")}
HOST = "127.0.0.1"


# --- helpers shared with test_auth.py ------------------------------------------------------

def client_context(cert):
    """A client context that verifies the daemon against the test's self-signed certificate."""
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = True
    return ctx


def tls_daemon(make_daemon, certificate, users=("alice",), **kwargs):
    kwargs.setdefault("listen", ALL_LISTENERS)
    d = make_daemon(start=False, tls=certificate, **kwargs)
    for user in users:
        d.add_user(user)
    return d.start()


class SourcePOP3(poplib.POP3):
    """poplib.POP3 whose socket is bound to a chosen loopback source address."""

    def __init__(self, host, port, source, timeout=15):
        self._source = source
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self._source, 0))


class SourcePOP3_SSL(poplib.POP3_SSL):
    def __init__(self, host, port, source, context, timeout=15):
        self._source = source
        super().__init__(host, port, timeout=timeout, context=context)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout, source_address=(self._source, 0))
        return self.context.wrap_socket(sock, server_hostname=self.host)


def smtp(port, source=HOST, timeout=15):
    s = smtplib.SMTP(HOST, port, timeout=timeout, source_address=(source, 0))
    s.ehlo("client.test")
    return s


def pop3(port, source=HOST):
    return SourcePOP3(HOST, port, source)


def assert_no_password_logged(d, *passwords):
    log = d.log()
    for password in (PASSWORD,) + passwords:
        assert password not in log, "a password reached the log"


def read_reply(sock_file):
    """One SMTP reply (all its lines) from a file-like socket reader."""
    lines = []
    while True:
        line = sock_file.readline().decode()
        assert line, "connection closed while waiting for a reply; so far %r" % lines
        lines.append(line.rstrip("\r\n"))
        if len(line) < 4 or line[3] != "-":
            return lines


def fingerprint(port, cert):
    with socket.create_connection((HOST, port), timeout=10) as raw:
        with client_context(cert).wrap_socket(raw, server_hostname=HOST) as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def make_certificate(directory, name="fullchain.pem", key_name="privkey.pem", cn="localhost"):
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / name, directory / key_name
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "2", "-subj", "/CN=%s" % cn,
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


# --- STARTTLS, STLS and implicit TLS ---------------------------------------------------------

@pytest.mark.parametrize("listener", ["smtp", "submission"])
def test_starttls_upgrades_and_resets_the_session(make_daemon, certificate, listener):
    d = tls_daemon(make_daemon, certificate)
    s = smtp(d.ports[listener])
    assert s.has_extn("starttls")
    code, _ = s.starttls(context=client_context(certificate[0]))
    assert code == 220
    assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
    # RFC 3207 §4.2: the session is reset, so a command needing EHLO gets 503 until it is repeated.
    code, text = s.docmd("MAIL", "FROM:<alice@%s>" % DOMAIN)
    assert code == 503, text
    s.ehlo("client.test")
    assert not s.has_extn("starttls")  # not offered twice
    assert "PLAIN" in s.esmtp_features.get("auth", "") and "LOGIN" in s.esmtp_features["auth"]
    s.login("alice@" + DOMAIN, PASSWORD)
    s.sendmail("alice@" + DOMAIN, ["alice@" + DOMAIN], "Subject: over %s\r\n\r\nhello\r\n" % listener)
    s.quit()
    p = poplib.POP3_SSL(HOST, d.ports["pop3s"], context=client_context(certificate[0]))
    p.user("alice@" + DOMAIN)
    p.pass_(PASSWORD)
    assert p.stat()[0] == 1
    assert b"Subject: over %s" % listener.encode() in b"\r\n".join(p.retr(1)[1])
    p.quit()


def test_stls_upgrades_pop3(make_daemon, certificate):
    d = tls_daemon(make_daemon, certificate)
    p = pop3(d.ports["pop3"])
    assert "STLS" in p.capa()
    assert p.stls(context=client_context(certificate[0])).startswith(b"+OK")
    assert p.sock.version() in ("TLSv1.2", "TLSv1.3")
    caps = p.capa()
    assert "STLS" not in caps and "USER" in caps
    p.user("alice@" + DOMAIN)
    p.pass_(PASSWORD)
    assert p.stat() == (0, 0)
    p.quit()


def test_implicit_tls_on_submissions_and_pop3s(make_daemon, certificate):
    d = tls_daemon(make_daemon, certificate)
    ctx = client_context(certificate[0])
    with smtplib.SMTP_SSL(HOST, d.ports["submissions"], context=ctx, timeout=15) as s:
        s.ehlo("client.test")
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert not s.has_extn("starttls")
        s.login("alice@" + DOMAIN, PASSWORD)
        s.sendmail("alice@" + DOMAIN, ["alice@" + DOMAIN], "Subject: implicit\r\n\r\nvia 465\r\n")
    p = poplib.POP3_SSL(HOST, d.ports["pop3s"], context=ctx)
    assert "STLS" not in p.capa()
    p.user("alice@" + DOMAIN)
    p.pass_(PASSWORD)
    assert b"Subject: implicit" in b"\r\n".join(p.retr(1)[1])
    p.quit()


def _pinned_context(version):
    """Exactly `version`, every cipher allowed on the client side, so a refusal can only
    come from the server."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


def _handshake(listener, port, version):
    """Connects, upgrades (STARTTLS for submission) and returns the negotiated version."""
    with socket.create_connection((HOST, port), timeout=10) as raw:
        if listener == "submission":
            f = raw.makefile("rb")
            read_reply(f)
            raw.sendall(b"EHLO client.test\r\n")
            read_reply(f)
            raw.sendall(b"STARTTLS\r\n")
            assert read_reply(f)[0].startswith("220")
        with _pinned_context(version).wrap_socket(raw, server_hostname=HOST) as tls:
            return tls.version()


@pytest.mark.parametrize("listener", ["submissions", "pop3s", "submission"])
def test_only_tls_1_2_and_1_3_are_accepted(make_daemon, certificate, listener):
    d = tls_daemon(make_daemon, certificate)
    port = d.ports[listener]
    assert _handshake(listener, port, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert _handshake(listener, port, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    for old in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            _handshake(listener, port, old)
    # The refused handshakes ended their sessions without harming the daemon.
    assert _handshake("pop3s", d.ports["pop3s"], ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    assert "closed" in d.log()


# --- the STARTTLS injection class (CVE-2011-0411) --------------------------------------------

@pytest.mark.parametrize("listener,injected", [("smtp", b"RSET\r\n"), ("submission", b"RSET\r\n"),
                                               ("smtp", b"QUIT\r\n"),
                                               ("smtp", b"MAIL FROM:<evil@example.test>\r\n")])
def test_smtp_command_pipelined_behind_starttls_is_not_executed(make_daemon, certificate, listener, injected):
    d = tls_daemon(make_daemon, certificate)
    with socket.create_connection((HOST, d.ports[listener]), timeout=10) as raw:
        f = raw.makefile("rb")
        assert read_reply(f)[0].startswith("220")
        raw.sendall(b"EHLO client.test\r\n")
        read_reply(f)
        raw.sendall(b"STARTTLS\r\n" + injected)  # one packet
        assert read_reply(f)[0].startswith("220")
        with client_context(certificate[0]).wrap_socket(raw, server_hostname=HOST) as tls:
            tf = tls.makefile("rb")
            tls.sendall(b"EHLO after.test\r\n")
            # The first thing inside TLS answers our EHLO: nothing answers the injected command.
            reply = read_reply(tf)
            assert reply[0].startswith("250-mail.%s" % DOMAIN), reply
            if listener == "smtp":
                # An injected MAIL would have opened a transaction: a fresh one must still work.
                tls.sendall(b"MAIL FROM:<>\r\n")
                assert read_reply(tf)[0].startswith("250"), "injected command changed the state"
            tls.sendall(b"QUIT\r\n")
            assert read_reply(tf)[0].startswith("221")


@pytest.mark.parametrize("injected", [b"CAPA\r\n", b"USER alice@example.test\r\n", b"QUIT\r\n"])
def test_pop3_command_pipelined_behind_stls_is_not_executed(make_daemon, certificate, injected):
    d = tls_daemon(make_daemon, certificate)
    with socket.create_connection((HOST, d.ports["pop3"]), timeout=10) as raw:
        f = raw.makefile("rb")
        assert f.readline().startswith(b"+OK")
        raw.sendall(b"STLS\r\n" + injected)
        assert f.readline().startswith(b"+OK")
        with client_context(certificate[0]).wrap_socket(raw, server_hostname=HOST) as tls:
            tf = tls.makefile("rb")
            # PASS is only valid right after USER: if the injected USER ran, this would be +OK
            # (or the injected CAPA's list would come first).
            tls.sendall(b"PASS " + PASSWORD.encode() + b"\r\n")
            line = tf.readline()
            assert line.startswith(b"-ERR"), line
            tls.sendall(b"USER alice@example.test\r\n")
            assert tf.readline().startswith(b"+OK")
            tls.sendall(b"PASS " + PASSWORD.encode() + b"\r\n")
            assert tf.readline().startswith(b"+OK")
            tls.sendall(b"QUIT\r\n")
            assert tf.readline().startswith(b"+OK")


# --- real clients: openssl s_client, swaks, curl -----------------------------------------------

def s_client(args, commands, cert):
    result = subprocess.run(["openssl", "s_client", "-CAfile", str(cert), "-verify_return_error",
                             "-verify_hostname", "localhost", "-crlf", "-ign_eof", *args],
                            input="".join(c + "\n" for c in commands), capture_output=True, text=True,
                            timeout=30)
    return result.returncode, result.stdout, result.stderr


def test_openssl_s_client_on_every_tls_listener(make_daemon, certificate):
    d = tls_daemon(make_daemon, certificate)
    cert = certificate[0]
    cases = [
        (["-starttls", "smtp", "-connect", "%s:%d" % (HOST, d.ports["smtp"])], ["EHLO c.test", "QUIT"], "221"),
        (["-starttls", "smtp", "-connect", "%s:%d" % (HOST, d.ports["submission"])], ["EHLO c.test", "QUIT"],
         "221"),
        (["-connect", "%s:%d" % (HOST, d.ports["submissions"])], ["EHLO c.test", "QUIT"], "221"),
        (["-starttls", "pop3", "-connect", "%s:%d" % (HOST, d.ports["pop3"])], ["CAPA", "QUIT"], "+OK"),
        (["-connect", "%s:%d" % (HOST, d.ports["pop3s"])], ["CAPA", "QUIT"], "+OK"),
    ]
    for args, commands, expected in cases:
        rc, out, err = s_client(args, commands, cert)
        # Exit 0 also means the daemon ended the session with a TLS close_notify, not a bare EOF.
        assert rc == 0, out + err
        assert "Verify return code: 0 (ok)" in out, out
        assert "Protocol  : TLSv1.3" in out, out
        # The replies, without s_client's own report (which session tickets interleave).
        dialog = [l for l in out.splitlines() if l[:1] in "+-.12345" and not l.startswith("---") and l]
        assert dialog[-1].startswith(expected), dialog
        if "EHLO c.test" in commands:
            assert "250 AUTH PLAIN LOGIN" in dialog and "250-STARTTLS" not in dialog, dialog


def test_swaks_starttls_and_implicit_tls_with_auth(make_daemon, certificate):
    d = tls_daemon(make_daemon, certificate)
    base = ["swaks", "--server", HOST, "--from", "alice@" + DOMAIN, "--to", "alice@" + DOMAIN,
            "--auth-user", "alice@" + DOMAIN, "--auth-password", PASSWORD, "--tls-verify",
            "--tls-ca-path", str(certificate[0]), "--timeout", "20"]
    runs = [["--port", str(d.ports["submission"]), "--tls", "--auth", "PLAIN", "--header", "Subject: swaks 587"],
            ["--port", str(d.ports["submissions"]), "--tlsc", "--auth", "LOGIN", "--header", "Subject: swaks 465"],
            ["--port", str(d.ports["smtp"]), "--tls", "--auth", "LOGIN", "--header", "Subject: swaks 25"]]
    for extra in runs:
        r = subprocess.run(base + extra, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "235 " in r.stdout and "250 " in r.stdout
    p = poplib.POP3_SSL(HOST, d.ports["pop3s"], context=client_context(certificate[0]))
    p.user("alice@" + DOMAIN)
    p.pass_(PASSWORD)
    bodies = [b"\r\n".join(p.retr(i)[1]) for i in range(1, p.stat()[0] + 1)]
    p.quit()
    assert sorted(b.split(b"Subject: ")[1].split(b"\r\n")[0] for b in bodies) == [b"swaks 25", b"swaks 465",
                                                                                 b"swaks 587"]
    assert_no_password_logged(d)


def test_curl_smtp_ssl_reqd_and_pop3s(make_daemon, certificate, tmp_path):
    d = tls_daemon(make_daemon, certificate)
    message = tmp_path / "msg.eml"
    message.write_text("From: alice@%s\r\nSubject: curl\r\n\r\nsent by curl\r\n" % DOMAIN)
    user = "alice@%s:%s" % (DOMAIN, PASSWORD)
    common = ["curl", "-sS", "--cacert", str(certificate[0]), "--max-time", "30", "--user", user]
    for url in ("smtp://%s:%d" % (HOST, d.ports["submission"]), "smtps://%s:%d" % (HOST, d.ports["submissions"])):
        r = subprocess.run(common + ["--ssl-reqd", url, "--mail-from", "alice@" + DOMAIN,
                                     "--mail-rcpt", "alice@" + DOMAIN, "--upload-file", str(message)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    listing = subprocess.run(common + ["pop3s://%s:%d/" % (HOST, d.ports["pop3s"])],
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert [l.split()[0] for l in listing.stdout.splitlines()] == ["1", "2"]
    first = subprocess.run(common + ["pop3s://%s:%d/1" % (HOST, d.ports["pop3s"])],
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0 and "sent by curl" in first.stdout, first.stderr
    # STLS through curl on the plain pop3 port.
    stls = subprocess.run(common + ["--ssl-reqd", "pop3://%s:%d/2" % (HOST, d.ports["pop3"])],
                          capture_output=True, text=True, timeout=60)
    assert stls.returncode == 0 and "sent by curl" in stls.stdout, stls.stderr
    # Without a trusted CA curl must refuse: the daemon really presents the test certificate.
    untrusted = subprocess.run(["curl", "-sS", "--max-time", "30", "pop3s://%s:%d/" % (HOST, d.ports["pop3s"]),
                                "--user", user], capture_output=True, text=True, timeout=60)
    assert untrusted.returncode != 0
    assert_no_password_logged(d)


# --- no tls section, bad certificates ----------------------------------------------------------

def test_without_tls_starttls_and_stls_are_not_offered(make_daemon):
    d = make_daemon(start=False, listen={"smtp": ["127.0.0.1:0"], "submission": ["127.0.0.1:0"],
                                         "pop3": ["127.0.0.1:0"]})
    d.add_user("alice")
    d.start()
    for listener in ("smtp", "submission"):
        s = smtp(d.ports[listener])
        assert not s.has_extn("starttls")
        code, _ = s.docmd("STARTTLS")
        assert code == 454
        s.quit()
    p = pop3(d.ports["pop3"])
    assert "STLS" not in p.capa()
    with pytest.raises(poplib.error_proto):
        p._shortcmd("STLS")
    p.quit()


def run_daemon_expecting_failure(d):
    r = subprocess.run([POSTROOMD, "--config", str(d.config)], capture_output=True, text=True, timeout=30,
                       cwd=d.workdir)
    return r.returncode, r.stderr.strip().splitlines()


@pytest.mark.parametrize("listener", ["submissions", "pop3s"])
def test_tls_listener_without_tls_section_is_a_config_error(tmp_path, listener):
    d = Daemon(tmp_path, listen={listener: ["127.0.0.1:0"]})
    check = subprocess.run([POSTROOM, "--config", str(d.config), "check-config"], capture_output=True, text=True)
    assert check.returncode == 1
    assert "need TLS" in check.stderr and str(d.config) in check.stderr
    rc, lines = run_daemon_expecting_failure(d)
    assert rc == 1 and len(lines) == 1 and "TLS" in lines[0], lines
    assert not d.db.exists()


def test_missing_certificate_or_key_exits_1_naming_the_file(tmp_path, certificate):
    for missing in ("cert", "key"):
        cert = tmp_path / "nope-cert.pem" if missing == "cert" else certificate[0]
        key = tmp_path / "nope-key.pem" if missing == "key" else certificate[1]
        d = Daemon(tmp_path / missing, listen={"submissions": ["127.0.0.1:0"]}, tls=(cert, key))
        rc, lines = run_daemon_expecting_failure(d)
        assert rc == 1 and len(lines) == 1, lines
        assert str(cert if missing == "cert" else key) in lines[0], lines
        assert not d.db.exists()


def test_mismatched_or_garbage_key_exits_1_naming_the_file(tmp_path, certificate):
    _, other_key = make_certificate(tmp_path / "other")
    d = Daemon(tmp_path / "mismatch", listen={"pop3s": ["127.0.0.1:0"]}, tls=(certificate[0], other_key))
    rc, lines = run_daemon_expecting_failure(d)
    assert rc == 1 and len(lines) == 1, lines
    assert str(other_key) in lines[0] and "does not match" in lines[0], lines
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    d = Daemon(tmp_path / "garbage", listen={"pop3s": ["127.0.0.1:0"]}, tls=(garbage, certificate[1]))
    rc, lines = run_daemon_expecting_failure(d)
    assert rc == 1 and len(lines) == 1 and str(garbage) in lines[0] and "PEM certificate" in lines[0], lines
    assert not d.db.exists()


# --- SIGHUP reload ----------------------------------------------------------------------------

def test_sighup_reloads_the_certificate_without_dropping_sessions(make_daemon, tmp_path):
    cert, key = make_certificate(tmp_path / "live")
    d = tls_daemon(make_daemon, (cert, key))
    before = fingerprint(d.ports["submissions"], cert)
    # Sessions opened before the reload, one authenticated on each implicit-TLS listener.
    old_smtp = smtplib.SMTP_SSL(HOST, d.ports["submissions"], context=client_context(cert), timeout=15)
    old_smtp.ehlo("client.test")
    old_smtp.login("alice@" + DOMAIN, PASSWORD)
    old_pop = poplib.POP3_SSL(HOST, d.ports["pop3s"], context=client_context(cert))
    old_pop.user("alice@" + DOMAIN)
    old_pop.pass_(PASSWORD)

    new_cert, new_key = make_certificate(tmp_path / "new")
    shutil.copyfile(new_cert, cert)
    shutil.copyfile(new_key, key)
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for_log(r"reloaded ")

    after = fingerprint(d.ports["submissions"], cert)
    assert after != before
    assert after == hashlib.sha256(ssl.PEM_cert_to_DER_cert(new_cert.read_text())).hexdigest()
    assert fingerprint(d.ports["pop3s"], cert) == after
    # STARTTLS after the reload uses the new certificate too.
    s = smtp(d.ports["submission"])
    s.starttls(context=client_context(cert))
    assert hashlib.sha256(s.sock.getpeercert(binary_form=True)).hexdigest() == after
    s.quit()

    # The old sessions still work, on the old certificate.
    assert hashlib.sha256(old_smtp.sock.getpeercert(binary_form=True)).hexdigest() == before
    old_smtp.sendmail("alice@" + DOMAIN, ["alice@" + DOMAIN], "Subject: before reload\r\n\r\nstill here\r\n")
    old_smtp.quit()
    assert old_pop.noop().startswith(b"+OK")
    old_pop.quit()
    p = poplib.POP3_SSL(HOST, d.ports["pop3s"], context=client_context(cert))
    p.user("alice@" + DOMAIN)
    p.pass_(PASSWORD)
    assert p.stat()[0] == 1
    p.quit()


def test_sighup_with_a_broken_certificate_keeps_the_old_one(make_daemon, tmp_path):
    cert, key = make_certificate(tmp_path / "live")
    d = tls_daemon(make_daemon, (cert, key))
    before = fingerprint(d.ports["pop3s"], cert)
    _, other_key = make_certificate(tmp_path / "other")
    shutil.copyfile(other_key, key)  # now mismatched
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for_log(r"reload failed.*does not match")
    assert fingerprint(d.ports["pop3s"], cert) == before
    assert d.proc.poll() is None
