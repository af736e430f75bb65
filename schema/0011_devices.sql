-- postroom schema 11: per-device passwords. A scanner, printer or phone gets a generated
-- password of its own, limited to some protocols, sender addresses and a sending rate,
-- that an admin can revoke alone. Only the argon2id hash is kept; the selector (the
-- password's first group, not secret) finds the one hash to check, so a login costs one
-- argon2id whatever the number of devices.
CREATE TABLE devices (
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  selector TEXT NOT NULL,
  password_hash TEXT NOT NULL,               -- argon2id string from crypto_pwhash_str
  pop3 INTEGER NOT NULL CHECK (pop3 IN (0, 1)),
  smtp INTEGER NOT NULL CHECK (smtp IN (0, 1)),
  rate_per_hour INTEGER NOT NULL DEFAULT 0 CHECK (rate_per_hour >= 0),  -- 0: no own limit
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,                      -- NULL: never used
  last_ip TEXT,
  UNIQUE (account_id, name),
  UNIQUE (account_id, selector)
);

-- The envelope senders a device may use; none: the account's own sender addresses.
CREATE TABLE device_senders (
  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  address TEXT NOT NULL,                     -- lower-case full address
  PRIMARY KEY (device_id, address)
) WITHOUT ROWID;
