"""Issue 4: a full disk answers 451 4.3.0, stores nothing half-way, and the daemon keeps
serving. The data dir lives on a small tmpfs (mounting needs root, which CI has)."""

import smtplib
import subprocess


from conftest import Daemon, needs_root
from smtp_helpers import ALICE, message, pop3_messages, sha, strip_trace

pytestmark = needs_root


def test_full_disk_gets_451_and_loses_nothing_acknowledged(tmpfs, tmp_path):
    d = Daemon(tmpfs("3m") / "d", log_path=tmp_path / "postroomd.log")
    d.add_user("alice")
    d.start()
    try:
        accepted, refused = [], 0
        body = b"x" * 200 + b"\r\n"
        for n in range(400):
            msg = message("fill-%d" % n, body * 100)  # about 20 KiB each
            try:
                with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as s:
                    s.sendmail("sender@remote.test", [ALICE], msg)
                accepted.append(sha(msg))
            except smtplib.SMTPDataError as e:
                assert e.smtp_code == 451 and b"4.3.0" in e.smtp_error, e
                refused += 1
                if refused >= 3:
                    break
            except smtplib.SMTPRecipientsRefused as e:
                # The recipient lookup may fail first when even reading needs space.
                code = list(e.recipients.values())[0][0]
                assert code == 451, e
                refused += 1
                if refused >= 3:
                    break
        assert refused >= 1, "the 3 MiB disk never filled"
        assert accepted, "nothing fitted at all"
        # The daemon still serves: POP3 login and every acknowledged message is whole.
        stored = {sha(strip_trace(m)) for m in pop3_messages(d)}
        assert set(accepted) <= stored
        assert len(stored) == len(accepted)  # nothing refused was stored
        assert "451 4.3.0" in d.log()
    finally:
        assert d.stop() == 0
    check = subprocess.run(["sqlite3", str(d.db), "PRAGMA integrity_check; SELECT count(*) FROM contents WHERE complete = 0;"],
                           capture_output=True, text=True).stdout.split()
    assert check[0] == "ok"
    assert check[1] == "0"  # no half-stored body is left behind


def test_healthz_reports_a_full_disk_and_recovers(tmpfs):
    """The monitoring endpoint says what SMTP clients see: a disk without room for one
    largest message is unhealthy (503, naming the cause), even though the heartbeat's few
    bytes still fit in the WAL; health comes back by itself once there is room again."""
    from test_http import fetch
    d = Daemon(tmpfs("4m") / "d", listen={"smtp": ["127.0.0.1:0"], "pop3": ["127.0.0.1:0"],
                                          "http": ["127.0.0.1:0"]},
               extra="limits:\n  max_message_size: 512KiB\n")
    d.add_user("alice")
    d.start()
    filler = d.db.parent / "filler"
    try:
        status, _, body = fetch(d, "/healthz", "x")
        assert status == 200 and b"disk_free: " in body, body
        # Another program fills the disk the store lives on.
        subprocess.run(["dd", "if=/dev/zero", "of=%s" % filler, "bs=64k"], capture_output=True)
        refused = message("refused", (b"x" * 200 + b"\r\n") * 500)
        with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as s:
            try:
                s.sendmail("sender@remote.test", [ALICE], refused)
                raise AssertionError("a message was accepted on a full disk")
            except smtplib.SMTPDataError as e:
                assert e.smtp_code == 451, e
            except smtplib.SMTPRecipientsRefused as e:
                assert list(e.recipients.values())[0][0] == 451, e
        status, _, body = fetch(d, "/healthz", "x")
        assert status == 503, body
        assert b"less than the largest message accepted (512 KiB): disk full" in body, body
        filler.unlink()
        status, _, body = fetch(d, "/healthz", "x")
        assert status == 200, body
        accepted = message("accepted", b"y" * 500 + b"\r\n")
        with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30) as s:
            s.sendmail("sender@remote.test", [ALICE], accepted)
        assert [sha(strip_trace(m)) for m in pop3_messages(d)] == [sha(accepted)]
    finally:
        assert d.stop() == 0
