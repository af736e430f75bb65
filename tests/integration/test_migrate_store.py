"""`postroom migrate-store --to postgresql`: a store that took mail over SMTP (some read and
deleted over POP3, some still queued for an unreachable smarthost) is copied into a real
PostgreSQL; every table's rows, the UIDLs POP3 clients saw, the message bytes, the queue
and the identifier high-water marks arrive, and a second run into the now non-empty
database is refused."""

import hashlib
import poplib
import sqlite3

from conftest import DOMAIN, PASSWORD, free_port
from test_pop3 import deliver

ALICE = "alice@" + DOMAIN
BOB = "bob@" + DOMAIN


def message(n, body=b""):
    return (b"From: carol@remote.test\r\nSubject: migrate %d\r\n\r\nbody %d\r\n" % (n, n)) + body


def pop3_listing(daemon, user):
    """[(uidl, size)] as a POP3 client sees the mailbox."""
    client = poplib.POP3("127.0.0.1", daemon.ports["pop3"], timeout=30)
    client.user(user)
    client.pass_(PASSWORD)
    uidls = [line.split()[1].decode() for line in client.uidl()[1]]
    sizes = [int(line.split()[1]) for line in client.list()[1]]
    client.quit()
    return list(zip(uidls, sizes))


def sqlite_rows(db, sql):
    connection = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def content_bytes_sqlite(db):
    """uidl -> the stored message bytes, chunk after chunk."""
    out = {}
    for uidl, content in sqlite_rows(db, "SELECT uidl, content_id FROM deliveries"):
        chunks = sqlite_rows(db, "SELECT data FROM content_chunks WHERE content_id = %d ORDER BY seq"
                             % content)
        out[uidl] = b"".join(c[0] for c in chunks)
    return out


def content_bytes_pg(postgres, dbname):
    rows = postgres.psql("SELECT d.uidl, encode(string_agg(c.data, ''::bytea ORDER BY c.seq), 'hex')"
                         " FROM deliveries d JOIN content_chunks c ON c.content_id = d.content_id"
                         " GROUP BY d.id, d.uidl", dbname)
    return {uidl: bytes.fromhex(data) for uidl, data in rows}


