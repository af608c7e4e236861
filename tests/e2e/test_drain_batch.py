"""Batched drain (issue 13, docs/PROTOCOL.md "Batched RETR, DELE and ACK"): RETR, DELE and ACK
naming several ids in one request, against the real broker and its SQLite file: what each form
answers for ids that are there, missing, repeated, another mailbox's or badly written; 1001 ids;
and kill -9 in the middle of a batched drain loses nothing that was not acknowledged."""
import os
import re
import signal
import sqlite3
import subprocess
import time
import unittest

from mailbus_test.broker import ALICE, BOB, SUB, MailbusTestCase, message


def message_id_of(data):
    m = re.search(rb"^Message-ID:\s*(<[^>\r\n]+>)", data, re.M | re.I)
    return m.group(1).decode() if m else None


class BatchedDrain(MailbusTestCase):

    def setUp(self):
        super().setUp()
        self.start_broker()
        self.bob = self.raw(BOB)

    def send_to(self, to, n, tag):
        """n messages to `to`, pipelined; returns {delivery id: message bytes} in order."""
        c = self.raw(ALICE)
        bodies = [message("%s %d" % (tag, i), "body %d of %s" % (i, tag), to=to,
                          message_id="<%s-%d@demo.test>" % (tag, i)) for i in range(n)]
        for i, data in enumerate(bodies):
            c.send("s%d" % i, "SEND", ALICE, to, data)
        ids = {}
        for i, data in enumerate(bodies):
            reply = c.recv_reply("s%d" % i)
            self.assertTrue(reply[1].startswith(b"250 "), reply[1])
            ids[int(reply[2].split()[-1])] = data  # "250 2.0.0 bob@demo.test queued as N"
        return ids

    def rows(self, sql, *args):
        with sqlite3.connect(self.broker.db) as db:
            return db.execute(sql, args).fetchall()

    def waiting(self, address):
        return self.rows("SELECT count(*) FROM deliveries d JOIN mailboxes m ON m.id = d.mailbox_id "
                         "WHERE m.address = ?", address)[0][0]

    def assert_refused(self, prefix, verb, *args):
        status, data = self.bob.request(verb, *args)
        self.assertTrue(status.startswith(prefix), "%s %.80r: %s (wanted %s)" % (verb, args, status, prefix))
        self.assertEqual(data, [])
        return status

    def test_dele_of_several_ids_deletes_those_there_and_names_the_missing(self):
        ids = sorted(self.send_to(BOB, 5, "dele"))
        missing = ids[-1] + 1000
        names = "%d %d %d %d" % (ids[0], ids[1], missing, ids[0])  # a repeat too
        status, data = self.bob.request("DELE", names)
        self.assertEqual(status, "250 2.0.0 deleted 2 of 3")
        self.assertEqual(data, [str(missing).encode()])
        self.assertEqual(self.waiting(BOB), 3)
        # the ids may also come one per frame
        status, data = self.bob.request("DELE", str(ids[2]), str(ids[3]))
        self.assertEqual(status, "250 2.0.0 deleted 2 of 2")
        self.assertEqual(data, [])
        # none there: 550, nothing listed
        self.assert_refused("550 5.2.0", "DELE", "%d %d" % (ids[0], missing))
        # the one-id form answers as before
        status, data = self.bob.request("DELE", str(ids[4]))
        self.assertEqual(status, "250 2.0.0 deleted %d" % ids[4])
        self.assertEqual(self.waiting(BOB), 0)
        self.integrity_ok()

    def test_ids_of_another_mailbox_are_left_alone(self):
        alices = sorted(self.send_to(ALICE, 3, "alices"))
        bobs = sorted(self.send_to(BOB, 1, "bobs"))
        status, data = self.bob.request("DELE", " ".join(str(i) for i in alices + bobs))
        self.assertEqual(status, "250 2.0.0 deleted 1 of 4")
        self.assertEqual(data, [" ".join(str(i) for i in alices).encode()])
        self.assert_refused("550 ", "RETR", " ".join(str(i) for i in alices))
        self.assertEqual(self.waiting(ALICE), 3)
        status, data = self.raw(ALICE).request("RETR", " ".join(str(i) for i in alices), "PEEK")
        self.assertEqual(status, "250 2.0.0 3 of 3 messages follow")

    def test_bad_id_lists_are_refused_with_501_and_delete_nothing(self):
        ids = sorted(self.send_to(BOB, 2, "bad"))
        first = str(ids[0])
        for verb in ("DELE", "ACK", "RETR"):
            for bad, why in ((first + " x", "message ids are numbers"),
                             (first + "  " + first, "message ids are numbers"),
                             (first + " -1", "message ids are numbers"),
                             (first + " 99999999999999999999", "message ids are numbers"),
                             (first + " " + first + "\x00", "")):
                status = self.assert_refused("501 5.5.4", verb, bad)
                self.assertIn(why, status)
            # 1001 ids: one too many (1000 are taken, see below)
            status = self.assert_refused("501 5.5.4", verb, " ".join(str(i + 1) for i in range(1001)))
            self.assertIn("at most 1000 message ids", status)
            # ...also spread over frames (11 of 91); a request has at most 102 frames of arguments
            frames = [" ".join(str(i + 1) for i in range(f * 91, f * 91 + 91)) for f in range(11)]
            status = self.assert_refused("501 5.5.4", verb, *frames)
            self.assertIn("at most 1000 message ids", status)
            self.assert_refused("452 4.5.3", verb, *[str(i + 1) for i in range(200)])
        self.assertEqual(self.waiting(BOB), 2)
        self.assertIn("verb=DELE reply=501", self.broker.log())
        # 1000 ids are one request's worth: the two there are deleted
        status, data = self.bob.request("DELE", " ".join(str(i) for i in range(ids[0], ids[0] + 1000)))
        self.assertEqual(status, "250 2.0.0 deleted 2 of 1000")
        self.assertEqual(len(data), 1)
        self.assertEqual(self.waiting(BOB), 0)

    def test_retr_of_several_ids_sends_id_and_message_pairs_and_marks_them_seen_unless_peek(self):
        sent = self.send_to(BOB, 3, "retr")
        ids = sorted(sent)
        missing = ids[-1] + 1000
        status, data = self.bob.request("RETR", "%d %d %d" % (ids[2], missing, ids[0]), "PEEK")
        self.assertEqual(status, "250 2.0.0 2 of 3 messages follow")
        self.assertEqual(data, [str(ids[0]).encode(), sent[ids[0]], str(ids[2]).encode(), sent[ids[2]]])
        self.assertEqual(self.rows("SELECT count(*) FROM deliveries WHERE state = 'seen'")[0][0], 0)
        status, data = self.bob.request("RETR", str(ids[0]), str(ids[1]))
        self.assertEqual(status, "250 2.0.0 2 of 2 messages follow")
        self.assertEqual(data[1::2], [sent[ids[0]], sent[ids[1]]])
        self.assertEqual(sorted(r[0] for r in self.rows("SELECT id FROM deliveries WHERE state = 'seen'")),
                         ids[:2])
        self.assert_refused("550 5.2.0", "RETR", "%d %d" % (missing, missing + 1))
        # the one-id forms answer as before
        status, data = self.bob.request("RETR", str(ids[2]), "PEEK")
        self.assertEqual((status, data), ("250 2.0.0 message follows", [sent[ids[2]]]))
        self.assert_refused("501 5.5.4", "RETR", str(ids[2]), "PEAK")

    def test_retr_of_more_than_64_mib_is_refused_with_452_and_marks_nothing(self):
        c = self.raw(ALICE)
        big = message("big", "x" * (9_900_000 - 200), to=BOB)
        for i in range(7):
            c.send("b%d" % i, "SEND", ALICE, BOB, big)
        for i in range(7):
            reply = c.recv_reply("b%d" % i, timeout=60)
            self.assertTrue(reply[1].startswith(b"250 "), reply[1])
        ids = sorted(r[0] for r in self.rows("SELECT id FROM deliveries"))
        status = self.assert_refused("452 4.3.1", "RETR", " ".join(str(i) for i in ids))
        self.assertIn("64 MiB", status)
        self.assertEqual(self.rows("SELECT count(*) FROM deliveries WHERE state = 'seen'")[0][0], 0)
        status, data = self.bob.request("RETR", " ".join(str(i) for i in ids[:6]))
        self.assertEqual(status, "250 2.0.0 6 of 6 messages follow")
        self.assertEqual(data[1], big)

    def test_ack_of_several_ids_acknowledges_only_what_this_session_holds(self):
        ids = sorted(self.send_to(BOB, 4, "ack"))
        other = self.raw(BOB)
        status, data = other.request("LEASE", "1")
        self.assertTrue(status.startswith("250 "), status)
        theirs = int(data[0])
        status, data = self.bob.request("LEASE", "10")
        mine = sorted(int(f) for f in data[0::2])
        self.assertEqual(len(mine), 3)
        # not leased to us: left alone, named in the reply
        status, data = self.bob.request("ACK", " ".join(str(i) for i in mine + [theirs]))
        self.assertEqual(status, "250 2.0.0 acknowledged 3 of 4")
        self.assertEqual(data, [str(theirs).encode()])
        self.assertEqual([r[0] for r in self.rows("SELECT id FROM deliveries")], [theirs])
        self.assert_refused("550 5.2.0", "ACK", "%d %d" % (theirs, ids[0]))
        status, data = other.request("ACK", str(theirs))
        self.assertEqual(status, "250 2.0.0 acknowledged %d" % theirs)
        self.integrity_ok()

    def test_kill_9_during_batched_dele_loses_no_acknowledged_deletion_and_no_other_message(self):
        sent = self.send_to(BOB, 600, "kill")
        ids = sorted(sent)
        batches = [ids[i:i + 50] for i in range(0, len(ids), 50)]
        for n, batch in enumerate(batches):
            self.bob.send("d%d" % n, "DELE", " ".join(str(i) for i in batch))
        deleted = set()
        reply = self.bob.recv(timeout=30)
        self.assertIsNotNone(reply)
        self.assertTrue(reply[1].startswith(b"250 2.0.0 deleted 50 of 50"), reply[1])
        deleted.update(batches[int(reply[0][1:])])
        self.broker.kill9()
        while True:  # acks already on their way count too
            reply = self.bob.recv(timeout=0.5)
            if reply is None:
                break
            deleted.update(batches[int(reply[0][1:])])
        self.broker.start()
        left = set(r[0] for r in self.rows("SELECT id FROM deliveries"))
        self.assertFalse(left & deleted, "acknowledged deletions came back")
        self.assertTrue(left <= set(ids))
        # whatever is left is whole, and its batch was not half deleted (one transaction each)
        for batch in batches:
            there = left & set(batch)
            self.assertIn(len(there), (0, len(batch)), "a batch half deleted")
        status, data = self.raw(BOB).request("RETR", " ".join(str(i) for i in sorted(left)[:100]) or "1", "PEEK")
        for i in range(0, len(data), 2):
            self.assertEqual(data[i + 1], sent[int(data[i])])
        self.integrity_ok()

    def test_kill_9_during_mailbus_sub_drain_loses_nothing(self):
        sent = self.send_to(BOB, 400, "subdrain")
        by_mid = {message_id_of(data): data for data in sent.values()}
        drain_dir = os.path.join(self.tmp, "drained")
        os.makedirs(drain_dir)
        proc = subprocess.Popen([SUB, "drain", drain_dir], env=self.client_env(BOB), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(os.listdir(drain_dir)) < 120 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        self.broker.kill9()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        self.broker.start()
        rc, out, err = self.sub("drain", drain_dir, timeout=120)
        self.assertEqual(rc, 0, out + err)
        found = {}
        for name in os.listdir(drain_dir):
            if name.startswith("."):
                continue
            with open(os.path.join(drain_dir, name), "rb") as f:
                data = f.read()
            found[message_id_of(data)] = data
        self.assertEqual(set(found), set(by_mid), "messages lost in kill -9 during a drain")
        for mid, data in found.items():
            self.assertEqual(data, by_mid[mid], "%s not byte for byte" % mid)
        self.assertEqual(self.waiting(BOB), 0)
        self.integrity_ok()

    def test_consume_acknowledges_in_batches(self):
        self.send_to(BOB, 150, "consume")
        rc, out, err = self.sub("consume", "--prefetch", "100", "--until-empty")
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(len([l for l in out.splitlines() if l.startswith("CONSUMED id=")]), 150)
        self.assertEqual(self.waiting(BOB), 0)
        self.assertNotRegex(self.broker.log(), r"refused.*verb=ACK")
        self.integrity_ok()


if __name__ == "__main__":
    unittest.main()
