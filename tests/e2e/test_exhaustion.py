"""Resource exhaustion (issue 16, the storage half): a full disk can still be emptied with the real
`mailbus-sub drain` (the reserve file beside the database is given back on SQLITE_FULL), publishing
is refused with 452 4.3.1 below --min-free and while full, and accepted again once drained, without
a restart; the WAL stays within its documented bound while a reader pins it and is truncated when
the reader ends; `mailbus-broker status` and the admin verb STATUS, good and bad input.

The disk-full tests mount a small tmpfs of their own (root only; skipped with the reason where
mount is not permitted) on the broker's var/ folder and unmount it afterwards."""
import os
import re
import smtplib
import sqlite3
import subprocess
import time
import unittest

from mailbus_test.broker import ALICE, BOB, MailbusTestCase, message, status_code
from mailbus_test.gateway import Stack
from mailbus_test.process import BUILD, wait_for

MiB = 1 << 20
BODY_BYTES = 200 * 1024  # a message of this size fills the tmpfs below in a few hundred SENDs
RESERVE = 4 * MiB
TMPFS = 32 * MiB
BENCH = os.path.join(BUILD, "tests", "mailbus-bench")
WAL_CAP = 128 * MiB  # docs/OPERATIONS.md "The WAL"
WAL_CHECKPOINT = 16 * MiB  # checkpointed (and started over) every 16 MiB when nobody pins it


def status_of(text):
    """`mailbus-broker status` output as a dict (key -> value), the first space splitting."""
    return dict(line.split(" ", 1) for line in text.splitlines() if " " in line)


