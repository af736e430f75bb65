"""Issue 5: authentication end to end: SMTP AUTH PLAIN and LOGIN on every SMTP listener,
POP3 USER/PASS and SASL PLAIN, submission rules (RFC 6409), the plaintext policy seen from a
trusted and an untrusted source address, and the per-address brute-force lockout."""

import base64
import poplib
import re
import smtplib
import threading

import pytest

from conftest import DOMAIN, PASSWORD
from test_tls import (HOST, SourcePOP3, SourcePOP3_SSL, assert_no_password_logged, client_context, pop3, smtp,
                      tls_daemon)

ALICE = "alice@" + DOMAIN
TRUSTED, UNTRUSTED = "127.0.0.5", "127.0.0.9"
WRONG = "wrong-password-never-logged"


def smtp_auth(s, mechanism, user=ALICE, password=PASSWORD):
    """AUTH with exactly `mechanism`; returns (code, text) instead of raising."""
    s.user, s.password = user, password
    try:
        code, text = s.auth(mechanism, getattr(s, "auth_" + mechanism.lower()), initial_response_ok=True)
    except smtplib.SMTPAuthenticationError as e:  # smtplib raises this for every refusal
        return e.smtp_code, e.smtp_error.decode()
    return code, text.decode()


def raw_auth(s, line):
    """Sends one AUTH line as is, so refusals (538) come back as plain codes."""
    code, text = s.docmd(line)
    return code, text.decode()


def pop3_login(p, user=ALICE, password=PASSWORD):
    try:
        p.user(user)
        return p.pass_(password)
    except poplib.error_proto as e:
        return e.args[0]


def pop3_sasl_plain(p, user=ALICE, password=PASSWORD):
    payload = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
    try:
        return p._shortcmd("AUTH PLAIN " + payload)
    except poplib.error_proto as e:
        return e.args[0]


def plain_payload(user=ALICE, password=PASSWORD):
    return base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()


# --- SMTP AUTH on every listener ------------------------------------------------------------

@pytest.mark.parametrize("listener", ["smtp", "submission", "submissions"])
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtp_auth_plain_and_login_on_every_listener(make_daemon, certificate, listener, mechanism):
    d = tls_daemon(make_daemon, certificate)
    ctx = client_context(certificate[0])
    if listener == "submissions":
        s = smtplib.SMTP_SSL(HOST, d.ports[listener], context=ctx, timeout=15)
        s.ehlo("client.test")
    else:
        s = smtp(d.ports[listener])
        s.starttls(context=ctx)
        s.ehlo("client.test")
    assert mechanism in s.esmtp_features["auth"].split()
    code, _ = smtp_auth(s, mechanism)
    assert code == 235
    # RFC 4954 §4: AUTH is not allowed twice in one session.
    assert raw_auth(s, "AUTH PLAIN " + plain_payload())[0] == 503
    s.quit()
    s = smtplib.SMTP_SSL(HOST, d.ports["submissions"], context=ctx, timeout=15)
    s.ehlo("client.test")
    code, text = smtp_auth(s, mechanism, password=WRONG)
    assert code == 535, text
    s.quit()
    d.wait_for_log(r"auth session=\S+ peer=127\.0\.0\.1 user=%s result=failed" % ALICE)
    assert_no_password_logged(d, WRONG, plain_payload(), plain_payload(password=WRONG),
                              base64.b64encode(PASSWORD.encode()).decode())


def test_smtp_auth_plain_on_port_25_in_plaintext_from_a_trusted_address(make_daemon):
    d = make_daemon(start=False, trusted=("127.0.0.5/32",))
    d.add_user("alice")
    d.start()
    s = smtp(d.ports["smtp"], source=TRUSTED)
    assert "PLAIN" in s.esmtp_features["auth"]
    assert smtp_auth(s, "PLAIN")[0] == 235
    s.quit()


# --- submission (RFC 6409) ------------------------------------------------------------------

