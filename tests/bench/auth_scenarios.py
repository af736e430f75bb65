"""Benchmark scenarios with mail authentication: DKIM-signed outbound submission (postroom
against Postfix + OpenDKIM as a milter) and inbound mail with SPF, DKIM and DMARC checks
(postroom against Postfix + OpenDKIM + OpenDMARC as milters).

Imported by bench.py (which registers itself as the module `bench` first); uses its
accounting (cgroups, sampler), servers and report.
"""

import base64
import os
import poplib
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import dkim

import bench
from bench import DOMAIN, HOST, KIB, PASSWORD, Postfix, Postroom, measure, med, say, stop_process

# dnsmasq for both scenarios listens on port 53 of an address of its own: OpenDMARC's SPF
# library (libspf2) and its DMARC lookups use the system resolver, which knows no ports, so
# the milters run in a private mount namespace whose /etc/resolv.conf names this address.
DNS_ADDRESS = "127.0.54.25"
SMARTHOST = "smarthost.bench.test"      # postroom's smarthost, by name as an office sets it
REMOTE = "rcpt@remote.test"             # outbound recipient (another domain)
SENDER_DOMAIN = "sender.test"           # inbound: the outside domain
SENDER_HELO = "mail." + SENDER_DOMAIN
SENDER_SELECTOR = "s1"
DKIM_SELECTOR = "bench"                 # the office's selector, both sides
SHM = Path("/dev/shm")
# OpenDKIM refuses a config or key file on a path that others can write (/var/tmp is 1777):
# the milters' files live under /run instead.
MILTER_ROOT = Path("/run") / ("postroom-bench-%d" % os.getpid())


def wait_tcp(port, timeout=30, proc=None):
    """A listener that sends no greeting (a milter): connect succeeds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening" % proc.returncode)
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d not ready in %ds" % (port, timeout))


def rsa_key(path):
    """A 2048-bit RSA key (PEM) made with openssl; returns the DKIM TXT record's text."""
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(path)], check=True, capture_output=True)
    return dkim_record(path)


