"""End-to-end: federation by domain. Two brokers, a.test and b.test, each with its own
database, users and gateway; each gateway routes the other's domain straight to the other
gateway's SMTP port (--route DOMAIN=HOST:PORT) over STARTTLS, verifying the peer's self-signed
certificate (--smarthost-ca). Mail crosses real SMTP both ways, a peer that is down makes the
mail wait in the sender's outbound queue, and an unknown remote user bounces.

The same two brokers with a real Postfix between them (each gateway's smarthost, its
transport map routing each domain to its gateway): test_postfix.py. Peer, the broker-and-gateway
pair both use, is in mailbus_test/gateway.py."""
import subprocess
import unittest

from mailbus_test.gateway import BROKER, Peer, wait_for


class Federation(unittest.TestCase):
    def setUp(self):
        self.a = Peer("a.test", ["alice"])
        self.addCleanup(self.a.stop)
        self.b = Peer("b.test", ["bob"])
        self.addCleanup(self.b.stop)
        # each gateway trusts exactly the other's certificate, made at its first start; the
        # CA file is read at each delivery, so both may start before either file exists
        self.a.route_to(self.b)
        self.b.route_to(self.a)
        self.a.start()
        self.b.start()

    def wait_mail(self, peer, user, n=1, timeout=20):
        return wait_for(lambda: peer.count(user="%s@%s" % (user, peer.domain)) >= n, timeout=timeout,
                        what="mail for %s@%s" % (user, peer.domain))

    def test_alice_at_a_mails_bob_at_b_and_bob_replies(self):
        out = self.a.send("alice", "bob@b.test", "across", body="hello from a")
        self.assertIn("queued for relay", out)
        self.wait_mail(self.b, "bob")
        [got] = self.b.mailbox("bob")
        self.assertIn(b"Subject: across\r\n", got)
        self.assertIn(b"From: alice@a.test", got)
        # gateway b received it over TLS (verified certificate) and stamped its Received:
        self.assertTrue(got.startswith(b"Received: from gw.a.test"), got[:200])
        self.assertIn(b"by gw.b.test", got.split(b"\r\n\r\n")[0])
        self.assertIn(b"ESMTPS", got.split(b"\r\n\r\n")[0])
        wait_for(lambda: self.a.queue() == [], what="a's queue to empty")

        out = self.b.send("bob", "alice@a.test", "Re: across", body="hello back from b")
        self.assertIn("queued for relay", out)
        self.wait_mail(self.a, "alice")
        [reply] = self.a.mailbox("alice")
        self.assertIn(b"Subject: Re: across\r\n", reply)
        self.assertIn(b"From: bob@b.test", reply)
        wait_for(lambda: self.b.queue() == [], what="b's queue to empty")

    def test_peer_down_mail_waits_in_the_queue_and_arrives_when_it_returns(self):
        # the whole of b down: nothing listens on its SMTP port
        self.b.stop_gw()
        self.b.stop_broker()
        self.a.send("alice", "bob@b.test", "while b was down")
        [entry] = wait_for(lambda: [e for e in self.a.queue() if e["attempts"] >= 1], what="a deferred entry")
        self.assertEqual((entry["state"], entry["recipient"]), ("queued", "bob@b.test"))
        self.assertTrue(entry["error"].startswith("451 4.4.1"), entry["error"])
        listing = subprocess.run([BROKER, "--db", self.a.db, "queue"], capture_output=True, text=True, timeout=60)
        self.assertIn("bob@b.test", listing.stdout)
        self.assertIn("queued", listing.stdout)

        self.b.start_broker()
        self.b.start_gw()
        self.a.queue("flush")
        self.wait_mail(self.b, "bob")
        wait_for(lambda: self.a.queue() == [], what="a's queue to empty")
        [got] = self.b.mailbox("bob")
        self.assertIn(b"Subject: while b was down\r\n", got)

    def test_only_broker_b_down_gateway_b_answers_4xx_and_the_mail_waits(self):
        self.b.stop_broker()
        self.a.send("alice", "bob@b.test", "while broker b was down")
        [entry] = wait_for(lambda: [e for e in self.a.queue() if e["attempts"] >= 1], timeout=30,
                           what="a deferred entry")
        self.assertEqual(entry["state"], "queued")
        # gateway b's own answer (451 4.3.0 broker unavailable): a retry, not a bounce
        self.assertTrue(entry["error"].startswith("451 4.3.0"), entry["error"])
        self.b.start_broker()
        self.a.queue("flush")
        self.wait_mail(self.b, "bob", timeout=30)
        wait_for(lambda: self.a.queue() == [], what="a's queue to empty")
        self.assertEqual(len(self.b.mailbox("bob")), 1)
        self.assertEqual(self.a.mailbox("alice"), [])  # no bounce

    def test_unknown_user_at_the_peer_bounces_to_the_sender(self):
        self.a.send("alice", "nobody@b.test", "to nobody")
        [entry] = wait_for(lambda: [e for e in self.a.queue() if e["state"] == "failed"], what="a failed entry")
        self.assertIn("550 5.1.1", entry["error"])
        bounce = wait_for(lambda: self.a.mailbox("alice"), what="the bounce on a")
        self.assertEqual(len(bounce), 1)
        self.assertIn(b"Final-Recipient: rfc822; nobody@b.test", bounce[0])
        self.assertIn(b"550 5.1.1", bounce[0])
        self.assertIn(b"MAILER-DAEMON@a.test", bounce[0])


if __name__ == "__main__":
    unittest.main()
