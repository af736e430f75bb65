"""Issue 18: several postroomd on one PostgreSQL (Debian's, started here): one maildrop served by
one box at a time, a queue two runners share without delivering twice, a daemon SIGKILLed
under load whose queue the other takes over, and PostgreSQL itself restarted under load."""

import poplib
import signal
import smtplib
import socket
import threading
import time

import pytest

from conftest import DOMAIN, PASSWORD, postgres_store_section
from peers.postgres import Postgres
from peers.smtp_peer import Peer
from smtp_helpers import wait_until

ALICE = "alice@" + DOMAIN


_databases = iter(range(1000))


def shared_store(postgres, lease="3s"):
    """A config section putting a daemon on a new database of `postgres` (shared by whoever
    gets the same section)."""
    return postgres_store_section(postgres, "cluster%d" % next(_databases),
                                  "    queue_lease: %s\n" % lease)


def smarthost_on(port):
    return ("relay:\n  mode: smarthost\n  smarthost:\n    host: 127.0.0.1\n    port: %d\n"
            "    tls: none\n  retry_schedule: [1s]\n" % port)


def smarthost(peer):
    return smarthost_on(peer.port)


def message(n, to):
    return ("From: %s\r\nTo: %s\r\nSubject: cluster %d\r\nMessage-ID: <cluster-%d@example.test>\r\n"
            "\r\nbody %d\r\n" % (ALICE, to, n, n, n)).encode()


def submit(d, n, to, timeout=30):
    """True when the daemon acknowledged message n (250 after DATA), whatever befalls the QUIT."""
    try:
        s = smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=timeout)
    except OSError:
        return False
    try:
        return s.sendmail(ALICE, [to], message(n, to)) == {}
    except (smtplib.SMTPException, OSError):
        return False
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            s.close()


def assert_acked_once(subjects, acked, unanswered, in_flight):
    """Every acknowledged message is there exactly once. A message whose answer the fault cut
    off (committed, then the daemon or the database died before the 250) may be there too,
    once: the client was told nothing or a temporary failure, and RFC 5321 lets it send again.
    At most `in_flight` of those: one per session open at the fault."""
    wanted = {"Subject: cluster %d" % n for n in acked}
    maybe = {"Subject: cluster %d" % n for n in unanswered}
    assert len(subjects) == len(set(subjects)), "a message stored twice"
    assert wanted <= set(subjects), "acknowledged and lost: %s" % sorted(wanted - set(subjects))
    extra = set(subjects) - wanted
    assert extra <= maybe, "stored but never sent: %s" % sorted(extra - maybe)
    assert len(extra) <= in_flight, extra


def subjects_in_mailbox(d, password=PASSWORD):
    box = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=30)
    box.user(ALICE)
    box.pass_(password)
    count = len(box.list()[1])
    subjects = []
    for i in range(1, count + 1):
        lines = box.retr(i)[1]
        assert lines[-1] == b"body %s" % lines[-1].split()[-1], lines  # whole to the last line
        subjects += [l.decode() for l in lines if l.startswith(b"Subject: ")]
    box.quit()
    return subjects


def peer_subjects(peer):
    out = []
    for m in peer.messages:
        for line in m.content.splitlines():
            if line.startswith(b"Subject: "):
                out.append(line.decode())
    return out


def two_daemons(make_daemon, section, extra=""):
    a = make_daemon(start=False, extra=section + extra)
    a.add_user("alice")
    a.start()
    b = make_daemon(extra=section + extra)
    return a, b


