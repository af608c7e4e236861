"""The broker's end-to-end harness: the real mailbus-broker and its client programs on
127.0.0.1, a temporary directory, cleanup always.

Standard library + pyzmq only. Run with /usr/bin/python3 (it has python3-zmq). The programs are
found under MAILBUS_BUILD_DIR (meson sets it to the build root), so this works without meson:

    PYTHONPATH=.. MAILBUS_BUILD_DIR=../../build /usr/bin/python3 -m unittest -v test_durability
                                                                          (in tests/e2e)

Nothing here sleeps a fixed time waiting for something: every wait polls a condition with a
deadline. Every process started is ended by its own pid; the temporary directory is removed after
the test, and the broker's log is printed first when the test failed.
"""
import itertools
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

import zmq

from .ports import free_port
from .process import (BROKER, BUILD, PUB, RUN_DEADLINE, SUB, b, remove_temp_dir, run, stop_process,  # noqa: F401
                      temp_dir, wait_for)

DEMO_DOMAIN = "demo.test"
ALICE, BOB, CAROL = "alice@demo.test", "bob@demo.test", "carol@demo.test"
DEMO_PASSWORD = "demo"
VERSION = "MAILBUS/1"

START_DEADLINE = 30.0     # seconds for a broker to answer its first request
STOP_DEADLINE = 20.0      # seconds for a broker to exit after SIGTERM


def message(subject, body, sender=ALICE, to=BOB, message_id=None, extra_headers=()):
    """An RFC 5322 message with CRLF line endings, as bytes."""
    lines = ["From: %s" % sender, "To: %s" % to, "Subject: %s" % subject,
             "Date: Mon, 23 Nov 2026 07:00:00 +0000"]
    if message_id:
        lines.append("Message-ID: %s" % message_id)
    lines.extend(extra_headers)
    head = "\r\n".join(lines).encode() + b"\r\n\r\n"
    body = b(body)
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    return head + body


def status_code(line):
    """The 3-digit code of a status line (bytes or str)."""
    line = line.decode("ascii", "replace") if isinstance(line, bytes) else line
    return int(line[:3])


