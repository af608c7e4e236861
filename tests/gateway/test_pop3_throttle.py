"""End-to-end: the gateway's per-address throttles (issue 11), with a real broker and gateway
and real clients (raw sockets, poplib-style lines, smtplib) from two loopback addresses: the
gateway listens on 127.0.0.1 only; a client socket bound to 127.0.0.2 is another address.
- too many idle connections from one address are refused before the session starts, SMTP and
  POP3 counted together, while another address is served; the slots come back on close;
- a flood of refusals is logged a few times, not once each;
- the POP3 autologout is settable and gives the slot back;
- failed logins delay more each time, across sessions and SASL/USER alike, then block the
  address (its new connections are refused at accept, SMTP too) until the block ends;
- no credential reaches the log in any form, and a user name cannot forge a log line;
- the options are in --help, and bad values are usage errors (exit 64)."""
import base64
import smtplib
import subprocess
import tempfile
import time
import unittest

from mailbus_test.gateway import GATEWAY
from mailbus_test.pop3 import PASSWORD, Pop3Case, RawPop3, wait_for

TOO_MANY_POP3 = b"-ERR [SYS/TEMP] too many connections from your address"
TOO_MANY_SMTP = b"4.7.0 too many connections from your address"
BLOCKED_POP3 = b"-ERR [SYS/TEMP] too many failures from your address, try again later"
BLOCKED_SMTP = b"4.7.0 too many failures from your address, try again later"
LOG_BURST = 5  # THROTTLE_LOG_BURST in gw_limits.h


def plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()


class ThrottleCase(Pop3Case):
    def setUp(self):
        super().setUp()
        self.held = []
        self.addCleanup(self.release)

    def release(self):
        for r in self.held:
            r.close()
        self.held = []

    def first_line(self, port, source="127.0.0.1"):
        """A new connection and the server's first line (b"" when it closed without one)"""
        r = RawPop3(port, source=source)
        self.addCleanup(r.close)
        try:
            return r, r.line()
        except (EOFError, OSError):
            return r, b""

    def admit(self, port, greeting, source="127.0.0.1"):
        """Holds one more session open; retried until admitted, since the harness's own
        readiness probe may still count for 127.0.0.1 for a moment"""
        def attempt():
            r, line = self.first_line(port, source)
            if line.startswith(greeting):
                self.held.append(r)
                return True
            r.close()
            return False
        wait_for(attempt, what="a session from " + source)

    def smtp_refusal(self, source="127.0.0.1"):
        with self.assertRaises(smtplib.SMTPConnectError) as e:
            smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=15, source_address=(source, 0))
        self.assertEqual(e.exception.smtp_code, 421)
        return e.exception.smtp_error

    def login(self, source="127.0.0.1", password=PASSWORD):
        """USER/PASS inside STLS from source; returns the reply to PASS"""
        r, line = self.first_line(self.stack.pop3_port, source)
        self.assertTrue(line.startswith(b"+OK"), line)
        self.assertTrue(r.cmd("STLS").startswith(b"+OK"))
        r.starttls(self.stack.tls_context())
        self.assertEqual(r.cmd("USER bob@demo.test"), b"+OK send PASS")
        reply = r.cmd("PASS " + password)
        r.close()
        return reply

    def log_lines(self, word):
        return [line for line in self.stack.log("gateway").splitlines() if word in line]


