-- version 10: a mailbox id is never given twice. SQLite gives a deleted row's id (max + 1) to the
-- next mailbox, so a session or a reference left from a deleted mailbox could reach its
-- successor's mail; ids now come from the sequences table like message and delivery ids.
-- And a mailbox may have CURVE public keys that identify it without a password (like SSH keys).
INSERT INTO sequences (name, next)
SELECT 'mailboxes', coalesce((SELECT max(id) FROM mailboxes), 0) + 1;

CREATE TABLE mailbox_keys (
    key        TEXT    PRIMARY KEY,                    -- a client's CURVE public key, Z85 (40 characters)
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    added_at   INTEGER NOT NULL DEFAULT (unixepoch())
) WITHOUT ROWID;
CREATE INDEX mailbox_keys_mailbox ON mailbox_keys (mailbox_id);

-- which keys may log in as which mailbox: sqlite3 var/mailbus.db 'select * from keys'
CREATE VIEW keys AS
SELECT mb.address AS mailbox, k.key, datetime(k.added_at, 'unixepoch') AS added
  FROM mailbox_keys k JOIN mailboxes mb ON mb.id = k.mailbox_id
 ORDER BY mb.address, k.added_at;
