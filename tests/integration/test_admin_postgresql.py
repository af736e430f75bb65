"""The admin command on `store.backend: postgresql`: user add|passwd|del|list|apop|quota,
alias add|del|list, domain list|quota and queue list|show|retry|delete work on the
PostgreSQL database (the same lines and exit codes as on SQLite), and every other store command refuses in one line,
leaving the SQLite file in data_dir alone (not created, not changed). One PostgreSQL server for the module, one
database per test."""

import hashlib
import itertools
import json
import re
import sqlite3
import time

import pytest

from conftest import DOMAIN, PASSWORD

ALICE = "alice@" + DOMAIN
BOB = "bob@" + DOMAIN
REFUSED = "does not work on store.backend postgresql yet"
PORTED = ("user add|passwd|del|list|apop|quota, alias add|del|list, domain list|quota, "
          "device add|list|revoke|del, vacation, allow|block add|del|list, "
          "retention set|clear|list|show, queue list|show|retry|delete and status")
_databases = itertools.count()


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


HEADER = b"From: alice@example.test\r\nSubject: hello\r\n\r\n"
# Two queued messages: Q1 for x (deferred twice) and y (delivered), Q2 for z; and a message
# of 1024 POP3 octets in alice's mailbox.
SEED_SQL = [
    "INSERT INTO contents(id, size, pop3_size, complete, created_at, chunks)"
    " VALUES (5, %d, %d, 1, 1700000000, 2)" % (len(HEADER) + 5, len(HEADER) + 5),
    "INSERT INTO content_chunks(content_id, seq, data) VALUES (5, 0, {header})",
    "INSERT INTO content_chunks(content_id, seq, data) VALUES (5, 1, {body})",
    "INSERT INTO contents(id, size, pop3_size, complete, created_at, chunks)"
    " VALUES (6, 0, 0, 1, 1700000000, 0)",
    "INSERT INTO queue(queue_id, content_id, sender, created_at)"
    " VALUES ('Q1', 5, 'alice@example.test', 1700000000)",
    "INSERT INTO queue(queue_id, content_id, sender, created_at) VALUES ('Q2', 6, '', 1700000100)",
    "INSERT INTO queue_recipients(queue_row, recipient, state, attempts, next_attempt, last_reply)"
    " SELECT id, 'x@remote.test', 'deferred', 2, 1700003600, '451 try later' FROM queue"
    " WHERE queue_id = 'Q1'",
    "INSERT INTO queue_recipients(queue_row, recipient, state, next_attempt)"
    " SELECT id, 'y@remote.test', 'delivered', 0 FROM queue WHERE queue_id = 'Q1'",
    "INSERT INTO queue_recipients(queue_row, recipient, state, next_attempt)"
    " SELECT id, 'z@remote.test', 'queued', 1700007200 FROM queue WHERE queue_id = 'Q2'",
    "INSERT INTO queue_history(recipient_row, at, remote_host, reply)"
    " SELECT id, 1700000300, 'mx.remote.test', '451 busy' FROM queue_recipients"
    " WHERE recipient = 'x@remote.test'",
    "INSERT INTO queue_history(recipient_row, at, remote_host, reply)"
    " SELECT id, 1700001200, '', 'connection refused' FROM queue_recipients"
    " WHERE recipient = 'x@remote.test'",
    "INSERT INTO contents(id, size, pop3_size, complete, created_at, chunks)"
    " VALUES (7, 1000, 1024, 1, 1700000000, 0)",
    "INSERT INTO deliveries(account_id, content_id, uidl, delivered_at)"
    " SELECT id, 7, 'u7', 1700000000 FROM accounts WHERE address = '%s'" % ALICE,
]


def seed_sqlite(d):
    db = sqlite3.connect(str(d.db))
    with db:
        for sql in SEED_SQL:
            db.execute(sql.format(header="X'%s'" % HEADER.hex(), body="X'%s'" % b"body\r\n".hex()))
    db.close()


def seed_postgresql(postgres, d):
    postgres.psql("; ".join(sql.format(header="'\\x%s'" % HEADER.hex(),
                                       body="'\\x%s'" % b"body\r\n".hex())
                            for sql in SEED_SQL), d.dbname)


