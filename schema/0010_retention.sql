-- postroom schema 10: retention (RFC 2449 EXPIRE and LOGIN-DELAY). When each delivery was
-- first downloaded whole (RETR, or a TOP that reached its end), so retrieved mail can be
-- deleted a set time later; and the admin's per-domain and per-user settings that override
-- the config's `retention` section.

-- NULL: never retrieved. Written when the POP3 session that retrieved it ends.
ALTER TABLE deliveries ADD COLUMN first_retrieved_at INTEGER;

-- One row per domain ("example.test") or address ("alice@example.test"); an address's row
-- wins over its domain's, which wins over the config. In each column NULL means "as the
-- next level says", -1 means never (retention) or none (login delay), else seconds.
CREATE TABLE retention_settings (
  scope TEXT PRIMARY KEY,              -- lower-case domain or full address
  retrieved INTEGER CHECK (retrieved IS NULL OR retrieved = -1 OR retrieved > 0),
  max_age INTEGER CHECK (max_age IS NULL OR max_age = -1 OR max_age > 0),
  login_delay INTEGER CHECK (login_delay IS NULL OR login_delay >= -1)
) WITHOUT ROWID;
