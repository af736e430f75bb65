"""unbound (Debian's) on loopback serving a DNSSEC-signed test zone (signed with ldns-signzone
from ldnsutils) as an auth-zone, and the zone's DS record as a trust anchor for postroomd."""

import subprocess
import time


class SignedZone:
    """Keys for `origin`, the zone file signed, and the DS for its key-signing key."""

    def __init__(self, workdir, origin, records, tamper=None):
        self.origin = origin.rstrip(".") + "."
        zone = workdir / ("%szone" % self.origin)
        zone.write_text("$ORIGIN %s\n$TTL 300\n" % self.origin +
                        "@ IN SOA ns.%s admin.%s 1 3600 600 86400 300\n" % (self.origin, self.origin) +
                        "@ IN NS ns.%s\n" % self.origin + "".join(r + "\n" for r in records))
        ksk = self._keygen(workdir, "-k")
        zsk = self._keygen(workdir)
        subprocess.run(["ldns-signzone", "-n", "-f", str(zone) + ".signed", str(zone), ksk, zsk],
                       cwd=workdir, check=True, capture_output=True)
        self.signed = workdir / (zone.name + ".signed")
        if tamper:
            # Change a signed record's data after signing: its RRSIG no longer verifies.
            old, new = tamper
            text = self.signed.read_text()
            assert old in text
            self.signed.write_text(text.replace(old, new))
        ds = subprocess.run(["ldns-key2ds", "-n", "-2", ksk + ".key"], cwd=workdir, check=True,
                            capture_output=True, text=True).stdout
        self.trust_anchor = workdir / "trust-anchor.ds"
        self.trust_anchor.write_text(ds)

    def _keygen(self, workdir, *flags):
        return subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256", *flags, self.origin], cwd=workdir,
                              check=True, capture_output=True, text=True).stdout.strip()


class Unbound:
    """A non-validating unbound that answers `zone` authoritatively, RRSIGs included."""

    def __init__(self, address, port, zone: SignedZone):
        self.address, self.port, self.zone = address, port, zone

    def start(self, workdir):
        conf = workdir / "unbound.conf"
        self.log = workdir / "unbound.log"
        conf.write_text(
            "server:\n"
            "  interface: %s\n  port: %d\n  do-ip6: no\n  do-daemonize: no\n  username: \"\"\n"
            "  chroot: \"\"\n  directory: \"%s\"\n  pidfile: \"\"\n  use-syslog: no\n  logfile: \"%s\"\n"
            "  verbosity: 1\n  log-queries: yes\n  module-config: \"iterator\"\n"
            "  access-control: 127.0.0.0/8 allow\n  local-zone: \"test.\" nodefault\n"
            "auth-zone:\n  name: \"%s\"\n  zonefile: \"%s\"\n  for-downstream: yes\n"
            "  for-upstream: yes\n  fallback-enabled: no\n"
            % (self.address, self.port, workdir, self.log, self.zone.origin, self.zone.signed))
        subprocess.run(["unbound-checkconf", str(conf)], check=True, capture_output=True)
        self.proc = subprocess.Popen(["/usr/sbin/unbound", "-d", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("unbound exited: %s" % self.proc.stderr.read().decode())
            probe = subprocess.run(["python3", "-c", _PROBE, self.address, str(self.port), self.zone.origin],
                                   capture_output=True)
            if probe.returncode == 0:
                return self
            time.sleep(0.1)
        raise AssertionError("unbound did not answer")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


# A SOA query over UDP, answered with NOERROR: unbound is serving the zone.
_PROBE = r"""
import socket, struct, sys
addr, port, origin = sys.argv[1], int(sys.argv[2]), sys.argv[3]
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
for label in origin.strip(".").split("."):
    q += bytes([len(label)]) + label.encode()
q += b"\0" + struct.pack(">HH", 6, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5)
s.sendto(q, (addr, port)); r = s.recv(512)
sys.exit(0 if (r[3] & 0x0f) == 0 and struct.unpack(">H", r[6:8])[0] > 0 else 1)
"""
