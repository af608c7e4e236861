"""End-to-end: real, independent SMTP clients submit through a real mailbus-gateway to a real
broker; mailbus-sub then sees the message."""
import os
import smtplib
import socket
import subprocess
import unittest
from email.message import EmailMessage

from mailbus_test.gateway import PASSWORD, Raw, Stack, free_port, wait_for


class SmtpClients(unittest.TestCase):
    def setUp(self):
        self.stack = Stack()
        self.stack.__enter__()

    def tearDown(self):
        self.stack.stop()

    def smtp(self):
        s = smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30)
        self.addCleanup(s.close)
        return s

    def test_smtplib_starttls_auth_plain_delivers_with_crlf_kept(self):
        body = b"From: alice@demo.test\r\nTo: bob@demo.test\r\nSubject: plain test\r\n\r\n.leading dot\r\nline two\r\n"
        s = self.smtp()
        s.starttls(context=self.stack.tls_context())
        s.ehlo()
        self.assertIn("PLAIN", s.esmtp_features.get("auth", "").upper())
        s.user, s.password = "alice@demo.test", PASSWORD
        code, _ = s.auth("PLAIN", s.auth_plain)
        self.assertEqual(code, 235)
        self.assertEqual(s.sendmail("alice@demo.test", ["bob@demo.test"], body), {})
        s.quit()
        messages = self.stack.drain()
        self.assertEqual(len(messages), 1)
        stored = messages[0]
        # the message is stored byte for byte, behind the fields the gateway adds
        self.assertTrue(stored.endswith(body), stored)
        self.assertTrue(stored.startswith(b"Received: from "), stored)
        self.assertIn(b"ESMTPSA", stored)
        self.assertIn(b"\r\nMessage-ID: <", stored)
        self.assertIn(b"\r\nDate: ", stored)
        self.assertNotIn(b"\n", stored.replace(b"\r\n", b""))

    def test_smtplib_starttls_auth_login(self):
        s = self.smtp()
        s.starttls(context=self.stack.tls_context())
        s.ehlo()
        s.user, s.password = "alice@demo.test", PASSWORD
        code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        self.assertEqual(code, 235)
        s.sendmail("alice@demo.test", ["bob@demo.test"], b"Subject: login test\r\n\r\nhi\r\n")
        s.quit()
        self.assertIn("login test", self.stack.sub("list"))

    def test_smtplib_login_plain_without_tls_is_not_offered(self):
        s = self.smtp()
        s.ehlo()
        self.assertNotIn("auth", s.esmtp_features)
        self.assertIn("starttls", s.esmtp_features)

    def test_swaks_tls_auth(self):
        r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % self.stack.smtp_port, "--tls",
                            "--auth", "LOGIN", "--auth-user", "alice@demo.test", "--auth-password", PASSWORD,
                            "--from", "alice@demo.test", "--to", "bob@demo.test",
                            "--header", "Subject: swaks test", "--body", "from swaks"],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(b"250 2.0.0", r.stdout)
        self.assertIn("swaks test", self.stack.sub("list"))

    def test_swaks_without_auth_to_local_mailbox(self):
        r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % self.stack.smtp_port,
                            "--from", "someone@example.org", "--to", "carol@demo.test",
                            "--header", "Subject: anonymous"], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("anonymous", self.stack.sub("list", user="carol@demo.test"))

    def test_curl_ssl_reqd(self):
        mail = os.path.join(self.stack.dir, "curl.eml")
        with open(mail, "wb") as f:
            f.write(b"From: alice@demo.test\r\nTo: bob@demo.test\r\nSubject: curl test\r\n\r\nfrom curl\r\n")
        r = subprocess.run(["curl", "-sS", "--ssl-reqd", "--cacert", self.stack.cafile,
                            "smtp://127.0.0.1:%d" % self.stack.smtp_port,
                            "--user", "alice@demo.test:" + PASSWORD,
                            "--mail-from", "alice@demo.test", "--mail-rcpt", "bob@demo.test",
                            "--upload-file", mail], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("curl test", self.stack.sub("list"))

    def test_openssl_s_client_starttls_with_attachment(self):
        msg = EmailMessage()
        msg["From"] = "alice@demo.test"
        msg["To"] = "bob@demo.test"
        msg["Subject"] = "with attachment"
        msg.set_content("see the attachment\n")
        msg.add_attachment(bytes(range(256)) * 40, maintype="application", subtype="octet-stream",
                           filename="blob.bin")
        data = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
        data = data.replace(b"\r\n.", b"\r\n..")  # dot-stuffing is the client's job (RFC 5321 4.5.2)
        auth = __import__("base64").b64encode(b"\0alice@demo.test\0" + PASSWORD.encode()).decode()
        script = ("EHLO client.test\r\nAUTH PLAIN %s\r\nMAIL FROM:<alice@demo.test>\r\n"
                  "RCPT TO:<bob@demo.test>\r\nDATA\r\n" % auth).encode() + data + b".\r\nQUIT\r\n"
        r = subprocess.run(["openssl", "s_client", "-quiet", "-ign_eof", "-starttls", "smtp",
                            "-CAfile", self.stack.cafile, "-connect", "127.0.0.1:%d" % self.stack.smtp_port],
                           input=script, capture_output=True, timeout=60)
        out = r.stdout.decode("latin-1")
        self.assertIn("235 2.7.0", out)
        self.assertIn("250 2.0.0 1 of 1 recipients accepted", out)
        self.assertIn("221 2.0.0", out)
        listing = self.stack.sub("list")
        self.assertIn("with attachment", listing)
        save = os.path.join(self.stack.dir, "save")
        os.makedirs(save)
        self.stack.sub("save", "1", save)
        with open(os.path.join(save, "blob.bin"), "rb") as f:
            self.assertEqual(f.read(), bytes(range(256)) * 40)

    def test_smtps_implicit_tls(self):
        self.stack.stop()
        self.stack = Stack()
        port = free_port()
        self.stack.gateway_args = ["--smtps", "127.0.0.1:%d" % port]
        self.stack.start()
        # bad input first: plain text on the TLS port, and a client that goes before its hello.
        # Neither gets a plain-text reply (there is none on an implicit-TLS port); both are logged.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as plain:
            plain.sendall(b"EHLO plain.test\r\n")
            try:
                reply = plain.recv(4096)  # a TLS alert, or the close
            except ConnectionResetError:
                reply = b""
            self.assertFalse(reply[:3].isdigit(), reply)
        socket.create_connection(("127.0.0.1", port), timeout=30).close()
        wait_for(lambda: self.stack.log("gateway").count("tls-failed") == 2, what="two tls-failed lines")
        s = smtplib.SMTP_SSL("127.0.0.1", port, timeout=30, context=self.stack.tls_context())
        self.addCleanup(s.close)
        s.login("alice@demo.test", PASSWORD)
        s.sendmail("alice@demo.test", ["bob@demo.test"], b"Subject: smtps test\r\n\r\nhi\r\n")
        s.quit()
        self.assertIn("smtps test", self.stack.sub("list"))

    def test_authenticated_relay_is_queued_for_other_domains(self):
        s = self.smtp()
        s.starttls(context=self.stack.tls_context())
        s.login("alice@demo.test", PASSWORD)
        code, text = s.docmd("MAIL FROM:<alice@demo.test>")
        self.assertEqual(code, 250)
        code, text = s.docmd("RCPT TO:<someone@elsewhere.test>")
        self.assertEqual(code, 250, text)

    def test_authenticated_user_may_send_only_as_themself(self):
        s = self.smtp()
        s.starttls(context=self.stack.tls_context())
        s.login("alice@demo.test", PASSWORD)
        code, text = s.docmd("MAIL FROM:<bob@demo.test>")
        self.assertEqual((code, text[:5]), (553, b"5.7.1"))

    def test_wrong_password_gives_535_and_session_goes_on(self):
        s = self.smtp()
        s.starttls(context=self.stack.tls_context())
        s.ehlo()
        with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
            s.login("alice@demo.test", "wrong")
        self.assertEqual(e.exception.smtp_code, 535)
        self.assertEqual(s.noop()[0], 250)
        s.login("alice@demo.test", PASSWORD)

    def test_vrfy_and_expn_need_authentication(self):
        s = self.smtp()
        s.ehlo()
        self.assertEqual(s.docmd("VRFY bob@demo.test")[0], 252)
        self.assertEqual(s.docmd("EXPN news@demo.test")[0], 530)
        s.starttls(context=self.stack.tls_context())
        s.login("alice@demo.test", PASSWORD)
        self.assertEqual(s.docmd("VRFY bob@demo.test")[0], 250)
        self.assertEqual(s.docmd("VRFY nobody@demo.test")[0], 550)

    def test_pipelined_transaction(self):
        with Raw(self.stack.smtp_port) as r:
            self.assertEqual(r.reply()[0], 220)
            r.send(b"EHLO pipe.test\r\nMAIL FROM:<x@example.org>\r\nRCPT TO:<bob@demo.test>\r\n"
                   b"RCPT TO:<carol@demo.test>\r\nDATA\r\n")
            codes = [r.reply()[0] for _ in range(5)]
            self.assertEqual(codes, [250, 250, 250, 250, 354])
            r.send(b"Subject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n")
            code, text = r.reply()
            self.assertEqual(code, 250, text)
            self.assertEqual(r.reply()[0], 221)
        self.assertEqual(self.stack.count("bob@demo.test"), 1)
        self.assertEqual(self.stack.count("carol@demo.test"), 1)


if __name__ == "__main__":
    unittest.main()
