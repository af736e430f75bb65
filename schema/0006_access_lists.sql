-- postroom schema 6: the admin's allow and block lists for incoming mail (`postroom allow|block`).
--
-- A rule names a sender address, a sender domain (and its subdomains) or a client network
-- (CIDR). `scope` is '' for the whole server, or a local domain or local address: then the
-- rule is that domain's or user's own and applies to mail for it only.
CREATE TABLE access_rules (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  list TEXT NOT NULL CHECK (list IN ('allow', 'block')),
  kind TEXT NOT NULL CHECK (kind IN ('address', 'domain', 'network')),
  value TEXT NOT NULL,
  scope TEXT NOT NULL DEFAULT '',
  created INTEGER NOT NULL,
  UNIQUE (list, kind, value, scope)
);
