"""What mailbus-sub and mailbus-pub do with the files and secrets they are given (issue 11 items 5
and 12, issue 10): a drain, save or consume --dir never writes through a symbolic link planted in
DIR, refuses a DIR others may write into, makes a missing DIR (0700); a password given with -p
does not stay in /proc/PID/cmdline; `mailbus-pub -i` asks for a missing password on the terminal
without echo; counts say "1 message", "1 delivery", "1 byte"."""
import os
import pty
import re
import select
import subprocess
import time

from mailbus_test.broker import ALICE, BOB, CAROL, DEMO_PASSWORD, PUB, MailbusTestCase

VICTIM_TEXT = b"precious, not to be overwritten\n"


class Files(MailbusTestCase):
    """DIR arguments of drain, save and consume --dir."""

    def setUp(self):
        super().setUp()
        self.start_broker()
        self.victim = os.path.join(self.tmp, "victim.txt")
        with open(self.victim, "wb") as f:
            f.write(VICTIM_TEXT)

    def publish(self, subject="hello", *extra):
        rc, out, err = self.pub("-t", BOB, "-s", subject, "-m", "sender-controlled bytes", *extra)
        self.assertEqual(rc, 0, out + err)
        return re.search(r"queued as (\d+)", out).group(1)

    def shared_dir(self, name="shared"):
        path = os.path.join(self.tmp, name)
        os.mkdir(path, 0o700)
        return path

    def plant(self, directory, name):
        os.symlink(self.victim, os.path.join(directory, name))

    def assert_victim_intact(self):
        with open(self.victim, "rb") as f:
            self.assertEqual(f.read(), VICTIM_TEXT)

    def assert_regular_message(self, path, subject):
        self.assertFalse(os.path.islink(path), path)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        with open(path, "rb") as f:
            self.assertIn(b"Subject: " + subject.encode(), f.read())

    # ---- symbolic links planted in DIR (issue 11, item 5) ----------------------------

    def test_drain_never_writes_through_a_link_at_the_temporary_or_final_name(self):
        ids = [self.publish("first"), self.publish("second")]
        d = self.shared_dir()
        self.plant(d, "%s.eml.tmp" % ids[0])   # the temporary name drain used to open with O_TRUNC
        self.plant(d, "%s.eml" % ids[1])       # the final name
        rc, out, err = self.sub("drain", d)
        self.assertEqual(rc, 0, out + err)
        self.assert_victim_intact()
        paths = out.split()
        self.assertEqual(len(paths), 2, out)
        self.assert_regular_message(paths[0], "first")
        self.assert_regular_message(paths[1], "second")
        self.assertEqual(self.stat()[0], 0)

    def test_consume_dir_never_writes_through_a_planted_link(self):
        mid = self.publish("job")
        d = self.shared_dir()
        self.plant(d, "%s.eml.tmp" % mid)
        self.plant(d, "%s.eml" % mid)
        rc, out, err = self.sub("consume", "--dir", d, "--until-empty")
        self.assertEqual(rc, 0, out + err)
        self.assert_victim_intact()
        self.assert_regular_message(os.path.join(d, "%s.eml" % mid), "job")

    def test_save_never_writes_through_a_link_at_the_eml_or_an_attachment_name(self):
        attachment = self.write_file("menu.txt", "soup\r\n")
        mid = self.publish("with menu", "-a", attachment)
        d = self.shared_dir()
        self.plant(d, "%s.eml" % mid)
        self.plant(d, "menu.txt")
        self.plant(d, "%s.eml.tmp" % mid)
        rc, out, err = self.sub("save", "1", d)
        self.assertEqual(rc, 0, out + err)
        self.assert_victim_intact()
        self.assert_regular_message(os.path.join(d, "%s.eml" % mid), "with menu")
        with open(os.path.join(d, "menu-1.txt"), "rb") as f:
            self.assertEqual(f.read(), b"soup\r\n")

    def test_a_directory_others_may_write_into_is_refused_and_nothing_is_deleted(self):
        self.publish("stays")
        for mode in (0o777, 0o1777, 0o770):
            d = self.shared_dir("shared-%o" % mode)
            os.chmod(d, mode)
            for args in (["drain", d], ["save", "1", d], ["consume", "--dir", d, "--until-empty"]):
                rc, out, err = self.sub(*args)
                self.assertEqual(rc, 1, out + err)
                self.assertIn("group or others may write", err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertEqual(os.listdir(d), [])
        self.assertEqual(self.stat()[0], 1)

    def test_a_file_given_as_directory_is_refused(self):
        self.publish()
        rc, out, err = self.sub("drain", self.victim)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("cannot use directory", err)
        self.assert_victim_intact()
        self.assertEqual(self.stat()[0], 1)

    # ---- a missing DIR is made (issue 10) ---------------------------------------------

    def test_save_and_drain_make_a_missing_directory_and_its_parents_0700(self):
        self.publish("one")
        target = os.path.join(self.tmp, "out", "deeper")
        rc, out, err = self.sub("save", "1", target)
        self.assertEqual(rc, 0, out + err)
        for d in (os.path.join(self.tmp, "out"), target):
            self.assertEqual(os.stat(d).st_mode & 0o777, 0o700, d)
        drained = os.path.join(self.tmp, "bob")
        rc, out, err = self.sub("drain", drained)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(os.stat(drained).st_mode & 0o777, 0o700)
        self.assertEqual(len(os.listdir(drained)), 1)
        self.assertEqual(self.stat()[0], 0)


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read()


def reap(pid, seconds):
    """The child's wait status; killed first if still running after seconds."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, 9)
    return os.waitpid(pid, 0)[1]


class Secrets(MailbusTestCase):
    """Passwords on the command line and on the terminal (issue 11 item 12, issue 10)."""

    def setUp(self):
        super().setUp()
        self.start_broker()

    def test_watch_password_is_not_in_proc_cmdline(self):
        for form in (["-p", DEMO_PASSWORD], ["-p" + DEMO_PASSWORD], ["--password=" + DEMO_PASSWORD]):
            # no MAILBUS_PASSWORD: the password is in argv only
            w = self.watch(BOB, None, *form)
            w.wait_for("watching")
            seen = cmdline(w.proc.pid)
            self.assertNotIn(DEMO_PASSWORD.encode(), seen, seen)
            self.assertIn(b"*", seen)
            self.assertIn(b"watch", seen)
            w.stop()

    def test_pub_asks_for_a_missing_password_on_the_terminal_without_echo(self):
        env = self.client_env(ALICE, password=None)
        pid, master = pty.fork()
        if pid == 0:
            os.execve(PUB, [PUB, "-i", "-t", BOB, "-s", "typed", "-m", "body"], env)
        transcript = b""

        def read_until(pattern, deadline=20.0):
            nonlocal transcript
            end = time.monotonic() + deadline
            while not re.search(pattern, transcript):
                left = end - time.monotonic()
                self.assertGreater(left, 0, "no %r in %r" % (pattern, transcript))
                if select.select([master], [], [], left)[0]:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:
                        chunk = b""
                    self.assertTrue(chunk, "mailbus-pub ended before %r: %r" % (pattern, transcript))
                    transcript += chunk
            return transcript

        try:
            read_until(rb"Password for alice@demo\.test: ")
            os.write(master, DEMO_PASSWORD.encode() + b"\n")
            read_until(rb"Attachment \(file path")
            os.write(master, b"\n")
            read_until(rb"250 2\.0\.0 bob@demo\.test queued as")
        finally:
            status = reap(pid, 10.0)
            os.close(master)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, transcript)
        # the terminal did not echo what was typed
        self.assertNotIn(DEMO_PASSWORD.encode(), transcript.replace(b"demo.test", b""))
        self.assertEqual(self.stat()[0], 1)

    def test_pub_interactive_without_terminal_or_password_is_a_usage_error(self):
        env = self.client_env(ALICE, password=None)
        p = subprocess.run([PUB, "-i", "-t", BOB, "-s", "x", "-m", "x"], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, start_new_session=True)
        self.assertEqual(p.returncode, 64, p.stderr)
        self.assertIn(b"no terminal to ask for it on", p.stderr)
        self.assertEqual(self.stat()[0], 0)

    def test_pub_interactive_with_a_password_given_does_not_ask(self):
        # MAILBUS_PASSWORD is set: no terminal needed, nothing asked
        p = subprocess.run([PUB, "-i", "-t", BOB, "-s", "x", "-m", "x"], env=self.client_env(ALICE),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, input=b"\n", timeout=30, start_new_session=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn(b"Password", p.stderr)


class Plurals(MailbusTestCase):
    """One thing is "1 message", "1 delivery", "1 byte"; more are plural."""

    def setUp(self):
        super().setUp()
        self.start_broker()

    def test_list_reply_says_1_delivery_and_2_deliveries(self):
        self.assertEqual(self.broker.admin("list", "add", "news@demo.test", "--posting", "anyone")[0], 0)
        self.assertEqual(self.broker.admin("list", "subscribe", "news@demo.test", BOB)[0], 0)
        rc, out, err = self.pub("-t", "news@demo.test", "-s", "one", "-m", "x")
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out, r"news@demo\.test list: 1 delivery, message \d+")
        self.assertEqual(self.broker.admin("list", "subscribe", "news@demo.test", CAROL)[0], 0)
        rc, out, err = self.pub("-t", "news@demo.test", "-s", "two", "-m", "x")
        self.assertRegex(out, r"news@demo\.test list: 2 deliveries, message \d+")

    def test_read_says_1_byte_for_a_one_byte_attachment(self):
        one = self.write_file("one.txt", "x")
        two = self.write_file("two.txt", "xy")
        rc, out, err = self.pub("-t", BOB, "-s", "tiny", "-m", "x", "-a", one, "-a", two)
        self.assertEqual(rc, 0, out + err)
        rc, out, err = self.sub("read", "1")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("one.txt (1 byte, text/plain)", out)
        self.assertIn("two.txt (2 bytes, text/plain)", out)

    def test_a_missing_number_names_the_only_message(self):
        self.pub("-t", BOB, "-s", "only", "-m", "x")
        rc, out, err = self.sub("read", "2")
        self.assertEqual(rc, 1)
        self.assertIn("the mailbox holds only message 1", err)
