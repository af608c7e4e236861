"""What the POP3 end-to-end tests share: a real broker and gateway per test (gateway.Stack: free
ports, a temporary directory, readiness polled with a deadline, always cleaned up), publishing
with the real mailbus-pub, reading the store read-only, and a raw POP3 line client for what no
well-behaved client would send."""
import os
import poplib
import sqlite3
import subprocess
import tempfile
import unittest

from .gateway import BUILD, PASSWORD, PUB, RawLines, Stack, free_port, wait_for  # noqa: F401


class RawPop3(RawLines):
    """One POP3 connection, byte for byte: send what you like, read lines (bytes) as they come."""

    def __init__(self, port, timeout=15, source="127.0.0.1"):
        super().__init__(port, timeout, source)

    def line(self):
        """One line without its CRLF; EOFError when the server closed"""
        return self.raw_line()

    def cmd(self, text):
        self.send(text.encode("latin-1") + b"\r\n")
        return self.line()

    def multiline(self):
        """The body of a multi-line reply, un-stuffed, up to its ".\r\n" """
        lines = []
        while True:
            line = self.line()
            if line == b".":
                return lines
            lines.append(line[1:] if line.startswith(b".") else line)


class Pop3Case(unittest.TestCase):
    """A broker and a gateway for each test; gateway_args adds options to the gateway"""

    gateway_args = ()

    def setUp(self):
        self.extra_ports = {}
        args = []
        for arg in self.gateway_args:
            for name in ("pop3s", "imaps"):
                if "{%s}" % name in arg:
                    self.extra_ports[name] = self.extra_ports.get(name) or free_port()
                    arg = arg.replace("{%s}" % name, str(self.extra_ports[name]))
            args.append(arg)
        self.stack = Stack(gateway_args=args)
        self.stack.__enter__()
        self.addCleanup(self.stack.stop)
        self.env = dict(os.environ, MAILBUS_BROKER=self.stack.endpoint, MAILBUS_PASSWORD=PASSWORD)

    # ---- publishing: the bytes published are known exactly, so retrieval can be compared
    def compose(self, subject, body="hello\n.leading dot\n..two dots\n.\nbye", attach=True, to="bob@demo.test"):
        """A message as mailbus-pub builds it (--print), attachment included"""
        args = [PUB, "-u", "alice@demo.test", "-t", to, "-s", subject, "-m", body, "--print"]
        if attach:
            path = os.path.join(self.stack.dir, "attachment.bin")
            with open(path, "wb") as f:
                f.write(bytes(range(256)) * 8)
            args += ["-a", path]
        out = subprocess.run(args, env=self.env, capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout

    def publish(self, subject, body="hello\n.leading dot\n..two dots\n.\nbye", attach=True, to="bob@demo.test"):
        """Publishes with mailbus-pub --raw; returns the exact bytes published"""
        message = self.compose(subject, body, attach, to)
        path = os.path.join(self.stack.dir, "message.eml")
        with open(path, "wb") as f:
            f.write(message)
        out = subprocess.run([PUB, "-u", "alice@demo.test", "-t", to, "--raw", path], env=self.env,
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        return message

    # ---- the store, read-only (inspecting never disturbs the broker)
    def query(self, sql, *args):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.stack.var, "mailbus.db"), uri=True)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def deliveries(self, mailbox="bob@demo.test"):
        """(delivery id, state, body) of a mailbox, oldest first"""
        return self.query("select d.id, d.state, m.body from deliveries d join messages m on m.id = d.message_id "
                          "join mailboxes b on b.id = d.mailbox_id where b.address = ? order by d.id", mailbox)

    # ---- clients
    def pop(self, login=True, user="bob@demo.test"):
        p = poplib.POP3("127.0.0.1", self.stack.pop3_port, timeout=15)
        self.addCleanup(self.close, p)
        if login:
            p.stls(self.stack.tls_context())
            p.user(user)
            p.pass_(PASSWORD)
        return p

    @staticmethod
    def close(p):
        try:
            p.file.close()
            p.sock.close()
        except Exception:
            pass

    def raw(self, port=None, tls=False):
        r = RawPop3(port or self.stack.pop3_port)
        self.addCleanup(r.close)
        self.assertTrue(r.line().startswith(b"+OK"))
        if tls:
            self.assertTrue(r.cmd("STLS").startswith(b"+OK"))
            r.starttls(self.stack.tls_context())
        return r

    def hang_up(self, p):
        """Ends a session without QUIT, then waits (deadline) until the server lets the mailbox go"""
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

    def count(self):
        return len(self.deliveries())

    # ---- fetchmail (POP3 and IMAP alike)
    def fetchmail(self, rc, keep):
        env = dict(os.environ, HOME=self.stack.dir, FETCHMAILHOME=self.stack.dir)
        run = subprocess.run(["fetchmail", "-f", rc, "--nodetach", "--nosyslog", "-v", keep, "--all"], env=env,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)

    def fetchmail_keep_then_nokeep(self, service):
        """Two messages fetched with --keep (still there), then --nokeep (gone): each reaches the
        MDA twice, byte for byte past fetchmail's Received: field. service is "PORT protocol P ..."."""
        published = [self.publish("fetchmail one"), self.publish("fetchmail two", attach=False)]
        out_dir = tempfile.mkdtemp(dir=self.stack.dir)
        rc = os.path.join(self.stack.dir, "fetchmailrc")
        with open(rc, "w") as f:
            f.write("poll 127.0.0.1 service %s\n"
                    "  user 'bob@demo.test' password '%s' is root here\n"
                    "  sslproto tls1.2+ sslcertck sslcertfile '%s' sslcommonname gw.demo.test\n"
                    "  mda '/bin/sh -c \"cat > %s/$$.eml\"'\n" % (service, PASSWORD, self.stack.cafile, out_dir))
        os.chmod(rc, 0o600)
        self.fetchmail(rc, "--keep")
        self.assertEqual(self.count(), 2)
        self.fetchmail(rc, "--nokeep")
        self.assertEqual(self.count(), 0)
        fetched = []
        for name in sorted(os.listdir(out_dir)):
            with open(os.path.join(out_dir, name), "rb") as f:
                fetched.append(f.read())
        self.assertEqual(len(fetched), 4)  # each twice: once kept, once fetched and deleted
        # fetchmail prepends its Received: field and hands the MDA LF line endings: past that
        # field, every message is the published one, byte for byte
        for original in published:
            lf = original.replace(b"\r\n", b"\n")
            self.assertEqual(sum(1 for got in fetched if got.endswith(lf)), 2)
