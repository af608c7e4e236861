"""Bad input on the wire (raw ZeroMQ DEALER): each gets its reply code, the broker keeps serving,
and the store stays intact (PRAGMA integrity_check, earlier messages still there)."""
import random
import sqlite3
import time
import unittest

from mailbus_test.broker import ALICE, BOB, BROKER, CAROL, DEMO_PASSWORD, VERSION, MailbusTestCase, message, run, wait_for

SMALL_LIMIT = 64 * 1024     # --max-message-size for most tests, so "oversize" is quick to send
DEFAULT_LIMIT = 10 * 1024 * 1024


def sized_message(subject, size):
    """A valid CRLF message of exactly size octets, lines of at most 78 octets."""
    data = message(subject, b"")
    left = size - len(data)
    assert left >= 3
    full, rest = divmod(left, 78)
    data += (b"z" * 76 + b"\r\n") * full
    if rest:
        if rest < 3:   # too short for a line of its own: lengthen the last full line instead
            data = data[:-78]
            rest += 78
            data += b"y" * (rest - 2 - 40) + b"\r\n" + b"y" * 38 + b"\r\n"
        else:
            data += b"y" * (rest - 2) + b"\r\n"
    assert len(data) == size, (len(data), size)
    return data


class BadInput(MailbusTestCase):
    broker_args = ("--max-message-size", str(SMALL_LIMIT))

    def setUp(self):
        super().setUp()
        self.start_broker()
        # an earlier message in bob's mailbox, which every test checks is still there at the end
        self.earlier = message("earlier", "stored before the bad input", message_id="<earlier@demo.test>")
        alice = self.raw(ALICE)
        status, data = alice.request("SEND", ALICE, BOB, self.earlier)
        self.assertTrue(status.startswith("250 2.0.0"), status)
        self.earlier_id = self.bob_ids()[0]

    def bob_ids(self):
        bob = self.raw(BOB)
        status, data = bob.request("LIST")
        self.assertTrue(status.startswith("250 "), status)
        return [line.split(b"\t")[0].decode() for line in data]

    def tearDown(self):
        self.assert_still_serving_and_store_intact()

    def assert_still_serving_and_store_intact(self):
        self.assertTrue(self.broker.running(), "broker died:\n" + self.broker.log())
        c = self.raw(BOB)
        status, _ = c.request("NOOP")
        self.assertEqual(status[:9], "250 2.0.0", status)
        status, data = c.request("RETR", self.earlier_id)
        self.assertTrue(status.startswith("250 "), "earlier message gone: " + status)
        self.assertEqual(data[0], self.earlier)
        self.integrity_ok()

    def assert_status(self, status, prefix):
        self.assertTrue(status.startswith(prefix + " "), "expected %s, got %r" % (prefix, status))

    # ---- malformed frames -------------------------------------------------------------

    def test_single_frame_without_verb_gives_500_5_5_2(self):
        c = self.raw()
        c.send("12")
        reply = c.recv_reply("12")
        self.assert_status(reply[1].decode(), "500 5.5.2")

    def test_a_flood_of_bad_requests_writes_a_bounded_log_and_says_what_it_left_out(self):
        """3,000 unknown verbs as fast as a client can send them: every one answered 500, but the
        broker writes at most 200 "refused" lines a second, and the first line after the flood
        carries suppressed=N (a flood must not fill the disk with one line)"""
        c = self.raw(ALICE)
        n = 3000
        started = time.monotonic()
        for i in range(n):
            c.send("f%d" % i, "FROBNICATE")
        for i in range(n):
            reply = c.recv_reply("f%d" % i)
            self.assert_status(reply[1].decode(), "500 5.5.1")
        seconds = time.monotonic() - started
        written = self.broker.log().count("verb=FROBNICATE")
        self.assertLess(written, n, "every refusal of the flood was logged")
        self.assertLessEqual(written, 200 * (int(seconds) + 2))
        time.sleep(1.1)
        status, _ = c.request("FROBNICATE")
        self.assert_status(status, "500 5.5.1")
        wait_for(lambda: "suppressed=" in self.broker.log(), 10, "a line saying how many were left out")

    def test_empty_verb_gives_500_5_5_2(self):
        c = self.raw(ALICE)
        c.send("13", "")
        self.assert_status(c.recv_reply("13")[1].decode(), "500 5.5.2")

    def test_empty_request_id_gives_500_5_5_2_with_dash_id(self):
        c = self.raw()
        c.send("", "NOOP")
        reply = c.recv_reply("-")
        self.assert_status(reply[1].decode(), "500 5.5.2")

    def test_request_id_of_33_octets_gives_500_5_5_2_with_dash_id(self):
        c = self.raw()
        c.send("x" * 33, "NOOP")
        self.assert_status(c.recv_reply("-")[1].decode(), "500 5.5.2")

    def test_reserved_star_request_id_gives_500_5_5_2(self):
        c = self.raw()
        c.send("*", "NOOP")
        self.assert_status(c.recv_reply("-")[1].decode(), "500 5.5.2")

    def test_lower_case_verb_gives_500_5_5_2(self):
        c = self.raw(ALICE)
        c.send("14", "noop")
        self.assert_status(c.recv_reply("14")[1].decode(), "500 5.5.2")

    def test_unknown_verb_gives_500_5_5_1(self):
        c = self.raw(ALICE)
        status, _ = c.request("FROBNICATE")
        self.assert_status(status, "500 5.5.1")
        status, _ = c.request("MAIL", "FROM:<alice@demo.test>")
        self.assert_status(status, "500 5.5.1")

    def test_truncated_send_without_message_frame_gives_501_5_5_4(self):
        c = self.raw(ALICE)
        status, data = c.request("SEND", ALICE, BOB)
        self.assert_status(status, "501 5.5.4")
        status, data = c.request("SEND", ALICE)
        self.assert_status(status, "501 5.5.4")
        status, data = c.request("SEND")
        self.assert_status(status, "501 5.5.4")
        self.assertEqual(self.bob_ids(), [self.earlier_id])

    def test_binary_garbage_frames_each_get_an_answer_or_are_dropped_and_broker_survives(self):
        rng = random.Random(20261123)
        c = self.raw(ALICE)
        sent = 300
        for i in range(sent):
            frames = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
                      for _ in range(rng.randrange(1, 6))]
            c.send(*frames)
        # then a real request on the same connection is still answered: the broker answers
        # requests of one connection in order, so this also proves it got past the garbage
        status, _ = c.request("NOOP", timeout=30)
        self.assert_status(status, "250 2.0.0")

    # ---- session --------------------------------------------------------------------

    def test_wrong_protocol_version_gives_501_5_5_4(self):
        c = self.raw()
        status, _ = c.request("HELO", "MAILBUS/2", ALICE, DEMO_PASSWORD)
        self.assert_status(status, "501 5.5.4")
        status, _ = c.request("HELO", "mailbus/1", ALICE, DEMO_PASSWORD)
        self.assert_status(status, "501 5.5.4")
        status, _ = c.request("HELO")
        self.assert_status(status, "501 5.5.4")
        # the session is still not identified
        status, _ = c.request("STAT")
        self.assert_status(status, "530 5.7.0")

    def test_helo_with_wrong_password_gives_535_5_7_8(self):
        c = self.raw()
        status, _ = c.request("HELO", VERSION, ALICE, "not-the-password")
        self.assert_status(status, "535 5.7.8")
        wrong_password_text = status[4:]
        # an unknown mailbox gets the very same answer: the reply does not tell which exist
        status, _ = c.request("HELO", VERSION, "nobody@demo.test", "not-the-password")
        self.assert_status(status, "535 5.7.8")
        self.assertEqual(status[4:], wrong_password_text)
        status, _ = c.request("STAT")
        self.assert_status(status, "530 5.7.0")

    def test_helo_with_bad_address_gives_501_5_1_7(self):
        c = self.raw()
        status, _ = c.request("HELO", VERSION, "a@", DEMO_PASSWORD)
        self.assert_status(status, "501 5.1.7")

    def test_verbs_before_helo_give_530_5_7_0(self):
        c = self.raw()
        for verb, args in (("STAT", ()), ("LIST", ()), ("RETR", (self.earlier_id,)),
                           ("DELE", (self.earlier_id,)), ("WATCH", ()),
                           ("SEND", (ALICE, BOB, message("x", "y"))), ("VRFY", (BOB,))):
            status, _ = c.request(verb, *args)
            self.assert_status(status, "530 5.7.0")
        self.assertEqual(self.bob_ids(), [self.earlier_id])

    # ---- SEND -----------------------------------------------------------------------

    def test_bad_recipient_addresses_get_501_5_1_3_each_while_valid_ones_get_250(self):
        c = self.raw(ALICE)
        bad = [b"a@", b"@b", b"x" * 300 + b"@demo.test", b"bob\x00evil@demo.test", b"bob\r\n@demo.test",
               b"bob@demo.test\r\nRCPT TO:<carol@demo.test>"]
        rcpts = [BOB.encode()] + bad + [CAROL.encode()]
        body = message("mixed recipients", "hello", message_id="<mixed@demo.test>")
        status, data = c.request("SEND", ALICE, *rcpts, body)
        self.assert_status(status, "250 2.0.0")
        self.assertIn("2 of %d" % len(rcpts), status)
        self.assertEqual(len(data), len(rcpts), data)
        lines = [d.decode("utf-8", "replace") for d in data]
        self.assert_status(lines[0], "250 2.0.0")
        for line in lines[1:-1]:
            self.assert_status(line, "501 5.1.3")
        self.assert_status(lines[-1], "250 2.0.0")
        # delivered to exactly the two valid ones
        self.assertEqual(len(self.bob_ids()), 2)
        carol = self.raw(CAROL)
        status, data = carol.request("STAT")
        self.assertTrue(status.startswith("250 2.0.0 1 message"), status)

    def test_bad_sender_address_gives_501_5_1_7(self):
        c = self.raw(ALICE)
        status, data = c.request("SEND", "alice@", BOB, message("x", "y"))
        self.assert_status(status, "501 5.1.7")

    def test_unknown_mailbox_gives_550_5_1_1_and_others_still_get_theirs(self):
        c = self.raw(ALICE)
        status, data = c.request("SEND", ALICE, "nobody@demo.test", BOB, message("unknown", "y"))
        self.assert_status(status, "250 2.0.0")
        self.assert_status(data[0].decode(), "550 5.1.1")
        self.assert_status(data[1].decode(), "250 2.0.0")
        # no recipient accepted: the status line carries the first recipient's code
        status, data = c.request("SEND", ALICE, "nobody@demo.test", "none@demo.test", message("none", "y"))
        self.assert_status(status, "550 5.1.1")
        self.assertEqual(len(data), 2)
        self.assertEqual(len(self.bob_ids()), 2)

    def test_sender_other_than_self_gives_553_5_7_1(self):
        c = self.raw(ALICE)
        status, data = c.request("SEND", BOB, CAROL, message("forged", "y", sender=BOB, to=CAROL))
        self.assert_status(status, "553 5.7.1")
        self.assertEqual(data, [])
        carol = self.raw(CAROL)
        status, _ = carol.request("STAT")
        self.assertTrue(status.startswith("250 2.0.0 0 messages"), status)

    def test_message_over_the_size_limit_gives_552_5_3_4(self):
        c = self.raw(ALICE)
        status, data = c.request("SEND", ALICE, BOB, sized_message("big", SMALL_LIMIT + 1))
        self.assert_status(status, "552 5.3.4")
        self.assertEqual(self.bob_ids(), [self.earlier_id])
        # exactly the limit is fine
        status, data = c.request("SEND", ALICE, BOB, sized_message("fits", SMALL_LIMIT))
        self.assert_status(status, "250 2.0.0")

    def test_bare_lf_in_message_gives_550_5_6_0(self):
        c = self.raw(ALICE)
        for bad in (b"From: alice@demo.test\nSubject: lf\n\nbare LF\n",
                    message("lf in body", b"one\ntwo\r\n"),
                    message("cr in body", b"one\rtwo\r\n"),
                    message("nul in body", b"one\x00two\r\n"),
                    b"no header section at all\r\n"):
            status, data = c.request("SEND", ALICE, BOB, bad)
            self.assert_status(status, "550 5.6.0")
        self.assertEqual(self.bob_ids(), [self.earlier_id])

    def test_more_than_100_recipients_gives_452_4_5_3(self):
        c = self.raw(ALICE)
        rcpts = [BOB] * 101
        status, data = c.request("SEND", ALICE, *rcpts, message("many", "y"))
        self.assert_status(status, "452 4.5.3")
        self.assertEqual(self.bob_ids(), [self.earlier_id])

    def test_a_request_of_5000_frames_gives_452_4_5_3_and_the_next_request_is_served(self):
        # the broker reads what a request may hold and drops the frames beyond it
        c = self.raw(ALICE)
        status, data = c.request("SEND", ALICE, *([BOB] * 4997), message("frames", "y"))
        self.assert_status(status, "452 4.5.3")
        status, data = c.request("NOOP")
        self.assert_status(status, "250")
        self.assertEqual(self.bob_ids(), [self.earlier_id])

    def test_same_message_id_twice_is_stored_once_with_the_same_reply(self):
        c = self.raw(ALICE)
        body = message("retry", "sent twice", message_id="<retry-1@demo.test>")
        first = c.request("SEND", ALICE, BOB, CAROL, body)
        second = c.request("SEND", ALICE, BOB, CAROL, body)
        self.assert_status(first[0], "250 2.0.0")
        self.assertEqual(second, first)
        self.assertEqual(len(self.bob_ids()), 2)
        # also from a new connection (a publisher retrying after a lost reply)
        third = self.raw(ALICE).request("SEND", ALICE, BOB, CAROL, body)
        self.assertEqual(third, first)
        self.assertEqual(len(self.bob_ids()), 2)
        rows = self.broker.sql("SELECT count(*) FROM messages WHERE subject = 'retry'")
        self.assertEqual(rows, [(1,)])

    # ---- other people's mail ----------------------------------------------------------

    def test_retr_and_dele_of_another_mailbox_message_give_550_5_2_0(self):
        alice = self.raw(ALICE)
        status, _ = alice.request("RETR", self.earlier_id)
        self.assert_status(status, "550 5.2.0")
        status, _ = alice.request("DELE", self.earlier_id)
        self.assert_status(status, "550 5.2.0")
        status, _ = alice.request("RETR", "999999")
        self.assert_status(status, "550 5.2.0")
        status, _ = alice.request("RETR", "not-a-number")
        self.assertTrue(status.startswith("501 ") or status.startswith("550 "), status)
        self.assertEqual(self.bob_ids(), [self.earlier_id])

    def test_watch_cannot_name_another_mailbox_and_pushes_only_ones_own_mail(self):
        alice = self.raw(ALICE)
        status, _ = alice.request("WATCH", BOB)
        self.assertTrue(status.startswith("5"), "WATCH bob@demo.test as alice: %r" % status)
        status, data = alice.request("WATCH")
        self.assertTrue(status.startswith("250 2.0.0 watching alice@demo.test"), status)
        sender = self.raw(CAROL)
        status, _ = sender.request("SEND", CAROL, BOB, message("for bob", "x", sender=CAROL))
        self.assert_status(status, "250 2.0.0")
        status, _ = sender.request("SEND", CAROL, ALICE, message("for alice", "x", sender=CAROL, to=ALICE))
        self.assert_status(status, "250 2.0.0")
        # pushes come in commit order: every push before alice's own must not be bob's
        while True:
            push = alice.recv(timeout=10)
            self.assertIsNotNone(push, "no NEW push for alice's own message")
            if push[0] != b"*":
                continue
            self.assertEqual(push[1], b"NEW")
            self.assertEqual(push[2], ALICE.encode(), push)
            if push[-1] == b"for alice":
                break

    def test_dele_twice_gives_250_then_550(self):
        alice = self.raw(ALICE)
        status, _ = alice.request("SEND", ALICE, BOB, message("to delete", "x"))
        ids = self.bob_ids()
        new_id = [i for i in ids if i != self.earlier_id][0]
        one, two = self.raw(BOB), self.raw(BOB)
        one.send("d1", "DELE", new_id)
        two.send("d2", "DELE", new_id)
        answers = sorted([one.recv_reply("d1")[1].decode()[:9], two.recv_reply("d2")[1].decode()[:9]])
        self.assertEqual(answers, ["250 2.0.0", "550 5.2.0"])


    def test_list_pages_and_bad_cursors_or_page_sizes_give_501_5_5_4(self):
        """LIST after [limit] pages the mailbox; the old LIST without arguments still sends it
        all; a cursor or page size that is not a number in range is refused 501 5.5.4"""
        alice = self.raw(ALICE)
        for n in range(4):
            status, _ = alice.request("SEND", ALICE, BOB, message("page %d" % n, "x"))
            self.assertTrue(status.startswith("250 "), status)
        everything = self.bob_ids()
        self.assertEqual(len(everything), 5)
        bob = self.raw(BOB)
        pages, after = [], "0"
        while True:
            status, data = bob.request("LIST", after, "2")
            self.assertTrue(status.startswith("250 2.0.0 %d messages" % len(data)), status)
            pages.append([line.split(b"\t")[0].decode() for line in data])
            if "more after" not in status:
                break
            after = status.rsplit(" ", 1)[1]
            self.assertEqual(after, pages[-1][-1])
        self.assertEqual([len(p) for p in pages], [2, 2, 1])
        self.assertEqual(sum(pages, []), everything)
        status, data = bob.request("LIST", everything[-1])
        self.assertEqual((status[:22], data), ("250 2.0.0 0 messages", []))
        for args in (("x",), ("-1",), ("1.5",), ("",), ("0", "0"), ("0", "10001"), ("0", "-5"), ("0", "ten"),
                     ("9" * 30,), ("0", "2", "3")):
            status, data = bob.request("LIST", *args)
            self.assertEqual(status[:9], "501 5.5.4", (args, status))
            self.assertEqual(data, [], args)
        wait_for(lambda: "verb=LIST reply=501" in self.broker.log(), 10, "the refusal logged")


