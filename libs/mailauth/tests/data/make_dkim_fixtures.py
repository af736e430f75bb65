#!/usr/bin/python3
"""Writes dkim/*.eml and dkim/keys.txt: messages signed by two implementations independent
of postroom, dkimpy (python3-dkim) and OpenDKIM (the opendkim filter's own signing code, run
in its test mode), some then tampered with. dkim_test.cpp verifies
each with postroom's DkimVerifier and expects the result named in dkim/expected.txt.
Run it again to renew them: python3 make_dkim_fixtures.py (needs python3-dkim, python3-nacl,
openssl, opendkim)."""
import base64
import os
import shutil
import subprocess
import sys
import tempfile

import dkim
import nacl.signing

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dkim")
os.makedirs(here, exist_ok=True)


def rsa_key(bits=2048):
    pem = subprocess.run(["openssl", "genrsa", str(bits)], capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "rsa", "-pubout", "-outform", "DER"], input=pem,
                         capture_output=True, check=True).stdout
    return pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def ed_key():
    signing = nacl.signing.SigningKey.generate()
    private = base64.b64encode(bytes(signing))
    public = base64.b64encode(bytes(signing.verify_key)).decode()
    return private, "v=DKIM1; k=ed25519; p=" + public


MESSAGE = (b"From: Alice <alice@example.org>\r\n"
           b"To: bob@example.test\r\n"
           b"Subject: the quarterly   report\r\n"
           b"  continued\r\n"
           b"Date: Wed, 02 Dec 2026 06:00:00 +0000\r\n"
           b"Message-ID: <fixture@example.org>\r\n"
           b"\r\n"
           b"Dear Bob,\r\n"
           b"\r\n"
           b"the numbers  are\t in.  \r\n"
           b".leading dot and trailing space \r\n"
           b"\r\n"
           b"\r\n")

rsa_pem, rsa_record = rsa_key()
ed_private, ed_record = ed_key()
_, other_record = rsa_key()
keys = {
    "rsa._domainkey.example.org": rsa_record,
    "ed._domainkey.example.org": ed_record,
    "other._domainkey.example.org": other_record,  # not the key that signed
    "revoked._domainkey.example.org": "v=DKIM1; k=rsa; p=",
}


def sign(message, selector, key, canon, algorithm=b"rsa-sha256", length=False):
    return dkim.sign(message, selector, b"example.org", key, canonicalize=canon,
                     signature_algorithm=algorithm, length=length,
                     include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])


def opendkim_sign(message, selector, pem, canon, algorithm="rsa-sha256"):
    """The DKIM-Signature field OpenDKIM adds, from `opendkim -t` (test mode: the filter's
    signing path without a mail server). It refuses files in world-writable directories,
    so its files live in a private directory below this one."""
    work = tempfile.mkdtemp(dir=os.path.dirname(here))
    try:
        key = os.path.join(work, "key.pem")
        subprocess.run(["openssl", "rsa", "-traditional", "-out", key], input=pem, check=True,
                       capture_output=True)
        conf = os.path.join(work, "opendkim.conf")
        with open(conf, "w") as f:
            f.write("Domain example.org\nKeyFile %s\nSelector %s\nMode s\nSyslog no\n"
                    "SignatureAlgorithm %s\nCanonicalization %s\n"
                    % (key, selector.decode(), algorithm, canon))
        eml = os.path.join(work, "message.eml")
        with open(eml, "wb") as f:  # a file in the local convention: LF line ends
            f.write(message.replace(b"\r\n", b"\n"))
        out = subprocess.run(["opendkim", "-x", conf, "-t", eml], capture_output=True,
                             check=True)
        text = (out.stdout + out.stderr).decode()
        field = text[text.index("DKIM-Signature:"):].replace("\r\n", "\n").rstrip("\n")
        return field.replace("\n", "\r\n").encode() + b"\r\n"
    finally:
        shutil.rmtree(work)


cases = []


def dnsfunc(name, timeout=5):
    return keys.get(name.decode().rstrip("."), "").encode()


def case(name, data, expected):
    # dkimpy's own verdict must agree with the one the fixture expects.
    assert dkim.verify(data, dnsfunc=dnsfunc) == (expected == "pass"), name
    with open(os.path.join(here, name + ".eml"), "wb") as f:
        f.write(data)
    cases.append((name, expected))