def dkim_record(pem):
    der = subprocess.run(["openssl", "pkey", "-in", str(pem), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def crlf(data):
    return re.sub(rb"\r?\n", b"\r\n", data)


def dkim_verify(content, records):
    """dkimpy's verdict on the first DKIM-Signature, keys from `records` (name -> TXT)."""
    def dnsfunc(name, timeout=5):
        return records.get(name.decode().rstrip("."), "").encode()
    try:
        return dkim.DKIM(content).verify(dnsfunc=dnsfunc)
    except dkim.DKIMException:
        return False


# --------------------------------------------------------------------------- peers
class BenchDns:
    """dnsmasq on DNS_ADDRESS:53, authoritative for *.test (nothing leaves the machine)."""

    def __init__(self, work, records):
        self.dir = work / "dns"
        self.dir.mkdir(exist_ok=True)
        self.log = self.dir / "dnsmasq.log"
        self.resolv = self.dir / "resolv.conf"
        self.resolv.write_text("nameserver %s\noptions attempts:2 timeout:2\n" % DNS_ADDRESS)
        args = ["/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                "--no-hosts", "--port=53", "--listen-address=" + DNS_ADDRESS, "--bind-interfaces",
                "--pid-file=", "--user=root", "--local=/test/", "--log-facility=" + str(self.log),
                "--cache-size=1000", "--local-ttl=300"]
        for name, rtype, value in records:
            if rtype == "A":
                args.append("--host-record=%s,%s" % (name, value))
            elif rtype == "MX":
                args.append("--mx-host=%s,%s,10" % (name, value))
            elif rtype == "TXT":
                # at most 255 octets per string (RFC 1035 §3.3.14); none of ours holds a comma
                assert "," not in value
                args.append("--txt-record=%s,%s" % (name, ",".join(value[i:i + 250]
                                                                  for i in range(0, len(value), 250))))
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while not (self.log.exists() and "started" in self.log.read_text()):
            if self.proc.poll() is not None:
                raise RuntimeError("dnsmasq on %s:53 exited: %s" % (DNS_ADDRESS, self.proc.stderr.read().decode()))
            if time.time() > deadline:
                raise RuntimeError("dnsmasq did not start")
            time.sleep(0.05)

    def cpu_seconds(self):
        fields = Path("/proc/%d/stat" % self.proc.pid).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def queries(self):
        """Queries answered so far (dnsmasq logs its counters on SIGUSR1)."""
        before = self.log.read_text().count("queries answered locally")
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.time() + 5
        while time.time() < deadline:
            text = self.log.read_text()
            if text.count("queries answered locally") > before:
                m = re.findall(r"queries forwarded (\d+), queries answered locally (\d+)", text)[-1]
                return int(m[0]) + int(m[1])
            time.sleep(0.02)
        return 0

    def wrap(self, argv):
        """argv run with this server as its resolver (a private mount namespace)."""
        return ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                'mount --bind "$0" /etc/resolv.conf && exec "$@"', str(self.resolv)] + list(argv)

    def stop(self):
        stop_process(self.proc)


class CountingSink:
    """smtp-sink as the smarthost: -c prints its counters whenever a message's final dot
    arrives (read here by a thread), -d dumps each message to a file on tmpfs so that the
    signatures can be counted and verified afterwards. Outside every server's cgroup."""

    def __init__(self, base):
        self.port = bench.free_port()
        self.dump = Path(base)
        self.dump.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.dump, "nobody", "nogroup")
        self.count = 0
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(["smtp-sink", "-u", "nobody", "-c", "-d", str(self.dump) + "/m.",
                                      "%s:%d" % (HOST, self.port), "1024"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()
        bench.wait_port(self.port, proc=self.proc)

    def read(self):
        buf = b""
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                return
            buf += chunk
            found = re.findall(rb"mesg=(\d+)", buf)
            if found:
                with self.cond:
                    self.count = int(found[-1])
                    self.cond.notify_all()
                buf = buf[-64:]

    def wait_for(self, n, timeout):
        deadline = time.time() + timeout
        with self.cond:
            while self.count < n:
                left = deadline - time.time()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.5))
        return True

    def messages(self):
        """The dumped messages, the sink's own header lines removed, with CRLF line ends."""
        out = []
        for f in sorted(self.dump.iterdir()):
            data = f.read_bytes()
            # smtp-sink's X-Client-*, X-Helo/Mail/Rcpt-Args and its 3-line Received come first
            m = re.search(rb"\nReceived: from [^\n]*\n\t[^\n]*\n\t[^\n]*\n", data)
            out.append(crlf(data[m.end():] if m else data))
        return out

    def stop(self):
        stop_process(self.proc)
        self.reader.join(timeout=5)
        shutil.rmtree(self.dump, ignore_errors=True)


