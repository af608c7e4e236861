"""Time uncoupling and durable acks: what the broker acknowledged survives kill -9, byte for byte."""
import email
import email.policy
import os
import re
import shutil
import subprocess
import unittest

from mailbus_test.broker import ALICE, BOB, SUB, MailbusTestCase, message, run

MESSAGES = 50
WITH_ATTACHMENT_EVERY = 5   # every 5th message is composed by mailbus-pub with -a


def message_id_of(data):
    m = re.search(rb"^Message-ID:\s*(<[^>\r\n]+>)", data, re.M | re.I)
    return m.group(1).decode() if m else None


class Durability(MailbusTestCase):

    def publish_while_nobody_listens(self):
        """Publishes MESSAGES to bob; returns ({message-id: exact bytes} of the --raw ones,
        {subject: attachment bytes} of the -a ones, {delivery id: message-id or subject})."""
        raw_sent = {}
        attached = {}
        queued = {}
        for i in range(MESSAGES):
            if i % WITH_ATTACHMENT_EVERY == 0:
                subject = "with attachment %d" % i
                payload = bytes((i * 7 + k) % 256 for k in range(3000 + i))  # binary, all octets
                path = self.write_file("out/att%d.bin" % i, payload)
                rc, out, err = self.pub("-t", BOB, "-s", subject, "-m", "see the file %d" % i, "-a", path)
                attached[subject] = payload
                key = subject
            else:
                mid = "<durable-%d@demo.test>" % i
                # lines of several lengths, a leading dot and trailing spaces: all must survive
                body = "line one of %d\r\n.leading dot\r\ntrailing spaces   \r\n%s\r\n" % (i, "x" * (i * 17))
                data = message("durable %d" % i, body, message_id=mid)
                path = self.write_file("out/m%d.eml" % i, data)
                rc, out, err = self.pub("-t", BOB, "--raw", path)
                raw_sent[mid] = data
                key = mid
            self.assertEqual(rc, 0, "publish %d: rc=%d out=%r err=%r" % (i, rc, out, err))
            # PROTOCOL.md: "queued as N" gives the recipient's delivery id, which drain names files by
            m = re.search(r"(?m)^250 2\.0\.0 bob@demo\.test queued as (\d+)", out)
            self.assertIsNotNone(m, out)
            self.assertNotIn(m.group(1), queued, "delivery id given twice")
            queued[m.group(1)] = key
        return raw_sent, attached, queued

    def test_acked_messages_survive_kill_9_and_drain_byte_for_byte(self):
        self.start_broker()
        raw_sent, attached, queued = self.publish_while_nobody_listens()

        self.broker.kill9()
        self.broker.start()

        self.assertEqual(self.stat()[0], MESSAGES)
        drain_dir = os.path.join(self.tmp, "drained")
        os.makedirs(drain_dir)
        rc, out, err = self.sub("drain", drain_dir)
        self.assertEqual(rc, 0, "drain: %s %s" % (out, err))

        files = sorted(os.listdir(drain_dir))
        self.assertEqual(len(files), MESSAGES, files)
        self.assertEqual(set(files), set("%s.eml" % i for i in queued))
        received_raw = {}
        received_attached = {}
        for name in files:
            with open(os.path.join(drain_dir, name), "rb") as f:
                data = f.read()
            mid = message_id_of(data)
            expected = queued[name[:-4]]   # what was acked under this delivery id
            if mid in raw_sent:
                self.assertEqual(expected, mid, "%s holds another message" % name)
                self.assertNotIn(mid, received_raw, "message %s drained twice" % mid)
                received_raw[mid] = data
                continue
            # a message mailbus-pub composed: CRLF only, and the attachment decodes to the file
            self.assertNotRegex(data, rb"(?<!\r)\n", "%s has a bare LF" % name)
            msg = email.message_from_bytes(data, policy=email.policy.default)
            parts = [p for p in msg.iter_attachments()]
            self.assertEqual(len(parts), 1, name)
            self.assertEqual(str(msg["Subject"]), expected, "%s holds another message" % name)
            received_attached[str(msg["Subject"])] = parts[0].get_payload(decode=True)
        self.assertEqual(set(received_raw), set(raw_sent))
        for mid, data in raw_sent.items():
            self.assertEqual(received_raw[mid], data, "message %s not byte for byte" % mid)
        self.assertEqual(received_attached, attached)

        # drained means deleted: the mailbox is empty, also after another restart
        rc, out, err = self.sub("stat")
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith("0 messages"), out)
        self.broker.kill9()
        self.broker.start()
        self.assertEqual(self.stat(), (0, 0))
        self.integrity_ok()

    def test_kill_9_during_pipelined_publishing_loses_no_acknowledged_message(self):
        self.start_broker()
        c = self.raw(ALICE)
        total = 400
        sent = {}
        for i in range(total):
            mid = "<inflight-%d@demo.test>" % i
            sent["r%d" % i] = (mid, message("in flight %d" % i, "body %d\r\n%s" % (i, "y" * (i % 70)), message_id=mid))
        for rid, (mid, data) in sent.items():
            c.send(rid, "SEND", ALICE, BOB, data)
        acked = set()
        # let part of them be acknowledged, then pull the plug
        while len(acked) < total // 4:
            reply = c.recv(timeout=30)
            self.assertIsNotNone(reply, "no ack within 30 s")
            self.assertTrue(reply[1].startswith(b"250 "), reply[:2])
            acked.add(reply[0].decode())
        self.broker.kill9()
        # acks already on their way to us still count: take what arrived, until a quiet 0.5 s
        while True:
            reply = c.recv(timeout=0.5)
            if reply is None:
                break
            if reply[1].startswith(b"250 "):
                acked.add(reply[0].decode())
        self.broker.start()

        drain_dir = os.path.join(self.tmp, "drained")
        os.makedirs(drain_dir)
        rc, out, err = self.sub("drain", drain_dir, timeout=120)
        self.assertEqual(rc, 0, out + err)
        by_mid = {}
        for name in os.listdir(drain_dir):
            with open(os.path.join(drain_dir, name), "rb") as f:
                data = f.read()
            mid = message_id_of(data)
            self.assertNotIn(mid, by_mid, "%s stored twice" % mid)
            by_mid[mid] = data
        for rid in acked:
            mid, data = sent[rid]
            self.assertIn(mid, by_mid, "acknowledged %s lost in kill -9" % mid)
        sent_by_mid = dict(sent.values())
        for mid, data in by_mid.items():
            # what was stored but not acked yet may be there (at-least-once), and whole
            self.assertEqual(data, sent_by_mid[mid], "%s not byte for byte" % mid)
        self.integrity_ok()

    def test_two_concurrent_drains_lose_nothing_and_hand_out_nothing_twice(self):
        # DESIGN.md: "pulling and deleting are atomic, so no message is lost or handed out twice
        # when two of them pull at once" (drain leases what it saves, then acknowledges it)
        self.start_broker()
        c = self.raw(ALICE)
        total = 200
        for i in range(total):
            c.send("s%d" % i, "SEND", ALICE, BOB, message("drain race %d" % i, "x", message_id="<race-%d@demo.test>" % i))
        for i in range(total):
            reply = c.recv(timeout=30)
            self.assertIsNotNone(reply)
            self.assertTrue(reply[1].startswith(b"250 "), reply[:2])
        dirs = [os.path.join(self.tmp, "drain%d" % n) for n in (1, 2)]
        procs = []
        for d in dirs:
            os.makedirs(d)
            procs.append(subprocess.Popen([SUB, "drain", d], env=self.client_env(BOB), stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE))
        results = []
        for p in procs:
            try:
                out, err = p.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
            results.append((p.returncode, out, err))
        for rc, out, err in results:
            self.assertEqual(rc, 0, "drain: %r %r" % (out, err))
        found = [set(os.listdir(d)) for d in dirs]
        self.assertEqual(len(found[0] | found[1]), total, "lost messages")
        self.assertEqual(found[0] & found[1], set(), "handed out twice")
        self.assertEqual(self.stat(), (0, 0))

    def test_queue_view_is_readable_with_sqlite_while_the_broker_runs(self):
        self.start_broker()
        for i in range(3):
            rc, out, err = self.pub("-t", BOB, "-s", "queued %d" % i, "-m", "body %d" % i)
            self.assertEqual(rc, 0, out + err)

        # python sqlite3, read-only, while the broker holds the database
        rows = dict((r[0], r[1]) for r in self.broker.sql("SELECT mailbox, waiting FROM queue"))
        self.assertEqual(rows.get(BOB), 3, rows)
        self.assertEqual(rows.get(ALICE), 0, rows)
        inbox = self.broker.sql("SELECT subject FROM inbox WHERE mailbox = ? ORDER BY id", (BOB,))
        self.assertEqual([r[0] for r in inbox], ["queued 0", "queued 1", "queued 2"])

        # the sqlite3 command line, as the README tells a student to use it
        if shutil.which("sqlite3"):
            rc, out, err = run(["sqlite3", "-readonly", self.broker.db, "select * from queue"], timeout=30)
            self.assertEqual(rc, 0, err)
            line = [l for l in out.splitlines() if l.startswith(BOB + "|")]
            self.assertEqual(len(line), 1, out)
            self.assertEqual(line[0].split("|")[1], "3", out)

        # reading did not disturb the broker: it still accepts and counts
        rc, out, err = self.pub("-t", BOB, "-s", "after the read", "-m", "x")
        self.assertEqual(rc, 0, out + err)
        rows = dict((r[0], r[1]) for r in self.broker.sql("SELECT mailbox, waiting FROM queue"))
        self.assertEqual(rows.get(BOB), 4, rows)
        self.assertEqual(self.stat()[0], 4)

    def test_publish_while_a_reader_holds_a_read_transaction_is_not_blocked(self):
        self.start_broker()
        import sqlite3
        con = sqlite3.connect("file:%s?mode=ro" % self.broker.db, uri=True, isolation_level=None)
        try:
            con.execute("BEGIN")
            before = con.execute("SELECT count(*) FROM deliveries").fetchone()[0]
            # the reader keeps its snapshot open while the broker commits
            for i in range(5):
                rc, out, err = self.pub("-t", BOB, "-s", "during read %d" % i, "-m", "x", timeout=30)
                self.assertEqual(rc, 0, out + err)
            self.assertEqual(con.execute("SELECT count(*) FROM deliveries").fetchone()[0], before)
            con.execute("COMMIT")
            self.assertEqual(con.execute("SELECT count(*) FROM deliveries").fetchone()[0], before + 5)
        finally:
            con.close()
        self.assertEqual(self.stat()[0], 5)


if __name__ == "__main__":
    unittest.main()
