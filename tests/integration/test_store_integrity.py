"""A 250 is a promise. Faults are injected into the real daemon's store while real clients
deliver multi-chunk messages: another process holding the write lock past the busy
timeout, a disk that fills and frees, a long admin import. After each, every message that
got 250 is in its own recipient's mailbox exactly once and byte-identical, nothing else is
in any mailbox, and `postroom verify` and SQLite's integrity_check are clean."""

import collections
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import DOMAIN, POSTROOM, POSTROOMD, Daemon, needs_root
from smtp_helpers import ALICE, pop3_messages, sql, strip_trace

BOB = "bob@%s" % DOMAIN
CHUNK = 256 * 1024

def body_for(tag: str, to: str, size: int) -> bytes:
    """A message whose every line names its tag and recipient: a foreign byte shows."""
    head = b"From: <s@remote.test>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@remote.test>\r\n\r\n" % (
        to.encode(), tag.encode(), tag.encode())
    line = b"%s for %s " % (tag.encode(), to.encode())
    line = line + b"x" * (76 - len(line)) + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


class Sender(threading.Thread):
    """Sends messages one after another until stopped, trickling each body in pieces, and
    records which got 250 (and which got any other answer)."""

    def __init__(self, port, number, sizes, stop, trickle=0.01):
        super().__init__(daemon=True)
        self.port, self.number, self.sizes, self.stop, self.trickle = port, number, sizes, stop, trickle
        self.acked = []  # (recipient, bytes)
        self.refused = []
        self.random = random.Random(number)

    def send_one(self, tag, to, data):
        with socket.create_connection(("127.0.0.1", self.port), timeout=120) as s:
            f = s.makefile("rb")

            def reply():
                while True:
                    line = f.readline()
                    if not line:
                        raise ConnectionError("closed")
                    if line[3:4] != b"-":
                        return line

            def cmd(text):
                s.sendall(text + b"\r\n")
                return reply()

            assert reply().startswith(b"220")
            assert cmd(b"EHLO sender%d.test" % self.number).startswith(b"250")
            assert cmd(b"MAIL FROM:<s%d@remote.test>" % self.number).startswith(b"250")
            rcpt = cmd(b"RCPT TO:<%s>" % to.encode())
            if not rcpt.startswith(b"250"):
                return rcpt
            assert cmd(b"DATA").startswith(b"354")
            for at in range(0, len(data), 64 * 1024):
                s.sendall(data[at:at + 64 * 1024])
                time.sleep(self.trickle)
            s.sendall(b".\r\n")
            answer = reply()
            try:
                cmd(b"QUIT")
            except (ConnectionError, OSError):
                pass
            return answer

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            to = ALICE if (n + self.number) % 2 else BOB
            tag = "m%d-%d" % (self.number, n)
            data = body_for(tag, to, self.random.choice(self.sizes))
            try:
                answer = self.send_one(tag, to, data)
            except (ConnectionError, OSError, AssertionError) as e:
                self.refused.append((tag, repr(e)))
                time.sleep(0.1)
                continue
            if answer.startswith(b"250"):
                self.acked.append((to, data))
            else:
                assert answer[:1] == b"4", "a fault must give a temporary error, got %r" % answer
                self.refused.append((tag, answer))


def check_store(d: Daemon, acked, imported=b"\0"):
    """Every acknowledged message exactly once, whole, in its own mailbox; nothing else
    (messages carrying the `imported` mark came from an import and are counted apart)."""
    wanted = {ALICE: collections.Counter(), BOB: collections.Counter()}
    for to, data in acked:
        wanted[to][data] += 1
    for mailbox in (ALICE, BOB):
        got = collections.Counter(strip_trace(m) for m in pop3_messages(d, mailbox) if imported not in m)
        missing = wanted[mailbox] - got
        extra = got - wanted[mailbox]
        assert not missing, "%d acknowledged message(s) missing or damaged in %s" % (sum(missing.values()), mailbox)
        assert not extra, "%d message(s) in %s that were never acknowledged to it" % (sum(extra.values()), mailbox)
    verify = d.admin("verify", check=False)
    assert verify.returncode == 0 and verify.stdout.strip().endswith("ok"), verify.stdout + verify.stderr
    assert sql(d, "PRAGMA integrity_check") == "ok"


def start_with_two_users(d: Daemon):
    d.add_user("alice")
    d.add_user("bob")
    return d.start()


def run_senders(d, count, sizes, during, trickle=0.01):
    stop = threading.Event()
    senders = [Sender(d.ports["smtp"], n, sizes, stop, trickle) for n in range(count)]
    for s in senders:
        s.start()
    try:
        during()
    finally:
        stop.set()
        for s in senders:
            s.join(timeout=180)
    acked = [a for s in senders for a in s.acked]
    refused = [r for s in senders for r in s.refused]
    return acked, refused


