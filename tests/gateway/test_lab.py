"""End-to-end: the gateway on a lab network. Listen addresses beyond loopback are refused
without a real certificate or --allow-self-signed-public; the certificate's fingerprint is
printed and is what openssl sees; across two real network namespaces a student's smtplib and
poplib (STARTTLS/STLS, fingerprint pinned) submit and retrieve while AUTH in clear text is
refused; and a stale gateway secret does not flood the broker's log."""
import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
import unittest

from mailbus_test.gateway import BROKER, GATEWAY, PASSWORD, Stack, free_port, wait_for
from mailbus_test.netns import NetnsPair

HERE = os.path.dirname(os.path.abspath(__file__))
FINGERPRINT = re.compile(r"sha256 Fingerprint=([0-9A-F]{2}(?::[0-9A-F]{2}){31})")
LAB_CLIENT = os.path.join(HERE, "lab_client.py")


def start_gateway(stack, smtp, pop3, extra=(), timeout=15):
    """Runs the gateway to completion when it refuses to start; returns (status, output)"""
    # IMAP off: its default port is fixed (1143), and a gateway the machine runs may hold it
    r = subprocess.run([GATEWAY, "-b", stack.endpoint, "--smtp", smtp, "--pop3", pop3, "--imap", "off", "--no-relay",
                        "--gateway-secret", os.path.join(stack.var, "gateway.secret")] + list(extra),
                       cwd=stack.dir, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


class ListenAddresses(unittest.TestCase):
    def setUp(self):
        self.stack = Stack(start_gateway=False)
        self.stack.__enter__()
        self.addCleanup(self.stack.stop)

    def test_every_address_beyond_loopback_is_refused_without_the_lab_flag(self):
        port = free_port()
        for address in ("0.0.0.0:%d" % port, "[::]:%d" % port, "0:%d" % port):
            status, out = start_gateway(self.stack, address, "off")
            self.assertEqual(status, 1, out)
            self.assertIn("is not loopback", out)
            self.assertIn("--allow-self-signed-public", out)

    def test_malformed_addresses_get_a_clear_error_and_no_listener(self):
        port = free_port()
        for address, why in (("127.0.0.1:%d;0.0.0.0:2" % port, "expected HOST:PORT"),
                             (":%d" % port, "no host"),
                             ("127.0.0.1:smtp", "port is a number"),
                             ("127.0.0.1:%d" % (port + 65536), "port is a number"),
                             ("127.0.0.1:", "port is a number"),
                             ("::1:%d" % port, "between brackets"),
                             ("127.0.0.1\r\n:25", "not a host name")):
            status, out = start_gateway(self.stack, "off", address)
            self.assertEqual(status, 1, out)
            self.assertIn(why, out)
            self.assertNotIn("listening", out)
            self.assertNotIn("\r\n:25", out)  # what was given comes back quoted

    def test_printed_fingerprint_is_what_openssl_sees(self):
        port = free_port()
        out_path = os.path.join(self.stack.dir, "gateway.out")
        with open(out_path, "wb") as out:
            gw = subprocess.Popen([GATEWAY, "-b", self.stack.endpoint, "--smtp", "127.0.0.1:%d" % port, "--pop3",
                                   "off", "--imap", "off", "--no-relay", "--gateway-secret",
                                   os.path.join(self.stack.var, "gateway.secret")],
                                  cwd=self.stack.dir, stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: (gw.terminate(), gw.wait(10)))

        def printed():
            with open(out_path) as f:
                return FINGERPRINT.search(f.read())
        printed = wait_for(printed, what="the fingerprint on stdout").group(1)
        wait_for(lambda: self.stack._banner(port), what="SMTP banner")
        chain = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-starttls", "smtp"],
                               input="", capture_output=True, text=True, timeout=30).stdout
        x509 = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=chain,
                              capture_output=True, text=True, timeout=30)
        self.assertIn("Fingerprint=" + printed, x509.stdout)