def script(d, seed):
    """The same admin session on any backend: [(exit code, stdout, stderr)]."""
    away = d.workdir / "away.txt"
    away.write_text("I am away.\nBack on the 10th.\n")
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
        (seed, None),
        (("queue", "list"), None),
        (("queue", "show", "Q1"), None),
        (("queue", "show", "Q9"), None),
        (("queue", "show"), None),
        (("queue", "retry", "Q9"), None),
        (("queue", "delete", "Q1"), None),
        (("queue", "delete", "Q1"), None),
        (("queue", "list"), None),
        # From here Q2's next attempt is the time of the retry: not compared, not listed.
        (("queue", "retry", "Q2"), None),
        (("queue", "retry"), None),
        (("user", "quota", ALICE), None),
        (("user", "quota", ALICE, "--bytes", "50M", "--messages", "100"), None),
        (("user", "quota", ALICE, "--messages", "none"), None),
        (("user", "quota", ALICE, "--bytes", "lots"), None),
        (("user", "quota", BOB), None),
        (("user", "quota", "bob@elsewhere.test"), None),
        (("domain", "quota", DOMAIN, "--messages", "1000", "--bytes", "unlimited"), None),
        (("domain", "quota", "elsewhere.test"), None),
        (("domain", "list"), None),
        (("domain", "quota", DOMAIN, "--messages", "none", "--bytes", "none"), None),
        (("domain", "list"), None),
        (("device", "add", ALICE, "scanner", "--smtp", "--from", "team@" + DOMAIN, "--rate",
          "10/h"), None),
        (("device", "add", ALICE, "phone"), None),
        (("device", "add", ALICE, "phone", "--pop3"), None),
        (("device", "add", ALICE, "printer", "--smtp", "--from", "other@" + DOMAIN), None),
        (("device", "add", BOB, "phone"), None),
        (("device", "list"), None),
        (("device", "list", ALICE), None),
        (("device", "list", "nobody@" + DOMAIN), None),
        (("device", "revoke", ALICE, "phone"), None),
        (("device", "revoke", ALICE, "phone"), None),
        (("device", "list"), None),
        (("vacation", ALICE), None),
        (("vacation", ALICE, "--subject", "Away", "--message-file", str(away), "--from",
          "2030-01-01", "--until", "2030-01-10", "--days", "3"), None),
        (("vacation", ALICE), None),
        (("vacation", "list"), None),
        (("vacation", "nobody@" + DOMAIN), None),
        (("vacation", ALICE, "--message-file", str(away)), None),
        (("vacation", "list"), None),
        (("vacation", ALICE, "--off"), None),
        (("vacation", ALICE, "--off"), None),
        (("vacation", "list"), None),
        (("allow", "add", "192.0.2.0/24"), None),
        (("block", "add", "spam.test"), None),
        (("block", "add", "evil@spam.test", ALICE), None),
        (("block", "add", "spam.test"), None),
        (("allow", "list"), None),
        (("block", "list"), None),
        (("block", "del", "spam.test"), None),
        (("block", "del", "spam.test"), None),
        (("block", "list"), None),
        (("retention", "set", DOMAIN, "--retrieved", "30d", "--login-delay", "5m"), None),
        (("retention", "set", ALICE, "--max-age", "never"), None),
        (("retention", "set", DOMAIN, "--max-age", "90d"), None),
        (("retention", "list"), None),
        (("retention", "show", ALICE), None),
        (("retention", "clear", DOMAIN), None),
        (("retention", "clear", DOMAIN), None),
        (("retention", "list"), None),
    ]
    out = []
    for args, stdin in steps:
        if callable(args):
            args(d)
            continue
        r = d.admin(*args, input=stdin, check=False)
        out.append((args, r.returncode, masked(r.stdout), r.stderr))
    return out


def masked(text):
    """Output with what differs from run to run replaced: device passwords, and times of
    this run (the seeded ones are in 2023)."""
    text = re.sub(r"password: \S+", "password: <new>", text)
    return re.sub(r"20(2[4-9]|[3-9][0-9])-[0-9-]{5}T[0-9:]{8}Z", "<now>", text)


