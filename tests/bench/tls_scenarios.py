"""Benchmark scenarios over TLS: submission with STARTTLS and AUTH PLAIN (postroom against
Postfix's submission service with Dovecot's SASL) and POP3S (postroom against Dovecot).

Both sides of each pair present the same certificate (ECDSA P-256, made here with openssl)
and the load generators (smtpsload.c, pop3load.c --tls) speak TLS 1.3 only: the driver
fails the run unless every client negotiated TLSv1.3. Passwords: both sides verify the
same argon2id strings (postroom's own, m=19456,t=2,p=1), as in the POP3 scenario.

Imported by bench.py (which registers itself as the module `bench` first); uses its
accounting (cgroups, sampler), servers and report.
"""

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import bench
from bench import DOMAIN, HOST, KIB, PASSWORD, Dovecot, Postfix, Postroom, measure, med, say

SERVER_NAME = "mail." + DOMAIN
SENDER = "sender"  # the account that logs in and sends (postroom: the envelope sender must be its own)
RCPT = "bench"     # the local mailbox that receives


def wait_tcp(port, timeout=30):
    """A TLS listener says nothing before the client's hello: connecting is enough."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d not ready in %ds" % (port, timeout))


def make_certificate(root):
    """Self-signed ECDSA P-256 certificate for mail.example.test: (cert, key) paths."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=" + SERVER_NAME,
                    "-addext", "subjectAltName=DNS:" + SERVER_NAME], check=True, capture_output=True)
    key.chmod(0o600)  # read by the servers as root, before they drop privileges
    return cert, key


def check_tls(kind, results):
    """Every client negotiated TLS 1.3; returns the (version, cipher, group) seen."""
    seen = {(r.get("tls_version"), r.get("tls_cipher"), r.get("tls_group")) for r in results}
    if any(v != "TLSv1.3" for v, _, _ in seen):
        raise RuntimeError("%s: a client negotiated %s, not TLSv1.3" % (kind, seen))
    return sorted(seen)


def argon2id_hash(work, bins, locals_):
    """postroom's own argon2id strings for these users (made by `postroom user add` in a
    scratch store), for the peers' passwd-files."""
    scratch = Postroom(work / "tls-hashes", *bins, smtp=False, pop3=True)
    for u in locals_:
        scratch.add_user(u)
    hashes = {u: scratch.password_hash(u) for u in locals_}
    shutil.rmtree(scratch.base, ignore_errors=True)
    if not all(h.startswith("$argon2id$v=19$m=19456,t=2,p=1$") for h in hashes.values()):
        say("WARNING: postroom's hashes are not m=19456,t=2,p=1: %s" % list(hashes.values())[0][:40])
    return hashes


# --------------------------------------------------------------------------- submission
# Dovecot's auth process verifies passwd-file passwords itself, one at a time. Its remedy for
# slow schemes such as argon2id: cache the passdb entry and verify the password of cached
# entries in auth-worker processes (still one argon2id verification per login, as in
# postroom, but several at once). The cache is filled by one unmeasured login before each run
# (both servers get it). Even so, with 50 senders a newly forked smtpd now and then fails its
# handshake with the auth server ("fatal: no SASL authentication mechanisms") and resets its
# client's connection; smtpsload then connects again and counts a retry.
CACHE_LINES = "auth_cache_size = 1M\nauth_cache_verify_password_with_worker = yes\n"


