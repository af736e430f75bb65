"""Helpers shared by the test_smtp_*.py files: raw SMTP dialogs, POP3 fetches that undo the
trace headers, and store queries through the sqlite3 CLI."""

import hashlib
import poplib
import re
import time

from conftest import DOMAIN, PASSWORD
from line_client import LineClient

ALICE = "alice@%s" % DOMAIN


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Raw(LineClient):
    """A raw SMTP client socket that reads whole replies (multi-line aware)."""

    def reply(self):
        """One reply: (code, text of all lines joined by newlines)."""
        lines = []
        while True:
            line = self.line()
            lines.append(line[4:].decode("latin-1"))
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), "\n".join(lines)

    def cmd(self, line: str):
        self.send(line.encode() + b"\r\n")
        return self.reply()


def pop3_messages(daemon, user=ALICE, password=PASSWORD):
    """Every message in the mailbox as the bytes RETR gives (dot-unstuffing undone by poplib)."""
    client = poplib.POP3("127.0.0.1", daemon.ports["pop3"], timeout=60)
    try:
        client.user(user)
        client.pass_(password)
        count, _ = client.stat()
        out = []
        for n in range(1, count + 1):
            _, lines, _ = client.retr(n)
            out.append(b"\r\n".join(lines) + b"\r\n")
        return out
    finally:
        client.quit()


TRACE = re.compile(rb"\AReturn-Path: <[^>\r\n]*>\r\nReceived: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*")


def strip_trace(message: bytes) -> bytes:
    """The client's bytes: the stored message minus the Return-Path and one Received field."""
    match = TRACE.match(message)
    assert match, "no trace headers at the start of %r" % message[:200]
    return message[match.end():]


def trace_of(message: bytes) -> bytes:
    match = TRACE.match(message)
    assert match, "no trace headers at the start of %r" % message[:200]
    return message[:match.end()]


def sql(daemon, query):
    return daemon.sql(query)


def mailbox_count(daemon, address=ALICE):
    for line in daemon.admin("user", "list").stdout.splitlines():
        fields = line.split("\t")
        if fields[0] == address:
            return int(fields[1])
    raise AssertionError("no mailbox %s" % address)


def wait_until(predicate, timeout=20, what="condition"):
    """The predicate's first true value, polled until `timeout` seconds have passed."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def no_contents_left(daemon):
    """Nothing stored: no content rows (a refused message's chunks are discarded) and no
    deliveries or queue rows. The discard runs on the writer after the reply, so wait for it."""
    wait_until(lambda: sql(daemon, "SELECT count(*) FROM contents") == "0", what="contents to be discarded")
    assert sql(daemon, "SELECT count(*) FROM content_chunks") == "0"
    assert sql(daemon, "SELECT count(*) FROM deliveries") == "0"
    assert sql(daemon, "SELECT count(*) FROM queue") == "0"


def message(tag: str, body: bytes = b"Hello.\r\n", sender="sender@remote.test", to=ALICE) -> bytes:
    return (b"From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@remote.test>\r\n\r\n"
            % (sender.encode(), to.encode(), tag.encode(), tag.encode()) + body)
