-- version 7: message and delivery ids come from the sequences table, handed out by the broker
-- and written back once per transaction. AUTOINCREMENT made every insert read and rewrite
-- sqlite_sequence; the promise is the same: an id, above all a delivery id (the UIDL clients
-- see), is never given twice. Rows inserted by hand with sqlite3 get SQLite's max(id) + 1;
-- the broker notices other writers and starts above whatever they used.
CREATE TABLE sequences (
    name TEXT    PRIMARY KEY,                          -- a table
    next INTEGER NOT NULL                              -- the id its next row gets
) WITHOUT ROWID;
INSERT INTO sequences (name, next)
SELECT 'messages', max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),
                       coalesce((SELECT max(id) FROM messages), 0)) + 1
UNION ALL
SELECT 'deliveries', max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'deliveries'), 0),
                         coalesce((SELECT max(id) FROM deliveries), 0)) + 1;

-- The two tables are rebuilt without AUTOINCREMENT (SQLite's way to change a column: copy,
-- drop, rename). What refers to them is set aside and made again below.
DROP VIEW queue;
DROP VIEW inbox;
DROP VIEW leases;
DROP VIEW outbound_queue;
DROP TRIGGER outbound_done;
DROP TRIGGER deliveries_count_out;

CREATE TABLE messages_new (
    id          INTEGER PRIMARY KEY,                 -- from sequences: never reused
    sender      TEXT    NOT NULL,
    message_id  TEXT,                                -- the Message-ID header, for dedupe
    subject     TEXT    NOT NULL DEFAULT '',
    size        INTEGER NOT NULL,
    body        BLOB    NOT NULL,                    -- RFC 5322, CRLF, exactly as published
    received_at INTEGER NOT NULL,
    expires_at  INTEGER                              -- Expires: (RFC 4021), unix time
);
INSERT INTO messages_new (id, sender, message_id, subject, size, body, received_at, expires_at)
SELECT id, sender, message_id, subject, size, body, received_at, expires_at FROM messages;

CREATE TABLE deliveries_new (
    id           INTEGER PRIMARY KEY,                -- the message id clients see (UIDL): never reused
    mailbox_id   INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    message_id   INTEGER NOT NULL REFERENCES messages(id),
    state        TEXT    NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'seen')),
    delivered_at INTEGER NOT NULL,
    lease_until  INTEGER NOT NULL DEFAULT 0,         -- unix ms: a consumer holds it (LEASE)
    leased_by    TEXT
);
INSERT INTO deliveries_new (id, mailbox_id, message_id, state, delivered_at, lease_until, leased_by)
SELECT id, mailbox_id, message_id, state, delivered_at, lease_until, leased_by FROM deliveries;

DROP TABLE deliveries;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
ALTER TABLE deliveries_new RENAME TO deliveries;

CREATE INDEX deliveries_by_mailbox ON deliveries(mailbox_id, id);
CREATE INDEX deliveries_by_message ON deliveries(message_id);
CREATE INDEX messages_by_expiry ON messages(expires_at) WHERE expires_at IS NOT NULL;

-- as in 005: counters follow deletions; a body goes with its last delivery and relay entry
CREATE TRIGGER deliveries_count_out AFTER DELETE ON deliveries BEGIN
    UPDATE mailboxes SET used_bytes = used_bytes - (SELECT size FROM messages WHERE id = OLD.message_id),
                         message_count = message_count - 1
     WHERE id = OLD.mailbox_id;
    DELETE FROM messages WHERE id = OLD.message_id
       AND NOT EXISTS (SELECT 1 FROM deliveries WHERE message_id = OLD.message_id)
       AND NOT EXISTS (SELECT 1 FROM outbound WHERE message_id = OLD.message_id);
END;
CREATE TRIGGER outbound_done AFTER DELETE ON outbound BEGIN
    DELETE FROM messages WHERE id = OLD.message_id
       AND NOT EXISTS (SELECT 1 FROM deliveries WHERE message_id = OLD.message_id)
       AND NOT EXISTS (SELECT 1 FROM outbound WHERE message_id = OLD.message_id);
END;

-- the views of 001, 004 and 005, unchanged
CREATE VIEW queue AS
SELECT mb.address                                    AS mailbox,
       mb.message_count                              AS waiting,
       mb.used_bytes                                 AS bytes,
       (SELECT datetime(min(d.delivered_at), 'unixepoch')
          FROM deliveries d WHERE d.mailbox_id = mb.id) AS oldest
  FROM mailboxes mb
 ORDER BY mb.address;
CREATE VIEW inbox AS
SELECT mb.address                              AS mailbox,
       d.id                                    AS id,
       m.sender                                AS sender,
       m.subject                               AS subject,
       m.size                                  AS size,
       d.state                                 AS state,
       datetime(d.delivered_at, 'unixepoch')   AS delivered
  FROM deliveries d
  JOIN mailboxes mb ON mb.id = d.mailbox_id
  JOIN messages m   ON m.id = d.message_id
 ORDER BY mb.address, d.id;
CREATE VIEW leases AS
SELECT mb.address AS mailbox, d.id AS id, d.leased_by AS consumer,
       datetime(d.lease_until / 1000, 'unixepoch') AS until
  FROM deliveries d JOIN mailboxes mb ON mb.id = d.mailbox_id
 WHERE d.lease_until > 0;
CREATE VIEW outbound_queue AS
SELECT o.id AS id, o.sender AS sender, o.recipient AS recipient, o.state AS state, o.attempts AS attempts,
       datetime(o.next_attempt, 'unixepoch') AS next_attempt, o.last_error AS last_error,
       datetime(o.queued_at, 'unixepoch') AS queued, m.size AS size
  FROM outbound o JOIN messages m ON m.id = o.message_id
 ORDER BY o.id;
