"""The user-facing contract of mailbus-broker, mailbus-pub and mailbus-sub (issue 2): options,
output lines, exit statuses, and the mailbox admin commands with the broker running or stopped."""
import os
import re
import unittest

from mailbus_test.broker import (ALICE, BOB, BROKER, CAROL, DEMO_PASSWORD, PUB, SUB, MailbusTestCase,
                                 RawClient, VERSION, message, run)


class Help(unittest.TestCase):

    def check_help(self, program):
        if not os.access(program, os.X_OK):
            self.fail("%s is not built" % program)
        rc, out, err = run([program, "--help"], timeout=30)
        self.assertEqual(rc, 0, err)
        text = out + err
        name = os.path.basename(program)
        self.assertIn(name, text)
        # an example: a line that runs the program
        self.assertRegex(text, r"(?im)^\s*examples?:")
        self.assertRegex(text, r"(?m)^.*\b%s\s+\S+" % re.escape(name))
        return text

    def test_broker_help_exits_0_with_an_example(self):
        text = self.check_help(BROKER)
        for option in ("--db", "--bind", "--domain", "mailbox"):
            self.assertIn(option, text)

    def test_pub_help_exits_0_with_an_example(self):
        text = self.check_help(PUB)
        for option in ("-b", "-u", "-p", "--from", "-t", "--cc", "-s", "-a", "-m", "--raw", "-i",
                       "--password-stdin"):
            self.assertIn(option, text)

    def test_sub_help_exits_0_with_an_example(self):
        text = self.check_help(SUB)
        for command in ("stat", "list", "read", "save", "delete", "drain", "watch", "--password-stdin"):
            self.assertIn(command, text)


