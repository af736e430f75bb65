"""A throwaway certificate authority for TLS policy tests: a CA and leaf certificates it signs."""

import subprocess
from pathlib import Path


def _run(*args):
    subprocess.run(list(args), check=True, capture_output=True)


class LocalCa:
    def __init__(self, directory: Path):
        self.dir = directory
        self.cert = directory / "ca.pem"
        self.key = directory / "ca.key"
        _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-days", "2", "-subj", "/CN=postroom test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign", "-keyout", str(self.key), "-out", str(self.cert))

    def issue(self, name, *dns_names):
        """A leaf certificate for `dns_names` signed by this CA: (cert, key) paths."""
        cert, key, csr = (self.dir / (name + ext) for ext in (".pem", ".key", ".csr"))
        ext = self.dir / (name + ".ext")
        ext.write_text("subjectAltName=" + ",".join("DNS:" + n for n in dns_names) + "\n"
                       "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        _run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-subj", "/CN=" + dns_names[0], "-keyout", str(key), "-out", str(csr))
        _run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
             "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))
        return cert, key


def spki_sha256(cert: Path) -> str:
    """The hex SHA-256 of a certificate's SubjectPublicKeyInfo (TLSA 3 1 1 / 2 1 1 data)."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"], check=True,
                         capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, check=True,
                         capture_output=True).stdout
    import hashlib
    return hashlib.sha256(der).hexdigest()