def test_submission_requires_auth_and_an_owned_sender(make_daemon, certificate):
    d = tls_daemon(make_daemon, certificate, users=("alice", "bob"))
    d.admin("alias", "add", "sales@" + DOMAIN, ALICE)
    ctx = client_context(certificate[0])
    for port_name in ("submission", "submissions"):
        if port_name == "submission":
            s = smtp(d.ports[port_name])
            s.starttls(context=ctx)
        else:
            s = smtplib.SMTP_SSL(HOST, d.ports[port_name], context=ctx, timeout=15)
        s.ehlo("client.test")
        code, text = s.docmd("MAIL", "FROM:<%s>" % ALICE)
        assert code == 530 and text.startswith(b"5.7.0"), (code, text)
        assert smtp_auth(s, "PLAIN")[0] == 235
        code, text = s.docmd("MAIL", "FROM:<bob@%s>" % DOMAIN)
        assert code == 553 and text.startswith(b"5.7.1"), (code, text)
        code, text = s.docmd("MAIL", "FROM:<someone@elsewhere.test>")
        assert code == 553 and text.startswith(b"5.7.1"), (code, text)
        # An alias that points at the user is one of its own addresses.
        code, _ = s.docmd("MAIL", "FROM:<sales@%s>" % DOMAIN)
        assert code == 250
        # Authenticated users may relay to any domain (queued for the relay).
        assert s.docmd("RCPT", "TO:<friend@elsewhere.test>")[0] == 250
        assert s.docmd("RCPT", "TO:<bob@%s>" % DOMAIN)[0] == 250
        assert s.docmd("RSET")[0] == 250
        s.sendmail("ALICE@" + DOMAIN, ["bob@" + DOMAIN], "Subject: own address\r\n\r\nhi\r\n")
        s.quit()
    p = poplib.POP3_SSL(HOST, d.ports["pop3s"], context=ctx)
    p.user("bob@" + DOMAIN)
    p.pass_(PASSWORD)
    assert p.stat()[0] == 2
    p.quit()


def test_port_25_does_not_relay_for_untrusted_without_auth(make_daemon, certificate):
    d = tls_daemon(make_daemon, certificate, trusted=("127.0.0.5/32",))
    s = smtp(d.ports["smtp"], source=UNTRUSTED)
    s.starttls(context=client_context(certificate[0]))
    s.ehlo("client.test")
    assert s.docmd("MAIL", "FROM:<someone@elsewhere.test>")[0] == 250
    assert s.docmd("RCPT", "TO:<friend@elsewhere.test>")[0] == 554
    assert s.docmd("RSET")[0] == 250
    assert smtp_auth(s, "LOGIN")[0] == 235
    assert s.docmd("MAIL", "FROM:<%s>" % ALICE)[0] == 250
    assert s.docmd("RCPT", "TO:<friend@elsewhere.test>")[0] == 250
    s.quit()


# --- the plaintext policy -------------------------------------------------------------------

def policy_daemon(make_daemon, certificate, policy=None):
    extra = "auth:\n  plaintext_without_tls: %s\n" % policy if policy else ""
    return tls_daemon(make_daemon, certificate, trusted=("127.0.0.5/32",), extra=extra)


def assert_plaintext_refused(d, source):
    for listener in ("smtp", "submission"):
        s = smtp(d.ports[listener], source=source)
        assert not s.has_extn("auth"), s.esmtp_features
        code, text = raw_auth(s, "AUTH PLAIN " + plain_payload())
        assert code == 538 and text.startswith("5.7.11"), (code, text)
        code, text = raw_auth(s, "AUTH LOGIN")
        assert code == 538, (code, text)
        s.quit()
    p = SourcePOP3(HOST, d.ports["pop3"], source)
    caps = p.capa()
    assert "USER" not in caps and "SASL" not in caps, caps
    assert "STLS" in caps
    with pytest.raises(poplib.error_proto):
        p.user(ALICE)
    assert pop3_sasl_plain(p).startswith(b"-ERR")
    p.quit()


def assert_plaintext_allowed(d, source):
    for listener in ("smtp", "submission"):
        s = smtp(d.ports[listener], source=source)
        assert "PLAIN" in s.esmtp_features.get("auth", ""), s.esmtp_features
        assert smtp_auth(s, "LOGIN")[0] == 235
        s.quit()
    p = SourcePOP3(HOST, d.ports["pop3"], source)
    assert "USER" in p.capa() and p.capa()["SASL"] == ["PLAIN"]
    assert pop3_login(p).startswith(b"+OK")
    p.quit()
    p = SourcePOP3(HOST, d.ports["pop3"], source)
    assert pop3_sasl_plain(p).startswith(b"+OK")
    p.quit()


def assert_allowed_inside_tls(d, certificate, source):
    ctx = client_context(certificate[0])
    for listener in ("smtp", "submission"):
        s = smtp(d.ports[listener], source=source)
        s.starttls(context=ctx)
        s.ehlo("client.test")
        assert smtp_auth(s, "PLAIN")[0] == 235
        s.quit()
    p = SourcePOP3(HOST, d.ports["pop3"], source)
    p.stls(context=ctx)
    assert "USER" in p.capa()
    assert pop3_login(p).startswith(b"+OK")
    p.quit()
    p = SourcePOP3_SSL(HOST, d.ports["pop3s"], source, ctx)
    assert pop3_sasl_plain(p).startswith(b"+OK")
    p.quit()


