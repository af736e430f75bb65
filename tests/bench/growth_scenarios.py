"""Growth curves: how postroom's costs grow with the size of a mailbox, the number of open
connections and the size of the store, beside Dovecot where a peer does the same work.

- mailbox (`--only growth-mailbox`): mailboxes of 1,000 / 10,000 / 100,000 messages, the same
  Maildir files for both servers (postroom imports them with `postroom import maildir`,
  Dovecot serves them in place, its index warmed by one unmeasured session). One session =
  `pop3load --newest`: login, STAT, UIDL, RETR of the newest message, QUIT. The client holds
  the session after UIDL at a barrier while the driver samples the session's memory:
  postroom's added VmRSS/RssAnon (`/proc/PID/status` of postroomd, before the session and at
  the barrier; the peak, VmHWM, reset before the session, is only logged: postroom's includes
  the login's argon2id, 19 MiB, which Dovecot spends in its auth process), Dovecot's pop3
  process of that login (it exists only for the session).
- connections (`--only growth-connections`): a holder process (this file run as a script,
  outside the servers' cgroups) opens N POP3 connections and reads their greetings; every
  tenth connection is active (CAPA every second), the rest idle. With them open: the server's
  memory (postroomd's VmRSS; Dovecot: RSS and PSS summed over all its processes, since its
  pop3-login processes hold unauthenticated connections) and the latency of fresh sessions
  (pop3load: connect, USER/PASS, STAT, RETR 1, QUIT; 5 in a row, median), against the same
  with no connection held.
- store (`--only growth-store`): SMTP delivery with 50 senders (smtp-source, as the SMTP
  scenario) into a store that is empty, then filled to 5 and 20 GB with `postroom import
  mbox` of 1 MiB messages (one filler account per GiB), postroom only: a peer's Maildir
  delivery writes one file per message whatever the store holds, and filling a second
  20 GB store would double the hour it takes.

Imported by bench.py (which registers itself as the module `bench` first). Run as a script
(`growth_scenarios.py hold PORT N`), it is the connection holder.
"""

import json
import os
import resource
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

if __name__ != "__main__":
    import bench
    from bench import DOMAIN, KIB, MIB, Dovecot, Postroom, med, say

GIB = 1024 * 1024 * 1024


def proc_status_kib(pid, field):
    """A `/proc/PID/status` field in KiB (VmRSS, RssAnon); 0 if the process is gone."""
    try:
        for line in Path("/proc/%d/status" % pid).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def postroomd_pid(server):
    # Cgroup.wrap execs the daemon in the shell's place: the Popen's PID is postroomd's.
    return server.proc.pid


def dovecot_pop3_pids(server):
    out = []
    for pid in server.cg.pids():
        try:
            if Path("/proc/%d/comm" % pid).read_text().strip() == "pop3":
                out.append(pid)
        except OSError:
            pass
    return out