def test_user_alias_and_queue_commands_print_and_exit_as_on_sqlite(make_daemon, pg_daemon,
                                                                   postgres):
    sqlite = script(make_daemon(start=False, name="sqlite"), seed_sqlite)
    before_retry = int(time.time())
    pg = script(pg_daemon, lambda d: seed_postgresql(postgres, d))
    assert [r[1] for r in pg] == [0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0,
                                  0, 0, 1, 2, 1, 0, 1, 0, 0, 0,
                                  0, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0,
                                  0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0,
                                  0, 0, 0, 0, 1, 0, 0, 0, 0, 0,
                                  0, 0, 0, 1, 0, 0, 0, 1, 0,
                                  0, 0, 0, 0, 0, 0, 1, 0]
    for on_sqlite, on_pg in zip(sqlite, pg):
        assert on_pg[1:] == on_sqlite[1:], on_pg[0]  # args name the file of each daemon
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
    # The queue: listed, shown with its attempts and header section, deleted, retried.
    assert pg[22][2] == ("Q1\tx@remote.test\tdeferred\t2\t2023-11-14T23:13:20Z\t451 try later\n"
                         "Q2\tz@remote.test\tqueued\t0\t2023-11-15T00:13:20Z\t\n")
    assert pg[23][2] == ("id: Q1\nfrom: <alice@example.test>\nqueued: 2023-11-14T22:13:20Z\n"
                         "size: %d\nto: <x@remote.test> state=deferred attempts=2"
                         " next=2023-11-14T23:13:20Z\n"
                         "  2023-11-14T22:18:20Z mx.remote.test 451 busy\n"
                         "  2023-11-14T22:33:20Z - connection refused\n"
                         "\nFrom: alice@example.test\nSubject: hello\n" % (len(HEADER) + 5))
    assert pg[24][3] == pg[26][3] == "postroom: no queued message Q9\n"
    assert pg[28][3] == "postroom: no queued message Q1\n"
    assert pg[27][2] == "deleted Q1\n" and pg[29][2].startswith("Q2\t")
    assert pg[30][2] == pg[31][2] == "1 recipient(s) due now\n"
    db = pg_daemon.dbname
    # Deleting Q1 took its recipients, their history, and its content with the chunks.
    assert postgres.psql("SELECT queue_id FROM queue", db) == [["Q2"]]
    assert postgres.psql("SELECT recipient FROM queue_recipients", db) == [["z@remote.test"]]
    assert postgres.psql("SELECT count(*) FROM queue_history", db) == [["0"]]
    assert postgres.psql("SELECT id FROM contents ORDER BY id", db) == [["6"], ["7"]]
    assert postgres.psql("SELECT count(*) FROM content_chunks", db) == [["0"]]
    # Retry made z due now (the seed had it due in 2023).
    next_attempt = int(postgres.psql("SELECT next_attempt FROM queue_recipients", db)[0][0])
    assert before_retry <= next_attempt <= int(time.time())
    # Quotas: alice's bytes set, her messages back to the default; the domain's setting gone.
    assert pg[33][2] == ("quota for %s: messages 100 (set), bytes 50MiB (set)\n"
                         "%s\t1\t1024\t100\t52428800\n" % (ALICE, ALICE))
    assert postgres.psql("SELECT max_bytes, max_messages FROM account_quotas", db) == [
        ["52428800", ""]]
    assert pg[40][2] == "%s\t1\t1024\t1000\t-\n" % DOMAIN
    assert pg[36][3] == "postroom: no mailbox %s\n" % BOB
    assert postgres.psql("SELECT count(*) FROM domain_quotas", db) == [["0"]]
    # Devices: added with their rights, listed, one revoked; the password only as a hash.
    assert pg[43][2] == ("added device scanner for %s: smtp, sending as team@%s, at most 10/h\n"
                         "password: <new>\nThe password is shown only now (only its hash is"
                         " kept).\n" % (ALICE, DOMAIN))
    assert pg[48][2] == ("%s\tphone\tpop3,smtp\t*\t-\t<now>\tnever\t-\n"
                         "%s\tscanner\tsmtp\tteam@%s\t10/h\t<now>\tnever\t-\n"
                         % (ALICE, ALICE, DOMAIN))
    assert pg[53][2] == "%s\tscanner\tsmtp\tteam@%s\t10/h\t<now>\tnever\t-\n" % (ALICE, DOMAIN)
    rows = postgres.psql("SELECT d.name, d.pop3, d.smtp, d.rate_per_hour, s.address,"
                         " d.password_hash FROM devices d JOIN device_senders s"
                         " ON s.device_id = d.id", db)
    assert [r[:5] for r in rows] == [["scanner", "0", "1", "10", "team@" + DOMAIN]]
    assert rows[0][5].startswith("$argon2id$")
    # Vacation: set, shown, replaced (no dates: active now), listed, turned off.
    assert pg[54][2] == "%s: no vacation set\n" % ALICE
    assert pg[56][2].startswith("address: %s\nstate: scheduled\nfrom: 2030-01-01T00:00" % ALICE)
    assert pg[56][2].endswith("\ndays: 3\nsubject: Away\n\nI am away.\nBack on the 10th.\n")
    assert pg[57][2].startswith("%s\tscheduled\t2030-01-01T00:00" % ALICE)
    assert pg[60][2] == "%s\tactive\t-\t-\t7\tAuto: (the original subject)\n" % ALICE
    assert pg[61][2] == "vacation off for %s\n" % ALICE
    assert pg[62][2] == "no vacation was set for %s\n" % ALICE
    assert postgres.psql("SELECT count(*) FROM vacations", db) == [["0"]]
    # Allow and block lists, retention settings.
    assert pg[68][2] == "network\t192.0.2.0/24\t*\n"
    assert pg[69][2] == "domain\tspam.test\t*\naddress\tevil@spam.test\t%s\n" % ALICE
    assert pg[71][3] == "postroom: no such rule: block domain spam.test\n"
    assert postgres.psql("SELECT list, kind, value, scope FROM access_rules ORDER BY id", db) == [
        ["allow", "network", "192.0.2.0/24", ""], ["block", "address", "evil@spam.test", ALICE]]
    assert pg[76][2] == "%s\t-\tnever\t-\n%s\t30d\t90d\t5m\n" % (ALICE, DOMAIN)
    assert postgres.psql("SELECT scope, retrieved, max_age, login_delay FROM retention_settings",
                         db) == [[ALICE, "", "-1", ""]]


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


