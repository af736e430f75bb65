"""The admin command on `store.backend: postgresql`: user add|passwd|del|list|apop, alias
add|del|list and queue list work on the PostgreSQL database (the same lines and exit codes
as on SQLite), and every other store command refuses in one line, leaving the SQLite file
in data_dir alone (not created, not changed). One PostgreSQL server for the module, one
database per test."""

import hashlib
import itertools

import pytest

from conftest import DOMAIN, PASSWORD
from peers.postgres import Postgres

ALICE = "alice@" + DOMAIN
BOB = "bob@" + DOMAIN
REFUSED = "does not work on store.backend postgresql yet"
_databases = itertools.count()


@pytest.fixture(scope="module")
def postgres():
    server = Postgres().start()
    yield server
    server.stop()


def pg_store(postgres, dbname):
    return ("store:\n  backend: postgresql\n  postgresql:\n    host: 127.0.0.1\n    port: %d\n"
            "    dbname: %s\n    user: postroom\n    sslmode: disable\n" % (postgres.port, dbname))


@pytest.fixture
def pg_daemon(make_daemon, postgres):
    """An unstarted daemon whose config keeps the store in a new PostgreSQL database."""
    dbname = postgres.create_database("admin%d" % next(_databases))
    d = make_daemon(start=False, extra=pg_store(postgres, dbname))
    d.dbname = dbname
    return d


def script(d):
    """The same admin session on any backend: [(exit code, stdout, stderr)]."""
    steps = [
        (("user", "add", ALICE, "--password-stdin"), PASSWORD + "\n"),
        (("user", "add", BOB, "--password-stdin"), "bob's password\n"),
        (("user", "add", ALICE, "--password-stdin"), "again\n"),
        (("user", "passwd", ALICE, "--password-stdin"), "a new one\n"),
        (("user", "passwd", "nobody@" + DOMAIN, "--password-stdin"), "x\n"),
        (("user", "apop", ALICE, "--password-stdin"), "apop secret\n"),
        (("user", "apop", ALICE, "--off"), None),
        (("user", "apop", BOB, "--password-stdin"), "bob's apop secret\n"),
        (("user", "apop", "nobody@" + DOMAIN, "--off"), None),
        (("alias", "add", "team@" + DOMAIN, BOB, ALICE, "friend@remote.test"), None),
        (("alias", "add", "@" + DOMAIN, ALICE), None),
        (("alias", "add", ALICE, BOB), None),
        (("alias", "add", "loop@" + DOMAIN, BOB, "loop@" + DOMAIN), None),
        (("alias", "list"), None),
        (("user", "list"), None),
        (("alias", "del", "@" + DOMAIN), None),
        (("alias", "del", "missing@" + DOMAIN), None),
        (("user", "del", BOB), None),
        (("user", "del", BOB), None),
        (("user", "list"), None),
        (("alias", "list"), None),
        (("queue", "list"), None),
    ]
    out = []
    for args, stdin in steps:
        r = d.admin(*args, input=stdin, check=False)
        out.append((args, r.returncode, r.stdout, r.stderr))
    return out


def test_user_and_alias_commands_print_and_exit_as_on_sqlite(make_daemon, pg_daemon, postgres):
    sqlite = script(make_daemon(start=False, name="sqlite"))
    pg = script(pg_daemon)
    assert [r[1] for r in pg] == [0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0]
    for on_sqlite, on_pg in zip(sqlite, pg):
        assert on_pg == on_sqlite
    assert pg[13][2] == ("@%s\t%s\nteam@%s\t%s\t%s\t%s\n"
                        % (DOMAIN, ALICE, DOMAIN, ALICE, BOB, "friend@remote.test"))
    assert pg[14][2] == "%s\t0\t0\t-\t-\n%s\t0\t0\t-\t-\n" % (ALICE, BOB)
    # The rows are in PostgreSQL, and no SQLite store was made.
    assert postgres.psql("SELECT address FROM accounts", pg_daemon.dbname) == [[ALICE]]
    # As on SQLite, aliases pointing at a deleted mailbox stay until the admin drops them.
    assert postgres.psql("SELECT alias, target FROM aliases ORDER BY target",
                         pg_daemon.dbname) == [["team@" + DOMAIN, ALICE], ["team@" + DOMAIN, BOB],
                                               ["team@" + DOMAIN, "friend@remote.test"]]
    # APOP: alice's secret set then removed; bob's went with his mailbox.
    assert pg[5][2] == "APOP enabled for %s\n" % ALICE and pg[6][2] == "APOP disabled for %s\n" % ALICE
    assert postgres.psql("SELECT count(*) FROM apop_secrets", pg_daemon.dbname) == [["0"]]
    assert not pg_daemon.db.exists()


def hash_of(postgres, d, address):
    rows = postgres.psql("SELECT password_hash FROM accounts WHERE address = '%s'" % address,
                         d.dbname)
    return rows[0][0] if rows else None


def test_passwd_replaces_the_stored_argon2id_hash(pg_daemon, postgres):
    pg_daemon.add_user("alice")
    first = hash_of(postgres, pg_daemon, ALICE)
    assert first.startswith("$argon2id$")
    r = pg_daemon.admin("user", "passwd", ALICE, "--password-stdin", input="another one\n")
    assert r.stdout == "password changed for %s\n" % ALICE
    second = hash_of(postgres, pg_daemon, ALICE)
    assert second.startswith("$argon2id$") and second != first


