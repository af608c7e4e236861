-- version 11: folders and flags, for IMAP (issue 15; docs/PROTOCOL.md "Folders and flags").
-- A mailbox's INBOX is what it always was: its deliveries with folder_id NULL. POP3, LIST, STAT,
-- LEASE and WATCH see the INBOX only; the quota (mailboxes.used_bytes) counts every folder.
-- Other folders (Sent, Drafts, Trash, the user's own) are rows of folders; a delivery in one
-- has its folder_id. UIDVALIDITY of a folder is its id, of the INBOX the mailbox id; a UID is
-- the delivery id. Read it with: sqlite3 var/mailbus.db 'select * from mail'
CREATE TABLE folders (
    id            INTEGER PRIMARY KEY,                 -- from sequences ('folders'): never reused
    mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,                    -- UTF-8, "/" between levels, never INBOX
    subscribed    INTEGER NOT NULL DEFAULT 1,
    special_use   TEXT    NOT NULL DEFAULT '',         -- RFC 6154: \Sent \Drafts \Trash or ''
    message_count INTEGER NOT NULL DEFAULT 0,          -- kept by the triggers below
    used_bytes    INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL DEFAULT (unixepoch()),
    UNIQUE (mailbox_id, name)
);
INSERT INTO sequences (name, next) VALUES ('folders', 1);

-- The default folders (Sent, Drafts, Trash) are made once per mailbox, at its first FOLDERS
ALTER TABLE mailboxes ADD COLUMN folders_made INTEGER NOT NULL DEFAULT 0;

-- NULL: the INBOX. A folder's deletion takes its deliveries with it.
ALTER TABLE deliveries ADD COLUMN folder_id INTEGER REFERENCES folders(id) ON DELETE CASCADE;
-- Maildir info letters in ASCII order, a subset of "DFRT": D \Draft, F \Flagged, R \Answered,
-- T \Deleted. \Seen is state = 'seen', as before (POP3 RETR, mailbus-sub read and IMAP share it).
ALTER TABLE deliveries ADD COLUMN flags TEXT NOT NULL DEFAULT '';

-- A folder's listing and the INBOX's (folder_id IS NULL) are both scans of this index
DROP INDEX deliveries_by_mailbox;
CREATE INDEX deliveries_by_folder ON deliveries(mailbox_id, folder_id, id);

-- Folder counters: the broker adds what it puts into a folder (as it does for mailboxes, schema
-- 006: no trigger on the insert every SEND makes), this trigger subtracts whatever is deleted,
-- and the broker recounts them at every start (heals rows inserted by hand with sqlite3)
CREATE TRIGGER deliveries_folder_out AFTER DELETE ON deliveries WHEN OLD.folder_id IS NOT NULL BEGIN
    UPDATE folders SET used_bytes = used_bytes - (SELECT size FROM messages WHERE id = OLD.message_id),
                       message_count = message_count - 1
     WHERE id = OLD.folder_id;
END;

-- The INBOX view of 001 shows the INBOX only; mail shows every folder
DROP VIEW inbox;
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
 WHERE d.folder_id IS NULL
 ORDER BY mb.address, d.id;
CREATE VIEW mail AS
SELECT mb.address                              AS mailbox,
       coalesce(f.name, 'INBOX')               AS folder,
       d.id                                    AS id,
       m.sender                                AS sender,
       m.subject                               AS subject,
       m.size                                  AS size,
       d.state                                 AS state,
       d.flags                                 AS flags,
       datetime(d.delivered_at, 'unixepoch')   AS delivered
  FROM deliveries d
  JOIN mailboxes mb ON mb.id = d.mailbox_id
  JOIN messages m   ON m.id = d.message_id
  LEFT JOIN folders f ON f.id = d.folder_id
 ORDER BY mb.address, folder, d.id;
