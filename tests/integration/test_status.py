"""`postroom status` and `status --json`: the figures match the running daemon (listeners and
their ports, open connections, mailboxes, the queue with its oldest deferred message and last
reply, the certificate's end date, lockouts, delivery errors), and a stopped or crashed daemon
is reported as not running."""

import json
import os
import poplib
import smtplib
import socket
import ssl
import subprocess
import time
from datetime import datetime, timezone

from conftest import DOMAIN, PASSWORD, free_port
from smtp_helpers import wait_until

ALICE = "alice@" + DOMAIN
REMOTE = "carol@remote.test"
# A smarthost port where nobody listens: the first attempt fails at once and the recipient is
# deferred, with the connection failure as its last reply.
DEAD_SMARTHOST = ("relay:\n  mode: smarthost\n  smarthost:\n    host: 127.0.0.1\n    port: %d\n"
                  "    tls: none\n  retry_schedule: [1h]\n")
LOCKOUT = "auth:\n  lockout_failures: 2\n  failure_delay_max: 1s\n  lockout_duration: 1m\n"
WRONG = "wrong-password-"


def status(d, *flags):
    return d.admin("status", *flags, check=False)


def status_json(d):
    result = status(d, "--json")
    return result.returncode, json.loads(result.stdout)



def not_after(cert):
    text = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", str(cert)],
                          capture_output=True, text=True, check=True).stdout.strip()
    when = datetime.strptime(text.split("=", 1)[1], "%b %d %H:%M:%S %Y %Z")
    return int(when.replace(tzinfo=timezone.utc).timestamp())


def test_status_matches_the_running_daemon(make_daemon, certificate):
    listen = {"smtp": ["127.0.0.1:0"], "submission": ["127.0.0.1:0"], "pop3": ["127.0.0.1:0"],
              "pop3s": ["127.0.0.1:0"]}
    d = make_daemon(start=False, listen=listen, tls=certificate,
                    extra=DEAD_SMARTHOST % free_port() + LOCKOUT)
    d.add_user("alice")
    d.add_user("bob")
    d.start()
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as client:
        client.sendmail(ALICE, [ALICE, REMOTE], b"Subject: out\r\n\r\nhello\r\n")
    # Two distinct wrong passwords for bob: a lockout (lockout_failures: 2).
    for i in range(2):
        pop = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=30)
        pop.user("bob@" + DOMAIN)
        try:
            pop.pass_(WRONG + str(i))
            raise AssertionError("a wrong password was accepted")
        except poplib.error_proto:
            pass
        pop.quit()
    d.wait_for_log(r"result=failed lockout=user")
    # One connection held open while the daemon reports.
    held = socket.create_connection(("127.0.0.1", d.ports["pop3"]))
    held.recv(512)

    def reported():
        code, s = status_json(d)
        ready = (s["queue"]["deferred"] == 1 and s["connections"]["open"] >= 1
                 and s["lockouts"])
        return (code, s) if ready else None

    code, s = wait_until(reported, what="status to show the deferral, connection and lockout")
    held.close()
    assert code == 0
    assert s["daemon"]["state"] == "running"
    assert s["daemon"]["pid"] == d.proc.pid
    assert 0 <= s["daemon"]["uptime_seconds"] < 600
    assert s["version"] == s["daemon"]["version"]
    # The listeners: each configured one with its real port, protocol and TLS mode.
    got = {(l["name"], l["address"], l["port"], l["protocol"], l["tls"], l["up"]) for l in s["listeners"]}
    assert got == {
        ("smtp", "127.0.0.1", d.ports["smtp"], "smtp", "starttls", True),
        ("submission", "127.0.0.1", d.ports["submission"], "smtp", "starttls", True),
        ("pop3", "127.0.0.1", d.ports["pop3"], "pop3", "starttls", True),
        ("pop3s", "127.0.0.1", d.ports["pop3s"], "pop3", "implicit", True),
    }
    assert s["connections"]["max"] == 1000
    assert s["mailboxes"]["count"] == 2
    assert s["mailboxes"]["messages"] == 1  # alice's copy
    assert s["mailboxes"]["bytes"] > 0
    assert s["store"]["bytes"] >= os.path.getsize(d.db)
    assert (s["store"]["backend"], s["store"]["file"], s["store"]["database"]) == (
        "sqlite", str(d.db), None)
    # The queue: as `queue list` shows it.
    rows = [l.split("\t") for l in d.admin("queue", "list").stdout.splitlines()]
    assert len(rows) == 1 and rows[0][1] == REMOTE and rows[0][2] == "deferred"
    q = s["queue"]
    assert (q["recipients"], q["messages"], q["deferred"]) == (1, 1, 1)
    oldest = q["oldest_deferred"]
    assert oldest["queue_id"] == rows[0][0]
    assert oldest["recipient"] == REMOTE
    assert oldest["attempts"] == int(rows[0][3]) == 1
    assert oldest["last_reply"] == rows[0][5] and oldest["last_reply"]
    assert oldest["age_seconds"] >= 0
    # The certificate the config names, read from its file.
    cert = s["certificate"]
    assert cert["file"] == str(certificate[0])
    assert cert["not_after"] == not_after(certificate[0])
    assert cert["days_left"] == (cert["not_after"] - int(time.time())) // 86400
    assert cert["error"] is None
    # The lockout and the failed delivery.
    assert {(e["kind"], e["address"], e["user"]) for e in s["lockouts"]} == {("user", "127.0.0.1", "bob@" + DOMAIN)}
    errors = [e for e in s["delivery_errors"] if e["queue_id"] == oldest["queue_id"]]
    assert errors and errors[0]["recipient"] == REMOTE and errors[0]["state"] == "deferred"
    assert errors[0]["reply"] == oldest["last_reply"]

    text = status(d)
    assert text.returncode == 0
    out = text.stdout
    assert "running, pid %d" % d.proc.pid in out
    for name in ("smtp", "submission", "pop3", "pop3s"):
        assert "127.0.0.1:%d" % d.ports[name] in out
    assert "oldest deferred: %s to %s" % (oldest["queue_id"], REMOTE) in out
    assert "last reply: " + oldest["last_reply"] in out
    assert "%d day(s) left" % cert["days_left"] in out
    assert "user 127.0.0.1 user bob@" + DOMAIN in out
    # Never a password or a key.
    for secret in (PASSWORD, WRONG + "0", WRONG + "1", "PRIVATE KEY"):
        assert secret not in out and secret not in json.dumps(s)