def test_one_maildrop_is_served_by_one_box_at_a_time(make_daemon, postgres):
    a, b = two_daemons(make_daemon, shared_store(postgres))
    assert submit(a, 1, ALICE)
    first = poplib.POP3("127.0.0.1", a.ports["pop3"], timeout=30)
    first.user(ALICE)
    first.pass_(PASSWORD)
    second = poplib.POP3("127.0.0.1", b.ports["pop3"], timeout=30)
    second.user(ALICE)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        second.pass_(PASSWORD)
    # The other way round, and within one box, the same.
    third = poplib.POP3("127.0.0.1", a.ports["pop3"], timeout=30)
    third.user(ALICE)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        third.pass_(PASSWORD)
    assert len(first.list()[1]) == 1
    first.dele(1)
    first.quit()
    # Once the first box let go, the second serves the maildrop and sees the deletion.
    def logged_in():
        box = poplib.POP3("127.0.0.1", b.ports["pop3"], timeout=30)
        box.user(ALICE)
        try:
            box.pass_(PASSWORD)
        except poplib.error_proto:
            box.quit()
            return None
        return box
    box = wait_until(logged_in, timeout=10)
    assert box.list()[1] == []
    box.quit()


def test_two_queue_runners_deliver_each_message_exactly_once(make_daemon, postgres):
    peer = Peer().start()
    try:
        a, b = two_daemons(make_daemon, shared_store(postgres), smarthost(peer))
        count = 60
        acked = [n for n in range(count) if submit(a if n % 2 else b, n, "bob%d@remote.test" % n)]
        assert len(acked) == count
        wait_until(lambda: len(peer.messages) >= count, timeout=60)
        time.sleep(2)  # a second delivery of anything would arrive meanwhile
        subjects = peer_subjects(peer)
        assert sorted(subjects) == sorted("Subject: cluster %d" % n for n in range(count))
        # Both runners took part (each wakes on its own submissions).
        assert "delivered" in a.log() and "delivered" in b.log()
    finally:
        peer.stop()


def test_sigkill_of_one_daemon_under_load_loses_nothing_and_the_other_takes_its_queue(
        make_daemon, postgres):
    # The smarthost holds each DATA for a while: the killed daemon dies holding leases.
    peer = Peer(delay=4.0).start()
    try:
        a, b = two_daemons(make_daemon, shared_store(postgres, lease="3s"), smarthost(peer))
        acked, unanswered, stop = [], [], threading.Event()

        def load(daemon, start):
            n = start
            while not stop.is_set():
                to = ALICE if n % 2 else "bob%d@remote.test" % n
                (acked if submit(daemon, n, to, timeout=10) else unanswered).append((n, to))
                n += 1

        senders = [threading.Thread(target=load, args=(a, 0)),
                   threading.Thread(target=load, args=(a, 100000))]
        for t in senders:
            t.start()
        wait_until(lambda: len(acked) >= 20 and peer.data_seen > 0, timeout=60)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        stop.set()
        for t in senders:
            t.join()
        assert a.proc.returncode == -signal.SIGKILL
        a.proc = None  # the fixture must not expect a clean exit
        remote = {"Subject: cluster %d" % n for n, to in acked if to != ALICE}
        # Every acknowledged local message is in the mailbox, whole and once, served by b.
        assert_acked_once(subjects_in_mailbox(b), [n for n, to in acked if to == ALICE],
                          [n for n, to in unanswered if to == ALICE], len(senders))
        # Every acknowledged remote message reaches the smarthost through b once a's leases
        # expire (one a was sending when killed may arrive twice: the peer may have taken it).
        wait_until(lambda: remote <= set(peer_subjects(peer)), timeout=90)
        # b logs a delivery once its record is written, a moment after the peer has the message.
        wait_until(lambda: "delivered" in b.log(), timeout=30, what="b's delivery in its log")
    finally:
        peer.stop()