RS = (b"relaxed", b"simple")
RR = (b"relaxed", b"relaxed")
SS = (b"simple", b"simple")

case("rsa_relaxed_simple", sign(MESSAGE, b"rsa", rsa_pem, RS) + MESSAGE, "pass")
case("rsa_simple_simple", sign(MESSAGE, b"rsa", rsa_pem, SS) + MESSAGE, "pass")
case("rsa_relaxed_relaxed", sign(MESSAGE, b"rsa", rsa_pem, RR) + MESSAGE, "pass")
case("ed25519_relaxed_relaxed",
     sign(MESSAGE, b"ed", ed_private, RR, algorithm=b"ed25519-sha256") + MESSAGE, "pass")
case("ed25519_simple_simple",
     sign(MESSAGE, b"ed", ed_private, SS, algorithm=b"ed25519-sha256") + MESSAGE, "pass")

signed = sign(MESSAGE, b"rsa", rsa_pem, RR)
case("rsa_body_tampered", signed + MESSAGE.replace(b"numbers", b"Numbers"), "fail")
case("rsa_subject_tampered", signed + MESSAGE.replace(b"quarterly", b"annual"), "fail")
# Relaxed canonicalization forgives whitespace changes in header and body.
case("rsa_relaxed_rewhitespaced",
     signed + MESSAGE.replace(b"quarterly   report", b"quarterly report")
     .replace(b"are\t in.  ", b"are in."), "pass")
signed_simple = sign(MESSAGE, b"rsa", rsa_pem, SS)
case("rsa_simple_rewhitespaced",
     signed_simple + MESSAGE.replace(b"are\t in.  ", b"are in."), "fail")
ed_signed = sign(MESSAGE, b"ed", ed_private, RR, algorithm=b"ed25519-sha256")
case("ed25519_body_tampered", ed_signed + MESSAGE + b"P.S. wire the money\r\n", "fail")
# l= covers the body as signed; text appended later is not covered.
case("rsa_length_appended",
     sign(MESSAGE, b"rsa", rsa_pem, RR, length=True) + MESSAGE + b"appended\r\n", "pass")
case("rsa_wrong_key", sign(MESSAGE, b"rsa", rsa_pem, RR).replace(b"s=rsa", b"s=other") + MESSAGE,
     "fail")
case("rsa_revoked_key",
     sign(MESSAGE, b"rsa", rsa_pem, RR).replace(b"s=rsa", b"s=revoked") + MESSAGE, "permerror")
case("rsa_no_key", sign(MESSAGE, b"rsa", rsa_pem, RR).replace(b"s=rsa", b"s=gone") + MESSAGE,
     "permerror")

# The same key, signing with OpenDKIM: relaxed and simple, then a tampered body.
odk_relaxed = opendkim_sign(MESSAGE, b"rsa", rsa_pem, "relaxed/relaxed")
case("opendkim_rsa_relaxed_relaxed", odk_relaxed + MESSAGE, "pass")
case("opendkim_rsa_simple_simple", opendkim_sign(MESSAGE, b"rsa", rsa_pem, "simple/simple") +
     MESSAGE, "pass")
case("opendkim_rsa_body_tampered", odk_relaxed + MESSAGE.replace(b"numbers", b"Numbers"), "fail")
# rsa-sha1, which OpenDKIM still offers: RFC 8301 §3.1 retires it. dkimpy still verifies it,
# so case() would object; the fixture is written without that check.
sha1 = opendkim_sign(MESSAGE, b"rsa", rsa_pem, "relaxed/relaxed", "rsa-sha1") + MESSAGE
assert b"a=rsa-sha1" in sha1 and dkim.verify(sha1, dnsfunc=dnsfunc)
with open(os.path.join(here, "opendkim_rsa_sha1.eml"), "wb") as f:
    f.write(sha1)
cases.append(("opendkim_rsa_sha1", "policy"))

with open(os.path.join(here, "keys.txt"), "w") as f:
    for name, record in sorted(keys.items()):
        f.write(name + "\t" + record + "\n")
with open(os.path.join(here, "expected.txt"), "w") as f:
    for name, expected in cases:
        f.write(name + "\t" + expected + "\n")
print("wrote", len(cases), "messages", file=sys.stderr)
