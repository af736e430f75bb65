-- postroom schema 1: accounts, aliases, message contents stored once, per-mailbox
-- deliveries with stable UIDLs, and the outbound queue with per-recipient state.

CREATE TABLE accounts (
  id INTEGER PRIMARY KEY,
  address TEXT NOT NULL UNIQUE,        -- lower-case full address, the POP3 login name
  password_hash TEXT NOT NULL,         -- argon2id string from libsodium crypto_pwhash_str
  created_at INTEGER NOT NULL
);

-- APOP needs a secret the server can read, so it lives apart from the hash and
-- exists only for accounts where an admin turned APOP on.
CREATE TABLE apop_secrets (
  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
  secret TEXT NOT NULL
);

CREATE TABLE aliases (
  alias TEXT NOT NULL,                 -- lower-case full address in a local domain
  target TEXT NOT NULL,                -- lower-case full address, local or remote
  PRIMARY KEY (alias, target)
) WITHOUT ROWID;

-- One row per received message, shared by every mailbox and queue entry that holds it.
CREATE TABLE contents (
  id INTEGER PRIMARY KEY,
  size INTEGER NOT NULL DEFAULT 0,      -- octets as stored
  pop3_size INTEGER NOT NULL DEFAULT 0, -- octets RETR sends: bare LF counted as CRLF
  complete INTEGER NOT NULL DEFAULT 0,  -- 0 while chunks are still arriving; swept at start
  created_at INTEGER NOT NULL
);

-- Bodies in chunks so that reading and writing never hold a whole message in memory.
CREATE TABLE content_chunks (
  id INTEGER PRIMARY KEY,
  content_id INTEGER NOT NULL REFERENCES contents(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  data BLOB NOT NULL,
  UNIQUE (content_id, seq)
);

CREATE TABLE deliveries (
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  content_id INTEGER NOT NULL REFERENCES contents(id),
  uidl TEXT NOT NULL UNIQUE,           -- random, so never reused even after restoring a backup
  delivered_at INTEGER NOT NULL
);
CREATE INDEX deliveries_by_account ON deliveries(account_id, id);
CREATE INDEX deliveries_by_content ON deliveries(content_id);

CREATE TABLE queue (
  id INTEGER PRIMARY KEY,
  queue_id TEXT NOT NULL UNIQUE,       -- the ID admins see in `postroom queue list`
  content_id INTEGER NOT NULL REFERENCES contents(id),
  sender TEXT NOT NULL,                -- '' for the null reverse-path
  smtputf8 INTEGER NOT NULL DEFAULT 0,
  body_8bit INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE INDEX queue_by_content ON queue(content_id);

CREATE TABLE queue_recipients (
  id INTEGER PRIMARY KEY,
  queue_row INTEGER NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
  recipient TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'queued', -- queued | deferred | delivered | bounced
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt INTEGER NOT NULL,
  last_reply TEXT NOT NULL DEFAULT ''
);
CREATE INDEX queue_recipients_due ON queue_recipients(state, next_attempt);
CREATE INDEX queue_recipients_by_message ON queue_recipients(queue_row);

CREATE TABLE queue_history (
  id INTEGER PRIMARY KEY,
  recipient_row INTEGER NOT NULL REFERENCES queue_recipients(id) ON DELETE CASCADE,
  at INTEGER NOT NULL,
  remote_host TEXT NOT NULL DEFAULT '',
  reply TEXT NOT NULL
);
CREATE INDEX queue_history_by_recipient ON queue_history(recipient_row);

-- A content row goes when nothing refers to it any more.
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
