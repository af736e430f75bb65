"""A throwaway PostgreSQL from Debian's postgresql package: initdb in a temporary directory,
listening on 127.0.0.1 on a free port (its unix socket in that directory), fsync off unless
durable (the benchmarks), trust authentication. PostgreSQL refuses to run as root, and CI runs the tests as root: then the
server runs as nobody, its directory handed over to it."""

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def server_bindir():
    if os.environ.get("POSTROOM_PG_BINDIR"):
        return os.environ["POSTROOM_PG_BINDIR"]
    try:
        return subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "/usr/lib/postgresql/15/bin"


class Postgres:
    def __init__(self, durable=False):
        # durable: fsync and full-page writes on, as in production (benchmarks); off, the
        # tests' server skips the flushes they do not check.
        self.durable = durable
        # As root the server runs as nobody, who must reach the directory: /tmp, not a
        # TMPDIR that may sit in root's home.
        parent = "/tmp" if os.geteuid() == 0 else None
        self.dir = Path(tempfile.mkdtemp(prefix="postroom-pg-", dir=parent))
        self.bindir = server_bindir()
        self.prefix = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "nobody", "nogroup")
            self.prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        self.port = None
        self.running = False
        self.password = None

    def _run(self, *args):
        return subprocess.run(self.prefix + list(args), capture_output=True, text=True, timeout=120)

    def start(self, standby_of=None):
        """A new server; with `standby_of` (a running Postgres), a streaming standby of it
        (pg_basebackup), read-only until promote()."""
        if standby_of:
            r = self._run(os.path.join(self.bindir, "pg_basebackup"), "-h", "127.0.0.1", "-p",
                          str(standby_of.port), "-U", "postroom", "-D", str(self.dir / "data"),
                          "-R", "-X", "stream", "-c", "fast")
            assert r.returncode == 0, "pg_basebackup failed:\n" + r.stdout + r.stderr
        else:
            r = self._run(os.path.join(self.bindir, "initdb"), "-D", str(self.dir / "data"), "-U",
                          "postroom", "--auth=trust", "-E", "UTF8", "--no-locale", "-N")
            assert r.returncode == 0, "initdb failed:\n" + r.stdout + r.stderr
        for _ in range(5):  # a free port may be taken before the server binds it
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            self.options = ("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s "
                            % (self.port, self.dir))
            self.options += ("-c shared_buffers=128MB -c max_connections=200" if self.durable else
                             "-c fsync=off -c full_page_writes=off -c shared_buffers=16MB")
            r = self._run(os.path.join(self.bindir, "pg_ctl"), "-D", str(self.dir / "data"), "-l",
                          str(self.dir / "log"), "-w", "-t", "60", "-o", self.options, "start")
            if r.returncode == 0:
                self.running = True
                return self
        raise AssertionError("PostgreSQL did not start:\n" + self.log())

    def promote(self):
        """A standby becomes a primary (what a failover tool does)."""
        r = self._run(os.path.join(self.bindir, "pg_ctl"), "-D", str(self.dir / "data"), "-w",
                      "promote")
        assert r.returncode == 0, "pg_ctl promote failed:\n" + r.stdout + r.stderr

    def crash(self):
        """Stops the server as a crash would (immediate: no checkpoint, sessions cut)."""
        r = self._run(os.path.join(self.bindir, "pg_ctl"), "-D", str(self.dir / "data"), "-m",
                      "immediate", "-w", "stop")
        assert r.returncode == 0, "pg_ctl stop failed:\n" + r.stdout + r.stderr

    def start_again(self):
        """Starts it again on the same port and data after crash()."""
        r = self._run(os.path.join(self.bindir, "pg_ctl"), "-D", str(self.dir / "data"), "-l",
                      str(self.dir / "log"), "-w", "-t", "60", "-o", self.options, "start")
        assert r.returncode == 0, "PostgreSQL did not start again:\n" + self.log()

    def log(self):
        path = self.dir / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def require_password(self, password):
        """From now on TCP logins need `password` (SCRAM), as a real server would."""
        self.psql("ALTER ROLE postroom PASSWORD '%s'" % password.replace("'", "''"))
        (self.dir / "data" / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        self.psql("SELECT pg_reload_conf()")
        self.password = password

    def psql(self, sql, dbname="postgres"):
        """Runs SQL with psql -At; returns its rows as lists of fields (split on |)."""
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password
        r = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postroom", "-d",
                            dbname, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True, timeout=60, env=env)
        assert r.returncode == 0, "psql failed: %s\n%s" % (sql, r.stderr)
        return [line.split("|") for line in r.stdout.splitlines()]

    def create_database(self, name):
        self.psql('CREATE DATABASE "%s"' % name)
        return name

    def stop(self):
        if self.running:
            self._run(os.path.join(self.bindir, "pg_ctl"), "-D", str(self.dir / "data"), "-m",
                      "immediate", "-w", "stop")
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)
