-- mailbus store, version 1. Read it with: sqlite3 var/mailbus.db
-- One stored body per message (messages), one row per recipient mailbox (deliveries).

CREATE TABLE mailboxes (
    id            INTEGER PRIMARY KEY,
    address       TEXT    NOT NULL UNIQUE,           -- lower case local@domain
    password_hash TEXT    NOT NULL,                  -- Argon2id, libsodium crypto_pwhash_str
    quota_bytes   INTEGER NOT NULL DEFAULT 104857600,
    used_bytes    INTEGER NOT NULL DEFAULT 0,        -- kept by the triggers below
    message_count INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL DEFAULT (unixepoch())
);

CREATE TABLE messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused
    sender      TEXT    NOT NULL,
    message_id  TEXT,                                -- the Message-ID header, for dedupe
    subject     TEXT    NOT NULL DEFAULT '',
    size        INTEGER NOT NULL,
    body        BLOB    NOT NULL,                    -- RFC 5322, CRLF, exactly as published
    received_at INTEGER NOT NULL
);

CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,  -- the message id clients see (UIDL): never reused
    mailbox_id   INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    message_id   INTEGER NOT NULL REFERENCES messages(id),
    state        TEXT    NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'seen')),
    delivered_at INTEGER NOT NULL
);
CREATE INDEX deliveries_by_mailbox ON deliveries(mailbox_id, id);
CREATE INDEX deliveries_by_message ON deliveries(message_id);

-- Idempotent publish: a sender's Message-ID is stored once; a retry gets the first reply.
CREATE TABLE publications (
    sender       TEXT    NOT NULL,
    message_id   TEXT    NOT NULL,
    reply        TEXT    NOT NULL,                   -- the status lines sent, one per line
    published_at INTEGER NOT NULL,
    PRIMARY KEY (sender, message_id)
) WITHOUT ROWID;

-- Mailbox counters follow the deliveries, whoever changes them (broker or sqlite3).
CREATE TRIGGER deliveries_count_in AFTER INSERT ON deliveries BEGIN
    UPDATE mailboxes SET used_bytes = used_bytes + (SELECT size FROM messages WHERE id = NEW.message_id),
                         message_count = message_count + 1
     WHERE id = NEW.mailbox_id;
END;
CREATE TRIGGER deliveries_count_out AFTER DELETE ON deliveries BEGIN
    UPDATE mailboxes SET used_bytes = used_bytes - (SELECT size FROM messages WHERE id = OLD.message_id),
                         message_count = message_count - 1
     WHERE id = OLD.mailbox_id;
    -- single-instance store: the body goes with its last delivery
    DELETE FROM messages WHERE id = OLD.message_id
       AND NOT EXISTS (SELECT 1 FROM deliveries WHERE message_id = OLD.message_id);
END;

-- What is waiting, per mailbox: sqlite3 var/mailbus.db 'select * from queue'
CREATE VIEW queue AS
SELECT mb.address                                    AS mailbox,
       mb.message_count                              AS waiting,
       mb.used_bytes                                 AS bytes,
       (SELECT datetime(min(d.delivered_at), 'unixepoch')
          FROM deliveries d WHERE d.mailbox_id = mb.id) AS oldest
  FROM mailboxes mb
 ORDER BY mb.address;

-- One row per message in a mailbox
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
