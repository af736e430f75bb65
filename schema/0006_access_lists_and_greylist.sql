-- postroom schema 6: the admin's allow and block lists for incoming mail (`postroom allow|block`),
-- and greylisting's triplets.
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

-- Greylisting: a (client network, sender, recipient) triplet first seen at `first_seen`; a
-- retry after the window sets `passed`. A sender domain that passed from a network is
-- allow-listed from there (greylist_passed), so its later mail is never delayed.
CREATE TABLE greylist (
  network TEXT NOT NULL,
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  passed INTEGER,
  PRIMARY KEY (network, sender, recipient)
) WITHOUT ROWID;

CREATE TABLE greylist_passed (
  network TEXT NOT NULL,
  sender_domain TEXT NOT NULL,
  passed INTEGER NOT NULL,
  PRIMARY KEY (network, sender_domain)
) WITHOUT ROWID;
