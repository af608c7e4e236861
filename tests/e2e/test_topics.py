"""List topics, flow-controlled watch, competing consumers, expiry and the outbound queue,
against a real broker process over its real ZeroMQ socket (pyzmq as the independent client)."""
import email.utils
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest

import zmq
from mailbus_test.ports import free_port
from mailbus_test.process import BROKER, SUB, stop_process


class Broker:
    """A real mailbus-broker on a free loopback port and a fresh database."""

    def __init__(self, *options):
        self.dir = tempfile.mkdtemp(prefix="mailbus-topics-")
        self.db = os.path.join(self.dir, "var", "mailbus.db")
        self.ctx = zmq.Context()
        self.log = open(os.path.join(self.dir, "broker.log"), "w")
        # a free port can be taken by someone else before the broker binds it: try another
        for _ in range(5):
            self.endpoint = "tcp://127.0.0.1:%d" % free_port()
            self.proc = subprocess.Popen([BROKER, "--db", self.db, "--bind", self.endpoint, *options],
                                         stdout=self.log, stderr=self.log)
            if self._ready():
                return
            self.proc.wait(10)
            with open(self.log.name) as f:
                text = f.read()
            if "Address already in use" not in text:
                raise RuntimeError("broker did not come up:\n" + text)
        raise RuntimeError("broker found no free port")

    def _ready(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                # a HELO costs an Argon2id check: on a loaded machine, seconds
                Client(self, "alice@demo.test", timeout_ms=10000).close()
                return True
            except (AssertionError, zmq.Again):
                pass
        self.proc.kill()
        return False

    def admin(self, *args):
        return subprocess.run([BROKER, "--db", self.db, *args], capture_output=True, text=True, timeout=30)

    def close(self):
        stop_process(self.proc, 10)
        self.ctx.destroy(linger=0)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# a reply or push that does not come within this is a failure: only a failing test waits it out
# (a loaded machine with fsync and Argon2id logins needs far more than the usual milliseconds)
REPLY_TIMEOUT_MS = 30000


class Client:
    def __init__(self, broker, user, password="demo", timeout_ms=REPLY_TIMEOUT_MS):
        self.sock = broker.ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.rcvtimeo = timeout_ms
        self.sock.connect(broker.endpoint)
        self.seq = 0
        self.pushes = []
        try:
            reply = self.call("HELO", "MAILBUS/1", user, password)
        except zmq.Again:
            self.sock.close(0)
            raise
        assert reply[0].startswith(b"250"), reply
        self.sock.rcvtimeo = REPLY_TIMEOUT_MS

    def call(self, verb, *args):
        self.seq += 1
        rid = str(self.seq).encode()
        self.sock.send_multipart([rid, verb.encode()] + [a if isinstance(a, bytes) else a.encode() for a in args])
        while True:
            frames = self.sock.recv_multipart()
            if frames[0] == b"*":
                self.pushes.append(frames)
                continue
            if frames[0] == rid:
                return frames[1:]

    def push(self, timeout_ms=REPLY_TIMEOUT_MS):
        if self.pushes:
            return self.pushes.pop(0)
        self.sock.rcvtimeo = timeout_ms
        try:
            return self.sock.recv_multipart()
        except zmq.Again:
            return None
        finally:
            self.sock.rcvtimeo = REPLY_TIMEOUT_MS

    def close(self):
        self.sock.close(0)


def message(subject, extra=""):
    return ("From: x@demo.test\r\nSubject: %s\r\n%s\r\nbody of %s\r\n" % (subject, extra, subject)).encode()


class Topics(unittest.TestCase):
    def setUp(self):
        # the default --queue-max-age (days): no test here expects a DEFER to bounce for age
        # (tests/gateway/test_relay.py does), and a short one bounced a DEFER on a slow machine
        self.broker = Broker("--retry-base", "1")
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        if self._outcome.errors if hasattr(self._outcome, "errors") else False:
            print(open(self.broker.log.name).read())
        self.broker.close()

    def client(self, user):
        c = Client(self.broker, user)
        self.clients.append(c)
        return c

    def ok(self, result):
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return result.stdout

    def db(self):
        return sqlite3.connect("file:%s?mode=ro" % self.broker.db, uri=True)

    # ------------------------------------------------------------------ lists

    def test_fan_out_to_100_subscribers_20_offline_stores_one_body(self):
        self.ok(self.broker.admin("list", "add", "news@demo.test", "--posting", "anyone"))
        users = ["u%02d@demo.test" % i for i in range(100)]
        for u in users:
            self.ok(self.broker.admin("mailbox", "add", u, "--password", "pw"))
            self.ok(self.broker.admin("list", "subscribe", "news@demo.test", u))
        # 80 watch, 20 are offline
        watchers = []
        for u in users[:80]:
            c = Client(self.broker, u, "pw")
            self.clients.append(c)
            watchers.append(c)
        # WATCH once all are identified: 80 logins (Argon2id each) can outlast a watch's 15 s
        # idle limit on a loaded machine, and this test is not about that limit
        for c in watchers:
            self.assertTrue(c.call("WATCH")[0].startswith(b"250"))
        alice = self.client("alice@demo.test")
        for i in range(5):
            reply = alice.call("SEND", "alice@demo.test", "news@demo.test", message("issue %d" % i))
            self.assertEqual(reply[1], b"250 2.0.0 news@demo.test list: 100 deliveries, message %d" % (i + 1), reply)
        for c in watchers:
            got = [c.push() for _ in range(5)]
            self.assertTrue(all(p and p[1] == b"NEW" for p in got), got)
        with self.db() as db:
            self.assertEqual(db.execute("select count(*) from messages").fetchone()[0], 5)
            rows = db.execute("select mailbox, count(*) from inbox group by mailbox").fetchall()
        self.assertEqual(sorted(rows), sorted((u, 5) for u in users))
        # an offline subscriber comes back and finds everything
        late = Client(self.broker, users[-1], "pw")
        self.clients.append(late)
        self.assertTrue(late.call("STAT")[0].startswith(b"250 2.0.0 5 messages"))

    def test_late_subscriber_gets_only_what_comes_after(self):
        self.ok(self.broker.admin("list", "add", "news@demo.test", "--posting", "anyone"))
        alice, bob = self.client("alice@demo.test"), self.client("bob@demo.test")
        self.assertTrue(alice.call("SUBSCRIBE", "news@demo.test")[0].startswith(b"250"))
        alice.call("SEND", "alice@demo.test", "news@demo.test", message("before"))
        self.assertTrue(bob.call("SUBSCRIBE", "news@demo.test")[0].startswith(b"250"))
        alice.call("SEND", "alice@demo.test", "news@demo.test", message("after"))
        listing = bob.call("LIST")
        self.assertEqual(len(listing) - 1, 1)
        self.assertIn(b"\tafter", listing[1])

    def test_nested_lists_dedupe_and_loops_give_554_5_4_6(self):
        for name in ("a", "b", "loop1", "loop2"):
            self.ok(self.broker.admin("list", "add", name + "@demo.test", "--posting", "anyone"))
        self.ok(self.broker.admin("list", "subscribe", "a@demo.test", "bob@demo.test"))
        self.ok(self.broker.admin("list", "subscribe", "b@demo.test", "bob@demo.test"))
        self.ok(self.broker.admin("list", "subscribe", "a@demo.test", "b@demo.test"))
        self.ok(self.broker.admin("list", "subscribe", "loop1@demo.test", "loop2@demo.test"))
        self.ok(self.broker.admin("list", "subscribe", "loop2@demo.test", "loop1@demo.test"))
        self.ok(self.broker.admin("list", "subscribe", "loop2@demo.test", "carol@demo.test"))
        alice = self.client("alice@demo.test")
        reply = alice.call("SEND", "alice@demo.test", "a@demo.test", "b@demo.test", message("twice"))
        self.assertEqual(reply[0], b"250 2.0.0 2 of 2 recipients accepted")
        self.assertEqual(self.client("bob@demo.test").call("STAT")[1], b"1")
        reply = alice.call("SEND", "alice@demo.test", "loop1@demo.test", message("loop"))
        self.assertTrue(reply[0].startswith(b"554 5.4.6"), reply)
        self.assertTrue(reply[1].startswith(b"554 5.4.6 loop1@demo.test"), reply)
        self.assertEqual(self.client("carol@demo.test").call("STAT")[1], b"0")

    def test_subscription_filter_delivers_only_matching_subjects(self):
        self.ok(self.broker.admin("list", "add", "news@demo.test", "--posting", "anyone"))
        bob, alice = self.client("bob@demo.test"), self.client("alice@demo.test")
        self.assertTrue(bob.call("SUBSCRIBE", "news@demo.test", "subject:*urgent*")[0].startswith(b"250"))
        alice.call("SEND", "alice@demo.test", "news@demo.test", message("boring"))
        alice.call("SEND", "alice@demo.test", "news@demo.test", message("URGENT: coffee"))
        listing = bob.call("LIST")
        self.assertEqual([l.split(b"\t")[5] for l in listing[1:]], [b"URGENT: coffee"])

    def test_bad_list_requests_get_clear_codes_and_change_nothing(self):
        self.ok(self.broker.admin("list", "add", "team@demo.test", "--closed"))
        self.ok(self.broker.admin("list", "add", "news@demo.test"))
        bob = self.client("bob@demo.test")
        cases = [
            (("SUBSCRIBE", "missing@demo.test"), b"550 5.1.1"),
            (("SUBSCRIBE", "team@demo.test"), b"550 5.7.1"),
            (("SUBSCRIBE", "news@demo.test", "subject:[unclosed"), b"501 5.5.4"),
            (("SUBSCRIBE", "news@demo.test", "no colon"), b"501 5.5.4"),
            (("SUBSCRIBE", "not an address"), b"501 5.1.3"),
            (("UNSUBSCRIBE", "news@demo.test"), b"550 5.2.0"),
            (("EXPN", "team@demo.test"), b"550 5.7.1"),
        ]
        for request, code in cases:
            self.assertTrue(bob.call(*request)[0].startswith(code), (request, code))
        # posting to a members-only list as a non-member
        reply = bob.call("SEND", "bob@demo.test", "news@demo.test", message("hi"))
        self.assertTrue(reply[1].startswith(b"550 5.7.2"), reply)
        self.assertTrue(bob.call("SUBSCRIBE", "news@demo.test")[0].startswith(b"250"))
        self.assertTrue(bob.call("UNSUBSCRIBE", "news@demo.test")[0].startswith(b"250"))
        self.assertTrue(bob.call("UNSUBSCRIBE", "news@demo.test")[0].startswith(b"550 5.2.0"))
        with self.db() as db:
            self.assertEqual(db.execute("select count(*) from subscriptions").fetchone()[0], 0)
            self.assertEqual(db.execute("select count(*) from messages").fetchone()[0], 0)
        result = self.broker.admin("list", "subscribe", "news@demo.test", "bob@demo.test", "--filter", "subject:[x")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("501 5.5.4", result.stderr)

    # ------------------------------------------------------------------ watch flow control

    def test_a_stalled_watcher_does_not_hold_back_the_others(self):
        bob_slow, bob_fast = self.client("bob@demo.test"), self.client("bob@demo.test")
        self.assertTrue(bob_slow.call("WATCH", "4")[0].startswith(b"250"))
        self.assertTrue(bob_fast.call("WATCH", "1000")[0].startswith(b"250"))
        alice = self.client("alice@demo.test")
        for i in range(50):
            alice.call("SEND", "alice@demo.test", "bob@demo.test", message("m%d" % i))
            if i % 10 == 9:
                # a request that returns no credit: a watch without any request for 15 s is dropped
                self.assertTrue(bob_slow.call("NOOP")[0].startswith(b"250"))
        fast = [bob_fast.push() for _ in range(50)]
        self.assertTrue(all(p and p[1] == b"NEW" for p in fast))
        # the slow one got its window's worth and no more; its CREDIT says what it missed
        slow = []
        while True:
            p = bob_slow.push(300)
            if not p:
                break
            slow.append(p)
        self.assertEqual(len(slow), 4)
        reply = bob_slow.call("CREDIT", "4")
        self.assertEqual(reply[1], b"46", reply)
        self.assertEqual(len(bob_slow.call("LIST")) - 1, 50)
        for bad in (("CREDIT", "0"), ("CREDIT", "x"), ("WATCH", "5000")):
            self.assertTrue(bob_slow.call(*bad)[0].startswith(b"501 5.5.4"), bad)

    def rss_kib(self):
        with open("/proc/%d/status" % self.broker.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def test_watchers_that_never_read_cost_the_broker_bounded_memory(self):
        # ten sessions watch bob with the largest window and never return credit; one reads
        stalled = []
        for _ in range(10):
            c = self.client("bob@demo.test")
            self.assertTrue(c.call("WATCH", "1000")[0].startswith(b"250"))
            stalled.append(c)
        reader = self.client("bob@demo.test")
        self.assertTrue(reader.call("WATCH", "1000")[0].startswith(b"250"))
        alice = self.client("alice@demo.test")
        before = self.rss_kib()
        big = message("x", "X-Padding: " + "p" * 200 + "\r\n")
        sent = 0
        for start in range(0, 20000, 1000):
            for i in range(start, start + 1000):
                alice.sock.send_multipart([b"b%d" % i, b"SEND", b"alice@demo.test", b"bob@demo.test", big])
            for _ in range(1000):
                self.assertTrue(alice.sock.recv_multipart()[1].startswith(b"250"))
            sent += 1000
            # the reader keeps up and hands its credit back
            for _ in range(1000):
                p = reader.push(10000)
                self.assertIsNotNone(p)
            self.assertTrue(reader.call("CREDIT", "1000")[0].startswith(b"250"))
            # the stalled ones send a request that returns no credit: a watch without any
            # request for 15 s is dropped, and 20 rounds take longer than that
            for c in stalled:
                self.assertTrue(c.call("NOOP")[0].startswith(b"250"))
        grown = self.rss_kib() - before
        print("broker RSS grew by %d KiB" % grown)
        # the stalled watchers hold at most their window each (10 x 1000 small pushes)
        # (without credit, the 190,000 pushes nobody reads would sit in the broker: far more).
        # Under AddressSanitizer freed memory is quarantined, so RSS says nothing there.
        if "detect_leaks" not in os.environ.get("ASAN_OPTIONS", ""):
            self.assertLess(grown, 32 * 1024, "broker RSS grew by %d KiB" % grown)
        got = 0
        while stalled[0].push(200):
            got += 1
        self.assertEqual(got, 1000)
        self.assertEqual(stalled[0].call("CREDIT", "1000")[1], b"%d" % (sent - 1000))

    def test_retention_keeps_the_newest_messages_only(self):
        self.ok(self.broker.admin("mailbox", "retention", "bob@demo.test", "--keep", "3"))
        alice = self.client("alice@demo.test")
        for i in range(6):
            alice.call("SEND", "alice@demo.test", "bob@demo.test", message("r%d" % i))
        bob = self.client("bob@demo.test")
        deadline = time.monotonic() + 30  # a loaded machine: the loop ends as soon as it holds
        while time.monotonic() < deadline and bob.call("STAT")[1] != b"3":
            time.sleep(0.2)
        subjects = [l.split(b"\t")[5] for l in bob.call("LIST")[1:]]
        self.assertEqual(subjects, [b"r3", b"r4", b"r5"])
        bad = self.broker.admin("mailbox", "retention", "bob@demo.test", "--keep", "many")
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("501 5.5.4", bad.stderr)

    # ------------------------------------------------------------------ consumers

    def test_competing_consumers_share_10000_messages_without_overlap(self):
        alice = self.client("alice@demo.test")
        total = 10000
        for start in range(0, total, 500):
            for i in range(start, start + 500):
                alice.sock.send_multipart([b"s%d" % i, b"SEND", b"alice@demo.test", b"bob@demo.test", message("job %d" % i)])
            for _ in range(500):
                self.assertTrue(alice.sock.recv_multipart()[1].startswith(b"250"))
        for workers in (2, 4):
            if workers == 4:
                for i in range(total, total * 2):
                    pass
            seen = [[] for _ in range(workers)]

            def work(n):
                c = Client(self.broker, "bob@demo.test")
                try:
                    while True:
                        reply = c.call("LEASE", "50")
                        assert reply[0].startswith(b"250"), reply
                        ids = reply[1::2]
                        if not ids:
                            return
                        seen[n].extend(int(id_) for id_ in ids)
                        # the lease's ids in one ACK (one commit, not one each): all of them held
                        # by this session, each deleted once ("acknowledged 7" for a single id)
                        ack = c.call("ACK", b" ".join(ids))
                        done = ids[0] if len(ids) == 1 else b"%d of %d" % (len(ids), len(ids))
                        assert ack[0] == b"250 2.0.0 acknowledged " + done, (ack, ids)
                finally:
                    c.close()

            threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
                self.assertFalse(t.is_alive(), "a consumer did not finish within 120 s")
            union = [i for s in seen for i in s]
            self.assertEqual(len(union), len(set(union)), "a message went to two consumers")
            if workers == 2:
                self.assertEqual(len(union), total)
                # refill for the four-consumer round
                for start in range(0, total, 500):
                    for i in range(start, start + 500):
                        alice.sock.send_multipart([b"t%d" % i, b"SEND", b"alice@demo.test", b"bob@demo.test",
                                                   message("job %d" % i)])
                    for _ in range(500):
                        alice.sock.recv_multipart()
            else:
                self.assertEqual(len(union), total)
        self.assertEqual(self.client("bob@demo.test").call("STAT")[1], b"0")

    def test_a_killed_consumers_leases_go_to_another(self):
        alice = self.client("alice@demo.test")
        for i in range(3):
            alice.call("SEND", "alice@demo.test", "bob@demo.test", message("job %d" % i))
        script = ("import zmq,sys,os\n"
                  "s=zmq.Context().socket(zmq.DEALER); s.connect(sys.argv[1])\n"
                  "s.send_multipart([b'1',b'HELO',b'MAILBUS/1',b'bob@demo.test',b'demo']); s.recv_multipart()\n"
                  "s.send_multipart([b'2',b'LEASE',b'3',b'2']); r=s.recv_multipart()\n"
                  "print(len(r), flush=True); os.kill(os.getpid(), 9)\n")
        out = subprocess.run(["/usr/bin/python3", "-c", script, self.broker.endpoint], capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(out.stdout.strip(), "8")  # id + 6 frames for 3 messages + status
        other = self.client("bob@demo.test")
        # the broker gives a dead consumer's leases back when its connection ends (or, at the
        # latest, when the lease runs out): another consumer gets all three, each once
        deadline = time.monotonic() + 30  # a loaded machine: the loop ends as soon as it holds
        while time.monotonic() < deadline:
            reply = other.call("LEASE", "3")
            if len(reply) == 7:
                break
            time.sleep(0.2)
        self.assertEqual(len(reply), 7, reply)
        self.assertTrue(other.call("ACK", "999")[0].startswith(b"550 5.2.0"))
        self.assertTrue(other.call("LEASE", "1000")[0].startswith(b"501 5.5.4"))

    def test_mailbus_sub_consumers_and_subscriptions_from_the_command_line(self):
        env = dict(os.environ, MAILBUS_BROKER=self.broker.endpoint, MAILBUS_PASSWORD="demo")
        alice = self.client("alice@demo.test")
        for i in range(200):
            alice.sock.send_multipart([b"c%d" % i, b"SEND", b"alice@demo.test", b"bob@demo.test", message("task %d" % i)])
        for _ in range(200):
            self.assertTrue(alice.sock.recv_multipart()[1].startswith(b"250"))
        consumers = [subprocess.Popen([SUB, "-u", "bob@demo.test", "consume", "--until-empty", "--prefetch", "5"],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for _ in range(2)]
        outputs = [c.communicate(timeout=120) for c in consumers]
        for c, (out, err) in zip(consumers, outputs):
            self.assertEqual(c.returncode, 0, err)
        ids = [line.split()[1] for out, _ in outputs for line in out.splitlines()]
        self.assertEqual(len(ids), 200)
        self.assertEqual(len(set(ids)), 200)
        self.ok(self.broker.admin("list", "add", "news@demo.test", "--posting", "anyone"))
        run = lambda *a: subprocess.run([SUB, "-u", "bob@demo.test", *a], env=env, capture_output=True, text=True,
                                        timeout=30)
        self.assertEqual(run("subscribe", "news@demo.test", "--filter", "subject:*x*").returncode, 0)
        bad = run("subscribe", "missing@demo.test")
        self.assertEqual(bad.returncode, 1)
        self.assertIn("550 5.1.1", bad.stderr)
        self.assertEqual(run("unsubscribe", "news@demo.test").returncode, 0)
        again = run("unsubscribe", "news@demo.test")
        self.assertEqual(again.returncode, 1)
        self.assertIn("550 5.2.0", again.stderr)
        self.assertEqual(run("consume", "--prefetch", "0").returncode, 64)

    # ------------------------------------------------------------------ expiry, relay queue

    def test_expired_messages_are_never_handed_out(self):
        alice, bob = self.client("alice@demo.test"), self.client("bob@demo.test")
        # ten seconds ahead: formatdate drops the fraction, and a SEND that reaches the broker
        # after that moment is refused (554 5.4.7); on a loaded machine it may take seconds
        soon = email.utils.formatdate(time.time() + 10)
        self.assertTrue(alice.call("SEND", "alice@demo.test", "bob@demo.test",
                                   message("short-lived", "Expires: %s\r\n" % soon))[0].startswith(b"250"))
        self.assertTrue(alice.call("SEND", "alice@demo.test", "bob@demo.test",
                                   message("bad", "Expires: tomorrow-ish\r\n"))[0].startswith(b"550 5.6.0"))
        self.assertTrue(alice.call("SEND", "alice@demo.test", "bob@demo.test",
                                   message("old", "Expires: Mon, 01 Jan 2001 00:00:00 +0000\r\n"))[0].startswith(b"554 5.4.7"))
        deadline = time.monotonic() + 40  # its expiry, then the purge (once a second)
        while time.monotonic() < deadline and bob.call("STAT")[1] != b"0":
            time.sleep(0.2)
        self.assertEqual(bob.call("STAT")[1], b"0")
        self.assertEqual(len(bob.call("LIST")), 1)

    def test_other_domains_queue_for_relay_and_queue_commands_work(self):
        alice = self.client("alice@demo.test")
        reply = alice.call("SEND", "alice@demo.test", "x@b.test", "bob@demo.test", message("out"))
        self.assertEqual(reply[1], b"250 2.0.0 x@b.test queued for relay as 1")
        out = self.ok(self.broker.admin("queue"))
        self.assertIn("x@b.test", out)
        with self.db() as db:
            self.assertEqual(db.execute("select recipient, state from outbound_queue").fetchall(), [("x@b.test", "queued")])
        # relay verbs are the gateway's only
        self.assertTrue(alice.call("CLAIM")[0].startswith(b"550 5.7.1"))
        with open(os.path.join(self.broker.dir, "var", "gateway.secret")) as f:
            user, password = f.read().split()
        gw = Client(self.broker, user, password)
        self.clients.append(gw)
        claimed = gw.call("CLAIM", "5", "60")
        self.assertEqual(claimed[1:4], [b"1", b"alice@demo.test", b"x@b.test"])
        before = int(time.time())
        deferred = gw.call("DEFER", "1", "451 4.4.1 peer down")
        self.assertTrue(deferred[0].startswith(b"250 2.0.0 entry 1 retries in "), deferred)
        self.assertEqual(deferred[1], b"retry")
        # backed off: not due before the next second (a CLAIM right now could already cross it)
        with self.db() as db:
            attempts, next_attempt = db.execute("select attempts, next_attempt from outbound").fetchone()
        self.assertEqual(attempts, 1)
        self.assertGreaterEqual(next_attempt, before + 1)
        self.ok(self.broker.admin("queue", "flush"))
        claimed = gw.call("CLAIM")
        self.assertEqual(claimed[1], b"1")
        self.assertEqual(claimed[4], b"1")  # one attempt: the DEFER
        # RELEASE gives it back untried: claimable again at once, no attempt counted
        self.assertTrue(alice.call("RELEASE", "1")[0].startswith(b"550 5.7.1"))
        self.assertTrue(gw.call("RELEASE", "x")[0].startswith(b"501 5.5.4"))
        self.assertTrue(gw.call("RELEASE")[0].startswith(b"501 "))
        self.assertTrue(gw.call("RELEASE", "99")[0].startswith(b"550 5.2.0"))
        self.assertEqual(gw.call("RELEASE", "1")[:2], [b"250 2.0.0 entry 1 released", b"retry"])
        claimed = gw.call("CLAIM")
        self.assertEqual((claimed[1], claimed[4]), (b"1", b"1"))
        self.assertEqual(gw.call("FAIL", "1", "550 5.1.1 no such user")[1], b"bounce")
        self.assertTrue(gw.call("RELEASE", "1")[0].startswith(b"550 5.2.0"))  # failed: nothing to give back
        self.assertTrue(gw.call("RELAYED", "1")[0].startswith(b"550 5.2.0"))
        self.ok(self.broker.admin("queue", "del", "1"))
        self.assertNotEqual(self.broker.admin("queue", "del", "1").returncode, 0)
        looping = ("Received: from x\r\n" * 31 + "Subject: loop\r\n\r\nx\r\n").encode()
        self.assertTrue(alice.call("SEND", "alice@demo.test", "x@b.test", looping)[0].startswith(b"554 5.4.6"))


if __name__ == "__main__":
    unittest.main()
