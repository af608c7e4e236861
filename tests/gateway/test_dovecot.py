"""End-to-end: POP3 fetch from a real Dovecot (Debian's dovecot-pop3d).

The test starts a private Dovecot (mailservers.Dovecot: dovecot -F -c CONF, base_dir, state_dir
and log in a temporary directory; POP3 with STLS and POP3S on free 127.0.0.1 ports; users from a
passwd-file; mail in ~/Maildir) and puts mail into the remote user's Maildir the way an MDA
does: a file written in tmp/, renamed into new/. The local gateway fetches with
--fetch 'pop3://127.0.0.1:PORT bob secret carol@demo.test' (or pop3s://) and --fetch-ca
<Dovecot's certificate>.

Covered: every message in carol's mailbox byte for byte (a file stored with bare LF arrives as
Dovecot serves it, CRLF), the Maildir emptied; POP3S; --fetch-keep leaves them and does not
fetch them again after a gateway restart; SIGKILL of the gateway in the middle of a 200-message
run, then a restart: no loss, no duplicate (counted by Subject and Message-ID; half of them come
without a Message-ID, and the gateway adds one made from the UIDL); a wrong password (logged,
the gateway keeps running, nothing published); malformed messages in the Maildir (the gateway
does not crash, publishes the rest, and leaves what the broker refuses on the server, saying so
in its log).

Needs root, dovecot-core and dovecot-pop3d (.ci/install); skipped with the reason otherwise."""
import os
import time
import unittest

from mailbus_test.gateway import HoldingProxy, Stack, wait_for
from mailbus_test.mailservers import Dovecot, print_logs_if_failed, skip_reason, temp_dir
from test_fetch import message_ids

SKIP = skip_reason("dovecot")
LOCAL = "carol@demo.test"


def connected_to(port):
    """True while a TCP connection to 127.0.0.1:port is established (/proc/net/tcp)"""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[2] == "0100007F:%04X" % port and fields[3] == "01":
                return True
    return False


def message(tag, body=b"hello\r\n", message_id=True):
    return (b"Return-Path: <alice@remote.test>\r\nFrom: Alice <alice@remote.test>\r\nTo: bob@remote.test\r\n"
            b"Subject: " + tag.encode() + b"\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
            + (b"Message-ID: <" + tag.encode() + b"@remote.test>\r\n" if message_id else b"")
            + b"\r\n" + body)


def subjects(messages):
    return [m.split(b"\r\nSubject: ", 1)[1].split(b"\r\n", 1)[0] for m in messages]


