-- version 3: list topics. Publishing to a list delivers to every subscriber's mailbox in the
-- same transaction; a member may itself be a list (expanded, duplicates removed, loops refused).
CREATE TABLE lists (
    id         INTEGER PRIMARY KEY,
    address    TEXT    NOT NULL UNIQUE,                 -- news@demo.test, in the mailbox namespace
    open       INTEGER NOT NULL DEFAULT 1,              -- 1: anyone may subscribe; 0: the admin adds members
    posting    TEXT    NOT NULL DEFAULT 'members' CHECK (posting IN ('members', 'anyone')),
    created_at INTEGER NOT NULL DEFAULT (unixepoch())
);

CREATE TABLE subscriptions (
    list_id    INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    member     TEXT    NOT NULL,                        -- a mailbox or another list
    filter     TEXT,                                    -- 'subject:GLOB' or 'header-name:GLOB'
    created_at INTEGER NOT NULL DEFAULT (unixepoch()),
    PRIMARY KEY (list_id, member)
) WITHOUT ROWID;
CREATE INDEX subscriptions_by_member ON subscriptions(member);

-- Who is subscribed to what: sqlite3 var/mailbus.db 'select * from members'
CREATE VIEW members AS
SELECT l.address AS list, s.member AS member, coalesce(s.filter, '') AS filter,
       CASE l.open WHEN 1 THEN 'open' ELSE 'closed' END AS kind, l.posting AS posting
  FROM subscriptions s JOIN lists l ON l.id = s.list_id
 ORDER BY l.address, s.member;

-- A deleted mailbox or list is no longer anybody's member
CREATE TRIGGER mailboxes_unsubscribe AFTER DELETE ON mailboxes BEGIN
    DELETE FROM subscriptions WHERE member = OLD.address;
END;
CREATE TRIGGER lists_unsubscribe AFTER DELETE ON lists BEGIN
    DELETE FROM subscriptions WHERE member = OLD.address;
END;
