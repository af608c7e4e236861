"""End-to-end: what a broken or hostile SMTP client sends, each with its expected reply, and
the server still serving afterwards."""
import contextlib
import ctypes
import datetime
import os
import signal
import socket
import subprocess
import time
import unittest

from mailbus_test.gateway import Raw, Stack, free_port, wait_for
from mailbus_test.process import freeze

SMALL = 20000  # --max-message-size of these tests


class SmtpBadInput(unittest.TestCase):
    def setUp(self):
        self.stack = Stack(gateway_args=["--max-message-size", str(SMALL)])
        self.stack.__enter__()

    def tearDown(self):
        self.stack.stop()

    def session(self):
        r = Raw(self.stack.smtp_port)
        self.addCleanup(r.close)
        self.assertEqual(r.reply()[0], 220)
        self.assertEqual(r.cmd("EHLO bad.test")[0], 250)
        return r

    def assertServing(self, r):
        code, text = r.cmd("NOOP")
        self.assertEqual(code, 250, text)
        # and a fresh connection still gets a whole transaction through
        with Raw(self.stack.smtp_port) as r2:
            r2.reply()
            r2.cmd("HELO again.test")
            self.assertEqual(r2.cmd("MAIL FROM:<x@example.org>")[0], 250)
            self.assertEqual(r2.cmd("RCPT TO:<carol@demo.test>")[0], 250)
            self.assertEqual(r2.cmd("DATA")[0], 354)
            r2.send(b"Subject: still serving\r\n\r\nok\r\n.\r\n")
            self.assertEqual(r2.reply()[0], 250)

    def smuggle(self, payload):
        r = self.session()
        self.assertEqual(r.cmd("MAIL FROM:<x@example.org>")[0], 250)
        self.assertEqual(r.cmd("RCPT TO:<bob@demo.test>")[0], 250)
        self.assertEqual(r.cmd("DATA")[0], 354)
        # the smuggled "end" and a second transaction behind it; the real end comes last
        r.send(b"Subject: smuggle\r\n\r\nhello" + payload +
               b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<carol@demo.test>\r\nDATA\r\n"
               b"Subject: smuggled\r\n\r\nevil\r\n.\r\n")
        code, text = r.reply()
        self.assertEqual(code, 550, text)
        self.assertIn("5.5.2", text)
        self.assertServing(r)
        self.assertEqual(self.stack.count("bob@demo.test"), 0)
        self.assertEqual(self.stack.count("carol@demo.test"), 1)  # assertServing's only

    def test_lf_dot_lf_never_ends_data(self):
        self.smuggle(b"\n.\n")

    def test_lf_dot_crlf_never_ends_data(self):
        self.smuggle(b"\n.\r\n")

    def test_cr_dot_crlf_never_ends_data(self):
        self.smuggle(b"\r.\r\n")

    def test_bare_lf_in_command_gives_550_5_5_2(self):
        r = self.session()
        r.send(b"NOOP\n")
        code, text = r.reply()
        self.assertEqual((code, text[4:9]), (550, "5.5.2"))
        self.assertServing(r)

    def test_starttls_discards_pipelined_noop(self):
        r = self.session()
        r.send(b"STARTTLS\r\nNOOP\r\n")
        code, text = r.reply()
        self.assertEqual(code, 220, text)
        r.starttls(self.stack.tls_context())
        # the first reply inside TLS answers our EHLO, never the injected NOOP
        r.send(b"EHLO after.test\r\n")
        first = r.line()
        self.assertTrue(first.startswith("250-gw.demo.test"), first)
        while not r.line().startswith("250 "):
            pass
        self.assertEqual(r.cmd("NOOP")[0], 250)
        self.assertIn("starttls-injection", self.stack.log("gateway"))

    def test_auth_before_starttls_gives_538(self):
        r = self.session()
        code, text = r.cmd("AUTH PLAIN AGFsaWNlQGRlbW8udGVzdABkZW1v")
        self.assertEqual((code, text[4:10]), (538, "5.7.11"))
        self.assertServing(r)

    def test_auth_bad_base64_and_cancel_give_501(self):
        r = self.session()
        r.cmd("STARTTLS")
        r.starttls(self.stack.tls_context())
        r.cmd("EHLO t.test")
        self.assertEqual(r.cmd("AUTH PLAIN !!notbase64!!")[0], 501)
        self.assertEqual(r.cmd("AUTH PLAIN")[0], 334)
        self.assertEqual(r.cmd("*")[0], 501)
        self.assertEqual(r.cmd("AUTH LOGIN")[0], 334)
        self.assertEqual(r.cmd("%%%")[0], 501)
        self.assertEqual(r.cmd("AUTH CRAM-MD5")[0], 504)
        self.assertEqual(r.cmd("NOOP")[0], 250)

    def test_relay_without_auth_gives_554_5_7_1(self):
        r = self.session()
        r.cmd("MAIL FROM:<x@example.org>")
        code, text = r.cmd("RCPT TO:<victim@elsewhere.test>")
        self.assertEqual((code, text[4:9]), (554, "5.7.1"))
        self.assertServing(r)

    def test_unknown_local_mailbox_gives_550_5_1_1(self):
        r = self.session()
        r.cmd("MAIL FROM:<x@example.org>")
        code, text = r.cmd("RCPT TO:<nobody@demo.test>")
        self.assertEqual((code, text[4:9]), (550, "5.1.1"))
        code, text = r.cmd("DATA")  # every recipient refused
        self.assertEqual(code, 554, text)
        self.assertServing(r)

    def test_101_recipients_gives_452_4_5_3(self):
        r = self.session()
        # 101 distinct recipients: other domains (queued for relay) need AUTH
        r.cmd("STARTTLS")
        r.starttls(self.stack.tls_context())
        r.cmd("EHLO many.test")
        self.assertEqual(r.cmd("AUTH PLAIN AGFsaWNlQGRlbW8udGVzdABkZW1v")[0], 235)
        self.assertEqual(r.cmd("MAIL FROM:<alice@demo.test>")[0], 250)
        r.send(b"".join(b"RCPT TO:<r%d@elsewhere.test>\r\n" % i for i in range(101)))
        codes = [r.reply() for _ in range(101)]
        self.assertTrue(all(c == 250 for c, _ in codes[:100]), codes[:5])
        self.assertEqual(codes[100][0], 452)
        self.assertIn("4.5.3", codes[100][1])
        self.assertServing(r)

    def test_size_parameter_too_big_gives_552(self):
        r = self.session()
        code, text = r.cmd("MAIL FROM:<x@example.org> SIZE=%d" % (SMALL + 1))
        self.assertEqual((code, text[4:9]), (552, "5.3.4"))
        self.assertServing(r)

    def test_content_too_big_gives_552(self):
        r = self.session()
        r.cmd("MAIL FROM:<x@example.org> SIZE=100")
        r.cmd("RCPT TO:<bob@demo.test>")
        self.assertEqual(r.cmd("DATA")[0], 354)
        r.send(b"Subject: big\r\n\r\n" + (b"x" * 98 + b"\r\n") * (SMALL // 100 + 10) + b".\r\n")
        code, text = r.reply()
        self.assertEqual((code, text[4:9]), (552, "5.3.4"))
        self.assertServing(r)
        self.assertEqual(self.stack.count("bob@demo.test"), 0)

    def test_2000_byte_command_line_gives_500(self):
        r = self.session()
        code, text = r.cmd("NOOP " + "a" * 1995)
        self.assertEqual((code, text[4:9]), (500, "5.5.2"))
        self.assertServing(r)

    def test_nul_bytes_give_500(self):
        r = self.session()
        r.send(b"NO\x00OP\r\n")
        code, text = r.reply()
        self.assertEqual(code, 500, text)
        r.send(b"MAIL FROM:<a\x00b@example.org>\r\n")
        self.assertEqual(r.reply()[0], 500)
        self.assertServing(r)

    def test_commands_out_of_sequence_give_503(self):
        r = Raw(self.stack.smtp_port)
        self.addCleanup(r.close)
        r.reply()
        self.assertEqual(r.cmd("MAIL FROM:<x@example.org>")[0], 503)  # before HELO
        r.cmd("EHLO seq.test")
        self.assertEqual(r.cmd("RCPT TO:<bob@demo.test>")[0], 503)  # before MAIL
        self.assertEqual(r.cmd("DATA")[0], 503)  # before MAIL
        r.cmd("MAIL FROM:<x@example.org>")
        self.assertEqual(r.cmd("MAIL FROM:<x@example.org>")[0], 503)  # nested
        self.assertEqual(r.cmd("SEND FROM:<x@example.org>")[0], 502)
        self.assertEqual(r.cmd("FROB")[0], 500)
        self.assertServing(r)

    def test_data_with_no_recipient_gives_503(self):
        r = self.session()
        r.cmd("MAIL FROM:<x@example.org>")
        code, text = r.cmd("DATA")
        self.assertEqual((code, text[4:9]), (503, "5.5.1"))
        self.assertServing(r)

    def test_dot_stuffing_is_undone(self):
        r = self.session()
        r.cmd("MAIL FROM:<x@example.org>")
        r.cmd("RCPT TO:<bob@demo.test>")
        r.cmd("DATA")
        r.send(b"Subject: dots\r\n\r\n..one\r\n...two\r\n.\r\n")
        self.assertEqual(r.reply()[0], 250)
        stored = self.stack.drain()[0]
        self.assertTrue(stored.endswith(b"\r\n\r\n.one\r\n..two\r\n"), stored)

    def test_a_message_without_the_empty_line_gets_it_where_its_body_starts(self):
        # RFC 5322 2.1 makes the body optional, and the empty line with it; the broker wants
        # the line, so the gateway puts it where Postfix's cleanup would
        cases = [(b"Subject: fields only\r\nX-Note: x\r\n", b"\r\nSubject: fields only\r\nX-Note: x\r\n\r\n"),
                 (b"Subject: mixed\r\nhello world\r\n", b"\r\nSubject: mixed\r\n\r\nhello world\r\n"),
                 (b"no fields at all\r\n", b"\r\n\r\nno fields at all\r\n"),
                 (b"", b"\r\n\r\n")]
        for data, _ in cases:
            r = self.session()
            r.cmd("MAIL FROM:<x@example.org>")
            r.cmd("RCPT TO:<bob@demo.test>")
            self.assertEqual(r.cmd("DATA")[0], 354)
            r.send(data + b".\r\n")
            self.assertEqual(r.reply()[0], 250, data)
            r.cmd("QUIT")
        stored = self.stack.drain()
        self.assertEqual(len(stored), len(cases))
        for message, (data, tail) in zip(stored, cases):
            self.assertTrue(message.endswith(tail), (data, message))
        self.assertIn("smtp mended", self.stack.log("gateway"))

    def test_20_bad_commands_close_with_421(self):
        r = self.session()
        for _ in range(19):
            self.assertEqual(r.cmd("FROB")[0], 500)
        code, _ = r.reply() if False else r.cmd("FROB")
        self.assertEqual(code, 500)
        code, text = r.reply()
        self.assertEqual(code, 421, text)
        self.assertTrue(r.closed())

    def test_broker_down_gives_451(self):
        r = self.session()
        self.stack.stop_broker()
        r.cmd("MAIL FROM:<x@example.org>")
        code, text = r.cmd("RCPT TO:<bob@demo.test>")
        self.assertEqual((code, text[4:9]), (451, "4.3.0"))


class SmtpSessionCap(unittest.TestCase):
    def test_beyond_max_sessions_gives_421_too_many_connections(self):
        with Stack(gateway_args=["--max-sessions", "2"]) as stack:
            # the harness's readiness probe was a session too: let it end first
            wait_for(lambda: "smtp disconnect" in stack.log("gateway"), what="the probe session to end")
            a, b = Raw(stack.smtp_port), Raw(stack.smtp_port)
            try:
                self.assertEqual(a.reply()[0], 220)
                self.assertEqual(b.reply()[0], 220)
                with Raw(stack.smtp_port) as c:
                    code, text = c.reply()
                    self.assertEqual(code, 421)
                    self.assertIn("4.3.2 too many connections", text)
                a.cmd("QUIT")
                a.close()
                # a slot frees up once a session ends

                def third():
                    with Raw(stack.smtp_port) as d:
                        return d.reply()[0] == 220
                wait_for(third, what="a free session slot")
            finally:
                a.close()
                b.close()


class GatewayStop(unittest.TestCase):
    @contextlib.contextmanager
    def rcpt_waiting_for_the_broker(self):
        """A session whose RCPT waits for a stopped broker: a local recipient is checked with
        the broker (VRFY through a pooled client). Yields the stack and the session; the
        broker is continued on the way out."""
        with Stack() as stack:
            wait_for(lambda: "smtp disconnect" in stack.log("gateway"), what="the probe session to end")
            with Raw(stack.smtp_port, timeout=60) as r:
                self.assertEqual(r.reply()[0], 220)
                self.assertEqual(r.cmd("EHLO client.example")[0], 250)
                self.assertEqual(r.cmd("MAIL FROM:<someone@example.org>")[0], 250)
                freeze(stack.broker.proc)
                try:
                    r.send(b"RCPT TO:<carol@demo.test>\r\n")
                    # the session has its RCPT once the gateway's kernel acknowledged it and holds
                    # nothing unread: then it is in (or goes straight into) its VRFY call
                    me, smtp = r.sock.getsockname()[1], stack.smtp_port
                    wait_for(lambda: tcp_queues(me, smtp)[0] == 0 and tcp_queues(smtp, me)[1] == 0,
                             what="the session to read its RCPT")
                    yield stack, r
                finally:
                    stack.broker.proc.send_signal(signal.SIGCONT)

    def test_a_stop_waits_for_a_session_in_the_middle_of_a_broker_call(self):
        with self.rcpt_waiting_for_the_broker() as (stack, r):
            stack.gateway.send_signal(signal.SIGTERM)
            wait_for(lambda: "stopping sessions=1" in stack.log("gateway"), what="the stop")
            # past the 5 s after which the gateway used to free the pool, the TLS context
            # and the session slots under the session (a double free under ASan)
            time.sleep(6)
            # the broker answers (or, on a machine too loaded to get here in time, the call ends
            # at its 10 s timeout), the session finds its socket shut down and ends, and so
            # does the gateway, cleanly
            stack.broker.proc.send_signal(signal.SIGCONT)
            self.assertEqual(stack.gateway.wait(timeout=40), 0, stack.log("gateway"))
            log = stack.log("gateway")
            self.assertIn("gateway stopped", log)
            self.assertNotIn("sessions-stuck", log)
            # by the gateway's own clock (not this process's, which a loaded machine delays):
            # it stopped after the session ended, more than 5.5 s after it began stopping
            lines = log.splitlines()
            stopping = next(i for i, line in enumerate(lines) if "gateway stopping sessions=1" in line)
            stopped = next(i for i, line in enumerate(lines) if "gateway stopped" in line)
            self.assertTrue(any("smtp disconnect" in line for line in lines[stopping:stopped]), log)
            self.assertGreater(log_time(lines[stopped]) - log_time(lines[stopping]), 5.5, log)

    def test_a_stop_signal_sent_to_a_session_thread_does_not_cut_its_broker_call(self):
        """The kernel gives a process's SIGTERM to any thread that does not block it. Every
        thread but the listener's loop blocks it, so it can never interrupt a session's broker
        call (which answered 451 where the stop should have let the call finish)."""
        libc = ctypes.CDLL(None, use_errno=True)
        with self.rcpt_waiting_for_the_broker() as (stack, r):
            pid = stack.gateway.pid
            threads = [int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]
            self.assertGreaterEqual(len(threads), 2)  # the session's, at least, and libzmq's
            for tid in threads:
                self.assertTrue(blocked(pid, tid, signal.SIGTERM) and blocked(pid, tid, signal.SIGINT),
                                f"thread {tid} takes SIGINT/SIGTERM")
                # what the kernel would do if it picked that thread
                self.assertEqual(libc.tgkill(pid, tid, signal.SIGTERM), 0, os.strerror(ctypes.get_errno()))
            time.sleep(0.5)
            self.assertIsNone(stack.gateway.poll(), stack.log("gateway"))
            self.assertNotIn("gateway stopping", stack.log("gateway"))
            # the broker answers, and the session's call was never cut short
            stack.broker.proc.send_signal(signal.SIGCONT)
            code, text = r.reply()
            self.assertEqual(code, 250, text)
            # a SIGTERM to the process still stops the gateway
            stack.gateway.send_signal(signal.SIGTERM)
            self.assertEqual(stack.gateway.wait(timeout=40), 0, stack.log("gateway"))
            self.assertIn("gateway stopped", stack.log("gateway"))


def tcp_queues(port, peer_port):
    """(unacknowledged bytes sent, bytes received unread) of the loopback TCP socket
    127.0.0.1:port connected to 127.0.0.1:peer_port, from /proc/net/tcp"""
    local, remote = "0100007F:%04X" % port, "0100007F:%04X" % peer_port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == local and fields[2] == remote:
                tx, rx = fields[4].split(":")
                return int(tx, 16), int(rx, 16)
    raise AssertionError("no socket %s -> %s in /proc/net/tcp" % (local, remote))


def log_time(line):
    """The time of a log line (2026-12-01T06:20:46.955Z ...) in seconds"""
    stamp = datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
    return stamp.replace(tzinfo=datetime.timezone.utc).timestamp()


def blocked(pid, tid, sig):
    """Whether thread tid of pid blocks sig (its SigBlk mask in /proc)"""
    with open(f"/proc/{pid}/task/{tid}/status") as status:
        for line in status:
            if line.startswith("SigBlk:"):
                return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    raise AssertionError(f"no SigBlk for thread {tid}")


class GatewayStartup(unittest.TestCase):
    def test_non_loopback_bind_without_certificate_is_refused(self):
        with Stack(start_gateway=False) as stack:
            cmd = stack.gateway_command(["--smtp", "0.0.0.0:%d" % free_port()])
            r = subprocess.run(cmd, cwd=stack.dir, capture_output=True, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"loopback", r.stderr)

    def test_self_signed_certificate_is_made_once_with_a_private_key(self):
        with Stack() as stack:
            key = os.path.join(stack.var, "gateway-key.pem")
            self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
            self.assertIn("sha256=", stack.log("gateway"))
            out = subprocess.run(["openssl", "x509", "-in", stack.cafile, "-noout", "-text"],
                                 capture_output=True, timeout=30).stdout
            self.assertIn(b"DNS:localhost", out)
            self.assertIn(b"IP Address:127.0.0.1", out)
            self.assertIn(b"CN = gw.demo.test", out)

    def test_help_shows_every_option_and_an_example(self):
        from mailbus_test.gateway import GATEWAY
        out = subprocess.run([GATEWAY, "--help"], capture_output=True, timeout=30).stdout.decode()
        for option in ("--config", "--broker", "--smtp", "--pop3", "--smtps", "--pop3s", "--tls-cert",
                       "--tls-key", "--gateway-secret", "--domain", "--hostname", "--allow-plaintext-auth",
                       "--max-sessions", "--verbose", "--help", "example"):
            self.assertIn(option, out)

    def test_bad_option_values_are_usage_errors_exit_64(self):
        from mailbus_test.gateway import GATEWAY
        cases = [(["--smarthost-tls", "maybe"], "--smarthost-tls takes starttls, implicit or none"),
                 (["--max-sessions", "0"], "--max-sessions takes a number from 1 to 10000"),
                 (["--max-message-size", "12x"], "--max-message-size takes a number"),
                 (["--relay-interval", "1"], "--relay-interval takes a number from 50"),
                 (["--fetch-interval", ""], "--fetch-interval takes a number"),
                 (["--tls-cert", "/nonexistent.pem"], "--tls-cert and --tls-key go together")]
        for args, text in cases:
            # checked before the secret is read or anything listens; under ASan nothing leaks
            p = subprocess.run([GATEWAY, "--gateway-secret", "/nonexistent"] + args, capture_output=True,
                               timeout=30)
            err = p.stderr.decode()
            self.assertEqual(p.returncode, 64, (args, err))
            self.assertIn(text, err)
            self.assertNotIn("Sanitizer", err)


if __name__ == "__main__":
    unittest.main()
