#!/usr/bin/python3
"""postroom benchmark driver: postroom against private Postfix and Dovecot instances.

Run through tests/bench/run.sh, which installs the peers and builds postroom first.
Everything listens on 127.0.0.1 only; every daemon started here is stopped on exit.

Accounting
- CPU: each server (postroomd; Postfix's master and every child it forks; Dovecot's
  master and its children) is started inside its own cpuacct cgroup (v1, or the v2
  unified hierarchy when that is what the machine has). The cgroup's usage counter
  charges every task that ever ran in it, including short-lived children that have
  exited (smtpd, cleanup, virtual, pop3, auth ...), which /proc/PID/stat snapshots
  would miss. CPU per message = (usage after - usage before) / messages. Without a
  writable cgroup it falls back to summing utime+stime+cutime+cstime over the live
  process tree (children that exit are then still counted through their parent's
  cutime/cstime, as long as a parent in the tree reaped them).
- Memory: a sampler thread reads /proc/PID/smaps_rollup of every process in the
  cgroup every 50 ms and keeps the peak of the summed Rss and Pss. Page cache (Maildir
  files, the SQLite file) is not in either figure for any server.
- Load generators (smtp-source, the POP3 clients) run outside the cgroups.
"""

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration" / "peers"))
import dovecot_pop3  # noqa: E402  (the one private-Dovecot config both suites use)

HERE = Path(__file__).resolve().parent
DOMAIN = "example.test"
PASSWORD = "bench password 123"
HOST = "127.0.0.1"
KIB = 1024
MIB = 1024 * 1024

# argon2id cost used by postroom (libs/auth/include/postroom/auth/password.hpp):
# opslimit 2, memlimit 19 MiB -> "$argon2id$v=19$m=19456,t=2,p=1$..."

LOG = sys.stderr


def say(*args):
    print(time.strftime("%H:%M:%S"), *args, file=LOG, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with %s before listening" % proc.returncode)
        try:
            with socket.create_connection((HOST, port), timeout=1) as s:
                s.settimeout(5)
                s.recv(512)  # greeting
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d not ready in %ds" % (port, timeout))


# --------------------------------------------------------------------------- accounting
class Cgroup:
    """A cpuacct cgroup (v1) or a v2 cgroup; fallback: the live process tree."""

    root = None
    kind = None

    @classmethod
    def detect(cls):
        candidates = [("v1", Path("/sys/fs/cgroup/cpuacct")),
                      ("v2", Path("/sys/fs/cgroup/unified")),
                      ("v2", Path("/sys/fs/cgroup"))]
        for kind, base in candidates:
            if kind == "v1" and not (base / "cpuacct.usage").exists():
                continue
            if kind == "v2" and not (base / "cgroup.procs").exists():
                continue
            probe = base / ("postroom-bench-probe-%d" % os.getpid())
            try:
                probe.mkdir()
                ok = (probe / ("cpuacct.usage" if kind == "v1" else "cpu.stat")).exists()
                probe.rmdir()
            except OSError:
                continue
            if ok:
                cls.root, cls.kind = base, kind
                return kind
        cls.kind = "proctree"
        return cls.kind

    def __init__(self, name):
        self.name = name
        self.root_pid = None
        self.path = None
        if self.kind in ("v1", "v2"):
            self.path = self.root / ("postroom-bench-%d-%s" % (os.getpid(), name))
            self.path.mkdir(exist_ok=True)

    def wrap(self, argv):
        """argv run so that the process joins the cgroup before exec."""
        if not self.path:
            return list(argv)
        return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.path)] + list(argv)

    def pids(self):
        if self.path:
            try:
                return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
            except OSError:
                return []
        return _tree(self.root_pid) if self.root_pid else []

    def cpu_seconds(self):
        if self.kind == "v1":
            return int((self.path / "cpuacct.usage").read_text()) / 1e9
        if self.kind == "v2":
            for line in (self.path / "cpu.stat").read_text().splitlines():
                if line.startswith("usage_usec"):
                    return int(line.split()[1]) / 1e6
        total = 0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in self.pids():
            try:
                fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
                total += sum(int(fields[i]) for i in (11, 12, 13, 14))
            except (OSError, IndexError):
                pass
        return total / tick

    def kill_all(self):
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def remove(self):
        if self.path:
            deadline = time.time() + 5
            while self.pids() and time.time() < deadline:
                time.sleep(0.05)
            try:
                self.path.rmdir()
            except OSError:
                pass


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _tree(root):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path("/proc/%s/stat" % entry).read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def mem_kib(pids):
    rss = pss = 0
    for pid in pids:
        try:
            text = Path("/proc/%d/smaps_rollup" % pid).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Rss:"):
                rss += int(line.split()[1])
            elif line.startswith("Pss:"):
                pss += int(line.split()[1])
    return rss, pss


class Sampler:
    """Peak of summed Rss/Pss over a cgroup's processes, sampled every `interval` s."""

    def __init__(self, cgroup, interval=0.05):
        self.cgroup, self.interval = cgroup, interval
        self.peak_rss = self.peak_pss = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def sample(self):
        rss, pss = mem_kib(self.cgroup.pids())
        self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)

    def loop(self):
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(self.interval)

    def __enter__(self):
        self.sample()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join()
        self.sample()


def measure(cgroup, fn):
    """Run fn() while accounting the cgroup: (result, seconds, cpu_s, peak_rss, peak_pss)."""
    cpu0 = cgroup.cpu_seconds()
    with Sampler(cgroup) as sampler:
        t0 = time.time()
        result = fn()
        t1 = time.time()
    cpu1 = cgroup.cpu_seconds()
    if isinstance(result, tuple) and len(result) == 2 and result[0] == "span":
        result, (t0, t1) = None, result[1]
    return result, t1 - t0, cpu1 - cpu0, sampler.peak_rss, sampler.peak_pss


