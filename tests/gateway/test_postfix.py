"""End-to-end: federation through a real Postfix (Debian's package) on loopback.

Brokers a.test and b.test, each with its gateway, as in test_federation; but neither gateway
knows the other: each relays every other domain through one Postfix instance that the test
starts and stops itself (mailservers.Postfix: its own main.cf, master.cf, queue and log in a
temporary directory, smtpd on a free 127.0.0.1 port).

    gateway a --smarthost 127.0.0.1:P --smarthost-tls starttls --smarthost-ca <Postfix's cert>
              --smarthost-auth <relay-a's password>
        -> Postfix: STARTTLS required (smtpd_tls_security_level = encrypt), AUTH PLAIN through
           Dovecot SASL (a private Dovecot with only its auth service, smtpd_sasl_type = dovecot),
           relay_domains = a.test b.test, relay_recipient_maps, transport_maps
           b.test smtp:[127.0.0.1]:<gateway b>, a.test smtp:[127.0.0.1]:<gateway a>,
           smtp_tls_security_level = verify against the gateways' own certificates
        -> gateway b (bob@b.test is local there) -> broker b

Covered: alice@a.test -> bob@b.test with the message intact (only the two Received: fields of
Postfix and gateway b added) and bob's reply back the same way; gateway b down (the mail waits
in Postfix's queue, arrives after b returns); Postfix down (the mail waits in a's outbound
queue); what Postfix refuses (an unknown recipient, a domain it does not relay, a wrong relay
password) bounces to alice with Postfix's own reply text.

Needs root, postfix and dovecot-core (.ci/install); skipped with the reason otherwise."""
import os
import unittest

from mailbus_test.gateway import PASSWORD, Peer, publish, wait_for
from mailbus_test.mailservers import Dovecot, Postfix, print_logs_if_failed, skip_reason, temp_dir

SKIP = skip_reason("postfix", "postqueue", "dovecot")

# CRLF, a line that starts with a dot (dot-stuffed on each SMTP hop), 8-bit UTF-8
MESSAGE = (b"From: alice@a.test\r\nTo: bob@b.test\r\nSubject: through postfix\r\n"
           b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <through-postfix@a.test>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           b"first line\r\n.a line with a leading dot\r\n..two dots\r\nGr\xc3\xbc\xc3\x9fe aus a.test\r\n"
           b"\r\nlast line\r\n")


def split_received(message):
    """(the Received: fields a relay put in front, the rest of the message)"""
    fields, rest = [], message
    while rest.startswith(b"Received:"):
        end = rest.index(b"\r\n")
        while rest[end + 2:end + 3] in (b" ", b"\t"):  # folded continuation lines
            end = rest.index(b"\r\n", end + 2)
        fields.append(rest[:end + 2])
        rest = rest[end + 2:]
    return fields, rest