class PerAddressConnections(ThrottleCase):
    gateway_args = ("--max-connections-per-address", "3", "--max-sessions", "20")

    def test_idle_connections_beyond_the_cap_are_refused_while_another_address_is_served(self):
        pop3, smtp = self.stack.pop3_port, self.stack.smtp_port
        # three idle sessions from 127.0.0.1: two POP3, one SMTP (one cap for both)
        self.admit(pop3, b"+OK")
        self.admit(pop3, b"+OK")
        self.admit(smtp, b"220 ")
        r, line = self.first_line(pop3)
        self.assertEqual(line, TOO_MANY_POP3)
        self.assertTrue(r.closed())
        self.assertIn(TOO_MANY_SMTP, self.smtp_refusal())
        # 127.0.0.2 is another client: served, over POP3 (a whole login) and SMTP
        self.assertTrue(self.login(source="127.0.0.2").startswith(b"+OK"))
        s = smtplib.SMTP("127.0.0.1", smtp, timeout=15, source_address=("127.0.0.2", 0))
        self.assertEqual(s.noop()[0], 250)
        s.quit()
        # the refusals were logged, with the address the kernel gave (not anything the client said)
        self.assertTrue(self.log_lines("too-many-connections protocol=pop3 address=127.0.0.1 open=3 limit=3"))
        self.assertTrue(self.log_lines("too-many-connections protocol=smtp address=127.0.0.1 open=3 limit=3"))
        # closing the idle sockets gives the slots back
        self.release()
        for _ in range(3):
            self.admit(pop3, b"+OK")
        self.assertEqual(self.first_line(smtp)[1][:9], b"421 4.7.0")

    def test_a_flood_of_refusals_is_answered_each_time_but_logged_a_few_times(self):
        for _ in range(3):
            self.admit(self.stack.pop3_port, b"+OK")
        refusals = 60
        for _ in range(refusals):
            r, line = self.first_line(self.stack.pop3_port)
            self.assertEqual(line, TOO_MANY_POP3)
            r.close()
        logged = self.log_lines("too-many-connections protocol=pop3 address=127.0.0.1")
        self.assertGreaterEqual(len(logged), 1)
        # at most a burst per 10 s window; the run takes far less than the 12 windows it would need
        self.assertLessEqual(len(logged), 2 * LOG_BURST, logged)


class IdleTimeout(ThrottleCase):
    # 10 s, not 1: the held session must still be there when the second connection comes,
    # which a loaded machine may delay by seconds
    gateway_args = ("--pop3-timeout", "10", "--max-connections-per-address", "1")

    def test_pop3_autologout_is_settable_and_gives_the_slot_back(self):
        self.admit(self.stack.pop3_port, b"+OK")
        idle = self.held[0]
        self.assertEqual(self.first_line(self.stack.pop3_port)[1], TOO_MANY_POP3)
        idle.sock.settimeout(40)
        self.assertEqual(idle.line(), b"-ERR autologout: idle for 10 seconds")
        self.assertTrue(idle.closed())
        self.held = []
        self.admit(self.stack.pop3_port, b"+OK")



class SmtpIdleTimeout(ThrottleCase):
    gateway_args = ("--smtp-timeout", "1")

    def test_smtp_idle_timeout_is_settable(self):
        r, line = self.first_line(self.stack.smtp_port)
        self.assertTrue(line.startswith(b"220 "), line)
        r.sock.settimeout(15)
        self.assertTrue(r.line().startswith(b"421 4.4.2"))
        self.assertTrue(r.closed())


class SmtpBruteForce(ThrottleCase):
    gateway_args = ("--max-auth-failures", "3", "--auth-delay", "100", "--auth-block", "120")

    def test_smtp_auth_failures_count_for_the_address_and_block_it(self):
        import smtplib
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        codes = []
        for attempt in range(3):  # each session may fail up to 3 times; the address only 3 in all
            s = smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30)
            s.starttls(context=ctx)
            s.ehlo()
            s.user, s.password = "bob@demo.test", "wrong-%d" % attempt
            try:
                s.auth("PLAIN", s.auth_plain)  # one mechanism: smtplib's login() tries each
            except smtplib.SMTPResponseException as e:
                codes.append(e.smtp_code)
            except smtplib.SMTPServerDisconnected:
                codes.append("closed")
            s.close()
            if codes[-1] != 535:
                break
        # the third failure, from a third session, is the address's third: it gets the block
        # (counted before the refusal is sent, so no reconnect can slip in between)
        self.assertEqual(codes, [535, 535, 421], codes)
        # the address is blocked now: a new SMTP connection is refused before its greeting
        with self.assertRaises(smtplib.SMTPConnectError) as refused:
            smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30)
        self.assertEqual(refused.exception.smtp_code, 421)
        self.assertIn(b"too many failures", refused.exception.smtp_error)


