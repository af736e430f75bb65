-- postroom schema 5: what each sender (an authenticated user, or trusted_networks as one)
-- has sent out lately, so the outbound limits hold across a restart. The daemon keeps the
-- counts in memory and writes what changed every few seconds and when it stops; rows
-- older than a day are pruned then.

-- Messages sent per ten-minute bucket (unix seconds / 600).
CREATE TABLE outbound_counts (
  subject TEXT NOT NULL,
  bucket INTEGER NOT NULL,
  messages INTEGER NOT NULL CHECK (messages >= 0),
  PRIMARY KEY (subject, bucket)
) WITHOUT ROWID;

-- Each distinct recipient in the last day, with when it was first sent to.
CREATE TABLE outbound_recipients (
  subject TEXT NOT NULL,
  recipient TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  PRIMARY KEY (subject, recipient)
) WITHOUT ROWID;

-- The day (unix seconds / 86400) the postmaster last heard about a sender over a limit:
-- one notice per sender per day.
CREATE TABLE outbound_notices (
  subject TEXT PRIMARY KEY,
  day INTEGER NOT NULL
) WITHOUT ROWID;
