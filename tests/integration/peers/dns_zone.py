"""Zone-file lines (as `postroom dns-records` prints them) turned into dnsmasq options, so a
test can serve exactly what an admin would paste into a DNS provider's form."""

import re

BLOCKLISTS = ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org", "psbl.surriel.com"]


def parse_zone(text):
    """[(name, type, value)] from the record lines; comments (';') skipped."""
    records = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        name, _ttl, _cls, rtype, value = line.split(" ", 4)
        records.append((name.rstrip("."), rtype, value))
    return records


def txt_strings(value):
    return [re.sub(r"\\(.)", r"\1", s) for s in re.findall(r'"((?:[^"\\]|\\.)*)"', value)]


def dnsmasq_options(records, extra=()):
    # Authoritative for the test names, the reverse zones and the blocklists: whatever the
    # records do not hold is NXDOMAIN, never a question to the internet.
    args = ["--local=/test/", "--local=/arpa/"] + ["--local=/%s/" % z for z in BLOCKLISTS]
    for name, rtype, value in records:
        if rtype == "MX":
            pref, host = value.split()
            args.append("--mx-host=%s,%s,%s" % (name, host.rstrip("."), pref))
        elif rtype in ("A", "AAAA"):
            args.append("--host-record=%s,%s" % (name, value))
        elif rtype == "TXT":
            # Given in argv, dnsmasq takes the text as is (quotes included): commas separate
            # the strings, and none of ours holds one.
            strings = txt_strings(value)
            assert not any("," in s for s in strings), strings
            args.append("--txt-record=%s,%s" % (name, ",".join(strings)))
        elif rtype == "CNAME":
            args.append("--cname=%s,%s" % (name, value.rstrip(".")))
        elif rtype == "SRV":
            prio, weight, port, target = value.split()
            if target == ".":
                args.append("--srv-host=%s" % name)  # "not offered here" (RFC 6186 §4)
            else:
                args.append("--srv-host=%s,%s,%s,%s,%s" % (name, target.rstrip("."), port, prio, weight))
        elif rtype == "PTR":
            args.append("--ptr-record=%s,%s" % (name, value.rstrip(".")))
        else:
            raise AssertionError("unexpected record type %s" % rtype)
    return args + list(extra)
