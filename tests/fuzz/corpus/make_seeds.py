#!/usr/bin/env python3
"""Writes the seed corpora: small realistic sessions, each behind the parameter bytes its
target reads first (see the target's LLVMFuzzerTestOneInput). Run from anywhere; it rewrites
the seed-* files and leaves other files (crash reproducers) alone."""
import base64
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent


def seed(n):
    return struct.pack(">I", n)


def write(target, name, data):
    d = ROOT / target
    d.mkdir(exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / ("seed-" + name)).write_bytes(data)


def crlf(text):
    return text.replace("\n", "\r\n")


PLAIN = base64.b64encode(b"\0alice@example.test\0secret").decode()
USER = base64.b64encode(b"alice@example.test").decode()
PASS = base64.b64encode(b"secret").decode()

# SMTP: flags (bit0 submission, bit1 tls, bit2 starttls offered, bit3 trusted, bit4 no
# plaintext auth, bit5 small SIZE, bit6 two recipients max, bit7 timeout), split, chunk seed.
smtp = {
    "data": (0x00, crlf("EHLO client.test\nMAIL FROM:<sender@remote.test> SIZE=120 BODY=8BITMIME\n"
                        "RCPT TO:<bob@example.test>\nRCPT TO:<Carol@Example.TEST>\n"
                        "RCPT TO:<unknown@example.test>\nDATA\nSubject: hi\n\nHello\n..dot\n.\n"
                        "QUIT\n")),
    "bdat-auth": (0x01, crlf("EHLO client.test\nAUTH PLAIN " + PLAIN + "\n"
                             "MAIL FROM:<alice@example.test>\nRCPT TO:<x@remote.test>\n") +
                  "BDAT 12\r\nSubject: x\r\n\r\nBDAT 6 LAST\r\nbody\r\nQUIT\r\n"),
    "starttls-login": (0x05, crlf("EHLO client.test\nSTARTTLS\nEHLO client.test\nAUTH LOGIN\n" +
                                  USER + "\n" + PASS + "\nMAIL FROM:<alice@example.test> "
                                  "SMTPUTF8\nRCPT TO:<bob@example.test>\nDATA\nx\n.\nQUIT\n")),
    "helo-null": (0x08, crlf("HELO old.client\nMAIL FROM:<>\nRCPT TO:<postmaster>\n"
                             "RCPT TO:<@relay.test:bob@example.test>\nDATA\n.\nRSET\nNOOP\n"
                             "VRFY bob\nHELP\nEXPN list\nQUIT\n")),
    "bad": (0x60, "ehlo x\r\nMAIL FROM:<a@b\r\nRCPT TO:<>\r\nDATA\r\n" + "A" * 600 +
            "\r\nBDAT x\r\nAUTH CRAM-MD5\r\nAUTH PLAIN\r\n*\r\nMAIL FROM:<\"q u\"@[192.0.2.1]>\n"
            "RCPT TO:<r@example.test> NOTIFY=NEVER\nBDAT 3\r\n..\nDATA\r\n\r\n.\r\nQUIT\r\n"),
    "pipelined-abort": (0x81, crlf("EHLO c\nAUTH PLAIN " + PLAIN + "\nAUTH PLAIN " + PLAIN +
                                   "\nMAIL FROM:<alice@example.test>\nRCPT TO:<a@x.test>\n"
                                   "RCPT TO:<b@x.test>\nRCPT TO:<c@x.test>\nDATA\npartial")),
}
for name, (flags, dialog) in smtp.items():
    write("smtp_session", name, bytes([flags, 128]) + seed(len(name)) + dialog.encode())

# POP3: flags (bit0 APOP, bit1 tls, bit2 STLS offered, bit3 no plaintext, bit4 tight limits).
pop3 = {
    "retr": (0x00, crlf("CAPA\nUSER alice@example.test\nPASS secret\nSTAT\nLIST\nLIST 2\nUIDL\n"
                        "UIDL 3\nRETR 1\nTOP 2 1\nTOP 3 0\nDELE 1\nRSET\nDELE 2\nNOOP\nQUIT\n")),
    "fail-then-ok": (0x00, crlf("USER a\nPASS wrong\nUSER alice@example.test\nPASS secret\n"
                                "RETR 1\nRETR 2\nRETR 3\nRETR 1\nRETR 2\nRETR 3\nDELE 9\nQUIT\n")),
    "apop": (0x01, crlf("APOP alice@example.test c4c9334bac560ecc979e58001b3e22fb\nSTAT\nQUIT\n")),
    "stls-auth": (0x04, crlf("CAPA\nSTLS\nCAPA\nAUTH\nAUTH PLAIN\n" + PLAIN + "\nLIST\nQUIT\n")),
    "bad": (0x18, "user\r\nPASS\r\nRETR 1\r\n" + "X" * 300 + "\r\nAUTH PLAIN *\r\nTOP\r\n"
            "USER " + "u" * 50 + "\r\nxyzzy\nQUIT\r\n"),
}
for name, (flags, dialog) in pop3.items():
    write("pop3_session", name, bytes([flags, 100]) + seed(len(name) * 7) + dialog.encode())

