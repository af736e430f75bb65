"""Per-device passwords: `postroom device add` prints a generated password once; it logs in
only for its protocols, sends only as its --from addresses and within its --rate, is revoked
at once, and a stream of failures against it never locks out the mailbox's main password."""

import poplib
import re
import smtplib

import pytest

from conftest import DOMAIN, PASSWORD

ALICE = "alice@" + DOMAIN
SCANNER = "scanner@" + DOMAIN
LISTEN = {"submission": ["127.0.0.1:0"], "pop3": ["127.0.0.1:0"]}
LOCKOUT = "auth:\n  lockout_failures: 3\n  failure_delay_max: 1s\n  lockout_window: 15m\n  lockout_duration: 1m\n"


def message(sender, subject):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nscanned\r\n" % (sender, ALICE, subject)).encode()


def add_device(d, *args):
    out = d.admin("device", "add", *args).stdout
    found = re.search(r"^password: (\S+)$", out, re.M)
    assert found, out
    return found.group(1)


def submission(d):
    client = smtplib.SMTP("127.0.0.1", d.ports["submission"], timeout=30)
    client.ehlo("scanner.test")
    return client


def pop3_login(d, password, user=ALICE):
    """The POP3 answer to USER/PASS: b'+OK...' or the -ERR line."""
    client = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=30)
    try:
        client.user(user)
        return client.pass_(password)
    except poplib.error_proto as e:
        return e.args[0]
    finally:
        client.quit()


def subjects(d):
    client = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=30)
    try:
        client.user(ALICE)
        client.pass_(PASSWORD)
        count, _ = client.stat()
        out = []
        for i in range(count):
            for line in client.top(i + 1, 0)[1]:
                if line.startswith(b"Subject: "):
                    out.append(line[9:].decode())
        return out
    finally:
        client.quit()


@pytest.fixture
def office(make_daemon):
    d = make_daemon(start=False, listen=LISTEN)
    d.add_user("alice")
    d.admin("alias", "add", SCANNER, ALICE)
    return d


def test_scanner_sends_only_as_its_sender_within_its_rate_and_not_by_pop3(office):
    d = office
    password = add_device(d, ALICE, "scanner", "--smtp", "--from", SCANNER, "--rate", "2/h")
    d.start()
    # Not a POP3 password, and not an SMTP one for another mailbox.
    assert pop3_login(d, password).startswith(b"-ERR")
    d.wait_for_log(r"user=%s result=not-permitted device=\"scanner\" service=pop3" % ALICE)
    with submission(d) as s:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login("bob@" + DOMAIN, password)

    with submission(d) as s:
        s.login(ALICE, password)
        # The mailbox's own address is not in the scanner's --from list.
        code, reply = s.mail(ALICE)
        assert code == 553 and reply.startswith(b"5.7.1"), (code, reply)
        s.rset()
        s.sendmail(SCANNER, [ALICE], message(SCANNER, "scan 1"))
        s.sendmail(SCANNER, [ALICE], message(SCANNER, "scan 2"))
        # The third in the hour is over the device's rate: a temporary refusal, nothing stored.
        with pytest.raises(smtplib.SMTPDataError) as refused:
            s.sendmail(SCANNER, [ALICE], message(SCANNER, "scan 3"))
        assert refused.value.smtp_code == 451
        assert refused.value.smtp_error.startswith(b"4.7.0 Device rate limit reached: 2 messages per hour")
    # The main password is not bound by the device's limits, and sends as the mailbox.
    with submission(d) as s:
        s.login(ALICE, PASSWORD)
        s.sendmail(ALICE, [ALICE], message(ALICE, "by hand"))
    assert sorted(subjects(d)) == ["by hand", "scan 1", "scan 2"]
    assert password not in d.log()


