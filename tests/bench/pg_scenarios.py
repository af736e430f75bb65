"""postroom on PostgreSQL (`--only pg`, or pg-smtp / pg-pop3): the SMTP and POP3 scenarios of
bench.py with postroomd on `store.backend: postgresql`, beside the same postroomd on SQLite
and the peers (Postfix for SMTP, Dovecot for POP3), in the same run.

PostgreSQL is Debian's, started here (initdb in the work dir, 127.0.0.1) with fsync and
full-page writes on and synchronous_commit at its default (on): a `250` waits for the WAL
flush, as SQLite's waits for its fsync. Its server processes run outside postroom's cgroup,
so the CPU and memory columns of "postroom on PostgreSQL" leave PostgreSQL out (they count
postroomd alone); the rates are end to end.

POP3: the mailboxes are imported into a SQLite store (`postroom import maildir`) and copied
to PostgreSQL with `postroom migrate-store --to postgresql`, the way an office moves; Dovecot
serves the same Maildirs.

Imported by bench.py (which registers itself as the module `bench` first).
"""

import shutil
import subprocess
import time

import bench
from bench import DOMAIN, KIB, Dovecot, Postfix, Postroom, make_maildir, measure, med, say
from postgres import Postgres


class PgPostroom(Postroom):
    """postroomd on a database of `server`."""

    name = "postroom"

    def __init__(self, base, postroomd, postroom, server, dbname, create=True, **kwargs):
        self.server, self.dbname = server, dbname
        if create:
            server.create_database(dbname)
        store = ["store:", "  backend: postgresql", "  postgresql:", "    host: 127.0.0.1",
                 "    port: %d" % server.port, "    dbname: %s" % dbname]
        super().__init__(base, postroomd, postroom, extra=store, **kwargs)
        self._counted = (0.0, 0)

    def delivered(self, local="bench"):
        # Asked every 20 ms while a run finishes; psql is a process: at most every 250 ms.
        at, n = self._counted
        if time.time() - at < 0.25:
            return n
        rows = self.server.psql("SELECT count(*) FROM deliveries d JOIN accounts a ON a.id = d.account_id"
                                " WHERE a.address = '%s@%s'" % (local, DOMAIN), self.dbname)
        n = int(rows[0][0])
        self._counted = (time.time(), n)
        return n

    def close(self):
        super().close()
        self.server.psql('DROP DATABASE IF EXISTS "%s"' % self.dbname)


def start_postgres():
    server = Postgres(durable=True).start()
    say("pg: PostgreSQL %s on 127.0.0.1:%d (fsync on)" % (
        server.psql("SHOW server_version")[0][0], server.port))
    return server


def report_beside(report, sec, label, peer, res):
    """postroom on PostgreSQL (res["pg"]) as the ratio to the peer and to postroom on SQLite."""
    G = res["pg"]
    report.pair(sec, label, "messages/s", peer, [r["rate"] for r in res[peer]], [r["rate"] for r in G])
    report.pair(sec, label, "messages/s", "postroom on SQLite", [r["rate"] for r in res["sqlite"]],
                [r["rate"] for r in G])
    report.pair(sec, label, "postroomd CPU ms/msg", "postroom on SQLite",
                [r["cpu_ms"] for r in res["sqlite"]], [r["cpu_ms"] for r in G], "ms", "lower")