def test_plaintext_policy_trusted_networks_is_the_default(make_daemon, certificate):
    d = policy_daemon(make_daemon, certificate)
    assert_plaintext_refused(d, UNTRUSTED)
    assert_plaintext_allowed(d, TRUSTED)
    assert_allowed_inside_tls(d, certificate, UNTRUSTED)
    assert_allowed_inside_tls(d, certificate, TRUSTED)
    assert_no_password_logged(d, plain_payload())


def test_plaintext_policy_never(make_daemon, certificate):
    d = policy_daemon(make_daemon, certificate, "never")
    assert_plaintext_refused(d, TRUSTED)
    assert_plaintext_refused(d, UNTRUSTED)
    assert_allowed_inside_tls(d, certificate, TRUSTED)
    assert_allowed_inside_tls(d, certificate, UNTRUSTED)


def test_plaintext_policy_always(make_daemon, certificate):
    d = policy_daemon(make_daemon, certificate, "always")
    assert_plaintext_allowed(d, UNTRUSTED)
    assert_plaintext_allowed(d, TRUSTED)
    assert_no_password_logged(d, plain_payload())


# --- brute force ----------------------------------------------------------------------------

LOCKOUT = "auth:\n  lockout_failures: 3\n  failure_delay_max: 1s\n  lockout_window: 15m\n  lockout_duration: 1m\n"


def test_lockout_after_repeated_failures_spares_other_addresses(make_daemon, certificate):
    d = tls_daemon(make_daemon, certificate, extra=LOCKOUT)
    attacker, office = "127.0.0.9", "127.0.0.5"
    # Three different wrong passwords from one address, over one POP3 connection and then SMTP.
    p = SourcePOP3(HOST, d.ports["pop3"], attacker)
    for i in range(2):
        assert pop3_login(p, password=WRONG + str(i)).startswith(b"-ERR")
    p.quit()
    s = smtp(d.ports["smtp"], source=attacker)
    assert smtp_auth(s, "PLAIN", password=WRONG + "2")[0] == 535
    s.quit()
    d.wait_for_log(r"auth session=\S+ peer=127\.0\.0\.9 user=%s result=failed lockout=user" % ALICE)

    # Locked out: the right password fails too, on every protocol.
    p = SourcePOP3(HOST, d.ports["pop3"], attacker)
    assert pop3_login(p).startswith(b"-ERR")
    p.quit()
    s = smtp(d.ports["submission"], source=attacker)
    s.starttls(context=client_context(certificate[0]))
    s.ehlo("client.test")
    assert smtp_auth(s, "LOGIN")[0] == 535
    s.quit()
    d.wait_for_log(r"auth session=\S+ peer=127\.0\.0\.9 user=%s result=locked-out" % ALICE)

    # Another address logs in while the first is locked out.
    p = SourcePOP3(HOST, d.ports["pop3"], office)
    assert pop3_login(p).startswith(b"+OK")
    p.quit()
    s = smtp(d.ports["smtp"], source=office)
    assert smtp_auth(s, "PLAIN")[0] == 235
    s.quit()
    d.wait_for_log(r"auth session=\S+ peer=127\.0\.0\.5 user=%s result=ok" % ALICE)
    # Its success did not lift the lockout of the first address.
    p = SourcePOP3(HOST, d.ports["pop3"], attacker)
    assert pop3_login(p).startswith(b"-ERR")
    p.quit()
    assert_no_password_logged(d, WRONG)
    # One log line per attempt: a locked-out attempt is not also counted as a failure.
    assert len(re.findall(r"peer=127\.0\.0\.9 user=\S+ result=failed", d.log())) == 3


def test_failures_below_the_threshold_do_not_lock_out(make_daemon, certificate):
    d = tls_daemon(make_daemon, certificate, extra=LOCKOUT)
    p = SourcePOP3(HOST, d.ports["pop3"], "127.0.0.7")
    for _ in range(2):
        assert pop3_login(p, password=WRONG).startswith(b"-ERR")
    assert pop3_login(p).startswith(b"+OK")
    p.quit()
    assert "locked out" not in d.log()
    # A success clears the count: two more failures still do not lock the address out.
    p = SourcePOP3(HOST, d.ports["pop3"], "127.0.0.7")
    for _ in range(2):
        assert pop3_login(p, password=WRONG).startswith(b"-ERR")
    assert pop3_login(p).startswith(b"+OK")
    p.quit()
    assert "locked out" not in d.log()


