"""End-to-end: POP3 fetch. A second broker + gateway stack plays the remote POP3 server
(bob@demo.test there); the local gateway runs with --fetch 'pop3://127.0.0.1:PORT bob@demo.test
demo carol@demo.test' and publishes every remote message into local carol's mailbox, deleting
the remote copy only after the local broker's durable acknowledgement (or, with --fetch-keep,
remembering its UIDL). A gateway killed with SIGKILL in the middle of a fetch run loses
nothing and, thanks to the broker's Message-ID dedupe, duplicates nothing."""
import os
import smtplib
import sqlite3
import subprocess
import unittest

from mailbus_test.gateway import BUILD, PASSWORD, HoldingProxy, Stack, publish, wait_for


def message_ids(messages):
    out = []
    for m in messages:
        head = m.split(b"\r\n\r\n", 1)[0]
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                out.append(line.split(b":", 1)[1].strip())
    return out


class Fetch(unittest.TestCase):
    def setUp(self):
        self.remote = Stack()
        self.remote.__enter__()
        self.addCleanup(self.remote.stop)
        self.local = None

    def fetch_url(self, password=PASSWORD, port=None):
        """the --fetch value: four words, or three (no password) for --fetch-password-file"""
        return "pop3://127.0.0.1:%d bob@demo.test %scarol@demo.test" % (
            port or self.remote.pop3_port, password + " " if password else "")

    def start_local(self, *extra, verify=True, url=None):
        url = url or self.fetch_url()
        args = ["--fetch", url, "--fetch-interval", "200", "--no-relay"] + list(extra)
        # the remote's self-signed certificate (SAN localhost, 127.0.0.1), or no check at all
        args += ["--fetch-ca", self.remote.cafile] if verify else ["--fetch-insecure"]
        self.local = Stack(gateway_args=args)
        self.local.__enter__()
        self.addCleanup(self.local.stop)
        return self.local

    def remote_count(self):
        return self.remote.count(user="bob@demo.test")

    def carol(self):
        return self.local.count(user="carol@demo.test")

    def remote_stored(self):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.remote.var, "mailbus.db"), uri=True)
        try:
            return [row[0] for row in db.execute("select body from messages order by id")]
        finally:
            db.close()

    def remote_smtp(self, n, prefix, size=0):
        """n messages to the remote bob in one SMTP session (no AUTH: a local mailbox)"""
        s = smtplib.SMTP("127.0.0.1", self.remote.smtp_port, timeout=30)
        try:
            s.starttls(context=self.remote.tls_context())
            for i in range(n):
                body = ("From: alice@demo.test\r\nTo: bob@demo.test\r\nSubject: %s %d\r\n"
                        "Message-ID: <%s-%d@fetch.test>\r\n\r\n" % (prefix, i, prefix, i)
                        + ("x" * 70 + "\r\n") * (size // 72) + "end\r\n")
                # an outside sender: a local one would need AUTH (issue 11)
                self.assertEqual(s.sendmail("alice@example.org", ["bob@demo.test"], body.encode()), {})
            s.quit()
        finally:
            s.close()

    def publishes(self):
        return self.local.log("gateway").count("fetch-publish")

    def remote_pop3_sessions(self):
        return self.remote.log("gateway").count("info pop3 end session=")

    def gateway_argv(self):
        """the local gateway's arguments as ps and /proc/PID/cmdline show them now"""
        with open("/proc/%d/cmdline" % self.local.gateway.pid, "rb") as f:
            return f.read().rstrip(b"\0").split(b"\0")

    def password_file(self, text=PASSWORD + "\n", mode=0o600, name="fetch.password"):
        path = os.path.join(self.remote.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def test_a_fetch_password_in_argv_is_overwritten_in_proc_cmdline(self):
        self.remote_smtp(1, "ps")
        self.start_local()
        wait_for(lambda: self.carol() >= 1, what="the fetched message")  # the copy still logs in
        argv = self.gateway_argv()
        self.assertEqual(argv[argv.index(b"--fetch") + 1], self.fetch_url("*").encode())
        self.assertNotIn(PASSWORD.encode(), argv)
        self.assertNotIn(b" %s " % PASSWORD.encode(), b" ".join(argv))

    def test_fetch_password_file_keeps_the_password_out_of_the_command_line(self):
        self.remote_smtp(2, "file")
        path = self.password_file()
        self.start_local("--fetch-password-file", path, url=self.fetch_url(None))
        wait_for(lambda: self.carol() >= 2, what="two fetched messages")
        wait_for(lambda: self.remote_count() == 0, what="the remote copies to be deleted")
        argv = self.gateway_argv()
        self.assertEqual(argv[argv.index(b"--fetch") + 1], self.fetch_url(None).encode())
        self.assertNotIn(b" %s " % PASSWORD.encode(), b" ".join(argv))
        self.assertNotIn(PASSWORD.encode(), argv)

    def test_help_tells_how_to_keep_the_password_out_of_ps(self):
        p = subprocess.run([os.path.join(BUILD, "gateway", "mailbus-gateway"), "--help"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--fetch-password-file FILE", p.stdout)
        self.assertIn("--fetch 'URL USER MAILBOX'", p.stdout)

    def test_a_bad_fetch_password_file_stops_the_gateway_with_one_clear_line(self):
        local = Stack(start_gateway=False)
        local.__enter__()
        self.addCleanup(local.stop)
        missing = os.path.join(self.remote.dir, "missing")
        cases = [
            (self.password_file(mode=0o644, name="readable"), self.fetch_url(None), "nobody else may read or write"),
            (missing, self.fetch_url(None), "No such file"),
            (self.password_file(text="\n", name="empty"), self.fetch_url(None),
             "the first line must hold the password"),
            (self.password_file(text="x" * 300, name="long"), self.fetch_url(None),
             "the first line must hold the password"),
            (self.password_file(name="good"), self.fetch_url(), "takes 'URL USER MAILBOX'"),
        ]
        for path, url, why in cases:
            command = local.gateway_command(["--fetch", url, "--fetch-password-file", path, "--no-relay",
                                             "--smtp", "off", "--pop3", "off"])
            p = subprocess.run(command, cwd=local.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=30)
            err = p.stderr.decode("utf-8", "replace")
            self.assertEqual(p.returncode, 1, err)  # a start-up failure (--help)
            errors = [line for line in err.splitlines() if line.startswith("error:")]
            self.assertEqual(len(errors), 1, err)
            self.assertIn(why, errors[0])
            self.assertNotIn(" %s " % PASSWORD, err)

    def test_fetched_into_the_local_mailbox_byte_for_byte_and_deleted_remotely(self):
        for i in range(3):
            publish(self.remote.endpoint, "alice@demo.test", PASSWORD, "bob@demo.test",
                    subject="fetch me %d" % i, body="line\n.dot line\nbye")
        originals = self.remote_stored()
        self.assertEqual(len(originals), 3)
        self.start_local()
        wait_for(lambda: self.carol() >= 3, what="three fetched messages")
        wait_for(lambda: self.remote_count() == 0, what="the remote copies to be deleted")
        got = self.local.drain(user="carol@demo.test")
        self.assertEqual(got, originals)  # POP3 dot-stuffing undone, CRLF kept, nothing added
        self.assertIn("from=alice@demo.test to=carol@demo.test", self.local.log("gateway"))
        self.assertEqual(self.publishes(), 3)

    def test_a_message_over_the_size_limit_stays_remote_and_the_rest_is_fetched(self):
        # the big one first: the session must go on after it, so the small one's DELE applies
        self.remote_smtp(1, "big", size=20000)
        self.remote_smtp(1, "small")
        self.start_local("--max-message-size", "4096")
        wait_for(lambda: self.remote_count() == 1, what="the small one fetched and deleted remotely")
        wait_for(lambda: "fetch-too-big" in self.local.log("gateway"), what="the big one refused")
        seen = self.remote_pop3_sessions()
        wait_for(lambda: self.remote_pop3_sessions() >= seen + 2, what="two more polls")
        self.assertEqual(self.remote_count(), 1)
        self.assertEqual(self.carol(), 1)
        self.assertIn("max=4096 remote-copy=kept", self.local.log("gateway"))
        got = self.local.drain(user="carol@demo.test")
        self.assertEqual(message_ids(got), [b"<small-0@fetch.test>"])

    def test_keep_leaves_them_remotely_and_never_fetches_twice_across_restarts(self):
        self.remote_smtp(2, "kept")
        self.start_local("--fetch-keep", verify=False)
        wait_for(lambda: self.carol() >= 2, what="two fetched messages")
        self.assertEqual(self.remote_count(), 2)
        uidl = os.path.join(self.local.var, "fetch-carol@demo.test.uidl")
        with open(uidl) as f:
            self.assertEqual(len(f.read().split()), 2)
        # a new gateway process: the UIDLs it remembered keep the old ones from coming again
        self.local._stop(self.local.gateway)
        self.local.gateway_log.close()
        self.local.start_gw()
        self.remote_smtp(1, "later")
        wait_for(lambda: self.carol() >= 3, what="the third message")
        # two more complete polls of the remote maildrop after that
        seen = self.remote_pop3_sessions()
        wait_for(lambda: self.remote_pop3_sessions() >= seen + 2, what="two more polls")
        self.assertEqual(self.carol(), 3)
        self.assertEqual(self.remote_count(), 3)
        # only the new one was published again (not merely hidden by the broker's dedupe)
        self.assertEqual(self.publishes(), 3)
        got = self.local.drain(user="carol@demo.test")
        self.assertEqual(sorted(message_ids(got)),
                         [b"<kept-0@fetch.test>", b"<kept-1@fetch.test>", b"<later-0@fetch.test>"])

    def test_gateway_killed_between_fetch_and_delete_loses_and_duplicates_nothing(self):
        n = 60
        self.remote_smtp(n, "bulk", size=20000)
        # the run goes through a proxy that passes the first 100 kB of the 1.2 MB it needs and
        # holds the rest: the whole run takes well under a second, quicker than a loaded test
        # may look at the log, and the kill must come in its middle
        proxy = HoldingProxy(self.remote.pop3_port, budget=100000)
        self.addCleanup(proxy.close)
        self.start_local(url=self.fetch_url(port=proxy.port))
        # SIGKILL as soon as the first message of the run is published locally, before the
        # POP3 QUIT that would apply the DELEs
        self.local.kill_gw_when_logged("fetch-publish")
        proxy.release()
        published_before = self.publishes()
        self.assertGreaterEqual(published_before, 1)
        fetched_before = self.carol()
        self.assertGreaterEqual(fetched_before, 1)
        self.assertLess(fetched_before, n, "the kill came after the run: nothing was tested")
        # no QUIT was sent: the remote maildrop still holds every message
        wait_for(lambda: self.remote_count() == n, what="the remote to keep all after the kill")

        self.local.start_gw()
        wait_for(lambda: self.remote_count() == 0, timeout=60, what="every remote message fetched and deleted")
        self.assertEqual(self.carol(), n)
        got = self.local.drain(user="carol@demo.test")
        ids = message_ids(got)
        self.assertEqual(len(ids), n)
        self.assertEqual(sorted(ids), sorted(b"<bulk-%d@fetch.test>" % i for i in range(n)))
        # the ones published before the kill were published again, and the broker's dedupe
        # answered with its first reply instead of storing a second copy
        self.assertGreaterEqual(self.publishes(), published_before + n)


if __name__ == "__main__":
    unittest.main()
