"""mailbus-web under test: the real broker and the real mailbus-web on free 127.0.0.1 ports in a
temporary directory, shared by the tests of one class (the broker's first start hashes the demo
passwords, which takes seconds), and `curl` as the HTTP client of the HTTP tests.

Every process is stopped by its pid; the temp dir is removed after the class; the logs are
printed when a test failed.
"""
import json
import os
import ssl
import subprocess
import sys
import time
import unittest
import urllib.request

from .broker import ALICE, BOB, DEMO_PASSWORD, Broker
from .ports import free_port
from .process import BUILD, PUB, SUB, remove_temp_dir, run, stop_process, temp_dir, wait_for

WEB = os.path.join(BUILD, "web", "mailbus-web")


class Web:
    """The real mailbus-web on a free port, on the broker's database"""

    # the broker's answer to a login (an Argon2id check) may take seconds on a loaded machine
    # or under ASan: a test that wants a broker-down answer soon gives a smaller --timeout
    TIMEOUT_MS = 10000

    def __init__(self, tmp, broker, extra_args=(), tls=False):
        self.tmp, self.broker = tmp, broker
        self.port = free_port()
        self.tls = tls  # served with --tls-cert/--tls-key: https, a self-signed certificate
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)
        self.log_path = os.path.join(tmp, "web.log")
        self.extra_args = list(extra_args)
        self.proc = None

    def command(self):
        return [WEB, "--listen", "127.0.0.1:%d" % self.port, "--db", self.broker.db, "--broker",
                self.broker.endpoint, "--timeout", str(self.TIMEOUT_MS)] + self.extra_args

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.tmp)
        wait_for(self.ready, 20, "mailbus-web to answer")
        return self

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("mailbus-web exited with %s:\n%s" % (self.proc.returncode, self.log()))
        try:
            context = ssl._create_unverified_context() if self.tls else None
            with urllib.request.urlopen(self.url + "/static/style.css", timeout=2, context=context) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self):
        rc = stop_process(self.proc, 10)
        self.proc = None
        return rc

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"


def curl(url, *args, data=None):
    """curl -s -i ARGS URL: (status, headers as a dict of lower-case names, body bytes)"""
    argv = ["curl", "-s", "-i", "--max-time", "20"] + list(args) + [url]
    p = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    raw = p.stdout
    head, _, body = raw.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 100"):
        head, _, body = body.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/"):
        raise AssertionError("no HTTP answer from %s: rc=%d %r" % (url, p.returncode, p.stderr))
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return status, {k: v[0] if len(v) == 1 else v for k, v in headers.items()}, body


class WebCase(unittest.TestCase):
    """One broker and one mailbus-web for the class; helpers to log in and publish"""

    web_args = ()

    @classmethod
    def setUpClass(cls):
        for path in (WEB, PUB, SUB):
            if not os.access(path, os.X_OK):
                raise AssertionError("%s is not built (MAILBUS_BUILD_DIR=%s)" % (path, BUILD))
        cls.tmp = temp_dir("mailbus-web-")
        cls.broker = Broker(cls.tmp).start()
        try:
            cls.web = Web(cls.tmp, cls.broker, cls.web_args).start()
        except BaseException:
            cls.broker.terminate()
            raise
        cls.url = cls.web.url

    @classmethod
    def tearDownClass(cls):
        cls.web.stop()
        if cls.broker.proc is not None:
            cls.broker.terminate()
        remove_temp_dir(cls.tmp)

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result is not None else 0
        try:
            return super().run(result)
        finally:
            if result is not None and len(result.failures) + len(result.errors) > before:
                sys.stderr.write("\n---- mailbus-web log ----\n%s\n---- broker log ----\n%s\n"
                                 % (self.web.log()[-6000:], self.broker.log()[-4000:]))

    def client_env(self, user, password=DEMO_PASSWORD):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBUS_")}
        env.update(MAILBUS_BROKER=self.broker.endpoint, MAILBUS_USER=user, MAILBUS_PASSWORD=password)
        return env

    def pub(self, *args, user=ALICE):
        rc, out, err = run([PUB] + [str(a) for a in args], env=self.client_env(user), cwd=self.tmp)
        self.assertEqual(rc, 0, "mailbus-pub failed: %s %s" % (out, err))
        return out

    def sub(self, *args, user=BOB):
        return run([SUB] + [str(a) for a in args], env=self.client_env(user), cwd=self.tmp)

    def login(self, user=BOB, password=DEMO_PASSWORD):
        """Logs in with curl; returns (cookie jar path, csrf token)"""
        jar = os.path.join(self.tmp, "jar-%s-%f" % (user, time.monotonic()))
        status, _, body = curl(self.url + "/api/login", "-c", jar, "--data-urlencode", "address=" + user,
                               "--data-urlencode", "password=" + password)
        self.assertEqual(status, 200, body)
        return jar, json.loads(body)["csrf"]
