"""End-to-end: real, independent IMAP clients (Python imaplib, curl, fetchmail, neomutt, openssl
s_client) read, flag, file and delete through a real mailbus-gateway, from a real broker, what
mailbus-pub published; IDLE sessions see new mail within a second of the publish, from the
broker's WATCH; POP3, mailbus-sub and IMAP see each other's changes."""
import base64
import os
import shutil
import smtplib
import subprocess
import tempfile
import time
import unittest

from mailbus_test.imap import PASSWORD, ImapCase


def fetch_item(data, name):
    """The bytes of item name in an imaplib fetch answer [(b'1 (UID 5 BODY[] {n}', b'...'), b')']"""
    for part in data:
        if isinstance(part, tuple) and name.encode() in part[0]:
            return part[1]
    raise AssertionError("%s not in %r" % (name, data))


class ImapClients(ImapCase):
    gateway_args = ("--imaps", "127.0.0.1:{imaps}")

    # ---- logging in
    def test_logindisabled_in_clear_then_login_after_starttls(self):
        r = self.raw_imap()
        untagged, ok = r.cmd("CAPABILITY")
        caps = untagged[0].split()
        self.assertIn(b"LOGINDISABLED", caps)
        self.assertIn(b"STARTTLS", caps)
        self.assertNotIn(b"AUTH=PLAIN", caps)
        _, no = r.cmd('LOGIN "bob@demo.test" "%s"' % PASSWORD)
        self.assertIn(b"NO [PRIVACYREQUIRED]", no)
        _, ok = r.cmd("STARTTLS")
        self.assertTrue(ok.endswith(b"OK Begin TLS negotiation now"))
        r.starttls(self.stack.tls_context())
        untagged, _ = r.cmd("CAPABILITY")
        caps = untagged[0].split()
        self.assertNotIn(b"LOGINDISABLED", caps)
        self.assertNotIn(b"STARTTLS", caps)
        self.assertIn(b"AUTH=PLAIN", caps)
        _, no = r.cmd('LOGIN "bob@demo.test" "wrong"')
        self.assertIn(b"NO [AUTHENTICATIONFAILED]", no)
        _, ok = r.cmd('LOGIN "bob@demo.test" "%s"' % PASSWORD)
        self.assertIn(b"OK [CAPABILITY", ok)
        self.assertIn("refused", self.stack.log("gateway"))

    def test_authenticate_plain_initial_response_and_continuation(self):
        token = base64.b64encode(b"\0bob@demo.test\0" + PASSWORD.encode()).decode()
        r = self.raw_imap(tls=True)
        _, ok = r.cmd("AUTHENTICATE PLAIN " + token)
        self.assertIn(b"OK", ok)
        r = self.raw_imap(tls=True)
        r.send(b"a1 AUTHENTICATE PLAIN\r\n")
        self.assertEqual(r.line(), b"+ ")
        r.send(token.encode() + b"\r\n")
        _, ok = r.tagged("a1")
        self.assertTrue(ok.startswith(b"a1 OK"), ok)
        # imaplib drives the same exchange
        m = self.imap(login=False)
        m.starttls(self.stack.tls_context())
        typ, _ = m.authenticate("PLAIN", lambda _: b"\0bob@demo.test\0" + PASSWORD.encode())
        self.assertEqual(typ, "OK")

    # ---- reading
    def test_select_and_fetch_items(self):
        published = self.publish("fetch me")
        m = self.imap()
        typ, data = m.select("INBOX")
        self.assertEqual((typ, data), ("OK", [b"1"]))
        uid = self.deliveries()[0][0]
        self.assertEqual(m.response("UIDVALIDITY")[1][0], b"%d" % self.query(
            "select id from mailboxes where address = 'bob@demo.test'")[0][0])
        self.assertTrue(int(m.response("UIDNEXT")[1][0]) > uid)
        typ, data = m.fetch("1", "(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE)")
        self.assertEqual(typ, "OK")
        text = data[0] if isinstance(data[0], bytes) else data[0][0]
        self.assertIn(b"UID %d" % uid, text)
        self.assertIn(b"RFC822.SIZE %d" % len(published), text)
        self.assertIn(b'"fetch me"', text)  # the envelope's subject
        self.assertIn(b'((NIL NIL "alice" "demo.test"))', text)  # from, sender, reply-to
        self.assertIn(b'"MIXED"', text.upper())  # multipart/mixed: text and the attachment
        self.assertIn(b"FLAGS ()", text)
        typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertEqual(fetch_item(data, "HEADER.FIELDS"), b"Subject: fetch me\r\n\r\n")
        typ, data = m.fetch("1", "(BODY.PEEK[]<0.10>)")
        self.assertEqual(fetch_item(data, "BODY[]<0>"), published[:10])
        self.assertEqual(self.deliveries()[0][1], "new")  # PEEK keeps it unseen
        typ, data = m.uid("FETCH", str(uid), "(BODY[])")
        self.assertEqual(fetch_item(data, "BODY[]"), published)
        self.assertEqual(self.deliveries()[0][1], "seen")  # BODY[] sets \Seen in the broker
        typ, data = m.fetch("1", "(FLAGS)")
        self.assertIn(b"\\Seen", data[0])
        m.logout()

    def test_store_search_expunge(self):
        for subject in ("first", "second", "third"):
            self.publish(subject, attach=False)
        m = self.imap()
        m.select("INBOX")
        ids = [row[0] for row in self.deliveries()]
        typ, data = m.store("1", "+FLAGS", "(\\Flagged \\Answered)")
        self.assertEqual(typ, "OK")
        self.assertIn(b"\\Flagged", data[0])
        m.store("2", "+FLAGS.SILENT", "(\\Seen)")
        self.assertEqual(m.search(None, "FLAGGED")[1], [b"1"])
        self.assertEqual(m.search(None, "UNSEEN")[1], [b"1 3"])
        self.assertEqual(m.search(None, "SEEN")[1], [b"2"])
        self.assertEqual(m.search(None, "SUBJECT", "third")[1], [b"3"])
        self.assertEqual(m.search(None, "FROM", "alice")[1], [b"1 2 3"])
        self.assertEqual(m.search(None, "LARGER", "1")[1], [b"1 2 3"])
        self.assertEqual(m.search(None, "SMALLER", "10")[1], [b""])
        self.assertEqual(m.search(None, "SINCE", "1-Jan-2020")[1], [b"1 2 3"])
        self.assertEqual(m.search(None, "BEFORE", "1-Jan-2020")[1], [b""])
        self.assertEqual(m.uid("SEARCH", "UID", "%d:%d" % (ids[1], ids[2]))[1], [b"%d %d" % (ids[1], ids[2])])
        self.assertEqual(m.search(None, "NOT", "FLAGGED", "UNSEEN")[1], [b"3"])
        m.store("2", "-FLAGS", "(\\Seen)")
        self.assertEqual(self.deliveries()[1][1], "new")  # \Seen is the broker's state, shared
        m.store("2", "+FLAGS", "(\\Deleted)")
        typ, data = m.expunge()
        self.assertEqual(data, [b"2"])
        self.assertEqual([row[0] for row in self.deliveries()], [ids[0], ids[2]])
        self.assertEqual(m.select("INBOX")[1], [b"2"])
        m.logout()

    def test_folders_create_list_rename_status_copy_move_delete(self):
        self.publish("to file", attach=False)
        m = self.imap()
        self.assertEqual(m.create("Work")[0], "OK")
        self.assertEqual(m.create("Work/Deep")[0], "OK")
        typ, data = m.create("Work")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[ALREADYEXISTS]", data[0])
        typ, listing = m.list('""', "*")
        text = b"\n".join(listing)
        self.assertRegex(text, rb'\(\\HasNoChildren\) "/" "?INBOX"?\n')
        self.assertRegex(text, rb'\\Sent[^\n]*"/" "?Sent')
        self.assertRegex(text, rb'\\Trash[^\n]*"/" "?Trash')
        self.assertRegex(text, rb'\(\\HasChildren[^\n]*"/" "?Work"?\n')
        typ, listing = m.list('""', "%")
        self.assertNotIn(b"Work/Deep", b"\n".join(listing))  # % stops at the delimiter
        typ, listing = m.list("Work", "*")
        self.assertIn(b"Work/Deep", b"\n".join(listing))
        self.assertEqual(m.rename("Work", "Play")[0], "OK")
        m.select("INBOX")
        typ, data = m.copy("1", "Play")
        self.assertEqual(typ, "OK")
        self.assertIn(b"[COPYUID ", data[0])
        typ, data = m.status("Play", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
        self.assertRegex(data[0], rb'"?Play"? \(MESSAGES 1 UIDNEXT \d+ UIDVALIDITY \d+ UNSEEN 1\)')
        typ, data = m.copy("1", "Nowhere")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[TRYCREATE]", data[0])
        typ, data = m._simple_command("MOVE", "1", "Trash")
        self.assertEqual(typ, "OK")
        self.assertEqual(self.count(), 2)  # in Play and in Trash, INBOX empty
        self.assertEqual(m.select("INBOX")[1], [b"0"])
        self.assertEqual(m.select("Trash")[1], [b"1"])
        self.assertEqual(m.delete("Play")[0], "OK")
        typ, data = m.select("Play")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[NONEXISTENT]", data[0])
        m.logout()

    def test_append_to_sent_and_inbox(self):
        message = b"From: bob@demo.test\r\nTo: alice@demo.test\r\nSubject: sent copy\r\n\r\nhello\r\n"
        m = self.imap()
        typ, data = m.append("Sent", "(\\Seen)", None, message)
        self.assertEqual(typ, "OK")
        self.assertIn(b"[APPENDUID ", data[0])
        m.select("Sent")
        typ, data = m.fetch("1", "(FLAGS BODY.PEEK[])")
        self.assertEqual(fetch_item(data, "BODY[]"), message)
        self.assertIn(b"\\Seen", data[0][0])
        typ, data = m.append("NoSuchFolder", None, None, message)
        self.assertEqual(typ, "NO")
        self.assertIn(b"[TRYCREATE]", data[0])
        self.assertEqual(m.append("INBOX", None, None, message)[0], "OK")
        self.assertIn("sent copy", self.stack.sub("list"))  # an APPEND to INBOX is a delivery
        m.logout()

    def test_namespace_id_enable_unselect_close_logout(self):
        r = self.raw_imap(login=True)
        untagged, ok = r.cmd("NAMESPACE")
        self.assertEqual(untagged, [b'* NAMESPACE (("" "/")) NIL NIL'])
        untagged, ok = r.cmd('ID ("name" "test")')
        self.assertTrue(untagged[0].startswith(b'* ID ("name" "mailbus"'))
        untagged, ok = r.cmd("ENABLE IMAP4rev2")
        self.assertEqual(untagged, [b"* ENABLED IMAP4rev2"])
        self.publish("esearch", attach=False)
        untagged, ok = r.cmd("SELECT INBOX")
        self.assertIn(b"* 1 EXISTS", untagged)
        self.assertNotIn(b"* 0 RECENT", untagged)  # IMAP4rev2 has no \Recent
        self.assertTrue(ok.endswith(b"OK [READ-WRITE] SELECT completed"), ok)
        untagged, _ = r.cmd("SEARCH ALL")
        self.assertEqual(untagged, [b'* ESEARCH (TAG "t%d") ALL 1' % r.tag_number])
        _, ok = r.cmd("UNSELECT")
        self.assertIn(b"OK", ok)
        _, bad = r.cmd("FETCH 1 FLAGS")
        self.assertIn(b"BAD", bad)
        untagged, ok = r.cmd("EXAMINE INBOX")
        self.assertTrue(ok.endswith(b"OK [READ-ONLY] EXAMINE completed"), ok)
        _, no = r.cmd("STORE 1 +FLAGS (\\Deleted)")
        self.assertIn(b"NO [READ-ONLY]", no)
        _, ok = r.cmd("CLOSE")
        self.assertIn(b"OK", ok)
        untagged, ok = r.cmd("LOGOUT")
        self.assertTrue(untagged[0].startswith(b"* BYE"))
        self.assertTrue(r.closed())

    # ---- IDLE: pushes from the broker's WATCH
    def idler(self):
        r = self.raw_imap(login=True)
        r.cmd("SELECT INBOX")
        r.send(b"i1 IDLE\r\n")
        self.assertEqual(r.line(), b"+ idling")
        return r

    def test_idle_two_sessions_see_exists_from_the_push(self):
        a, b = self.idler(), self.idler()
        self.publish("push", attach=False)
        published = time.monotonic()  # mailbus-pub has its durable acknowledgement
        self.assertEqual(a.wait_line(rb"EXISTS", 30), b"* 1 EXISTS")
        self.assertEqual(b.wait_line(rb"EXISTS", 30), b"* 1 EXISTS")
        # both idlers had it from the push (nothing polls): an idling session wakes on its own
        # only for its heartbeat, every 5 s (IMAP_HEARTBEAT_MS); 3 s leaves a loaded machine
        # room and stays clearly below that wake-up
        self.assertLess(time.monotonic() - published, 3.0)
        a.send(b"DONE\r\n")
        self.assertTrue(a.tagged("i1")[1].startswith(b"i1 OK"))
        # an EXPUNGE on a is seen by b, still idling
        _, ok = a.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
        self.assertIn(b"OK", ok)
        b.wait_line(rb"^\* 1 FETCH \(UID \d+ FLAGS \(\\Deleted\)\)", 30)
        a.cmd("EXPUNGE")
        self.assertEqual(b.wait_line(rb"EXPUNGE", 30), b"* 1 EXPUNGE")
        b.send(b"DONE\r\n")
        self.assertTrue(b.tagged("i1")[1].startswith(b"i1 OK"))

    def test_idle_survives_the_watchers_heartbeat(self):
        r = self.idler()
        time.sleep(17)  # past the broker's 15 s silence limit for a watcher
        self.publish("late", attach=False)
        self.assertEqual(r.wait_line(rb"EXISTS", 30), b"* 1 EXISTS")

    def test_more_changes_than_the_watch_window_resynchronise(self):
        """300 deliveries while a session sends nothing: more pushes than its WATCH window (256),
        so it learns them again by SCAN; the next command reports them all, in order"""
        r = self.raw_imap(login=True)
        untagged, _ = r.cmd("SELECT INBOX")
        self.assertIn(b"* 0 EXISTS", untagged)
        w = self.raw_imap(login=True)
        msg = b"From: alice@demo.test\r\nSubject: burst\r\n\r\nx\r\n"
        w.send(b"".join(b"a%d APPEND INBOX {%d+}\r\n%s\r\n" % (i, len(msg), msg) for i in range(300)))
        for i in range(300):
            self.assertIn(b" OK ", w.tagged("a%d" % i)[1])
        untagged, ok = r.cmd("NOOP")
        self.assertEqual(untagged[-1], b"* 300 EXISTS")
        untagged, ok = r.cmd("UID SEARCH ALL")
        self.assertEqual(len(untagged[0].split()) - 2, 300)
        self.assertEqual(self.count(), 300)

    # ---- cross-protocol
    def test_pop3_dele_is_an_expunge_for_imap(self):
        self.publish("one", attach=False)
        self.publish("two", attach=False)
        r = self.idler()
        p = self.pop()
        p.dele(1)
        p.quit()
        self.assertEqual(r.wait_line(rb"EXPUNGE", 30), b"* 1 EXPUNGE")

    def test_seen_is_shared_with_mailbus_sub(self):
        self.publish("shared state", attach=False)
        m = self.imap()
        m.select("INBOX")
        self.assertTrue(self.stack.sub("list").rstrip().endswith("new"))
        m.store("1", "+FLAGS", "(\\Seen)")
        self.assertTrue(self.stack.sub("list").rstrip().endswith("seen"))
        self.stack.sub("read", "1")  # and the other way: already seen, stays seen
        m.store("1", "-FLAGS", "(\\Seen)")
        self.assertTrue(self.stack.sub("list").rstrip().endswith("new"))
        self.stack.sub("read", "1")
        # the broker's FLAGS push reaches the session on its own time: the next commands show it
        deadline = time.monotonic() + 30  # a loaded machine's margin: the loop ends when it shows
        while b"\\Seen" not in m.fetch("1", "(FLAGS)")[1][0]:
            self.assertLess(time.monotonic(), deadline, "\\Seen never shown")
            m.noop()
            time.sleep(0.05)

    def test_same_bytes_through_smtp_imap_pop3_and_sub(self):
        body = b"From: alice@demo.test\r\nTo: bob@demo.test\r\nSubject: same bytes\r\n\r\n.dot\r\n\xc3\xa9t\xc3\xa9\r\n"
        s = smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30)
        self.addCleanup(s.close)
        s.starttls(context=self.stack.tls_context())
        s.login("alice@demo.test", PASSWORD)
        s.sendmail("alice@demo.test", ["bob@demo.test"], body)
        s.quit()
        stored = self.deliveries()[0][2]
        self.assertTrue(stored.endswith(body))
        m = self.imap()
        m.select("INBOX")
        self.assertEqual(fetch_item(m.fetch("1", "(BODY.PEEK[])")[1], "BODY[]"), stored)
        p = self.pop()
        self.assertEqual(b"\r\n".join(p.retr(1)[1]) + b"\r\n", stored)  # poplib un-stuffs
        p.quit()
        self.assertIn("same bytes", self.stack.sub("read", "1"))
        out = os.path.join(self.stack.dir, "saved")
        self.stack.sub("save", "1", out)
        with open(os.path.join(out, "%d.eml" % self.deliveries()[0][0]), "rb") as f:
            self.assertEqual(f.read(), stored)

    # ---- other clients
    def curl(self, *args):
        return subprocess.run(["curl", "-s", "-u", "bob@demo.test:" + PASSWORD] + list(args), capture_output=True,
                              timeout=30)

    def test_curl_imap_starttls_and_imaps(self):
        published = self.publish("curl imap")
        uid = self.deliveries()[0][0]
        base = "imap://127.0.0.1:%d/" % self.stack.imap_port
        listing = self.curl("--ssl-reqd", "--cacert", self.stack.cafile, base)
        self.assertEqual(listing.returncode, 0, listing.stderr)
        self.assertIn(b"INBOX", listing.stdout)
        message = self.curl("--ssl-reqd", "-k", base + "INBOX;UID=%d" % uid)
        self.assertEqual(message.returncode, 0, message.stderr)
        self.assertEqual(message.stdout, published)
        imaps = "imaps://127.0.0.1:%d/INBOX;UID=%d" % (self.extra_ports["imaps"], uid)
        message = self.curl("--cacert", self.stack.cafile, imaps)
        self.assertEqual(message.returncode, 0, message.stderr)
        self.assertEqual(message.stdout, published)
        wrong = subprocess.run(["curl", "-s", "-k", "-u", "bob@demo.test:nope", imaps], capture_output=True,
                               timeout=30)
        self.assertEqual(wrong.returncode, 67, wrong.stderr)  # CURLE_LOGIN_DENIED

    def test_openssl_s_client_starttls_imap(self):
        self.publish("s_client imap", attach=False)
        script = b'a LOGIN "bob@demo.test" "%s"\nb SELECT INBOX\nc FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\nd LOGOUT\n' % PASSWORD.encode()
        out = subprocess.run(["openssl", "s_client", "-quiet", "-starttls", "imap", "-crlf", "-connect",
                              "127.0.0.1:%d" % self.stack.imap_port, "-CAfile", self.stack.cafile],
                             input=script, capture_output=True, timeout=30)
        self.assertIn(b"b OK [READ-WRITE]", out.stdout)
        self.assertIn(b"Subject: s_client imap", out.stdout)
        self.assertIn(b"d OK LOGOUT completed", out.stdout)

    def test_fetchmail_imap_keep_then_nokeep(self):
        self.fetchmail_keep_then_nokeep("%d protocol imap" % self.stack.imap_port)

    @unittest.skipUnless(shutil.which("neomutt") and shutil.which("script"), "neomutt not installed (.ci/install)")
    def test_neomutt_batch_reads_and_deletes(self):
        self.publish("mutt one", attach=False)
        self.publish("mutt two", attach=False)
        home = tempfile.mkdtemp(dir=self.stack.dir)
        rc = os.path.join(home, "muttrc")
        with open(rc, "w") as f:
            f.write('set folder="imap://bob@demo.test@127.0.0.1:%d/"\n'
                    'set spoolfile="+INBOX"\nset imap_pass="%s"\nset ssl_force_tls=yes\nset ssl_starttls=yes\n'
                    'set certificate_file="%s/certs"\nset delete=yes\nset quit=yes\nset mail_check=0\n'
                    'set header_cache=""\nset message_cachedir=""\nset wait_key=no\n'
                    % (self.stack.imap_port, PASSWORD, home))
        shutil.copy(self.stack.cafile, os.path.join(home, "certs"))  # the gateway's certificate, trusted
        env = dict(os.environ, HOME=home, TERM="xterm")
        # neomutt wants a terminal (without one it composes a mail): script(1) gives it one; the
        # pushed keys pipe message 1 to a file, delete it, sync (EXPUNGE) and quit
        out = os.path.join(home, "piped.eml")
        keys = "<pipe-message>cat > %s<enter><delete-message><sync-mailbox><quit>" % out
        command = "neomutt -n -F %s -e \"push '%s'\"" % (rc, keys)
        run = subprocess.run(["script", "-qec", command, "/dev/null"], env=env, capture_output=True, timeout=60,
                             stdin=subprocess.DEVNULL)
        self.assertTrue(os.path.exists(out), run.stdout[-2000:])
        with open(out, "rb") as f:
            self.assertIn(b"Subject: mutt one", f.read())
        self.assertEqual(self.count(), 1)
        self.assertIn("mutt two", self.stack.sub("list"))

if __name__ == "__main__":
    unittest.main()