def run_smtp(args, report, work, bins):
    scen = [(1 * KIB, 10), (1 * KIB, 50), (100 * KIB, 10)]
    counts = {(KIB, 10): args.n_1k_10, (KIB, 50): args.n_1k_50, (100 * KIB, 10): args.n_100k_10}
    if args.smoke:
        scen = [(KIB, 10)]
    server = start_postgres()
    run_no = [0]

    def one(kind, size, sessions, n):
        run_no[0] += 1
        base = work / ("pg-smtp-%s-%d" % (kind, run_no[0]))
        if kind == "postfix":
            s = Postfix(base, ["bench"])
        elif kind == "sqlite":
            s = Postroom(base, *bins, pop3=False)
            s.add_user("bench")
        else:
            s = PgPostroom(base, *bins, server, "smtp%d" % run_no[0], pop3=False)
            s.add_user("bench")
        try:
            s.start()
            time.sleep(0.3)
            _, secs, cpu, rss, pss = measure(s.cg, lambda: bench.smtp_load(s, sessions, n, size))
            return {"rate": n / secs, "cpu_ms": cpu / n, "rss": rss}
        finally:
            s.close()
            shutil.rmtree(s.base, ignore_errors=True)

    kinds = ["pg"] if args.smoke else ["postfix", "sqlite", "pg"]
    try:
        for size, sessions in scen:
            n = 50 if args.smoke else counts[(size, sessions)]
            label = "%d KiB, %d senders, %d msgs" % (size // KIB, sessions, n)
            res = {k: [] for k in kinds}
            for rep in range(args.pairs):
                for kind in kinds:
                    r = one(kind, size, sessions, n)
                    res[kind].append(r)
                    say("pg-smtp %-30s %-8s rep %d: %7.1f msg/s  cpu %.3f ms/msg  rss %.1f MiB"
                        % (label, kind, rep + 1, r["rate"], r["cpu_ms"] * 1000, r["rss"] / 1024))
            G = res["pg"]
            if args.smoke:
                if not G or any(r["rate"] <= 0 for r in G):
                    raise RuntimeError("smoke: no SMTP throughput on PostgreSQL")
                report.pair("SMTP on PostgreSQL (smoke)", label, "messages/s", "-", [1],
                            [med([r["rate"] for r in G])])
                continue
            sec = ("SMTP delivery on PostgreSQL (smtp-source -> mailbox), vs Postfix %s and vs "
                   "postroom on SQLite" % args.postfix_version)
            report_beside(report, sec, label, "postfix", res)
    finally:
        server.stop()


def run_pop3(args, report, work, bins):
    nbox = 2 if args.smoke else args.pop_boxes
    nmsg = 20 if args.smoke else args.pop_msgs
    users = ["pop%d" % i for i in range(nbox)]
    mailroot = work / "pg-pop3-mail"
    for u in users:
        make_maildir(mailroot, u, nmsg, args.pop_size)
    server = start_postgres()
    sqlite = Postroom(work / "pg-pop3-sqlite", *bins, smtp=False)
    for u in users:
        sqlite.add_user(u)
        sqlite.import_maildir(u, mailroot / DOMAIN / u)
    server.create_database("pop3")
    pg_config = sqlite.base / "pg.yaml"
    pg_config.write_text(sqlite.config.read_text() + "store:\n  backend: sqlite\n  postgresql:\n"
                         "    host: 127.0.0.1\n    port: %d\n    dbname: pop3\n" % server.port)
    t = time.time()
    subprocess.run([bins[1], "--config", str(pg_config), "migrate-store", "--to", "postgresql"],
                   check=True, capture_output=True, timeout=600)
    say("pg-pop3: migrate-store of %d x %d messages took %.1fs" % (nbox, nmsg, time.time() - t))
    pg = PgPostroom(work / "pg-pop3-pg", *bins, server, "pop3", create=False, smtp=False,
                    cgname="postroom-pg")
    servers = [sqlite, pg]
    names = {id(sqlite): "sqlite", id(pg): "pg"}
    if not args.smoke:
        hashes = {u: sqlite.password_hash(u) for u in users}
        subprocess.run(["chown", "-R", "nobody:nogroup", str(mailroot)], check=True)
        dv = Dovecot(work / "pg-pop3-dovecot", mailroot, hashes)
        servers.insert(0, dv)
        names[id(dv)] = "dovecot"
    try:
        for s in servers:
            s.start()
        time.sleep(1)
        for s in servers:  # warm-up: Dovecot's index, page caches, PostgreSQL's buffers
            t0, t1, m, b = bench.pop3_clients(s.pop3_port, users)
            if m != nbox * nmsg:
                raise RuntimeError("%s: %d messages retrieved, expected %d" % (names[id(s)], m, nbox * nmsg))
        for nc in ([1, 10] if not args.smoke else [1]):
            label = "%d client%s, %d x %d x %d KiB" % (nc, "s" if nc > 1 else "", nbox, nmsg, args.pop_size // KIB)
            res = {names[id(s)]: [] for s in servers}
            for rep in range(args.pop_pairs):
                for s in servers:
                    groups = [users] if nc == 1 else users[:nc]
                    (t0, t1, m, b), secs, cpu, rss, pss = measure(s.cg, lambda s=s, g=groups: bench.pop3_clients(
                        s.pop3_port, g))
                    if m != nbox * nmsg:
                        raise RuntimeError("%s: %d messages, expected %d" % (names[id(s)], m, nbox * nmsg))
                    r = {"rate": m / (t1 - t0), "cpu_ms": cpu / m}
                    res[names[id(s)]].append(r)
                    say("pg-pop3 %-28s %-8s rep %d: %7.1f msg/s cpu %.3f ms/msg"
                        % (label, names[id(s)], rep + 1, r["rate"], r["cpu_ms"] * 1000))
            G = res["pg"]
            if args.smoke:
                report.pair("POP3 on PostgreSQL (smoke)", label, "messages/s", "-", [1], [med([r["rate"] for r in G])])
                continue
            sec = ("POP3 retrieval on PostgreSQL (USER/PASS, STAT, RETR all, QUIT), vs Dovecot %s and vs "
                   "postroom on SQLite" % args.dovecot_version)
            report_beside(report, sec, label, "dovecot", res)
    finally:
        for s in servers:
            s.close()
        server.stop()