@unittest.skipIf(SKIP, SKIP or "")
class DovecotFetch(unittest.TestCase):
    def setUp(self):
        self.dir = temp_dir(self, "mailbus-dovecot-")
        self.dovecot = Dovecot(os.path.join(self.dir, "dovecot"), {"bob": "secret"})
        self.addCleanup(self.dovecot.stop)
        self.dovecot.start()
        self.local = None

    def tearDown(self):
        logs = [("dovecot", self.dovecot.log())]
        if self.local:
            logs.append(("gateway", self.local.log("gateway")))
        print_logs_if_failed(self, logs)

    def start_local(self, *extra, password="secret", implicit=False, port=None):
        if implicit:
            url = "pop3s://127.0.0.1:%d" % self.dovecot.pop3s_port
        else:
            url = "pop3://127.0.0.1:%d" % (port or self.dovecot.pop3_port)
        args = ["--fetch", "%s bob %s %s" % (url, password, LOCAL), "--fetch-interval", "200", "--no-relay",
                "--fetch-ca", self.dovecot.cafile] + list(extra)
        self.local = Stack(gateway_args=args)
        self.addCleanup(self.local.stop)
        self.local.start()
        return self.local

    def deliver(self, *messages):
        for i, data in enumerate(messages):
            # a unique Maildir name per file: time, a sequence, this host
            self.dovecot.deliver("bob", data, "%d.M%dP%d.mailbus-test" % (time.time(), i, os.getpid()))

    def carol(self):
        return self.local.count(user=LOCAL)

    def remote(self):
        return self.dovecot.stored("bob")

    def publishes(self):
        return self.local.log("gateway").count("fetch-publish")

    def sessions(self):
        """finished POP3 sessions of bob, from Dovecot's log"""
        return self.dovecot.log().count("Disconnected: Logged out")

    def test_fetched_byte_for_byte_over_stls_and_deleted_from_the_maildir(self):
        crlf = [message("crlf-%d" % i, body=b"line\r\n.dot line\r\n..two dots\r\nGr\xc3\xbc\xc3\x9fe\r\nbye\r\n")
                for i in range(3)]
        # Maildir files are often stored with bare LF: POP3 (RFC 1939) serves them in CRLF
        lf = message("lf", body=b"unix line\r\nends\r\n").replace(b"\r\n", b"\n")
        self.deliver(*crlf, lf)
        self.start_local()
        wait_for(lambda: self.carol() >= 4, what="four fetched messages")
        wait_for(lambda: self.remote() == {}, what="the Maildir to be emptied (DELE, then QUIT)")
        got = self.local.drain(user=LOCAL)
        self.assertEqual(sorted(got), sorted(crlf + [lf.replace(b"\n", b"\r\n")]))
        self.assertIn("from=alice@remote.test to=carol@demo.test", self.local.log("gateway"))
        self.assertEqual(self.publishes(), 4)
        # the password went inside TLS: Dovecot logs the login as TLS (not merely "secured")
        # Dovecot's login processes write through its log process: a line may land late
        logins = wait_for(lambda: [line for line in self.dovecot.log().splitlines() if "Login: user=<bob>" in line],
                          what="Dovecot's login lines")
        self.assertTrue(all(", TLS," in line for line in logins), logins)

    def test_pop3s_implicit_tls(self):
        self.deliver(message("implicit"))
        self.start_local(implicit=True)
        wait_for(lambda: self.carol() >= 1, what="the message over POP3S")
        wait_for(lambda: self.remote() == {}, what="the Maildir to be emptied")
        self.assertEqual(self.local.drain(user=LOCAL), [message("implicit")])

    def test_keep_leaves_them_and_never_fetches_twice_across_restarts(self):
        self.deliver(message("kept-0"), message("kept-1"))
        self.start_local("--fetch-keep")
        wait_for(lambda: self.carol() >= 2, what="two fetched messages")
        self.assertEqual(len(self.remote()), 2)
        # a new gateway process: what it remembered keeps the old ones from coming again
        self.local._stop(self.local.gateway)
        self.local.gateway_log.close()
        self.local.start_gw()
        self.deliver(message("later-0"))
        wait_for(lambda: self.carol() >= 3, what="the third message")
        seen = self.sessions()
        wait_for(lambda: self.sessions() >= seen + 2, what="two more polls")
        self.assertEqual(self.carol(), 3)
        self.assertEqual(len(self.remote()), 3)
        self.assertEqual(self.publishes(), 3)  # not merely hidden by the broker's dedupe
        got = self.local.drain(user=LOCAL)
        self.assertEqual(sorted(message_ids(got)),
                         [b"<kept-0@remote.test>", b"<kept-1@remote.test>", b"<later-0@remote.test>"])

    def test_gateway_killed_between_fetch_and_delete_loses_and_duplicates_nothing(self):
        n = 200
        # every other one, the first too, without a Message-ID: the gateway makes one from the UIDL, the same
        # in the run after the kill, so the broker's dedupe still knows it
        self.deliver(*(message("bulk-%d" % i, body=(b"x" * 70 + b"\r\n") * 40, message_id=i % 2 == 1)
                       for i in range(n)))
        # through a proxy that passes the first 100 kB of the 600 kB the run needs and holds the
        # rest: the run is quicker than a loaded test may look at the log, the kill must come
        # in its middle
        proxy = HoldingProxy(self.dovecot.pop3_port, budget=100000)
        self.addCleanup(proxy.close)
        self.start_local(port=proxy.port)
        self.local.kill_gw_when_logged("fetch-publish")  # the first one of the run
        proxy.release()
        published_before = self.publishes()
        fetched_before = self.carol()
        self.assertGreaterEqual(fetched_before, 1)
        self.assertLess(fetched_before, n, "the kill came after the run: nothing was tested")
        # no QUIT: Dovecot applied none of the DELEs of that session
        wait_for(lambda: "Disconnected" in self.dovecot.log().split("Login: user=<bob>")[-1],
                 what="Dovecot to see the connection go")
        self.assertEqual(len(self.remote()), n)

        self.local.start_gw()
        wait_for(lambda: self.remote() == {}, timeout=90, what="every message fetched and deleted")
        self.assertEqual(self.carol(), n)
        got = self.local.drain(user=LOCAL)
        self.assertEqual(sorted(subjects(got)), sorted(b"bulk-%d" % i for i in range(n)))
        ids = message_ids(got)
        self.assertEqual(len(set(ids)), n)
        self.assertEqual(sorted(i for i in ids if i.endswith(b"@remote.test>")),
                         sorted(b"<bulk-%d@remote.test>" % i for i in range(1, n, 2)))
        made = [i for i in ids if not i.endswith(b"@remote.test>")]
        self.assertEqual(len(made), n // 2)
        self.assertTrue(all(i.startswith(b"<fetch.") and i.endswith(b"@demo.test>") for i in made), made[:3])
        self.assertGreaterEqual(self.local.log("gateway").count("fetch-message-id"), n // 2)
        # those published before the kill came again, and the broker's dedupe answered
        self.assertGreaterEqual(self.publishes(), published_before + n)

    def test_wrong_password_is_logged_and_nothing_is_published(self):
        self.deliver(message("locked"))
        self.start_local(password="wrong")
        wait_for(lambda: "fetch-failed" in self.local.log("gateway"), what="the failure in the gateway's log")
        self.assertIn('error="Login denied"', self.local.log("gateway"))
        # the gateway keeps polling (Dovecot's auth penalty makes the next failure take 4 s)
        wait_for(lambda: self.local.log("gateway").count("fetch-failed") >= 2, timeout=30,
                 what="a second attempt")
        self.assertIsNone(self.local.gateway.poll())
        self.assertTrue(self.local._banner(self.local.smtp_port))  # still serving
        wait_for(lambda: "auth failed" in self.dovecot.log(), what="Dovecot's auth failure in its log")
        self.assertEqual(self.publishes(), 0)
        self.assertEqual(self.carol(), 0)
        self.assertEqual(len(self.remote()), 1)
        # the next login waits out Dovecot's penalty (8 s): a SIGTERM meanwhile does not wait
        # for it (libcurl's progress callback sees the actor's $TERM)
        wait_for(lambda: connected_to(self.dovecot.pop3_port), what="the third attempt's connection")
        started = time.monotonic()
        self.local._stop(self.local.gateway)
        self.assertLess(time.monotonic() - started, 3.0)  # not the 4 s or 8 s of the penalty
        log = self.local.log("gateway")
        self.assertIn("fetch-stopped", log)
        self.assertEqual(log.count("fetch-failed"), 2)

    def test_malformed_messages_do_not_stop_the_others_and_are_not_lost(self):
        good = message("good")
        # RFC 5322 allows a message of header fields only, without the empty line; the broker
        # wants that line, and the fetcher puts it where Postfix's cleanup would
        fields_only = message("fields-only").split(b"\r\n\r\n")[0] + b"\r\n"
        no_header = b"just some text\r\nwith no header at all\r\n"
        bare_cr = message("bare-cr", body=b"a bare\rCR\r\n")
        no_eol = message("no-eol", body=b"no line end at the end")
        nul = message("nul", body=b"a NUL \x00 octet\r\n")  # the broker refuses it: 550 5.6.0
        self.deliver(fields_only, no_header, bare_cr, nul, no_eol, good)
        self.start_local()
        wait_for(lambda: self.carol() >= 5, what="the five messages the broker takes")
        seen = self.sessions()
        wait_for(lambda: self.sessions() >= seen + 2, what="two more polls")
        self.assertIsNone(self.local.gateway.poll())  # no crash
        got = self.local.drain(user=LOCAL)
        # the one without a header got a Message-ID (made from the UIDL) above its empty line
        made = [m for m in got if m.startswith(b"Message-ID: <fetch.")]
        self.assertEqual(len(made), 1, got)
        self.assertRegex(made[0], rb"^Message-ID: <fetch\.[0-9a-f]{32}@demo\.test>\r\n\r\njust some")
        got = [m.split(b"\r\n", 1)[1] if m in made else m for m in got]
        self.assertEqual(sorted(got), sorted([
            good,
            fields_only + b"\r\n",
            b"\r\n" + no_header,
            bare_cr.replace(b"bare\rCR", b"bareCR"),  # the fetcher drops a CR that ends no line
            no_eol + b"\r\n",
        ]))
        # the refused one is neither deleted nor lost: it stays in the Maildir, and every poll
        # says so in the gateway's log as a warning
        self.assertEqual(list(self.remote().values()), [nul])
        # "seen" may predate the first poll's logout in Dovecot's log: two more polls then
        # guarantee only two refusals, so the third one is waited for (a poll every 200 ms)
        wait_for(lambda: self.local.log("gateway").count("fetch-refused") >= 3, what="a third poll's refusal")
        log = self.local.log("gateway")
        refusals = [line for line in log.splitlines() if "fetch-refused" in line]
        self.assertGreaterEqual(len(refusals), 3)
        self.assertTrue(all(" warn " in line and "550 5.6.0 NUL octet" in line and "remote-copy=kept" in line
                            for line in refusals), refusals)
        self.assertEqual(log.count("fetch-mended"), 2)

if __name__ == "__main__":
    unittest.main()