# --------------------------------------------------------------------------- mailbox size
def run_mailbox(args, report, work, bins):
    sizes = [int(x) for x in args.growth_mailboxes.split(",")] if not args.smoke else [50, 500]
    msg_size = args.growth_msg_size
    root = work / "growth-mailbox"
    mailroot = root / "mail"
    users = {n: "box%d" % n for n in sizes}
    fill = {}
    for n, u in users.items():
        t = time.time()
        bench.make_maildir(mailroot, u, n, msg_size)
        fill.setdefault("maildir", []).append("%d: %.1f s" % (n, time.time() - t))
    pr = Postroom(root / "postroom", *bins, smtp=False)
    for n, u in users.items():
        pr.add_user(u)
        t = time.time()
        pr.import_maildir(u, mailroot / DOMAIN / u)
        fill.setdefault("import", []).append("%d: %.1f s" % (n, time.time() - t))
    say("growth-mailbox: wrote maildirs (%s); postroom import maildir (%s)"
        % (", ".join(fill["maildir"]), ", ".join(fill["import"])))
    servers = [pr]
    if not args.smoke:
        hashes = {u: pr.password_hash(u) for u in users.values()}
        subprocess.run(["chown", "-R", "nobody:nogroup", str(mailroot)], check=True)
        servers.insert(0, Dovecot(root / "dovecot", mailroot, hashes))
    run_no = [0]
    res_by_size = {}

    def session(s, user):
        """One measured session; returns (seconds, added RSS KiB, added anonymous KiB, added peak KiB)."""
        run_no[0] += 1
        barrier = root / ("barrier-%d" % run_no[0])
        before = (0, 0)
        if s.name == "postroom":
            pid = postroomd_pid(s)
            # "5" resets the peak RSS (VmHWM) to the current RSS (proc(5), clear_refs): the peak at
            # the barrier is then the session's, the UIDL listing's transient buffers included.
            Path("/proc/%d/clear_refs" % pid).write_text("5")
            before = (proc_status_kib(pid, "VmRSS"), proc_status_kib(pid, "RssAnon"))
        held = {}

        def at_barrier():
            if s.name == "postroom":
                pid = postroomd_pid(s)
                held["mem"] = (proc_status_kib(pid, "VmRSS") - before[0], proc_status_kib(pid, "RssAnon") - before[1],
                               proc_status_kib(pid, "VmHWM") - before[0])
            else:
                pids = dovecot_pop3_pids(s)
                if len(pids) != 1:
                    raise RuntimeError("dovecot: %d pop3 processes at the barrier, expected 1" % len(pids))
                held["mem"] = (proc_status_kib(pids[0], "VmRSS"), proc_status_kib(pids[0], "RssAnon"),
                               proc_status_kib(pids[0], "VmHWM"))

        info = {}
        t0, t1, m, b = bench.pop3_clients(s.pop3_port, [user], barrier=barrier, at_barrier=at_barrier, info=info,
                                          newest=True)
        if m != 1:
            raise RuntimeError("%s: the session retrieved %d messages, expected the newest one" % (s.name, m))
        waited = info["results"][0]["waited"]
        return (t1 - t0 - waited, *held["mem"])

    try:
        for s in servers:
            s.start()
        time.sleep(1.5)  # postroom trims its heap 1 s after start and after the last session
        for s in servers:  # warm-up: Dovecot's index and uidlist, both servers' page cache
            for n, u in users.items():
                secs = session(s, u)[0]
                say("growth-mailbox warm-up %-8s %6d msgs: %.3f s" % (s.name, n, secs))
        time.sleep(1.5)
        sec = ("Growth: mailbox size (login, STAT, UIDL, RETR newest, QUIT; %d-byte messages; Dovecot's index warm), "
               "vs Dovecot %s" % (msg_size, args.dovecot_version))
        for n, u in users.items():
            res = {s.name: [] for s in servers}
            for rep in range(max(args.pairs, 3) if not args.smoke else 1):
                for s in servers:
                    secs, rss, anon, peak = session(s, u)
                    res[s.name].append((secs, rss, anon, peak))
                    say("growth-mailbox %6d msgs %-8s rep %d: %.4f s, session RSS +%d KiB (anon +%d KiB, peak +%d KiB), "
                        "%.1f bytes/msg" % (n, s.name, rep + 1, secs, rss, anon, peak, rss * 1024 / n))
                    time.sleep(1.2)  # postroom's trim after the last session, so the next "before" is idle
            R = res["postroom"]
            label = "%d messages" % n
            if args.smoke:
                report.pair("Growth: mailbox size (smoke)", label, "session ms", "-", [1], [med([r[0] for r in R])],
                            "ms", "lower")
                continue
            D = res["dovecot"]
            report.pair(sec, label, "session time, ms", "dovecot", [r[0] for r in D], [r[0] for r in R], "ms", "lower")
            report.pair(sec, label, "session RSS KiB (postroom: added; dovecot: its pop3 process)", "dovecot",
                        [r[1] for r in D], [r[1] for r in R], "", "lower")
            report.pair(sec, label, "session anonymous RSS KiB (RssAnon)", "dovecot", [r[2] for r in D],
                        [r[2] for r in R], "", "lower")
            report.pair(sec, label, "session RSS bytes per message", "dovecot", [r[1] * 1024 / n for r in D],
                        [r[1] * 1024 / n for r in R], "", "lower")
            res_by_size[n] = res
        if not args.smoke and len(sizes) > 1:
            # The slope between the two largest mailboxes: what each further message costs, without
            # the costs a session has whatever its size (a read connection's page cache, buffers).
            a, b = sizes[-2], sizes[-1]
            for name in ("dovecot", "postroom"):
                slope = (med([r[1] for r in res_by_size[b][name]]) - med([r[1] for r in res_by_size[a][name]])) \
                    * 1024 / (b - a)
                report.notes.append("Growth, mailbox: %s's session RSS grows by %.1f bytes per message between %d "
                                    "and %d messages (medians)." % (name, slope, a, b))
        report.notes.append("Growth, mailbox: Maildirs written in %s; `postroom import maildir` took %s."
                            % ("; ".join(fill["maildir"]), "; ".join(fill["import"])))
    finally:
        for s in servers:
            s.close()
        shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------- connections
