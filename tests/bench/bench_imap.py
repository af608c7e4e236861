#!/usr/bin/env python3
"""bench_imap.py — a bounded IMAP benchmark, not a test: a real broker and gateway (gateway.Stack)
on free ports in a temporary directory.

1. FETCH of N headers: N messages are APPENDed to bob's INBOX (pipelined, LITERAL-), then one
   `FETCH 1:* (UID RFC822.SIZE BODY.PEEK[HEADER])` is timed; the gateway's RSS is read from
   /proc before and after (VmRSS, VmHWM).
2. S idling sessions: S sessions log in, SELECT INBOX and IDLE; one mailbus-pub; the time until
   every session has seen "* 1 EXISTS", and the gateway's RSS with them all idling.

    PYTHONPATH=tests MAILBUS_BUILD_DIR=build /usr/bin/python3 tests/bench/bench_imap.py \
        [--messages 10000] [--sessions 500] [--time-limit 300]

Every phase is bounded in count and time (--time-limit per phase): a run that passes it stops
and says so."""
import argparse
import os
import socket
import subprocess
import sys
import threading
import time

from mailbus_test.gateway import PASSWORD, PUB, Stack


def rss(pid):
    """(VmRSS, VmHWM) of a process in KiB"""
    values = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                values[key] = int(value.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


class Session:
    """A plain-text IMAP session (the gateway runs with --allow-plaintext-auth for the bench)"""

    def __init__(self, port, timeout):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.line()  # greeting

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def until_tagged(self, tag):
        count = 0
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                return line, count
            count += 1

    def login_select(self):
        self.sock.sendall(b'a LOGIN "bob@demo.test" "%s"\r\nb SELECT INBOX\r\n' % PASSWORD.encode())
        ok, _ = self.until_tagged(b"a")
        if b" OK " not in ok:
            raise RuntimeError(ok)
        ok, _ = self.until_tagged(b"b")
        if b" OK " not in ok:
            raise RuntimeError(ok)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def append_many(port, count, deadline):
    """count messages into INBOX, pipelined in batches of 200 (LITERAL-: no continuation wait)"""
    s = Session(port, 120)
    s.login_select()
    sent = 0
    while sent < count and time.monotonic() < deadline:
        batch = min(200, count - sent)
        data = b""
        for i in range(sent, sent + batch):
            msg = (b"From: alice@demo.test\r\nTo: bob@demo.test\r\nSubject: bench %d\r\n"
                   b"Message-ID: <bench.%d@demo.test>\r\n\r\nbody of message %d\r\n" % (i, i, i))
            data += b"p%d APPEND INBOX {%d+}\r\n%s\r\n" % (i, len(msg), msg)
        s.sock.sendall(data)
        for i in range(sent, sent + batch):
            ok, _ = s.until_tagged(b"p%d" % i)
            if b" OK " not in ok:
                raise RuntimeError(ok)
        sent += batch
    s.close()
    return sent


def fetch_headers(stack, pid, count, limit):
    deadline = time.monotonic() + limit
    start = time.monotonic()
    appended = append_many(stack.imap_port, count, deadline)
    print("appended %d messages in %.1f s" % (appended, time.monotonic() - start))
    before = rss(pid)
    s = Session(stack.imap_port, limit)
    s.login_select()
    start = time.monotonic()
    s.sock.sendall(b"f FETCH 1:* (UID RFC822.SIZE BODY.PEEK[HEADER])\r\n")
    ok, lines = s.until_tagged(b"f")
    elapsed = time.monotonic() - start
    after = rss(pid)
    s.close()
    print("FETCH of %d headers: %.2f s (%.0f messages/s), %d response lines, %s" % (
        appended, elapsed, appended / elapsed, lines, ok.decode()))
    print("gateway RSS before %d KiB, after %d KiB, peak %d KiB" % (before[0], after[0], after[1]))


def idlers(stack, pid, count, limit):
    deadline = time.monotonic() + limit
    base = rss(pid)
    sessions = []
    start = time.monotonic()
    lock = threading.Lock()
    errors = []

    def open_some(n):
        for _ in range(n):
            if time.monotonic() > deadline:
                return
            try:
                s = Session(stack.imap_port, limit)
                s.login_select()
                s.sock.sendall(b"i IDLE\r\n")
                if s.line() != b"+ idling":
                    raise RuntimeError("no continuation")
                with lock:
                    sessions.append(s)
            except Exception as e:  # noqa: BLE001 (a bench counts failures, it does not stop)
                with lock:
                    errors.append(str(e))

    # 4 at a time: the broker checks at most 8 passwords at once (Argon2id) and answers more
    # logins "421 try again", which the client retries within its 10 s
    threads = [threading.Thread(target=open_some, args=(count // 4 + (i < count % 4),)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("%d sessions idling after %.1f s (%d failed%s)" % (len(sessions), time.monotonic() - start, len(errors),
                                                                ": " + errors[0] if errors else ""))
    idle_rss = rss(pid)
    print("gateway RSS: %d KiB before, %d KiB with them idling (%.1f KiB per session)" % (
        base[0], idle_rss[0], (idle_rss[0] - base[0]) / max(1, len(sessions))))
    seen = []

    def wait_exists(s):
        s.sock.settimeout(max(1, deadline - time.monotonic()))
        try:
            while True:
                line = s.line()
                if line.endswith(b" EXISTS"):
                    with lock:
                        seen.append(time.monotonic())
                    return
        except Exception:  # noqa: BLE001
            return

    waiters = [threading.Thread(target=wait_exists, args=(s,)) for s in sessions]
    for t in waiters:
        t.start()
    env = dict(os.environ, MAILBUS_BROKER=stack.endpoint, MAILBUS_PASSWORD=PASSWORD)
    published = time.monotonic()
    subprocess.run([PUB, "-u", "alice@demo.test", "-t", "bob@demo.test", "-s", "to every idler", "-m", "hi"],
                   env=env, check=True, capture_output=True, timeout=60)
    for t in waiters:
        t.join()
    if seen:
        print("EXISTS seen by %d of %d sessions; last %.3f s after mailbus-pub started (first %.3f s)" % (
            len(seen), len(sessions), max(seen) - published, min(seen) - published))
    for s in sessions:
        s.close()
    return len(seen) == len(sessions) and not errors


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=10000)
    p.add_argument("--sessions", type=int, default=500)
    p.add_argument("--time-limit", type=int, default=300, help="seconds per phase")
    a = p.parse_args()
    args = ["--allow-plaintext-auth", "--max-sessions", str(a.sessions + 50), "--max-connections-per-address",
            str(a.sessions + 50), "--max-message-size", "1048576"]
    with Stack(gateway_args=args) as stack:
        pid = stack.gateway.pid
        fetch_headers(stack, pid, a.messages, a.time_limit)
    with Stack(gateway_args=args) as stack:
        ok = idlers(stack, stack.gateway.pid, a.sessions, a.time_limit)
    print("OK" if ok else "FAILED: not every session saw the new message")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
