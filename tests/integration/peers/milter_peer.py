"""A small milter for the milter client tests, on Debian's python3-milter (pymilter, which
runs Sendmail's own libmilter): it does what the message's Subject asks, and writes what it
saw of each message as one JSON line, so a test can check what postroom sent.

Usage: milter_peer.py SOCKET SEENFILE   (SOCKET: inet:PORT@127.0.0.1 or unix:/path)

Subject words: "reject" (550 5.7.1 with a text), "tempfail" (451 4.7.1), "discard", "plainreject"
(REJECT without a reply text), "tag" (add, insert and change headers, delete one), "quarantine",
"hang" (never answers end of message), "slowbody" (reads the body at about 2 MB/s)."""

import hashlib
import json
import sys
import time

import Milter


class TestMilter(Milter.Base):
    def __init__(self):
        self.id = Milter.uniqueID()

    def connect(self, hostname, family, hostaddr):
        self.seen = {"hostname": hostname, "hostaddr": hostaddr[0] if hostaddr else None,
                     "client_addr": self.getsymval("{client_addr}"), "j": self.getsymval("j"),
                     "headers": [], "rcpts": []}
        return Milter.CONTINUE

    def hello(self, name):
        self.seen["helo"] = name
        return Milter.CONTINUE

    def envfrom(self, mailfrom, *esmtp):
        self.seen["mail_from"] = mailfrom
        self.seen["auth_authen"] = self.getsymval("{auth_authen}")
        self.digest = hashlib.sha256()
        self.body_len = 0
        return Milter.CONTINUE

    def envrcpt(self, to, *esmtp):
        self.seen["rcpts"].append(to)
        return Milter.CONTINUE

    def header(self, name, value):
        self.seen["headers"].append([name, value])
        if name.lower() == "subject":
            self.subject = value
        return Milter.CONTINUE

    def eoh(self):
        return Milter.CONTINUE

    def body(self, chunk):
        if "slowbody" in getattr(self, "subject", "").split():
            time.sleep(len(chunk) / 2_000_000)
        self.digest.update(chunk)
        self.body_len += len(chunk)
        return Milter.CONTINUE

    def eom(self):
        self.seen["body_sha256"] = self.digest.hexdigest()
        self.seen["body_len"] = self.body_len
        self.seen["queue_id"] = self.getsymval("i")
        with open(sys.argv[2], "a") as f:
            f.write(json.dumps(self.seen) + "\n")
        words = getattr(self, "subject", "").split()
        if "hang" in words:
            time.sleep(3600)
        if "reject" in words:
            self.setreply("550", "5.7.1", "rejected by the test milter")
            return Milter.REJECT
        if "plainreject" in words:
            return Milter.REJECT
        if "tempfail" in words:
            self.setreply("451", "4.7.1", "test milter says later")
            return Milter.TEMPFAIL
        if "discard" in words:
            return Milter.DISCARD
        if "tag" in words:
            self.addheader("X-Test-Milter", "seen by the test milter")
            self.addheader("X-Inserted-First", "at the top", 0)
            self.chgheader("Subject", 1, "[tagged] " + self.subject)
            self.chgheader("X-Remove-Me", 1, "")
        if "quarantine" in words:
            self.quarantine("test quarantine")
        return Milter.ACCEPT


def main():
    Milter.factory = TestMilter
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.QUARANTINE)
    sys.stdout.write("milter ready\n")
    sys.stdout.flush()
    Milter.runmilter("postroom-test", sys.argv[1], 60)


if __name__ == "__main__":
    main()
