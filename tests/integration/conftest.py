"""Shared fixtures: start the real postroomd on ephemeral loopback ports with a temporary
data dir, run the real admin command, and generate a self-signed certificate."""

import atexit
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
POSTROOMD = os.environ.get("POSTROOMD", str(ROOT / "build/apps/postroomd/postroomd"))
POSTROOM = os.environ.get("POSTROOM", str(ROOT / "build/apps/postroom/postroom"))
SANITIZED = os.environ.get("POSTROOM_SANITIZED", "0") in ("1", "ON", "TRUE", "true")
# The store the daemons run on: sqlite (the default), or postgresql (ctest's integration_pg.*
# entries): then each daemon's data dir gets its own database on one PostgreSQL from Debian,
# started for the whole run.
STORE = os.environ.get("POSTROOM_TEST_STORE", "sqlite")
DOMAIN = "example.test"
PASSWORD = "correct horse battery staple"


def yaml_list(items):
    return "[" + ", ".join('"%s"' % i for i in items) + "]"


_postgres = None


def shared_postgres():
    """The PostgreSQL every daemon of this run uses in postgresql mode (started once)."""
    global _postgres
    if _postgres is None:
        from peers.postgres import Postgres
        _postgres = Postgres().start()
        atexit.register(_postgres.stop)
    return _postgres


def postgres_store_section(server, dbname, extra_keys=""):
    """The config's store section for database `dbname` on `server`, created when missing."""
    if not server.psql("SELECT 1 FROM pg_database WHERE datname = '%s'" % dbname):
        server.create_database(dbname)
    return ("store:\n  backend: postgresql\n  postgresql:\n    host: 127.0.0.1\n    port: %d\n"
            "    dbname: %s\n%s" % (server.port, dbname, extra_keys))


