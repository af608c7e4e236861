"""End-to-end, issue 16: the gateway's broker client retries a transient refusal by itself. An
SMTP DATA whose SEND the broker answers 452 4.3.1 (its store write-locked by another connection,
as a student's sqlite3 in BEGIN IMMEDIATE holds it) is sent again with backoff; once the lock
goes, the message is stored exactly once and the SMTP client gets 250. With the lock held past
the gateway's retry budget, the SMTP client gets the broker's 452 4.3.1, and nothing is stored."""
import smtplib
import sqlite3
import threading
import unittest

from mailbus_test.gateway import Stack, wait_for

MESSAGE = (b"From: someone@example.org\r\nTo: bob@demo.test\r\nSubject: %s\r\n"
           b"Message-ID: <retry-%s@example.org>\r\n\r\nthrough a locked store\r\n")


class SmtpRetry(unittest.TestCase):
    def setUp(self):
        self.stack = Stack()
        self.stack.__enter__()
        self.addCleanup(self.stack.stop)

    def lock_store(self):
        con = sqlite3.connect(self.stack.broker.db, isolation_level=None, timeout=0)
        con.execute("BEGIN IMMEDIATE")
        self.addCleanup(con.close)
        return con

    def start_data(self, name):
        """An SMTP transaction up to RCPT (answered before the lock), then DATA in a thread"""
        s = smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=120)
        self.addCleanup(s.close)
        s.ehlo()
        self.assertEqual(s.mail("someone@example.org")[0], 250)
        self.assertEqual(s.rcpt("bob@demo.test")[0], 250)
        con = self.lock_store()
        result = {}
        thread = threading.Thread(target=lambda: result.update(reply=s.data(MESSAGE % (name, name))))
        thread.start()
        return con, thread, result

    def test_a_send_refused_452_is_retried_and_stored_once(self):
        con, thread, result = self.start_data(b"recovers")
        wait_for(lambda: "store-error" in self.stack.broker.log(), 60, "the broker's 452 (store-error)")
        con.execute("ROLLBACK")
        thread.join(120)
        self.assertEqual(result["reply"][0], 250, result)
        self.assertEqual(self.stack.count("bob@demo.test"), 1)
        rows = self.stack.broker.sql("select count(*) from messages where subject = 'recovers'")
        self.assertEqual(rows, [(1,)])

    def test_past_the_retry_budget_the_smtp_client_gets_452(self):
        con, thread, result = self.start_data(b"gives-up")
        thread.join(120)
        con.execute("ROLLBACK")
        self.assertEqual(result["reply"][0], 452, result)
        self.assertIn(b"4.3.1", result["reply"][1])
        self.assertIn("warn client gave-up", self.stack.log("gateway"))
        self.assertEqual(self.stack.broker.sql("select count(*) from messages where subject = 'gives-up'"), [(0,)])


if __name__ == "__main__":
    unittest.main()
