"""What the IMAP end-to-end tests share: the POP3 cases' stack and publishing (a real broker and
gateway per test, mailbus-pub), imaplib sessions through STARTTLS, and a raw IMAP line client
for what no well-behaved client sends and for IDLE."""
import imaplib
import re
import time

from .gateway import RawLines
from .pop3 import PASSWORD, Pop3Case  # noqa: F401


class RawImap(RawLines):
    """One IMAP connection, byte for byte: send what you like, read lines (bytes) as they come."""

    def __init__(self, port, timeout=15, source="127.0.0.1"):
        super().__init__(port, timeout, source)
        self.tag_number = 0

    def line(self):
        return self.raw_line()

    def tagged(self, tag):
        """The lines up to and including the one tagged tag: (untagged lines, tagged line)"""
        lines = []
        while True:
            line = self.line()
            if line.startswith(tag.encode() + b" "):
                return lines, line
            lines.append(line)

    def cmd(self, text):
        """Sends a command with a fresh tag; (untagged lines, tagged line)"""
        self.tag_number += 1
        tag = "t%d" % self.tag_number
        self.send(("%s %s\r\n" % (tag, text)).encode("utf-8"))
        return self.tagged(tag)

    def wait_line(self, pattern, timeout):
        """The first line matching the regex pattern (bytes) within timeout seconds"""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(timeout)
        try:
            while time.monotonic() < deadline:
                line = self.line()
                if re.search(pattern, line):
                    return line
        finally:
            self.sock.settimeout(15)
        raise AssertionError("no line matching %r within %.1f s" % (pattern, timeout))


class ImapCase(Pop3Case):
    """A broker and a gateway for each test (Pop3Case's), with IMAP clients"""

    def imap(self, login=True, user="bob@demo.test"):
        m = imaplib.IMAP4("127.0.0.1", self.stack.imap_port, timeout=15)
        self.addCleanup(self.shut, m)
        if login:
            m.starttls(self.stack.tls_context())
            m.login(user, PASSWORD)
        return m

    @staticmethod
    def shut(m):
        try:
            m.shutdown()
        except Exception:
            pass

    def raw_imap(self, tls=False, login=False, user="bob@demo.test"):
        r = RawImap(self.stack.imap_port)
        self.addCleanup(r.close)
        greeting = r.line()
        self.assertTrue(greeting.startswith(b"* OK [CAPABILITY "), greeting)
        if tls or login:
            _, ok = r.cmd("STARTTLS")
            self.assertTrue(ok.endswith(b"OK Begin TLS negotiation now"), ok)
            r.starttls(self.stack.tls_context())
        if login:
            _, ok = r.cmd('LOGIN "%s" "%s"' % (user, PASSWORD))
            self.assertIn(b" OK ", ok)
        return r

    def wait_gateway_log(self, text, timeout=20):
        deadline = time.monotonic() + timeout
        while text not in self.stack.log("gateway"):
            if time.monotonic() > deadline:
                raise AssertionError("the gateway never logged %r" % text)
            time.sleep(0.05)