messages = {
    "crlf": "From: a@example.test\r\nSubject: s\r\n\r\nHello\r\n.\r\n..x\r\n",
    "lf": "Subject: s\n\n.\nbody\n.leading dot\nno newline at end",
    "cr": "Subject: s\r\r\n\r\nline\rCR\r\n\r\n.\r",
}
for i, (name, m) in enumerate(messages.items()):
    write("pop3_transfer_encoder", name + "-retr", bytes([0]) + seed(i) + m.encode())
    write("pop3_transfer_encoder", name + "-top", bytes([0x21]) + seed(i + 9) + m.encode())
    write("relay_data_encoder", name, seed(i * 3 + 1) + m.encode())

replies = {
    "ehlo": "220 mx.remote.example ESMTP\r\n250-mx.remote.example\r\n250-PIPELINING\r\n"
            "250-SIZE 10240000\r\n250-STARTTLS\r\n250-AUTH=LOGIN PLAIN\r\n250-AUTH PLAIN LOGIN\r\n"
            "250-8BITMIME\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n",
    "errors": "421-4.3.2 going down\n421 4.3.2 bye\n550 5.1.1 <bob@x>: no such user\n"
              "250-a\r\n251 b\r\n99 x\r\n",
}
for name, r in replies.items():
    write("relay_reply_parser", name, bytes([0]) + seed(5) + r.encode())

# Client session: flags (bits 0-1 TLS mode, bit2 TLS available, bit3 credentials, bit4 null
# sender, bit5 SMTPUTF8, bit6 8bit), more (recipients % 4, bit2 TLS fails, bit3 timeout).
client = {
    "pipelined": (0x00, 0x03, "220 mx ESMTP\r\n250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
                              "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no\r\n451 4.3.0 later\r\n"
                              "354 go\r\n250 2.0.0 queued\r\n221 bye\r\n"),
    "starttls-auth": (0x0d, 0x01, "220 smarthost\r\n250-smarthost\r\n250-STARTTLS\r\n"
                                  "250 AUTH PLAIN LOGIN\r\n220 2.0.0 go ahead\r\n250-smarthost\r\n"
                                  "250 AUTH LOGIN\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"
                                  "235 2.7.0 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n"
                                  "221 bye\r\n"),
    "helo-fallback": (0x10, 0x02, "220 old\r\n500 what\r\n250 old\r\n250 ok\r\n250 ok\r\n"
                                  "250 ok\r\n354 go\r\n552 5.3.4 too big\r\n221 bye\r\n"),
    "rejected": (0x02, 0x01, "554 5.7.1 go away\r\n"),
    "tempfail": (0x61, 0x0b, "220 mx\r\n250-mx\r\n250 SIZE 10\r\n421 4.7.0 try later\r\n"),
}
for name, (flags, more, r) in client.items():
    write("relay_client_session", name, bytes([flags, more]) + seed(11) + r.encode())

headers = ("Received: from client.test by mail.example.test; Tue, 14 Nov 2023 22:13:20 +0000\r\n"
           "From: Alice <alice@example.test>\r\nTo: bob@remote.example\r\n"
           "Subject: a long subject " + "word " * 40 + "\r\n\tcontinued\r\n\r\nbody\r\n")
diag = "550 5.1.1 <bob@remote.example>: Recipient address rejected: User unknown"
write("relay_dsn", "basic", bytes([0x10, (len(diag) + 3) // 4, 18]) + seed(1) +
      diag.ljust((len(diag) + 3) // 4 * 4).encode() + b"bob@remote.example" + headers.encode())
write("relay_dsn", "lf-truncated", bytes([0x29, 2, 0]) + seed(2) + b"451 4.4.1 timeout" +
      headers.replace("\r\n", "\n").encode())

for i, a in enumerate(["alice@example.test", "Bob.Smith@Example.TEST", "\"john doe\"@example.test",
                       "\"a\\\"b\"@[192.0.2.1]", "user@[IPv6:2001:db8::1]", "jös@bücher.example",
                       "postmaster", "a@b", "x.@y", "@relay.test:bob@example.test"]):
    write("address", str(i), a)

streams = {
    "smtp": crlf("EHLO x\nMAIL FROM:<a@b>\n") + "bare lf\n" + "long " * 100 + "\r\nend",
    "cr": "a\rb\r\n\r\n\n\r\r\n",
}
for name, s in streams.items():
    write("line_reader", name, bytes([0, 64]) + seed(3) + s.encode())
    write("line_reader", name + "-512", bytes([1, 253]) + seed(2) + s.encode())

write("mbox", "two", "From alice@example.test Tue Nov 14 22:13:20 2023\nSubject: one\n\n"
      "Hello\n>From the start\n>>From deeper\n\nFrom bob@example.test Wed Nov 15 08:00:00 2023\n"
      "Subject: two\r\n\r\nbody\r\n\r\n")
write("mbox", "junk-first", "junk line\nFrom \n\nFrom x\nno final newline")

config = (ROOT.parent.parent.parent / "etc" / "postroom.yaml").read_text()
write("config", "sample", config)
write("config", "minimal", "hostname: mail.example.test\ndomains: [example.test]\n"
      "data_dir: /var/lib/postroom\nlisten:\n  smtp: [\"127.0.0.1:2525\"]\n"
      "  pop3: [\"[::1]:1110\"]\nrelay:\n  mode: direct\n")
write("config", "errors", "hostname: \"\"\ndomains: example.test\nunknown: 1\nlimits:\n"
      "  max_message_size: 10XB\n  smtp_idle_timeout: 1s\nrelay:\n  mode: smarthost\n"
      "trusted_networks: [\"10.0.0.0/33\", \"::1/200\"]\n")
