-- postroom schema 12: away replies (`postroom vacation`, RFC 3834). One setting per mailbox,
-- and when each sender last got a reply from it, so a sender hears it once per period.
CREATE TABLE vacations (
  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
  subject TEXT NOT NULL,               -- '' means "Auto: " and the original subject
  body TEXT NOT NULL,                  -- the reply's text, UTF-8, CRLF line ends
  starts_at INTEGER,                   -- unix seconds; NULL: active from now on
  ends_at INTEGER,                     -- unix seconds, exclusive; NULL: until turned off
  interval_days INTEGER NOT NULL DEFAULT 7 CHECK (interval_days >= 1),
  updated_at INTEGER NOT NULL
);

CREATE TABLE vacation_replies (
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  sender TEXT NOT NULL,                -- lower-case address the reply went to
  replied_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, sender)
) WITHOUT ROWID;