class LabNetwork(unittest.TestCase):
    """Host A runs the broker (on A's loopback) and the gateway on A's lab address; host B is
    a student's machine."""

    SMTP, POP3, BROKER_PORT = 2525, 1100, 5670

    def setUp(self):
        self.net = NetnsPair()
        self.addCleanup(self.net.close)
        self.dir = tempfile.mkdtemp(prefix="mailbus-lab-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.var = os.path.join(self.dir, "var")
        os.makedirs(self.var)
        self.endpoint = "tcp://127.0.0.1:%d" % self.BROKER_PORT
        self.broker_log = open(os.path.join(self.dir, "broker.log"), "wb")
        self.addCleanup(self.broker_log.close)
        self.net.popen_a([BROKER, "--db", os.path.join(self.var, "mailbus.db"), "--bind", self.endpoint],
                         cwd=self.dir, stdout=self.broker_log, stderr=subprocess.STDOUT)
        secret = os.path.join(self.var, "gateway.secret")
        wait_for(lambda: os.path.exists(secret) and os.path.getsize(secret) > 0, what="gateway.secret")

    def gateway_argv(self, *extra):
        a = self.net.a_ip
        return [GATEWAY, "-b", self.endpoint, "--smtp", "%s:%d" % (a, self.SMTP), "--pop3", "%s:%d" % (a, self.POP3),
                "--gateway-secret", os.path.join(self.var, "gateway.secret"), "--no-relay"] + list(extra)

    def start_lab_gateway(self):
        out_path = os.path.join(self.dir, "gateway.out")
        with open(out_path, "wb") as out:
            gw = self.net.popen_a(self.gateway_argv("--allow-self-signed-public"), cwd=self.dir, stdout=out,
                                  stderr=subprocess.STDOUT)

        def printed():
            with open(out_path) as f:
                text = f.read()
            self.assertIsNone(gw.poll(), text)
            return "address=%s:%d" % (self.net.a_ip, self.POP3) in text and FINGERPRINT.search(text)
        return wait_for(printed, what="the gateway listening on the lab address").group(1)

    def client_b(self, *args):
        r = self.net.run_b([sys.executable, LAB_CLIENT] + [str(a) for a in args], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def test_student_on_host_b_submits_and_retrieves_over_tls_with_the_pinned_fingerprint(self):
        fingerprint = self.start_lab_gateway()
        a = self.net.a_ip
        self.client_b("submit", a, self.SMTP, fingerprint, "alice@demo.test", PASSWORD, "bob@demo.test",
                      "across the lab")
        got = self.client_b("retrieve", a, self.POP3, fingerprint, "bob@demo.test", PASSWORD)
        self.assertIn("Subject: across the lab", got)
        self.assertIn("across the lab network", got)

    def test_a_wrong_fingerprint_stops_the_client_before_its_password(self):
        self.start_lab_gateway()
        wrong = ":".join(["00"] * 32)
        r = self.net.run_b([sys.executable, LAB_CLIENT, "submit", self.net.a_ip, str(self.SMTP), wrong, "alice@demo.test",
                            PASSWORD, "bob@demo.test", "never"], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("is not the pinned", r.stderr)

    def test_auth_in_clear_text_from_host_b_is_refused(self):
        self.start_lab_gateway()
        out = self.client_b("plain-auth", self.net.a_ip, self.SMTP, self.POP3, "bob@demo.test", PASSWORD)
        # RFC 4954 4: 538 5.7.11 "encryption required" (530 5.7.0 would also be a refusal)
        self.assertRegex(out, r"smtp AUTH 53[08] ")
        self.assertRegex(out, r"pop3 -ERR")
        self.assertNotIn("PASS accepted", out)

    def test_without_the_lab_flag_the_gateway_refuses_the_lab_address(self):
        r = self.net.run_a(self.gateway_argv(), cwd=self.dir, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn('"%s:%d" is not loopback' % (self.net.a_ip, self.SMTP), r.stderr)
        # nothing listens there: host B's connection is refused
        probe = self.net.run_b([sys.executable, "-c", "import socket; socket.create_connection(('%s', %d), 5)"
                                % (self.net.a_ip, self.SMTP)], capture_output=True, text=True, timeout=30)
        self.assertIn("ConnectionRefusedError", probe.stderr)


class ServerKeyOption(unittest.TestCase):
    def test_a_bad_server_key_is_a_usage_error(self):
        p = subprocess.run([GATEWAY, "--server-key", "not-a-key", "--gateway-secret", "/nonexistent"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 64, p.stderr)
        self.assertIn("--server-key not-a-key: not a key", p.stderr)
        help_text = subprocess.run([GATEWAY, "--help"], capture_output=True, text=True, timeout=30).stdout
        self.assertIn("--server-key", help_text)


class StaleSecret(unittest.TestCase):
    SECONDS = 12

    def test_a_refused_gateway_identity_is_retried_with_backoff_not_twice_a_second(self):
        with Stack(gateway_args=["--relay-interval", "200"]) as stack:
            with open(os.path.join(stack.var, "gateway.secret")) as f:
                identity = f.read().split()[0]
            # the broker's gateway password changes under the running gateway: its secret is stale
            subprocess.run([BROKER, "--db", os.path.join(stack.var, "mailbus.db"), "mailbox", "passwd", identity,
                            "--password", "changed-under-it"], cwd=stack.dir, check=True, capture_output=True,
                           timeout=60)
            # the broker restarts: the gateway's clients must identify again, with the old password
            stack.stop_broker()
            stack.start_broker()
            wait_for(lambda: "reply=535" in stack.log("broker"), timeout=30, what="the first refused HELO")
            time.sleep(self.SECONDS)  # the observation window itself, not a wait for an event
            refused = stack.log("broker").count("verb=HELO reply=535")
            print("refused HELOs in %d s: %d" % (self.SECONDS, refused), file=sys.stderr)
            gateway_log = stack.log("gateway")
            # waits of 0.5, 1, 2, 4, 8 s: 6 attempts in 12 s with the one that met the restart (a fixed 0.5 s gave 10 or more,
            # each costing the broker an Argon2id check)
            self.assertLessEqual(refused, 7, gateway_log)
            steps = [int(ms) for ms in re.findall(r"relay-no-broker .*retry-in-ms=(\d+)", gateway_log)]
            self.assertEqual(steps[:3], [500, 1000, 2000], gateway_log)
            self.assertNotIn("changed-under-it", gateway_log)

            # SMTP sessions without AUTH go through the pool: a burst of them costs the broker the
            # refused HELOs the pool's backoff allows in the burst's time, not one each. Counted
            # on the gateway (one "identity-refused" line per HELO the pool makes): the broker's
            # count also has the relay worker's own attempts, which a slow burst may meet
            before = stack.log("gateway").count("gateway identity-refused")
            started = time.monotonic()
            codes = [self.mail_without_auth(stack) for _ in range(self.SESSIONS)]
            elapsed = time.monotonic() - started
            self.assertEqual(set(codes), {451}, codes)
            more = stack.log("gateway").count("gateway identity-refused") - before
            print("refused HELOs for %d SMTP sessions in %.1f s: %d" % (self.SESSIONS, elapsed, more),
                  file=sys.stderr)
            # one at once, then one after each wait of 0.5, 1, 2, 4... s that fits (1 in a quick burst)
            allowed = 1 + sum(1 for k in range(1, self.SESSIONS) if 0.5 * (2 ** k - 1) <= elapsed)
            self.assertLess(allowed, self.SESSIONS, "a burst of %.1f s is too slow to tell" % elapsed)
            self.assertGreaterEqual(more, 1, stack.log("gateway"))
            self.assertLessEqual(more, allowed, stack.log("gateway"))

    SESSIONS = 8

    @staticmethod
    def mail_without_auth(stack):
        """The reply code a local delivery without AUTH gets (451 while the identity is refused)"""
        with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as s:
            code, _ = s.ehlo()
            code, _ = s.mail("alice@example.org")  # a local sender would need AUTH (530)
            if code == 250:
                code, _ = s.rcpt("bob@demo.test")
            return code


if __name__ == "__main__":
    unittest.main()
