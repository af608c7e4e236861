-- version 12: the broker's batched deletes (DELE and ACK of several ids, issue 13) keep the
-- mailbox counters and bodies themselves, like its inserts (schema 006): counters go down once
-- per transaction, bodies left without a delivery are deleted by id, one statement a request.
-- EXPUNGE and MOVE's sources take the same statement. Around it the broker puts a row in
-- counted_by_broker and takes it out right after, inside its write transaction: no committed
-- state has a row there and another writer waits for the broker's transaction, so a DELETE by
-- hand with sqlite3, and every other delete (purge, FOLDER DELETE, a mailbox's deletion, relay
-- done), still goes through the trigger. The folder counters' trigger (011) always does its
-- work; it is made again below.
CREATE TABLE counted_by_broker (mark INTEGER);

DROP TRIGGER deliveries_count_out;
CREATE TRIGGER deliveries_count_out AFTER DELETE ON deliveries
WHEN NOT EXISTS (SELECT 1 FROM counted_by_broker) BEGIN
    UPDATE mailboxes SET used_bytes = used_bytes - (SELECT size FROM messages WHERE id = OLD.message_id),
                         message_count = message_count - 1
     WHERE id = OLD.mailbox_id;
    DELETE FROM messages WHERE id = OLD.message_id
       AND NOT EXISTS (SELECT 1 FROM deliveries WHERE message_id = OLD.message_id)
       AND NOT EXISTS (SELECT 1 FROM outbound WHERE message_id = OLD.message_id);
END;

-- Made again after it, as in 011: SQLite fires the newest trigger first, and this one reads the
-- size from the body the one above may delete (a NOT NULL failure on folders.used_bytes if not)
DROP TRIGGER deliveries_folder_out;
CREATE TRIGGER deliveries_folder_out AFTER DELETE ON deliveries WHEN OLD.folder_id IS NOT NULL BEGIN
    UPDATE folders SET used_bytes = used_bytes - (SELECT size FROM messages WHERE id = OLD.message_id),
                       message_count = message_count - 1
     WHERE id = OLD.folder_id;
END;
