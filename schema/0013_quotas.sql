-- postroom schema 13: quotas. Limits the admin sets per mailbox and per domain, each mailbox's
-- usage kept by triggers in the very transaction that delivers or deletes its mail (so it is
-- never out of step and never needs a scan), and when the last quota warnings went out.
-- The counters never refuse a deletion: they stop at 0 rather than fail a POP3 UPDATE, and
-- `postroom verify` reports a counter that disagrees with the mailbox.
--
-- A limit column is NULL to take the config's default (quota: in postroom.yaml) and 0 for
-- "unlimited" whatever the default says.
CREATE TABLE account_quotas (
  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
  max_bytes INTEGER CHECK (max_bytes IS NULL OR max_bytes >= 0),
  max_messages INTEGER CHECK (max_messages IS NULL OR max_messages >= 0)
);

CREATE TABLE domain_quotas (
  domain TEXT PRIMARY KEY,             -- lower-case, one of the config's domains
  max_bytes INTEGER CHECK (max_bytes IS NULL OR max_bytes >= 0),
  max_messages INTEGER CHECK (max_messages IS NULL OR max_messages >= 0)
) WITHOUT ROWID;

-- Octets are counted as POP3 sends them (contents.pop3_size): what STAT, LIST and
-- `postroom user list` show, so the user and the admin see the number the limit applies to.
CREATE TABLE mailbox_usage (
  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
  messages INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0
);

INSERT INTO mailbox_usage(account_id, messages, bytes)
  SELECT a.id, count(d.id), coalesce(sum(c.pop3_size), 0) FROM accounts a
  LEFT JOIN deliveries d ON d.account_id = a.id
  LEFT JOIN contents c ON c.id = d.content_id
  GROUP BY a.id;

CREATE TRIGGER accounts_usage_row AFTER INSERT ON accounts
BEGIN
  INSERT INTO mailbox_usage(account_id) VALUES (NEW.id);
END;

-- A delivery is inserted after its content was sealed (messages.cpp), so its size is final.
CREATE TRIGGER deliveries_usage_add AFTER INSERT ON deliveries
BEGIN
  UPDATE mailbox_usage SET messages = messages + 1,
    bytes = bytes + coalesce((SELECT pop3_size FROM contents WHERE id = NEW.content_id), 0)
  WHERE account_id = NEW.account_id;
END;

-- BEFORE, not AFTER: deliveries_release_content may remove the content (and its size) once
-- the last delivery of it is gone.
CREATE TRIGGER deliveries_usage_remove BEFORE DELETE ON deliveries
BEGIN
  UPDATE mailbox_usage SET messages = max(messages - 1, 0),
    bytes = max(bytes - coalesce((SELECT pop3_size FROM contents WHERE id = OLD.content_id), 0), 0)
  WHERE account_id = OLD.account_id;
END;

-- Nothing moves a delivery today; should anything ever, the counters follow.
CREATE TRIGGER deliveries_usage_move AFTER UPDATE OF account_id, content_id ON deliveries
BEGIN
  UPDATE mailbox_usage SET messages = max(messages - 1, 0),
    bytes = max(bytes - coalesce((SELECT pop3_size FROM contents WHERE id = OLD.content_id), 0), 0)
  WHERE account_id = OLD.account_id;
  UPDATE mailbox_usage SET messages = messages + 1,
    bytes = bytes + coalesce((SELECT pop3_size FROM contents WHERE id = NEW.content_id), 0)
  WHERE account_id = NEW.account_id;
END;

-- When a warning of each level (80, 95 percent) last went out about a mailbox (subject: its
-- address) or a domain (subject: the domain): at most one per level a day.
CREATE TABLE quota_warnings (
  subject TEXT NOT NULL,
  level INTEGER NOT NULL CHECK (level IN (80, 95)),
  sent_at INTEGER NOT NULL,
  PRIMARY KEY (subject, level)
) WITHOUT ROWID;