# --------------------------------------------------------------------------- servers
class Server:
    name = "?"
    users = []

    def __init__(self, base, cgname):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.cg = Cgroup(cgname)
        self.smtp_port = self.pop3_port = None

    def wait_stopped(self, timeout=20):
        deadline = time.time() + timeout
        while self.cg.pids() and time.time() < deadline:
            time.sleep(0.05)
        if self.cg.pids():
            say("%s: processes left after stop, killing %s" % (self.name, self.cg.pids()))
            self.cg.kill_all()
            time.sleep(0.2)

    def close(self):
        try:
            self.stop()
        finally:
            self.cg.kill_all()
            self.cg.remove()


class Postroom(Server):
    name = "postroom"

    def __init__(self, base, postroomd, postroom, smtp=True, pop3=True, extra_limits=(), extra=(),
                 trusted=True, listen_extra=(), tls=None, max_connections=2000, cgname="postroom"):
        super().__init__(base, cgname)  # two postroomd at once need two cgroups
        self.postroomd, self.postroom = postroomd, postroom
        self.proc = None
        self.config = self.base / "postroom.yaml"
        listen = []
        if smtp:
            listen.append('  smtp: ["%s:0"]' % HOST)
        if pop3:
            listen.append('  pop3: ["%s:0"]' % HOST)
        listen += ['  %s: ["%s:0"]' % (name, HOST) for name in listen_extra]  # submission, pop3s...
        self.config.write_text("\n".join([
            "hostname: mail.%s" % DOMAIN,
            "domains: [%s]" % DOMAIN,
            "data_dir: data",
            "listen:", *listen,
            *(["tls:", "  cert: %s" % tls[0], "  key: %s" % tls[1]] if tls else []),
            *(['trusted_networks: ["127.0.0.0/8"]'] if trusted else []),
            *(["run_as_root: true"] if os.geteuid() == 0 else []),  # postroomd refuses root otherwise
            "auth:",
            "  plaintext_without_tls: always",
            "limits:",
            "  max_message_size: 64MiB",
            "  max_connections: %d" % max_connections,
            "  max_connections_per_ip: %d" % max_connections,
            *("  " + line for line in extra_limits),
            *extra,
        ]) + "\n")

    def admin(self, *args, input=None):
        r = subprocess.run([self.postroom, "--config", str(self.config), *args], input=input,
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("postroom %s: %s" % (" ".join(args), r.stderr.strip()))
        return r.stdout

    def add_user(self, local):
        self.admin("user", "add", "%s@%s" % (local, DOMAIN), "--password-stdin", input=PASSWORD + "\n")

    def password_hash(self, local):
        db = sqlite3.connect("file:%s?mode=ro" % (self.base / "data/postroom.db"), uri=True)
        try:
            return db.execute("SELECT password_hash FROM accounts WHERE address=?",
                              ("%s@%s" % (local, DOMAIN),)).fetchone()[0]
        finally:
            db.close()

    def import_maildir(self, local, maildir):
        return self.admin("import", "maildir", "%s@%s" % (local, DOMAIN), str(maildir))

    def start(self):
        self.log_path = self.base / "postroomd.log"
        start_at = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cg.wrap([self.postroomd, "--config", str(self.config)]),
                                     stdout=self.log_file, stderr=self.log_file, cwd=self.base)
        deadline = time.time() + 30
        while time.time() < deadline:
            text = self.log_path.read_text(errors="replace")[start_at:]
            if "postroomd ready" in text:
                ports = dict(re.findall(r"listening (\w+) \S+:(\d+)", text))
                self.ports = {k: int(v) for k, v in ports.items()}
                self.smtp_port = int(ports["smtp"]) if "smtp" in ports else None
                self.pop3_port = int(ports["pop3"]) if "pop3" in ports else None
                self.db = None
                return
            if self.proc.poll() is not None:
                raise RuntimeError("postroomd exited %s:\n%s" % (self.proc.returncode, text[-2000:]))
            time.sleep(0.05)
        raise RuntimeError("postroomd not ready:\n" + self.log_path.read_text()[-2000:])

    def delivered(self, local="bench"):
        if self.db is None:
            self.db = sqlite3.connect("file:%s?mode=ro" % (self.base / "data/postroom.db"), uri=True,
                                      timeout=10)
        return self.db.execute(
            "SELECT count(*) FROM deliveries d JOIN accounts a ON a.id=d.account_id WHERE a.address=?",
            ("%s@%s" % (local, DOMAIN),)).fetchone()[0]

    def stop(self):
        if getattr(self, "db", None) is not None:
            self.db.close()
            self.db = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            rc = self.proc.returncode
            self.log_file.close()
            if rc != 0:
                say("postroomd exited %s; log tail:\n%s" % (rc, self.log_path.read_text()[-1500:]))
        self.proc = None
        self.wait_stopped()


