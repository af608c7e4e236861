"""Folders and flags on the wire (docs/PROTOCOL.md "Folders and flags", issue 15): the verbs the
IMAP gateway uses (FOLDERS, FOLDER, SCAN, RETR PEEK, FLAG, COPY, MOVE, APPEND, EXPUNGE, WATCH n
changes) against the real broker and its SQLite file, their refusals, the pushes a second session
sees, the INBOX as POP3 and mailbus-sub see it, and the store across restarts and kill -9."""
import sqlite3
import unittest

from mailbus_test.broker import ALICE, BOB, MailbusTestCase, message


def ids_of(data):
    """The first column of SCAN or LIST lines, as ints."""
    return [int(line.split(b"\t")[0]) for line in data]


def folders_of(data):
    """FOLDERS lines as {name: (uidvalidity, messages, unseen, uidnext, subscribed, special)}."""
    rows = {}
    for line in data:
        f = line.decode().split("\t")
        rows[f[0]] = (int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]), f[6])
    return rows


class Folders(MailbusTestCase):

    def setUp(self):
        super().setUp()
        self.start_broker()
        self.bob = self.raw(BOB)

    def ok(self, verb, *args, client=None):
        status, data = (client or self.bob).request(verb, *args)
        self.assertTrue(status.startswith("250 "), "%s %r: %s" % (verb, args, status))
        return status, data

    def refused(self, code, verb, *args, client=None):
        status, data = (client or self.bob).request(verb, *args)
        self.assertTrue(status.startswith(code), "%s %r: %s (wanted %s)" % (verb, args, status, code))
        self.assertEqual(data, [])
        return status

    def publish(self, subject, to=BOB):
        rc, out, err = self.pub("-t", to, "-s", subject, "-m", "body of " + subject)
        self.assertEqual(rc, 0, out + err)
        status, data = self.ok("SCAN", "INBOX", client=self.raw(to)) if to != BOB else self.ok("SCAN", "INBOX")
        return ids_of(data)[-1]

    def scan(self, folder, client=None):
        return {int(f[0]): (int(f[1]), f[2].decode(), int(f[3]))
                for f in (line.split(b"\t") for line in self.ok("SCAN", folder, client=client)[1])}

    def test_folders_lists_inbox_first_and_makes_the_default_folders_once(self):
        status, data = self.ok("FOLDERS")
        self.assertEqual(status, "250 2.0.0 4 folders")
        self.assertEqual(data[0].split(b"\t")[0], b"INBOX")
        rows = folders_of(data)
        self.assertEqual(rows["Sent"][5], "\\Sent")
        self.assertEqual(rows["Drafts"][5], "\\Drafts")
        self.assertEqual(rows["Trash"][5], "\\Trash")
        self.assertEqual(rows["INBOX"][5], "")
        bob_id = self.broker.sql("SELECT id FROM mailboxes WHERE address = ?", (BOB,))[0][0]
        self.assertEqual(rows["INBOX"][0], bob_id)  # UIDVALIDITY of the INBOX: the mailbox id
        # deleted by the user, the default does not come back
        self.ok("FOLDER", "DELETE", "Drafts")
        self.assertNotIn("Drafts", folders_of(self.ok("FOLDERS")[1]))
        self.ok("FOLDER", "CREATE", "Work/2026")
        self.assertEqual(list(folders_of(self.ok("FOLDERS", "Work/2026")[1])), ["Work/2026"])
        self.assertEqual(list(folders_of(self.ok("FOLDERS", "inbox")[1])), ["INBOX"])
        self.refused("550 5.1.1", "FOLDERS", "Nowhere")

    def test_create_rename_subscribe_delete(self):
        self.assertEqual(self.ok("FOLDER", "CREATE", "Work")[0], "250 2.0.0 created Work")
        self.ok("FOLDER", "CREATE", "Work/Old")
        self.assertEqual(self.refused("550 5.1.1", "FOLDER", "CREATE", "Work"), "550 5.1.1 folder exists")
        self.assertEqual(self.ok("FOLDER", "RENAME", "Work", "Job")[0], "250 2.0.0 renamed Work to Job")
        rows = folders_of(self.ok("FOLDERS")[1])
        self.assertIn("Job/Old", rows)
        self.assertNotIn("Work", rows)
        self.refused("550 5.1.1", "FOLDER", "RENAME", "Work", "Other")
        self.refused("550 5.1.1", "FOLDER", "RENAME", "Job", "Trash")
        self.ok("FOLDER", "UNSUBSCRIBE", "Job")
        self.assertEqual(folders_of(self.ok("FOLDERS", "Job")[1])["Job"][4], 0)
        self.ok("FOLDER", "SUBSCRIBE", "Job")
        self.assertEqual(folders_of(self.ok("FOLDERS", "Job")[1])["Job"][4], 1)
        self.refused("550", "FOLDER", "DELETE", "INBOX")
        self.refused("550", "FOLDER", "DELETE", "inbox")
        self.refused("550", "FOLDER", "RENAME", "INBOX", "Old")
        self.refused("550 5.1.1", "FOLDER", "DELETE", "Nowhere")
        self.refused("501 5.5.4", "FOLDER", "DROP", "Job")
        self.refused("501 5.5.4", "FOLDER", "RENAME", "Job")
        self.ok("FOLDER", "DELETE", "Job")
        self.assertNotIn("Job", folders_of(self.ok("FOLDERS")[1]))

    def test_bad_folder_names_are_501_and_nothing_is_made(self):
        for name in (b"", b"a//b", b"/a", b"a/", b"INBOX", b"Inbox", b"*", b"a%b", b"a\x01b", b"a\x7fb",
                     b"x" * 201, b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80"):
            self.refused("501 5.5.4", "FOLDER", "CREATE", name)
            if name.upper() != b"INBOX":  # a folder argument INBOX is the INBOX
                self.refused("501 5.5.4", "SCAN", name)
        self.ok("FOLDER", "CREATE", "x" * 200)
        self.ok("FOLDER", "CREATE", "Été/Ünïcode")
        self.ok("FOLDERS")
        names = [r[0] for r in self.broker.sql("SELECT name FROM folders ORDER BY name")]
        self.assertEqual(sorted(names), sorted(["Drafts", "Sent", "Trash", "x" * 200, "Été/Ünïcode"]))

    def test_scan_flag_copy_move_expunge(self):
        first, second = self.publish("one"), self.publish("two")
        self.ok("FOLDER", "CREATE", "Work")
        self.assertEqual(sorted(self.scan("INBOX")), [first, second])
        # FLAG: letters come back in ASCII order, with S for seen
        status, data = self.ok("FLAG", "+", "TF", "%d %d" % (second, first))  # answered in id order
        self.assertEqual(status, "250 2.0.0 2 messages")
        self.assertEqual(data, [b"%d\tFT" % first, b"%d\tFT" % second])
        self.assertEqual(self.ok("FLAG", "-", "T", str(second))[1], [b"%d\tF" % second])
        self.assertEqual(self.ok("FLAG", "=", "SR", str(second))[1], [b"%d\tRS" % second])
        self.assertEqual(self.broker.sql("SELECT state, flags FROM deliveries WHERE id = ?", (second,)),
                         [("seen", "R")])
        self.assertEqual(self.ok("FLAG", "=", "", str(second))[1], [b"%d\t" % second])
        # COPY keeps flags and time; new ids above every old one
        status, data = self.ok("COPY", "Work", str(first), str(second))
        self.assertEqual(status, "250 2.0.0 2 copied")
        pairs = [tuple(int(x) for x in line.split(b"\t")) for line in data]
        self.assertEqual([p[0] for p in pairs], [first, second])
        self.assertTrue(all(new > second for _, new in pairs))
        work = self.scan("Work")
        self.assertEqual(work[pairs[0][1]][1], "FT")
        self.assertEqual(work[pairs[0][1]][2], self.scan("INBOX")[first][2])
        # the bodies are shared, not copied
        self.assertEqual(self.broker.sql("SELECT count(*) FROM messages")[0][0], 2)
        # MOVE: gone from the INBOX, in Trash with a new id
        status, data = self.ok("MOVE", "Trash", str(first))
        self.assertEqual(status, "250 2.0.0 1 moved")
        moved = int(data[0].split(b"\t")[1])
        self.assertEqual(sorted(self.scan("INBOX")), [second])
        self.assertEqual(sorted(self.scan("Trash")), [moved])
        # EXPUNGE removes the T ones only, of those named when any
        self.ok("FLAG", "+", "T", str(pairs[1][1]))
        self.assertEqual(self.ok("EXPUNGE", "Work", str(pairs[1][1] + 1000))[1], [])
        status, data = self.ok("EXPUNGE", "Work")
        self.assertEqual((status, data), ("250 2.0.0 2 expunged", [b"%d" % pairs[0][1], b"%d" % pairs[1][1]]))
        self.assertEqual(self.scan("Work"), {})
        self.assertEqual(self.ok("EXPUNGE", "Trash")[1], [b"%d" % moved])
        self.assertEqual(self.ok("EXPUNGE", "INBOX")[1], [])
        self.assertEqual(self.broker.sql("SELECT count(*) FROM messages")[0][0], 1)
        self.refused("550 5.1.1", "MOVE", "Nowhere", str(second))
        self.refused("550 5.1.1", "COPY", "Nowhere", str(second))
        self.assertEqual(sorted(self.scan("INBOX")), [second])
        self.integrity_ok()

    def append_many(self, folder, count, flags=""):
        """count messages APPENDed to folder, pipelined; their ids, ascending"""
        for i in range(count):
            self.bob.send("a%d" % i, "APPEND", folder, flags, "0", message("n%d" % i, "b", sender=BOB))
        ids = []
        for i in range(count):
            reply = self.bob.recv_reply("a%d" % i)
            self.assertTrue(reply[1].startswith(b"250 "), reply)
            ids.append(int(reply[2]))
        return sorted(ids)

    def counts(self):
        """{folder: messages} from FOLDERS, and the mailbox's counters in the store"""
        rows = folders_of(self.ok("FOLDERS")[1])
        counters = self.broker.sql("SELECT message_count, used_bytes FROM mailboxes WHERE address = ?", (BOB,))
        return {name: row[1] for name, row in rows.items()}, counters[0]

    def test_expunge_and_move_beyond_one_statement_keep_every_counter(self):
        """EXPUNGE removes in statements of 1,000 ids, MOVE its sources in one: 1,200 T messages
        expunged (ascending, a GONE push each), 1,000 moved, counters and bodies as by hand"""
        self.ok("FOLDER", "CREATE", "Work")
        doomed = self.append_many("Work", 1200, "T")
        kept = self.append_many("Work", 5)
        watcher = self.raw(BOB)
        self.assertTrue(watcher.request("WATCH", "1000", "changes")[0].startswith("250"))
        # named ids: only the T ones of those, and a stranger's or missing id is left out
        status, data = self.ok("EXPUNGE", "Work", "%d %d %d" % (doomed[0], kept[0], kept[-1] + 10 ** 6))
        self.assertEqual((status, data), ("250 2.0.0 1 expunged", [b"%d" % doomed[0]]))
        self.assertEqual(watcher.recv(5), [b"*", b"GONE", BOB.encode(), b"Work", b"%d" % doomed[0]])
        self.assertEqual(watcher.request("CREDIT", "1")[1], [b"0"])
        status, data = self.ok("EXPUNGE", "Work")
        self.assertEqual(status, "250 2.0.0 1199 expunged")
        self.assertEqual(ids_of(data), doomed[1:])
        # a GONE push each, ascending, as far as the watcher's credit (1,000) goes; the rest missed
        gone = [watcher.recv(5) for _ in range(1000)]
        self.assertEqual([int(g[4]) for g in gone], doomed[1:1001])
        self.assertTrue(all(g[1] == b"GONE" and g[3] == b"Work" for g in gone))
        self.assertEqual(watcher.request("CREDIT", "1000")[1], [b"199"])
        folders, (messages, used) = self.counts()
        self.assertEqual((folders["Work"], messages), (5, 5))
        self.assertEqual(self.broker.sql("SELECT count(*) FROM messages")[0][0], 5)
        self.assertEqual(used, self.broker.sql("SELECT sum(m.size) FROM deliveries d JOIN messages m "
                                               "ON m.id = d.message_id WHERE d.mailbox_id = "
                                               "(SELECT id FROM mailboxes WHERE address = ?)", (BOB,))[0][0])
        # MOVE of 1,000 (the most one request names): 995 new, the 5 kept, gone from Work
        more = self.append_many("INBOX", 995)
        status, data = self.ok("MOVE", "Work", " ".join(str(i) for i in more))
        self.assertEqual(status, "250 2.0.0 995 moved")
        self.assertEqual([int(line.split(b"\t")[0]) for line in data], more)
        folders, (messages, used) = self.counts()
        self.assertEqual((folders["INBOX"], folders["Work"], messages), (0, 1000, 1000))
        self.assertEqual(self.broker.sql("SELECT count(*) FROM messages")[0][0], 1000)
        self.assertEqual(self.ok("STAT")[0].split()[2], "0")
        # 1,001 ids is one too many: refused, nothing moved
        self.refused("501 5.5.4", "MOVE", "INBOX", " ".join(str(i) for i in range(1, 1002)))
        self.assertEqual(len(self.scan("Work")), 1000)
        self.integrity_ok()

    def test_scan_pages_like_list(self):
        ids = [self.publish("page %d" % i) for i in range(5)]
        status, data = self.ok("SCAN", "INBOX", "0", "2")
        self.assertEqual(status, "250 2.0.0 2 messages, more after %d" % ids[1])
        status, data = self.ok("SCAN", "INBOX", str(ids[1]), "2")
        self.assertEqual(ids_of(data), ids[2:4])
        status, data = self.ok("SCAN", "INBOX", str(ids[3]), "2")
        self.assertEqual((status, ids_of(data)), ("250 2.0.0 1 messages", ids[4:]))
        self.refused("501 5.5.4", "SCAN", "INBOX", "x")
        self.refused("501 5.5.4", "SCAN", "INBOX", "0", "0")
        self.refused("501 5.5.4", "SCAN", "INBOX", "0", "10001")

    def test_bad_flags_and_ids_are_501_and_change_nothing(self):
        mid = self.publish("flags")
        self.refused("501 5.5.4", "FLAG", "+", "X", str(mid))
        self.refused("501 5.5.4", "FLAG", "+", "f", str(mid))
        self.refused("501 5.5.4", "FLAG", "+", "\\Seen", str(mid))
        self.refused("501 5.5.4", "FLAG", "*", "F", str(mid))
        self.refused("501 5.5.4", "FLAG", "+", "F", "abc")
        self.refused("501 5.5.4", "FLAG", "+", "F", "1  2")
        self.refused("501 5.5.4", "FLAG", "+", "F", " ".join(str(mid) for _ in range(1001)))
        self.refused("501 5.5.4", "COPY", "Trash", " ".join(str(mid) for _ in range(1001)))
        self.refused("501 5.5.4", "APPEND", "Sent", "Q", "0", message("x", "y", sender=BOB))
        self.refused("501 5.5.4", "APPEND", "Sent", "", "soon", message("x", "y", sender=BOB))
        self.refused("550 5.6.0", "APPEND", "Sent", "", "0", b"no header section")
        self.refused("550 5.6.0", "APPEND", "Sent", "", "0", b"Subject: x\n\nbare LF\n")
        self.refused("550 5.1.1", "APPEND", "Nowhere", "", "0", message("x", "y", sender=BOB))
        self.assertEqual(self.broker.sql("SELECT state, flags FROM deliveries WHERE id = ?", (mid,)),
                         [("new", "")])
        # 1000 ids is the limit, not beyond; a repeated id is one message
        status, data = self.ok("FLAG", "+", "F", " ".join(str(mid) for _ in range(1000)))
        self.assertEqual(data, [b"%d\tF" % mid])
        status, data = self.ok("MOVE", "Trash", str(mid), "%d %d" % (mid, mid))
        self.assertEqual(len(data), 1)
        self.assertEqual(self.broker.sql("SELECT count(*), sum(folder_id IS NOT NULL) FROM deliveries"), [(1, 1)])

    def test_another_mailboxs_ids_are_refused_as_missing_ones(self):
        alices = self.publish("for alice", to=ALICE)
        mine = self.publish("for bob")
        missing = alices + mine + 100
        for mid in (alices, missing):
            self.assertEqual(self.ok("FLAG", "+", "T", str(mid))[1], [])
            self.assertEqual(self.ok("COPY", "Trash", str(mid))[1], [])
            self.assertEqual(self.ok("MOVE", "Trash", str(mid))[1], [])
            self.assertEqual(self.ok("EXPUNGE", "INBOX", str(mid))[1], [])
            a = self.bob.request("RETR", str(mid), "PEEK")
            b = self.bob.request("RETR", str(mid))
            self.assertEqual(a, b)
            self.assertEqual(a[0], "550 5.2.0 no such message")
        self.assertEqual(self.broker.sql("SELECT mailbox_id = (SELECT id FROM mailboxes WHERE address = ?), "
                                         "state, flags, folder_id FROM deliveries WHERE id = ?", (ALICE, alices)),
                         [(1, "new", "", None)])
        # in one request with one of bob's: only his is touched
        status, data = self.ok("FLAG", "+", "D", "%d %d" % (alices, mine))
        self.assertEqual(data, [b"%d\tD" % mine])

    def test_retr_marks_seen_and_peek_does_not(self):
        mid = self.publish("to read")
        status, data = self.ok("RETR", str(mid), "PEEK")
        self.assertIn(b"Subject: to read", data[0])
        self.assertEqual(self.scan("INBOX")[mid][1], "")
        self.refused("501 5.5.4", "RETR", str(mid), "LOOK")
        status, data2 = self.ok("RETR", str(mid))
        self.assertEqual(data2, data)
        self.assertEqual(self.scan("INBOX")[mid][1], "S")
        rc, out, err = self.sub("list")
        self.assertIn("seen", out)

    def test_pop3_view_sees_the_inbox_only(self):
        keep, trash = self.publish("keep"), self.publish("to trash")
        count, size = self.stat()
        self.assertEqual(count, 2)
        self.ok("FOLDERS")
        self.ok("MOVE", "Trash", str(trash))
        self.ok("APPEND", "Sent", "S", "1700000000", message("sent", "mine", sender=BOB, to=ALICE))
        count2, size2 = self.stat()
        self.assertEqual(count2, 1)
        self.assertLess(size2, size)
        status, data = self.ok("LIST")
        self.assertEqual(ids_of(data), [keep])
        status, data = self.ok("STAT")
        self.assertEqual(status.split()[2], "1")
        rc, out, err = self.sub("list")
        self.assertNotIn("to trash", out)
        # RETR and DELE by id reach any folder
        self.ok("RETR", str(self.scan("Trash").popitem()[0]), "PEEK")
        sent = list(self.scan("Sent"))[0]
        self.assertEqual(self.scan("Sent")[sent][2], 1700000000)
        self.ok("DELE", str(sent))
        self.assertEqual(self.scan("Sent"), {})
        # the quota counts every folder
        self.assertEqual(self.broker.sql("SELECT message_count FROM mailboxes WHERE address = ?", (BOB,)),
                         [(2,)])

    def test_quota_refuses_copy_and_append_but_not_move(self):
        mid = self.publish("big enough")
        self.ok("FOLDERS")
        size = self.broker.sql("SELECT used_bytes FROM mailboxes WHERE address = ?", (BOB,))[0][0]
        con = sqlite3.connect(self.broker.db, timeout=10)
        con.execute("UPDATE mailboxes SET quota_bytes = ? WHERE address = ?", (size + 10, BOB))
        con.commit()
        con.close()
        self.refused("552 5.2.2", "COPY", "Trash", str(mid))
        self.refused("552 5.2.2", "APPEND", "Sent", "", "0", message("s", "x" * 100, sender=BOB))
        self.ok("MOVE", "Trash", str(mid))
        self.assertEqual(self.broker.sql("SELECT count(*), sum(folder_id IS NOT NULL) FROM deliveries"), [(1, 1)])

    def test_folder_limit_is_452(self):
        for start in range(0, 1000, 100):
            for i in range(start, start + 100):
                self.bob.send("c%d" % i, "FOLDER", "CREATE", "f%04d" % i)
            for i in range(start, start + 100):
                reply = self.bob.recv_reply("c%d" % i)
                self.assertTrue(reply[1].startswith(b"250 "), reply)
        self.refused("452 4.2.2", "FOLDER", "CREATE", "one too many")
        self.ok("FOLDER", "DELETE", "f0000")
        self.ok("FOLDER", "CREATE", "one too many")


class Pushes(MailbusTestCase):

    def expect(self, watcher, *wanted):
        got = []
        for _ in wanted:
            msg = watcher.recv(5)
            self.assertIsNotNone(msg, "pushes so far %r, wanted %r" % (got, wanted))
            got.append(tuple(msg))
        self.assertEqual(got, [tuple(w) for w in wanted])

    def test_a_second_session_sees_every_change(self):
        self.start_broker()
        bob, watcher, plain = self.raw(BOB), self.raw(BOB), self.raw(BOB)
        self.assertEqual(watcher.request("WATCH", "100", "changes")[0], "250 2.0.0 watching bob@demo.test")
        plain.request("WATCH", "100")
        self.assertEqual(watcher.request("WATCH", "5", "everything")[0][:3], "501")
        bob.request("FOLDER", "CREATE", "Work")
        rc, out, err = self.pub("-t", BOB, "-s", "pushed", "-m", "x")
        mid = int(bob.request("SCAN", "INBOX")[1][0].split(b"\t")[0])
        new = [b"*", b"NEW", BOB.encode(), b"%d" % mid, None, ALICE.encode(), b"pushed"]
        msg = watcher.recv(5)
        new[4] = msg[4]
        self.assertEqual(msg, new)
        self.assertEqual(plain.recv(5), new)
        bob.request("RETR", str(mid))
        self.expect(watcher, [b"*", b"FLAGS", BOB.encode(), b"INBOX", b"%d" % mid, b"S"])
        bob.request("RETR", str(mid))  # seen already: no push
        bob.request("FLAG", "+", "F", str(mid))
        self.expect(watcher, [b"*", b"FLAGS", BOB.encode(), b"INBOX", b"%d" % mid, b"FS"])
        copied = int(bob.request("COPY", "Work", str(mid))[1][0].split(b"\t")[1])
        self.expect(watcher, [b"*", b"ADDED", BOB.encode(), b"Work", b"%d" % copied])
        moved = int(bob.request("MOVE", "INBOX", str(copied))[1][0].split(b"\t")[1])
        msg = watcher.recv(5)
        self.assertEqual(msg[:4], [b"*", b"NEW", BOB.encode(), b"%d" % moved])
        self.expect(watcher, [b"*", b"GONE", BOB.encode(), b"Work", b"%d" % copied])
        self.assertEqual(plain.recv(5)[:4], [b"*", b"NEW", BOB.encode(), b"%d" % moved])
        appended = int(bob.request("APPEND", "Work", "T", "0", message("a", "b", sender=BOB))[1][0])
        self.expect(watcher, [b"*", b"ADDED", BOB.encode(), b"Work", b"%d" % appended])
        bob.request("EXPUNGE", "Work")
        self.expect(watcher, [b"*", b"GONE", BOB.encode(), b"Work", b"%d" % appended])
        bob.request("DELE", str(mid))
        self.expect(watcher, [b"*", b"GONE", BOB.encode(), b"INBOX", b"%d" % mid])
        again = int(bob.request("COPY", "Work", str(moved))[1][0].split(b"\t")[1])
        self.expect(watcher, [b"*", b"ADDED", BOB.encode(), b"Work", b"%d" % again])
        bob.request("FOLDER", "DELETE", "Work")
        self.expect(watcher, [b"*", b"GONE", BOB.encode(), b"Work", b"%d" % again])
        # the plain watcher saw NEW only
        self.assertIsNone(plain.recv(0.3))
        # the maker of a change gets it too when it watches
        watcher.request("FLAG", "+", "R", str(moved))  # (F and S came with the copy)
        self.expect(watcher, [b"*", b"FLAGS", BOB.encode(), b"INBOX", b"%d" % moved, b"FRS"])

    def test_without_credit_changes_are_counted_as_missed(self):
        self.start_broker()
        bob, watcher = self.raw(BOB), self.raw(BOB)
        watcher.request("WATCH", "1", "changes")
        bob.request("APPEND", "INBOX", "", "0", message("a", "b", sender=BOB))
        mid = int(bob.request("SCAN", "INBOX")[1][0].split(b"\t")[0])
        bob.request("FLAG", "+", "F", str(mid))
        bob.request("FLAG", "+", "D", str(mid))
        self.assertEqual(watcher.recv(5)[1], b"NEW")
        self.assertIsNone(watcher.recv(0.3))
        status, data = watcher.request("CREDIT", "1")
        self.assertEqual(data, [b"2"])


class Durability(MailbusTestCase):

    def test_uidvalidity_is_stable_across_restart_and_new_after_delete_create(self):
        self.start_broker()
        bob = self.raw(BOB)
        bob.request("FOLDER", "CREATE", "Work")
        before = folders_of(bob.request("FOLDERS")[1])
        self.broker.restart()
        bob = self.raw(BOB)
        after = folders_of(bob.request("FOLDERS")[1])
        self.assertEqual({k: v[0] for k, v in before.items()}, {k: v[0] for k, v in after.items()})
        bob.request("FOLDER", "DELETE", "Work")
        bob.request("FOLDER", "CREATE", "Work")
        again = folders_of(bob.request("FOLDERS")[1])
        self.assertGreater(again["Work"][0], max(v[0] for k, v in before.items() if k != "INBOX"))
        self.broker.restart(kill=True)
        bob = self.raw(BOB)
        bob.request("FOLDER", "DELETE", "Work")
        bob.request("FOLDER", "CREATE", "Work")
        self.assertGreater(folders_of(bob.request("FOLDERS")[1])["Work"][0], again["Work"][0])

    def test_kill_9_between_operations_loses_nothing(self):
        self.start_broker()
        bob = self.raw(BOB)
        bob.request("FOLDER", "CREATE", "Work")
        ids = []
        for i in range(6):
            status, data = bob.request("APPEND", "INBOX", "", "0", message("m%d" % i, "body %d" % i, sender=BOB))
            ids.append(int(data[0]))
        moved = [int(line.split(b"\t")[1]) for line in bob.request("MOVE", "Work", str(ids[0]), str(ids[1]))[1]]
        copied = [int(line.split(b"\t")[1]) for line in bob.request("COPY", "Trash", str(ids[2]))[1]]
        bob.request("FLAG", "+", "FT", str(ids[3]))
        bob.request("EXPUNGE", "INBOX", str(ids[4]))  # not flagged T: stays
        self.broker.kill9()
        self.broker.start()
        bob = self.raw(BOB)
        scan = lambda f: ids_of(bob.request("SCAN", f)[1])  # noqa: E731
        self.assertEqual(scan("INBOX"), ids[2:])
        self.assertEqual(scan("Work"), moved)
        self.assertEqual(scan("Trash"), copied)
        self.assertEqual(bob.request("FLAG", "+", "", str(ids[3]))[1], [b"%d\tFT" % ids[3]])
        self.assertEqual(bob.request("EXPUNGE", "INBOX")[1], [b"%d" % ids[3]])
        self.broker.kill9()
        self.broker.start()
        bob = self.raw(BOB)
        self.assertEqual(ids_of(bob.request("SCAN", "INBOX")[1]), [ids[2], ids[4], ids[5]])
        rows = self.broker.sql("SELECT f.name, f.message_count, (SELECT count(*) FROM deliveries d "
                               "WHERE d.folder_id = f.id) FROM folders f ORDER BY f.name")
        for name, counted, actual in rows:
            self.assertEqual(counted, actual, name)
        self.integrity_ok()


if __name__ == "__main__":
    unittest.main()
