"""End-to-end, issue 11 item 2: an SMTP client (smtplib) that sends one message (one Message-ID)
in two transactions to different recipients, as every MTA does when it splits recipients, gets
it delivered to all of them; a retry of the same transaction (the gateway writes a new Received:
each time) is stored once."""
import smtplib
import unittest

from mailbus_test.gateway import Stack

MESSAGE = (b"From: someone@example.org\r\nTo: undisclosed-recipients:;\r\nSubject: split by an MTA\r\n"
           b"Message-ID: <split-smtp-1@example.org>\r\n\r\none message, several transactions\r\n")


class SmtpDedupe(unittest.TestCase):
    def setUp(self):
        self.stack = Stack()
        self.stack.__enter__()
        self.addCleanup(self.stack.stop)

    def transaction(self, rcpts, message=MESSAGE):
        """One SMTP transaction on a new connection (as a retry after a lost ack opens one)"""
        s = smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30)
        self.addCleanup(s.close)
        refused = s.sendmail("someone@example.org", rcpts, message)
        s.quit()
        return refused

    def test_same_message_id_in_two_transactions_to_different_recipients_reaches_both(self):
        self.assertEqual(self.transaction(["bob@demo.test"]), {})
        self.assertEqual(self.transaction(["carol@demo.test", "alice@demo.test"]), {})
        for user in ("bob@demo.test", "carol@demo.test", "alice@demo.test"):
            self.assertEqual(self.stack.count(user), 1, user)

    def test_a_retried_transaction_is_stored_once_and_one_more_recipient_gets_it(self):
        self.assertEqual(self.transaction(["bob@demo.test"]), {})
        self.assertEqual(self.transaction(["bob@demo.test"]), {})  # the ack was lost: sent again
        self.assertEqual(self.stack.count("bob@demo.test"), 1)
        self.assertEqual(self.transaction(["bob@demo.test", "carol@demo.test"]), {})
        self.assertEqual(self.stack.count("bob@demo.test"), 1)
        self.assertEqual(self.stack.count("carol@demo.test"), 1)

    def test_other_content_under_the_same_message_id_is_delivered_too(self):
        self.assertEqual(self.transaction(["bob@demo.test"]), {})
        other = MESSAGE.replace(b"several transactions", b"something else entirely")
        self.assertEqual(self.transaction(["bob@demo.test"], other), {})
        self.assertEqual(self.stack.count("bob@demo.test"), 2)


if __name__ == "__main__":
    unittest.main()