class DovecotAuth:
    """Dovecot with no mail protocol at all, only its auth service: the SASL server of
    Postfix's submission listener (smtpd_sasl_type = dovecot) on a unix socket. Started in
    Postfix's cgroup, so its CPU (the argon2id verifications) and memory count as Postfix's."""

    def __init__(self, base, hashes, cache=True):
        self.base = Path(base)
        for d in ("run", "state"):
            (self.base / d).mkdir(parents=True, exist_ok=True)
        self.socket = self.base / "auth-client"
        self.conf = self.base / "dovecot-auth.conf"
        (self.base / "passwd").write_text(
            "".join("%s@%s:{ARGON2ID}%s\n" % (u, DOMAIN, h) for u, h in hashes.items()))
        self.conf.write_text("""
base_dir = {b}/run
state_dir = {b}/state
log_path = {b}/dovecot.log
info_log_path = {b}/dovecot.log
protocols = none
listen = {host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
{cache}default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = scheme=ARGON2ID {b}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}}
service auth {{
  unix_listener {sock} {{
    mode = 0666
  }}
}}
""".format(b=self.base, host=HOST, sock=self.socket, cache=CACHE_LINES if cache else ""))
        self.started = False

    def start(self, cgroup):
        err = self.base / "dovecot.start.err"
        with open(err, "wb") as f:  # dovecot daemonizes: no pipes for it to hold open
            r = subprocess.run(cgroup.wrap(["dovecot", "-c", str(self.conf)]), stdin=subprocess.DEVNULL,
                               stdout=f, stderr=f, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("dovecot (auth): %s" % err.read_text())
        self.started = True
        deadline = time.time() + 20
        while not self.socket.exists():
            if time.time() > deadline:
                raise RuntimeError("dovecot auth socket missing: %s" % (self.base / "dovecot.log").read_text()[-800:])
            time.sleep(0.05)

    def stop(self):
        if self.started:
            subprocess.run(["dovecot", "-c", str(self.conf), "stop"], capture_output=True, timeout=60)
            self.started = False


class PostfixSubmission(Postfix):
    """bench.py's private Postfix plus a submission listener as an office would set it up
    (Debian's master.cf.dist submission entry): TLS required (STARTTLS), AUTH through
    Dovecot's SASL, only authenticated clients; tlsmgr kept (the PRNG and TLS ticket keys)."""

    def __init__(self, base, users, hashes, cert, key):
        self.submission_port = bench.free_port()
        self.auth = DovecotAuth(Path(base) / "sasl", hashes)
        service = " ".join([
            "%s:%d inet n - n - - smtpd" % (HOST, self.submission_port),
            "-o syslog_name=postfix/submission",
            "-o smtpd_tls_security_level=encrypt",
            "-o smtpd_sasl_auth_enable=yes",
            "-o smtpd_tls_auth_only=yes",
            "-o smtpd_client_restrictions=permit_sasl_authenticated,reject",
            "-o smtpd_relay_restrictions=permit_sasl_authenticated,reject",
        ])
        super().__init__(base, users, services=[service], tlsmgr=True, extra=[
            "smtpd_tls_chain_files = %s, %s" % (key, cert),
            "smtpd_tls_security_level = may",
            "smtpd_tls_loglevel = 0",
            "smtpd_sasl_type = dovecot",
            "smtpd_sasl_path = %s" % self.auth.socket,
        ])

    def start(self):
        self.auth.start(self.cg)
        super().start()
        bench.wait_port(self.submission_port)

    def stop(self):
        if self.cg.pids():
            subprocess.run(["postfix", "-c", str(self.conf), "stop"], capture_output=True, timeout=60)
        self.auth.stop()
        self.wait_stopped()


def submit(port, senders, count, size, per_conn, cafile, timeout=600):
    """One smtpsload process per sender, `count` messages split between them; returns the
    clients' JSON results."""
    procs = []
    for i in range(senders):
        n = count // senders + (1 if i < count % senders else 0)
        if n == 0:
            continue
        argv = [bench.SMTPSLOAD, "--port", str(port), "--user", "%s@%s" % (SENDER, DOMAIN), "--password", PASSWORD,
                "--from", "%s@%s" % (SENDER, DOMAIN), "--to", "%s@%s" % (RCPT, DOMAIN), "--size", str(size),
                "--count", str(n), "--per-conn", str(per_conn), "--cafile", str(cafile)]
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results, errors = [], []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        if p.returncode != 0:
            errors.append(err.strip()[-600:])
        results.extend(json.loads(line) for line in out.splitlines() if line.strip())
    if errors:
        raise RuntimeError("smtpsload failed: %s" % errors[0])
    return results


def run_submission(args, report, work, bins):
    root = work / "tls-submission"
    root.mkdir()
    cert, key = make_certificate(root / "tls")
    per_conn = args.tls_per_conn if not args.smoke else 5
    counts = {(KIB, 10): args.n_tls_1k_10, (KIB, 50): args.n_tls_1k_50,
              (100 * KIB, 10): args.n_tls_100k_10, (100 * KIB, 50): args.n_tls_100k_50}
    scen = [(size, s, counts[(size, s)]) for size in (KIB, 100 * KIB) for s in (10, 50)]
    if args.smoke:
        scen = [(KIB, 2, 20)]
    kinds = ["postroom"] if args.smoke else ["postfix", "postroom"]
    hashes = None if args.smoke else argon2id_hash(root, bins, [SENDER])
    run_no = [0]

    def fresh(kind):
        run_no[0] += 1
        base = root / ("%s-%d" % (kind, run_no[0]))
        if kind == "postroom":
            s = Postroom(base, *bins, smtp=False, pop3=False, trusted=False, listen_extra=["submission"],
                         tls=(cert, key), extra_limits=["outbound_messages_per_hour: 0",
                                                        "outbound_messages_per_day: 0"])
            s.add_user(SENDER)
            s.add_user(RCPT)
            return s
        return PostfixSubmission(base, [RCPT], hashes, cert, key)

    def one(kind, size, senders, n):
        s = fresh(kind)
        try:
            s.start()
            port = s.ports["submission"] if kind == "postroom" else s.submission_port
            time.sleep(0.3)
            # one unmeasured message first, on both sides: Dovecot's auth cache then holds the
            # account, so that its verifications run in auth workers (see CACHE_LINES)
            submit(port, 1, 1, size, 1, cert)
            deadline = time.time() + 60
            while s.delivered(RCPT) < 1:
                if time.time() > deadline:
                    raise RuntimeError("%s: the warm-up message was not delivered" % kind)
                time.sleep(0.02)
            holder = {}

            def load():
                before = s.delivered(RCPT)
                t0 = time.time()
                holder["results"] = submit(port, senders, n, size, per_conn, cert)
                deadline = time.time() + 600
                while s.delivered(RCPT) - before < n:
                    if time.time() > deadline:
                        raise RuntimeError("%s: only %d of %d delivered" % (kind, s.delivered(RCPT) - before, n))
                    time.sleep(0.02)
                return ("span", (t0, time.time()))
            _, secs, cpu, rss, pss = measure(s.cg, load)
            results = holder["results"]
            sent = sum(r["messages"] for r in results)
            if sent != n:
                raise RuntimeError("%s: the clients sent %d messages, expected %d" % (kind, sent, n))
            tls = check_tls(kind, results)
            return {"rate": n / secs, "cpu_ms": cpu / n, "rss": rss, "pss": pss, "secs": secs, "tls": tls,
                    "connections": sum(r["connections"] for r in results),
                    "retries": sum(r["retries"] for r in results)}
        except Exception:
            logs = [s.base / "postroomd.log"] if kind == "postroom" else [s.base / "maillog",
                                                                          s.auth.base / "dovecot.log"]
            for log in logs:
                if log.exists():
                    lines = log.read_text(errors="replace").splitlines()
                    say("%s: last lines of %s:\n%s" % (kind, log.name, "\n".join(
                        [l for l in lines if "warning" in l or "error" in l.lower() or "fatal" in l][-15:]
                        or lines[-15:])))
            raise
        finally:
            s.close()
            shutil.rmtree(s.base, ignore_errors=True)

    sec = ("Submission with STARTTLS + AUTH PLAIN (TLS 1.3, ECDSA P-256; smtpsload, %d messages per connection) "
           "-> local mailbox, vs Postfix %s submission + Dovecot %s SASL" % (per_conn, args.postfix_version,
                                                                            args.dovecot_version))
    negotiated = set()
    for size, senders, n in scen:
        label = "%d KiB, %d senders, %d msgs" % (size // KIB, senders, n)
        res = {k: [] for k in kinds}
        for rep in range(args.pairs):
            for kind in kinds:
                r = one(kind, size, senders, n)
                res[kind].append(r)
                negotiated.update("%s: %s %s %s" % (kind, *t) for t in r["tls"])
                say("tls-submission %-30s %-8s rep %d: %7.1f msg/s  cpu %.3f ms/msg  rss %.1f MiB  pss %.1f MiB  "
                    "%d connections, %d lost before AUTH (%.1fs)" % (label, kind, rep + 1, r["rate"], r["cpu_ms"] * 1000,
                                                                    r["rss"] / 1024, r["pss"] / 1024, r["connections"],
                                                                    r["retries"], r["secs"]))
        R = res["postroom"]
        if args.smoke:
            report.pair("Submission with STARTTLS + AUTH (smoke)", label, "messages/s", "-", [1],
                        [med([r["rate"] for r in R])])
            continue
        P = res["postfix"]
        report.pair(sec, label, "messages/s", "postfix", [r["rate"] for r in P], [r["rate"] for r in R])
        report.pair(sec, label, "server CPU ms/msg", "postfix", [r["cpu_ms"] for r in P], [r["cpu_ms"] for r in R],
                    "ms", "lower")
        report.pair(sec, label, "peak RSS MiB (sum)", "postfix", [r["rss"] for r in P], [r["rss"] for r in R],
                    "MiB", "lower")
        report.pair(sec, label, "peak PSS MiB (sum)", "postfix", [r["pss"] for r in P], [r["pss"] for r in R],
                    "MiB", "lower")
        report.pair(sec, label, "connections lost before AUTH (retried)", "postfix", [r["retries"] for r in P],
                    [r["retries"] for r in R], "", "lower")
    say("tls-submission negotiated: %s" % "; ".join(sorted(negotiated)))
    report.notes.append("Submission over TLS: every connection is a full TLS 1.3 handshake (no resumption) and "
                        "one AUTH PLAIN (one argon2id verification, same hash string on both sides), then %d "
                        "messages; negotiated: %s." % (per_conn, "; ".join(sorted(negotiated))))


# --------------------------------------------------------------------------- POP3S
def run_pop3s(args, report, work, bins):
    nmsg = 20 if args.smoke else args.pop_msgs
    nbox = 2 if args.smoke else args.pop_boxes
    users = ["pop%d" % i for i in range(nbox)]
    root = work / "tls-pop3s"
    root.mkdir()
    cert, key = make_certificate(root / "tls")
    mailroot = root / "mail"
    say("pop3s: generating %d mailboxes x %d messages of %d KiB" % (nbox, nmsg, args.pop_size // KIB))
    for u in users:
        bench.make_maildir(mailroot, u, nmsg, args.pop_size)
    pr = Postroom(root / "postroom", *bins, smtp=False, pop3=False, listen_extra=["pop3s"], tls=(cert, key))
    t = time.time()
    for u in users:
        pr.add_user(u)
        pr.import_maildir(u, mailroot / DOMAIN / u)
    say("pop3s: postroom import took %.1fs" % (time.time() - t))
    servers = [pr]
    if not args.smoke:
        hashes = {u: pr.password_hash(u) for u in users}
        subprocess.run(["chown", "-R", "nobody:nogroup", str(mailroot)], check=True)
        servers.insert(0, Dovecot(root / "dovecot", mailroot, hashes, ssl=(cert, key)))
    negotiated = set()

    def port_of(s):
        return s.ports["pop3s"] if s.name == "postroom" else s.pop3s_port

    def clients(s, groups):
        info = {}
        t0, t1, m, b = bench.pop3_clients(port_of(s), groups, tls=True, cafile=cert, info=info)
        negotiated.update("%s: %s %s %s" % (s.name, *t) for t in check_tls(s.name, info["results"]))
        return t0, t1, m, b

    try:
        for s in servers:
            s.start()
            if s.name == "dovecot":
                wait_tcp(s.pop3s_port)
        time.sleep(1)
        for s in servers:  # warm-up: Dovecot's index and uidlist; both get a warm page cache
            t0, t1, m, b = clients(s, users)
            say("pop3s warm-up %s: %d msgs in %.2fs" % (s.name, m, t1 - t0))
            if m != nbox * nmsg:
                raise RuntimeError("%s: %d messages retrieved, expected %d" % (s.name, m, nbox * nmsg))
        sec = ("POP3S retrieval (implicit TLS 1.3, ECDSA P-256; USER/PASS, STAT, RETR all, QUIT), vs Dovecot %s"
               % args.dovecot_version)
        for nc in ([1, 10] if not args.smoke else [1, 2]):
            label = "%d client%s, %d x %d x %d KiB" % (nc, "s" if nc > 1 else "", nbox, nmsg, args.pop_size // KIB)
            groups = [users] if nc == 1 else (users if nc == nbox else users[:nc])
            res = {s.name: [] for s in servers}
            for rep in range(args.pop_pairs):
                for s in servers:
                    (t0, t1, m, b), secs, cpu, rss, pss = measure(s.cg, lambda s=s: clients(s, groups))
                    if m != nbox * nmsg:
                        raise RuntimeError("%s: %d messages, expected %d" % (s.name, m, nbox * nmsg))
                    r = {"rate": m / (t1 - t0), "mbs": b / (t1 - t0) / bench.MIB, "cpu_ms": cpu / m, "rss": rss,
                         "pss": pss}
                    res[s.name].append(r)
                    say("pop3s %-27s %-8s rep %d: %7.1f msg/s %6.1f MiB/s cpu %.3f ms/msg rss %.1f MiB pss %.1f MiB"
                        % (label, s.name, rep + 1, r["rate"], r["mbs"], r["cpu_ms"] * 1000, rss / 1024, pss / 1024))
            R = res["postroom"]
            if args.smoke:
                report.pair("POP3S (smoke)", label, "messages/s", "-", [1], [med([r["rate"] for r in R])])
                continue
            D = res["dovecot"]
            report.pair(sec, label, "messages/s", "dovecot", [r["rate"] for r in D], [r["rate"] for r in R])
            report.pair(sec, label, "MiB/s", "dovecot", [r["mbs"] for r in D], [r["mbs"] for r in R])
            report.pair(sec, label, "server CPU ms/msg", "dovecot", [r["cpu_ms"] for r in D],
                        [r["cpu_ms"] for r in R], "ms", "lower")
            report.pair(sec, label, "peak RSS MiB (sum)", "dovecot", [r["rss"] for r in D], [r["rss"] for r in R],
                        "MiB", "lower")
            report.pair(sec, label, "peak PSS MiB (sum)", "dovecot", [r["pss"] for r in D], [r["pss"] for r in R],
                        "MiB", "lower")
        say("pop3s negotiated: %s" % "; ".join(sorted(negotiated)))
        report.notes.append("POP3S: one full TLS 1.3 handshake and one login per mailbox; negotiated: %s."
                            % "; ".join(sorted(negotiated)))
    finally:
        for s in servers:
            s.close()
        shutil.rmtree(root, ignore_errors=True)
