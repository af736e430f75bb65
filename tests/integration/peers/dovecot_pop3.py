"""A private Dovecot POP3 server (Debian's dovecot-pop3d) on a loopback port, serving
Maildirs from a passwd-file: the "old server" an office migrates away from."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pop3_config(base, mail, host, port, passwd, scheme=None, ssl=None, login_extra="", extra=""):
    """dovecot.conf for a private POP3-only Dovecot under `base`: Maildirs at
    mail/DOMAIN/LOCAL owned by `nobody`, users from the passwd-file `passwd` (hashes in
    `scheme` when given), TLS from the (cert, key) pair `ssl` when given; `login_extra` goes
    into the pop3-login service, `extra` at the end."""
    ssl_lines = "ssl = yes\nssl_cert = <%s\nssl_key = <%s\n" % ssl if ssl else "ssl = no\n"
    scheme_arg = "scheme=%s " % scheme if scheme else ""
    return """
base_dir = {b}/run
state_dir = {b}/state
log_path = {b}/dovecot.log
info_log_path = {b}/dovecot.log
protocols = pop3
listen = {host}
{ssl}disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:{mail}/%d/%n
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = {scheme}{passwd}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={mail}/%d/%n
}}
service pop3-login {{
  inet_listener pop3 {{
    address = {host}
    port = {port}
  }}
{login_extra}}}
{extra}""".format(b=base, host=host, ssl=ssl_lines, mail=mail, port=port, scheme=scheme_arg,
           passwd=passwd, login_extra=login_extra, extra=extra)


class Dovecot:
    """Mail lives in maildir(user) = ROOT/mail/DOMAIN/LOCAL, owned by `nobody` (Dovecot never
    accesses mail as root). The base directory is outside pytest's private tmp tree so that
    Dovecot's unprivileged processes can reach it."""

    def __init__(self, users, ssl=None):
        self.base = Path(tempfile.mkdtemp(prefix="postroom-dovecot-"))
        self.base.chmod(0o755)
        self.mail = self.base / "mail"
        self.mail.mkdir()
        for d in ("run", "state"):
            (self.base / d).mkdir()
        self.port = _free_port()
        self.conf = self.base / "dovecot.conf"
        (self.base / "passwd").write_text("".join("%s:{PLAIN}%s\n" % (u, p) for u, p in users.items()))
        ssl_lines = "ssl = no\n"
        if ssl:
            ssl_lines = "ssl = yes\nssl_cert = <%s\nssl_key = <%s\n" % ssl
        self.conf.write_text(pop3_config(self.base, self.mail, "127.0.0.1", self.port,
                                         self.base / "passwd", ssl=ssl))
        self.started = False

    def maildir(self, address):
        local, domain = address.split("@")
        return self.mail / domain / local

    def put(self, address, name, data):
        """Delivers `data` into the user's Maildir new/ the way an MDA does."""
        box = self.maildir(address)
        for sub in ("tmp", "new", "cur"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        (box / "new" / name).write_bytes(data)
        for root, dirs, files in os.walk(self.mail):
            for n in dirs + files:
                shutil.chown(os.path.join(root, n), "nobody", "nogroup")
        shutil.chown(self.mail, "nobody", "nogroup")

    def start(self):
        # dovecot daemonizes and its children keep stdio: no pipes, or run() never returns.
        err = self.base / "start.err"
        with open(err, "wb") as f:
            r = subprocess.run(["dovecot", "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                               stdout=f, stderr=f, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("dovecot: %s" % err.read_text())
        self.started = True
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("dovecot did not listen:\n" + self.log())

    def log(self):
        p = self.base / "dovecot.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self):
        if self.started:
            subprocess.run(["dovecot", "-c", str(self.conf), "stop"], capture_output=True, timeout=60)
            self.started = False
        shutil.rmtree(self.base, ignore_errors=True)