def hold_main(port, n, active_every, interval):
    """The connection holder: opens n connections, reads each greeting, sends CAPA on every
    `active_every`-th connection and reads the answer, prints "ready"; then does the CAPA
    round again every `interval` s until stdin closes; prints a JSON summary."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks = []
    for _ in range(n):
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=60))
    for s in socks:
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = s.recv(512)
            if not chunk:
                raise SystemExit("holder: connection closed before the greeting")
            data += chunk
        if not data.startswith(b"+OK"):
            raise SystemExit("holder: greeting %r" % data[:80])
    active = socks[::active_every] if active_every else []
    commands = 0
    ready = False
    while True:
        for s in active:
            s.sendall(b"CAPA\r\n")
            data = b""
            while not data.endswith(b"\r\n.\r\n"):
                chunk = s.recv(4096)
                if not chunk:
                    raise SystemExit("holder: an active connection was closed")
                data += chunk
            commands += 1
        if not ready:  # the active connections have each answered once
            print("ready", flush=True)
            ready = True
        readable, _, _ = select.select([sys.stdin], [], [], interval)
        if readable:
            break
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(512) == b"":
                closed += 1
        except BlockingIOError:
            pass
        s.close()
    print(json.dumps({"connections": n, "active": len(active), "commands": commands, "closed_by_server": closed}),
          flush=True)


class Holder:
    def __init__(self, port, n, active_every=10, interval=1.0):
        self.n = n
        self.proc = subprocess.Popen([sys.executable, __file__, "hold", str(port), str(n), str(active_every),
                                      str(interval)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError("connection holder failed: %s" % self.proc.stderr.read()[-800:])

    def close(self):
        out, err = self.proc.communicate(input="", timeout=120)  # stdin closed: the holder stops
        if self.proc.returncode != 0:
            raise RuntimeError("connection holder: %s" % err.strip()[-800:])
        summary = json.loads(out.strip().splitlines()[-1])
        if summary["closed_by_server"]:
            raise RuntimeError("the server closed %d of %d held connections" % (summary["closed_by_server"], self.n))
        return summary


def server_memory(s):
    """(RSS, PSS) KiB: postroomd's VmRSS (PSS from smaps_rollup), or summed over Dovecot's processes."""
    if s.name == "postroom":
        return bench.mem_kib([postroomd_pid(s)])
    return bench.mem_kib(s.cg.pids())


def run_connections(args, report, work, bins):
    counts = [int(x) for x in args.growth_connections.split(",")] if not args.smoke else [10, 50]
    probes = 5 if not args.smoke else 2
    root = work / "growth-connections"
    mailroot = root / "mail"
    bench.make_maildir(mailroot, "probe", 1, 10 * KIB)
    limit = max(counts) + 200
    pr = Postroom(root / "postroom", *bins, smtp=False, max_connections=limit)
    pr.add_user("probe")
    pr.import_maildir("probe", mailroot / DOMAIN / "probe")
    servers = [pr]
    if not args.smoke:
        subprocess.run(["chown", "-R", "nobody:nogroup", str(mailroot)], check=True)
        servers.insert(0, Dovecot(root / "dovecot", mailroot, {"probe": pr.password_hash("probe")},
                                  max_connections=limit))

    def latency(s):
        out = []
        for _ in range(probes):
            t0, t1, m, _ = bench.pop3_clients(s.pop3_port, ["probe"])
            if m != 1:
                raise RuntimeError("%s: a probe session retrieved %d messages" % (s.name, m))
            out.append(t1 - t0)
        return med(out)

    try:
        for s in servers:
            s.start()
        time.sleep(1.5)
        for s in servers:
            latency(s)  # warm-up (Dovecot's index for the probe mailbox)
        res = {s.name: {n: [] for n in [0] + counts} for s in servers}
        for rep in range(args.pairs if not args.smoke else 1):
            for n in [0] + counts:
                for s in servers:
                    time.sleep(1.5)  # past postroom's trim after the last session
                    base = server_memory(s)
                    holder = Holder(s.pop3_port, n) if n else None
                    try:
                        time.sleep(1.2)  # a second round of CAPA on the active connections
                        held = server_memory(s)
                        lat = latency(s)
                        held2 = server_memory(s)
                    finally:
                        summary = holder.close() if holder else {"active": 0, "commands": 0}
                    rss = max(held[0], held2[0]) - base[0]
                    pss = max(held[1], held2[1]) - base[1]
                    res[s.name][n].append((lat, rss, pss, held[0]))
                    say("growth-connections %5d conns (%d active, %d CAPA) %-8s rep %d: fresh session %.1f ms, "
                        "RSS %.1f MiB (+%d KiB, %.2f KiB/conn), PSS +%d KiB"
                        % (n, summary["active"], summary["commands"], s.name, rep + 1, lat * 1000, held[0] / 1024,
                           rss, rss / n if n else 0, pss))
        sec = ("Growth: open POP3 connections (every 10th active: CAPA every second) and a fresh session beside them "
               "(connect, USER/PASS, STAT, RETR 1, QUIT), vs Dovecot %s" % args.dovecot_version)
        for n in [0] + counts:
            R = res["postroom"][n]
            label = "%d connections" % n if n else "idle server"
            if args.smoke:
                report.pair("Growth: connections (smoke)", label, "fresh session ms", "-", [1], [med([r[0] for r in R])],
                            "ms", "lower")
                continue
            D = res["dovecot"][n]
            report.pair(sec, label, "fresh session latency, ms", "dovecot", [r[0] for r in D], [r[0] for r in R],
                        "ms", "lower")
            if n:
                idle_d, idle_r = med([r[0] for r in res["dovecot"][0]]), med([r[0] for r in res["postroom"][0]])
                report.pair(sec, label, "latency / idle-server latency", "dovecot", [r[0] / idle_d for r in D],
                            [r[0] / idle_r for r in R], "", "lower")
                report.pair(sec, label, "added RSS KiB per connection (dovecot: all processes)", "dovecot",
                            [r[1] / n for r in D], [r[1] / n for r in R], "", "lower")
                report.pair(sec, label, "added PSS KiB per connection", "dovecot", [r[2] / n for r in D],
                            [r[2] / n for r in R], "", "lower")
            report.pair(sec, label, "server RSS MiB", "dovecot", [r[3] for r in D], [r[3] for r in R], "MiB", "lower")
    finally:
        for s in servers:
            s.close()
        shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------- store size
def write_mbox(path, count, size):
    """An mbox of `count` messages of about `size` bytes (LF line ends, as mbox files have)."""
    line = b"The quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopqrstuvwxyz.\n"
    body = line * (size // len(line))
    with open(path, "wb") as f:
        for i in range(count):
            f.write(b"From sender@client.test Mon Jan  1 00:00:00 2024\nFrom: sender@client.test\n"
                    b"Subject: filler %d\nMessage-ID: <filler-%d@client.test>\n\n" % (i, i))
            f.write(body)
            f.write(b"\n")


def du_bytes(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


def run_store(args, report, work, bins):
    points = [float(x) for x in args.growth_store_gb.split(",")] if not args.smoke else [0, 0.004]
    chunk_msgs, chunk_size = (1024, MIB) if not args.smoke else (4, MIB)
    n = args.n_1k_50 if not args.smoke else 50
    senders = 50 if not args.smoke else 10
    root = work / "growth-store"
    mbox = Path("/dev/shm") / ("postroom-bench-filler-%d.mbox" % os.getpid())
    pr = Postroom(root / "postroom", *bins, pop3=False)
    pr.add_user("bench")
    fills = []

    def measure_rate(server, gb, on_disk):
        out = []
        server.start()
        try:
            time.sleep(0.5)
            for rep in range(args.pairs if not args.smoke else 1):
                _, secs, cpu, rss, pss = bench.measure(server.cg, lambda: bench.smtp_load(server, senders, n, KIB))
                out.append({"rate": n / secs, "cpu_ms": cpu / n, "disk": on_disk})
                say("growth-store %5.1f GB (%.2f GB on disk) rep %d: %.0f msg/s, cpu %.3f ms/msg"
                    % (gb, on_disk / 1e9, rep + 1, n / secs, cpu / n * 1000))
        finally:
            server.stop()
        return out

    try:
        write_mbox(mbox, chunk_msgs, chunk_size)
        chunk_bytes = mbox.stat().st_size
        filled = 0  # bytes imported so far
        accounts = 0
        res = {}
        for gb in points:
            t = time.time()
            imported = 0
            while filled < gb * 1e9:
                accounts += 1
                pr.add_user("filler%d" % accounts)
                pr.admin("import", "mbox", "filler%d@%s" % (accounts, DOMAIN), str(mbox))
                filled += chunk_bytes
                imported += chunk_bytes
            on_disk = du_bytes(root / "postroom" / "data")
            if imported:
                # The import leaves gigabytes of dirty pages that the kernel writes back over
                # the next half minute; measured then, every fsync of the run would queue
                # behind that writeback. The fill is over when its data is on disk.
                os.sync()
                secs = time.time() - t
                fills.append("to %.1f GB: %.1f GB in %.0f s (%.0f MB/s)" % (on_disk / 1e9, imported / 1e9, secs,
                                                                          imported / 1e6 / secs))
                say("growth-store: filled %s" % fills[-1])
            res[gb] = measure_rate(pr, gb, on_disk)
        # The machine's load drifts over the fill's minutes: a second empty store, measured
        # last, brackets the sizes between two references.
        again = Postroom(root / "postroom-again", *bins, pop3=False)
        try:
            again.add_user("bench")
            res["again"] = measure_rate(again, 0, du_bytes(root / "postroom-again" / "data"))
        finally:
            again.close()
        empty = res[points[0]]
        sec = ("Growth: store size, SMTP delivery 1 KiB, %d senders, %d messages per run (postroom; ratio: against "
               "the empty store)" % (senders, n))
        for gb in points + ["again"]:
            if gb == "again":
                label = "empty store again, measured last"
            else:
                label = "store %.0f GB (%.1f GB on disk)" % (gb, res[gb][0]["disk"] / 1e9) if gb else "empty store"
            if args.smoke and gb != "again":
                label = "store %.3f GB" % gb
            report.pair(sec if not args.smoke else "Growth: store size (smoke)", label, "messages/s", "empty store",
                        [r["rate"] for r in empty], [r["rate"] for r in res[gb]])
            if not args.smoke:
                report.pair(sec, label, "server CPU ms/msg", "empty store", [r["cpu_ms"] for r in empty],
                            [r["cpu_ms"] for r in res[gb]], "ms", "lower")
        if fills:
            report.notes.append("Growth, store: filled with `postroom import mbox` of a %d x %d KiB mbox (tmpfs) "
                                "into one account per chunk: %s." % (chunk_msgs, chunk_size // KIB, "; ".join(fills)))
    finally:
        pr.close()
        mbox.unlink(missing_ok=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "hold":
        hold_main(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit("usage: growth_scenarios.py hold PORT N ACTIVE_EVERY INTERVAL")