def test_write_lock_held_elsewhere_past_the_busy_timeout(tmp_path):
    d = start_with_two_users(Daemon(tmp_path / "d"))

    def hold_lock_three_times():
        time.sleep(1.0)
        for _ in range(3):
            other = sqlite3.connect(str(d.db), timeout=30, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            time.sleep(11.5)  # the daemon's writer waits at most 10 s for the lock
            other.execute("ROLLBACK")
            other.close()
            time.sleep(2.0)

    acked, refused = run_senders(d, 6, [600_000, 900_000, 1_200_000, 3_000], hold_lock_three_times)
    assert acked, "nothing was acknowledged at all"
    assert any(r for r in refused if isinstance(r[1], bytes) and r[1].startswith(b"451")), \
        "the lock never made a batch fail: the test did not test anything"
    check_store(d, acked)
    assert "451 4.3.0" in d.log()
    assert d.stop() == 0


@needs_root
def test_disk_that_fills_and_frees_under_big_and_small_deliveries(tmpfs):
    disk = tmpfs("32m")
    d = start_with_two_users(Daemon(disk / "d"))
    ballast = disk / "ballast"

    def fill_and_free():
        for _ in range(5):
            time.sleep(1.0)
            fill(ballast, 65536)
            time.sleep(2.0)
            ballast.unlink()

    acked, refused = run_senders(d, 6, [2_000, 5_000, 300_000, 700_000], fill_and_free, trickle=0.005)
    assert acked, "nothing was acknowledged at all"
    assert refused, "the disk never filled: the test did not test anything"
    check_store(d, acked)
    assert d.stop() == 0


def fill(path: Path, block: int):
    """Writes `path` until the disk is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * block)
    except OSError:
        pass  # no space left
    finally:
        os.close(fd)


def write_mbox(path: Path, messages: int, size: int):
    with open(path, "wb") as f:
        for n in range(messages):
            f.write(b"From import@old.test Mon Jan  1 00:00:00 2024\n")
            f.write(body_for("import-%d" % n, ALICE, size).replace(b"\r\n", b"\n"))
            f.write(b"\n")


def test_long_import_while_senders_deliver(tmp_path):
    d = start_with_two_users(Daemon(tmp_path / "d"))
    mbox = tmp_path / "old.mbox"
    write_mbox(mbox, 3000, 40_000)  # about 120 MB: many seconds of import
    result = {}

    def import_meanwhile():
        started = time.time()
        result["run"] = d.admin("import", "mbox", ALICE, str(mbox), check=False)
        result["seconds"] = time.time() - started

    acked, refused = run_senders(d, 4, [300_000, 1_100_000], import_meanwhile)
    run = result["run"]
    assert run.returncode == 0, run.stderr
    assert "imported 3000 messages" in run.stdout
    assert not refused, "the import made the daemon refuse mail: %r" % refused[:3]
    assert acked
    imported = sum(1 for m in pop3_messages(d, ALICE) if b"Subject: import-" in m)
    assert imported == 3000
    check_store(d, acked, imported=b"Subject: import-")
    assert d.stop() == 0


def test_import_cut_short_resumes_without_duplicates(tmp_path):
    d = Daemon(tmp_path / "d")
    d.add_user("alice")
    mbox = tmp_path / "old.mbox"
    write_mbox(mbox, 2000, 20_000)
    proc = subprocess.Popen([POSTROOM, "--config", str(d.config), "import", "mbox",
                             ALICE, str(mbox)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:  # kill it once some batches are in, before the end
        if d.db.exists() and int(sql(d, "SELECT count(*) FROM deliveries") or 0) > 300:
            break
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    before = int(sql(d, "SELECT count(*) FROM deliveries"))
    assert 0 < before < 2000, "the import was not cut short (%d)" % before
    run = d.admin("import", "mbox", ALICE, str(mbox))
    assert "resuming after %d messages" % before in run.stderr
    assert sql(d, "SELECT count(*) FROM deliveries") == "2000"
    d.start()
    subjects = [m.split(b"Subject: ")[1].split(b"\r\n")[0] for m in pop3_messages(d)]
    assert sorted(subjects) == sorted(b"import-%d" % n for n in range(2000))  # each once
    assert d.admin("verify").stdout.strip().endswith("ok")
    assert d.stop() == 0


@needs_root
def test_deleting_mail_on_a_full_disk_succeeds_and_frees_space(tmpfs):
    import poplib
    import smtplib
    disk = tmpfs("48m")
    d = start_with_two_users(Daemon(disk / "d"))
    sent = 0
    for n in range(400):
        try:
            with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as client:
                client.sendmail("s@remote.test", [ALICE], body_for("fill-%d" % n, ALICE, 500_000))
            sent += 1
        except (smtplib.SMTPDataError, smtplib.SMTPRecipientsRefused):
            break
    else:
        pytest.fail("the disk never filled")
    assert sent > 5
    # A ballast takes what is left, so the disk is truly full while mail is deleted.
    fill(disk / "ballast", 4096)
    pop = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=30)
    pop.user(ALICE)
    pop.pass_("correct horse battery staple")
    count, _ = pop.stat()
    assert count == sent
    for n in range(1, count + 1):
        pop.dele(n)
    assert pop.quit().startswith(b"+OK")  # the deletion committed on a full disk
    (disk / "ballast").unlink()
    # The freed pages take new mail: half as much again fits.
    for n in range(sent // 2):
        with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as client:
            client.sendmail("s@remote.test", [BOB], body_for("again-%d" % n, BOB, 500_000))
    assert len(pop3_messages(d, ALICE)) == 0
    assert d.admin("verify").stdout.strip().endswith("ok")
    assert d.stop() == 0


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_a_damaged_database_is_refused_at_start(tmp_path, damage):
    d = Daemon(tmp_path / "d")
    d.add_user("alice")
    if damage == "empty":
        d.db.write_bytes(b"")
    elif damage == "truncated":
        for n in range(40):  # some pages of mail, then the file's second half is cut off
            d.admin("import", "mbox", ALICE, str(make_small_mbox(tmp_path, n)))
        size = d.db.stat().st_size
        with open(d.db, "r+b") as f:
            f.truncate(size // 2)
    else:
        d.db.write_bytes(os.urandom(8192))
    log = open(d.log_path, "ab")
    run = subprocess.run([POSTROOMD, "--config", str(d.config)], stdout=log,
                         stderr=log, timeout=30)
    log.close()
    assert run.returncode == 1
    text = d.log()
    expected = {"empty": "is empty (0 bytes)", "truncated": "is truncated", "garbage": "is not a postroom database"}
    assert expected[damage] in text, text
    assert "listening" not in text or "ready" not in text
    if damage == "empty":
        assert d.db.stat().st_size == 0  # not silently made into a fresh store


def make_small_mbox(directory: Path, n: int) -> Path:
    path = directory / ("m%d.mbox" % n)
    write_mbox(path, 5, 8_000)
    return path


def test_data_dir_removed_while_running_refuses_mail_and_says_so(tmp_path):
    import smtplib
    d = start_with_two_users(Daemon(tmp_path / "d"))
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as client:
        client.sendmail("s@remote.test", [ALICE], body_for("before", ALICE, 2000))
    shutil.rmtree(d.workdir / "data")
    with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPRecipientsRefused)) as refused:
        with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as client:
            client.sendmail("s@remote.test", [ALICE], body_for("after", ALICE, 2000))
    if isinstance(refused.value, smtplib.SMTPDataError):
        assert refused.value.smtp_code == 451
    else:  # a new read connection cannot open the missing file: the lookup fails first
        assert list(refused.value.recipients.values())[0][0] == 451
    d.wait_for_log("ALERT: the database file .* was removed or replaced")
    admin = d.admin("user", "list", check=False)
    assert admin.returncode == 1
    assert "was removed while process %d (postroomd) still uses it" % d.proc.pid in admin.stderr
    assert not (d.workdir / "data").exists()  # the admin command did not create a new store
    assert d.stop() == 0


@needs_root
def test_user_del_on_a_full_disk_succeeds(tmpfs):
    import smtplib
    disk = tmpfs("40m")
    d = start_with_two_users(Daemon(disk / "d"))
    for n in range(400):
        try:
            with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as client:
                client.sendmail("s@remote.test", [ALICE], body_for("fill-%d" % n, ALICE, 500_000))
        except (smtplib.SMTPDataError, smtplib.SMTPRecipientsRefused):
            break
    fill(disk / "ballast", 4096)
    run = d.admin("user", "del", ALICE, check=False)
    assert run.returncode == 0, run.stderr
    assert "deleted %s and" % ALICE in run.stdout
    (disk / "ballast").unlink()
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as client:
        client.sendmail("s@remote.test", [BOB], body_for("after", BOB, 500_000))
    assert len(pop3_messages(d, BOB)) == 1
    assert d.admin("verify").stdout.strip().endswith("ok")
    assert d.stop() == 0
