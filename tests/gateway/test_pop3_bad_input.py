"""End-to-end: what a misbehaving or unlucky POP3 client does, each with its expected reply,
and the server still serving afterwards: sessions that end without QUIT delete nothing, a
locked maildrop, marked messages, wrong passwords, passwords in the clear, bad lines, commands
in the wrong state, too many errors, input pipelined behind STLS, the broker away."""
import base64
import poplib
import smtplib
import unittest

from mailbus_test.pop3 import PASSWORD, Pop3Case, wait_for


class Pop3Semantics(Pop3Case):
    def test_dele_then_disconnect_without_quit_deletes_nothing(self):
        self.publish("keep me")
        p = self.pop()
        p.dele(1)
        self.hang_up(p)
        self.assertEqual(self.count(), 1)

    def test_quit_removes_exactly_the_marked_messages(self):
        for n in range(3):
            self.publish("m%d" % n, attach=False)
        ids = [row[0] for row in self.deliveries()]
        p = self.pop()
        p.dele(1)
        p.dele(3)
        self.assertEqual(p.stat()[0], 1)
        self.assertEqual([line.split()[0] for line in p.list()[1]], [b"2"])
        self.assertIn(b"2 messages removed", p.quit())
        self.assertEqual([row[0] for row in self.deliveries()], [ids[1]])

    def test_quit_removes_marked_messages_past_one_broker_batch(self):
        """230 messages in, 227 marked: QUIT removes them in batched broker DELEs (100 ids each)
        and exactly the 3 unmarked ones stay"""
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as smtp:
            for n in range(230):
                smtp.sendmail("friend@outside.test", ["bob@demo.test"],
                              b"From: alice@demo.test\r\nTo: bob@demo.test\r\nSubject: b%d\r\n"
                              b"Message-ID: <batch-%d@demo.test>\r\n\r\nbody %d\r\n" % (n, n, n))
        ids = [row[0] for row in self.deliveries()]
        self.assertEqual(len(ids), 230)
        keep = {7, 100, 201}  # message numbers on both sides of a batch's edge
        p = self.pop()
        for n in range(1, 231):
            if n not in keep:
                p.dele(n)
        self.assertIn(b"227 messages removed", p.quit())
        self.assertEqual([row[0] for row in self.deliveries()], [ids[n - 1] for n in sorted(keep)])
        self.assertIn("removed=227 failed=0", self.stack.log("gateway"))

    def test_second_login_to_a_locked_mailbox_gets_in_use_until_the_first_ends(self):
        self.publish("locked")
        first = self.pop()
        q = self.pop(login=False)
        q.stls(self.stack.tls_context())
        q.user("bob@demo.test")
        with self.assertRaises(poplib.error_proto) as e:
            q.pass_(PASSWORD)
        self.assertEqual(e.exception.args[0], b"-ERR [IN-USE] mailbox locked by another session")
        # another mailbox is not locked
        self.assertTrue(self.pop(user="carol@demo.test").stat()[0] == 0)
        first.quit()  # its +OK comes after the lock was given back: no wait needed
        q.user("bob@demo.test")
        self.assertTrue(q.pass_(PASSWORD).startswith(b"+OK"))

    def test_a_login_right_after_the_reply_to_quit_finds_the_mailbox_free(self):
        """fetchmail and others QUIT and log in again at once: the maildrop lock is given back
        before the reply to QUIT (once the deletions are done), never after it"""
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as smtp:
            for n in range(30):
                smtp.sendmail("friend@outside.test", ["bob@demo.test"], b"Subject: round %d\r\n\r\nbody\r\n" % n)
        p = self.pop()
        for n in range(30):
            p.dele(1)
            self.assertIn(b"1 message removed", p.quit(), n)
            self.close(p)
            p = self.pop()  # poplib raises error_proto on "-ERR [IN-USE] ..."
        self.assertEqual(p.stat()[0], 0)
        p.quit()

    def test_a_session_closed_for_its_errors_gives_the_mailbox_back_before_its_last_reply(self):
        r = self.raw(tls=True)
        r.cmd("USER bob@demo.test")
        self.assertTrue(r.cmd("PASS " + PASSWORD).startswith(b"+OK"))
        for _ in range(19):
            self.assertTrue(r.cmd("RETR 99").startswith(b"-ERR"))
        self.assertEqual(r.cmd("RETR 99"), b"-ERR no such message")
        self.assertEqual(r.line(), b"-ERR too many errors, closing")
        self.pop().quit()  # at once: no [IN-USE]

    def test_retr_of_a_deleted_message_and_rset(self):
        self.publish("deleted")
        r = self.raw(tls=True)
        r.cmd("USER bob@demo.test")
        self.assertTrue(r.cmd("PASS " + PASSWORD).startswith(b"+OK"))
        self.assertEqual(r.cmd("DELE 1"), b"+OK message 1 deleted")
        self.assertEqual(r.cmd("RETR 1"), b"-ERR no such message")
        self.assertEqual(r.cmd("TOP 1 0"), b"-ERR no such message")
        self.assertEqual(r.cmd("LIST 1"), b"-ERR no such message")
        self.assertEqual(r.cmd("DELE 1"), b"-ERR message 1 already deleted")
        self.assertEqual(r.cmd("STAT"), b"+OK 0 0")
        self.assertTrue(r.cmd("RSET").startswith(b"+OK maildrop has 1 message "))
        self.assertTrue(r.cmd("LIST 1").startswith(b"+OK 1 "))
        self.assertEqual(r.cmd("RETR 2"), b"-ERR no such message")
        self.assertEqual(r.cmd("RETR 0"), b"-ERR no such message")
        self.assertTrue(r.cmd("QUIT").startswith(b"+OK"))
        self.assertEqual(self.count(), 1)


