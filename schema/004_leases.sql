-- version 4: competing consumers and expiry.
-- A delivery handed to a consumer (LEASE) is hidden from other consumers until lease_until
-- (unix milliseconds); ACK deletes it, NACK or the end of the consumer's session releases it.
ALTER TABLE deliveries ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN leased_by TEXT;
-- A message with an Expires: header (RFC 4021) is never handed out after that time and is purged.
ALTER TABLE messages ADD COLUMN expires_at INTEGER;
CREATE INDEX messages_by_expiry ON messages(expires_at) WHERE expires_at IS NOT NULL;
-- Mailbox retention: 0 means no limit.
ALTER TABLE mailboxes ADD COLUMN retention_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN retention_seconds INTEGER NOT NULL DEFAULT 0;

-- What consumers hold right now
CREATE VIEW leases AS
SELECT mb.address AS mailbox, d.id AS id, d.leased_by AS consumer,
       datetime(d.lease_until / 1000, 'unixepoch') AS until
  FROM deliveries d JOIN mailboxes mb ON mb.id = d.mailbox_id
 WHERE d.lease_until > 0;