class SmallDisk(MailbusTestCase):
    """The database on a TMPFS-byte tmpfs the test mounts on var/."""

    min_free = "0"

    def setUp(self):
        super().setUp()
        var = os.path.join(self.tmp, "var")
        os.makedirs(var, exist_ok=True)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0700" % TMPFS, "tmpfs", var],
                                 capture_output=True, text=True)
        if mounted.returncode != 0:
            self.skipTest("cannot mount a tmpfs here (root and mount permission needed): %s"
                          % mounted.stderr.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", var], capture_output=True)
        self.start_broker(["--reserve", str(RESERVE), "--min-free", self.min_free])
        self.sender = self.raw(ALICE)

    def send(self, n):
        """SEND message n to bob: the status line"""
        body = message("fill %d" % n, ("%06d " % n) * (BODY_BYTES // 7), message_id="<fill%d@demo.test>" % n)
        status, _ = self.sender.request("SEND", ALICE, BOB, body, timeout=30)
        return status

    def fill(self, limit=1000):
        """Publishes until refused: the numbers acknowledged (250), and the refusal"""
        acked = []
        for n in range(limit):
            status = self.send(n)
            if status_code(status) != 250:
                return acked, status
            acked.append(n)
        self.fail("%d SENDs of %d bytes fit on a %d-byte disk" % (limit, BODY_BYTES, TMPFS))

    def status(self):
        rc, out, err = self.broker.admin("status")
        self.assertEqual(rc, 0, out + err)
        return status_of(out)

    def drain_all(self):
        """`mailbus-sub drain` into a folder beside (not on) the small disk: the numbers saved"""
        rc, out, err = self.sub("drain", os.path.join(self.tmp, "saved"), timeout=120)
        self.assertEqual(rc, 0, "drain failed on a full disk: %s %s" % (out, err))
        saved = []
        for path in out.split():
            with open(path, "rb") as f:
                saved.append(int(re.search(rb"Subject: fill (\d+)", f.read()).group(1)))
        return saved


class DiskFull(SmallDisk):

    def test_a_full_disk_is_drained_then_takes_mail_again(self):
        acked, refusal = self.fill()
        self.assertTrue(refusal.startswith("452 4.3.1"), refusal)
        self.assertGreater(len(acked), 20)
        self.assertIn("reserve-released", self.broker.log())
        self.assertEqual(self.status()["space"], "full")
        saved = self.drain_all()
        # every acknowledged message saved once, nothing else; the mailbox empty
        self.assertEqual(sorted(saved), acked)
        self.assertEqual(self.stat(), (0, 0))
        self.integrity_ok()
        # publishing works again, no restart (space comes back within a free-space reading)
        wait_for(lambda: self.status()["space"] == "ok", 10, "the space state back to ok")
        self.assertTrue(self.send(10000).startswith("250 "))
        s = self.status()
        self.assertGreaterEqual(int(s["refused-space"]), 0)
        self.assertEqual(s["refused-storage-error"].isdigit(), True)
        self.integrity_ok()

    def test_while_full_a_send_is_refused_without_touching_the_store_and_delete_works(self):
        acked, refusal = self.fill()
        self.assertTrue(refusal.startswith("452 4.3.1"), refusal)
        # a refused SEND is counted, not logged per message
        before = int(self.status()["refused-space"])
        for n in range(5):
            self.assertTrue(self.send(20000 + n).startswith("452 4.3.1"))
        self.assertEqual(int(self.status()["refused-space"]), before + 5)
        self.assertEqual(self.broker.log().count("space low"), 1, self.broker.log())
        # DELE of one message, then bad input on a full disk: answered, no crash
        bob = self.raw(BOB)
        status, rows = bob.request("LIST")
        first = rows[0].split(b"\t")[0].decode()
        self.assertTrue(bob.request("DELE", first)[0].startswith("250 "))
        self.assertTrue(bob.request("DELE", "not-a-number")[0].startswith("501 "))
        self.assertTrue(bob.request("DELE", first)[0].startswith("550 "))
        self.assertEqual(self.stat()[0], len(acked) - 1)
        self.assertTrue(self.broker.running())
        self.integrity_ok()


class DiskFullBatch(SmallDisk):
    """A deletion in the very batch whose commit met the full disk is run again, alone, once the
    reserve is released, and succeeds; the SEND of that batch gets 452 4.3.1"""

    def test_a_dele_in_the_batch_that_met_the_full_disk_is_retried_and_answered_250(self):
        bob = self.raw(BOB)
        status, _ = bob.request("SEND", BOB, BOB, message("to delete", "x", sender=BOB))
        self.assertTrue(status.startswith("250 "), status)
        doomed = bob.request("LIST")[1][0].split(b"\t")[0].decode()
        # another program fills the disk, leaving less than the next SEND needs
        var = os.path.dirname(self.broker.db)
        vfs = os.statvfs(var)
        with open(os.path.join(self.tmp, "var", "filler"), "wb") as f:
            f.write(b"\0" * (vfs.f_bavail * vfs.f_frsize - 512 * 1024))
        wait_for(lambda: int(self.status()["free-bytes"]) < MiB, 10, "the broker to see the disk nearly full")
        # SEND first: the DELE right behind it is read into the same batch while it is stored
        big = message("too big for the disk", "y" * (2 * MiB), sender=BOB)
        bob.send("s1", "SEND", BOB, BOB, big)
        bob.send("d1", "DELE", doomed)
        self.assertTrue(bob.recv_reply("s1", 30)[1].startswith(b"452 4.3.1"))
        self.assertEqual(bob.recv_reply("d1", 30)[1].decode(), "250 2.0.0 deleted %s" % doomed)
        log = self.broker.log()
        self.assertIn("reserve-released", log)
        self.assertIn("batch-retried requests=1 committed=yes", log)
        self.assertEqual(self.stat(), (0, 0))
        self.integrity_ok()
        # the other program's file goes: publishing resumes by itself
        os.unlink(os.path.join(self.tmp, "var", "filler"))
        wait_for(lambda: self.status()["space"] == "ok", 10, "the space state back to ok")
        self.assertTrue(self.send(1).startswith("250 "))


class MinFree(SmallDisk):
    """--min-free 16M on the 32 MiB disk: publishing stops with free space to spare"""

    min_free = "16M"

    def test_min_free_refuses_before_the_disk_is_full_and_status_shows_it(self):
        acked, refusal = self.fill()
        self.assertTrue(refusal.startswith("452 4.3.1"), refusal)
        s = self.status()
        self.assertEqual(s["space"], "low")
        self.assertEqual(s["min-free"], "16M")
        self.assertEqual(int(s["min-free-bytes"]), 16 * MiB)
        self.assertEqual(s["reserve"], "held")  # never needed: the disk never filled
        self.assertGreater(int(os.statvfs(os.path.dirname(self.broker.db)).f_bavail)
                           * os.statvfs(os.path.dirname(self.broker.db)).f_frsize, 8 * MiB)
        self.assertNotIn("reserve-released", self.broker.log())
        self.assertEqual(self.broker.log().count("space low"), 1)
        # after a drain publishing goes on, and the way back is logged once
        self.assertEqual(sorted(self.drain_all()), acked)
        wait_for(lambda: self.status()["space"] == "ok", 10, "the space state back to ok")
        self.assertTrue(self.send(30000).startswith("250 "))
        self.assertEqual(self.broker.log().count("space ok"), 1)
        self.integrity_ok()


class Settings(MailbusTestCase):

    def test_a_bad_min_free_is_a_usage_error_naming_it(self):
        for bad in ("", "-5", "5%%", "60%", "12Q", "1.5", "M", "9999999T"):
            rc, out, err = self.run_broker("--min-free", bad)
            self.assertEqual(rc, 64, "--min-free %r: %s %s" % (bad, out, err))
            self.assertIn("--min-free", err)

    def run_broker(self, *args):
        from mailbus_test.process import BROKER, run
        return run([BROKER, "--db", os.path.join(self.tmp, "var", "x.db"), *args], timeout=20, cwd=self.tmp)

    def test_status_without_a_broker_and_with_extra_words(self):
        self.start_broker()
        rc, out, err = self.broker.admin("status", "now")
        self.assertEqual(rc, 64, out + err)
        self.assertIn("status takes no arguments", err)
        s = status_of(self.broker.admin("status")[1])
        for key in ("uptime-seconds", "sessions", "watchers", "queue-messages", "queue-bytes", "wal-bytes",
                    "free-bytes", "min-free", "reserve", "checkpoint-last", "refused-space", "refused-busy"):
            self.assertIn(key, s)
        self.assertEqual(s["running"], "yes")
        self.assertEqual(s["reserve"], "held")
        self.assertEqual(os.stat(self.broker.db + ".reserve").st_mode & 0o777, 0o600)
        self.broker.terminate()
        rc, out, err = self.broker.admin("status")
        self.assertEqual((rc, out.strip()), (1, "running no"), err)
        self.assertIn("no broker runs", err)

    def test_the_status_verb_on_the_admin_socket_takes_no_arguments(self):
        import zmq
        self.start_broker()
        # the server thread answers the readiness probe before the main thread says "started"
        found = wait_for(lambda: re.search(r"admin=(\S+)", self.broker.log()), 30, "the broker's started line")
        endpoint = found.group(1)
        sock = zmq.Context.instance().socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, 10000)
        sock.connect(endpoint)
        try:
            sock.send_multipart([b"1", b"STATUS", b"extra"])
            reply = sock.recv_multipart()
            self.assertEqual(status_code(reply[1]), 501, reply)
            sock.send_multipart([b"2", b"STATUS"])
            reply = sock.recv_multipart()
            self.assertEqual(status_code(reply[1]), 250, reply)
            self.assertTrue(any(row.startswith(b"sessions ") for row in reply[2:]), reply)
        finally:
            sock.close(0)
        self.assertTrue(self.broker.running())


class PinnedWal(MailbusTestCase):
    """A sqlite3-style reader holding a read transaction through 100,000 publishes (mailbus-bench;
    each of its phases, publish and drain, stops after 20 s: an ASan build publishes fewer, and
    the bench runs again until the WAL is past a checkpoint's size)"""

    def test_a_pinned_wal_is_logged_and_truncated_once_the_reader_ends(self):
        if not os.access(BENCH, os.X_OK):
            self.skipTest("%s is not built" % BENCH)
        self.start_broker()
        reader = sqlite3.connect("file:%s?mode=ro" % self.broker.db, uri=True, timeout=10)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM deliveries").fetchall()  # the snapshot is held from here
            # the bench again while the WAL is not past a checkpoint's size (an ASan build on a
            # loaded machine publishes less in one run), for 120 s at most
            deadline = time.monotonic() + 120
            while True:
                bench = subprocess.run([BENCH, "-b", self.broker.endpoint, "-u", ALICE, "-p", "demo", "--count",
                                        "100000", "--size", "256",
                                        "--time-limit", "20"], env=self.client_env(ALICE), capture_output=True,
                                       text=True, timeout=100)
                # 1: a phase was cut short by its time limit (an ASan build on a loaded machine)
                self.assertIn(bench.returncode, (0, 1), bench.stdout + bench.stderr)
                self.assertRegex(bench.stdout + bench.stderr, r"mailbus-bench: [1-9]\d* acked, 0 refused")
                if os.path.getsize(self.broker.db + "-wal") > WAL_CHECKPOINT or time.monotonic() > deadline:
                    break
            wait_for(lambda: "wal-pinned" in self.broker.log(), 10, "the wal-pinned line")
            pinned = os.path.getsize(self.broker.db + "-wal")
            self.assertGreater(pinned, WAL_CHECKPOINT, "the WAL did not grow past a checkpoint: nothing tested")
            # past the cap only with publishing refused from there on (the bench's drain,
            # deleting, may still add to it: deleting is never refused)
            if pinned > WAL_CAP:
                self.assertIn("wal-capped", self.broker.log())
            s = status_of(self.broker.admin("status")[1])
            self.assertGreater(int(s["wal-pinned-seconds"]), 0, s)
            self.assertEqual(int(s["wal-bytes"]), os.path.getsize(self.broker.db + "-wal"))
        finally:
            reader.close()
        # the reader gone: the next tick's checkpoint completes and truncates the file
        wait_for(lambda: os.path.getsize(self.broker.db + "-wal") == 0, 15, "the WAL truncated")
        wait_for(lambda: "wal-released" in self.broker.log(), 5, "the wal-released line")
        line = re.search(r"wal-pinned .*", self.broker.log()).group(0)
        self.assertIn("held-up=checkpoint", line)
        self.assertEqual(self.broker.sql("PRAGMA integrity_check"), [("ok",)])


class GatewaySpace(unittest.TestCase):
    """The gateway's SMTP face passes the broker's 452 4.3.1 on: a mail client keeps the message
    and tries again later (RFC 5321 4.2.5: 452 is transient), nothing is stored"""

    def test_smtp_data_gets_452_while_publishing_is_refused_for_space(self):
        with Stack(broker_args=["--min-free", "9000T"]) as stack:  # more than any disk here
            s = smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30)
            try:
                with self.assertRaises(smtplib.SMTPDataError) as caught:
                    s.sendmail("someone@example.org", ["bob@demo.test"],
                               b"Subject: full\r\nMessage-ID: <full@example.org>\r\n\r\nhello\r\n")
                self.assertEqual(caught.exception.smtp_code, 452)
                self.assertIn(b"4.3.1", caught.exception.smtp_error)
                s.quit()
            finally:
                s.close()
            self.assertEqual(stack.count("bob@demo.test"), 0)
