"""netns — two real network hosts for a test: network namespaces A and B joined by a veth
pair, each with its loopback up, addressed from a private 10.200.X.Y/30 test range chosen per
run. These namespaces are the project's own test hosts; nothing else is ever a target.

    from mailbus_test.netns import NetnsPair
    with NetnsPair() as net:
        server = net.popen_a([BROKER, "--bind", "tcp://%s:5670" % net.a_ip])
        net.run_b(["curl", ...], capture_output=True, timeout=30)

Names are unique per run and per pair (mb-<pid>-<n>-a / -b), so parallel tests and other
engineers' runs never meet. Needs root (CI runs as root) and iproute2; otherwise the
constructor raises unittest.SkipTest with the reason. Teardown is certain: the context
manager's exit, close(), and an atexit hook for whatever is still open; processes started
with popen_a/popen_b are stopped first."""
import atexit
import itertools
import os
import shutil
import subprocess
import unittest

from .process import stop_process

_counter = itertools.count()
_open_pairs = []


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=check)


class NetnsPair:
    """Namespaces a and b, a veth pair between them: a_ip <-> b_ip (a /30)"""

    def __init__(self):
        if os.geteuid() != 0:
            raise unittest.SkipTest("netns: network namespaces need root (CI runs the tests as root)")
        if not shutil.which("ip"):
            raise unittest.SkipTest("netns: the ip command (iproute2) is not installed")
        n = next(_counter)
        pid = os.getpid()
        self.a = "mb-%d-%d-a" % (pid, n)
        self.b = "mb-%d-%d-b" % (pid, n)
        # 10.200.X.Y/30, X and Y from pid and counter: a different subnet per run and pair
        x = (pid >> 6) % 256
        y = ((pid % 64) * 4 + n * 4) % 256
        self.prefix = 30
        self.a_ip = "10.200.%d.%d" % (x, y + 1)
        self.b_ip = "10.200.%d.%d" % (x, y + 2)
        self.processes = []
        self.created = []
        self._setup()

    def _setup(self):
        for ns in (self.a, self.b):
            r = _ip("netns", "add", ns, check=False)
            if r.returncode != 0:
                self.close()
                raise unittest.SkipTest("netns: 'ip netns add %s' failed: %s" % (ns, r.stderr.strip()))
            self.created.append(ns)
        _open_pairs.append(self)
        try:
            # both ends are made inside their namespaces: no name in the host's namespace
            _ip("link", "add", "veth0", "netns", self.a, "type", "veth", "peer", "name", "veth0", "netns", self.b)
            for ns, addr in ((self.a, self.a_ip), (self.b, self.b_ip)):
                _ip("-n", ns, "addr", "add", "%s/%d" % (addr, self.prefix), "dev", "veth0")
                _ip("-n", ns, "link", "set", "veth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except subprocess.CalledProcessError as e:
            self.close()
            raise RuntimeError("netns: %s: %s" % (" ".join(e.cmd), e.stderr)) from e

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def argv(self, ns, argv):
        """argv run inside namespace ns (self.a or self.b)"""
        return ["ip", "netns", "exec", ns] + list(argv)

    def run_a(self, argv, **kwargs):
        """subprocess.run inside A; give timeout= as with any subprocess.run"""
        return subprocess.run(self.argv(self.a, argv), **kwargs)

    def run_b(self, argv, **kwargs):
        return subprocess.run(self.argv(self.b, argv), **kwargs)

    def popen_a(self, argv, **kwargs):
        """subprocess.Popen inside A, stopped (SIGTERM, then SIGKILL) by close()"""
        proc = subprocess.Popen(self.argv(self.a, argv), **kwargs)
        self.processes.append(proc)
        return proc

    def popen_b(self, argv, **kwargs):
        proc = subprocess.Popen(self.argv(self.b, argv), **kwargs)
        self.processes.append(proc)
        return proc

    def close(self):
        """Stops the processes started here, then deletes both namespaces (and so the veth
        pair). Idempotent."""
        for proc in self.processes:
            stop_process(proc)
        self.processes = []
        for ns in self.created:
            _ip("netns", "del", ns, check=False)
        self.created = []
        if self in _open_pairs:
            _open_pairs.remove(self)


@atexit.register
def _close_all():
    for pair in list(_open_pairs):
        pair.close()