@unittest.skipIf(SKIP, SKIP or "")
class PostfixRelay(unittest.TestCase):
    def setUp(self):
        self.dir = temp_dir(self, "mailbus-postfix-")
        self.a = Peer("a.test", ["alice"])
        self.addCleanup(self.a.stop)
        self.b = Peer("b.test", ["bob"])
        self.addCleanup(self.b.stop)

        sasl_dir = os.path.join(self.dir, "sasl")
        os.makedirs(sasl_dir)
        os.chmod(sasl_dir, 0o755)
        sasl = os.path.join(sasl_dir, "auth")
        self.dovecot = Dovecot(os.path.join(self.dir, "dovecot"), {"relay-a": "pw-a", "relay-b": "pw-b"},
                               pop3=False, auth_socket=sasl)
        self.postfix = Postfix(os.path.join(self.dir, "postfix"), relay_domains=["a.test", "b.test"],
                               transports={"a.test": self.a.smtp_port, "b.test": self.b.smtp_port},
                               ca_files=[self.a.cafile, self.b.cafile], sasl_path=sasl,
                               recipients=["alice@a.test", "bob@b.test"])
        smarthost = "127.0.0.1:%d" % self.postfix.port
        self.a.relay_through(smarthost, self.postfix.cafile, self.auth_file(self.a, "relay-a", "pw-a"))
        self.b.relay_through(smarthost, self.postfix.cafile, self.auth_file(self.b, "relay-b", "pw-b"))
        # the gateways make their certificates at their first start; Postfix's smtp client
        # trusts exactly those two (peers.pem), so Postfix starts after them
        self.a.start()
        self.b.start()
        self.addCleanup(self.dovecot.stop)
        self.dovecot.start()
        self.addCleanup(self.postfix.stop)
        self.postfix.start()

    def tearDown(self):
        print_logs_if_failed(self, [("postfix maillog", self.postfix.log()), ("dovecot (SASL)", self.dovecot.log()),
                                    ("gateway a", self.a.log("gateway")), ("gateway b", self.b.log("gateway"))])

    @staticmethod
    def auth_file(peer, user, password):
        path = os.path.join(peer.var, "relay.auth")
        with open(path, "w") as f:
            f.write("%s %s\n" % (user, password))
        os.chmod(path, 0o600)
        return path

    def send_raw(self, peer, user, to, data):
        path = os.path.join(peer.dir, "outgoing.eml")
        with open(path, "wb") as f:
            f.write(data)
        return publish(peer.endpoint, "%s@%s" % (user, peer.domain), PASSWORD, to, raw=path).stdout

    def wait_mail(self, peer, user, n=1, timeout=30):
        return wait_for(lambda: peer.count(user="%s@%s" % (user, peer.domain)) >= n, timeout=timeout,
                        what="mail for %s@%s" % (user, peer.domain))

    def failed_entries(self, n):
        def failed():
            entries = [e for e in self.a.queue() if e["state"] == "failed"]
            return entries if len(entries) >= n else None
        return wait_for(failed, timeout=30, what="%d failed entries on a" % n)

    def test_alice_mails_bob_through_postfix_intact_and_bob_replies(self):
        out = self.send_raw(self.a, "alice", "bob@b.test", MESSAGE)
        self.assertIn("queued for relay", out)
        self.wait_mail(self.b, "bob")
        [got] = self.b.mailbox("bob")
        received, rest = split_received(got)
        self.assertEqual(rest, MESSAGE)  # every byte after the relays' trace fields
        self.assertEqual(len(received), 2, received)
        # newest first: gateway b took it from Postfix, Postfix from gateway a (TLS, AUTH)
        self.assertTrue(received[0].startswith(b"Received: from mta.test"), received[0])
        self.assertIn(b"by gw.b.test", received[0])
        self.assertIn(b"ESMTPS", received[0])
        self.assertTrue(received[1].startswith(b"Received: from gw.a.test"), received[1])
        self.assertIn(b"by mta.test (Postfix)", received[1])
        self.assertIn(b"ESMTPSA", received[1])  # S: STARTTLS, A: authenticated
        wait_for(lambda: self.a.queue() == [], what="a's queue to empty")
        wait_for(lambda: self.postfix.queue() == [], what="Postfix's queue to empty")
        # Postfix logs through postlogd (a datagram to another process): a line may land after the queue empties
        wait_for(lambda: "status=sent" in self.postfix.log(), what="Postfix's delivery in its log")
        log = self.postfix.log()
        self.assertIn("sasl_method=PLAIN, sasl_username=relay-a", log)
        self.assertIn("Verified TLS connection established to 127.0.0.1[127.0.0.1]:%d" % self.b.smtp_port, log)
        self.assertIn("relay=127.0.0.1[127.0.0.1]:%d" % self.b.smtp_port, log)
        self.assertIn("status=sent", log)

        out = self.b.send("bob", "alice@a.test", "Re: through postfix", body="hello back from b")
        self.assertIn("queued for relay", out)
        self.wait_mail(self.a, "alice")
        [reply] = self.a.mailbox("alice")
        self.assertIn(b"Subject: Re: through postfix\r\n", reply)
        self.assertIn(b"hello back from b", reply)
        self.assertIn(b"by mta.test (Postfix)", reply)
        wait_for(lambda: "sasl_username=relay-b" in self.postfix.log(), what="relay-b's login in Postfix's log")
        wait_for(lambda: self.b.queue() == [], what="b's queue to empty")

    def test_gateway_b_down_the_mail_waits_in_postfix_queue(self):
        self.b.stop_gw()
        self.a.send("alice", "bob@b.test", "while gateway b was down", body="kept by postfix")
        # Postfix accepted it (a's queue is empty) and defers it itself
        wait_for(lambda: self.a.queue() == [], what="a to hand the mail to Postfix")
        # by queue id: showq may list a message moving from the active to the deferred
        # queue in both
        [entry] = wait_for(lambda: list({e["queue_id"]: e for e in self.postfix.queue()
                                         if any(r.get("delay_reason") for r in e["recipients"])}.values()),
                           what="a deferred message in Postfix's queue")
        self.assertEqual(entry["sender"], "alice@a.test")
        [rcpt] = entry["recipients"]
        self.assertEqual(rcpt["address"], "bob@b.test")
        self.assertIn("Connection refused", rcpt["delay_reason"])

        self.b.start_gw()
        self.postfix.flush()
        self.wait_mail(self.b, "bob")
        wait_for(lambda: self.postfix.queue() == [], what="Postfix's queue to empty")
        [got] = self.b.mailbox("bob")
        self.assertIn(b"Subject: while gateway b was down\r\n", got)
        self.assertEqual(self.a.mailbox("alice"), [])  # no bounce anywhere

    def test_postfix_down_the_mail_waits_in_a_outbound_queue(self):
        self.postfix.stop()
        self.a.send("alice", "bob@b.test", "while postfix was down")
        [entry] = wait_for(lambda: [e for e in self.a.queue() if e["attempts"] >= 1], what="a deferred entry")
        self.assertEqual(entry["state"], "queued")
        self.assertTrue(entry["error"].startswith("451 4.4.1 127.0.0.1:%d" % self.postfix.port), entry["error"])
        self.postfix.start()
        self.a.queue("flush")
        self.wait_mail(self.b, "bob")
        wait_for(lambda: self.a.queue() == [], what="a's queue to empty")
        [got] = self.b.mailbox("bob")
        self.assertIn(b"Subject: while postfix was down\r\n", got)

    def test_what_postfix_refuses_bounces_to_alice_with_postfix_reply(self):
        self.a.send("alice", "nobody@b.test", "to nobody")  # not in relay_recipient_maps
        self.a.send("alice", "carol@c.test", "to c")  # not in relay_domains
        failed = {e["recipient"]: e["error"] for e in self.failed_entries(2)}
        self.assertTrue(failed["nobody@b.test"].startswith("550 5.1.1 <nobody@b.test>: Recipient address rejected"),
                        failed)
        self.assertIn("User unknown in relay recipient table", failed["nobody@b.test"])
        self.assertEqual(failed["carol@c.test"], "554 5.7.1 <carol@c.test>: Relay access denied")
        bounces = self.wait_bounces(2)
        text = b"\n".join(bounces)
        self.assertIn(b"Final-Recipient: rfc822; nobody@b.test", text)
        self.assertIn(b"User unknown in relay recipient table", text)
        self.assertIn(b"Final-Recipient: rfc822; carol@c.test", text)
        self.assertIn(b"Diagnostic-Code: smtp; 554 5.7.1 <carol@c.test>: Relay access denied", text)
        self.assertEqual(self.postfix.queue(), [])  # refused during the SMTP dialogue: nothing queued
        self.assertEqual(self.b.count(user="bob@b.test"), 0)

    def test_wrong_relay_password_bounces_535_and_sends_nothing(self):
        self.a.stop_gw()
        self.auth_file(self.a, "relay-a", "not-the-password")
        self.a.start_gw()
        self.a.send("alice", "bob@b.test", "with a wrong password")
        [entry] = self.failed_entries(1)
        self.assertTrue(entry["error"].startswith("535 5.7.8"), entry["error"])
        [bounce] = self.wait_bounces(1)
        self.assertIn(b"Status: 5.7.8", bounce)
        self.assertIn(b"535 5.7.8 Error: authentication failed", bounce)
        wait_for(lambda: "authentication failed" in self.postfix.log(), what="the refused login in Postfix's log")
        self.assertEqual(self.postfix.queue(), [])
        self.assertEqual(self.b.count(user="bob@b.test"), 0)

    def wait_bounces(self, n):
        got = []
        wait_for(lambda: got.extend(self.a.mailbox("alice")) or len(got) >= n, timeout=30,
                 what="%d bounces for alice" % n)
        for bounce in got:
            self.assertIn(b"MAILER-DAEMON@a.test", bounce)
        return got


if __name__ == "__main__":
    unittest.main()