def test_revocation_takes_effect_at_the_next_login_and_list_shows_last_use(office):
    d = office
    password = add_device(d, ALICE, "phone")  # no protocol flag: POP3 and SMTP
    other = add_device(d, ALICE, "printer", "--smtp")
    listed = d.admin("device", "list", ALICE).stdout
    assert re.search(r"^%s\tphone\tpop3,smtp\t\*\t-\t\S+Z\tnever\t-$" % ALICE, listed, re.M), listed
    d.start()
    assert pop3_login(d, password).startswith(b"+OK")
    with submission(d) as s:
        s.login(ALICE, password)
        s.sendmail(ALICE, [ALICE], message(ALICE, "from the phone"))
    listed = d.admin("device", "list").stdout
    line = [l for l in listed.splitlines() if "\tphone\t" in l][0]
    fields = line.split("\t")
    assert fields[6] != "never" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", fields[6]), line
    assert fields[7] == "127.0.0.1", line
    # Never a password or a hash in the listing.
    assert password not in listed and other not in listed and "argon2" not in listed

    out = d.admin("device", "revoke", ALICE, "phone").stdout
    assert "revoked device phone" in out
    # The daemon ran all along: the very next login with it fails, on both protocols.
    assert pop3_login(d, password).startswith(b"-ERR")
    with submission(d) as s:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            s.login(ALICE, password)
        assert refused.value.smtp_code == 535
    # The other device and the main password still work.
    with submission(d) as s:
        s.login(ALICE, other)
    assert pop3_login(d, PASSWORD).startswith(b"+OK")
    assert "\tphone\t" not in d.admin("device", "list").stdout
    assert d.admin("device", "revoke", ALICE, "phone", check=False).returncode == 1


def test_failures_on_a_device_password_never_lock_out_the_main_password(make_daemon):
    d = make_daemon(start=False, listen=LISTEN, extra=LOCKOUT)
    d.add_user("alice")
    password = add_device(d, ALICE, "phone", "--pop3")
    d.start()
    # Distinct wrong secrets with the phone's selector, from the office's own address: far
    # past lockout_failures, so the device is locked out there...
    selector = password[:4]
    for i in range(4):
        wrong = selector + "-aaaa-bbbb-cccc-dddd-eee" + "abcd"[i]
        assert pop3_login(d, wrong).startswith(b"-ERR")
    d.wait_for_log(r"user=%s result=failed device-selector=%s lockout=device" % (ALICE, selector))
    assert pop3_login(d, password).startswith(b"-ERR")  # locked out: even the right one
    d.wait_for_log(r"user=%s result=locked-out" % ALICE)
    # ...while the main password logs in from the same address.
    assert pop3_login(d, PASSWORD).startswith(b"+OK")
    assert re.search(r"user=%s result=ok\s*$" % ALICE, d.log(), re.M)
    assert "lockout=user" not in d.log()
    assert password not in d.log()


def test_device_add_refuses_what_it_cannot_honour(office):
    d = office
    d.admin("user", "add", "bob@" + DOMAIN, "--password-stdin", input=PASSWORD + "\n")
    # A device narrows its mailbox's rights, never widens them.
    r = d.admin("device", "add", ALICE, "x", "--from", "bob@" + DOMAIN, check=False)
    assert r.returncode == 1 and "may not send as bob@example.test" in r.stderr
    r = d.admin("device", "add", "nobody@" + DOMAIN, "x", check=False)
    assert r.returncode == 1 and "no mailbox" in r.stderr
    assert d.admin("device", "add", ALICE, "x", "--rate", "ten", check=False).returncode == 2
    assert d.admin("device", "add", ALICE, "x", "--pop3", "--from", SCANNER, check=False).returncode == 2
    assert d.admin("device", "add", ALICE, check=False).returncode == 2
    add_device(d, ALICE, "x", "--from", "%s,%s" % (SCANNER, ALICE))
    r = d.admin("device", "add", ALICE, "x", check=False)
    assert r.returncode == 1 and "already has a device named 'x'" in r.stderr
    listed = d.admin("device", "list", ALICE).stdout
    assert "\t%s,%s\t" % (ALICE, SCANNER) in listed
    # A device password's shape is kept for devices: it cannot become a main password.
    r = d.admin("user", "passwd", ALICE, "--password-stdin", input="abcd-efgh-ijkm-npqr-stuv-wxyz\n", check=False)
    assert r.returncode == 1 and "device password" in r.stderr
