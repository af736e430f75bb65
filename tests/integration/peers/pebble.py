"""Pebble (Let's Encrypt's test ACME server, Debian's `pebble`) on loopback ports, validating
challenges for real against the daemon's HTTP and HTTPS listeners, with names resolved by a
dnsmasq the test controls."""

import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request


class Pebble:
    def __init__(self, workdir, tls_cert, tls_key, http_port, tls_port, dns_port, validity=None):
        """`tls_cert`/`tls_key`: Pebble's own HTTPS certificate (for 127.0.0.1); `http_port` and
        `tls_port`: where it validates http-01 and tls-alpn-01; `validity`: issued
        certificates' lifetime in seconds (default: Pebble's, years)."""
        self.workdir = workdir
        self.tls_cert = tls_cert
        self.port = _free_port()
        self.management_port = _free_port()
        config = {
            "listenAddress": "127.0.0.1:%d" % self.port,
            "managementListenAddress": "127.0.0.1:%d" % self.management_port,
            "certificate": str(tls_cert),
            "privateKey": str(tls_key),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
        if validity:
            config["certificateValidityPeriod"] = validity
        self.config = workdir / "pebble.json"
        self.config.write_text(json.dumps({"pebble": config}))
        self.dns_port = dns_port
        self.log = workdir / "pebble.log"
        self.proc = None

    @property
    def directory(self):
        return "https://127.0.0.1:%d/dir" % self.port

    def start(self):
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_VA_ALWAYS_VALID="0",
                   # Every order validates its names anew (no reuse of earlier authorizations),
                   # so a renewal proves the challenge is answered again.
                   PEBBLE_AUTHZREUSE="0")
        self.log_file = open(self.log, "ab")
        self.proc = subprocess.Popen(["pebble", "-config", str(self.config),
                                      "-dnsserver", "127.0.0.1:%d" % self.dns_port],
                                     stdout=self.log_file, stderr=self.log_file, env=env)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("pebble exited:\n" + self.log.read_text())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                socket.create_connection(("127.0.0.1", self.management_port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("pebble did not start:\n" + self.log.read_text())

    def root(self):
        """The PEM root that signs what Pebble issues (from its management interface)."""
        context = ssl.create_default_context(cafile=str(self.tls_cert))
        url = "https://127.0.0.1:%d/roots/0" % self.management_port
        with urllib.request.urlopen(url, context=context, timeout=10) as answer:
            return answer.read().decode()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.proc:
            self.log_file.close()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