def test_status_reads_mailboxes_quotas_queue_and_size_from_postgresql(pg_daemon, postgres):
    pg_daemon.add_user("alice")
    seed_postgresql(postgres, pg_daemon)
    pg_daemon.admin("user", "quota", ALICE, "--messages", "1")
    r = pg_daemon.admin("status", "--json", check=False)
    assert r.returncode == 1  # no postroomd running
    s = json.loads(r.stdout)
    assert s["mailboxes"] == {"count": 1, "messages": 1, "bytes": 1024}
    assert s["quota"] == {"limited_mailboxes": 1, "nearly_full": [
        {"address": ALICE, "percent": 100, "messages": 1, "bytes": 1024}]}
    oldest = s["queue"].pop("oldest_deferred")
    assert s["queue"] == {"recipients": 2, "messages": 2, "deferred": 1}
    assert (oldest["queue_id"], oldest["recipient"], oldest["attempts"]) == ("Q1", "x@remote.test", 2)
    assert [(e["queue_id"], e["reply"]) for e in s["delivery_errors"]] == [
        ("Q1", "connection refused"), ("Q1", "451 busy")]
    store = s["store"]
    assert (store["backend"], store["file"], store["database"]) == (
        "postgresql", None, pg_daemon.dbname)
    assert store["bytes"] > 0
    text = pg_daemon.admin("status", check=False).stdout
    assert "\nstore:        PostgreSQL database %s, " % pg_daemon.dbname in text
    assert "\nqueue:        2 recipient(s) in 2 message(s), 1 deferred\n" in text
    assert not pg_daemon.db.exists()


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
        ("backup", ("backup", str(d.workdir / "copy.db"))),
        ("verify", ("verify",)),
    ]
    for name, args in refused:
        r = d.admin(*args, check=False)
        assert (r.returncode, r.stdout) == (1, ""), args
        assert r.stderr.splitlines() == [
            "postroom: `postroom %s` %s; %s do (see README, \"More than one box\")"
            % (name, REFUSED, PORTED)]
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
