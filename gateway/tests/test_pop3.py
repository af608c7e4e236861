"""End-to-end: real, independent POP3 clients (Python poplib, curl, fetchmail, openssl
s_client) retrieve through a real mailbus-gateway from a real broker what mailbus-pub
published, byte for byte; and bad input gets its -ERR while the server goes on serving."""
import os
import poplib
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from gwharness import BUILD, PASSWORD, Stack, wait_for  # noqa: E402

PUB = os.path.join(BUILD, "publisher", "mailbus-pub")


class Pop3(unittest.TestCase):
    def setUp(self):
        self.stack = Stack()
        self.stack.__enter__()
        self.env = dict(os.environ, MAILBUS_BROKER=self.stack.endpoint, MAILBUS_PASSWORD=PASSWORD)

    def tearDown(self):
        self.stack.stop()

    def publish(self, subject, body="hello\n.leading dot\n..two dots\nbye", attach=True):
        args = [PUB, "-u", "alice@demo.test", "-t", "bob@demo.test", "-s", subject, "-m", body]
        if attach:
            path = os.path.join(self.stack.dir, "attachment.bin")
            with open(path, "wb") as f:
                f.write(bytes(range(256)) * 8)
            args += ["-a", path]
        out = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)

    def stored(self):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.stack.var, "mailbus.db"), uri=True)
        try:
            return [row[0] for row in db.execute("select body from messages order by id")]
        finally:
            db.close()

    def pop(self, login=True):
        p = poplib.POP3("127.0.0.1", self.stack.pop3_port, timeout=15)
        self.addCleanup(self.close, p)
        if login:
            p.stls(self.stack.tls_context())
            p.user("bob@demo.test")
            p.pass_(PASSWORD)
        return p

    @staticmethod
    def close(p):
        try:
            p.file.close()
            p.sock.close()
        except Exception:
            pass

    def hang_up(self, p):
        """Ends a session without QUIT, and waits until the server has let the mailbox go."""
        self.close(p)

        def free():
            q = poplib.POP3("127.0.0.1", self.stack.pop3_port, timeout=15)
            try:
                q.stls(self.stack.tls_context())
                q.user("bob@demo.test")
                q.pass_(PASSWORD)
                q.quit()
                return True
            except poplib.error_proto as e:
                self.assertIn(b"[IN-USE]", e.args[0])
                return False
            finally:
                self.close(q)
        wait_for(free, what="the maildrop lock to be released")

    # ------------------------------------------------------------------ real clients

    def test_poplib_stls_retrieves_byte_identical_message(self):
        self.publish("poplib")
        p = self.pop()
        self.assertIn("STLS", self.pop(login=False).capa())
        count, octets = p.stat()
        self.assertEqual(count, 1)
        resp, lines, size = p.retr(1)
        got = b"\r\n".join(lines) + b"\r\n"
        self.assertEqual(got, self.stored()[0])
        self.assertEqual(octets, len(got))
        uid = p.uidl(1).split()[-1]
        self.assertEqual(p.uidl()[1], [b"1 " + uid])
        p.dele(1)
        self.assertEqual(p.quit()[:3], b"+OK")
        self.assertEqual(self.stack.count(), 0)

    def test_curl_ssl_reqd_lists_and_retrieves(self):
        self.publish("curl")
        base = "pop3://127.0.0.1:%d/" % self.stack.pop3_port
        common = ["curl", "-s", "--ssl-reqd", "--cacert", self.stack.cafile, "-u", "bob@demo.test:" + PASSWORD]
        # the certificate names localhost and 127.0.0.1
        listing = subprocess.run(common + [base], capture_output=True, timeout=30)
        self.assertEqual(listing.returncode, 0, listing.stderr)
        self.assertEqual(listing.stdout.split(b" ")[0], b"1")
        message = subprocess.run(common + [base + "1"], capture_output=True, timeout=30)
        self.assertEqual(message.returncode, 0, message.stderr)
        self.assertEqual(message.stdout, self.stored()[0])
        wrong = subprocess.run(["curl", "-s", "--ssl-reqd", "--cacert", self.stack.cafile, "-u", "bob@demo.test:nope",
                                base], capture_output=True, timeout=30)
        self.assertNotEqual(wrong.returncode, 0)

    def test_fetchmail_keep_then_fetch_all(self):
        self.publish("fetchmail one")
        self.publish("fetchmail two", attach=False)
        out_dir = tempfile.mkdtemp(dir=self.stack.dir)
        rc = os.path.join(self.stack.dir, "fetchmailrc")
        with open(rc, "w") as f:
            f.write("poll 127.0.0.1 service %d protocol pop3 uidl\n"
                    "  user 'bob@demo.test' password '%s' is root here\n"
                    "  sslproto tls1.2+ sslcertck sslcertfile '%s' sslcommonname gw.demo.test\n"
                    "  mda '/bin/sh -c \"cat > %s/$$.eml\"'\n" % (self.stack.pop3_port, PASSWORD, self.stack.cafile,
                                                                   out_dir))
        os.chmod(rc, 0o600)
        env = dict(os.environ, HOME=self.stack.dir, FETCHMAILHOME=self.stack.dir)
        for keep, expected_left in (("--keep", 2), ("--nokeep", 0)):
            run = subprocess.run(["fetchmail", "-f", rc, "--nodetach", "--nosyslog", "-v", keep, "--all"], env=env,
                                 capture_output=True, text=True, timeout=60)
            self.assertIn(run.returncode, (0,), run.stdout + run.stderr)
            self.assertEqual(self.stack.count(), expected_left)
        fetched = sorted(os.listdir(out_dir))
        self.assertEqual(len(fetched), 4)  # twice each: once kept, once fetched and deleted
        bodies = []
        for name in fetched:
            with open(os.path.join(out_dir, name), "rb") as f:
                bodies.append(f.read())
        # fetchmail adds its own Received: line and writes LF: the original lines are all there
        for original in self.stored() or []:
            self.assertTrue(any(original.replace(b"\r\n", b"\n") in b for b in bodies))
        subjects = b"".join(bodies)
        self.assertIn(b"Subject: fetchmail one", subjects)
        self.assertIn(b"Subject: fetchmail two", subjects)

    def test_openssl_s_client_starttls_pop3(self):
        self.publish("s_client")
        script = b"USER bob@demo.test\r\nPASS demo\r\nSTAT\r\nRETR 1\r\nQUIT\r\n"
        out = subprocess.run(["openssl", "s_client", "-quiet", "-starttls", "pop3", "-crlf", "-connect",
                              "127.0.0.1:%d" % self.stack.pop3_port, "-CAfile", self.stack.cafile],
                             input=script.replace(b"\r\n", b"\n"), capture_output=True, timeout=30)
        self.assertIn(b"+OK 1 ", out.stdout)
        self.assertIn(b"Subject: s_client", out.stdout)
        self.assertIn(b"signing off", out.stdout)

    # ------------------------------------------------------------------ semantics and bad input

    def test_dele_then_disconnect_without_quit_deletes_nothing(self):
        self.publish("keep me")
        p = self.pop()
        p.dele(1)
        self.hang_up(p)
        self.assertEqual(self.stack.count(), 1)

    def test_second_login_to_a_locked_mailbox_gets_in_use(self):
        self.publish("locked")
        self.pop()
        q = self.pop(login=False)
        q.stls(self.stack.tls_context())
        q.user("bob@demo.test")
        with self.assertRaises(poplib.error_proto) as e:
            q.pass_(PASSWORD)
        self.assertIn(b"-ERR [IN-USE]", e.exception.args[0])

    def test_retr_of_a_deleted_message_and_rset(self):
        self.publish("deleted")
        p = self.pop()
        p.dele(1)
        with self.assertRaises(poplib.error_proto) as e:
            p.retr(1)
        self.assertTrue(e.exception.args[0].startswith(b"-ERR"))
        with self.assertRaises(poplib.error_proto):
            p.dele(1)
        p.rset()
        self.assertEqual(p.stat()[0], 1)
        with self.assertRaises(poplib.error_proto):
            p.retr(2)
        p.quit()
        self.assertEqual(self.stack.count(), 1)

    def test_wrong_password_and_plaintext_login_are_refused(self):
        p = self.pop(login=False)
        with self.assertRaises(poplib.error_proto) as e:
            p.user("bob@demo.test")
        self.assertIn(b"use STLS", e.exception.args[0])
        self.assertNotIn("USER", p.capa())
        p.stls(self.stack.tls_context())
        p.user("bob@demo.test")
        with self.assertRaises(poplib.error_proto) as e:
            p.pass_("wrong")
        self.assertIn(b"-ERR [AUTH]", e.exception.args[0])
        p.user("bob@demo.test")
        self.assertTrue(p.pass_(PASSWORD).startswith(b"+OK"))

    def raw(self):
        s = socket.create_connection(("127.0.0.1", self.stack.pop3_port), timeout=15)
        self.addCleanup(s.close)
        f = s.makefile("rb")
        self.addCleanup(f.close)
        self.assertTrue(f.readline().startswith(b"+OK"))
        return s, f

    def test_bad_commands_get_err_and_twenty_close_the_session(self):
        s, f = self.raw()
        for line, expect in ((b"XYZZY\r\n", b"-ERR unknown command"), (b"STAT\r\n", b"-ERR log in first"),
                             (b"RETR 1\r\n", b"-ERR log in first"), (b"A" * 300 + b"\r\n", b"-ERR line too long"),
                             (b"NOOP\n", b"-ERR lines end in CRLF"), (b"LIST\x00\r\n", b"-ERR"),
                             (b"TOP  1 2\r\n", b"-ERR")):
            s.sendall(line)
            self.assertTrue(f.readline().startswith(expect), line)
        for _ in range(13):
            s.sendall(b"BOGUS\r\n")
            f.readline()
        self.assertIn(b"too many errors", f.readline())
        self.assertEqual(f.readline(), b"")  # closed
        # the server still serves others
        self.publish("still here", attach=False)
        self.assertEqual(self.pop().stat()[0], 1)

    def test_pipelined_commands_and_top(self):
        self.publish("pipelined")
        p = self.pop()
        p.sock.sendall(b"NOOP\r\nSTAT\r\nTOP 1 0\r\n")
        self.assertTrue(p.file.readline().startswith(b"+OK"))
        self.assertTrue(p.file.readline().startswith(b"+OK 1 "))
        self.assertTrue(p.file.readline().startswith(b"+OK"))
        header = []
        while True:
            line = p.file.readline()
            if line == b".\r\n":
                break
            header.append(line)
        self.assertIn(b"Subject: pipelined\r\n", header)
        self.assertEqual(header[-1], b"\r\n")  # TOP 1 0: the header and the empty line only


if __name__ == "__main__":
    unittest.main()