class Postfix(Server):
    """A private Postfix: own config_directory, queue, data; virtual(8) Maildir delivery."""
    name = "postfix"

    def __init__(self, base, users, extra=(), services=(), tlsmgr=False):
        super().__init__(base, "postfix")
        self.smtp_port = free_port()
        self.conf = self.base / "conf"
        self.queue = self.base / "queue"
        self.data = self.base / "data"
        self.mail = self.base / "mail"
        for d in (self.conf, self.queue, self.data, self.mail):
            d.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.data, "postfix", "postfix")
        shutil.chown(self.mail, "nobody", "nogroup")
        (self.conf / "vmailbox").write_text(
            "".join("%s@%s %s/%s/\n" % (u, DOMAIN, DOMAIN, u) for u in users))
        nobody = "65534"
        (self.conf / "main.cf").write_text("\n".join([
            "compatibility_level = 3.6",
            "queue_directory = %s" % self.queue,
            "data_directory = %s" % self.data,
            "mail_owner = postfix",
            "setgid_group = postdrop",
            "myhostname = mail.%s" % DOMAIN,
            "mydomain = %s" % DOMAIN,
            "myorigin = $myhostname",
            "mydestination =",
            "inet_interfaces = %s" % HOST,
            "inet_protocols = ipv4",
            "mynetworks = 127.0.0.0/8",
            "smtpd_peername_lookup = no",          # no reverse DNS of clients (issue 7)
            "smtp_host_lookup = native",
            "disable_dns_lookups = yes",
            "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination",
            "smtpd_client_connection_count_limit = 0",
            "smtpd_client_connection_rate_limit = 0",
            "message_size_limit = 67108864",
            "virtual_mailbox_domains = %s" % DOMAIN,
            "virtual_mailbox_base = %s" % self.mail,
            "virtual_mailbox_maps = texthash:%s/vmailbox" % self.conf,
            "virtual_minimum_uid = 100",
            "virtual_uid_maps = static:%s" % nobody,
            "virtual_gid_maps = static:%s" % nobody,
            "virtual_mailbox_limit = 0",
            "biff = no",
            "maillog_file = %s/maillog" % self.base,
            "alias_maps =",
            "alias_database =",
            "local_recipient_maps =",
            "smtputf8_enable = no",
            *extra,  # later lines win in main.cf
        ]) + "\n")
        dist = Path("/usr/share/postfix/master.cf.dist").read_text().splitlines()
        lines = []
        for line in dist:
            if not line or line.startswith("#") or line[0].isspace():
                continue
            f = line.split()
            if f[0] == "smtp" and f[1] == "inet":
                f[0] = "%s:%d" % (HOST, self.smtp_port)
            if f[6] == "pipe" or (f[6] == "tlsmgr" and not tlsmgr) or f[0] in ("maildrop", "uucp", "ifmail", "bsmtp"):
                continue
            f[4] = "n"  # no chroot: the private instance has no chroot tree
            lines.append(" ".join(f))
        lines += list(services)  # e.g. a submission listener (tls_scenarios.py)
        (self.conf / "master.cf").write_text("\n".join(lines) + "\n")
        self.postfix("check")

    def postfix(self, *args, wrap=False):
        argv = ["postfix", "-c", str(self.conf), *args]
        err = self.base / "postfix.cmd.err"
        with open(err, "wb") as f:  # the master daemonizes: no pipes for it to hold open
            r = subprocess.run(self.cg.wrap(argv) if wrap else argv, stdin=subprocess.DEVNULL, stdout=f,
                               stderr=f, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("postfix %s: %s" % (" ".join(args), err.read_text().strip()))

    def start(self):
        self.postfix("start", wrap=True)
        wait_port(self.smtp_port)

    def delivered(self, local="bench"):
        n = 0
        for sub in ("new", "cur"):
            try:
                n += sum(1 for _ in os.scandir(self.mail / DOMAIN / local / sub))
            except FileNotFoundError:
                pass
        return n

    def stop(self):
        if self.cg.pids():
            subprocess.run(["postfix", "-c", str(self.conf), "stop"], capture_output=True, timeout=60)
        self.wait_stopped()


class Dovecot(Server):
    """A private Dovecot serving POP3 from Maildirs; passwd-file with ARGON2ID hashes."""
    name = "dovecot"

    def __init__(self, base, mailroot, hashes, ssl=None, max_connections=2000):
        super().__init__(base, "dovecot")
        self.pop3_port = free_port()
        self.pop3s_port = free_port() if ssl else None
        self.conf = self.base / "dovecot.conf"
        for d in ("run", "state"):
            (self.base / d).mkdir(exist_ok=True)
        (self.base / "passwd").write_text(
            "".join("%s@%s:{ARGON2ID}%s\n" % (u, DOMAIN, h) for u, h in hashes.items()))
        # "high-performance mode": one login process serves many connections, so that
        # 1,000 idle connections need no 1,000 processes (the default would cap at 100).
        login_extra = """  service_count = 0
  process_min_avail = 2
  client_limit = %d
""" % max_connections
        if ssl:  # POP3S (implicit TLS) beside the plaintext listener
            login_extra += """  inet_listener pop3s {
    address = %s
    port = %d
    ssl = yes
  }
""" % (HOST, self.pop3s_port)
        many_connections = """service pop3 {
  process_limit = 2000
}
service anvil {
  client_limit = %d
}
default_client_limit = %d
default_vsz_limit = 1G
""" % (max(5000, 2 * max_connections), max(5000, 2 * max_connections))
        self.conf.write_text(dovecot_pop3.pop3_config(self.base, mailroot, HOST, self.pop3_port,
                                                      self.base / "passwd", scheme="ARGON2ID",
                                                      ssl=ssl, login_extra=login_extra,
                                                      extra=many_connections))

    def start(self):
        # dovecot daemonizes and its children keep stdio: no pipes here, or run() never returns
        err = self.base / "dovecot.start.err"
        with open(err, "wb") as f:
            r = subprocess.run(self.cg.wrap(["dovecot", "-c", str(self.conf)]), stdin=subprocess.DEVNULL,
                               stdout=f, stderr=f, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("dovecot: %s" % err.read_text())
        wait_port(self.pop3_port)

    def stop(self):
        if self.cg.pids():
            subprocess.run(["dovecot", "-c", str(self.conf), "stop"], capture_output=True, timeout=60)
        self.wait_stopped()


class Sink(Server):
    """smtp-sink: accepts and discards, the ceiling of the load generator on this machine."""
    name = "smtp-sink"

    def __init__(self, base):
        super().__init__(base, "sink")
        self.smtp_port = free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.cg.wrap(["smtp-sink", "-u", "nobody",
                                                    "%s:%d" % (HOST, self.smtp_port), "1024"]),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.smtp_port, proc=self.proc)

    def stop(self):
        stop_process(self.proc)
        self.proc = None
        self.wait_stopped()


# --------------------------------------------------------------------------- load
def smtp_load(server, sessions, count, size, timeout=600, expect_delivery=True):
    """smtp-source -> server; returns the (t0, t1) span until every message is delivered."""
    before = server.delivered() if expect_delivery else 0
    argv = ["smtp-source", "-s", str(sessions), "-m", str(count), "-l", str(size),
            "-f", "sender@client.test", "-t", "bench@%s" % DOMAIN, "-M", "client.test",
            "%s:%d" % (HOST, server.smtp_port)]
    t0 = time.time()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("smtp-source failed (%d): %s" % (r.returncode, r.stderr.strip()[-500:]))
    if expect_delivery:
        deadline = time.time() + timeout
        while True:
            n = server.delivered() - before
            if n >= count:
                break
            if time.time() > deadline:
                raise RuntimeError("%s: only %d of %d delivered" % (server.name, n, count))
            time.sleep(0.02)
    t1 = time.time()
    return ("span", (t0, t1))


POP3LOAD = None  # the compiled pop3load.c (compile_loaders)
SMTPSLOAD = None  # the compiled smtpsload.c


def compile_loaders(work):
    """Build the C load generators (POP3/POP3S, submission with STARTTLS): a Python client
    spent about one of the machine's two cores at 14,000 messages/s, CPU the servers it
    measures then could not have."""
    global POP3LOAD, SMTPSLOAD
    for name in ("pop3load", "smtpsload"):
        out = work / name
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(out), str(HERE / (name + ".c")),
                        "-lssl", "-lcrypto"], check=True)
    POP3LOAD, SMTPSLOAD = str(work / "pop3load"), str(work / "smtpsload")