class BruteForce(ThrottleCase):
    # a 20 s block: every check from the third failure to the login from 127.0.0.2 (TLS and an
    # Argon2id check) must fall inside it, which took a loaded machine more than 3 s
    gateway_args = ("--max-auth-failures", "3", "--auth-delay", "300", "--auth-block", "20")

    def test_failures_across_sessions_delay_more_then_block_the_address_but_not_others(self):
        first = self.raw(tls=True)
        second = self.raw(tls=True)
        self.assertEqual(first.cmd("USER bob@demo.test"), b"+OK send PASS")
        start = time.monotonic()
        self.assertEqual(first.cmd("PASS wrong-1"), b"-ERR [AUTH] invalid credentials")
        first_delay = time.monotonic() - start
        start = time.monotonic()
        self.assertEqual(second.cmd("AUTH PLAIN " + plain("bob@demo.test", "wrong-2")),
                         b"-ERR [AUTH] invalid credentials")
        second_delay = time.monotonic() - start
        self.assertGreaterEqual(first_delay, 0.3)
        self.assertGreaterEqual(second_delay, 0.6)  # doubled: the address, not the session, counts
        # a malformed SASL response is a failure too: the third blocks the address
        self.assertEqual(first.cmd("AUTH PLAIN !!not-base64!!"), BLOCKED_POP3)
        self.assertTrue(first.closed())
        # a session opened before the block may not go on guessing, even with the right password
        self.assertEqual(second.cmd("USER bob@demo.test"), b"+OK send PASS")
        self.assertEqual(second.cmd("PASS " + PASSWORD), BLOCKED_POP3)
        self.assertTrue(second.closed())
        # new connections from the address are refused at accept, SMTP too
        r, line = self.first_line(self.stack.pop3_port)
        self.assertEqual(line, BLOCKED_POP3)
        self.assertTrue(r.closed())
        self.assertIn(BLOCKED_SMTP, self.smtp_refusal())
        # another address logs in meanwhile
        self.assertTrue(self.login(source="127.0.0.2").startswith(b"+OK"))
        self.assertTrue(self.log_lines("gateway block address=127.0.0.1 event=auth failures=3 seconds=20"))
        self.assertTrue(self.log_lines("blocked-address protocol=pop3 address=127.0.0.1"))
        self.assertTrue(self.log_lines("blocked-address protocol=smtp address=127.0.0.1"))

        # the block ends (20 s after it began), and the address starts again
        def admitted():
            r, line = self.first_line(self.stack.pop3_port)
            r.close()
            return line.startswith(b"+OK")
        wait_for(admitted, timeout=60, what="the block to end")
        self.assertTrue(self.login().startswith(b"+OK"))


