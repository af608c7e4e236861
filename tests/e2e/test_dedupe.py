"""Message-ID dedupe (issue 11, item 2): a retry is stored once and answered as the first time,
recipient by recipient; a split (same Message-ID, other recipients) reaches every recipient; other
content under a known Message-ID is never swallowed. Real broker, raw protocol client."""
import os
import unittest

from mailbus_test.broker import ALICE, BOB, CAROL, MailbusTestCase, message, status_code

NOBODY = "nobody@demo.test"


class DedupePerRecipient(MailbusTestCase):

    def setUp(self):
        super().setUp()
        self.start_broker([])

    def send(self, *rcpts, body, login=ALICE, sender=ALICE, password="demo"):
        """SEND sender rcpts body on a new session; the reply frames as text (status first)"""
        status, lines = self.raw(login, password).request("SEND", sender, *rcpts, body)
        return [status] + [line.decode() for line in lines]

    def count(self, user):
        return self.stat(user)[0]

    def gateway_identity(self):
        with open(os.path.join(self.broker.tmp, "var", "gateway.secret")) as f:
            return f.read().split()

    def test_a_split_transaction_with_one_message_id_reaches_every_recipient(self):
        # what an MTA does after 452 4.5.3 at recipient 101: the rest in a second transaction
        body = message("split", "one message, two transactions", message_id="<split-1@demo.test>")
        first = self.send(BOB, body=body)
        second = self.send(CAROL, body=body)
        self.assertEqual(status_code(first[0]), 250, first)
        self.assertEqual(status_code(second[0]), 250, second)
        self.assertIn("carol@demo.test queued as", second[1])
        self.assertEqual(self.count(BOB), 1)
        self.assertEqual(self.count(CAROL), 1)
        self.integrity_ok()

    def test_an_identical_retry_is_stored_once_with_the_same_replies(self):
        body = message("retry", "sent twice, kept once", message_id="<retry-1@demo.test>")
        first = self.send(BOB, CAROL, NOBODY, BOB, body=body)
        self.assertEqual(first[0], "250 2.0.0 3 of 4 recipients accepted", first)
        self.assertEqual(status_code(first[3]), 550, first)
        self.assertIn("already queued (duplicate recipient)", first[4])
        again = self.send(BOB, CAROL, NOBODY, BOB, body=body)
        self.assertEqual(again, first)
        self.assertEqual(self.count(BOB), 1)
        self.assertEqual(self.count(CAROL), 1)
        self.assertEqual(self.broker.sql("SELECT count(*) FROM messages")[0][0], 1)
        self.integrity_ok()

    def test_a_retry_with_one_more_recipient_delivers_to_that_one_only(self):
        body = message("mixed", "bob first, then bob and carol", message_id="<mixed-1@demo.test>")
        first = self.send(BOB, body=body)
        again = self.send(BOB, CAROL, body=body)
        self.assertEqual(again[0], "250 2.0.0 2 of 2 recipients accepted", again)
        self.assertEqual(again[1], first[1])  # bob: the first answer, nothing stored again
        self.assertIn("carol@demo.test queued as", again[2])
        self.assertEqual(self.count(BOB), 1)
        self.assertEqual(self.count(CAROL), 1)
        # and once more, both known now: the same lines as the second time
        self.assertEqual(self.send(BOB, CAROL, body=body), again)
        self.assertEqual(self.count(CAROL), 1)

    def test_a_retry_with_new_trace_and_date_fields_is_still_the_same_message(self):
        # the gateway writes a Received: of its own (time, session) on every attempt
        body = message("trace", "resent by an MTA", message_id="<trace-1@demo.test>")
        first = self.send(BOB, body=body)
        # and a Date: where the first attempt had another (added when missing, RFC 6409 8.3)
        resent = (b"Received: from mta.example.org by gw.demo.test;\r\n\tMon, 23 Nov 2026 07:05:00 +0000\r\n"
                  b"Return-Path: <alice@demo.test>\r\n"
                  + body.replace(b"Date: Mon, 23 Nov 2026 07:00:00", b"Date: Mon, 23 Nov 2026 07:05:00"))
        self.assertNotEqual(resent.count(b"07:00:00"), body.count(b"07:00:00"))
        self.assertEqual(self.send(BOB, body=resent), first)
        self.assertEqual(self.count(BOB), 1)

    def test_other_content_under_a_known_message_id_is_not_swallowed(self):
        # the gateway identity may send as anyone: it must not be able to pre-empt alice's
        # message by sending something else first under the Message-ID alice will use
        user, password = self.gateway_identity()
        forged = message("forged", "not what alice wrote", message_id="<known-1@demo.test>")
        self.assertEqual(status_code(self.send(BOB, body=forged, login=user, password=password)[0]), 250)
        real = message("real", "what alice wrote", message_id="<known-1@demo.test>")
        reply = self.send(BOB, body=real)
        self.assertIn("bob@demo.test queued as", reply[1], reply)
        self.assertEqual(self.count(BOB), 2)
        rc, out, err = self.sub("list")
        self.assertIn("real", out)

    def test_message_ids_that_differ_beyond_what_is_kept_are_two_messages(self):
        # a Message-ID is kept to 512 octets: two longer ones with one prefix are still two
        prefix = "<" + "x" * 600
        one = message("long", "same body", message_id=prefix + "-one@demo.test>")
        two = message("long", "same body", message_id=prefix + "-two@demo.test>")
        self.send(BOB, body=one)
        self.send(BOB, body=two)
        self.assertEqual(self.count(BOB), 2)

    def test_a_retried_relay_recipient_is_queued_once(self):
        body = message("relay", "to another domain", message_id="<relay-1@demo.test>")
        first = self.send("x@remote.test", body=body)
        self.assertIn("queued for relay as", first[1], first)
        self.assertEqual(self.send("x@remote.test", body=body), first)
        self.assertEqual(self.broker.sql("SELECT count(*) FROM outbound")[0][0], 1)
        # the split half to another remote recipient is queued too
        self.send("y@remote.test", body=body)
        self.assertEqual(self.broker.sql("SELECT count(*) FROM outbound")[0][0], 2)

    def test_a_message_id_with_quotes_and_fields_reaches_the_log_quoted(self):
        evil = '<a@demo.test> mailbox=root@demo.test "x'
        body = message("evil", "log me", message_id=evil)
        first = self.send(BOB, body=body)
        self.assertEqual(self.send(BOB, body=body), first)
        lines = [l for l in self.broker.log().splitlines() if " duplicate " in l]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn('message-id="<a@demo.test> mailbox=root@demo.test \\"x"', lines[0])


if __name__ == "__main__":
    unittest.main()