class Milter:
    """OpenDKIM or OpenDMARC in the foreground, in Postfix's cgroup (its CPU and memory count
    as Postfix's), with the bench's DNS server as its resolver."""

    def __init__(self, kind, base, conf_lines, dns):
        self.kind, self.dns = kind, dns
        self.base = MILTER_ROOT / Path(base).name
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(MILTER_ROOT, 0o755)
        os.chmod(self.base, 0o755)
        self.port = bench.free_port()
        self.conf = self.base / ("%s.conf" % kind)
        self.conf.write_text("\n".join(conf_lines + [
            "Socket inet:%d@%s" % (self.port, HOST),
            "PidFile %s/%s.pid" % (self.base, kind),
            "UserID %s" % kind,
            "Syslog false",
        ]) + "\n")
        self.proc = None

    def start(self, cgroup):
        flag = "-x" if self.kind == "opendkim" else "-c"
        self.log = open(self.base / ("%s.log" % self.kind), "ab")
        argv = [self.kind, "-f", flag, str(self.conf)]
        self.proc = subprocess.Popen(cgroup.wrap(self.dns.wrap(argv)), stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        try:
            wait_tcp(self.port, proc=self.proc)
        except RuntimeError as e:
            raise RuntimeError("%s: %s: %s" % (self.kind, e, (self.base / ("%s.log" % self.kind)).read_text()[-800:]))

    def stop(self):
        stop_process(self.proc)
        if self.proc:
            self.log.close()
        self.proc = None


class PostfixMilters(Postfix):
    """The private Postfix of bench.py with milters started in its cgroup."""
    name = "postfix"

    def __init__(self, base, users, milters, extra=()):
        self.milters = milters
        sockets = ", ".join("inet:%s:%d" % (HOST, m.port) for m in milters)
        super().__init__(base, users, extra=list(extra) + [
            "smtpd_milters = " + sockets,
            "non_smtpd_milters = " + sockets,
            "milter_default_action = tempfail",   # a milter down must not let mail through
            "milter_protocol = 6",
        ])

    def start(self):
        for m in self.milters:
            m.start(self.cg)
        super().start()

    def stop(self):
        if self.cg.pids():
            subprocess.run(["postfix", "-c", str(self.conf), "stop"], capture_output=True, timeout=60)
        for m in self.milters:
            m.stop()
        self.wait_stopped()


# --------------------------------------------------------------------------- load
def source(server_port, sessions, count, size=None, message_file=None, sender="sender@" + DOMAIN,
           to=REMOTE, helo="client." + DOMAIN, timeout=600):
    argv = ["smtp-source", "-s", str(sessions), "-m", str(count), "-f", sender, "-t", to, "-M", helo]
    argv += ["-F", str(message_file)] if message_file else ["-l", str(size)]
    r = subprocess.run(argv + ["%s:%d" % (HOST, server_port)], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("smtp-source failed (%d): %s" % (r.returncode, r.stderr.strip()[-500:]))


def dns_stats(dns, fn):
    """fn() with the DNS server's CPU seconds and query count around it."""
    cpu0, q0 = dns.cpu_seconds(), dns.queries()
    out = fn()
    return out, dns.cpu_seconds() - cpu0, dns.queries() - q0


def scenario_list(args, counts):
    if args.smoke:
        return [(KIB, 10, 40)]
    return [(size, sessions, counts[(size, sessions)]) for size in (KIB, 100 * KIB) for sessions in (10, 50)]


def report_rows(report, sec, label, peer, res, extra_rows=()):
    P, R = res[peer], res["postroom"]
    report.pair(sec, label, "messages/s", peer, [r["rate"] for r in P], [r["rate"] for r in R])
    report.pair(sec, label, "server CPU ms/msg", peer, [r["cpu_ms"] for r in P], [r["cpu_ms"] for r in R], "ms", "lower")
    report.pair(sec, label, "peak PSS MiB (sum)", peer, [r["pss"] for r in P], [r["pss"] for r in R], "MiB", "lower")
    for metric, key, unit, better in extra_rows:
        report.pair(sec, label, metric, peer, [r[key] for r in P], [r[key] for r in R], unit, better)


# --------------------------------------------------------------------------- outbound
def run_pairs(args, report, counts, peer, one, tag, smoke_title, section):
    """Alternating pairs (peer, then postroom) of `one(kind, size, sessions, n, check)` per
    size; the first pair also checks a sample. Smoke: postroom only, reported bare."""
    kinds = ["postroom"] if args.smoke else [peer, "postroom"]
    for size, sessions, n in scenario_list(args, counts):
        label = "%d KiB, %d senders, %d msgs" % (size // KIB, sessions, n)
        res = {k: [] for k in kinds}
        for rep in range(args.pairs):
            for kind in kinds:
                r = one(kind, size, sessions, n, check=rep == 0)
                res[kind].append(r)
                say("%s %-30s %-16s rep %d: %7.1f msg/s  cpu %.3f ms/msg  pss %.1f MiB  dns %.1f q/msg (%.1fs)"
                    % (tag, label, kind, rep + 1, r["rate"], r["cpu_ms"] * 1000, r["pss"] / 1024, r["dns_q"],
                       r["secs"]))
        if args.smoke:
            report.pair(smoke_title, label, "messages/s", "-", [1], [med([r["rate"] for r in res["postroom"]])])
            continue
        report_rows(report, section, label, peer, res, [("DNS queries per message", "dns_q", "", "lower")])


def run_dkim_outbound(args, report, work, postroom_bins):
    """Submission from trusted_networks to another domain, DKIM-signed, relayed to a
    smarthost (smtp-sink); timed until the sink has received every message."""
    root = work / "dkim-out"
    root.mkdir()
    pf_key = root / "postfix-dkim.pem"
    pf_record = rsa_key(pf_key)
    dns = BenchDns(root, [(SMARTHOST, "A", HOST)])
    counts = {(KIB, 10): args.n_dkim_1k_10, (KIB, 50): args.n_dkim_1k_50,
              (100 * KIB, 10): args.n_dkim_100k_10, (100 * KIB, 50): args.n_dkim_100k_50}
    run_no = [0]
    peer = "postfix+opendkim"

    def fresh(kind, sink):
        run_no[0] += 1
        base = root / ("%s-%d" % (kind.split("+")[0], run_no[0]))
        if kind == "postroom":
            s = Postroom(base, *postroom_bins, pop3=False,
                         extra_limits=["outbound_messages_per_hour: 0", "outbound_messages_per_day: 0",
                                       "outbound_new_recipients_per_day: 0"],
                         extra=["relay:", "  mode: smarthost", "  smarthost:", "    host: " + SMARTHOST,
                                "    port: %d" % sink.port, "    tls: none",
                                '  dns_servers: ["%s:53"]' % DNS_ADDRESS])
            s.admin("dkim", "generate", DOMAIN, "--selector", DKIM_SELECTOR)
            s.admin("dkim", "activate", DOMAIN, DKIM_SELECTOR)
            pem = base / "data" / "dkim" / DOMAIN / (DKIM_SELECTOR + ".pem")
            s.record = dkim_record(pem)
            return s
        base.mkdir(parents=True)
        (MILTER_ROOT / base.name).mkdir(parents=True)
        key = MILTER_ROOT / base.name / "dkim.pem"
        shutil.copy(pf_key, key)
        shutil.chown(key, "opendkim", "opendkim")
        os.chmod(key, 0o600)
        milter = Milter("opendkim", base, [
            "Mode s",
            "Canonicalization relaxed/relaxed",
            "SignatureAlgorithm rsa-sha256",
            "Domain " + DOMAIN,
            "Selector " + DKIM_SELECTOR,
            "KeyFile %s" % key,
            "OversignHeaders From",
            "InternalHosts 127.0.0.1",  # the clients (the default, said here)
            "UMask 007",
        ], dns)
        s = PostfixMilters(base, ["bench"], [milter], extra=[
            "relayhost = [%s]:%d" % (HOST, sink.port),
            "smtp_tls_security_level = none",
        ])
        s.record = pf_record
        return s

    def one(kind, size, sessions, n, check):
        sink = CountingSink(SHM / ("postroom-bench-sink-%d-%d" % (os.getpid(), run_no[0] + 1)))
        s = None
        try:
            s = fresh(kind, sink)
            s.start()
            time.sleep(0.3)

            def load():
                t0 = time.time()
                source(s.smtp_port, sessions, n, size=size)
                if not sink.wait_for(n, 600):
                    raise RuntimeError("%s: the sink got %d of %d messages" % (kind, sink.count, n))
                return ("span", (t0, time.time()))
            (_, secs, cpu, rss, pss), dns_cpu, queries = dns_stats(dns, lambda: measure(s.cg, load))
            msgs = sink.messages()
            signed = sum(1 for m in msgs if b"\r\nDKIM-Signature:" in b"\r\n" + m.split(b"\r\n\r\n", 1)[0])
            if len(msgs) != n or signed != n:
                raise RuntimeError("%s: sink dumped %d messages, %d with a DKIM-Signature, expected %d"
                                   % (kind, len(msgs), signed, n))
            if check:
                records = {"%s._domainkey.%s" % (DKIM_SELECTOR, DOMAIN): s.record}
                for i in (0, len(msgs) - 1):
                    if not dkim_verify(msgs[i], records):
                        raise RuntimeError("%s: dkimpy rejects the signature of dumped message %d:\n%s"
                                           % (kind, i, msgs[i][:1500].decode(errors="replace")))
                sig = re.search(rb"DKIM-Signature:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", msgs[0]).group(1)
                sig = re.sub(rb"\s+", b"", sig)
                say("dkim-out %s: dkimpy verified messages 1 and %d (%s)"
                    % (kind, n, b";".join(f for f in sig.split(b";") if f[:2] in (b"a=", b"c=", b"d=", b"s=")).decode()))
            return {"rate": n / secs, "cpu_ms": cpu / n, "rss": rss, "pss": pss, "secs": secs,
                    "dns_ms": dns_cpu / n, "dns_q": queries / n}
        finally:
            if s is not None:
                s.close()
                shutil.rmtree(s.base, ignore_errors=True)
                shutil.rmtree(MILTER_ROOT / s.base.name, ignore_errors=True)
            sink.stop()

    try:
        run_pairs(args, report, counts, peer, one, "dkim-out", "DKIM-signed submission (smoke)",
                  "DKIM-signed outbound submission (trusted_networks -> smarthost smtp-sink), "
                  "vs Postfix %s + OpenDKIM %s" % (args.postfix_version, args.opendkim_version))
    finally:
        dns.stop()
        shutil.rmtree(MILTER_ROOT, ignore_errors=True)


# --------------------------------------------------------------------------- inbound
def signed_message(path, size, key):
    """A message from the outside domain, DKIM-signed once by dkimpy (relaxed/relaxed), written
    with LF line ends for smtp-source -F (which sends each line with CRLF)."""
    head = ("From: Sender <sender@%s>\r\nTo: <bench@%s>\r\nSubject: inbound bench\r\n"
            "Date: Wed, 02 Dec 2026 09:00:00 +0000\r\nMessage-ID: <inbound-%d@%s>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n" % (SENDER_DOMAIN, DOMAIN, size, SENDER_DOMAIN)).encode()
    body = bytearray()
    k = 0
    while len(head) + len(body) < size:
        body += b"La de da de da %d. The quick brown fox jumps over the lazy dog 0123456789.\r\n" % k
        k += 1
    msg = head + bytes(body)
    sig = dkim.sign(msg, SENDER_SELECTOR.encode(), SENDER_DOMAIN.encode(), Path(key).read_bytes(),
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    signed = sig + msg
    Path(path).write_bytes(signed.replace(b"\r\n", b"\n").rstrip(b"\n") + b"\n")
    return signed


def header_fields(content, name):
    head = content.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return [re.sub(rb"\s+", b" ", f).decode(errors="replace")
            for f in re.findall(rb"^" + name.encode() + rb":((?:[^\n]*)(?:\n[ \t][^\n]*)*)", head, re.M | re.I)]


def run_inbound_auth(args, report, work, postroom_bins):
    """Mail from an outside domain (SPF, DKIM-signed, DMARC p=quarantine) to a local mailbox,
    with the checks on; timed until every message is in the mailbox."""
    root = work / "auth-in"
    root.mkdir()
    key = root / "sender.pem"
    record = rsa_key(key)
    dns = BenchDns(root, [
        (SENDER_DOMAIN, "TXT", "v=spf1 ip4:127.0.0.0/8 -all"),
        (SENDER_DOMAIN, "MX", SENDER_HELO),
        (SENDER_HELO, "A", HOST),
        (SENDER_HELO, "TXT", "v=spf1 a -all"),
        ("%s._domainkey.%s" % (SENDER_SELECTOR, SENDER_DOMAIN), "TXT", record),
        ("_dmarc." + SENDER_DOMAIN, "TXT", "v=DMARC1; p=quarantine"),
    ])
    files = {}
    for size in (KIB, 100 * KIB):
        files[size] = root / ("msg-%d.eml" % size)
        signed = signed_message(files[size], size, key)
        assert dkim_verify(signed, {"%s._domainkey.%s" % (SENDER_SELECTOR, SENDER_DOMAIN): record})
    counts = {(KIB, 10): args.n_auth_1k_10, (KIB, 50): args.n_auth_1k_50,
              (100 * KIB, 10): args.n_auth_100k_10, (100 * KIB, 50): args.n_auth_100k_50}
    peer = "postfix+milters"
    run_no = [0]
    MILTER_ROOT.mkdir(parents=True, exist_ok=True)
    os.chmod(MILTER_ROOT, 0o755)
    not_here = MILTER_ROOT / "ignore-hosts"
    # The milters skip their checks for 127.0.0.1 by default (OpenDKIM's InternalHosts,
    # OpenDMARC's IgnoreHosts): here 127.0.0.1 is the outside world.
    not_here.write_text("192.0.2.1\n")
    key_data = MILTER_ROOT / "dkim-keys"
    key_data.write_text("%s._domainkey.%s %s\n" % (SENDER_SELECTOR, SENDER_DOMAIN, record))
    os.chmod(root, 0o755)

    def fresh(kind):
        run_no[0] += 1
        base = root / ("%s-%d" % (kind.split("+")[0], run_no[0]))
        if kind == "postroom":
            s = Postroom(base, *postroom_bins, trusted=False, extra=[
                "relay:", '  dns_servers: ["%s:53"]' % DNS_ADDRESS,
                "mail_auth:", "  spf: tag", "  dkim: tag", "  dmarc: tag"])
            s.add_user("bench")
            return s
        base.mkdir(parents=True)
        os.chmod(base, 0o755)
        common = ["AuthservID mail." + DOMAIN]
        opendkim = Milter("opendkim", base, common + [
            "Mode v",
            # The sender's public key from a file, not from DNS: Debian's OpenDKIM resolves
            # with libunbound, which never asks a server on loopback (Nameservers 127.x gets
            # nothing) and answers *.test itself; and with an unbound configuration file
            # (ResolverConfiguration) its milter threads re-read that file and race in
            # unbound's parser (tempfails). One DNS lookup per message fewer for Postfix.
            "TestDNSData %s" % key_data,
            "InternalHosts %s" % not_here,
            "UMask 007",
        ], dns)
        opendmarc = Milter("opendmarc", base, common + [
            "TrustedAuthservIDs mail." + DOMAIN,   # OpenDKIM's results
            "SPFSelfValidate true",                # OpenDMARC checks SPF itself (libspf2)
            "SPFIgnoreResults true",
            "IgnoreHosts %s" % not_here,
            "PublicSuffixList /usr/share/publicsuffix/public_suffix_list.dat",
            "RejectFailures false",
            "FailureReports false",
        ], dns)
        return PostfixMilters(base, ["bench"], [opendkim, opendmarc])

    def stored_sample(kind, s):
        if kind == "postroom":
            pop = poplib.POP3(HOST, s.pop3_port, timeout=30)
            try:
                pop.user("bench@" + DOMAIN)
                pop.pass_(PASSWORD)
                return b"\r\n".join(pop.retr(1)[1])
            finally:
                pop.quit()
        new = s.mail / DOMAIN / "bench" / "new"
        return crlf(sorted(new.iterdir())[0].read_bytes())

    def check_sample(kind, content):
        results = header_fields(content, "Authentication-Results")
        text = " | ".join(results)
        for verdict in ("spf=pass", "dkim=pass", "dmarc=pass"):
            if verdict not in text:
                raise RuntimeError("%s: no %s in the stored message's Authentication-Results: %s\n%s"
                                   % (kind, verdict, text, content[:1500].decode(errors="replace")))
        if header_fields(content, "X-Spam-Flag"):
            raise RuntimeError("%s: a passing message was tagged as spam" % kind)
        say("auth-in %s: stored message has %s" % (kind, text))

    def one(kind, size, sessions, n, check):
        s = fresh(kind)
        try:
            s.start()
            time.sleep(0.3)

            def load():
                before = s.delivered()
                t0 = time.time()
                source(s.smtp_port, sessions, n, message_file=files[size], sender="sender@" + SENDER_DOMAIN,
                       to="bench@" + DOMAIN, helo=SENDER_HELO)
                deadline = time.time() + 600
                while s.delivered() - before < n:
                    if time.time() > deadline:
                        raise RuntimeError("%s: only %d of %d delivered" % (kind, s.delivered() - before, n))
                    time.sleep(0.02)
                return ("span", (t0, time.time()))
            (_, secs, cpu, rss, pss), dns_cpu, queries = dns_stats(dns, lambda: measure(s.cg, load))
            if check:
                check_sample(kind, stored_sample(kind, s))
            return {"rate": n / secs, "cpu_ms": cpu / n, "rss": rss, "pss": pss, "secs": secs,
                    "dns_ms": dns_cpu / n, "dns_q": queries / n}
        finally:
            s.close()
            shutil.rmtree(s.base, ignore_errors=True)
            shutil.rmtree(MILTER_ROOT / s.base.name, ignore_errors=True)

    try:
        run_pairs(args, report, counts, peer, one, "auth-in", "Inbound with SPF/DKIM/DMARC (smoke)",
                  "Inbound with SPF, DKIM and DMARC checks (smtp-source -F signed message -> mailbox), "
                  "vs Postfix %s + OpenDKIM %s + OpenDMARC %s" % (args.postfix_version, args.opendkim_version,
                                                              args.opendmarc_version))
    finally:
        dns.stop()
        shutil.rmtree(MILTER_ROOT, ignore_errors=True)