def test_unknown_user_fails_like_a_wrong_password(make_daemon, certificate):
    d = tls_daemon(make_daemon, certificate)
    p = pop3(d.ports["pop3"])
    reply = pop3_login(p, user="nobody@" + DOMAIN)
    assert reply.startswith(b"-ERR")
    p.quit()
    p = pop3(d.ports["pop3"])
    assert pop3_login(p, password=WRONG).split(b" ", 2)[:2] == reply.split(b" ", 2)[:2]
    p.quit()


def test_a_burst_of_logins_does_not_stall_other_sessions(make_daemon, certificate):
    """argon2id runs off the loop, two at a time: while a burst of logins is still being
    verified, an unrelated session gets its answers."""
    # Every login runs argon2id here: remembered logins would end the burst at once.
    d = tls_daemon(make_daemon, certificate,
                   extra="limits:\n  max_connections_per_ip: 100\nauth:\n  verified_login_cache: 0s\n")
    burst = 30
    bystander = smtp(d.ports["smtp"], source=TRUSTED)
    done = []

    def login():
        s = smtplib.SMTP(HOST, d.ports["smtp"], timeout=300)
        s.ehlo("client.test")
        done.append(smtp_auth(s, "PLAIN")[0])
        s.quit()

    threads = [threading.Thread(target=login) for _ in range(burst)]
    for t in threads:
        t.start()
    d.wait_for_log(r"auth session=\S+ peer=127\.0\.0\.1 user=%s result=ok" % ALICE, timeout=120)
    answered_while_busy = []
    for _ in range(5):
        assert bystander.noop()[0] == 250
        answered_while_busy.append(len(done) < burst)
    for t in threads:
        t.join(timeout=300)
    assert done == [235] * burst
    # With 2 verifications at a time a 30-login burst takes many argon2id rounds; a NOOP is
    # one loop turn. If hashing ran on the loop the NOOPs would wait for the whole burst.
    assert answered_while_busy[0], "the loop was blocked by password hashing"
    bystander.quit()


def test_a_remembered_login_skips_argon2id_but_never_a_wrong_or_changed_password(make_daemon, certificate):
    """auth.verified_login_cache: the second login with the same password is answered from
    the digest kept after the first argon2id check; a wrong password still fails and counts,
    and a password changed with `postroom user passwd` forgets the old one at once."""
    d = tls_daemon(make_daemon, certificate, extra=LOCKOUT)
    p = pop3(d.ports["pop3"])
    assert pop3_login(p).startswith(b"+OK")
    p.quit()
    d.wait_for_log(r"(?m)user=%s result=ok\s*$" % ALICE)
    s = smtp(d.ports["smtp"], source=TRUSTED)
    assert smtp_auth(s, "PLAIN")[0] == 235
    s.quit()
    d.wait_for_log(r"peer=127\.0\.0\.5 user=%s result=ok verified=remembered" % ALICE)

    # A wrong password is not a near miss of the remembered one: it fails and is counted.
    p = pop3(d.ports["pop3"])
    assert pop3_login(p, password=PASSWORD + "x").startswith(b"-ERR")
    p.quit()
    d.wait_for_log(r"user=%s result=failed" % ALICE)

    d.admin("user", "passwd", ALICE, "--password-stdin", input="new-password-2\n")
    p = pop3(d.ports["pop3"])
    assert pop3_login(p).startswith(b"-ERR"), "the old password must not outlive a change"
    p.quit()
    p = pop3(d.ports["pop3"])
    assert pop3_login(p, password="new-password-2").startswith(b"+OK")
    p.quit()
    assert len(re.findall(r"result=ok verified=remembered", d.log())) == 1
    assert_no_password_logged(d, PASSWORD)


def test_verified_login_cache_zero_checks_every_login(make_daemon, certificate):
    d = tls_daemon(make_daemon, certificate, extra="auth:\n  verified_login_cache: 0s\n")
    for _ in range(3):
        p = pop3(d.ports["pop3"])
        assert pop3_login(p).startswith(b"+OK")
        p.quit()
    logins = re.findall(r"user=%s result=ok.*$" % ALICE, d.log(), re.M)
    assert len(logins) == 3 and not any("remembered" in line for line in logins)
