-- version 2: a mailbox's role. 'gateway' is the mailbus-gateway's own identity: it may
-- SEND with any envelope sender (mail arriving over SMTP from other systems).
ALTER TABLE mailboxes ADD COLUMN role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'gateway'));
