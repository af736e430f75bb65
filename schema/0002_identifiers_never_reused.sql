-- postroom schema 2: identifiers that a session holds across transactions are never
-- handed out twice. Without AUTOINCREMENT SQLite gives the largest rowid + 1, so after a
-- deletion (or a rolled-back insert) a new account, delivery or queue row could take the
-- number a running session still holds, and that session's writes would land in someone
-- else's mailbox or queue entry. Contents get random ids chosen by the writing session
-- (see messages.cpp), so they need no change here.
--
-- Also: UIDLs are unique per mailbox (RFC 1939 §7 asks no more; imported mail keeps the
-- old server's UIDLs), queue states are checked by the schema, and an account can be
-- marked for a deletion that runs in short transactions.
--
-- Rebuilt the SQLite way (https://sqlite.org/lang_altertable.html, "other kinds of table
-- schema changes"): the migration runner turns foreign keys off around it.

-- The release triggers name the tables being rebuilt: they go first and come back last.
DROP TRIGGER deliveries_release_content;
DROP TRIGGER queue_release_content;

CREATE TABLE new_accounts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  address TEXT NOT NULL UNIQUE,        -- lower-case full address, the POP3 login name
  password_hash TEXT NOT NULL,         -- argon2id string from libsodium crypto_pwhash_str
  created_at INTEGER NOT NULL,
  deleting INTEGER NOT NULL DEFAULT 0  -- 1: `user del` is removing its mail, batch by batch
);
INSERT INTO new_accounts(id, address, password_hash, created_at)
  SELECT id, address, password_hash, created_at FROM accounts;
DROP TABLE accounts;
ALTER TABLE new_accounts RENAME TO accounts;

CREATE TABLE new_deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  content_id INTEGER NOT NULL REFERENCES contents(id),
  uidl TEXT NOT NULL,                  -- random when assigned here, so never reused
  delivered_at INTEGER NOT NULL,
  UNIQUE (account_id, uidl)
);
INSERT INTO new_deliveries(id, account_id, content_id, uidl, delivered_at)
  SELECT id, account_id, content_id, uidl, delivered_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE new_deliveries RENAME TO deliveries;
CREATE INDEX deliveries_by_content ON deliveries(content_id);

CREATE TABLE new_queue (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue_id TEXT NOT NULL UNIQUE,       -- the ID admins see in `postroom queue list`
  content_id INTEGER NOT NULL REFERENCES contents(id),
  sender TEXT NOT NULL,                -- '' for the null reverse-path
  smtputf8 INTEGER NOT NULL DEFAULT 0,
  body_8bit INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
INSERT INTO new_queue SELECT id, queue_id, content_id, sender, smtputf8, body_8bit, created_at
  FROM queue;
DROP TABLE queue;
ALTER TABLE new_queue RENAME TO queue;
CREATE INDEX queue_by_content ON queue(content_id);

CREATE TABLE new_queue_recipients (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue_row INTEGER NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
  recipient TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'queued'
    CHECK (state IN ('queued', 'deferred', 'delivered', 'bounced')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt INTEGER NOT NULL,
  last_reply TEXT NOT NULL DEFAULT ''
);
INSERT INTO new_queue_recipients
  SELECT id, queue_row, recipient, state, attempts, next_attempt, last_reply FROM queue_recipients;
DROP TABLE queue_recipients;
ALTER TABLE new_queue_recipients RENAME TO queue_recipients;
CREATE INDEX queue_recipients_due ON queue_recipients(state, next_attempt);
CREATE INDEX queue_recipients_by_message ON queue_recipients(queue_row);

CREATE TABLE new_queue_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  recipient_row INTEGER NOT NULL REFERENCES queue_recipients(id) ON DELETE CASCADE,
  at INTEGER NOT NULL,
  remote_host TEXT NOT NULL DEFAULT '',
  reply TEXT NOT NULL
);
INSERT INTO new_queue_history SELECT id, recipient_row, at, remote_host, reply FROM queue_history;
DROP TABLE queue_history;
ALTER TABLE new_queue_history RENAME TO queue_history;
CREATE INDEX queue_history_by_recipient ON queue_history(recipient_row);

CREATE INDEX deliveries_by_account ON deliveries(account_id, id);

-- A content row goes when nothing refers to it.
CREATE TRIGGER deliveries_release_content AFTER DELETE ON deliveries
WHEN NOT EXISTS (SELECT 1 FROM deliveries WHERE content_id = OLD.content_id)
 AND NOT EXISTS (SELECT 1 FROM queue WHERE content_id = OLD.content_id)
BEGIN
  DELETE FROM contents WHERE id = OLD.content_id;
END;

CREATE TRIGGER queue_release_content AFTER DELETE ON queue
WHEN NOT EXISTS (SELECT 1 FROM deliveries WHERE content_id = OLD.content_id)
 AND NOT EXISTS (SELECT 1 FROM queue WHERE content_id = OLD.content_id)
BEGIN
  DELETE FROM contents WHERE id = OLD.content_id;
END;

-- A content row is created by the session that writes it (random id) and sealed by the
-- transaction that acknowledges it; `chunks` is what the seal verified.
ALTER TABLE contents ADD COLUMN chunks INTEGER NOT NULL DEFAULT 0;

-- Where an interrupted `postroom import` resumes: each batch of imported messages and its
-- position commit together, so a resumed import adds each message once.
CREATE TABLE import_progress (
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  source TEXT NOT NULL,                -- "mbox:" or "maildir:" and the absolute path
  position TEXT NOT NULL,              -- mbox: byte offset after the last message imported;
                                       -- maildir: the last file name imported (in name order)
  messages INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, source)
);

-- Contents stored before this schema get the chunk count their seal would have checked.
UPDATE contents SET chunks = (SELECT count(*) FROM content_chunks WHERE content_id = contents.id)
  WHERE complete = 1;