class Programs(MailbusTestCase):

    def setUp(self):
        super().setUp()
        self.start_broker()

    # ---- mailbus-pub ------------------------------------------------------------------

    def test_pub_prints_one_line_per_recipient_with_its_code(self):
        rc, out, err = self.pub("-t", BOB, "-t", "nobody@demo.test", "--cc", CAROL, "-s", "hi", "-m", "body")
        lines = out.splitlines()
        self.assertEqual(len(lines), 3, out + err)
        self.assertRegex(lines[0], r"^250 2\.0\.0 bob@demo\.test queued as \S+")
        self.assertRegex(lines[1], r"^550 5\.1\.1 nobody@demo\.test\b")
        self.assertRegex(lines[2], r"^250 2\.0\.0 carol@demo\.test queued as \S+")
        # not every recipient accepted: not full success
        self.assertNotEqual(rc, 0)
        self.assertEqual(self.stat(BOB)[0], 1)
        self.assertEqual(self.stat(CAROL)[0], 1)

    def test_pub_exits_0_when_every_recipient_is_accepted(self):
        rc, out, err = self.pub("-t", "%s,%s" % (BOB, CAROL), "-s", "both", "-m", "x")
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(len(out.splitlines()), 2, out)

    def test_pub_raw_mends_a_file_without_the_empty_line_and_refuses_an_empty_one(self):
        # RFC 5322 allows a message of header fields only; the broker's wire form wants the empty
        # line, so mailbus-pub puts it in (where Postfix would) and says so on stderr
        cases = [("fields-only.eml", "From: %s\nSubject: fields only\n" % ALICE,
                  "From: %s\r\nSubject: fields only\r\n\r\n" % ALICE),
                 ("text.eml", "just a line of text", "\r\njust a line of text\r\n"),
                 ("whole.eml", "Subject: whole\n\nbody\n", "Subject: whole\r\n\r\nbody\r\n")]
        for name, data, stored in cases:
            rc, out, err = self.pub("-t", BOB, "--raw", self.write_file(name, data))
            self.assertEqual(rc, 0, out + err)
            self.assertEqual(("no empty line" in err), name != "whole.eml", err)
            body = self.broker.sql("SELECT body FROM messages ORDER BY id DESC LIMIT 1")[0][0]
            self.assertEqual(bytes(body), stored.encode())
        self.assertEqual(self.stat(BOB)[0], 3)
        # bad input: an empty file is a usage error, nothing is sent
        rc, out, err = self.pub("-t", BOB, "--raw", self.write_file("empty.eml", ""))
        self.assertNotEqual(rc, 0)
        self.assertIn("empty", err)
        self.assertEqual(self.stat(BOB)[0], 3)

    def test_pub_reads_the_body_from_stdin(self):
        rc, out, err = self.pub("-t", BOB, "-s", "from stdin", input="line one\nline two\n")
        self.assertEqual(rc, 0, out + err)
        rc, out, err = self.sub("read", "1")
        self.assertEqual(rc, 0, err)
        self.assertIn("line one", out)
        self.assertIn("line two", out)

    def test_pub_with_another_sender_is_refused_553(self):
        rc, out, err = self.pub("--from", CAROL, "-t", BOB, "-s", "forged", "-m", "x")
        self.assertNotEqual(rc, 0)
        self.assertIn("553 5.7.1", out + err)
        self.assertEqual(self.stat(BOB)[0], 0)

    def test_pub_with_wrong_password_exits_non_zero_with_535(self):
        rc, out, err = self.pub("-t", BOB, "-s", "x", "-m", "x", password="wrong")
        self.assertNotEqual(rc, 0)
        self.assertIn("535 5.7.8", out + err)
        self.assertEqual(self.stat(BOB)[0], 0)

    def test_pub_password_stdin_keeps_it_out_of_argv(self):
        rc, out, err = self.pub("--password-stdin", "-t", BOB, "-s", "pw on stdin", "-m", "x",
                                password=None, input=DEMO_PASSWORD + "\n")
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(self.stat(BOB)[0], 1)

    def test_pub_without_broker_exits_75(self):
        self.broker.terminate()
        rc, out, err = self.pub("-t", BOB, "-s", "x", "-m", "x", "--timeout", "1", "--retries", "0")
        self.assertEqual(rc, 75, out + err)

    # ---- mailbus-sub ------------------------------------------------------------------

    def publish_two(self):
        attachment = self.write_file("menu.txt", "soup\r\nbread\r\n")
        rc, out, err = self.pub("-t", BOB, "-s", "first subject", "-m", "first body text", "-a", attachment)
        self.assertEqual(rc, 0, out + err)
        rc, out, err = self.pub("-t", BOB, "-s", "second subject", "-m", "second body text")
        self.assertEqual(rc, 0, out + err)

    def test_sub_stat_prints_count_and_bytes_first(self):
        rc, out, err = self.sub("stat")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.splitlines()[0], "0 messages, 0 bytes")
        self.publish_two()
        rc, out, err = self.sub("stat")
        total = self.broker.sql("SELECT sum(size) FROM inbox WHERE mailbox = ?", (BOB,))[0][0]
        self.assertEqual(out.splitlines()[0], "2 messages, %d bytes" % total)

    def test_sub_list_shows_one_line_per_message_with_subject_and_state(self):
        self.publish_two()
        rc, out, err = self.sub("list")
        self.assertEqual(rc, 0, err)
        rows = [l for l in out.splitlines() if re.match(r"^\s*\d+\s", l)]
        self.assertEqual(len(rows), 2, out)
        self.assertIn("first subject", rows[0])
        self.assertIn("second subject", rows[1])
        for row in rows:
            self.assertIn(ALICE, row)
            self.assertTrue(row.rstrip().endswith("new"), row)
        ids = [r[0] for r in self.broker.sql("SELECT id FROM inbox WHERE mailbox = ? ORDER BY id", (BOB,))]
        self.assertEqual([int(r.split()[1]) for r in rows], ids)

    def test_sub_list_pages_through_a_mailbox_larger_than_one_page(self):
        """1,001 messages: mailbus-sub asks LIST page by page (1,000, then 1) and shows them all,
        each once, in order"""
        alice = self.raw(ALICE)
        for n in range(1001):  # pipelined: every SEND out, then every reply
            alice.send("p%d" % n, "SEND", ALICE, BOB, message("paged %d" % n, "x"))
        for n in range(1001):
            self.assertTrue(alice.recv_reply("p%d" % n)[1].startswith(b"250 "), n)
        rc, out, err = self.sub("list")
        self.assertEqual(rc, 0, err)
        rows = [l for l in out.splitlines() if re.match(r"^\s*\d+\s", l)]
        ids = [r[0] for r in self.broker.sql("SELECT id FROM inbox WHERE mailbox = ? ORDER BY id", (BOB,))]
        self.assertEqual([int(r.split()[1]) for r in rows], ids)
        self.assertEqual(len(ids), 1001)
        self.assertIn("paged 1000", rows[-1])

    def test_sub_read_shows_headers_body_and_attachment_names_and_marks_seen(self):
        self.publish_two()
        rc, out, err = self.sub("read", "1")
        self.assertEqual(rc, 0, err)
        self.assertIn("first subject", out)
        self.assertIn(ALICE, out)
        self.assertIn("first body text", out)
        self.assertIn("menu.txt", out)
        rc, out, err = self.sub("list")
        rows = [l for l in out.splitlines() if re.match(r"^\s*\d+\s", l)]
        self.assertTrue(rows[0].rstrip().endswith("seen"), rows[0])
        self.assertTrue(rows[1].rstrip().endswith("new"), rows[1])

    def test_sub_save_writes_the_eml_and_the_attachment(self):
        self.publish_two()
        out_dir = os.path.join(self.tmp, "saved")
        os.makedirs(out_dir)
        rc, out, err = self.sub("save", "1", out_dir)
        self.assertEqual(rc, 0, out + err)
        names = os.listdir(out_dir)
        self.assertTrue(any(n.endswith(".eml") for n in names), names)
        self.assertIn("menu.txt", names)
        with open(os.path.join(out_dir, "menu.txt"), "rb") as f:
            self.assertEqual(f.read(), b"soup\r\nbread\r\n")

    def test_sub_delete_removes_that_message_only(self):
        self.publish_two()
        rc, out, err = self.sub("delete", "1")
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(self.stat()[0], 1)
        rc, out, err = self.sub("list")
        self.assertIn("second subject", out)
        self.assertNotIn("first subject", out)

    def test_sub_read_or_delete_of_a_missing_number_exits_non_zero(self):
        self.publish_two()
        for args in (("read", "3"), ("delete", "7"), ("read", "0"), ("read", "x")):
            rc, out, err = self.sub(*args)
            self.assertNotEqual(rc, 0, args)
        self.assertEqual(self.stat()[0], 2)

    def test_sub_with_wrong_password_exits_non_zero_with_535(self):
        rc, out, err = self.sub("stat", password="wrong")
        self.assertNotEqual(rc, 0)
        self.assertIn("535 5.7.8", out + err)

    def test_sub_without_command_is_a_usage_error(self):
        rc, out, err = self.sub()
        self.assertNotEqual(rc, 0)
        rc, out, err = self.sub("frobnicate")
        self.assertNotEqual(rc, 0)

    def test_sub_options_win_over_environment(self):
        # -u on the command line wins over MAILBUS_USER
        self.pub("-t", CAROL, "-s", "for carol", "-m", "x")
        rc, out, err = self.sub("-u", CAROL, "stat", user=BOB)
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith("1 message,"), out)

    # ---- mailbus-broker mailbox ... -----------------------------------------------------

    def mailboxes(self):
        rc, out, err = self.broker.admin("mailbox", "list")
        self.assertEqual(rc, 0, out + err)
        return set(re.findall(r"(?m)^(\S+@\S+)", out))

    def can_login(self, user, password):
        c = RawClient(self.broker.endpoint)
        try:
            status, _ = c.request("HELO", VERSION, user, password, timeout=20)
            return status.startswith("250 ")
        finally:
            c.close()

    def admin_cycle(self, running):
        """add, list, passwd, del of dave@demo.test; returns nothing, asserts every step."""
        dave = "dave@demo.test"
        self.assertEqual(self.mailboxes() & {ALICE, BOB, CAROL}, {ALICE, BOB, CAROL})
        rc, out, err = self.broker.admin("mailbox", "add", dave, "--password", "s3cret")
        self.assertEqual(rc, 0, out + err)
        self.assertIn(dave, self.mailboxes())
        # adding it again is refused
        rc, out, err = self.broker.admin("mailbox", "add", dave, "--password", "other")
        self.assertNotEqual(rc, 0)
        if running:
            self.assertTrue(self.can_login(dave, "s3cret"))
        rc, out, err = self.broker.admin("mailbox", "passwd", dave, "--password-stdin", input="n3w\n")
        self.assertEqual(rc, 0, out + err)
        if running:
            self.assertTrue(self.can_login(dave, "n3w"))
            self.assertFalse(self.can_login(dave, "s3cret"))
        rc, out, err = self.broker.admin("mailbox", "add", "erin@demo.test", "--password-stdin", input="e\n")
        self.assertEqual(rc, 0, out + err)
        rc, out, err = self.broker.admin("mailbox", "del", "erin@demo.test")
        self.assertEqual(rc, 0, out + err)
        self.assertNotIn("erin@demo.test", self.mailboxes())
        if running:
            self.assertFalse(self.can_login("erin@demo.test", "e"))
        # a bad address and a missing mailbox are refused
        rc, out, err = self.broker.admin("mailbox", "add", "a@", "--password", "x")
        self.assertNotEqual(rc, 0)
        rc, out, err = self.broker.admin("mailbox", "del", "nobody@demo.test")
        self.assertNotEqual(rc, 0)

    def test_mailbox_admin_commands_work_while_the_broker_runs(self):
        self.admin_cycle(running=True)
        # the mailbox is usable right away: mail to it, read it
        rc, out, err = self.pub("-t", "dave@demo.test", "-s", "welcome dave", "-m", "x")
        self.assertEqual(rc, 0, out + err)
        rc, out, err = self.sub("stat", user="dave@demo.test", password="n3w")
        self.assertTrue(out.startswith("1 message,"), out + err)
        self.assertTrue(self.broker.running())
        self.integrity_ok()

    def test_mailbox_admin_commands_work_while_the_broker_is_stopped(self):
        self.broker.terminate()
        self.admin_cycle(running=False)
        self.broker.start()
        self.assertTrue(self.can_login("dave@demo.test", "n3w"))
        self.assertFalse(self.can_login("dave@demo.test", "s3cret"))
        self.assertFalse(self.can_login("erin@demo.test", "e"))
        self.integrity_ok()

    def test_deleting_a_mailbox_with_mail_while_running_keeps_the_store_consistent(self):
        self.pub("-t", CAROL, "-s", "for carol", "-m", "x")
        rc, out, err = self.broker.admin("mailbox", "del", CAROL)
        self.assertEqual(rc, 0, out + err)
        rc, out, err = self.pub("-t", CAROL, "-s", "again", "-m", "x")
        self.assertIn("550 5.1.1", out)
        self.integrity_ok()
        self.assertEqual(self.broker.sql("PRAGMA foreign_key_check"), [])


if __name__ == "__main__":
    unittest.main()