class Pop3Login(Pop3Case):
    def test_wrong_password_gets_auth_and_a_retry_works(self):
        p = self.pop(login=False)
        p.stls(self.stack.tls_context())
        p.user("bob@demo.test")
        with self.assertRaises(poplib.error_proto) as e:
            p.pass_("wrong")
        self.assertEqual(e.exception.args[0], b"-ERR [AUTH] invalid credentials")
        p.user("nobody@demo.test")
        with self.assertRaises(poplib.error_proto) as e:
            p.pass_(PASSWORD)
        self.assertEqual(e.exception.args[0], b"-ERR [AUTH] invalid credentials")  # same answer: no probing
        p.user("bob@demo.test")
        self.assertTrue(p.pass_(PASSWORD).startswith(b"+OK"))

    def test_plaintext_login_is_refused_and_not_advertised_before_stls(self):
        r = self.raw()
        self.assertEqual(r.cmd("CAPA"), b"+OK capability list follows")
        caps = r.multiline()
        self.assertIn(b"STLS", caps)
        self.assertNotIn(b"USER", caps)
        self.assertFalse(any(c.startswith(b"SASL") for c in caps))
        for line in ("USER bob@demo.test", "PASS demo", "AUTH PLAIN",
                     "AUTH PLAIN " + base64.b64encode(b"\0bob@demo.test\0demo").decode()):
            self.assertEqual(r.cmd(line), b"-ERR [AUTH] plaintext authentication needs TLS: use STLS first")
        self.assertTrue(r.cmd("STLS").startswith(b"+OK"))
        r.starttls(self.stack.tls_context())
        self.assertEqual(r.cmd("CAPA"), b"+OK capability list follows")
        caps = r.multiline()
        self.assertIn(b"USER", caps)
        self.assertIn(b"SASL PLAIN", caps)
        self.assertNotIn(b"STLS", caps)
        self.assertEqual(r.cmd("STLS"), b"-ERR TLS already active")
        self.assertEqual(r.cmd("PASS demo"), b"-ERR USER first")
        self.assertEqual(r.cmd("AUTH LOGIN"), b"-ERR unsupported SASL mechanism (PLAIN only)")
        # RFC 4616 2: no NUL in the password (it used to cut the password short: "demo\0x" was "demo")
        nul = "AUTH PLAIN " + base64.b64encode(b"\0bob@demo.test\0demo\0x").decode()
        self.assertEqual(r.cmd(nul), b"-ERR [AUTH] malformed AUTH PLAIN response")
        self.assertEqual(r.cmd("USER bob@demo.test"), b"+OK send PASS")
        self.assertTrue(r.cmd("PASS demo").startswith(b"+OK"))

    def test_input_pipelined_behind_stls_is_discarded(self):
        r = self.raw()
        # RFC 2595 4 / CVE-2011-0411: the QUIT was sent in the clear; it must not be run inside TLS
        r.send(b"STLS\r\nQUIT\r\n")
        self.assertTrue(r.line().startswith(b"+OK"))
        r.starttls(self.stack.tls_context())
        self.assertEqual(r.cmd("CAPA"), b"+OK capability list follows")
        self.assertIn(b"USER", r.multiline())
        self.assertTrue(r.cmd("QUIT").startswith(b"+OK"))

    def test_broker_down_gives_sys_temp(self):
        self.stack.stop_broker()
        p = self.pop(login=False)
        p.stls(self.stack.tls_context())
        p.user("bob@demo.test")
        with self.assertRaises(poplib.error_proto) as e:
            p.pass_(PASSWORD)
        self.assertTrue(e.exception.args[0].startswith(b"-ERR [SYS/TEMP] "), e.exception.args[0])
        self.assertIn("TOP", p.capa())  # the session goes on


