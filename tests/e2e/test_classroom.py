"""The classroom demo (.ci/classroom), driven as a lecturer would: tmux send-keys into the
publisher pane, capture-pane on the subscriber panes. Real broker, real programs, real tmux."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from ports import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("MAILBUS_BUILD_DIR", os.path.join(ROOT, "build"))


def tmux(*args):
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10)


class ClassroomDemo(unittest.TestCase):
    def setUp(self):
        if not shutil.which("tmux"):
            self.skipTest("tmux is not installed")
        self.dir = tempfile.mkdtemp(prefix="mailbus-classroom-")
        self.session = "mailbus-test-%d" % os.getpid()
        self.port = free_port()
        env = dict(os.environ, MAILBUS_TMUX_SESSION=self.session, MAILBUS_DEMO_PORT=str(self.port),
                   MAILBUS_DEMO_DIR=self.dir, MAILBUS_BUILD_DIR=BUILD, MAILBUS_SKIP_BUILD="1",
                   MAILBUS_NO_ATTACH="1")
        out = subprocess.run(["bash", os.path.join(ROOT, ".ci", "classroom")], env=env, capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.panes = {}
        for line in tmux("list-panes", "-t", self.session, "-F", "#{pane_id}\t#{pane_title}").stdout.splitlines():
            pane_id, title = line.split("\t", 1)
            self.panes[title] = pane_id

    def tearDown(self):
        if getattr(self, "session", None):
            for pane in getattr(self, "panes", {}).values():
                tmux("send-keys", "-t", pane, "C-c", "")
            tmux("kill-session", "-t", self.session)
        subprocess.run(["pkill", "-f", "mailbus-broker --bind tcp://127.0.0.1:%d" % self.port])
        shutil.rmtree(self.dir, ignore_errors=True)

    def screen(self, title):
        return tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", self.panes[title]).stdout

    def wait_for(self, title, text, count=1, deadline=20.0):
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.screen(title).count(text) >= count:
                return
            time.sleep(0.1)
        self.fail("pane %r never showed %r %d time(s):\n%s" % (title, text, count, self.screen(title)))

    def publish(self, to, subject, body):
        pane = self.panes["alice publishes"]
        self.wait_for("alice publishes", "To (comma separated):", self.prompts + 1)
        for line in (to, subject, "", body, "."):
            tmux("send-keys", "-t", pane, "-l", line)
            tmux("send-keys", "-t", pane, "Enter")
        self.prompts += 1

    def test_panes_show_fan_out_and_time_uncoupling(self):
        self.assertEqual({"broker", "bob (1)", "bob (2)", "carol (news@demo.test)", "alice publishes"} - set(self.panes),
                         set())
        for title, who in (("bob (1)", "bob"), ("bob (2)", "bob"), ("carol (news@demo.test)", "carol")):
            self.wait_for(title, "watching %s@demo.test" % who)
        self.prompts = 0

        # fan-out: bob directly (both his terminals), carol through the list
        self.publish("bob@demo.test, news@demo.test", "hello class", "first")
        self.wait_for("alice publishes", "news@demo.test list: 1 delivery,")
        for title in ("bob (1)", "bob (2)", "carol (news@demo.test)"):
            self.wait_for(title, 'subject="hello class"')

        # time uncoupling: bob's first terminal goes away, mail arrives, it comes back
        tmux("send-keys", "-t", self.panes["bob (1)"], "C-c", "")
        self.publish("bob@demo.test", "while you were out", "second")
        self.wait_for("bob (2)", 'subject="while you were out"')
        self.assertNotIn("while you were out", self.screen("bob (1)"))
        tmux("send-keys", "-t", self.panes["bob (1)"], "Up", "Enter")
        # a watcher that starts shows the unread mail waiting for it first
        self.wait_for("bob (1)", 'subject="while you were out"')


if __name__ == "__main__":
    unittest.main()
