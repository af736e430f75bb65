"""A real SMTP peer on loopback for relay tests: aiosmtpd (Debian's python3-aiosmtpd) in a
thread, scripted to accept, defer (4xx), refuse (5xx), delay, or require STARTTLS and AUTH."""

import asyncio
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list
    content: bytes
    login: bytes = None
    tls: bool = False
    peer: tuple = None  # the client's (address, port): one per connection


@dataclass
class Peer:
    """`data_replies`: replies to successive DATA commands, the last one repeating.
    `rcpt_replies`: address -> reply for RCPT (others get 250). `delay`: seconds to wait
    before answering the first DATA; `data_delay`: before answering every DATA. `credentials`: (login, password) to require AUTH."""

    host: str = "127.0.0.1"
    port: int = 0
    data_replies: list = field(default_factory=lambda: ["250 2.0.0 OK queued"])
    rcpt_replies: dict = field(default_factory=dict)
    delay: float = 0.0
    data_delay: float = 0.0
    starttls_context: ssl.SSLContext = None
    implicit_context: ssl.SSLContext = None
    credentials: tuple = None
    messages: list = field(default_factory=list)  # accepted messages (Received)
    data_seen: int = 0  # DATA commands that reached the handler
    auth_failures: int = 0
    mails_per_connection: int = None  # MAIL beyond this count in one session gets 421

    def connections(self):
        return {m.peer for m in self.messages}

    def start(self):
        if not self.port:
            with socket.socket() as s:
                s.bind((self.host, 0))
                self.port = s.getsockname()[1]
        kwargs = dict(hostname=self.host, port=self.port, enable_SMTPUTF8=True,
                      server_hostname="peer.remote.test", ready_timeout=10)
        if self.starttls_context:
            kwargs.update(tls_context=self.starttls_context, require_starttls=True)
        if self.implicit_context:
            kwargs.update(ssl_context=self.implicit_context)
        if self.credentials:
            # aiosmtpd counts only STARTTLS as TLS for auth_require_tls; implicit TLS is TLS too.
            kwargs.update(auth_required=True, auth_require_tls=bool(self.starttls_context),
                          authenticator=self._authenticate)
        self.controller = Controller(_Handler(self), **kwargs)
        self.controller.start()
        return self

    def stop(self):
        if getattr(self, "controller", None):
            self.controller.stop()
            self.controller = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login.decode(), auth_data.password.decode()) == self.credentials
        if not ok:
            self.auth_failures += 1
        return AuthResult(success=ok, auth_data=auth_data if ok else None)

    def wait_for_messages(self, count=1, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.05)
        raise AssertionError("peer got %d message(s), wanted %d" % (len(self.messages), count))


class _Handler:
    def __init__(self, peer):
        self.peer = peer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.peer.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        peer = self.peer
        index = peer.data_seen
        peer.data_seen += 1
        if index == 0 and peer.delay:
            await asyncio.sleep(peer.delay)
        if peer.data_delay:
            await asyncio.sleep(peer.data_delay)
        reply = peer.data_replies[min(index, len(peer.data_replies) - 1)]
        if reply.startswith("250"):
            login = getattr(getattr(session, "auth_data", None), "login", None)
            peer.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                                          login, server.transport.get_extra_info("ssl_object") is not None,
                                          tuple(session.peer)))
        return reply

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        session.mails_seen = getattr(session, "mails_seen", 0) + 1
        limit = self.peer.mails_per_connection
        if limit is not None and session.mails_seen > limit:
            return "421 4.7.0 one message per connection, come back"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"


def server_context(cert, key):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


class Dnsmasq:
    """dnsmasq (Debian's dnsmasq-base) serving test records on a loopback port, unprivileged."""

    def __init__(self, port, records):
        self.port = port
        self.records = records

    def start(self, workdir):
        import subprocess
        self.log = workdir / "dnsmasq.log"
        self.proc = subprocess.Popen(
            ["/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
             "--no-hosts", "--port=%d" % self.port, "--listen-address=127.0.0.1", "--bind-interfaces",
             "--pid-file=", "--user=" + _user(), "--log-queries", "--log-facility=" + str(self.log),
             *self.records],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("dnsmasq exited: %s" % self.proc.stderr.read().decode())
            if self.log.exists() and "started" in self.log.read_text():
                return self
            time.sleep(0.05)
        raise AssertionError("dnsmasq did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _user():
    import pwd
    import os
    return pwd.getpwuid(os.getuid()).pw_name