def pop3_clients(port, users, hold=0.0, timeout=600, barrier=None, at_barrier=None, tls=False, cafile=None,
                 info=None, newest=False):
    """One pop3load process per element of users (a name, or a list of names that the one process
    retrieves in turn: USER/PASS, STAT, RETR 1..n, QUIT); returns (t0, t1, msgs, bytes).
    tls: POP3S (implicit TLS); `info`, a dict, gets the clients' JSON results; newest: UIDL and
    RETR of the newest message only (pop3load --newest)."""
    procs = []
    for group in users:
        argv = [POP3LOAD, "--port", str(port), "--password", PASSWORD, "--hold", str(hold)]
        if tls:
            argv += ["--tls"] + (["--cafile", str(cafile)] if cafile else [])
        if barrier:
            argv += ["--barrier", str(barrier)]
        if newest:
            argv.append("--newest")
        for u in ([group] if isinstance(group, str) else group):
            argv += ["--user", "%s@%s" % (u, DOMAIN)]
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    if barrier:  # every client logged in (argon2id done): let the caller sample, then go
        deadline = time.time() + 120
        while len(list(Path(barrier).parent.glob(Path(barrier).name + ".ready.*"))) < len(procs):
            if time.time() > deadline or any(p.poll() not in (None, 0) for p in procs):
                break
            time.sleep(0.01)
        if at_barrier:
            at_barrier()
        Path(barrier).touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("pop3 client failed: %s" % err.strip()[-800:])
        results.extend(json.loads(line) for line in out.splitlines() if line.strip())
    if info is not None:
        info["results"] = results
    t0 = min(r["t0"] for r in results)
    t1 = max(r["t1"] for r in results)
    return t0, t1, sum(r["messages"] for r in results), sum(r["bytes"] for r in results)


def idle_connections(port, n, hold, on_hold):
    """Open n connections, read each greeting, call on_hold() while all are open, close them."""
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection((HOST, port), timeout=30)
            socks.append(s)
        for s in socks:
            if not s.recv(512):
                raise RuntimeError("idle connection closed by server before greeting")
        time.sleep(hold)
        on_hold()
        for s in socks:  # still open?
            s.setblocking(False)
            try:
                if s.recv(512) == b"":
                    raise RuntimeError("server closed an idle connection")
            except BlockingIOError:
                pass
    finally:
        for s in socks:
            s.close()


# --------------------------------------------------------------------------- data
def message_bytes(i, size):
    head = ("From: sender@client.test\r\nTo: user@%s\r\nSubject: bench %d\r\n"
            "Message-ID: <bench-%d@client.test>\r\n\r\n" % (DOMAIN, i, i)).encode()
    line = b"La de da de da %d. The quick brown fox jumps over the lazy dog 0123456789.\r\n"
    body = bytearray()
    k = 0
    while len(head) + len(body) < size:
        body += line % k
        k += 1
    return bytes(head + body[: size - len(head)]).rstrip(b"\r\n") + b"\r\n"


def make_maildir(root, user, count, size):
    d = Path(root) / DOMAIN / user
    for sub in ("new", "cur", "tmp"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    now = int(time.time())
    for i in range(count):
        data = message_bytes(i, size)
        (d / "cur" / ("%d.M%dP1.bench,S=%d:2,S" % (now, i, len(data)))).write_bytes(data)
    return d


# --------------------------------------------------------------------------- reporting
def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt(x, unit=""):
    if x != x:
        return "n/a"
    if unit == "ms":
        return "%.3f" % (x * 1000)
    if unit == "MiB":
        return "%.1f" % (x / 1024)
    if x >= 100:
        return "%.0f" % x
    return "%.1f" % x if x >= 10 else "%.2f" % x


class Report:
    def __init__(self):
        self.rows = []   # (section, scenario, metric, peer_name, peer_vals, pr_vals, ratios, better)
        self.notes = []

    def pair(self, section, scenario, metric, peer, peer_vals, pr_vals, unit="", better="higher"):
        ratios = [p / q for p, q in zip(pr_vals, peer_vals) if q]
        self.rows.append((section, scenario, metric, peer, peer_vals, pr_vals, ratios, unit, better))

    def markdown(self):
        out = []
        section = None
        for (sec, scen, metric, peer, pv, rv, ratios, unit, better) in self.rows:
            if sec != section:
                section = sec
                out += ["", "### " + sec, "",
                        "| scenario | metric | peer | peer median | postroom median | ratio postroom/peer (median) | ratio per pair | better |",
                        "|---|---|---|---:|---:|---:|---|---|"]
            if peer == "-":
                out.append("| %s | %s | | | %s | | | %s |" % (scen, metric, fmt(med(rv), unit), better))
                continue
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                scen, metric, peer, fmt(med(pv), unit), fmt(med(rv), unit),
                "%.2f" % med(ratios) if ratios else "n/a",
                " ".join("%.2f" % r for r in ratios), better))
        return "\n".join(out)