def test_status_says_when_the_daemon_is_not_running(make_daemon):
    d = make_daemon(start=False, listen={"smtp": ["127.0.0.1:0"], "pop3": ["127.0.0.1:%d" % free_port()]})
    d.add_user("alice")
    # Never started: no status file.
    result = status(d)
    assert result.returncode == 1
    assert "NOT RUNNING" in result.stdout and "no " in result.stdout
    code, s = status_json(d)
    assert code == 1 and s["daemon"]["state"] == "not_running" and s["daemon"]["pid"] is None
    assert s["lockouts"] is None and s["connections"]["open"] is None
    # The configured listeners, none up; :0 has no port yet.
    assert {(l["name"], l["up"]) for l in s["listeners"]} == {("smtp", False), ("pop3", False)}
    assert s["mailboxes"]["count"] == 1 and s["certificate"] is None

    # Running, then stopped cleanly: the status file goes with the daemon.
    d.start()
    assert status_json(d)[1]["daemon"]["state"] == "running"
    assert d.stop() == 0
    code, s = status_json(d)
    assert code == 1 and s["daemon"]["state"] == "not_running"
    assert not (d.workdir / "data" / "postroomd.status").exists()

    # Killed: the file stays, but its process is gone.
    d.start()
    pid = d.proc.pid
    assert status_json(d)[1]["daemon"]["pid"] == pid
    d.kill()
    code, s = status_json(d)
    assert code == 1 and s["daemon"]["state"] == "not_running" and s["daemon"]["pid"] == pid
    assert "gone without a clean stop" in s["daemon"]["message"]
    assert "NOT RUNNING" in status(d).stdout
    d.start()  # the fixture expects a clean stop at the end