class LogHygiene(ThrottleCase):
    gateway_args = ("--verbose", "--auth-delay", "0", "--max-auth-failures", "1000")
    SECRET = "Sekr3t-Pw-"

    def secret(self, tag):
        return self.SECRET + tag

    def test_no_credential_reaches_the_log_and_a_user_name_cannot_forge_a_line(self):
        sent = []  # every credential, as sent, to look for in the log
        r = self.raw(tls=True)
        r.cmd("USER bob@demo.test")
        for tag, data, expect in (
                ("a", "PASS {}\r\n", b"-ERR [AUTH] invalid credentials"),
                ("b", "PASS {}\n", b"-ERR lines end in CRLF"),
                ("c", "PASS {}" + "x" * 400 + "\r\n", b"-ERR line too long (255 octets at most)"),
                ("d", "PASS {}\rx\r\n", b"-ERR lines end in CRLF"),
                ("e", "PASS {}\x00\r\n", b"-ERR NUL in command")):
            secret = self.secret(tag)
            sent.append(secret)
            r.send(data.format(secret).encode())
            self.assertEqual(r.line(), expect, tag)
        # AUTH exchanges: continuation lines bare LF, over-long, not base64, well-formed
        for tag, make, expect in (
                ("f", lambda pw: plain("bob@demo.test", pw) + "\n", b"-ERR lines end in CRLF"),
                ("g", lambda pw: pw * 200 + "\r\n", b"-ERR [AUTH] AUTH response too long"),
                ("h", lambda pw: pw + "\r\n", b"-ERR [AUTH] malformed AUTH PLAIN response"),
                ("i", lambda pw: plain("bob@demo.test", pw) + "\r\n", b"-ERR [AUTH] invalid credentials")):
            secret = self.secret(tag)
            line = make(secret)
            sent += [secret, line.strip()]
            self.assertEqual(r.cmd("AUTH PLAIN"), b"+ ", tag)
            r.send(line.encode())
            self.assertEqual(r.line(), expect, tag)
        r.close()
        # a user name with a line break: the log line it might forge, and a password with it
        r = self.raw(tls=True)
        forged = "evil\n2026-01-01T00:00:00.000Z info pop3 login session=1 method=FORGED mailbox=bob@demo.test"
        secret = self.secret("j")
        response = plain(forged, secret)
        sent += [secret, response]
        self.assertEqual(r.cmd("AUTH PLAIN " + response), b"-ERR [AUTH] invalid credentials")
        # a well-formed login, then a PASS where none is valid
        self.assertEqual(r.cmd("AUTH PLAIN " + plain("bob@demo.test", PASSWORD))[:3], b"+OK")
        secret = self.secret("k")
        sent.append(secret)
        self.assertEqual(r.cmd("PASS " + secret), b"-ERR command not valid in this state")
        self.assertTrue(r.cmd("QUIT").startswith(b"+OK"))
        wait_for(lambda: self.log_lines("pop3 end"), what="the session's end in the log")

        log = self.stack.log("gateway")
        for credential in sent + [plain("bob@demo.test", PASSWORD)]:
            self.assertNotIn(credential, log)
        self.assertNotIn(self.SECRET, log)
        for line in log.splitlines():
            self.assertFalse("FORGED" in line and "evil" not in line, line)
        self.assertTrue(self.log_lines('user="evil\\n2026-01-01'))


class ThrottleOptions(unittest.TestCase):
    OPTIONS = ("--max-connections-per-address", "--max-auth-failures", "--auth-delay", "--auth-block",
               "--smtp-timeout", "--pop3-timeout")

    def test_help_shows_the_throttle_options(self):
        out = subprocess.run([GATEWAY, "--help"], capture_output=True, timeout=30).stdout.decode()
        for option in self.OPTIONS:
            self.assertIn(option, out)
        self.assertIn("Throttles", out)

    def test_bad_throttle_values_are_usage_errors_exit_64(self):
        cases = [(["--max-connections-per-address", "0"], "--max-connections-per-address takes a number from 1"),
                 (["--max-auth-failures", "-3"], "--max-auth-failures takes a number from 1"),
                 (["--auth-delay", "16001"], "--auth-delay takes a number from 0 to 16000"),
                 (["--auth-block", "1e3"], "--auth-block takes a number"),
                 (["--smtp-timeout", ""], "--smtp-timeout takes a number"),
                 (["--pop3-timeout", "99999999999999999999"], "--pop3-timeout takes a number from 1 to 3600")]
        for args, text in cases:
            p = subprocess.run([GATEWAY, "--gateway-secret", "/nonexistent"] + args, capture_output=True, timeout=30)
            err = p.stderr.decode()
            self.assertEqual(p.returncode, 64, (args, err))
            self.assertIn(text, err)
            self.assertNotIn("Sanitizer", err)
        # the config file is checked the same way
        with tempfile.NamedTemporaryFile("w", suffix=".cfg") as cfg:
            cfg.write("gateway\n    pop3-timeout = 0\n")
            cfg.flush()
            p = subprocess.run([GATEWAY, "-c", cfg.name, "--gateway-secret", "/nonexistent"], capture_output=True,
                               timeout=30)
            self.assertEqual(p.returncode, 64)
            self.assertIn("--pop3-timeout takes a number from 1 to 3600", p.stderr.decode())


if __name__ == "__main__":
    unittest.main()
