"""Counters and bodies after the batched DELE and ACK (issue 13, schema 012): those requests
delete their ids in one statement and keep the mailbox counters and the bodies themselves,
with the deliveries_count_out trigger held off for that statement only. Against the real
broker and its SQLite file: STAT, FOLDERS, the queue view read with the sqlite3 CLI, the
quota, bodies left over; deletes by hand with the sqlite3 CLI while the broker runs still go
through the trigger."""
import email.utils
import re
import shutil
import sqlite3
import subprocess
import time
import unittest

from mailbus_test.broker import ALICE, BOB, MailbusTestCase, message

SQLITE3 = shutil.which("sqlite3")


class DrainCounters(MailbusTestCase):

    def setUp(self):
        super().setUp()
        self.start_broker()
        self.bob = self.raw(BOB)

    def send_to(self, to, n, tag, body="x"):
        c = self.raw(ALICE)
        for i in range(n):
            c.send("s%d" % i, "SEND", ALICE, to, message("%s %d" % (tag, i), body * (i + 1), to=to))
        ids = []
        for i in range(n):
            reply = c.recv_reply("s%d" % i)
            self.assertTrue(reply[1].startswith(b"250 "), reply[1])
            ids.append(int(reply[2].split()[-1]))
        return ids

    def ok(self, verb, *args, client=None):
        status, data = (client or self.bob).request(verb, *args)
        self.assertTrue(status.startswith("250 "), "%s %.80r: %s" % (verb, args, status))
        return status, data

    def cli(self, sql):
        """sqlite3 CLI on the live store, as a student would run it"""
        done = subprocess.run([SQLITE3, "-cmd", ".timeout 10000", self.broker.db, sql], capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        return done.stdout

    def stat(self, client=None):
        status, _ = self.ok("STAT", client=client)
        m = re.search(r"(\d+) messages, (\d+) bytes", status)
        return int(m.group(1)), int(m.group(2))

    def counters_right(self):
        """every mailbox's and folder's counters equal a recount; no body left without a
        delivery or relay entry; no row left in counted_by_broker"""
        sql = self.broker.sql
        real = ("SELECT count(d.id), coalesce(sum(m.size), 0) FROM deliveries d JOIN messages m "
                "ON m.id = d.message_id WHERE d.mailbox_id = mb.id")
        self.assertEqual(sql("SELECT address, message_count, used_bytes FROM mailboxes mb "
                             "WHERE (message_count, used_bytes) IS NOT (%s)" % real), [])
        freal = real.replace("d.mailbox_id = mb.id", "d.folder_id = f.id")
        self.assertEqual(sql("SELECT name FROM folders f WHERE (message_count, used_bytes) IS NOT (%s)" % freal),
                         [])
        self.assertEqual(sql("SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM deliveries d "
                             "WHERE d.message_id = m.id) AND NOT EXISTS (SELECT 1 FROM outbound o "
                             "WHERE o.message_id = m.id)"), [(0,)])
        self.assertEqual(sql("SELECT count(*) FROM counted_by_broker"), [(0,)])

    def waiting_in_queue_view(self, address):
        out = self.cli("SELECT waiting, bytes FROM queue WHERE mailbox = '%s'" % address)
        waiting, size = out.strip().split("|")
        return int(waiting), int(size)

    def test_batched_dele_keeps_counters_stat_queue_view_and_bodies_right(self):
        ids = self.send_to(BOB, 8, "dele")
        alices = self.send_to(ALICE, 3, "alices")
        before_alice = self.stat(client=self.raw(ALICE))
        sizes = dict(self.broker.sql("SELECT d.id, m.size FROM deliveries d JOIN messages m "
                                     "ON m.id = d.message_id"))
        _, total = self.stat()
        gone = ids[:5]
        status, data = self.bob.request("DELE", " ".join(str(i) for i in gone + alices))
        self.assertEqual(status, "250 2.0.0 deleted 5 of 8")
        self.assertEqual(data, [" ".join(str(i) for i in alices).encode()])
        self.assertEqual(self.stat(), (3, total - sum(sizes[i] for i in gone)))
        self.assertEqual(self.waiting_in_queue_view(BOB), self.stat())
        # another mailbox's ids were named: its messages and counters are untouched
        self.assertEqual(self.stat(client=self.raw(ALICE)), before_alice)
        self.assertEqual(self.waiting_in_queue_view(ALICE), before_alice)
        self.counters_right()
        # the same ids again: nothing there, nothing changes
        status, _ = self.bob.request("DELE", " ".join(str(i) for i in gone))
        self.assertTrue(status.startswith("550 5.2.0"), status)
        self.assertEqual(self.stat()[0], 3)
        self.ok("DELE", " ".join(str(i) for i in ids[5:]))
        self.assertEqual(self.stat(), (0, 0))
        self.assertEqual(self.waiting_in_queue_view(BOB), (0, 0))
        self.counters_right()

    def test_batched_ack_keeps_counters_right(self):
        ids = self.send_to(BOB, 6, "ack")
        other = self.raw(BOB)
        status, data = other.request("LEASE", "2")
        theirs = sorted(int(f) for f in data[0::2])
        status, data = self.bob.request("LEASE", "10")
        mine = sorted(int(f) for f in data[0::2])
        self.assertEqual(sorted(mine + theirs), ids)
        status, data = self.bob.request("ACK", " ".join(str(i) for i in mine + theirs))
        self.assertEqual(status, "250 2.0.0 acknowledged 4 of 6")
        self.assertEqual(data, [" ".join(str(i) for i in theirs).encode()])
        self.assertEqual(self.stat()[0], 2)
        self.assertEqual(self.waiting_in_queue_view(BOB), self.stat())
        self.counters_right()

    @unittest.skipUnless(SQLITE3, "needs the sqlite3 CLI")
    def test_hand_deletes_with_sqlite3_while_the_broker_runs_keep_counters_and_bodies_right(self):
        ids = self.send_to(BOB, 6, "hand")
        self.cli("DELETE FROM deliveries WHERE id IN (%d, %d)" % (ids[0], ids[3]))
        self.counters_right()
        self.assertEqual(self.stat()[0], 4)
        self.assertEqual(self.waiting_in_queue_view(BOB), self.stat())
        # the broker's batched delete and a hand delete, one after the other
        status, data = self.bob.request("DELE", "%d %d %d" % (ids[0], ids[1], ids[2]))
        self.assertEqual(status, "250 2.0.0 deleted 2 of 3")
        self.assertEqual(data, [str(ids[0]).encode()])
        self.cli("DELETE FROM deliveries WHERE id = %d" % ids[4])
        self.assertEqual(self.stat()[0], 1)
        self.counters_right()
        # and a hand delete of what is left: nothing, nowhere
        self.cli("DELETE FROM deliveries")
        self.assertEqual(self.stat(), (0, 0))
        self.assertEqual(self.waiting_in_queue_view(BOB), (0, 0))
        self.counters_right()

    def test_quota_refuses_then_accepts_again_after_a_batched_dele(self):
        ids = self.send_to(BOB, 4, "quota", body="y" * 100)
        used = self.stat()[1]
        con = sqlite3.connect(self.broker.db, timeout=10)
        con.execute("UPDATE mailboxes SET quota_bytes = ? WHERE address = ?", (used + 50, BOB))
        con.commit()
        con.close()
        c = self.raw(ALICE)
        status, _ = c.request("SEND", ALICE, BOB, message("one more", "z" * 100, to=BOB))
        self.assertTrue(status.startswith("552 5.2.2"), status)
        self.ok("DELE", " ".join(str(i) for i in ids[:2]))
        status, _ = c.request("SEND", ALICE, BOB, message("one more", "z" * 100, to=BOB))
        self.assertTrue(status.startswith("250 "), status)
        self.counters_right()

    def test_batched_dele_of_a_folder_message_keeps_folder_counters_right(self):
        ids = self.send_to(BOB, 3, "folder")
        self.ok("FOLDERS")
        self.ok("MOVE", "Trash", str(ids[0]))
        status, data = self.ok("SCAN", "Trash")
        moved = int(data[0].split(b"\t")[0])
        status, data = self.ok("FOLDERS")
        trash = [line.decode().split("\t") for line in data if line.startswith(b"Trash\t")][0]
        self.assertEqual(int(trash[2]), 1)
        self.ok("DELE", "%d %d" % (moved, ids[1]))
        status, data = self.ok("FOLDERS")
        trash = [line.decode().split("\t") for line in data if line.startswith(b"Trash\t")][0]
        self.assertEqual(int(trash[2]), 0)
        self.assertEqual(self.stat()[0], 1)
        self.counters_right()

    def test_other_deletes_after_batched_ones_keep_counters_right(self):
        """EXPUNGE, FOLDER DELETE and a mailbox's deletion still go through the trigger"""
        ids = self.send_to(BOB, 6, "other")
        self.ok("DELE", "%d %d" % (ids[0], ids[1]))
        self.ok("FOLDER", "CREATE", "Work")
        self.ok("MOVE", "Work", "%d %d" % (ids[2], ids[3]))
        self.ok("FOLDER", "DELETE", "Work")
        self.assertEqual(self.stat()[0], 2)
        self.counters_right()
        self.ok("FLAG", "+", "T", str(ids[4]))
        self.ok("EXPUNGE", "INBOX")
        self.assertEqual(self.stat()[0], 1)
        self.counters_right()
        rc, out, err = self.broker.admin("mailbox", "del", BOB)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(self.broker.sql("SELECT count(*) FROM deliveries d JOIN mailboxes mb "
                                         "ON mb.id = d.mailbox_id WHERE mb.address = ?", (BOB,)), [(0,)])
        self.counters_right()

    def test_list_lines_short_and_longer_than_the_stack_buffer_are_whole(self):
        status, _ = self.raw(ALICE).request("SEND", ALICE, BOB, message("short", "body", to=BOB))
        self.assertTrue(status.startswith("250 "), status)
        # a row a student added by hand: subject and sender longer than the broker would store
        long_subject, long_sender = "long " + "s" * 2000, "x" * 600 + "@demo.test"
        con = sqlite3.connect(self.broker.db, timeout=10)
        mid = con.execute("INSERT INTO messages (sender, subject, size, body, received_at) "
                          "VALUES (?, ?, 4, x'41424344', 0)", (long_sender, long_subject)).lastrowid
        con.execute("INSERT INTO deliveries (mailbox_id, message_id, delivered_at) "
                    "SELECT id, ?, 0 FROM mailboxes WHERE address = ?", (mid, BOB))
        con.commit()
        con.close()
        status, data = self.ok("LIST")
        self.assertEqual(status, "250 2.0.0 2 messages")
        fields = [line.decode().split("\t") for line in data]
        self.assertEqual([f[5] for f in fields], ["short", long_subject])
        self.assertEqual([f[4] for f in fields], [ALICE, long_sender])
        self.assertEqual([f[1] for f in fields][1], "4")
    def wait_for_stat(self, count):
        deadline = time.monotonic() + 40  # an expiry 10 s ahead, then the purge (once a second)
        while time.monotonic() < deadline and self.stat()[0] != count:
            time.sleep(0.2)
        self.assertEqual(self.stat()[0], count)

    def test_purges_by_expiry_and_retention_after_batched_deletes_keep_counters_right(self):
        ids = self.send_to(BOB, 3, "kept")
        self.ok("DELE", "%d %d" % (ids[0], ids[1]))
        alice = self.raw(ALICE)  # logged in (Argon2id) before the expiry's clock starts
        # ten seconds ahead: formatdate drops the fraction, and the SEND and the STAT below must
        # come before that moment (an Expires in the past is refused, 554 5.4.7) on a loaded machine
        soon = email.utils.formatdate(time.time() + 10)
        status, _ = alice.request("SEND", ALICE, BOB, message("short-lived", "body", to=BOB,
                                                              extra_headers=("Expires: " + soon,)))
        self.assertTrue(status.startswith("250 "), status)
        self.assertEqual(self.stat()[0], 2)
        self.wait_for_stat(1)
        self.counters_right()
        # retention: at most 2 messages kept, the oldest purged
        con = sqlite3.connect(self.broker.db, timeout=10)
        con.execute("UPDATE mailboxes SET retention_count = 2 WHERE address = ?", (BOB,))
        con.commit()
        con.close()
        self.send_to(BOB, 3, "more")
        self.wait_for_stat(2)
        self.counters_right()


if __name__ == "__main__":
    unittest.main()
