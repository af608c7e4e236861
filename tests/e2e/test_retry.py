"""End-to-end, issue 16: clients retry a transient refusal by themselves, and identify again with
a resumption ticket instead of the password.

- mailbus-pub against a broker whose store is write-locked by another connection (a real
  `BEGIN IMMEDIATE` held from Python, as a student's sqlite3 could): the broker answers 452 4.3.1
  after its busy timeout, the client retries with backoff, the lock goes, the message is stored
  exactly once.
- Tickets with the real broker: issued on a password HELO, accepted after a broker restart (the
  key file broker.ticket_key, 0600, survives it); refused with 535 after a password change, for a
  deleted and re-created mailbox, altered or another mailbox's, and with --ticket-lifetime 0 —
  each refusal logged with its reason and never with the ticket's bytes.
"""
import os
import sqlite3
import stat
import subprocess
import unittest

from mailbus_test.broker import ALICE, BOB, DEMO_PASSWORD, PUB, VERSION, MailbusTestCase, wait_for


class PublishRetry(MailbusTestCase):
    def lock_store(self):
        """A write lock on the store, as a sqlite3 shell in BEGIN IMMEDIATE holds it"""
        # the broker itself holds the write lock for a moment every second (its purge, and an
        # idle broker's TRUNCATE checkpoint): wait for it, as sqlite3's .timeout does
        con = sqlite3.connect(self.broker.db, isolation_level=None, timeout=10)
        con.execute("BEGIN IMMEDIATE")
        self.addCleanup(con.close)
        return con

    def test_a_publish_refused_452_is_retried_and_stored_exactly_once(self):
        self.start_broker()
        con = self.lock_store()
        env = self.client_env(ALICE)
        env["MAILBUS_LOG"] = "debug"
        pub = subprocess.Popen([PUB, "-t", BOB, "-s", "through a locked store", "-m", "once",
                                "--timeout", "60"], env=env, cwd=self.tmp,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: pub.poll() is None and pub.kill())
        # the broker's busy timeout passes, it answers 452 4.3.1: then the lock goes
        wait_for(lambda: "store-error" in self.broker.log(), 60, "the broker's 452 (store-error)")
        con.execute("ROLLBACK")
        out, err = pub.communicate(timeout=90)
        out, err = out.decode(), err.decode()
        self.assertEqual(pub.returncode, 0, out + err)
        self.assertIn("queued as", out)
        self.assertRegex(err, r"debug client retry .*reply=\"452 4\.3\.1", "each retry is logged at debug")
        self.assertEqual(self.stat(BOB)[0], 1)
        rows = self.broker.sql("select count(*) from messages where subject = 'through a locked store'")
        self.assertEqual(rows, [(1,)])
        self.integrity_ok()

    def test_a_refusal_past_the_budget_is_the_answer_and_logged_at_warn(self):
        self.start_broker()
        self.lock_store()  # held for the whole test: every try gets 452
        env = self.client_env(ALICE)
        proc = subprocess.run([PUB, "-t", BOB, "-s", "never stored", "-m", "x", "--timeout", "20"], env=env,
                              cwd=self.tmp, capture_output=True, timeout=120)
        err = proc.stderr.decode()
        self.assertEqual(proc.returncode, 75, err)  # EX_TEMPFAIL: try again later
        self.assertIn("452 4.3.1", err)
        self.assertRegex(err, r"warn client gave-up .*reply=\"452 4\.3\.1")
        self.assertNotIn("debug client retry", err, "retries are debug only")
        self.assertEqual(self.broker.sql("select count(*) from messages where subject = 'never stored'"), [(0,)])


class Tickets(MailbusTestCase):
    def ticket_of(self, user=BOB, password=DEMO_PASSWORD):
        status, data = self.raw().request("HELO", VERSION, user, password)
        self.assertTrue(status.startswith("250 "), status)
        self.assertEqual(len(data), 2, "HELO's reply carries the mailbox and a ticket")
        return data[1]

    def resume(self, ticket, user=BOB):
        client = self.raw()
        status, data = client.request("RESUME", VERSION, user, ticket)
        return status, client

    def assert_refused(self, ticket, reason, user=BOB):
        status, client = self.resume(ticket, user)
        self.assertTrue(status.startswith("535 5.7.8"), status)
        self.assertTrue(client.request("STAT")[0].startswith("530 "))
        wait_for(lambda: 'verb=RESUME reply=535 why="ticket %s"' % reason in self.broker.log(), 10, reason)
        self.assertNotIn(ticket.decode(), self.broker.log(), "a ticket never reaches the log")

    def test_a_ticket_survives_a_broker_restart_and_its_key_file_is_0600(self):
        self.start_broker()
        ticket = self.ticket_of()
        key = os.path.join(os.path.dirname(self.broker.db), "broker.ticket_key")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        self.broker.restart()
        status, client = self.resume(ticket)
        self.assertTrue(status.startswith("250 2.0.0 hello " + BOB), status)
        self.assertTrue(client.request("STAT")[0].startswith("250 "))
        self.assertIn("mailbox=%s by=ticket" % BOB, self.broker.log())
        self.assertNotIn(ticket.decode(), self.broker.log())

    def test_a_changed_password_or_a_recreated_mailbox_refuses_the_old_ticket(self):
        self.start_broker()
        ticket = self.ticket_of()
        self.assertEqual(self.broker.admin("mailbox", "passwd", BOB, "--password", "n3w-pass")[0], 0)
        self.assert_refused(ticket, "password changed")
        dave = "dave@demo.test"
        self.assertEqual(self.broker.admin("mailbox", "add", dave, "--password", "d4ve")[0], 0)
        old = self.ticket_of(dave, "d4ve")
        self.assertEqual(self.broker.admin("mailbox", "del", dave)[0], 0)
        self.assertEqual(self.broker.admin("mailbox", "add", dave, "--password", "d4ve")[0], 0)
        self.assert_refused(old, "another mailbox's", dave)  # same address and password, a new id

    def test_altered_truncated_and_other_mailbox_tickets_get_535(self):
        self.start_broker()
        ticket = self.ticket_of()
        altered = bytearray(ticket)
        altered[30] = ord("A") if altered[30] != ord("A") else ord("B")
        self.assert_refused(bytes(altered), "forged or altered")
        self.assert_refused(ticket[:-3], "malformed")
        self.assert_refused(ticket, "another mailbox's", ALICE)
        self.assertTrue(self.resume(ticket)[0].startswith("250 "), "the real one still works")

    def test_no_tickets_with_lifetime_0(self):
        self.start_broker()
        ticket = self.ticket_of()
        self.broker.terminate()
        self.broker.start(["--ticket-lifetime", "0"])
        status, data = self.raw().request("HELO", VERSION, BOB, DEMO_PASSWORD)
        self.assertTrue(status.startswith("250 "), status)
        self.assertEqual(data, [BOB.encode()], "no ticket")
        self.assert_refused(ticket, "tickets are off")


if __name__ == "__main__":
    unittest.main()
