"""End-to-end: the fixes of the outside security review (issue 11) against a real broker and
gateway, each with the reproducer from the report: SMTP smuggling through an over-long line,
local senders without AUTH, refusals counted toward the session's error limits, credentials
and forged lines kept out of the log, the EHLO reply and --hostname, EXPN, the DATA deadline."""
import base64
import os
import subprocess
import time
import unittest
from unittest import mock

os.environ["MAILBUS_LOG"] = "debug"  # the log checks look at every line the gateway can write
from mailbus_test.gateway import BROKER, GATEWAY, PASSWORD, Raw, Stack, wait_for
from mailbus_test.pop3 import Pop3Case, RawPop3

SMUGGLED = (b"MAIL FROM:<admin@demo.test>\r\nRCPT TO:<carol@demo.test>\r\nDATA\r\n"
            b"Subject: SMUGGLED\r\n\r\nx\r\n.\r\n")


def plain(user, password):
    return base64.b64encode(b"\0" + user + b"\0" + password).decode()


class SmtpCase(unittest.TestCase):
    gateway_env = {}  # more environment for this class's gateways only

    def setUp(self):
        with mock.patch.dict(os.environ, self.gateway_env):
            self.stack = Stack()
            self.stack.__enter__()
        self.addCleanup(self.stack.stop)

    def session(self, tls=False):
        r = Raw(self.stack.smtp_port)
        self.addCleanup(r.close)
        self.assertEqual(r.reply()[0], 220)
        self.assertEqual(r.cmd("EHLO hard.test")[0], 250)
        if tls:
            self.assertEqual(r.cmd("STARTTLS")[0], 220)
            r.starttls(self.stack.tls_context())
            self.assertEqual(r.cmd("EHLO hard.test")[0], 250)
        return r

    def open_data(self, r, sender="x@example.org", rcpt="bob@demo.test"):
        self.assertEqual(r.cmd("MAIL FROM:<%s>" % sender)[0], 250)
        self.assertEqual(r.cmd("RCPT TO:<%s>" % rcpt)[0], 250)
        self.assertEqual(r.cmd("DATA")[0], 354)


