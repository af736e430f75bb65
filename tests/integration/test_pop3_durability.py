"""Issue 3: POP3 durability: UIDLs that survive restarts and restores, and UPDATE only on QUIT.

A dropped connection, a SIGTERM or a dropped transfer deletes nothing (RFC 1939 §6, seed
S10); a QUIT's +OK means the deletions are on disk. Helpers live in test_pop3.py."""

import signal
import socket

from test_pop3 import (UIDL_CHARS, Raw, big_message, closed_line, deliver,
                       session_id_of_last_connect, simple, split_trace, uidl_map)

# --- UIDL -------------------------------------------------------------------------------------

def test_uidl_stable_across_sessions_restart_backup_restore_and_never_reused(daemon, tmp_path):
    deliver(daemon, simple(1))
    deliver(daemon, simple(2))
    with Raw(daemon) as raw:
        first = uidl_map(raw.login())
        assert raw.cmd("UIDL 2") == b"+OK 2 " + first[2].encode()
        raw.cmd("QUIT")
    with Raw(daemon) as raw:
        assert uidl_map(raw.login()) == first
        raw.cmd("QUIT")
    daemon.restart()
    with Raw(daemon) as raw:
        assert uidl_map(raw.login()) == first
        raw.cmd("QUIT")
    backup = tmp_path / "backup.db"
    daemon.backup_store(backup)
    seen = set(first.values())
    # Mail after the backup, some of it deleted: the restored database knows nothing of it.
    for n in (3, 4, 5):
        deliver(daemon, simple(n))
    with Raw(daemon) as raw:
        later = uidl_map(raw.login())
        seen |= set(later.values())
        assert raw.cmd("DELE 3").startswith(b"+OK")
        assert raw.cmd("QUIT").startswith(b"+OK")
    assert len(seen) == 5
    daemon.stop()
    daemon.restore_store(backup)
    daemon.start()
    with Raw(daemon) as raw:
        assert uidl_map(raw.login()) == first
        raw.cmd("QUIT")
    for n in (6, 7, 8, 9):
        deliver(daemon, simple(n))
    with Raw(daemon) as raw:
        restored = uidl_map(raw.login())
        assert len(restored) == 6
        new = [restored[n] for n in (3, 4, 5, 6)]
        assert all(UIDL_CHARS.match(u) for u in new)
        assert not set(new) & seen, (new, seen)
        assert len(set(restored.values())) == 6
        _, rest = split_trace(raw.multi("RETR 3"))
        assert rest == simple(6)


# --- rollback: dropped connection, shutdown ---------------------------------------------------

def test_dropped_connection_deletes_nothing_and_releases_the_lock(daemon):
    for n in (1, 2):
        deliver(daemon, simple(n))
    raw = Raw(daemon).login()
    session = session_id_of_last_connect(daemon)
    assert raw.cmd("DELE 1").startswith(b"+OK")
    assert raw.cmd("DELE 2").startswith(b"+OK")
    raw.sock.shutdown(socket.SHUT_RDWR)
    raw.close()  # no QUIT: RFC 1939 §6, no UPDATE
    line = closed_line(daemon, session)
    assert len(line) == 1 and "deleted=0" in line[0]
    with Raw(daemon) as raw:
        assert raw.login().cmd("STAT").startswith(b"+OK 2 ")


def test_sigterm_during_a_session_deletes_nothing(daemon):
    for n in (1, 2, 3):
        deliver(daemon, simple(n))
    raw = Raw(daemon).login()
    assert raw.cmd("DELE 1").startswith(b"+OK")
    assert raw.cmd("DELE 3").startswith(b"+OK")
    assert daemon.stop(signal.SIGTERM) == 0
    assert raw.closed_by_peer()
    raw.close()
    daemon.start()
    with Raw(daemon) as raw:
        assert raw.login().cmd("STAT").startswith(b"+OK 3 ")


def test_quit_commits_before_its_ok_and_the_deletion_survives_a_kill(daemon):
    for n in (1, 2):
        deliver(daemon, simple(n))
    with Raw(daemon) as raw:
        raw.login()
        assert raw.cmd("DELE 2").startswith(b"+OK")
        assert raw.cmd("QUIT").startswith(b"+OK")
    daemon.kill()  # no clean shutdown: the +OK promised the commit was durable
    daemon.start()
    with Raw(daemon) as raw:
        _, rest = split_trace(raw.login().multi("RETR 1"))
        assert rest == simple(1)
        assert raw.cmd("STAT").startswith(b"+OK 1 ")


def test_disconnect_and_sigterm_in_the_middle_of_a_retr(daemon):
    deliver(daemon, big_message(8))
    deliver(daemon, simple(2))
    raw = Raw(daemon).login()
    session = session_id_of_last_connect(daemon)
    assert raw.cmd("DELE 2").startswith(b"+OK")
    raw.send("RETR 1\r\n")
    assert raw.line().startswith(b"+OK")
    raw.sock.recv(65536)
    raw.close()  # mid-transfer, the daemon still streaming
    assert "deleted=0" in closed_line(daemon, session)[0]
    raw = Raw(daemon).login()  # the lock went with the connection
    assert raw.cmd("STAT").startswith(b"+OK 2 ")
    assert raw.cmd("DELE 2").startswith(b"+OK")
    raw.send("RETR 1\r\n")
    assert raw.line().startswith(b"+OK")
    raw.sock.recv(65536)
    assert daemon.stop(signal.SIGTERM) == 0  # shutdown with a read and writes in flight
    assert raw.closed_by_peer()
    raw.close()
    daemon.start()
    with Raw(daemon) as raw:
        assert raw.login().cmd("STAT").startswith(b"+OK 2 ")
