"""End-to-end: what no well-behaved IMAP client sends, on a raw socket, to a real gateway and
broker: each gets a clear tagged BAD or NO with the right response code, is logged, crashes
nothing and loses no stored mail; a client vanishing mid-IDLE and a broker killed during IDLE."""
import base64
import re
import sqlite3
import time
import unittest

from mailbus_test.imap import ImapCase


class ImapBadInput(ImapCase):
    gateway_args = ("--imap-timeout", "20")

    def alive(self):
        """The gateway still answers, and bob's mail is all there"""
        r = self.raw_imap(login=True)
        untagged, ok = r.cmd("SELECT INBOX")
        self.assertIn(b"OK", ok)
        return untagged

    def test_unbalanced_parens_unknown_command_wrong_state(self):
        r = self.raw_imap()
        _, bad = r.cmd("FROB")
        self.assertIn(b"BAD", bad)
        _, bad = r.cmd("SELECT INBOX")  # before LOGIN
        self.assertIn(b"BAD", bad)
        r = self.raw_imap(login=True)
        _, bad = r.cmd("FETCH 1 FLAGS")  # before SELECT
        self.assertIn(b"BAD", bad)
        r.cmd("SELECT INBOX")
        _, bad = r.cmd("FETCH 1:* (FLAGS")
        self.assertIn(b"BAD", bad)
        _, bad = r.cmd("SEARCH (OR SEEN")
        self.assertIn(b"BAD", bad)
        _, bad = r.cmd("FETCH 99 FLAGS")  # no such message number
        self.assertIn(b"BAD", bad)
        self.assertIn("imap refused", self.stack.log("gateway"))

    def test_huge_literals_are_refused_before_their_octets(self):
        self.publish("kept", attach=False)
        r = self.raw_imap(login=True)
        r.send(b"a1 LOGIN {99999999999}\r\n")
        self.assertTrue(r.line().startswith(b"a1 BAD [LIMIT]"))
        r.send(b"a2 SELECT {65537}\r\n")  # one octet over IMAP_MAX_LITERAL
        self.assertTrue(r.line().startswith(b"a2 BAD [LIMIT]"))
        r.send(b"a3 SELECT {5}\r\n")
        self.assertTrue(r.line().startswith(b"+ "))
        r.send(b"INBOX\r\n")
        _, ok = r.tagged("a3")
        self.assertIn(b"OK", ok)
        # a non-synchronising literal over the limit: its octets are on their way, so BAD and close
        r.send(b"a4 APPEND INBOX {999999999+}\r\n")
        self.assertTrue(r.line().startswith(b"a4 BAD [LIMIT]"))
        self.assertTrue(r.line().startswith(b"* BYE [LIMIT]"))
        self.assertTrue(r.closed())
        self.assertIn(b"* 1 EXISTS", self.alive())

    def test_nul_bare_lf_and_long_lines(self):
        r = self.raw_imap(login=True)
        r.send(b"a1 NOOP\0\r\n")
        self.assertIn(b"BAD", r.line())
        r.send(b"a2 NOOP\n")
        self.assertIn(b"BAD", r.line())
        r.send(b"a3 SELECT " + b"x" * 8200 + b"\r\n")
        self.assertIn(b"BAD", r.line())
        _, ok = r.cmd("NOOP")
        self.assertIn(b"OK", ok)

    def test_bad_base64_in_authenticate(self):
        r = self.raw_imap(tls=True)
        _, bad = r.cmd("AUTHENTICATE PLAIN !!notbase64")
        self.assertIn(b"BAD", bad)
        r.send(b"a1 AUTHENTICATE PLAIN\r\n")
        self.assertEqual(r.line(), b"+ ")
        r.send(b"*\r\n")
        _, bad = r.tagged("a1")
        self.assertIn(b"BAD", bad)
        wrong = base64.b64encode(b"\0bob@demo.test\0wrong").decode()
        _, no = r.cmd("AUTHENTICATE PLAIN " + wrong)
        self.assertIn(b"NO [AUTHENTICATIONFAILED]", no)

    def test_a_thousand_pipelined_commands_answered_in_order(self):
        self.publish("pipelined", attach=False)
        r = self.raw_imap(login=True)
        r.cmd("SELECT INBOX")
        r.send(b"".join(b"p%d %s\r\n" % (i, b"NOOP" if i % 2 else b"FETCH 1 (FLAGS)") for i in range(1000)))
        for i in range(1000):
            _, tagged = r.tagged("p%d" % i)
            self.assertTrue(tagged.startswith(b"p%d OK" % i), tagged)

    def test_too_many_bad_commands_end_the_session(self):
        r = self.raw_imap()
        for i in range(19):
            self.assertIn(b"BAD", r.cmd("FROB%d" % i)[1])
        r.send(b"x FROB\r\n")
        self.assertIn(b"BAD", r.line())
        self.assertTrue(r.line().startswith(b"* BYE"))
        self.assertTrue(r.closed())

    def test_client_vanishing_mid_idle(self):
        r = self.raw_imap(login=True)
        r.cmd("SELECT INBOX")
        r.send(b"i IDLE\r\n")
        self.assertEqual(r.line(), b"+ idling")
        r.close()
        self.wait_gateway_log("idle-vanished")
        # the broker's session and its watcher end with it (QUIT), not 15 s later
        deadline = time.monotonic() + 10
        while not re.search(r"session-end session=\S+ mailbox=bob@demo.test reason=(quit|disconnected)",
                            self.stack.broker.log()):
            self.assertLess(time.monotonic(), deadline, self.stack.broker.log()[-2000:])
            time.sleep(0.05)
        self.publish("after vanishing", attach=False)
        self.assertIn(b"* 1 EXISTS", self.alive())

    def test_broker_killed_during_idle_then_nothing_lost(self):
        self.publish("before the kill", attach=False)
        r = self.raw_imap(login=True)
        r.cmd("SELECT INBOX")
        r.send(b"i IDLE\r\n")
        self.assertEqual(r.line(), b"+ idling")
        self.stack.broker.kill9()
        # the session notices within its heartbeat and the broker call's bound
        self.assertTrue(r.wait_line(rb"^\* BYE", 25).startswith(b"* BYE"))
        self.assertTrue(r.closed())
        self.stack.broker.start()
        self.assertIn(b"* 1 EXISTS", self.alive())

    def test_delivery_ids_past_32_bits_get_a_clear_no_and_pop3_still_serves(self):
        """UIDs are delivery ids, and IMAP's UIDs are 32 bits (RFC 9051 2.3.1.1): a folder whose
        ids have passed 4294967295 is refused with NO [LIMIT] and logged, not shown with wrapped
        UIDs; the same mail is still there for POP3 (64-bit ids)"""
        self.stack.broker.terminate()
        con = sqlite3.connect(self.stack.broker.db)
        with con:
            con.execute("UPDATE sequences SET next = 4294967300 WHERE name = 'deliveries'")
        con.close()
        self.stack.broker.start()
        self.publish("past 32 bits", attach=False)
        r = self.raw_imap(login=True)
        _, no = r.cmd("SELECT INBOX")
        self.assertTrue(re.search(rb"NO \[LIMIT\].*4294967295", no), no)
        _, ok = r.cmd("NOOP")
        self.assertIn(b"OK", ok)
        pop = self.pop()
        self.assertEqual(pop.stat()[0], 1)
        self.assertIn(b"4294967300", b" ".join(pop.uidl()[1]))
        pop.quit()
        self.assertRegex(self.stack.log("gateway"), r"imap refused.*LIMIT")

    def test_a_full_mailbox_gets_an_alert_and_overquota(self):
        """APPEND and COPY past the mailbox's quota: "* OK [ALERT]" for the user to read, then
        NO [OVERQUOTA]; nothing stored; a message over the size limit is [LIMIT], not quota"""
        self.publish("fills it", attach=False)
        used = self.stack.broker.sql("SELECT used_bytes FROM mailboxes WHERE address = 'bob@demo.test'")[0][0]
        con = sqlite3.connect(self.stack.broker.db, timeout=10)
        with con:
            con.execute("UPDATE mailboxes SET quota_bytes = ? WHERE address = 'bob@demo.test'", (used + 10,))
        con.close()
        r = self.raw_imap(login=True)
        message = b"From: bob@demo.test\r\nSubject: draft\r\n\r\n" + b"x" * 200 + b"\r\n"
        r.send(b"a1 APPEND Sent {%d+}\r\n" % len(message) + message + b"\r\n")
        untagged, no = r.tagged("a1")
        self.assertIn(b"* OK [ALERT]", b"".join(untagged))
        self.assertIn(b"NO [OVERQUOTA]", no)
        r.cmd("SELECT INBOX")
        untagged, no = r.cmd("COPY 1 Trash")
        self.assertIn(b"[ALERT]", b"".join(untagged))
        self.assertIn(b"NO [OVERQUOTA]", no)
        self.assertEqual(self.stack.broker.sql("SELECT count(*) FROM deliveries"), [(1,)])


if __name__ == "__main__":
    unittest.main()
