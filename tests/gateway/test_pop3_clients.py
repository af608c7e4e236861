"""End-to-end: real, independent POP3 clients (Python poplib, curl, fetchmail, openssl
s_client) retrieve through a real mailbus-gateway, from a real broker, what mailbus-pub
published: byte for byte, headers, body and attachment."""
import base64
import os
import poplib
import subprocess
import unittest

from mailbus_test.pop3 import PASSWORD, Pop3Case


class Pop3Clients(Pop3Case):
    gateway_args = ("--pop3s", "127.0.0.1:{pop3s}")

    def test_poplib_stls_retrieves_byte_identical_message(self):
        published = self.publish("poplib")
        self.assertIn("STLS", self.pop(login=False).capa())
        p = self.pop()
        count, octets = p.stat()
        self.assertEqual((count, octets), (1, len(published)))
        self.assertEqual(p.list()[1], [b"1 %d" % len(published)])
        resp, lines, size = p.retr(1)
        self.assertEqual(b"\r\n".join(lines) + b"\r\n", published)
        self.assertEqual(self.deliveries()[0][1], "seen")  # RETR marks it seen in the broker
        uid = p.uidl(1).split()[-1]
        self.assertEqual(uid, str(self.deliveries()[0][0]).encode())  # UIDL = delivery id
        self.assertEqual(p.uidl()[1], [b"1 " + uid])
        p.dele(1)
        self.assertEqual(self.count(), 1)  # DELE only marks
        self.assertTrue(p.quit().startswith(b"+OK"))
        self.assertEqual(self.count(), 0)  # UPDATE removed it

    def test_list_and_quit_say_1_message_and_2_messages(self):
        published = self.publish("one", attach=False)
        p = self.pop()
        self.assertEqual(p.list()[0], b"+OK 1 message (%d octets)" % len(published))
        p.dele(1)
        self.assertEqual(p.quit(), b"+OK mailbus POP3 server signing off (1 message removed)")
        self.publish("two", attach=False)
        self.publish("three", attach=False)
        p = self.pop()
        self.assertTrue(p.list()[0].startswith(b"+OK 2 messages ("), p.list()[0])
        p.dele(1)
        p.dele(2)
        self.assertEqual(p.quit(), b"+OK mailbus POP3 server signing off (2 messages removed)")

    def test_poplib_pop3s_implicit_tls(self):
        published = self.publish("pop3s", attach=False)
        p = poplib.POP3_SSL("127.0.0.1", self.extra_ports["pop3s"], context=self.stack.tls_context(), timeout=15)
        self.addCleanup(self.close, p)
        caps = p.capa()
        self.assertIn("USER", caps)
        self.assertNotIn("STLS", caps)  # TLS is already on
        p.user("bob@demo.test")
        p.pass_(PASSWORD)
        self.assertEqual(b"\r\n".join(p.retr(1)[1]) + b"\r\n", published)
        p.quit()

    def test_uidl_is_stable_across_sessions_and_snapshot_fixed_at_login(self):
        self.publish("one", attach=False)
        self.publish("two", attach=False)
        p = self.pop()
        first = p.uidl()[1]
        self.assertEqual(len(first), 2)
        self.publish("three while logged in", attach=False)
        self.assertEqual(p.stat()[0], 2)  # messages 1..n are the login snapshot
        p.dele(1)
        p.quit()  # its +OK comes after the lock was given back: no wait needed
        q = self.pop()
        second = q.uidl()[1]
        self.assertEqual(len(second), 2)
        # message two keeps its UIDL though it is now number 1
        self.assertEqual(second[0].split()[1], first[1].split()[1])
        q.quit()

    def test_auth_plain_with_initial_response_and_continuation(self):
        published = self.publish("sasl", attach=False)
        token = base64.b64encode(b"\0bob@demo.test\0" + PASSWORD.encode()).decode()
        r = self.raw(tls=True)
        self.assertEqual(r.cmd("CAPA"), b"+OK capability list follows")
        self.assertIn(b"SASL PLAIN", r.multiline())
        self.assertTrue(r.cmd("AUTH PLAIN " + token).startswith(b"+OK bob@demo.test has 1 message "))
        r.cmd("QUIT")
        r = self.raw(tls=True)
        self.assertEqual(r.cmd("AUTH PLAIN"), b"+ ")
        self.assertTrue(r.cmd(token).startswith(b"+OK"))
        self.assertEqual(r.cmd("RETR 1"), b"+OK %d octets" % len(published))
        self.assertEqual(b"\r\n".join(r.multiline()) + b"\r\n", published)
        self.assertTrue(r.cmd("QUIT").startswith(b"+OK"))
        # cancelled and malformed exchanges
        r = self.raw(tls=True)
        self.assertEqual(r.cmd("AUTH PLAIN"), b"+ ")
        self.assertEqual(r.cmd("*"), b"-ERR AUTH cancelled")
        self.assertEqual(r.cmd("AUTH PLAIN !!notbase64"), b"-ERR [AUTH] malformed AUTH PLAIN response")
        bad = base64.b64encode(b"\0bob@demo.test\0wrong").decode()
        self.assertEqual(r.cmd("AUTH PLAIN " + bad), b"-ERR [AUTH] invalid credentials")
        self.assertTrue(r.cmd("AUTH PLAIN " + token).startswith(b"+OK"))

    def curl(self, *args, password=PASSWORD):
        return subprocess.run(["curl", "-s", "--ssl-reqd", "-u", "bob@demo.test:" + password] + list(args),
                              capture_output=True, timeout=30)

    def test_curl_ssl_reqd_lists_and_retrieves(self):
        published = self.publish("curl")
        base = "pop3://127.0.0.1:%d/" % self.stack.pop3_port
        # the self-signed certificate names localhost and 127.0.0.1: --cacert verifies it
        listing = self.curl("--cacert", self.stack.cafile, base)
        self.assertEqual(listing.returncode, 0, listing.stderr)
        self.assertEqual(listing.stdout, b"1 %d\r\n" % len(published))
        message = self.curl("--cacert", self.stack.cafile, base + "1")
        self.assertEqual(message.returncode, 0, message.stderr)
        self.assertEqual(message.stdout, published)
        insecure = self.curl("-k", base + "1")
        self.assertEqual(insecure.stdout, published)
        top = self.curl("-k", "-X", "TOP 1 0", base)
        self.assertEqual(top.returncode, 0, top.stderr)
        self.assertTrue(published.startswith(top.stdout))
        self.assertTrue(top.stdout.endswith(b"\r\n\r\n"))
        wrong = self.curl("-k", base, password="nope")
        self.assertEqual(wrong.returncode, 67, wrong.stderr)  # CURLE_LOGIN_DENIED
        self.assertEqual(self.count(), 1)

    def test_fetchmail_keep_then_fetch_all(self):
        self.fetchmail_keep_then_nokeep("%d protocol pop3 uidl" % self.stack.pop3_port)

    def test_fetchmail_without_certificate_check(self):
        published = self.publish("fetchmail nocheck", attach=False)
        out = os.path.join(self.stack.dir, "nocheck.eml")
        rc = os.path.join(self.stack.dir, "fetchmailrc2")
        with open(rc, "w") as f:
            f.write("poll 127.0.0.1 service %d protocol pop3\n"
                    "  user 'bob@demo.test' password '%s' is root here\n"
                    "  sslproto tls1.2+ no sslcertck\n"
                    "  mda 'cat > %s'\n" % (self.stack.pop3_port, PASSWORD, out))
        os.chmod(rc, 0o600)
        self.fetchmail(rc, "--nokeep")
        with open(out, "rb") as f:
            self.assertTrue(f.read().endswith(published.replace(b"\r\n", b"\n")))
        self.assertEqual(self.count(), 0)

    def test_openssl_s_client_starttls_pop3(self):
        published = self.publish("s_client")
        script = b"USER bob@demo.test\nPASS demo\nSTAT\nRETR 1\nQUIT\n"
        out = subprocess.run(["openssl", "s_client", "-quiet", "-starttls", "pop3", "-crlf", "-connect",
                              "127.0.0.1:%d" % self.stack.pop3_port, "-CAfile", self.stack.cafile],
                             input=script, capture_output=True, timeout=30)
        self.assertIn(b"+OK 1 %d\r\n" % len(published), out.stdout)
        # the RETR reply, un-stuffed, is the published message
        start = out.stdout.index(b"+OK %d octets\r\n" % len(published))
        body = out.stdout[start:].split(b"\r\n", 1)[1]
        body = body[:body.index(b"\r\n.\r\n") + 2]
        unstuffed = b"".join(line[1:] if line.startswith(b".") else line for line in body.splitlines(True))
        self.assertEqual(unstuffed, published)
        self.assertIn(b"signing off", out.stdout)

    def test_pipelined_commands_and_top(self):
        published = self.publish("pipelined")
        p = self.pop()
        p.sock.sendall(b"NOOP\r\nSTAT\r\nTOP 1 0\r\nLIST 1\r\n")
        self.assertEqual(p.file.readline(), b"+OK\r\n")
        self.assertEqual(p.file.readline(), b"+OK 1 %d\r\n" % len(published))
        self.assertTrue(p.file.readline().startswith(b"+OK"))
        header = []
        while True:
            line = p.file.readline()
            if line == b".\r\n":
                break
            header.append(line)
        self.assertEqual(b"".join(header), published[:published.index(b"\r\n\r\n") + 4])
        self.assertEqual(p.file.readline(), b"+OK 1 %d\r\n" % len(published))


if __name__ == "__main__":
    unittest.main()
