-- postroom schema 8: one row the daemon rewrites for /healthz, so "the store is writable"
-- is proved by a real commit through the writer rather than assumed.
CREATE TABLE heartbeat (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  at INTEGER NOT NULL
);