class Pop3PlaintextAllowed(Pop3Case):
    gateway_args = ("--allow-plaintext-auth",)

    def test_allow_plaintext_auth_accepts_and_advertises_user(self):
        self.publish("clear", attach=False)
        p = self.pop(login=False)
        self.assertIn("USER", p.capa())
        p.user("bob@demo.test")
        self.assertTrue(p.pass_(PASSWORD).startswith(b"+OK"))
        self.assertEqual(p.stat()[0], 1)
        p.quit()


class Pop3BadLines(Pop3Case):
    def test_bad_commands_get_err_and_the_session_goes_on(self):
        r = self.raw()
        for line, expect in ((b"XYZZY\r\n", b"-ERR unknown command"),
                             (b"STAT\r\n", b"-ERR log in first (USER/PASS or AUTH PLAIN)"),
                             (b"RETR 1\r\n", b"-ERR log in first (USER/PASS or AUTH PLAIN)"),
                             (b"NOOP\r\n", b"-ERR log in first (USER/PASS or AUTH PLAIN)"),
                             (b"A" * 300 + b"\r\n", b"-ERR line too long (255 octets at most)"),
                             (b"U" * 2000 + b"\r\n", b"-ERR line too long (255 octets at most)"),
                             (b"NOOP\n", b"-ERR lines end in CRLF"),
                             (b"NO\rOP\r\n", b"-ERR lines end in CRLF"),
                             (b"LIST\x00\r\n", b"-ERR NUL in command"),
                             (b"TOP  1 2\r\n", b"-ERR arguments are separated by single spaces"),
                             (b"QUIT now\r\n", b"-ERR wrong number of arguments")):
            r.send(line)
            self.assertEqual(r.line(), expect, line)
        self.assertTrue(r.cmd("CAPA").startswith(b"+OK"))
        r.multiline()

    def test_commands_in_the_wrong_state(self):
        self.publish("state", attach=False)
        r = self.raw(tls=True)
        r.cmd("USER bob@demo.test")
        self.assertTrue(r.cmd("PASS " + PASSWORD).startswith(b"+OK"))
        for line, expect in (("USER bob@demo.test", b"-ERR command not valid in this state"),
                             ("PASS demo", b"-ERR command not valid in this state"),
                             ("AUTH PLAIN", b"-ERR command not valid in this state"),
                             ("STLS", b"-ERR command not valid in this state"),
                             ("RETR x", b"-ERR no such message"),
                             ("TOP 1 x", b"-ERR TOP msg n: n is a number of lines"),
                             ("RETR 99999999999", b"-ERR no such message")):
            self.assertEqual(r.cmd(line), expect, line)
        self.assertEqual(r.cmd("NOOP"), b"+OK")
        self.assertEqual(r.cmd("CAPA"), b"+OK capability list follows")
        caps = r.multiline()
        self.assertNotIn(b"USER", caps)
        self.assertNotIn(b"STLS", caps)

    def test_twenty_bad_commands_close_the_session(self):
        r = self.raw()
        for n in range(19):
            self.assertEqual(r.cmd("BOGUS"), b"-ERR unknown command", n)
        self.assertEqual(r.cmd("BOGUS"), b"-ERR unknown command")
        self.assertEqual(r.line(), b"-ERR too many errors, closing")
        self.assertTrue(r.closed())
        # the server still serves others
        self.publish("still here", attach=False)
        self.assertEqual(self.pop().stat()[0], 1)

    def test_lock_is_released_when_the_session_is_closed_for_errors(self):
        self.publish("errors", attach=False)
        r = self.raw(tls=True)
        r.cmd("USER bob@demo.test")
        self.assertTrue(r.cmd("PASS " + PASSWORD).startswith(b"+OK"))
        r.cmd("DELE 1")
        for _ in range(20):
            r.send(b"XYZZY\r\n")
        wait_for(r.closed, what="the session to close")
        self.assertEqual(self.pop().stat()[0], 1)  # unlocked, and nothing deleted


if __name__ == "__main__":
    unittest.main()