class Daemon:
    """One postroomd process. `ports` maps listener name to its real port."""

    def __init__(self, workdir: Path, listen=None, extra="", tls=None, trusted=("127.0.0.0/8", "::1/128"),
                 log_path=None):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "postroom.yaml"
        listen = listen or {"smtp": ["127.0.0.1:0"], "pop3": ["127.0.0.1:0"]}
        lines = [
            "hostname: mail.%s" % DOMAIN,
            "domains: [%s]" % DOMAIN,
            "data_dir: data",
            "listen:",
        ]
        for name, endpoints in listen.items():
            lines.append("  %s: %s" % (name, yaml_list(endpoints)))
        if tls:
            lines += ["tls:", "  cert: %s" % tls[0], "  key: %s" % tls[1]]
        if trusted:
            lines.append("trusted_networks: %s" % yaml_list(trusted))
        if os.geteuid() == 0 and not re.search(r"^(user|run_as_root):", extra, re.M):
            # CI runs as root with no postroom account: postroomd refuses that unless told.
            lines.append("run_as_root: true")
        if STORE == "postgresql" and not re.search(r"^store:", extra, re.M):
            # One database per data dir: a daemon made again on the same dir finds its mail.
            dbname = "d" + hashlib.sha1(str(workdir.resolve()).encode()).hexdigest()[:20]
            extra = extra + ("\n" if extra and not extra.endswith("\n") else "")
            extra += postgres_store_section(shared_postgres(), dbname)
        self.config.write_text("\n".join(lines) + "\n" + extra)
        # Where the store is when it is PostgreSQL: (port, dbname) on 127.0.0.1.
        found = re.search(r"^\s+port: (\d+)\n\s+dbname: (\S+)", extra, re.M)
        self.pg = (int(found.group(1)), found.group(2)) if "backend: postgresql" in extra and found else None
        self.proc = None
        self.ports = {}
        # A test that fills the data dir's disk keeps the log elsewhere, so it stays whole.
        self.log_path = log_path or workdir / "postroomd.log"

    # --- admin -------------------------------------------------------------
    def admin(self, *args, input=None, check=True):
        result = subprocess.run([POSTROOM, "--config", str(self.config), *args], input=input,
                                capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError("postroom %s failed (%d): %s" % (args, result.returncode, result.stderr))
        return result

    def add_user(self, local, password=PASSWORD):
        address = "%s@%s" % (local, DOMAIN)
        self.admin("user", "add", address, "--password-stdin", input=password + "\n")
        return address

    # --- process -----------------------------------------------------------
    def start(self, timeout=30):
        # The log is appended across restarts: wait for a "ready" line this process wrote.
        readies = self.log().count("postroomd ready")
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([POSTROOMD, "--config", str(self.config)], stdout=self.log_file,
                                     stderr=self.log_file, cwd=self.workdir)
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.log()
            if text.count("postroomd ready") > readies:
                self.ports = {}
                for name, port in re.findall(r"listening (\w+) \S+:(\d+)", text.split("postroomd ready")[-2]):
                    self.ports[name] = int(port)
                return self
            if self.proc.poll() is not None:
                raise AssertionError("postroomd exited %d:\n%s" % (self.proc.returncode, text))
            time.sleep(0.05)
        raise AssertionError("postroomd did not get ready:\n" + self.log())

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.log_file.close()

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.log_file.close()

    def restart(self):
        self.stop()
        return self.start()

    def rss_kib(self):
        """Resident set size of the daemon in KiB (from /proc)."""
        for line in Path("/proc/%d/status" % self.proc.pid).read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def sql(self, query):
        """Runs `query` on the daemon's store (sqlite3, or psql on PostgreSQL); the rows as
        text, fields joined by |, one row a line."""
        if self.pg:
            command = ["psql", "-h", "127.0.0.1", "-p", str(self.pg[0]), "-U", "postroom", "-d",
                       self.pg[1], "-At", "-v", "ON_ERROR_STOP=1", "-c", query]
        else:
            command = ["sqlite3", str(self.db), query]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def _pg_tool(self, tool, *args, dbname=None):
        result = subprocess.run([tool, "-h", "127.0.0.1", "-p", str(self.pg[0]), "-U", "postroom",
                                 *args] + ([dbname] if dbname else []),
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, "%s failed: %s" % (tool, result.stderr)

    def backup_store(self, path):
        """A backup as an admin makes it: `postroom backup`, or pg_dump on PostgreSQL."""
        if self.pg:
            self._pg_tool("pg_dump", "-Fc", "-f", str(path), dbname=self.pg[1])
        else:
            self.admin("backup", str(path))

    def restore_store(self, path):
        """Puts the backup back in place of the store (the daemon stopped)."""
        if self.pg:
            self._pg_tool("dropdb", "--maintenance-db=postgres", dbname=self.pg[1])
            self._pg_tool("createdb", dbname=self.pg[1])
            self._pg_tool("pg_restore", "-d", self.pg[1], str(path))
            return
        for suffix in ("-wal", "-shm"):
            if os.path.exists(str(self.db) + suffix):
                os.remove(str(self.db) + suffix)
        shutil.copyfile(path, self.db)

    @property
    def db(self):
        return self.workdir / "data" / "postroom.db"

    def wait_for_log(self, pattern, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern, self.log()):
                return True
            time.sleep(0.05)
        raise AssertionError("log never matched %r:\n%s" % (pattern, self.log()))


@pytest.fixture
def make_daemon(tmp_path):
    """Factory: make_daemon(listen=..., extra=..., tls=...) -> a started Daemon."""
    daemons = []

    def make(start=True, name="d", **kwargs):
        d = Daemon(tmp_path / ("%s%d" % (name, len(daemons))), **kwargs)
        daemons.append(d)
        return d.start() if start else d

    yield make
    for d in daemons:
        if d.proc and d.proc.poll() is None:
            d.stop()
        if d.proc:
            assert d.proc.returncode == 0, "postroomd exited %s:\n%s" % (d.proc.returncode, d.log())
            assert "ERROR: AddressSanitizer" not in d.log()
            assert "runtime error:" not in d.log()


@pytest.fixture
def daemon(make_daemon):
    """A started daemon with smtp and pop3 listeners and one user, alice@example.test."""
    d = make_daemon(start=False)
    d.add_user("alice")
    return d.start()


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL of Debian's for one test module (peers/postgres.py)."""
    from peers.postgres import Postgres
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A self-signed certificate for localhost and 127.0.0.1: (cert, key) paths."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "fullchain.pem", directory / "privkey.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@pytest.fixture
def tmpfs(tmp_path):
    """Factory: tmpfs("16m") -> a freshly mounted tmpfs of that size (needs root), unmounted
    at the end; a postroomd.log found under it is copied beside it first, for reports."""
    mounted = []

    def mount(size):
        point = tmp_path / ("tmpfs%d" % len(mounted))
        point.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", str(point)], check=True)
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        for log in point.glob("*/postroomd.log"):
            shutil.copy(log, tmp_path / ("%s-%s.log" % (point.name, log.parent.name)))
        subprocess.run(["umount", "-l", str(point)], check=False)


needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None,
                                reason="mounting a small tmpfs needs root")
