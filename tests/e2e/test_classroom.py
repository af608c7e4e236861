"""The classroom demo (.ci/classroom), driven as a lecturer would: tmux send-keys into the
publisher pane, capture-pane on the subscriber panes. Real broker, real programs, real tmux
(on a tmux socket of the test's own, so a lecturer's tmux server is never touched). Also:
every port from settings (two classrooms on one server), bad settings refused, and LAN mode
across two network namespaces (a student's machine reaches the gateway on the lab address)."""
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from mailbus_test.netns import NetnsPair
from mailbus_test.ports import free_port
from mailbus_test.process import BUILD, ROOT, SUB, wait_for

CLASSROOM = os.path.join(ROOT, ".ci", "classroom")


def banner(host, port):
    """The first line a server sends, or None while nothing answers"""
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            return s.recv(200).decode("ascii", "replace")
    except OSError:
        return None


class Classroom:
    """One lecturer's classroom: its own tmux socket and session, directory and ports"""

    def __init__(self, netns=None, extra_env=None, args=()):
        self.socket = "mailbus-test-%d-%d" % (os.getpid(), free_port())
        self.session = "classroom"
        self.dir = tempfile.mkdtemp(prefix="mailbus-classroom-")
        self.broker_port, self.smtp_port, self.pop3_port = free_port(), free_port(), free_port()
        self.env = dict(os.environ, MAILBUS_TMUX_SESSION=self.session, MAILBUS_TMUX_SOCKET=self.socket,
                        MAILBUS_BROKER_PORT=str(self.broker_port), MAILBUS_SMTP_PORT=str(self.smtp_port),
                        MAILBUS_POP3_PORT=str(self.pop3_port), MAILBUS_IMAP_PORT=str(free_port()),
                        MAILBUS_DEMO_DIR=self.dir, MAILBUS_BUILD_DIR=BUILD,
                        MAILBUS_SKIP_BUILD="1", MAILBUS_NO_ATTACH="1",
                        MAILBUS_PANE_SHELL="bash --noprofile --norc")
        self.env.update(extra_env or {})
        self.args = list(args)
        self.netns = netns
        self.panes = {}

    def run(self):
        argv = ["bash", CLASSROOM] + self.args
        run = self.netns.run_a if self.netns else subprocess.run
        out = run(argv, env=self.env, capture_output=True, text=True, timeout=120)
        if out.returncode == 0:
            for line in self.tmux("list-panes", "-t", self.session, "-F", "#{pane_id}\t#{pane_title}").stdout.splitlines():
                pane_id, title = line.split("\t", 1)
                self.panes[title] = pane_id
        return out

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)

    def screen(self, title):
        return self.tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", self.panes[title]).stdout

    def close(self):
        """Ctrl-C in every pane, then the tmux server goes (its panes get SIGHUP)"""
        for pane in self.panes.values():
            self.tmux("send-keys", "-t", pane, "C-c", "")
        self.tmux("kill-server")
        if not self.netns:
            wait_for(lambda: banner("127.0.0.1", self.smtp_port) is None, 30, "the gateway to stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class ClassroomDemo(unittest.TestCase):
    def setUp(self):
        if not shutil.which("tmux"):
            self.skipTest("tmux is not installed")

    def start(self, **kwargs):
        room = Classroom(**kwargs)
        self.addCleanup(room.close)
        out = room.run()
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return room, out.stdout

    def wait_for(self, title, text, count=1, deadline=20.0):
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.room.screen(title).count(text) >= count:
                return
            time.sleep(0.1)
        self.fail("pane %r never showed %r %d time(s):\n%s" % (title, text, count, self.room.screen(title)))

    def publish(self, to, subject, body):
        pane = self.room.panes["alice publishes"]
        self.wait_for("alice publishes", "To (comma separated):", self.prompts + 1)
        for line in (to, subject, "", body, "."):
            self.room.tmux("send-keys", "-t", pane, "-l", line)
            self.room.tmux("send-keys", "-t", pane, "Enter")
        self.prompts += 1

    def test_panes_show_fan_out_and_time_uncoupling(self):
        self.room, _ = self.start()
        self.assertEqual({"broker", "bob (1)", "bob (2)", "carol (news@demo.test)", "alice publishes"}
                         - set(self.room.panes), set())
        for title, who in (("bob (1)", "bob"), ("bob (2)", "bob"), ("carol (news@demo.test)", "carol")):
            self.wait_for(title, "watching %s@demo.test" % who)
        self.prompts = 0

        # fan-out: bob directly (both his terminals), carol through the list
        self.publish("bob@demo.test, news@demo.test", "hello class", "first")
        self.wait_for("alice publishes", "news@demo.test list: 1 delivery,")
        for title in ("bob (1)", "bob (2)", "carol (news@demo.test)"):
            self.wait_for(title, 'subject="hello class"')

        # time uncoupling: bob's first terminal goes away, mail arrives, it comes back
        self.room.tmux("send-keys", "-t", self.room.panes["bob (1)"], "C-c", "")
        # gone once its pane runs the shell again (the tests' MAILBUS_PANE_SHELL is bash)
        wait_for(lambda: self.room.tmux("display-message", "-p", "-t", self.room.panes["bob (1)"],
                                        "#{pane_current_command}").stdout.strip() == "bash",
                 30, "the watcher in bob (1) to end")
        self.publish("bob@demo.test", "while you were out", "second")
        self.wait_for("bob (2)", 'subject="while you were out"')
        self.assertNotIn("while you were out", self.room.screen("bob (1)"))
        self.room.tmux("send-keys", "-t", self.room.panes["bob (1)"], "Up", "Enter")
        # a watcher that starts shows the unread mail waiting for it first
        self.wait_for("bob (1)", 'subject="while you were out"')

    def test_two_lecturers_on_one_server_each_get_their_own_ports(self):
        first, _ = self.start()
        second, _ = self.start()
        for room in (first, second):
            self.assertTrue(wait_for(lambda: banner("127.0.0.1", room.smtp_port), 30, "SMTP").startswith("220 "))
            self.assertTrue(wait_for(lambda: banner("127.0.0.1", room.pop3_port), 30, "POP3").startswith("+OK"))
            self.assertIn("tcp://127.0.0.1:%d" % room.broker_port, room.screen("gateway"))

    def test_bad_settings_are_refused_before_anything_starts(self):
        cases = ({"MAILBUS_SMTP_PORT": "smtp"}, {"MAILBUS_POP3_PORT": "0"}, {"MAILBUS_BROKER_PORT": "70000"},
                 {"MAILBUS_SMTP_PORT": "2600", "MAILBUS_POP3_PORT": "2600"},
                 {"MAILBUS_BIND_HOST": "10.0.0.1; touch /tmp/x"}, {"MAILBUS_LAN": "127.0.0.1"})
        for env in cases:
            room = Classroom(extra_env=env)
            self.addCleanup(room.close)
            out = room.run()
            self.assertEqual(out.returncode, 64, (env, out.stdout, out.stderr))
            self.assertRegex(out.stderr, r"^error: MAILBUS_|^error: --lan", env)
            self.assertEqual(room.panes, {})
        out = subprocess.run(["bash", CLASSROOM, "--lan"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 64)
        self.assertIn("usage:", out.stderr)

    def test_lan_mode_serves_a_student_machine_and_prints_one_line_per_student(self):
        net = NetnsPair()
        self.addCleanup(net.close)
        room, printed = self.start(netns=net, args=["--lan", net.a_ip])
        endpoint = "tcp://%s:%d" % (net.a_ip, room.broker_port)
        for user in ("alice", "bob", "carol"):
            self.assertRegex(printed, r"%s@demo.test:  mailbus-sub -b %s --server-key \S+ -u %s@demo.test watch"
                             % (user, re.escape(endpoint), user))
        self.assertNotIn("gateway@demo.test:", printed)  # the gateway's identity is no student
        pinned = re.search(r"Fingerprint=([0-9A-F:]{95})", printed)
        self.assertIsNotNone(pinned, printed)
        pinned = pinned.group(1)
        # from the student's machine: the gateway answers on the lab address, over TLS, with
        # the certificate whose fingerprint was printed
        probe = ("import hashlib, smtplib, ssl\n"
                 "ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n"
                 "s = smtplib.SMTP('%s', %d, timeout=10); s.starttls(context=ctx)\n"
                 "print(':'.join('%%02X' %% b for b in hashlib.sha256(s.sock.getpeercert(True)).digest()))\n"
                 % (net.a_ip, room.smtp_port))
        got = wait_for(lambda: net.run_b([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30).stdout,
                       30, "the gateway from host B")
        self.assertEqual(got.strip(), pinned)
        # and the printed line works from the student's machine: over CURVE, with the key
        line = shlex.split(re.search(r"bob@demo.test:  mailbus-sub (.*) watch", printed).group(1))
        student = net.run_b([SUB] + line + ["stat"], capture_output=True, text=True, timeout=60,
                            env={"PATH": os.environ["PATH"], "MAILBUS_PASSWORD": "demo"}, cwd="/")
        self.assertEqual(student.returncode, 0, student.stderr)
        self.assertRegex(student.stdout, r"^\d+ messages?, \d+ bytes")

    def test_start_refuses_bad_settings_before_installing_or_starting(self):
        # a copy of the scripts without the sources: were a check missing, the build would fail
        # there instead of a broker starting in this clone
        copy = tempfile.mkdtemp(prefix="mailbus-start-")
        self.addCleanup(shutil.rmtree, copy, True)
        shutil.copytree(os.path.join(ROOT, ".ci"), os.path.join(copy, ".ci"))
        for env in ({"MAILBUS_SMTP_PORT": "25x"}, {"MAILBUS_BIND_HOST": "$(id)"}, {"MAILBUS_BROKER_PORT": "5670 5671"}):
            out = subprocess.run(["bash", os.path.join(copy, ".ci", "start")], env=dict(os.environ, **env),
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 64, (env, out.stdout, out.stderr))
            self.assertTrue(out.stderr.startswith("error: MAILBUS_"), out.stderr)
            self.assertNotIn("mailbus: broker", out.stdout)


class NetnsHelper(unittest.TestCase):
    """mailbus_test/netns.py itself: two hosts that reach each other, loopback up, names unique
    per pair, and nothing left behind"""

    def test_two_hosts_reach_each_other_and_are_gone_after_close(self):
        with NetnsPair() as net, NetnsPair() as other:
            self.assertEqual(len({net.a, net.b, other.a, other.b}), 4)
            self.assertNotEqual((net.a_ip, net.b_ip), (other.a_ip, other.b_ip))
            server = net.popen_a([sys.executable, "-c", "import socket, sys\n"
                                  "s = socket.socket(); s.bind(('%s', 4000)); s.listen()\n"
                                  "print('ready', flush=True); c, peer = s.accept(); c.sendall(peer[0].encode())"
                                  % net.a_ip], stdout=subprocess.PIPE, text=True)
            self.assertEqual(server.stdout.readline().strip(), "ready")
            got = net.run_b([sys.executable, "-c", "import socket; print(socket.create_connection(('%s', 4000), 5)"
                             ".recv(100).decode())" % net.a_ip], capture_output=True, text=True, timeout=30)
            self.assertEqual(got.stdout.strip(), net.b_ip)  # A saw B's address: a real second host
            server.stdout.close()
            for run in (net.run_a, net.run_b):
                lo = run(["ip", "-o", "link", "show", "lo"], capture_output=True, text=True, timeout=30).stdout
                self.assertIn("UP", lo)
            names = (net.a, net.b)
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30).stdout
        for name in names:
            self.assertNotIn(name, listed)


if __name__ == "__main__":
    unittest.main()