class Hardening(SmtpCase):
    # ---- 1: smuggling through an over-long line
    def assert_one_refusal_then_noop(self, r):
        code, text = r.reply()
        self.assertEqual(code, 550, text)
        # the next reply answers our NOOP: nothing behind the fake end ran as commands
        code, text = r.cmd("NOOP")
        self.assertEqual((code, text[4:9]), (250, "2.0.0"), text)

    def test_over_long_line_then_lf_dot_crlf_smuggles_nothing(self):
        r = self.session()
        self.open_data(r)
        r.send(b"Subject: x\r\n\r\nhello\r\n" + b"A" * 1100 + b"\n.\r\n" + SMUGGLED)
        self.assert_one_refusal_then_noop(r)
        self.assertEqual(self.stack.count("carol@demo.test"), 0)
        self.assertEqual(self.stack.count("bob@demo.test"), 0)

    def test_fuzzer_reproducer_1001_x_then_lf_dot_crlf(self):
        r = self.session()
        self.open_data(r)
        r.send(b"X" * 1001 + b"\n.\r\n" + SMUGGLED)
        self.assert_one_refusal_then_noop(r)
        self.assertEqual(self.stack.count("carol@demo.test"), 0)

    def test_over_long_line_alone_reads_to_the_real_end_then_550_5_6_0(self):
        r = self.session()
        self.open_data(r)
        r.send(b"Subject: x\r\n\r\n" + b"B" * 1100 + b"\r\n.\r\n")
        code, text = r.reply()
        self.assertEqual((code, text[4:9]), (550, "5.6.0"), text)
        self.assertEqual(r.cmd("NOOP")[0], 250)

    # ---- 4: local senders need AUTH
    def test_unauthenticated_local_sender_gives_530_5_7_0(self):
        r = self.session()
        for sender in ("alice@demo.test", "nobody@demo.test", "ALICE@DEMO.TEST"):
            code, text = r.cmd("MAIL FROM:<%s>" % sender)
            self.assertEqual((code, text[4:9]), (530, "5.7.0"), sender)
        # the MX role stays: other domains and the null sender of bounces
        self.assertEqual(r.cmd("MAIL FROM:<someone@example.org>")[0], 250)
        r.cmd("RSET")
        self.assertEqual(r.cmd("MAIL FROM:<>")[0], 250)
        self.assertEqual(r.cmd("RCPT TO:<bob@demo.test>")[0], 250)

    def test_authenticated_user_sends_as_itself_only(self):
        r = self.session(tls=True)
        self.assertEqual(r.cmd("AUTH PLAIN " + plain(b"alice@demo.test", PASSWORD.encode()))[0], 235)
        code, text = r.cmd("MAIL FROM:<bob@demo.test>")
        self.assertEqual((code, text[4:9]), (553, "5.7.1"))
        self.assertEqual(r.cmd("MAIL FROM:<alice@demo.test>")[0], 250)
        self.assertEqual(r.cmd("RCPT TO:<bob@demo.test>")[0], 250)
        self.assertEqual(r.cmd("DATA")[0], 354)
        self.assertEqual(r.cmd("Subject: mine\r\n\r\nok\r\n.")[0], 250)
        self.assertEqual(self.stack.count("bob@demo.test"), 1)

    def test_swaks_without_auth_as_local_sender_is_refused(self):
        r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % self.stack.smtp_port, "--from",
                            "alice@demo.test", "--to", "bob@demo.test", "--h-Subject", "forged"],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("530 5.7.0", r.stdout)
        self.assertEqual(self.stack.count("bob@demo.test"), 0)

    # ---- 7: refusals count toward the session's limits
    def test_three_failed_auths_end_the_session_with_421(self):
        r = self.session(tls=True)
        for i in range(2):
            self.assertEqual(r.cmd("AUTH PLAIN " + plain(b"alice@demo.test", b"wrong%d" % i))[0], 535)
        code, text = r.cmd("AUTH PLAIN " + plain(b"alice@demo.test", b"wrong"))
        self.assertEqual(code, 535, text)
        code, text = r.reply()
        self.assertEqual((code, text[4:9]), (421, "4.7.0"), text)
        self.assertTrue(r.closed())

    def test_unknown_recipients_slow_down_then_421_at_the_hard_limit(self):
        r = self.session()
        self.assertEqual(r.cmd("MAIL FROM:<x@example.org>")[0], 250)
        start = time.monotonic()
        codes = []
        for i in range(60):
            code, text = r.cmd("RCPT TO:<nobody%d@demo.test>" % i)
            codes.append(code)
            if code != 550:
                break
        elapsed = time.monotonic() - start
        self.assertEqual(codes[:20], [550] * 20)
        self.assertEqual((code, text[4:9]), (421, "4.7.0"), text)
        self.assertTrue(r.closed())
        # errors 11 to 19 each waited 1 s (Postfix smtpd_error_sleep_time)
        self.assertGreaterEqual(elapsed, 8.5)

    # ---- 8: no credential and no forged line in the log
    def test_auth_lines_with_bare_lf_never_reach_the_log(self):
        secret = b"S3cretPassw0rd"
        r = self.session(tls=True)
        b64 = plain(b"alice@demo.test", secret)
        r.send(("AUTH PLAIN %s\n" % b64).encode())
        self.assertEqual(r.reply()[0], 550)
        self.assertEqual(r.cmd("AUTH LOGIN")[0], 334)
        r.send(base64.b64encode(b"alice@demo.test") + b"\n")
        self.assertEqual(r.reply()[0], 550)
        self.assertEqual(r.cmd("AUTH LOGIN")[0], 334)
        self.assertEqual(r.cmd(base64.b64encode(b"alice@demo.test").decode())[0], 334)
        r.send(base64.b64encode(secret) + b"\n")
        self.assertEqual(r.reply()[0], 550)
        # a credential sent after a refused AUTH is an unknown command: its "verb" is not logged
        r.send(base64.b64encode(secret) + b"\r\n")
        self.assertEqual(r.reply()[0], 500)
        self.assertEqual(r.cmd("NOOP")[0], 250)
        log = self.stack.log("gateway")
        for leak in (b64, base64.b64encode(secret).decode(), secret.decode(),
                     base64.b64encode(secret).decode().upper()[:15]):
            self.assertNotIn(leak, log)

    def test_user_name_with_newline_forges_no_log_line(self):
        r = self.session(tls=True)
        forged = b"x\n2030-01-01T00:00:00.000Z info smtp auth session=1 user=admin@demo.test"
        code, _ = r.cmd("AUTH PLAIN " + plain(forged, b"pw"))
        self.assertIn(code, (535, 501))
        code, _ = r.cmd("AUTH LOGIN " + base64.b64encode(forged).decode())
        self.assertEqual(code, 334)
        self.assertIn(r.cmd(base64.b64encode(b"pw").decode())[0], (535, 501))
        self.assertEqual(r.cmd("NOOP")[0], 250)
        log = self.stack.log("gateway")
        self.assertNotIn("\n2030-01-01", log)  # no line of the log starts with the forged one
        self.assertIn('user="x\\n2030-01-01', log)  # it is there, escaped inside its quotes

    # ---- 10: EXPN
    def admin(self, *args):
        r = subprocess.run([BROKER, "--db", os.path.join(self.stack.var, "mailbus.db")] + list(args),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_expn_lists_members_only_for_0_1_and_3(self):
        lists = {"l0@demo.test": [], "l1@demo.test": ["bob@demo.test"],
                 "l3@demo.test": ["alice@demo.test", "bob@demo.test", "carol@demo.test"]}
        for name, members in lists.items():
            self.admin("list", "add", name)
            for m in members:
                self.admin("list", "subscribe", name, m)
        r = self.session(tls=True)
        self.assertEqual(r.cmd("AUTH PLAIN " + plain(b"alice@demo.test", PASSWORD.encode()))[0], 235)
        for name, members in lists.items():
            code, text = r.cmd("EXPN " + name)
            self.assertEqual(code, 250, text)
            lines = text.split("\n")
            if not members:
                self.assertEqual(lines, ["250 2.1.5 %s has no members" % name])
                continue
            self.assertEqual([line[10:] for line in lines], ["<%s>" % m for m in sorted(members)], text)
            self.assertEqual([line[:10] for line in lines],
                             ["250-2.1.5 "] * (len(members) - 1) + ["250 2.1.5 "])


class DataDeadline(SmtpCase):
    # ---- 6a: the DATA deadline, shortened to 1.5 s by MAILBUS_SMTP_DATA_DEADLINE_MS for this
    # class's gateway only: in the others' a loaded test slow to send its message after the 354
    # would meet it
    gateway_env = {"MAILBUS_SMTP_DATA_DEADLINE_MS": "1500"}

    def test_data_trickled_past_the_deadline_gives_451_4_4_2(self):
        r = self.session()
        self.open_data(r)
        r.sock.settimeout(0.2)
        start = time.monotonic()
        reply = b""
        for i in range(100):  # a line every 0.1 s would go on for 10 s
            try:
                r.send(b"line %d\r\n" % i)
                reply += r.sock.recv(512)
                break
            except TimeoutError:
                continue
            except OSError:
                break
        self.assertTrue(reply.startswith(b"451 4.4.2"), reply)
        self.assertLess(time.monotonic() - start, 8)
        r.sock.settimeout(10)
        self.assertTrue(r.closed())
        wait_for(lambda: "data-deadline" in self.stack.log("gateway"), what="data-deadline log line")
        self.assertEqual(self.stack.count("bob@demo.test"), 0)


class HostnameAndEhlo(unittest.TestCase):
    def gateway(self, hostname):
        return subprocess.run([GATEWAY, "--hostname", hostname], capture_output=True, text=True, timeout=30)

    def test_hostname_over_255_octets_or_not_a_domain_is_a_usage_error(self):
        for bad in ("a" * 400, ".".join(["b" * 63] * 4) + ".c", "a b", "-x.test", "x..test", "a\r\n250 x",
                    "a" * 64 + ".test"):
            r = self.gateway(bad)
            self.assertEqual(r.returncode, 64, bad)
            self.assertIn("--hostname", r.stderr)

    def test_ehlo_with_longest_hostname_and_argument_is_whole(self):
        hostname = ".".join(["h" * 63] * 3 + ["t" * 63])  # 255 octets
        with Stack(gateway_args=["--hostname", hostname]) as stack:
            r = Raw(stack.smtp_port)
            self.addCleanup(r.close)
            r.reply()
            arg = "e" * (512 - len("EHLO \r\n"))
            r.send(("EHLO %s\r\n" % arg).encode())
            lines = []
            while not lines or lines[-1][3] != " ":
                lines.append(r.line())
            self.assertTrue(all(line.startswith("250") for line in lines), lines)
            self.assertTrue(lines[0].startswith("250-" + hostname + " greets e"))
            self.assertEqual(lines[-1], "250 HELP")
            self.assertTrue(all(c.isprintable() for line in lines for c in line))
            self.assertEqual(r.cmd("NOOP")[0], 250)


class Pop3Siblings(Pop3Case):
    """The same classes in POP3, which reads its lines through conn.c too"""

    def session(self):
        r = RawPop3(self.stack.pop3_port)
        self.addCleanup(r.close)
        self.assertTrue(r.line().startswith(b"+OK"))
        return r

    def test_over_long_line_ending_in_bare_lf_is_refused_as_a_bare_lf(self):
        r = self.session()
        r.send(b"A" * 300 + b"\nNOOP\r\n")
        self.assertEqual(r.line(), b"-ERR lines end in CRLF")
        self.assertTrue(r.line().startswith(b"-ERR"))  # NOOP before login
        self.assertTrue(r.cmd("CAPA").startswith(b"+OK"))

    def test_auth_plain_with_bare_lf_never_reaches_the_log(self):
        r = self.session()
        self.assertTrue(r.cmd("STLS").startswith(b"+OK"))
        r.starttls(self.stack.tls_context())
        b64 = plain(b"bob@demo.test", b"S3cretPassw0rd")
        r.send(("AUTH PLAIN %s\n" % b64).encode())
        self.assertTrue(r.line().startswith(b"-ERR"))
        self.assertTrue(r.cmd("AUTH PLAIN").startswith(b"+ "))
        r.send(b64.encode() + b"\n")
        self.assertTrue(r.line().startswith(b"-ERR"))
        forged = b"x\n2030-01-01T00:00:00.000Z info pop3 login user=admin@demo.test"
        self.assertTrue(r.cmd("AUTH PLAIN " + plain(forged, b"pw")).startswith(b"-ERR"))
        log = self.stack.log("gateway")
        for leak in (b64, "S3cretPassw0rd", "\n2030-01-01"):
            self.assertNotIn(leak, log)


if __name__ == "__main__":
    unittest.main()
