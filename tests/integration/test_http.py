"""The HTTP/HTTPS listener: client autoconfiguration (Thunderbird, Outlook, Apple) describing
exactly the listeners that run, MTA-STS hosting, /healthz and /metrics, and the limits.
Clients: Python's http.client, smtplib and poplib; documents checked by lxml against an XSD
written from Mozilla's format description, by plistlib, and by prometheus_client's parser."""
import base64
import http.client
import plistlib
import shutil
import smtplib
import socket
import ssl
import time
import poplib
from pathlib import Path

import pytest
from lxml import etree
from prometheus_client.parser import text_string_to_metric_families

from conftest import DOMAIN, PASSWORD

HERE = Path(__file__).resolve().parent
XSD = etree.XMLSchema(etree.parse(str(HERE / "data" / "thunderbird-config-v1.1.xsd")))
ALICE = "alice@%s" % DOMAIN
AD_RESPONSE = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
AD_REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>%s</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"""


def tls_client():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def fetch(d, path, host, method="GET", body=None, https=False, headers=None, source=None):
    """One request; returns (status, headers dict, body bytes)."""
    port = d.ports["https" if https else "http"]
    kwargs = {"timeout": 10}
    if source:
        kwargs["source_address"] = (source, 0)
    if https:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=tls_client(), **kwargs)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, **kwargs)
    all_headers = {"Host": host}
    all_headers.update(headers or {})
    if body is not None:
        all_headers["Content-Type"] = "text/xml"
    conn.request(method, path, body=body, headers=all_headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), data


# Listener configurations: what each names, and what clients must be told for it.
CONFIGS = {
    "starttls-only": {"pop3": "STARTTLS", "submission": "STARTTLS"},
    "implicit-only": {"pop3s": "SSL", "submissions": "SSL"},
    "all-four": {"pop3": "STARTTLS", "pop3s": "SSL", "submission": "STARTTLS", "submissions": "SSL"},
}


def start(make_daemon, certificate, mail_listeners, extra=""):
    listen = {name: ["127.0.0.1:0"] for name in mail_listeners}
    listen.update({"smtp": ["127.0.0.1:0"], "http": ["127.0.0.1:0"], "https": ["127.0.0.1:0"]})
    d = make_daemon(start=False, listen=listen, tls=certificate, extra=extra)
    d.add_user("alice")
    return d.start()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_autoconfig_describes_exactly_the_running_listeners(make_daemon, certificate, name):
    expected = CONFIGS[name]
    d = start(make_daemon, certificate, expected)
    want_pop3 = {(d.ports[l], sec) for l, sec in expected.items() if l.startswith("pop3")}
    want_smtp = {(d.ports[l], sec) for l, sec in expected.items() if l.startswith("submission")}

    # Thunderbird: both URLs it tries, validated against the schema.
    for path, host in [("/mail/config-v1.1.xml?emailaddress=" + ALICE, "autoconfig." + DOMAIN),
                       ("/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40" + DOMAIN,
                        DOMAIN)]:
        status, headers, body = fetch(d, path, host)
        assert status == 200, body
        assert headers["Content-Type"].startswith("application/xml")
        doc = etree.fromstring(body)
        XSD.assertValid(doc)
        provider = doc.find("emailProvider")
        assert provider.findtext("domain") == DOMAIN
        got_pop3 = {(int(s.findtext("port")), s.findtext("socketType"))
                    for s in provider.findall("incomingServer")}
        got_smtp = {(int(s.findtext("port")), s.findtext("socketType"))
                    for s in provider.findall("outgoingServer")}
        assert got_pop3 == want_pop3
        assert got_smtp == want_smtp
        for server in provider.findall("incomingServer") + provider.findall("outgoingServer"):
            assert server.findtext("hostname") == "mail." + DOMAIN
            assert server.findtext("username") == "%EMAILADDRESS%"
        # Implicit TLS listed first (RFC 8314), so Thunderbird prefers it.
        first = provider.find("incomingServer").findtext("socketType")
        assert first == ("SSL" if "pop3s" in expected else "STARTTLS")

    # Outlook: POX Autodiscover; SSL on only for implicit TLS, Encryption TLS for STARTTLS.
    for path in ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"):
        status, _, body = fetch(d, path, "autodiscover." + DOMAIN, method="POST",
                                body=AD_REQUEST % ALICE)
        assert status == 200, body
        account = etree.fromstring(body).find(AD_RESPONSE + "Response/" + AD_RESPONSE + "Account")
        assert account.findtext(AD_RESPONSE + "Action") == "settings"
        got = set()
        for p in account.findall(AD_RESPONSE + "Protocol"):
            assert p.findtext(AD_RESPONSE + "LoginName") == ALICE
            assert p.findtext(AD_RESPONSE + "Server") == "mail." + DOMAIN
            ssl_on = p.findtext(AD_RESPONSE + "SSL")
            encryption = p.findtext(AD_RESPONSE + "Encryption")
            security = "SSL" if ssl_on == "on" and encryption is None else (
                "STARTTLS" if ssl_on == "off" and encryption == "TLS" else "bad:%s/%s" % (ssl_on, encryption))
            got.add((p.findtext(AD_RESPONSE + "Type"), int(p.findtext(AD_RESPONSE + "Port")), security))
        assert got == {("POP3",) + x for x in want_pop3} | {("SMTP",) + x for x in want_smtp}

    # Apple: the admin command's profile and the one served over HTTPS after a login agree.
    printed = plistlib.loads(d.admin("mobileconfig", ALICE).stdout.encode())
    auth = base64.b64encode(("%s:%s" % (ALICE, PASSWORD)).encode()).decode()
    status, headers, body = fetch(d, "/mobileconfig", "mail." + DOMAIN, https=True,
                                  headers={"Authorization": "Basic " + auth})
    assert status == 200, body
    assert headers["Content-Type"] == "application/x-apple-aspen-config"
    served = plistlib.loads(body)
    account = served["PayloadContent"][0]
    assert PASSWORD.encode() not in body
    assert "IncomingPassword" not in account and "OutgoingPassword" not in account
    assert served["PayloadType"] == "Configuration"
    assert account["PayloadType"] == "com.apple.mail.managed"
    assert account["EmailAccountType"] == "EmailTypePOP"
    assert account["IncomingMailServerUsername"] == ALICE
    best_pop3 = min(want_pop3, key=lambda x: x[1] != "SSL")
    best_smtp = min(want_smtp, key=lambda x: x[1] != "SSL")
    assert account["IncomingMailServerPortNumber"] == best_pop3[0]
    assert account["OutgoingMailServerPortNumber"] == best_smtp[0]
    assert account["IncomingMailServerUseSSL"] is True
    # The command line reads the config (port 0 there), the daemon its bound ports: the rest
    # of the profile is the same.
    for key in ("EmailAddress", "IncomingMailServerHostName", "PayloadUUID", "EmailAccountType"):
        assert printed["PayloadContent"][0][key] == account[key]


def test_only_the_offices_domains_and_paths_are_answered(make_daemon, certificate):
    d = start(make_daemon, certificate, ["pop3s", "submissions"])
    assert fetch(d, "/mail/config-v1.1.xml", "autoconfig.stranger.test")[0] == 404
    assert fetch(d, "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=x%40stranger.test",
                 DOMAIN)[0] == 404
    assert fetch(d, "/autodiscover/autodiscover.xml", "autodiscover.stranger.test", method="POST",
                 body=AD_REQUEST % "eve@stranger.test")[0] == 404
    assert fetch(d, "/", DOMAIN)[0] == 404
    assert fetch(d, "/index.html", "mail." + DOMAIN, https=True)[0] == 404
    assert fetch(d, "/.well-known/mta-sts.txt", "mta-sts.stranger.test", https=True)[0] == 404
    # A password is asked for over HTTPS only; a wrong one gets 401 again.
    assert fetch(d, "/mobileconfig", "mail." + DOMAIN)[0] == 404
    status, headers, _ = fetch(d, "/mobileconfig", "mail." + DOMAIN, https=True)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    wrong = base64.b64encode(("%s:wrong" % ALICE).encode()).decode()
    assert fetch(d, "/mobileconfig", "mail." + DOMAIN, https=True,
                 headers={"Authorization": "Basic " + wrong})[0] == 401


def test_mta_sts_policy_over_https_only(make_daemon, certificate):
    d = start(make_daemon, certificate, ["pop3s"],
              extra="http:\n  mta_sts: {mode: enforce, max_age: 7d}\n")
    status, headers, body = fetch(d, "/.well-known/mta-sts.txt", "mta-sts." + DOMAIN, https=True)
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    fields = dict(line.split(": ", 1) for line in body.decode().split("\r\n") if line)
    assert fields == {"version": "STSv1", "mode": "enforce", "mx": "mail." + DOMAIN,
                      "max_age": "604800"}
    # RFC 8461 §3.3: never over plain HTTP.
    assert fetch(d, "/.well-known/mta-sts.txt", "mta-sts." + DOMAIN)[0] == 404
    # dns-records names the same policy (its TXT id is a hash of this text).
    printed = d.admin("dns-records", DOMAIN, check=False).stdout
    assert ";   mode: enforce" in printed and ";   max_age: 604800" in printed


def metrics(d, source=None):
    status, headers, body = fetch(d, "/metrics", "mail." + DOMAIN, source=source)
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    values = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            key = sample.name + ("" if not sample.labels else str(sorted(sample.labels.items())))
            values[key] = sample.value
    return values


def test_metrics_move_with_traffic_and_are_refused_to_others(make_daemon, certificate):
    listen = {"smtp": ["127.0.0.1:0"], "pop3": ["127.0.0.1:0"], "http": ["127.0.0.1:0"]}
    # Only 127.0.0.1 is trusted; 127.0.0.3 is allowed by http.metrics_allow; 127.0.0.2 is neither.
    d = make_daemon(start=False, listen=listen, tls=certificate, trusted=("127.0.0.1/32",),
                    extra="http:\n  metrics_allow: [\"127.0.0.3/32\"]\n")
    d.add_user("alice")
    d.start()
    before = metrics(d)
    assert before["postroom_messages_received_total"] == 0
    assert "postroom_certificate_expiry_timestamp_seconds" in before
    assert before["postroom_certificate_expiry_timestamp_seconds"] > time.time()
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=10) as s:
        s.sendmail("sender@remote.test", [ALICE], b"Subject: hi\r\n\r\nHello.\r\n")
    pop = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=10)
    pop.user(ALICE)
    pop.pass_(PASSWORD)
    assert b"Hello." in b"\r\n".join(pop.retr(1)[1])
    pop.quit()
    bad = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=10)
    bad.user(ALICE)
    with pytest.raises(poplib.error_proto):
        bad.pass_("wrong")
    bad.quit()
    after = metrics(d, source="127.0.0.3")
    assert after["postroom_messages_received_total"] == 1
    assert after["postroom_pop3_sessions_total"] == 2
    assert after["postroom_pop3_retrievals_total"] == 1
    assert after["postroom_logins_failed_total"] == 1
    assert after["postroom_store_commit_seconds_count"] > before["postroom_store_commit_seconds_count"]
    assert after["postroom_queue_depth"] == 0
    status, _, _ = fetch(d, "/metrics", "mail." + DOMAIN, source="127.0.0.2")
    assert status == 403


def test_healthz_turns_unhealthy_when_the_store_cannot_write(make_daemon, certificate):
    d = start(make_daemon, certificate, ["pop3s"])
    status, _, body = fetch(d, "/healthz", "anything")
    assert status == 200, body
    text = body.decode()
    assert "store: writable" in text and "pop3s 127.0.0.1:%d" % d.ports["pop3s"] in text
    assert "certificate_days_left: 1" in text  # the test certificate lives 2 days
    # The database file replaced under the running daemon: its writer refuses every batch.
    moved = d.db.with_name("moved.db")
    d.db.rename(moved)
    shutil.copy(moved, d.db)
    status, _, body = fetch(d, "/healthz", "anything")
    assert status == 503, body
    assert "cannot write" in body.decode()


def raw(d, data, read_timeout=10):
    with socket.create_connection(("127.0.0.1", d.ports["http"]), timeout=read_timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_limits_oversize_and_slow_requests(make_daemon, certificate):
    d = start(make_daemon, certificate, ["pop3s"], extra="http:\n  request_timeout: 1s\n")
    big_header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
    assert raw(d, big_header).startswith(b"HTTP/1.1 431 ")
    big_body = (b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 70000\r\n\r\n")
    assert raw(d, big_body).startswith(b"HTTP/1.1 413 ")
    # A client that starts a request and stalls is answered 408 and closed; one that never
    # sends anything is closed.
    started = time.time()
    assert raw(d, b"GET /healthz HTTP/1.1\r\nHost: x\r\n").startswith(b"HTTP/1.1 408 ")
    assert raw(d, b"") == b""
    assert time.time() - started < 9  # closed by the daemon, not by our 10 s socket timeout
    # Keep-alive: two requests on one connection, the second after the first's answer.
    answer = raw(d, b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 404 ") and b"HTTP/1.1 200 OK" in answer


def test_https_serves_the_reloaded_certificate(make_daemon, tmp_path):
    # The certificate files replaced and SIGHUP: new HTTPS connections get the new one, as the
    # mail listeners do (they share one TLS context).
    from test_tls import make_certificate
    cert, key = make_certificate(tmp_path / "live")
    d = start(make_daemon, (cert, key), ["pop3s"])

    def served():
        with socket.create_connection(("127.0.0.1", d.ports["https"]), timeout=10) as s:
            with tls_client().wrap_socket(s) as t:
                return t.getpeercert(binary_form=True)

    assert served() == ssl.PEM_cert_to_DER_cert(cert.read_text())
    new_cert, new_key = make_certificate(tmp_path / "new")
    shutil.copyfile(new_cert, cert)
    shutil.copyfile(new_key, key)
    d.proc.send_signal(__import__("signal").SIGHUP)
    d.wait_for_log(r"reloaded ")
    assert served() == ssl.PEM_cert_to_DER_cert(new_cert.read_text())
    assert fetch(d, "/healthz", "x", https=True)[0] == 200


def test_sigterm_closes_kept_alive_connections(make_daemon, certificate):
    d = start(make_daemon, certificate, ["pop3s"])
    idle = http.client.HTTPConnection("127.0.0.1", d.ports["http"], timeout=10)
    idle.request("GET", "/healthz", headers={"Host": "x"})
    assert idle.getresponse().read().startswith(b"ok")
    started = time.time()
    assert d.stop() == 0  # the kept-alive connection does not hold the daemon
    assert time.time() - started < 5
    idle.close()