class DedupeWindow(MailbusTestCase):
    """The Message-ID dedupe records last --dedupe-window seconds, not forever"""

    def publications(self, message_id):
        return self.broker.sql("SELECT count(*) FROM publications WHERE message_id = ?", (message_id,))[0][0]

    def test_a_retry_inside_the_window_is_deduped_and_one_after_it_is_stored_again(self):
        # a window of 10 s: the retry and the count below must come inside it on a loaded machine
        self.start_broker(["--dedupe-window", "10"])
        body = message("window", "sent three times", message_id="<window-1@demo.test>")
        client, retrying = self.raw(ALICE), self.raw(ALICE)  # both logins (Argon2id) before the window starts
        first = client.request("SEND", ALICE, BOB, body)
        self.assertTrue(first[0].startswith("250 2.0.0"), first)
        self.assertEqual(retrying.request("SEND", ALICE, BOB, body), first)
        self.assertEqual(self.publications("<window-1@demo.test>"), 1)
        # forgotten once older than the window (the broker purges once a second)
        wait_for(lambda: self.publications("<window-1@demo.test>") == 0, 40, "the record forgotten")
        again = self.raw(ALICE).request("SEND", ALICE, BOB, body)
        self.assertTrue(again[0].startswith("250 2.0.0"), again)
        self.assertNotEqual(again, first)  # a new message id: stored again
        self.assertEqual(self.stat(BOB)[0], 2)
        self.assertEqual(self.publications("<window-1@demo.test>"), 1)
        self.integrity_ok()

    def test_a_backlog_of_old_records_goes_in_slices_while_new_ones_stay(self):
        self.start_broker([])
        self.broker.terminate()
        # 12,000 records from eight days ago (the default window is seven), as a broker that
        # was down for a while, or ran with a longer window, leaves them; put in while stopped
        con = sqlite3.connect(self.broker.db)
        with con:
            con.executemany("INSERT INTO publications (sender, message_id, recipient, reply, published_at) "
                            "VALUES (?, ?, 'bob@demo.test', '250 2.0.0 x', unixepoch() - 8 * 86400)",
                            ((ALICE, "<old-%d@demo.test>" % i) for i in range(12000)))
        con.close()
        self.broker.start()
        fresh = message("fresh", "inside the window", message_id="<fresh@demo.test>")
        first = self.raw(ALICE).request("SEND", ALICE, BOB, fresh)
        self.assertTrue(first[0].startswith("250 2.0.0"), first)
        wait_for(lambda: self.broker.sql("SELECT count(*) FROM publications")[0][0] == 1, 20,
                 "the old records forgotten")
        self.assertEqual(self.publications("<fresh@demo.test>"), 1)
        # an old one is no longer known: stored; the fresh one still is: the first reply
        old = message("old", "outside the window", message_id="<old-7@demo.test>")
        self.assertTrue(self.raw(ALICE).request("SEND", ALICE, BOB, old)[0].startswith("250 2.0.0"))
        self.assertEqual(self.raw(ALICE).request("SEND", ALICE, BOB, fresh), first)
        self.assertEqual(self.stat(BOB)[0], 2)
        self.integrity_ok()

    def test_a_bad_window_is_refused_at_start_with_exit_64(self):
        for value in ("0", "-5", "7d", "", "31536001"):
            rc, out, err = run([BROKER, "--db", self.tmp + "/bad.db", "--dedupe-window", value], timeout=30)
            self.assertEqual(rc, 64, (value, out, err))
            self.assertIn("--dedupe-window takes a number of seconds", err)


class DefaultSizeLimit(MailbusTestCase):

    def test_message_of_10_mib_plus_one_gives_552_5_3_4_with_the_default_limit(self):
        self.start_broker()
        c = self.raw(ALICE)
        body = sized_message("huge", DEFAULT_LIMIT + 1)
        status, _ = c.request("SEND", ALICE, BOB, body, timeout=60)
        self.assertTrue(status.startswith("552 5.3.4"), status)
        status, _ = c.request("NOOP")
        self.assertTrue(status.startswith("250 "), status)
        self.integrity_ok()


if __name__ == "__main__":
    unittest.main()
