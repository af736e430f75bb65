"""Milter client end to end: the real postroomd talks to milters nobody here wrote the
protocol of: a test milter on Debian's python3-milter (Sendmail's libmilter), and Debian's
rspamd in milter mode (its rspamd_proxy worker with `milter = yes`)."""

import hashlib
import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import free_port
from smtp_helpers import ALICE, mailbox_count, pop3_messages

HERE = Path(__file__).resolve().parent


class MilterPeer:
    """peers/milter_peer.py on an inet or unix socket; `seen()` is what it recorded."""

    def __init__(self, workdir, unix=False):
        self.seen_file = workdir / "milter-seen.jsonl"
        if unix:
            self.path = workdir / "milter.sock"
            socket_spec, self.address = "unix:%s" % self.path, "unix:%s" % self.path
        else:
            self.port = free_port()
            socket_spec = "inet:%d@127.0.0.1" % self.port
            self.address = "inet:127.0.0.1:%d" % self.port
        self.proc = subprocess.Popen(["/usr/bin/python3", str(HERE / "peers" / "milter_peer.py"), socket_spec,
                                      str(self.seen_file)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert self.proc.stdout.readline().strip() == b"milter ready"
        deadline = time.time() + 10
        while time.time() < deadline:  # libmilter binds after the Python side says ready
            if unix and self.path.exists():
                return
            if not unix:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", self.port)) == 0:
                        return
            time.sleep(0.05)
        raise AssertionError("the test milter did not listen")

    def seen(self):
        if not self.seen_file.exists():
            return []
        return [json.loads(line) for line in self.seen_file.read_text().splitlines()]

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def milters_yaml(*entries):
    lines = ["milters:"]
    for name, address, extra in entries:
        lines.append("  - name: %s" % name)
        lines.append("    address: %s" % address)
        for key, value in extra.items():
            lines.append("    %s: %s" % (key, value))
    return "\n".join(lines) + "\n"


def message(subject, body=b"Hello.\r\n", extra_headers=b""):
    return (b"From: sender@remote.test\r\nTo: " + ALICE.encode() + b"\r\nSubject: " + subject.encode() +
            b"\r\nMessage-ID: <" + subject.replace(" ", ".").encode() + b"@remote.test>\r\n" + extra_headers +
            b"\r\n" + body)


def send(daemon, data, sender="sender@remote.test"):
    with smtplib.SMTP("127.0.0.1", daemon.ports["smtp"], timeout=60) as client:
        client.ehlo("client.remote.test")
        client.sendmail(sender, [ALICE], data)


def refused(daemon, data):
    """The (code, text) the end of DATA got."""
    with pytest.raises(smtplib.SMTPDataError) as caught:
        send(daemon, data)
    return caught.value.smtp_code, caught.value.smtp_error.decode()


@pytest.fixture
def test_milter(tmp_path):
    peer = MilterPeer(tmp_path)
    yield peer
    peer.stop()


def test_milter_sees_the_envelope_headers_and_body_and_its_header_changes_are_stored(make_daemon, test_milter):
    d = make_daemon(start=False, extra=milters_yaml(("test", test_milter.address, {"timeout": "20s"})))
    d.add_user("alice")
    d.start()
    # More than one 64 KiB body chunk, with lines the SMTP layer dot-stuffs.
    body = b"".join(b".line %06d of a long body\r\n" % i for i in range(12000))
    send(d, message("tag me", body, b"X-Remove-Me: yes\r\n"))
    seen = test_milter.seen()
    assert len(seen) == 1
    s = seen[0]
    assert s["mail_from"] == "<sender@remote.test>"
    assert s["rcpts"] == ["<%s>" % ALICE]
    assert s["helo"] == "client.remote.test"
    assert s["client_addr"] == "127.0.0.1" and s["hostaddr"] == "127.0.0.1"
    assert s["j"] == "mail.example.test"
    assert s["queue_id"]
    assert ["Subject", "tag me"] in s["headers"]
    assert s["body_len"] == len(body)
    assert s["body_sha256"] == hashlib.sha256(body).hexdigest()
    [stored] = pop3_messages(d)
    head, _, stored_body = stored.partition(b"\r\n\r\n")
    assert stored_body == body
    assert b"\r\nX-Test-Milter: seen by the test milter" in head
    assert b"\r\nSubject: [tagged] tag me" in head
    assert b"X-Remove-Me" not in head
    assert b"X-Inserted-First: at the top" in head
    assert head.index(b"X-Inserted-First") < head.index(b"From: sender@remote.test")
    assert "milter.test=accept" in d.log()


@pytest.mark.parametrize("subject,code,enhanced,text", [
    ("please reject", 550, "5.7.1", "rejected by the test milter"),
    ("please tempfail", 451, "4.7.1", "test milter says later"),
    ("please plainreject", 550, "5.7.1", "rejected"),
])
def test_milter_refusals_reach_the_client_and_nothing_is_stored(make_daemon, test_milter, subject, code,
                                                                  enhanced, text):
    d = make_daemon(start=False, extra=milters_yaml(("test", test_milter.address, {})))
    d.add_user("alice")
    d.start()
    got_code, got_text = refused(d, message(subject))
    assert got_code == code
    assert got_text.startswith(enhanced) and text in got_text
    assert mailbox_count(d) == 0
    # The session goes on: the next message is taken.
    send(d, message("fine"))
    assert mailbox_count(d) == 1


def test_milter_discard_answers_250_and_stores_nothing(make_daemon, test_milter):
    d = make_daemon(start=False, extra=milters_yaml(("test", test_milter.address, {})))
    d.add_user("alice")
    d.start()
    send(d, message("please discard"))  # no exception: 250
    assert len(test_milter.seen()) == 1
    assert mailbox_count(d) == 0
    assert "milter.test=discard" in d.log()


def test_milter_quarantine_delivers_the_message_flagged(make_daemon, test_milter):
    d = make_daemon(start=False, extra=milters_yaml(("test", test_milter.address, {})))
    d.add_user("alice")
    d.start()
    send(d, message("please quarantine"))
    [stored] = pop3_messages(d)
    head = stored.partition(b"\r\n\r\n")[0]
    assert b"\r\nX-Spam-Flag: YES\r\n" in head
    assert b"X-Quarantine: test: test quarantine" in head


def test_milter_over_a_unix_socket(make_daemon, tmp_path):
    peer = MilterPeer(tmp_path, unix=True)
    try:
        d = make_daemon(start=False, extra=milters_yaml(("local", peer.address, {})))
        d.add_user("alice")
        d.start()
        assert refused(d, message("please reject"))[0] == 550
        send(d, message("tag"))
        assert len(peer.seen()) == 2
        assert b"X-Test-Milter" in pop3_messages(d)[0]
    finally:
        peer.stop()


@pytest.mark.parametrize("default_action,expect_stored", [("tempfail", False), ("accept", True)])
def test_milter_down_gives_the_default_action(make_daemon, default_action, expect_stored):
    nobody = free_port()  # nothing listens there
    d = make_daemon(start=False, extra=milters_yaml(
        ("gone", "inet:127.0.0.1:%d" % nobody, {"default_action": default_action})))
    d.add_user("alice")
    d.start()
    if expect_stored:
        send(d, message("while the milter is down"))
        assert mailbox_count(d) == 1
    else:
        code, text = refused(d, message("while the milter is down"))
        assert code == 451 and text.startswith("4.7.1")
        assert mailbox_count(d) == 0
    assert "milter.gone=error-%s" % default_action in d.log()


def test_milter_that_never_answers_times_out_to_the_default_action(make_daemon, test_milter):
    d = make_daemon(start=False, extra=milters_yaml(("slow", test_milter.address, {"timeout": "2s"})))
    d.add_user("alice")
    d.start()
    code, _ = refused(d, message("please hang"))
    assert code == 451
    assert mailbox_count(d) == 0
    assert "milter slow" in d.log() and "no answer within 2s" in d.log()


def test_client_gone_while_the_milter_thinks_stores_nothing_and_others_are_served(make_daemon, test_milter):
    d = make_daemon(start=False, extra=milters_yaml(("slow", test_milter.address, {"timeout": "3s"})))
    d.add_user("alice")
    d.start()
    # The whole message goes out, then the client vanishes before the milter has answered.
    raw = socket.create_connection(("127.0.0.1", d.ports["smtp"]), timeout=30)
    reader = raw.makefile("rb")
    assert reader.readline().startswith(b"220")
    raw.sendall(b"EHLO client.remote.test\r\n")
    while not reader.readline().startswith(b"250 "):
        pass
    for command in (b"MAIL FROM:<sender@remote.test>", b"RCPT TO:<" + ALICE.encode() + b">", b"DATA"):
        raw.sendall(command + b"\r\n")
        assert reader.readline()[:1] in (b"2", b"3")
    raw.sendall(message("please hang") + b".\r\n")
    time.sleep(0.5)  # the daemon has the message and waits for the milter
    raw.close()
    # Other clients are served meanwhile and after; the vanished one left nothing behind.
    send(d, message("tag"))
    time.sleep(3.5)  # past the milter's timeout for the abandoned message
    send(d, message("tag again"))
    assert mailbox_count(d) == 2
    assert all(b"please hang" not in m for m in pop3_messages(d))
    assert d.stop() == 0  # it was still running, and it stops cleanly


def test_a_slow_milter_slows_the_client_down_instead_of_giving_up(make_daemon, test_milter):
    # 9 MB of body: far more than a milter connection may hold queued (4 MiB). The milter
    # reads slower than the client sends, so the server stops reading from the client while
    # the milter catches up, and the milter sees every octet.
    d = make_daemon(start=False, extra=milters_yaml(("slow", test_milter.address, {"timeout": "30s"})))
    d.add_user("alice")
    d.start()
    body = b"".join(b"%08d the milter reads this slowly, line by line.\r\n" % i for i in range(180000))
    send(d, message("slowbody", body))
    [seen] = [s for s in test_milter.seen() if ["Subject", "slowbody"] in s["headers"]]
    assert seen["body_len"] == len(body)
    assert seen["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert "milter.slow=accept" in d.log() and "too slow" not in d.log()
    [stored] = pop3_messages(d)
    assert stored.endswith(b"\r\n\r\n" + body)


def test_two_milters_the_first_refusal_in_order_decides(make_daemon, test_milter):
    nobody = free_port()
    d = make_daemon(start=False, extra=milters_yaml(
        ("first", test_milter.address, {}),
        ("second", "inet:127.0.0.1:%d" % nobody, {"default_action": "accept"})))
    d.add_user("alice")
    d.start()
    assert refused(d, message("please reject"))[0] == 550
    send(d, message("tag"))
    [stored] = pop3_messages(d)
    assert b"X-Test-Milter" in stored
    assert "milter.first=accept milter.second=error-accept" in d.log()


def test_bad_milter_config_is_refused_with_its_line(make_daemon):
    d = make_daemon(start=False, extra=milters_yaml(("x y", "tcp:nowhere", {"default_action": "maybe"})))
    result = d.admin("check-config", check=False)
    assert result.returncode == 1
    assert "milters.name" in result.stderr
    assert "milters.address" in result.stderr
    assert "milters.default_action" in result.stderr


# --- rspamd -----------------------------------------------------------------------------------

GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

RSPAMD_CONF = """\
.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    .include(priority=10) "$LOCAL_CONFDIR/options-override.inc"
}
logging { type = "file"; filename = "$LOGDIR/rspamd.log"; level = "info"; }
worker "normal" { bind_socket = "127.0.0.1:%(normal)d"; .include "$CONFDIR/worker-normal.inc"; count = 1; }
worker "rspamd_proxy" {
    bind_socket = "127.0.0.1:%(milter)d";
    milter = yes;
    timeout = 60s;
    upstream "local" { default = yes; self_scan = yes; }
    count = 1;
}
"""

# The loopback client is not "local" to rspamd (local clients skip checks), DNS fails at once
# (no network in tests), and a four-entry TLD list: compiling the full public suffix list
# costs rspamd more than a minute on a loaded CI machine.
RSPAMD_OPTIONS = """\
local_addrs = [];
url_tld = "%(tld)s";
dns { nameserver = ["127.0.0.1:1"]; timeout = 0.2s; retransmits = 0; }
"""


class Rspamd:
    def __init__(self, workdir):
        self.dir = workdir
        for sub in ("db", "run", "log"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        (workdir / "tld.dat").write_text("test\ncom\norg\nnet\n")
        (workdir / "rspamd.conf").write_text(RSPAMD_CONF % {"normal": free_port(), "milter": self.port})
        (workdir / "options-override.inc").write_text(RSPAMD_OPTIONS % {"tld": workdir / "tld.dat"})

    def start(self):
        d = self.dir
        self.proc = subprocess.Popen(
            ["/usr/bin/rspamd", "-f", "-u", "root", "-g", "root", "--insecure", "-c", str(d / "rspamd.conf"),
             "--var=LOCAL_CONFDIR=%s" % d, "--var=DBDIR=%s" % (d / "db"), "--var=RUNDIR=%s" % (d / "run"),
             "--var=LOGDIR=%s" % (d / "log")], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own process group: the workers can be killed with it
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("rspamd exited %d:\n%s" % (self.proc.returncode, self.log()[-3000:]))
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise AssertionError("rspamd did not listen:\n" + self.log()[-3000:])

    def log(self):
        path = self.dir / "log" / "rspamd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def rspamd(tmp_path_factory):
    if not Path("/usr/bin/rspamd").exists():
        pytest.fail("rspamd is not installed (scripts/install-deps.sh installs Debian's rspamd)")
    r = Rspamd(tmp_path_factory.mktemp("rspamd")).start()
    yield r
    r.stop()


def rspamd_daemon(make_daemon, rspamd, default_action="tempfail"):
    d = make_daemon(start=False, extra=milters_yaml(
        ("rspamd", "inet:127.0.0.1:%d" % rspamd.port, {"timeout": "60s", "default_action": default_action})))
    d.add_user("alice")
    return d.start()


def test_rspamd_refuses_gtube_and_passes_a_clean_message(make_daemon, rspamd):
    d = rspamd_daemon(make_daemon, rspamd)
    code, text = refused(d, message("gtube test", b"This is spam.\r\n" + GTUBE + b"\r\n"))
    assert code == 554 and text.startswith("5.7.1"), (code, text)
    assert mailbox_count(d) == 0
    clean = message("lunch on friday", b"Shall we meet at noon at the usual place?\r\n")
    send(d, clean)
    [stored] = pop3_messages(d)
    assert stored.endswith(b"\r\n\r\nShall we meet at noon at the usual place?\r\n")
    assert "milter.rspamd=reject" in d.log() and "milter.rspamd=accept" in d.log()
    assert "gtube" in rspamd.log().lower()  # rspamd itself saw the pattern


def test_rspamd_killed_mid_body_gives_the_default_action_and_the_message_is_whole(make_daemon, rspamd):
    d = rspamd_daemon(make_daemon, rspamd, "accept")
    body = b"".join(b"line %06d of a long and perfectly ordinary letter\r\n" % i for i in range(40000))
    data = message("killed mid body", body)
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=60) as client:
        client.ehlo("client.remote.test")
        assert client.mail("sender@remote.test")[0] == 250
        assert client.rcpt(ALICE)[0] == 250
        client.putcmd("data")
        assert client.getreply()[0] == 354
        half = len(data) // 2
        client.send(data[:half])
        time.sleep(0.5)  # rspamd is reading the body
        os.killpg(rspamd.proc.pid, signal.SIGKILL)  # main and workers: no goodbye to the milter
        rspamd.proc.wait()
        client.send(data[half:] + b".\r\n")
        code, _ = client.getreply()
    assert code == 250
    [stored] = pop3_messages(d)
    assert stored.endswith(b"\r\n\r\n" + body)  # whole, once
    assert "milter.rspamd=error-accept" in d.log()
    assert d.stop() == 0  # it was still running, and it stops cleanly


@pytest.mark.parametrize("default_action", ["tempfail", "accept"])
def test_rspamd_stopped_gives_the_default_action(make_daemon, rspamd, default_action):
    rspamd.stop()  # the last tests of the module: rspamd is not needed after them
    d = rspamd_daemon(make_daemon, rspamd, default_action)
    if default_action == "tempfail":
        code, text = refused(d, message("while rspamd is down"))
        assert code == 451 and text.startswith("4.7.1")
        assert mailbox_count(d) == 0
    else:
        send(d, message("while rspamd is down"))
        assert mailbox_count(d) == 1