# --------------------------------------------------------------------------- scenarios
def run_smtp(args, report, work, postroom_bins):
    scen = [(1 * KIB, 1), (1 * KIB, 10), (1 * KIB, 50), (100 * KIB, 1), (100 * KIB, 10), (100 * KIB, 50)]
    counts = {(KIB, 1): args.n_1k_1, (KIB, 10): args.n_1k_10, (KIB, 50): args.n_1k_50,
              (100 * KIB, 1): args.n_100k_1, (100 * KIB, 10): args.n_100k_10, (100 * KIB, 50): args.n_100k_50}
    if args.smoke:
        scen = [(KIB, 1), (KIB, 10)]
    elif args.smtp_scenarios:
        wanted = set(args.smtp_scenarios.split(","))
        scen = [(size, n) for size, n in scen if "%dk-%d" % (size // KIB, n) in wanted]
    run_no = [0]

    def fresh(kind):
        run_no[0] += 1
        base = work / ("smtp-%s-%d" % (kind, run_no[0]))
        if kind == "postroom":
            s = Postroom(base, *postroom_bins, pop3=False)
            s.add_user("bench")
        elif kind == "postfix":
            s = Postfix(base, ["bench"])
        else:
            s = Sink(base)
        return s

    def one(kind, size, sessions, n):
        s = fresh(kind)
        try:
            s.start()
            time.sleep(0.3)
            _, secs, cpu, rss, pss = measure(s.cg, lambda: smtp_load(
                s, sessions, n, size, expect_delivery=kind != "sink"))
            return {"rate": n / secs, "cpu_ms": cpu / n, "rss": rss, "pss": pss, "secs": secs}
        finally:
            s.close()
            shutil.rmtree(s.base, ignore_errors=True)

    peers = [] if args.smoke else ["postfix"]
    for size, sessions in scen:
        n = counts[(size, sessions)] if not args.smoke else 50
        label = "%d KiB, %d sender%s, %d msgs" % (size // KIB, sessions, "s" if sessions > 1 else "", n)
        res = {"postfix": [], "postroom": [], "sink": []}
        for rep in range(args.pairs):
            for kind in (peers + ["postroom"]):
                r = one(kind, size, sessions, n)
                res[kind].append(r)
                say("smtp %-34s %-8s rep %d: %7.1f msg/s  cpu %.3f ms/msg  rss %.1f MiB  pss %.1f MiB  (%.1fs)"
                    % (label, kind, rep + 1, r["rate"], r["cpu_ms"] * 1000, r["rss"] / 1024, r["pss"] / 1024, r["secs"]))
            if not args.smoke:
                r = one("sink", size, sessions, n)
                res["sink"].append(r)
                say("smtp %-34s sink     rep %d: %7.1f msg/s" % (label, rep + 1, r["rate"]))
        if args.smoke:
            if not res["postroom"] or any(r["rate"] <= 0 for r in res["postroom"]):
                raise RuntimeError("smoke: no SMTP throughput")
            report.pair("SMTP end to end (smoke)", label, "messages/s", "-", [1], [med([r["rate"] for r in res["postroom"]])])
            continue
        P, R = res["postfix"], res["postroom"]
        sec = "SMTP delivery, end to end (smtp-source -> mailbox), vs Postfix %s" % args.postfix_version
        report.pair(sec, label, "messages/s", "postfix", [r["rate"] for r in P], [r["rate"] for r in R])
        report.pair(sec, label, "server CPU ms/msg", "postfix", [r["cpu_ms"] for r in P], [r["cpu_ms"] for r in R], "ms", "lower")
        report.pair(sec, label, "peak RSS MiB (sum)", "postfix", [r["rss"] for r in P], [r["rss"] for r in R], "MiB", "lower")
        report.pair(sec, label, "peak PSS MiB (sum)", "postfix", [r["pss"] for r in P], [r["pss"] for r in R], "MiB", "lower")
        report.pair(sec, label, "ceiling: smtp-sink msg/s", "smtp-sink", [r["rate"] for r in res["sink"]],
                    [r["rate"] for r in R])


def run_pop3(args, report, work, postroom_bins):
    nmsg = 20 if args.smoke else args.pop_msgs
    nbox = 2 if args.smoke else args.pop_boxes
    big = 1 * MIB if args.smoke else args.big_mib * MIB
    nbig = 2 if args.smoke else args.big_sessions
    users = ["pop%d" % i for i in range(nbox)]
    bigusers = ["big%d" % i for i in range(nbig)]
    mailroot = work / "pop3-mail"
    say("pop3: generating %d mailboxes x %d messages of %d KiB, and %d x %d MiB" %
        (nbox, nmsg, args.pop_size // KIB, nbig, big // MIB))
    for u in users:
        make_maildir(mailroot, u, nmsg, args.pop_size)
    bigdata = message_bytes(0, big)
    for u in bigusers:
        d = make_maildir(mailroot, u, 0, 0)
        (d / "cur" / ("%d.M0P1.bench,S=%d:2,S" % (int(time.time()), len(bigdata)))).write_bytes(bigdata)
    del bigdata

    pr = Postroom(work / "pop3-postroom", *postroom_bins, smtp=False)
    t = time.time()
    for u in users + bigusers:
        pr.add_user(u)
        pr.import_maildir(u, mailroot / DOMAIN / u)
    say("pop3: postroom import took %.1fs" % (time.time() - t))
    servers = [pr]
    if not args.smoke:
        hashes = {u: pr.password_hash(u) for u in users + bigusers}
        if not all(h.startswith("$argon2id$v=19$m=19456,t=2,p=1$") for h in hashes.values()):
            say("WARNING: postroom's hashes are not m=19456,t=2,p=1: %s" % list(hashes.values())[0][:40])
        report.notes.append("Dovecot's passwd-file holds the very argon2id strings postroom stored "
                            "(`%s...`), so both verify at the same cost." % list(hashes.values())[0][:31])
        subprocess.run(["chown", "-R", "nobody:nogroup", str(mailroot)], check=True)
        dv = Dovecot(work / "pop3-dovecot", mailroot, hashes)
        servers.insert(0, dv)
    try:
        for s in servers:
            s.start()
        time.sleep(1)
        fresh = {}
        for s in servers:  # idle right after start, nothing read yet
            with Sampler(s.cg) as sm:
                time.sleep(1.0)
            fresh[s.name] = (sm.peak_rss, sm.peak_pss)
            say("idle after start %s: rss %.1f MiB pss %.1f MiB" % (s.name, sm.peak_rss / 1024, sm.peak_pss / 1024))
        # warm-up: Dovecot builds its index and uidlist on first access; both get a warm page cache
        for s in servers:
            t0, t1, m, b = pop3_clients(s.pop3_port, users)
            say("pop3 warm-up %s: %d msgs in %.2fs" % (s.name, m, t1 - t0))
            if m != nbox * nmsg:
                raise RuntimeError("%s: %d messages retrieved, expected %d" % (s.name, m, nbox * nmsg))
        # idle RSS, 2 s after the last client left (postroom gives memory back 1 s after its
        # last session ends; Dovecot's pop3 processes exit with their sessions)
        time.sleep(2)
        idle = {}
        for s in servers:
            with Sampler(s.cg) as sm:
                time.sleep(1.0)
            idle[s.name] = (sm.peak_rss, sm.peak_pss)
            say("idle %s: rss %.1f MiB pss %.1f MiB" % (s.name, sm.peak_rss / 1024, sm.peak_pss / 1024))

        clients = [1, 10] if not args.smoke else [1, 2]
        for nc in clients:
            label = "%d client%s, %d x %d x %d KiB" % (nc, "s" if nc > 1 else "", nbox, nmsg, args.pop_size // KIB)
            res = {s.name: [] for s in servers}
            for rep in range(args.pop_pairs):
                for s in servers:
                    if nc == 1:
                        fn = lambda s=s: pop3_clients(s.pop3_port, [users])
                    else:
                        groups = users if nc == nbox else users[:nc]
                        fn = lambda s=s, g=groups: pop3_clients(s.pop3_port, g)
                    (t0, t1, m, b), secs, cpu, rss, pss = measure(s.cg, fn)
                    if m != nbox * nmsg and nc in (1, nbox):
                        raise RuntimeError("%s: %d messages, expected %d" % (s.name, m, nbox * nmsg))
                    r = {"rate": m / (t1 - t0), "mbs": b / (t1 - t0) / MIB, "cpu_ms": cpu / m, "rss": rss, "pss": pss}
                    res[s.name].append(r)
                    say("pop3 %-28s %-8s rep %d: %7.1f msg/s %6.1f MiB/s cpu %.3f ms/msg rss %.1f MiB pss %.1f MiB"
                        % (label, s.name, rep + 1, r["rate"], r["mbs"], r["cpu_ms"] * 1000, rss / 1024, pss / 1024))
            R = res["postroom"]
            if args.smoke:
                report.pair("POP3 (smoke)", label, "messages/s", "-", [1], [med([r["rate"] for r in R])])
                continue
            D = res["dovecot"]
            sec = "POP3 retrieval (USER/PASS, STAT, RETR all, QUIT), vs Dovecot %s" % args.dovecot_version
            report.pair(sec, label, "messages/s", "dovecot", [r["rate"] for r in D], [r["rate"] for r in R])
            report.pair(sec, label, "MiB/s", "dovecot", [r["mbs"] for r in D], [r["mbs"] for r in R])
            report.pair(sec, label, "server CPU ms/msg", "dovecot", [r["cpu_ms"] for r in D], [r["cpu_ms"] for r in R], "ms", "lower")
            report.pair(sec, label, "peak RSS MiB (sum)", "dovecot", [r["rss"] for r in D], [r["rss"] for r in R], "MiB", "lower")
            report.pair(sec, label, "peak PSS MiB (sum)", "dovecot", [r["pss"] for r in D], [r["pss"] for r in R], "MiB", "lower")

        # memory: 1,000 idle connections (all pairs first), then 10 concurrent slow RETRs of a
        # 20 MiB message (after, so that what a big RETR leaves allocated is not counted as the
        # idle connections' cost)
        nidle = 50 if args.smoke else args.idle
        res = {s.name: {"idle": [], "conns": [], "big": [], "after": []} for s in servers}
        for rep in range(args.pairs):
            for s in servers:
                with Sampler(s.cg) as base_s:
                    time.sleep(0.5)
                holder = {}

                def during(s=s):
                    with Sampler(s.cg) as sm:
                        time.sleep(0.5)
                    holder["peak"] = (sm.peak_rss, sm.peak_pss)
                idle_connections(s.pop3_port, nidle, 0.5, during)
                res[s.name]["idle"].append(base_s.peak_rss)
                res[s.name]["conns"].append(holder["peak"][0] - base_s.peak_rss)
                say("mem %-8s rep %d: idle rss %.1f MiB; +%d idle conns: +%.1f MiB rss (pss +%.1f)"
                    % (s.name, rep + 1, base_s.peak_rss / 1024, nidle, (holder["peak"][0] - base_s.peak_rss) / 1024,
                       (holder["peak"][1] - base_s.peak_pss) / 1024))
        for rep in range(args.pairs):
            for s in servers:
                # baseline: every client logged in and STATed (so the argon2id memory of the
                # logins is over), none has sent RETR yet
                barrier = work / ("barrier-%s-%d" % (s.name, rep))
                holder = {}

                def at_barrier(s=s):
                    time.sleep(0.3)
                    with Sampler(s.cg) as sm:
                        time.sleep(0.5)
                    holder["base"] = sm
                    holder["sampler"] = Sampler(s.cg).__enter__()
                try:
                    pop3_clients(s.pop3_port, bigusers, hold=2.0, barrier=barrier, at_barrier=at_barrier)
                finally:
                    if "sampler" in holder:
                        holder["sampler"].__exit__(None, None, None)
                base_s = holder["base"]
                rss, pss = holder["sampler"].peak_rss, holder["sampler"].peak_pss
                time.sleep(2)  # idle: as above, 2 s after the last client left
                with Sampler(s.cg) as after_s:
                    time.sleep(0.5)
                res[s.name]["big"].append((rss - base_s.peak_rss) / nbig)
                res[s.name].setdefault("big_peak", []).append(rss)
                res[s.name].setdefault("big_peak_pss", []).append(pss)
                res[s.name]["after"].append(after_s.peak_rss)
                say("mem %-8s rep %d: before rss %.1f MiB; %d x %d MiB RETR: +%.2f MiB rss/session "
                    "(peak rss %.1f pss %.1f); after: rss %.1f MiB"
                    % (s.name, rep + 1, base_s.peak_rss / 1024, nbig, big // MIB, (rss - base_s.peak_rss) / nbig / 1024,
                       rss / 1024, pss / 1024, after_s.peak_rss / 1024))
        R = res["postroom"]
        if args.smoke:
            report.pair("Memory (smoke)", "idle", "RSS MiB", "-", [1], [med(R["idle"])], "MiB", "lower")
            return
        D = res["dovecot"]
        sec = "POP3 server memory (RSS summed over all server processes), vs Dovecot"
        report.pair(sec, "idle, right after start", "RSS MiB", "dovecot", [fresh["dovecot"][0]],
                    [fresh["postroom"][0]], "MiB", "lower")
        report.pair(sec, "idle, right after start", "PSS MiB", "dovecot", [fresh["dovecot"][1]],
                    [fresh["postroom"][1]], "MiB", "lower")
        report.pair(sec, "idle, after the POP3 runs", "RSS MiB", "dovecot", D["idle"], R["idle"], "MiB", "lower")
        report.pair(sec, "%d idle POP3 connections (greeting read)" % nidle, "added RSS MiB", "dovecot", D["conns"], R["conns"], "MiB", "lower")
        report.pair(sec, "%d concurrent RETR of %d MiB (client pauses 2 s after 1 MiB)" % (nbig, big // MIB),
                    "RSS added by the RETRs, MiB per session", "dovecot", D["big"], R["big"], "MiB", "lower")
        report.pair(sec, "%d sessions logged in, each in a RETR of %d MiB" % (nbig, big // MIB), "peak RSS MiB (sum)",
                    "dovecot", D["big_peak"], R["big_peak"], "MiB", "lower")
        report.pair(sec, "%d sessions logged in, each in a RETR of %d MiB" % (nbig, big // MIB), "peak PSS MiB (sum)",
                    "dovecot", D["big_peak_pss"], R["big_peak_pss"], "MiB", "lower")
        report.pair(sec, "idle, after the 20 MiB RETRs", "RSS MiB", "dovecot", D["after"], R["after"], "MiB", "lower")
        report.idle = idle
    finally:
        for s in servers:
            s.close()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd")
    b = sub.add_parser("run")
    b.add_argument("--smoke", action="store_true")
    b.add_argument("--postroomd", required=True)
    b.add_argument("--postroom", required=True)
    b.add_argument("--out", default=None)
    b.add_argument("--workdir", default="/var/tmp")
    b.add_argument("--pairs", type=int, default=3)
    # A POP3 retrieval run lasts under a second, so one run is noisy: more pairs, same minutes
    b.add_argument("--pop-pairs", type=int, default=7)
    # growth (~15 min and 20 GB of disk at full size) runs when named; the smoke run has it too
    b.add_argument("--only", default=None,
                   help="comma-separated: smtp, pop3, dkim (DKIM-signed outbound), auth (inbound SPF/DKIM/DMARC), "
                        "tls (submission with STARTTLS + AUTH, and POP3S; tls-submission or tls-pop3s for one of them), "
                        "growth (growth-mailbox, growth-connections, growth-store), "
                        "pg (postroom on PostgreSQL: pg-smtp, pg-pop3)")
    b.add_argument("--smtp-scenarios", default=None,
                   help="smtp: only these, comma-separated, e.g. 1k-50,100k-10 (default: all six)")
    b.add_argument("--n-1k-1", type=int, default=400)
    b.add_argument("--n-1k-10", type=int, default=2000)
    b.add_argument("--n-1k-50", type=int, default=4000)
    b.add_argument("--n-100k-1", type=int, default=200)
    b.add_argument("--n-100k-10", type=int, default=600)
    b.add_argument("--n-100k-50", type=int, default=1000)
    # DKIM-signed outbound submission and inbound with SPF/DKIM/DMARC (auth_scenarios.py)
    b.add_argument("--n-dkim-1k-10", type=int, default=600)
    b.add_argument("--n-dkim-1k-50", type=int, default=800)
    b.add_argument("--n-dkim-100k-10", type=int, default=300)
    b.add_argument("--n-dkim-100k-50", type=int, default=400)
    b.add_argument("--n-auth-1k-10", type=int, default=600)
    b.add_argument("--n-auth-1k-50", type=int, default=800)
    b.add_argument("--n-auth-100k-10", type=int, default=300)
    b.add_argument("--n-auth-100k-50", type=int, default=400)
    # Submission with STARTTLS + AUTH PLAIN and POP3S (tls_scenarios.py)
    b.add_argument("--n-tls-1k-10", type=int, default=600)
    b.add_argument("--n-tls-1k-50", type=int, default=1000)
    b.add_argument("--n-tls-100k-10", type=int, default=300)
    b.add_argument("--n-tls-100k-50", type=int, default=500)
    b.add_argument("--tls-per-conn", type=int, default=10,
                   help="submission: messages per connection (each connection: handshake + one AUTH)")
    # Growth curves (growth_scenarios.py)
    b.add_argument("--growth-mailboxes", default="1000,10000,100000", help="mailbox sizes, messages")
    b.add_argument("--growth-msg-size", type=int, default=2 * KIB)
    b.add_argument("--growth-connections", default="10,100,1000,5000", help="connections held open")
    b.add_argument("--growth-store-gb", default="0,5,20", help="store sizes, GB (the first: the reference)")
    b.add_argument("--pop-boxes", type=int, default=10)
    b.add_argument("--pop-msgs", type=int, default=1000)
    b.add_argument("--pop-size", type=int, default=10 * KIB)
    b.add_argument("--big-mib", type=int, default=20)
    b.add_argument("--big-sessions", type=int, default=10)
    b.add_argument("--idle", type=int, default=1000)
    args = ap.parse_args()
    if args.cmd != "run":
        ap.error("command: run")
    if args.smoke:
        args.pop_pairs = min(args.pop_pairs, args.pairs)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    kind = Cgroup.detect()
    if args.only is None:
        args.only = "smtp,pop3,dkim,auth,tls,pg" + (",growth" if args.smoke else "")
    only = set(args.only.split(","))
    if "tls" in only:
        only = (only - {"tls"}) | {"tls-submission", "tls-pop3s"}
    growth = {"growth-mailbox", "growth-connections", "growth-store"}
    if "growth" in only:
        only = (only - {"growth"}) | growth
    if "pg" in only:
        only = (only - {"pg"}) | {"pg-smtp", "pg-pop3"}
    unknown = only - {"smtp", "pop3", "dkim", "auth", "tls-submission", "tls-pop3s", "pg-smtp", "pg-pop3"} - growth
    if unknown:
        ap.error("--only: unknown scenario group(s) %s" % ", ".join(sorted(unknown)))
    args.postfix_version = args.dovecot_version = args.opendkim_version = args.opendmarc_version = "-"
    if not args.smoke and only & {"dkim", "auth"}:
        args.opendkim_version = subprocess.run(["opendkim", "-V"], capture_output=True,
                                               text=True).stdout.split("\n")[0].split()[-1].lstrip("v")
        args.opendmarc_version = subprocess.run(["opendmarc", "-V"], capture_output=True,
                                                text=True).stdout.split("\n")[0].split()[-1].lstrip("v")
    if not args.smoke:
        args.postfix_version = subprocess.run(["postconf", "-dh", "mail_version"], capture_output=True,
                                              text=True).stdout.strip()
        args.dovecot_version = subprocess.run(["dovecot", "--version"], capture_output=True,
                                              text=True).stdout.split()[0]
    work = Path(tempfile.mkdtemp(prefix="postroom-bench.", dir=args.workdir))
    os.chmod(work, 0o755)
    say("work dir %s, cpu accounting: %s" % (work, kind))
    compile_loaders(work)
    report = Report()
    bins = (args.postroomd, args.postroom)
    started = time.time()
    interrupted = []

    def on_signal(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if "smtp" in only:
            run_smtp(args, report, work, bins)
        if "pop3" in only:
            run_pop3(args, report, work, bins)
        if only & {"dkim", "auth"}:
            # auth_scenarios imports this module by name: hand it this copy (run as __main__)
            sys.modules.setdefault("bench", sys.modules[__name__])
            import auth_scenarios
            if "dkim" in only:
                auth_scenarios.run_dkim_outbound(args, report, work, bins)
            if "auth" in only:
                auth_scenarios.run_inbound_auth(args, report, work, bins)
        if only & {"tls-submission", "tls-pop3s"}:
            sys.modules.setdefault("bench", sys.modules[__name__])
            import tls_scenarios
            if "tls-submission" in only:
                tls_scenarios.run_submission(args, report, work, bins)
            if "tls-pop3s" in only:
                tls_scenarios.run_pop3s(args, report, work, bins)
        if only & {"pg-smtp", "pg-pop3"}:
            sys.modules.setdefault("bench", sys.modules[__name__])
            import pg_scenarios
            if "pg-smtp" in only:
                pg_scenarios.run_smtp(args, report, work, bins)
            if "pg-pop3" in only:
                pg_scenarios.run_pop3(args, report, work, bins)
        if only & growth:
            sys.modules.setdefault("bench", sys.modules[__name__])
            import growth_scenarios
            if "growth-mailbox" in only:
                growth_scenarios.run_mailbox(args, report, work, bins)
            if "growth-connections" in only:
                growth_scenarios.run_connections(args, report, work, bins)
            if "growth-store" in only:
                growth_scenarios.run_store(args, report, work, bins)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.time() - started
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu_model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    header = [
        "## Results %s" % time.strftime("%Y-%m-%d %H:%M %Z"),
        "",
        "- machine: %d CPUs (%s), %.1f GiB RAM, kernel %s, %s" % (
            os.cpu_count(), cpu_model, mem, os.uname().release, Path("/etc/debian_version").read_text().strip()
            and "Debian " + Path("/etc/debian_version").read_text().strip()),
        "- peers: Postfix %s, Dovecot %s, OpenDKIM %s, OpenDMARC %s; CPU accounting: %s cgroup; %d pairs "
        "(peer, postroom) per scenario (%d for POP3 retrieval), medians shown; scenarios: %s; wall time %.0f s" % (
            args.postfix_version, args.dovecot_version, args.opendkim_version, args.opendmarc_version, kind,
            args.pairs, args.pop_pairs, ",".join(sorted(only)), elapsed),
        "- ratio = postroom / peer for each pair (A B A B ...); `better` says which direction wins.",
    ]
    text = "\n".join(header) + "\n" + report.markdown() + "\n"
    if report.notes:
        text += "\n" + "\n".join("- " + n for n in report.notes) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main() or 0)
