-- version 9: a dedupe record per recipient and per content (issue 11). Keyed on (sender,
-- Message-ID) alone, a second transaction with the same Message-ID was answered 250 and
-- dropped: an MTA splitting 150 recipients into two transactions (452 at the 101st, RFC 5321
-- 4.5.3.1.8) lost the second part, and anyone sending as the gateway could pre-empt a
-- Message-ID it had seen. A record now says "this sender's message with this Message-ID and
-- this content was accepted for this recipient", so
--   - a retry after a lost ack (the same bytes to the same recipients, a sending MTA resends
--     its queue file) is stored once and gets the first answer, recipient by recipient;
--   - a split, or a retry that carries one more recipient, delivers to each new recipient;
--   - a list or a relay recipient is a recipient like any other (its address is the key);
--   - another message that reuses the Message-ID (other content) is not swallowed: only a
--     byte-identical message can ever be taken for a copy.
-- content is BLAKE2b-128 of the message without the fields a hop writes anew on every
-- attempt: Received: and Return-Path: (trace, RFC 5322 3.6.7) and Date: (added when missing,
-- RFC 6409 8.3); the gateway writes a Received: with the time and its session each time.
-- Records kept from before version 9 have no content (NULL): they still match a retry of
-- their message, for the rest of their dedupe window.
CREATE TABLE publications_new (
    sender       TEXT    NOT NULL,
    message_id   TEXT    NOT NULL,
    recipient    TEXT    NOT NULL,                   -- as given in SEND (a mailbox, a list or a remote address)
    content      BLOB,                               -- BLAKE2b-128 without hop fields; NULL: recorded before version 9
    reply        TEXT    NOT NULL,                   -- the recipient's reply line, as first sent
    published_at INTEGER NOT NULL                    -- Unix seconds; rows in rowid order are in time order (008)
);
-- the old reply was "status\nline\n...": one row per accepted (2xx) recipient line
-- "250 2.0.0 ADDRESS text"; refused recipients were never stored, so they are not kept
WITH RECURSIVE split (n, sender, message_id, published_at, line, rest) AS (
    SELECT rowid, sender, message_id, published_at, '', substr (reply, instr (reply, char (10)) + 1)
      FROM publications
    UNION ALL
    SELECT n, sender, message_id, published_at, substr (rest, 1, instr (rest, char (10)) - 1),
           substr (rest, instr (rest, char (10)) + 1)
      FROM split WHERE instr (rest, char (10)) > 0
), words (n, sender, message_id, published_at, line, tail) AS (
    SELECT n, sender, message_id, published_at, line,
           substr (substr (line, instr (line, ' ') + 1), instr (substr (line, instr (line, ' ') + 1), ' ') + 1)
      FROM split WHERE line LIKE '2%'
)
INSERT INTO publications_new (sender, message_id, recipient, content, reply, published_at)
SELECT sender, message_id, substr (tail, 1, instr (tail || ' ', ' ') - 1), NULL, line, published_at
  FROM words ORDER BY n;
DROP TABLE publications;
ALTER TABLE publications_new RENAME TO publications;
CREATE INDEX publications_key ON publications (sender, message_id, recipient);