class Broker:
    """The real mailbus-broker on a database in the temp dir and a fixed 127.0.0.1 port, so it
    can be killed and started again on the same store and endpoint."""

    def __init__(self, tmp, port=None, extra_args=()):
        self.tmp = tmp
        self.db = os.path.join(tmp, "var", "mailbus.db")
        os.makedirs(os.path.dirname(self.db), exist_ok=True)
        self.port = port or free_port()
        self.endpoint = "tcp://127.0.0.1:%d" % self.port
        self.extra_args = list(extra_args)
        self.log_path = os.path.join(tmp, "broker.log")
        self.proc = None
        self.starts = 0

    def start(self, extra_args=None, deadline=START_DEADLINE):
        assert self.proc is None, "broker already running"
        if extra_args is not None:
            self.extra_args = list(extra_args)
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(b"==== start %d: %s\n" % (self.starts, b(" ".join(self.command()))))
            log.flush()
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.tmp)
        self.wait_ready(deadline)
        return self

    def command(self):
        return [BROKER, "--db", self.db, "--bind", self.endpoint] + self.extra_args

    def wait_ready(self, deadline=START_DEADLINE):
        """Polls: sends NOOP on a DEALER until any reply comes back (or the broker died).
        NOOP needs no login: a HELO here would cost an Argon2id check (64 MiB) per start, and
        the DEALER queues one per poll until it connects, so a slow start piled them up."""
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.endpoint)
        end = time.monotonic() + deadline
        try:
            for n in itertools.count(1):
                if self.proc.poll() is not None:
                    raise AssertionError("broker exited with %s before it was ready:\n%s"
                                         % (self.proc.returncode, self.log()))
                if time.monotonic() >= end:
                    raise AssertionError("broker not ready within %.0f s:\n%s" % (deadline, self.log()))
                sock.send_multipart([b"ready%d" % n, b"NOOP"])
                if sock.poll(500, zmq.POLLIN):
                    sock.recv_multipart()
                    return
        finally:
            sock.close(0)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        """SIGKILL: no chance to finish anything (what the durability promise is about)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_DEADLINE)
            self.proc = None

    def terminate(self, deadline=STOP_DEADLINE):
        """SIGTERM and wait; returns the exit status (SIGKILL if it does not exit in time)."""
        if self.proc is None:
            return None
        rc = stop_process(self.proc, deadline)
        self.proc = None
        if rc is None:
            raise AssertionError("broker did not exit within %.0f s of SIGTERM" % deadline)
        return rc

    def restart(self, kill=False):
        if kill:
            self.kill9()
        else:
            self.terminate()
        return self.start()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return "(no broker log)"

    def admin(self, *args, input=None, timeout=RUN_DEADLINE):
        """mailbus-broker ADMIN-COMMAND ... --db DB (works with or without a running broker)."""
        return run([BROKER] + [str(a) for a in args] + ["--db", self.db], input=input, timeout=timeout,
                   cwd=self.tmp)

    def sql(self, query, params=()):
        """Runs a query on the store read-only (never writes, never blocks the broker in WAL)."""
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=10)
        try:
            return con.execute(query, params).fetchall()
        finally:
            con.close()


class Watcher:
    """`mailbus-sub watch` as a running process, with its stdout read line by line."""

    def __init__(self, argv, env, log_path):
        self.log_path = log_path
        self.stderr = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr)
        self.lines = []
        self._queue = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            self._queue.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        self._queue.put(None)

    def _pump(self, timeout):
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            return False
        if line is None:
            self._queue.put(None)  # stays at end of file
            return None
        self.lines.append(line)
        return True

    def wait_for(self, predicate, deadline=30.0, what="a line"):
        """Returns the first line (already read or still to come) for which predicate is true."""
        if isinstance(predicate, str):
            text = predicate
            predicate = lambda line: text in line
            what = repr(text)
        seen = 0
        end = time.monotonic() + deadline
        while True:
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            left = end - time.monotonic()
            if left <= 0:
                break
            if self._pump(min(left, 0.2)) is None:
                raise AssertionError("watcher exited (%s) before printing %s; lines=%r; stderr=%s"
                                     % (self.proc.poll(), what, self.lines, self.stderr_text()))
        raise AssertionError("watcher did not print %s within %.0f s; lines=%r; stderr=%s"
                             % (what, deadline, self.lines, self.stderr_text()))

    def count(self, predicate):
        while self._pump(0):
            pass
        return sum(1 for line in self.lines if predicate(line))

    def stderr_text(self):
        self.stderr.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        stop_process(self.proc, 10, signal.SIGINT)
        self.proc.stdout.close()
        self.stderr.close()


class RawClient:
    """A raw protocol client: a ZeroMQ DEALER that sends any frames and reads replies."""

    def __init__(self, endpoint):
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self._ids = itertools.count(1)

    def send(self, *frames):
        self.sock.send_multipart([b(f) for f in frames])

    def recv(self, timeout=10.0):
        """The next message as a list of bytes frames, or None after timeout seconds."""
        if self.sock.poll(int(timeout * 1000), zmq.POLLIN):
            return self.sock.recv_multipart()
        return None

    def recv_reply(self, rid, timeout=10.0):
        """The reply with request id rid (pushes and other replies are skipped)."""
        rid = b(rid)
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            msg = self.recv(max(left, 0)) if left > 0 else None
            if msg is None:
                raise AssertionError("no reply to request %r within %.0f s" % (rid, timeout))
            if msg[0] == rid:
                return msg

    def request(self, verb, *args, timeout=20.0):
        """Sends [id][verb][args...]; returns (status line as str, data frames as bytes)."""
        rid = str(next(self._ids))
        self.send(rid, verb, *args)
        reply = self.recv_reply(rid, timeout)
        return reply[1].decode("utf-8", "replace"), reply[2:]

    def helo(self, user=ALICE, password=DEMO_PASSWORD):
        status, data = self.request("HELO", VERSION, user, password)
        assert status.startswith("250 "), "HELO as %s: %s" % (user, status)
        return status

    def close(self):
        self.sock.close(0)


class MailbusTestCase(unittest.TestCase):
    """Gives each test a temp dir, a broker (started by start_broker) and helpers; stops every
    process it started, prints the broker log when the test failed, removes the temp dir."""

    broker_args = ()

    def run(self, result=None):
        self.tmp = temp_dir("mailbus-e2e-")
        before = None
        if result is not None:
            before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            failed = result is not None and len(result.failures) + len(result.errors) > before
            if failed:
                broker_log = os.path.join(self.tmp, "broker.log")
                if os.path.exists(broker_log):
                    with open(broker_log, "rb") as f:
                        sys.stderr.write("\n---- broker log of %s ----\n%s---- end of broker log ----\n"
                                         % (self.id(), f.read().decode("utf-8", "replace")))
            remove_temp_dir(self.tmp)

    def setUp(self):
        for path in (BROKER, PUB, SUB):
            if not os.access(path, os.X_OK):
                self.fail("%s is not built (MAILBUS_BUILD_DIR=%s)" % (path, BUILD))
        self.broker = None
        self._watchers = []
        self._clients = []
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for w in self._watchers:
            w.stop()
        for c in self._clients:
            c.close()
        if self.broker is not None and self.broker.proc is not None:
            try:
                self.broker.terminate()
            except AssertionError:
                pass

    def start_broker(self, extra_args=None):
        self.broker = Broker(self.tmp, extra_args=self.broker_args if extra_args is None else extra_args)
        return self.broker.start()

    def client_env(self, user=None, password=DEMO_PASSWORD):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBUS_")}
        env["MAILBUS_BROKER"] = self.broker.endpoint
        if user is not None:
            env["MAILBUS_USER"] = user
        if password is not None:
            env["MAILBUS_PASSWORD"] = password
        return env

    def pub(self, *args, user=ALICE, password=DEMO_PASSWORD, input=None, timeout=RUN_DEADLINE):
        """mailbus-pub ARGS as user; returns (rc, stdout, stderr)."""
        return run([PUB] + [str(a) for a in args], env=self.client_env(user, password), input=input,
                   timeout=timeout, cwd=self.tmp)

    def sub(self, *args, user=BOB, password=DEMO_PASSWORD, input=None, timeout=RUN_DEADLINE):
        """mailbus-sub ARGS as user; returns (rc, stdout, stderr)."""
        return run([SUB] + [str(a) for a in args], env=self.client_env(user, password), input=input,
                   timeout=timeout, cwd=self.tmp)

    def watch(self, user=BOB, password=DEMO_PASSWORD, *args):
        n = len(self._watchers) + 1
        w = Watcher([SUB] + list(args) + ["watch"], self.client_env(user, password),
                    os.path.join(self.tmp, "watch%d.err" % n))
        self._watchers.append(w)
        return w

    def raw(self, login=None, password=DEMO_PASSWORD):
        """A RawClient on the broker, identified as login when given."""
        c = RawClient(self.broker.endpoint)
        self._clients.append(c)
        if login:
            c.helo(login, password)
        return c

    def write_file(self, name, data):
        path = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(b(data))
        return path

    def stat(self, user=BOB):
        """(count, bytes) from `mailbus-sub stat`."""
        rc, out, err = self.sub("stat", user=user)
        self.assertEqual(rc, 0, "stat failed: %s %s" % (out, err))
        first = out.splitlines()[0]
        words = first.replace(",", "").split()
        self.assertIn(words[1], ("message", "messages"), first)
        self.assertEqual(words[1] == "message", words[0] == "1", first)
        self.assertEqual(words[3], "bytes", first)
        return int(words[0]), int(words[2])

    def integrity_ok(self):
        rows = self.broker.sql("PRAGMA integrity_check")
        self.assertEqual(rows, [("ok",)])
