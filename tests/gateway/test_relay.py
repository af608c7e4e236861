"""End-to-end: the relay. mailbus-pub (or an SMTP client after AUTH) sends alice@demo.test's
mail to x@remote.test; the broker queues it in its outbound queue; the gateway's relay worker
delivers it with libcurl to a real SMTP server (python3-aiosmtpd in a child process, STARTTLS +
AUTH required, certificate made with openssl) on a free loopback port. Faults: a wrong relay
password, the server down, 451, 550, the connection dropped in the middle of DATA, a server that
does not offer STARTTLS, a looping message."""
import os
import signal
import smtplib
import sqlite3
import tempfile
import shutil
import time
import unittest

from mailbus_test.gateway import PASSWORD, Stack, free_port, publish, queue, wait_for
from mailbus_test.smtpd import SmtpServer, make_cert

RELAY_USER, RELAY_PASSWORD = "relay-user@remote.test", "relay-s3cret"


class RelayBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix="mailbus-relay-cert-")
        cls.cert, cls.key = make_cert(cls.certdir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.certdir, ignore_errors=True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mailbus-relay-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.port = free_port()

    def server(self, tls=True, **options):
        srv = SmtpServer(os.path.join(self.tmp, "smtpd"), self.port, cert=self.cert if tls else None,
                         key=self.key if tls else None, user=RELAY_USER, password=RELAY_PASSWORD, **options)
        self.addCleanup(srv.close)
        return srv

    def stack(self, password=RELAY_PASSWORD, tls="starttls", start_gateway=True, extra=(), max_age=600):
        """--retry-base 1: retries at +1, +2, +4 s...; --queue-max-age long unless a test wants
        a bounce by age (a short one bounced a deferred entry while a loaded test looked at it)"""
        auth = os.path.join(self.tmp, "relay.auth")
        with open(auth, "w") as f:
            f.write("%s %s\n" % (RELAY_USER, password))
        stack = Stack(gateway_args=["--smarthost", "127.0.0.1:%d" % self.port, "--smarthost-tls", tls,
                                    "--smarthost-ca", self.cert, "--smarthost-auth", auth,
                                    "--relay-interval", "100"] + list(extra),
                      broker_args=["--retry-base", "1", "--queue-max-age", str(max_age)],
                      start_gateway=start_gateway)
        stack.__enter__()
        self.addCleanup(self.dump_logs_on_failure, stack)
        self.addCleanup(stack.stop)
        return stack

    def dump_logs_on_failure(self, stack):
        if os.environ.get("MAILBUS_TEST_VERBOSE"):
            print(stack.log("gateway")[-4000:])

    # ---- helpers
    def db(self, stack):
        return os.path.join(stack.var, "mailbus.db")

    def queue(self, stack, *args):
        return queue(self.db(stack), *args)

    def stored_bodies(self, stack):
        con = sqlite3.connect("file:%s?mode=ro" % self.db(stack), uri=True)
        try:
            return [row[0] for row in con.execute("select body from messages order by id")]
        finally:
            con.close()

    def send(self, stack, subject="relay test", body="hello", raw=None, to="x@remote.test"):
        r = publish(stack.endpoint, "alice@demo.test", PASSWORD, to, subject=subject, body=body, raw=raw)
        self.assertIn("queued for relay", r.stdout)
        return r

    def wait_entry(self, stack, predicate, what, timeout=30):
        def check():
            rows = self.queue(stack)
            return rows if rows and predicate(rows) else None
        return wait_for(check, timeout=timeout, what=what)

    def bounces(self, stack):
        """alice's mailbox, every message as bytes (drained)"""
        return stack.drain(user="alice@demo.test")


class RelayToRealSmtpServer(RelayBase):
    def test_delivered_bytes_identical_to_what_the_broker_stored(self):
        srv = self.server().start()
        stack = self.stack(start_gateway=False)
        raw = os.path.join(self.tmp, "message.eml")
        text = ("From: Alice <alice@demo.test>\nTo: x@remote.test\nSubject: byte for byte\n"
                "Message-ID: <relay-identical-1@demo.test>\nDate: Mon, 02 Mar 2026 10:00:00 +0000\n\n"
                "line one\n.leading dot (stuffed on the wire, unstuffed by the server)\n..two dots\n.\n"
                "caf\u00e9 8bit\n\nlast line\n")
        with open(raw, "wb") as f:
            f.write(text.encode("utf-8"))
        self.send(stack, raw=raw)
        stored = self.stored_bodies(stack)
        self.assertEqual(len(stored), 1)
        # mailbus-pub --raw sends the file with CRLF line ends and nothing added (it has a Message-ID)
        self.assertEqual(stored[0], text.encode("utf-8").replace(b"\n", b"\r\n"))
        [entry] = self.queue(stack)
        self.assertEqual((entry["state"], entry["attempts"], entry["recipient"]), ("queued", 0, "x@remote.test"))

        stack.start_gw()
        delivered = wait_for(srv.messages, what="the message at the smarthost")
        self.assertEqual(len(delivered), 1)
        sender, rcpts, content = delivered[0]
        self.assertEqual((sender, rcpts), ("alice@demo.test", ["x@remote.test"]))
        # aiosmtpd's original_content: CRLF line ends as on the wire, dot-stuffing undone
        self.assertEqual(content, stored[0])
        wait_for(lambda: self.queue(stack) == [], what="an empty queue")
        self.assertEqual(self.stored_bodies(stack), [])  # nothing else needs the body
        # TLS first, AUTH only inside it
        cmds = srv.commands()
        self.assertLess(cmds.index("STARTTLS"), cmds.index("AUTH"))
        self.assertEqual(cmds.count("DATA"), 1)
        self.assertIn("outcome=delivered", stack.log("gateway"))

    def test_wrong_relay_password_fails_and_bounces_with_the_535_line(self):
        srv = self.server().start()
        stack = self.stack(password="not-the-password")
        self.send(stack, subject="will bounce")
        [entry] = self.wait_entry(stack, lambda rows: rows[0]["state"] == "failed", "a failed entry")
        self.assertIn("535", entry["error"])
        self.assertEqual(srv.messages(), [])
        self.assertIn("AUTH", srv.commands())
        self.assertNotIn("MAIL", srv.commands())
        bounce = wait_for(lambda: self.bounces(stack), what="a bounce for alice")
        self.assertEqual(len(bounce), 1)
        text = bounce[0].decode("utf-8", "replace")
        self.assertIn("535 5.7.8 Authentication credentials invalid", text)
        self.assertIn("multipart/report", text)
        self.assertIn("report-type=delivery-status", text)
        self.assertIn("Final-Recipient: rfc822; x@remote.test", text)
        self.assertIn("Action: failed", text)
        self.assertIn("Status: 5.7.8", text)
        self.assertIn("Subject: will bounce", text)  # the returned headers
        # a failed entry stays for `queue` to show until `queue del`
        self.assertIn("failed", self.queue(stack, "list")[0]["state"])
        self.assertIn("deleted", self.queue(stack, "del", str(entry["id"])))
        self.assertEqual(self.queue(stack), [])


class RelayFaults(RelayBase):
    def test_smarthost_down_then_up_is_delivered_after_flush(self):
        srv = self.server()  # not started: nothing listens on the port
        stack = self.stack()
        self.send(stack, subject="down then up")
        [entry] = self.wait_entry(stack, lambda rows: rows[0]["attempts"] >= 1, "a deferred entry")
        self.assertEqual(entry["state"], "queued")
        self.assertTrue(entry["error"].startswith("451 4.4.1"), entry["error"])
        srv.start()
        self.queue(stack, "flush")
        delivered = wait_for(srv.messages, what="delivery once the smarthost is up")
        self.assertEqual(len(delivered), 1)
        self.assertIn(b"Subject: down then up\r\n", delivered[0][2])
        wait_for(lambda: self.queue(stack) == [], what="an empty queue")
        self.assertEqual(self.bounces(stack), [])

    def test_451_is_retried_then_bounced_after_the_maximum_queue_age(self):
        srv = self.server(rcpt_reply="451 4.2.0 try later").start()
        # attempts at about 0, 1, 3, 7, 15 s: only the one at 15 s is past the 10 s age, so a
        # loaded test has from 1 s to 15 s to see the entry queued after its second attempt
        stack = self.stack(max_age=10)
        self.send(stack, subject="try later")
        # retried by itself (--retry-base 1): a second attempt without any flush
        [entry] = self.wait_entry(stack, lambda rows: rows[0]["attempts"] >= 2, "a retried entry")
        self.assertEqual(entry["state"], "queued")
        self.assertIn("451 4.2.0 try later", entry["error"])

        # past --queue-max-age 10 the next attempt gives up: flush to try again now, polling
        def failed():
            rows = self.queue(stack)
            if rows and rows[0]["state"] == "failed":
                return rows
            self.queue(stack, "flush")
            return None
        [entry] = wait_for(failed, timeout=60, what="the entry to give up")
        self.assertIn("451 4.2.0 try later", entry["error"])
        self.assertEqual(srv.messages(), [])
        bounce = wait_for(lambda: self.bounces(stack), what="a bounce after the maximum age")
        self.assertEqual(len(bounce), 1)
        self.assertIn(b"451 4.2.0 try later", bounce[0])
        self.assertIn(b"Action: failed", bounce[0])

    def test_550_bounces_at_once(self):
        srv = self.server(rcpt_reply="550 5.1.1 no such user here").start()
        stack = self.stack()
        self.send(stack, subject="no such user")
        [entry] = self.wait_entry(stack, lambda rows: rows[0]["state"] == "failed", "a failed entry")
        self.assertEqual(entry["attempts"], 1)  # no retry after a 5xx
        self.assertIn("550 5.1.1 no such user here", entry["error"])
        bounce = wait_for(lambda: self.bounces(stack), what="a bounce")
        self.assertEqual(len(bounce), 1)
        self.assertIn(b"550 5.1.1 no such user here", bounce[0])
        self.assertIn(b"Status: 5.1.1", bounce[0])
        self.assertIn(b"From: Mail Delivery System <MAILER-DAEMON@demo.test>", bounce[0])
        self.assertEqual(srv.messages(), [])
        self.assertEqual(srv.commands().count("RCPT"), 1)

    def test_a_remote_reply_is_quoted_in_the_relay_log_line(self):
        # the remote server's words are outside bytes: a quote or backslash in them cannot end
        # the reply="..." value early or forge another key
        self.server(rcpt_reply='550 5.1.1 no "such" user\\ outcome=delivered').start()
        stack = self.stack()
        self.send(stack, subject="quoted reply")
        wait_for(lambda: "outcome=failed" in stack.log("gateway"), what="the relay line")
        [line] = [l for l in stack.log("gateway").splitlines() if "outcome=failed" in l]
        self.assertIn('reply="550 5.1.1 no \\"such\\" user\\\\ outcome=delivered', line)
        self.assertNotIn("outcome=delivered", line.split(" reply=")[0])

    def test_connection_closed_in_the_middle_of_data_is_retried_nothing_lost(self):
        srv = self.server(drop_in_data=True).start()
        stack = self.stack()
        for i in range(3):
            self.send(stack, subject="dropped %d" % i)
        # the server dies at the first DATA; every entry is deferred (dropped or refused)
        wait_for(lambda: not srv.alive(), what="the server to drop the connection in DATA")
        self.wait_entry(stack, lambda rows: len(rows) == 3 and all(r["attempts"] >= 1 for r in rows),
                        "three deferred entries")
        self.assertTrue(all(r["state"] == "queued" for r in self.queue(stack)))
        self.assertEqual(srv.messages(), [])
        srv.stop()
        srv.start(drop_in_data=False)
        self.queue(stack, "flush")
        wait_for(lambda: self.queue(stack) == [], what="every entry delivered")
        subjects = sorted(c.split(b"Subject: ")[1].split(b"\r\n")[0] for _, _, c in srv.messages())
        # at-least-once: every message arrived; this server stored nothing from the dropped
        # session, so nothing arrived twice either
        self.assertEqual(subjects, [b"dropped 0", b"dropped 1", b"dropped 2"])
        self.assertEqual(self.bounces(stack), [])


    def test_gateway_killed_while_waiting_for_the_end_of_data_reply_delivers_again(self):
        # the server stores the message and never answers: the relay worker waits for its 250
        srv = self.server(hang_after_data=True).start()
        stack = self.stack()
        self.send(stack, subject="killed mid-delivery")
        wait_for(srv.messages, what="the message stored by the hanging server")
        stack.gateway.send_signal(signal.SIGKILL)
        stack.gateway.wait()
        stack.gateway = None
        stack.gateway_log.close()
        srv.kill()
        [entry] = self.queue(stack)
        self.assertEqual((entry["state"], entry["attempts"]), ("queued", 0))  # claimed, not reported
        srv.start(hang_after_data=False)
        stack.start_gw()
        # the dead worker's claim lasts 300 s; `queue flush` makes the entry due and unclaimed now
        self.queue(stack, "flush")
        wait_for(lambda: self.queue(stack) == [], what="the entry delivered again")
        copies = [c for _, _, c in srv.messages()]
        # at-least-once: the first copy (stored before the kill) and the second one, identical
        self.assertEqual(len(copies), 2)
        self.assertEqual(copies[0], copies[1])
        self.assertIn(b"Subject: killed mid-delivery\r\n", copies[0])

    def test_gateway_stopped_while_the_smarthost_hangs_stops_at_once_and_gives_its_claims_back(self):
        srv = self.server(hang_after_data=True).start()
        stack = self.stack(start_gateway=False)
        # two entries: one batch (both claimed), the first hangs after its DATA, the second waits
        self.send(stack, subject="cut short")
        self.send(stack, subject="not tried")
        stack.start_gw()
        wait_for(srv.messages, what="the first message stored by the hanging server")
        started = time.monotonic()
        stack.gateway.send_signal(signal.SIGTERM)
        self.assertEqual(stack.gateway.wait(timeout=30), 0)  # past the bound below: a failure either way
        # not the 60 s transfer timeout (relay.h timeout_s), nor ten of them for the batch: an
        # exit at once takes well under a second; 20 s is a loaded machine's margin below 60 s
        self.assertLess(time.monotonic() - started, 20.0)
        stack.gateway = None
        stack.gateway_log.close()
        log = stack.log("gateway")
        self.assertEqual(log.count("outcome=released"), 2, log)
        self.assertIn('reply="gateway stopping: cut short at 127.0.0.1:%d"' % self.port, log)
        self.assertIn('reply="gateway stopping: not tried"', log)
        self.assertIn("relay-released", stack.log("broker"))
        # both queued, claims given back, no attempt counted, no bounce
        rows = self.queue(stack)
        self.assertEqual([(r["state"], r["attempts"]) for r in rows], [("queued", 0), ("queued", 0)])
        srv.kill()
        srv.start(hang_after_data=False)
        stack.start_gw()
        # no `queue flush`: the claims ended when the worker stopped (a claim kept would last
        # 300 s; 60 s is a loaded machine's margin for two TLS deliveries)
        wait_for(lambda: self.queue(stack) == [], timeout=60, what="both delivered by the next worker")
        subjects = sorted(c.split(b"Subject: ")[1].split(b"\r\n")[0] for _, _, c in srv.messages())
        # at-least-once: the one cut short after its DATA was stored twice, the other once
        self.assertEqual(subjects, [b"cut short", b"cut short", b"not tried"])
        self.assertEqual(self.bounces(stack), [])


class RelayTlsAndLoops(RelayBase):
    def test_starttls_is_never_downgraded_and_auth_never_sent_in_plaintext(self):
        # a plain server that offers AUTH PLAIN LOGIN without TLS (a trap) and no STARTTLS
        srv = self.server(tls=False).start()
        stack = self.stack()  # --smarthost-tls starttls (the default), with --smarthost-auth
        self.send(stack, subject="must stay secret")
        [entry] = self.wait_entry(stack, lambda rows: rows[0]["attempts"] >= 2, "two refused attempts")
        self.assertEqual(entry["state"], "queued")  # deferred, not bounced, not delivered
        self.assertEqual(srv.messages(), [])
        cmds = srv.commands()
        self.assertIn("EHLO", cmds)
        for verb in ("AUTH", "MAIL", "RCPT", "DATA"):
            self.assertNotIn(verb, cmds)
        self.assertEqual(self.bounces(stack), [])

    def test_more_than_30_received_fields_is_refused_554_5_4_6(self):
        stack = self.stack()
        received = "".join("Received: from hop%d.example by hop%d.example; Mon, 2 Mar 2026 10:00:00 +0000\r\n"
                           % (i, i + 1) for i in range(31))
        body = (received + "From: alice@demo.test\r\nTo: x@remote.test\r\nSubject: looping\r\n\r\nround\r\n").encode()
        s = smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30)
        self.addCleanup(s.close)
        s.starttls(context=stack.tls_context())
        s.login("alice@demo.test", PASSWORD)
        with self.assertRaises(smtplib.SMTPDataError) as e:
            s.sendmail("alice@demo.test", ["x@remote.test"], body)
        self.assertEqual(e.exception.smtp_code, 554)
        self.assertTrue(e.exception.smtp_error.startswith(b"5.4.6"), e.exception.smtp_error)
        # well under the limit (29 + the gateway's own = 30) it is queued for relay
        ok = received.split("\r\n", 2)[2]
        s.sendmail("alice@demo.test", ["x@remote.test"], (ok + "Subject: fine\r\n\r\nok\r\n").encode())
        s.quit()
        rows = self.queue(stack)
        self.assertEqual(len(rows), 1)
        # the broker refuses it the same from mailbus-pub
        raw = os.path.join(self.tmp, "loop.eml")
        with open(raw, "wb") as f:
            f.write(body)
        r = publish(stack.endpoint, "alice@demo.test", PASSWORD, "x@remote.test", raw=raw, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("554 5.4.6", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