def test_a_daemon_stopped_mid_delivery_hands_its_queue_over_at_once(make_daemon, postgres):
    # a's smarthost takes the connection and never says a word, so a holds its leases until it
    # stops; b's smarthost works. The lease is far longer than the test: only the stop's
    # giving back lets b deliver in time.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes the handshakes; nobody ever answers
    peer = Peer().start()
    try:
        section = shared_store(postgres, lease="15m")
        a = make_daemon(start=False, extra=section + smarthost_on(silent.getsockname()[1]))
        a.add_user("alice")
        a.start()
        b = make_daemon(extra=section + smarthost(peer))
        for n in range(3):
            assert submit(a, n, "bob%d@remote.test" % n)
        node = (a.workdir / "data" / "node.id").read_text()
        leased = "SELECT count(*) FROM queue_recipients WHERE leased_by = '%s'" % node
        wait_until(lambda: a.sql(leased) != "0", timeout=30, what="a's leases")
        assert a.stop(signal.SIGTERM) == 0
        assert a.sql(leased) == "0"
        wanted = {"Subject: cluster %d" % n for n in range(3)}
        wait_until(lambda: wanted <= set(peer_subjects(peer)), timeout=60, what="b's deliveries")
        # b logs a delivery once its record is written, a moment after the peer has the message.
        wait_until(lambda: "result=delivered" in b.log(), timeout=30, what="b's delivery in its log")
    finally:
        peer.stop()
        silent.close()


def test_postgresql_restarted_under_load_loses_nothing(make_daemon, postgres):
    d = make_daemon(start=False, extra=shared_store(postgres))
    d.add_user("alice")
    d.start()
    acked, refused, stop = [], [], threading.Event()

    def load(start):
        n = start
        while not stop.is_set():
            (acked if submit(d, n, ALICE, timeout=20) else refused).append(n)
            n += 1
            time.sleep(0.01)

    senders = [threading.Thread(target=load, args=(s,)) for s in (0, 100000)]
    for t in senders:
        t.start()
    wait_until(lambda: len(acked) >= 10, timeout=30)
    postgres.crash()
    # While the database is away a POP3 login is a temporary failure, not a wrong password.
    box = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=30)
    box.user(ALICE)
    with pytest.raises(poplib.error_proto, match=r"\[SYS/TEMP\]"):
        box.pass_(PASSWORD)
    box.quit()
    postgres.start_again()
    before_back = len(acked)
    wait_until(lambda: len(acked) >= before_back + 10, timeout=60)
    stop.set()
    for t in senders:
        t.join()
    # Sessions during the restart got temporary errors and the daemon reconnected by itself.
    assert refused, "no SMTP session saw the restart"
    assert d.proc.poll() is None
    assert_acked_once(subjects_in_mailbox(d), acked, refused, len(senders))


def test_failover_to_a_promoted_standby_needs_no_restart(make_daemon):
    # A primary with a synchronous streaming standby; postroomd's dsn names both and asks
    # for the writable one, as "More than one box" in the README says.
    primary, standby = Postgres(), Postgres()
    try:
        primary.start()
        primary.create_database("failover")
        standby.start(standby_of=primary)
        primary.psql("ALTER SYSTEM SET synchronous_standby_names = '*'")
        primary.psql("SELECT pg_reload_conf()")
        wait_until(lambda: primary.psql("SELECT sync_state FROM pg_stat_replication") == [["sync"]],
                   what="the standby in sync")
        dsn = ("host=127.0.0.1,127.0.0.1 port=%d,%d dbname=failover user=postroom "
               "target_session_attrs=read-write" % (primary.port, standby.port))
        d = make_daemon(start=False,
                        extra='store:\n  backend: postgresql\n  postgresql:\n    dsn: "%s"\n' % dsn)
        d.add_user("alice")
        d.start()
        acked = [n for n in range(10) if submit(d, n, ALICE)]
        assert len(acked) == 10
        primary.crash()
        # No writable database: refused for now, nothing half stored.
        assert not submit(d, 100, ALICE)
        standby.promote()
        tries = iter(range(200, 400))

        def one_goes_through():
            n = next(tries)
            if submit(d, n, ALICE):
                acked.append(n)
                return True
            return False
        wait_until(one_goes_through, timeout=60, what="delivery through the promoted standby")
        for n in range(400, 405):
            assert submit(d, n, ALICE)
            acked.append(n)
        # Every message acknowledged before and after the failover, once and whole, and the
        # daemon was never restarted.
        assert sorted(subjects_in_mailbox(d)) == sorted("Subject: cluster %d" % n for n in acked)
        assert d.proc.poll() is None
        assert d.log().count("postroomd ready") == 1
    finally:
        standby.stop()
        primary.stop()