def add_message(postgres, d, content, accounts, size):
    """A stored message (its content row and one chunk) delivered to `accounts`."""
    sql = ["INSERT INTO contents(id, size, pop3_size, complete, created_at, chunks)"
           " VALUES (%d, %d, %d, 1, 1700000000, 1)" % (content, size, size + 2),
           "INSERT INTO content_chunks(content_id, seq, data) VALUES (%d, 0, '\\x%s')"
           % (content, b"x".hex() * size)]
    for account in accounts:
        sql.append("INSERT INTO deliveries(account_id, content_id, uidl, delivered_at)"
                   " SELECT id, %d, 'u%d', 1700000000 FROM accounts WHERE address = '%s'"
                   % (content, content, account))
    postgres.psql("; ".join(sql), d.dbname)


def test_user_del_removes_the_mailbox_its_deliveries_and_unshared_messages(pg_daemon, postgres):
    pg_daemon.add_user("alice")
    pg_daemon.add_user("bob")
    add_message(postgres, pg_daemon, 11, [ALICE], 100)
    add_message(postgres, pg_daemon, 12, [ALICE, BOB], 50)  # also in bob's mailbox
    pg_daemon.admin("alias", "add", "team@" + DOMAIN, ALICE, BOB)
    listed = pg_daemon.admin("user", "list").stdout
    assert listed == "%s\t2\t154\t-\t-\n%s\t1\t52\t-\t-\n" % (ALICE, BOB)

    r = pg_daemon.admin("user", "del", ALICE)
    assert r.stdout == "deleted %s and 2 messages\n" % ALICE
    db = pg_daemon.dbname
    assert postgres.psql("SELECT address FROM accounts", db) == [[BOB]]
    assert postgres.psql("SELECT content_id FROM deliveries", db) == [["12"]]
    # The message only alice had is gone with its chunks; the shared one stays.
    assert postgres.psql("SELECT id FROM contents", db) == [["12"]]
    assert postgres.psql("SELECT content_id FROM content_chunks", db) == [["12"]]
    assert postgres.psql("SELECT count(*) FROM mailbox_usage", db) == [["1"]]
    assert pg_daemon.admin("user", "list").stdout == "%s\t1\t52\t-\t-\n" % BOB
    # As on SQLite, an alias pointing at the deleted mailbox stays until the admin drops it.
    assert postgres.psql("SELECT target FROM aliases ORDER BY target", db) == [[ALICE], [BOB]]


def test_queue_list_reads_the_postgresql_queue(pg_daemon, postgres):
    pg_daemon.admin("user", "list")  # applies the schema
    postgres.psql("INSERT INTO contents(id, created_at) VALUES (5, 1700000000);"
                  " INSERT INTO queue(queue_id, content_id, sender, created_at)"
                  " VALUES ('Q1', 5, 'alice@example.test', 1700000000);"
                  " INSERT INTO queue_recipients(queue_row, recipient, state, attempts,"
                  " next_attempt, last_reply) SELECT id, 'x@remote.test', 'deferred', 2,"
                  " 1700003600, '451 try later' FROM queue;"
                  " INSERT INTO queue_recipients(queue_row, recipient, state, next_attempt)"
                  " SELECT id, 'y@remote.test', 'delivered', 0 FROM queue", pg_daemon.dbname)
    r = pg_daemon.admin("queue", "list")
    assert r.stdout == "Q1\tx@remote.test\tdeferred\t2\t2023-11-14T23:13:20Z\t451 try later\n"


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_other_store_commands_refuse_and_leave_sqlite_alone(make_daemon, postgres):
    # A box that had a SQLite store, its config now pointing at PostgreSQL.
    d = make_daemon(start=False)
    d.add_user("carol")
    before = {p.name: digest(p) for p in d.db.parent.iterdir() if p.name.startswith("postroom.db")}
    with open(d.config, "a") as config:
        config.write(pg_store(postgres, postgres.create_database("refusals")))
    refused = [
        ("device list", ("device", "list")),
        ("device add", ("device", "add", "carol@" + DOMAIN, "phone")),
        ("vacation", ("vacation", "list")),
        ("retention list", ("retention", "list")),
        ("allow list", ("allow", "list")),
        ("domain list", ("domain", "list")),
        ("user quota", ("user", "quota", "carol@" + DOMAIN)),
        ("queue show", ("queue", "show", "Q1")),
        ("backup", ("backup", str(d.workdir / "copy.db"))),
        ("verify", ("verify",)),
        ("status", ("status",)),
    ]
    for name, args in refused:
        r = d.admin(*args, check=False)
        assert (r.returncode, r.stdout) == (1, ""), args
        assert r.stderr.splitlines() == [
            "postroom: `postroom %s` %s; user add|passwd|del|list|apop, alias add|del|list and "
            "queue list do (see README, \"More than one box\")" % (name, REFUSED)]
    # The commands that do not use the store still work; check-config does not look for
    # postmaster in the SQLite file (which has none) any more.
    d.admin("dkim", "generate", DOMAIN, "--algorithm", "ed25519")
    checked = d.admin("check-config")
    assert checked.stdout == "ok\n" and "postmaster" not in checked.stderr
    after = {p.name: digest(p) for p in d.db.parent.iterdir() if p.name.startswith("postroom.db")}
    assert after == before
    assert not (d.workdir / "copy.db").exists()
    # The ported commands read PostgreSQL: carol lives only in the SQLite file.
    assert d.admin("user", "list").stdout == ""
