-- version 8: the Message-ID dedupe records are kept for a window (--dedupe-window, 7 days by
-- default), not forever: without a purge the table grew by one row per message for good.
-- The table is rebuilt as a rowid table written in time order, so the broker forgets the
-- oldest records from its start (a range delete) without an index on the time; the key,
-- (sender, message_id), becomes a unique index.
CREATE TABLE publications_new (
    sender       TEXT    NOT NULL,
    message_id   TEXT    NOT NULL,
    reply        TEXT    NOT NULL,                   -- the status lines sent, one per line
    published_at INTEGER NOT NULL                    -- Unix seconds; rows in rowid order are in time order
);
INSERT INTO publications_new (sender, message_id, reply, published_at)
SELECT sender, message_id, reply, published_at FROM publications ORDER BY published_at;
DROP TABLE publications;
ALTER TABLE publications_new RENAME TO publications;
CREATE UNIQUE INDEX publications_key ON publications (sender, message_id);