def test_migrate_store_copies_mail_uidls_and_queue_then_refuses_a_second_run(make_daemon, postgres):
    dead_smarthost = free_port()  # nothing listens: relayed mail stays queued
    d = make_daemon(start=False, extra="relay:\n  mode: smarthost\n  smarthost:\n"
                    "    host: 127.0.0.1\n    port: %d\n    tls: none\n  retry_schedule: [1h]\n"
                    % dead_smarthost)
    d.add_user("alice")
    d.add_user("bob")
    d.admin("alias", "add", "team@" + DOMAIN, ALICE, BOB)
    d.start()
    big = b"".join(b"line %06d \xc3\xa9 8-bit\r\n" % i for i in range(120000))  # 12 chunks
    for n in range(5):
        deliver(d, message(n), rcpt=ALICE)
    deliver(d, message(5, big), rcpt="team@" + DOMAIN)
    deliver(d, message(6), rcpt=BOB)
    # The newest delivery read and deleted: SQLite's AUTOINCREMENT mark is past the max id.
    client = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=30)
    client.user(BOB)
    client.pass_(PASSWORD)
    client.dele(2)
    client.quit()
    deliver(d, message(7), rcpt="someone@remote.test", sender=ALICE)  # to the dead smarthost
    seen = {user: pop3_listing(d, user) for user in (ALICE, BOB)}
    assert len(seen[ALICE]) == 6 and len(seen[BOB]) == 1
    dbname = postgres.create_database("mail")
    postgres.require_password("pg 'secret' one")
    secret = d.workdir / "pg.secret"
    secret.write_text("a wrong one\n")
    secret.chmod(0o600)
    with open(d.config, "a") as config:
        config.write("store:\n  postgresql:\n    host: 127.0.0.1\n    port: %d\n    dbname: %s\n"
                     "    user: postroom\n    password_file: pg.secret\n    sslmode: disable\n"
                     % (postgres.port, dbname))
    # Copying under a running daemon would leave the mail it takes afterwards behind.
    running = d.admin("migrate-store", "--to", "postgresql", check=False)
    assert running.returncode == 1 and "is running: stop it first" in running.stderr
    d.stop()
    # Enough rows for several INSERT batches, with text keys whose order differs between
    # byte order and a language's collation (the verification compares in byte order).
    store = sqlite3.connect(str(d.db))
    store.executemany("INSERT INTO greylist(network, sender, recipient, first_seen, passed)"
                      " VALUES (?, ?, ?, ?, ?)",
                      [("192.0.2.0/24", sender, "%s@%s" % (n, DOMAIN), 1700000000 + n,
                        None if n % 3 else 1700000400 + n)
                       for n in range(400) for sender in ("Zed@x.test", "\u00e1be@x.test", "abe@x.test")])
    # A remote server's reply with bytes PostgreSQL text cannot hold (Latin-1, NUL).
    store.execute("INSERT INTO queue_history(recipient_row, at, remote_host, reply)"
                  " SELECT id, 1700000000, 'mx.remote.test', CAST(? AS TEXT) FROM queue_recipients",
                  (b"451 caf\xe9 \x00busy",))
    store.commit()
    store.close()

    wrong = d.admin("migrate-store", "--to", "postgresql", check=False)
    assert wrong.returncode == 1
    assert "password authentication failed" in wrong.stderr
    assert "a wrong one" not in wrong.stdout + wrong.stderr
    secret.write_text("pg 'secret' one\n")
    run = d.admin("migrate-store", "--to", "postgresql")
    assert "migrate-store: deliveries: 7 rows copied" in run.stderr
    assert "migrate-store: content_chunks:" in run.stderr
    assert "copied and verified" in run.stdout
    assert "queue_history: 1 text value(s) held bytes PostgreSQL text cannot" in run.stderr
    assert postgres.psql("SELECT reply FROM queue_history WHERE remote_host = 'mx.remote.test'",
                         dbname) == [["451 caf\ufffd \ufffdbusy"]]
    assert "'secret' one" not in run.stdout + run.stderr

    # The printed digest of content_chunks covers every chunk's bytes, as SQLite holds them.
    digest = hashlib.sha256()
    for row in sqlite_rows(d.db, "SELECT * FROM content_chunks ORDER BY id"):
        for value in row:
            data = value if isinstance(value, bytes) else str(value).encode()
            digest.update(b"V%d:" % len(data) + data)
    printed = dict(line.split("\t")[0::2] for line in run.stdout.splitlines() if "\t" in line)
    assert printed["content_chunks"] == digest.hexdigest()

    # Every table: the same number of rows on both sides.
    tables = [r[0] for r in sqlite_rows(d.db, "SELECT name FROM sqlite_master WHERE type = 'table'"
                                        " AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'")]
    assert "queue_recipients" in tables
    for table in tables:
        sqlite_count = sqlite_rows(d.db, 'SELECT count(*) FROM "%s"' % table)[0][0]
        assert postgres.psql('SELECT count(*) FROM "%s"' % table, dbname) == [[str(sqlite_count)]], table

    # The UIDLs and sizes POP3 clients saw, per mailbox, in order.
    for user, listing in seen.items():
        rows = postgres.psql("SELECT d.uidl, c.pop3_size FROM deliveries d"
                             " JOIN accounts a ON a.id = d.account_id"
                             " JOIN contents c ON c.id = d.content_id"
                             " WHERE a.address = '%s' ORDER BY d.id" % user, dbname)
        assert [(u, int(s)) for u, s in rows] == listing

    # The message bytes, byte for byte, the big one included.
    from_sqlite = content_bytes_sqlite(d.db)
    assert content_bytes_pg(postgres, dbname) == from_sqlite
    assert any(big in data for data in from_sqlite.values())

    # The queue: its entry, recipient and state.
    queued = sqlite_rows(d.db, "SELECT q.queue_id, r.recipient, r.state, r.attempts, r.next_attempt"
                         " FROM queue q JOIN queue_recipients r ON r.queue_row = q.id")
    assert len(queued) == 1 and queued[0][1] == "someone@remote.test"
    assert postgres.psql("SELECT q.queue_id, r.recipient, r.state, r.attempts, r.next_attempt"
                         " FROM queue q JOIN queue_recipients r ON r.queue_row = q.id", dbname) == \
        [[str(v) for v in queued[0]]]

    # Quota counters as SQLite kept them; ids never handed out twice.
    assert postgres.psql("SELECT a.address, u.messages, u.bytes FROM mailbox_usage u"
                         " JOIN accounts a ON a.id = u.account_id ORDER BY a.address", dbname) == \
        [[a, str(m), str(b)] for a, m, b in sqlite_rows(
            d.db, "SELECT a.address, u.messages, u.bytes FROM mailbox_usage u"
                  " JOIN accounts a ON a.id = u.account_id ORDER BY a.address")]
    mark = sqlite_rows(d.db, "SELECT seq FROM sqlite_sequence WHERE name = 'deliveries'")[0][0]
    assert mark > sqlite_rows(d.db, "SELECT max(id) FROM deliveries")[0][0]  # bob's deleted one
    next_id = postgres.psql("SELECT nextval(pg_get_serial_sequence('deliveries', 'id'))", dbname)
    assert int(next_id[0][0]) == mark + 1

    # A second run finds the data there and copies nothing.
    again = d.admin("migrate-store", "--to", "postgresql", check=False)
    assert again.returncode == 1
    assert "not empty" in again.stderr and "accounts" in again.stderr
    assert postgres.psql("SELECT count(*) FROM deliveries", dbname) == [["7"]]


def test_migrate_store_needs_the_postgresql_settings(make_daemon):
    d = make_daemon(start=False)
    d.add_user("alice")
    run = d.admin("migrate-store", "--to", "postgresql", check=False)
    assert run.returncode == 1
    assert "store.postgresql" in run.stderr
    usage = d.admin("migrate-store", "--to", "mysql", check=False)
    assert usage.returncode == 2
