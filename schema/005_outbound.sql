-- version 5: the outbound queue (the MTA half). A recipient in a domain this broker does not
-- serve is queued here, in the transaction that accepts the message; the gateway's relay
-- worker claims due entries, delivers them over SMTP and reports back.
CREATE TABLE outbound (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id    INTEGER NOT NULL REFERENCES messages(id),
    sender        TEXT    NOT NULL,                    -- envelope sender ('' for a bounce)
    recipient     TEXT    NOT NULL,
    state         TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  INTEGER NOT NULL,                    -- unix time
    claimed_until INTEGER NOT NULL DEFAULT 0,          -- unix ms: a relay worker holds it
    last_error    TEXT    NOT NULL DEFAULT '',
    queued_at     INTEGER NOT NULL
);
CREATE INDEX outbound_due ON outbound(state, next_attempt);

-- A body stays while an outbound entry needs it
DROP TRIGGER deliveries_count_out;
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

-- mailq: sqlite3 var/mailbus.db 'select * from outbound_queue'
CREATE VIEW outbound_queue AS
SELECT o.id AS id, o.sender AS sender, o.recipient AS recipient, o.state AS state, o.attempts AS attempts,
       datetime(o.next_attempt, 'unixepoch') AS next_attempt, o.last_error AS last_error,
       datetime(o.queued_at, 'unixepoch') AS queued, m.size AS size
  FROM outbound o JOIN messages m ON m.id = o.message_id
 ORDER BY o.id;
