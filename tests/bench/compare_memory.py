"""compare_memory.py — the memory, watchers and login parts of tests/bench/compare.py.

- RssSampler: a server's VmRSS (sampled every 50 ms) and VmHWM from /proc while a load runs.
- watchers: one server, WATCHERS sessions each waiting for a push on one of MAILBOXES mailboxes
  (streams, topics), its RSS before and after they connect, then PUSHES publishes to all the
  watched mailboxes and each watcher's time from the publish to its push. mailbus (WATCH, CREDIT
  back after each push and as heartbeat), Redis (XREAD BLOCK 0 on streams), Mosquitto (QoS 1
  subscriptions), all from one Python process, one poll loop; the loop's busy share of the
  push window is printed so that a client that could not keep up would show.
- login: build/tests/mailbus-bench-login's two storms (password logins at once; ticket
  reconnects after a broker restart).
Every load is bounded in count and time.
"""
import os
import re
import resource
import selectors
import socket
import struct
import subprocess
import threading
import time

import zmq

from mailbus_test.broker import ALICE, DEMO_PASSWORD, VERSION, Broker
from mailbus_test.process import BUILD, remove_temp_dir, temp_dir, wait_for

WATCHERS = 1000
MAILBOXES = 10       # the watchers are spread over this many mailboxes (streams, topics), 100 each
WINDOW = 64          # WATCH's credit; each push's credit is given back at once
HEARTBEAT = 5.0      # seconds: a watcher idle this long sends CREDIT 1 (the broker drops it at 15)
PUSH_DEADLINE = 30.0  # seconds for all watchers to get one publish
CONNECT_DEADLINE = 120.0
LOGIN_BENCH = os.path.join(BUILD, "tests", "mailbus-bench-login")


def raise_fd_limit():
    """1,000 connections need more than the usual 1,024 descriptors, here and in the servers
    started after (they inherit it)"""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def proc_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"%s:\s+(\d+)" % field, f.read()).group(1))


class RssSampler:
    """Samples a process's VmRSS every 50 ms in a thread from start() to stop(); stop() gives
    the peak sample, the peak of the samples taken once logged_in() is true (a password check
    is an Argon2id hash of 64 MiB: the load's own peak is the one after it), VmHWM (the kernel's
    own peak) and the RSS then, in MiB"""

    def __init__(self, pid, logged_in=None, interval=0.05):
        self.pid, self.interval = pid, interval
        self.logged_in = logged_in or (lambda: True)
        self.peak = self.load_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        counting = False
        while not self._stop.is_set():
            try:
                kib = proc_kib(self.pid, "VmRSS")
            except (OSError, AttributeError):
                return
            self.peak = max(self.peak, kib)
            if counting:
                self.load_peak = max(self.load_peak, kib)
            else:
                counting = self.logged_in()
            self._stop.wait(self.interval)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()
        now = proc_kib(self.pid, "VmRSS")
        return {"rss_peak": max(self.peak, now) / 1024, "rss_load": max(self.load_peak, now) / 1024,
                "hwm": proc_kib(self.pid, "VmHWM") / 1024, "rss_after": now / 1024}


def password_login_logged(log_path):
    """A test of whether a password login has been logged in the broker's log since now"""
    start = os.path.getsize(log_path)

    def seen():
        with open(log_path, "rb") as f:
            f.seek(start)
            return b" by=password" in f.read(1 << 20)
    return seen


def sampled(pid, fn, *args, logged_in=None):
    """fn(*args)'s result with the RSS figures of process pid while it ran"""
    sampler = RssSampler(pid, logged_in).start()
    try:
        result = fn(*args)
    finally:
        rss = sampler.stop()
    result.update(rss)
    return result


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class PushRound:
    """The figures of the push phase: each watcher's latency, the client loop's busy time, the
    client's and the server's CPU time over the push windows"""

    def __init__(self, server_pid):
        self.server_pid = server_pid
        self.latencies = []
        self.busy = 0.0
        self.cpu = 0.0
        self.server_cpu = 0.0
        self.window = 0.0
        self.missing = 0

    def result(self, before_kib, after_kib, watchers):
        if not self.latencies:
            raise RuntimeError("no watcher got a push")
        ms = [x * 1000 for x in self.latencies]
        return {"rss_before": before_kib / 1024, "rss_watching": after_kib / 1024,
                "kib_per_watcher": (after_kib - before_kib) / watchers, "p50": percentile(ms, 50),
                "p99": percentile(ms, 99), "max": max(ms), "missing": self.missing,
                "client_busy_pct": 100 * self.busy / self.window, "client_cpu_pct": 100 * self.cpu / self.window,
                "server_cpu_pct": 100 * self.server_cpu / self.window}

    def start(self):
        """the start of one push window"""
        self.t0, self.cpu0, self.server_cpu0 = time.perf_counter(), cpu_seconds(), proc_cpu_seconds(self.server_pid)
        return self.t0

    def stop(self):
        self.window += time.perf_counter() - self.t0
        self.cpu += cpu_seconds() - self.cpu0
        self.server_cpu += proc_cpu_seconds(self.server_pid) - self.server_cpu0


def cpu_seconds():
    """this process's CPU time, all its threads (pyzmq's I/O thread too)"""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def proc_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------- mailbus

class Watchers:
    """WATCHERS DEALERs of one context, each a session watching one of the mailboxes. Waits on
    the sockets' ZMQ_FDs with epoll: zmq_poll over 1,000 sockets costs ~15 ms a call (it asks
    each one), which would make the client the bottleneck measured"""

    def __init__(self, endpoint, addresses, count, server_pid):
        self.server_pid = server_pid
        self.ctx = zmq.Context()
        self.ctx.max_sockets = count + 64
        self.endpoint, self.addresses = endpoint, addresses
        self.socks = []
        self.watching = set()
        self.last_sent = {}
        self.unchecked = set()  # sockets sent on since their last drain: a send can take the FD's signal
        self.next_heartbeat = 0
        self.sel = selectors.DefaultSelector()
        for i in range(count):
            s = self.ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(endpoint)
            self.socks.append(s)
            self.sel.register(s.getsockopt(zmq.FD), selectors.EVENT_READ, i)

    def send(self, i, *frames):
        self.socks[i].send_multipart([f if isinstance(f, bytes) else str(f).encode() for f in frames])
        self.last_sent[i] = time.monotonic()
        self.unchecked.add(i)

    def drain(self, i, on_frames):
        sock = self.socks[i]
        while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            on_frames(i, sock.recv_multipart(zmq.NOBLOCK))

    def pump(self, timeout_s, on_frames):
        """Waits up to timeout_s for any socket; on_frames(i, frames) for each message. Sends
        CREDIT 1 for watchers idle HEARTBEAT s. Returns the time spent outside the wait"""
        ready = self.sel.select(0 if self.unchecked else timeout_s)
        busy_start = time.perf_counter()
        todo, self.unchecked = self.unchecked | {key.data for key, _ in ready}, set()
        for i in todo:
            self.drain(i, on_frames)
        now = time.monotonic()
        if now >= self.next_heartbeat:
            self.next_heartbeat = now + 1
            for i in list(self.watching):
                if now - self.last_sent.get(i, now) > HEARTBEAT:
                    self.send(i, "hb", "CREDIT", "1")
        return time.perf_counter() - busy_start

    def identify(self):
        """One password HELO per mailbox (its ticket), then RESUME with that ticket for all the
        others at once, each WATCHing as soon as it is in"""
        tickets = {}
        for m, address in enumerate(self.addresses):
            self.send(m, "h", "HELO", VERSION, address, DEMO_PASSWORD)
            frames = self.wait_reply(m)
            tickets[address] = frames[3]
            self.send(m, "w", "WATCH", WINDOW)
        for i in range(len(self.addresses), len(self.socks)):
            address = self.addresses[i % len(self.addresses)]
            self.send(i, "r", "RESUME", VERSION, address, tickets[address])

        def on_frames(i, frames):
            if frames[0] == b"r":
                if not frames[1].startswith(b"2"):
                    raise RuntimeError("RESUME refused: %r" % frames[1])
                self.send(i, "w", "WATCH", WINDOW)
            elif frames[0] == b"w":
                if not frames[1].startswith(b"2"):
                    raise RuntimeError("WATCH refused: %r" % frames[1])
                self.watching.add(i)
        end = time.monotonic() + CONNECT_DEADLINE
        while len(self.watching) < len(self.socks):
            if time.monotonic() > end:
                raise RuntimeError("%d of %d watchers in after %.0f s" % (len(self.watching), len(self.socks),
                                                                            CONNECT_DEADLINE))
            self.pump(1.0, on_frames)

    def wait_reply(self, i):
        if not self.socks[i].poll(60000):
            raise RuntimeError("no reply to the password HELO")
        frames = self.socks[i].recv_multipart()
        if not frames[1].startswith(b"2") or len(frames) < 4:
            raise RuntimeError("HELO refused: %r" % frames[1])
        return frames

    def close(self):
        self.sel.close()
        for s in self.socks:
            s.close(0)
        self.ctx.term()


def mailbus_pushes(watchers, publisher, pushes):
    rounds = PushRound(watchers.server_pid)
    message = (b"From: %s\r\nTo: watchers\r\nSubject: push\r\n\r\n" % ALICE.encode()) + b"a" * 400 + b"\r\n"
    for n in range(pushes):
        got = set()
        t0 = rounds.start()

        def on_frames(i, frames):
            if frames[0] == b"*" and frames[1] == b"NEW" and i not in got:
                got.add(i)
                rounds.latencies.append(time.perf_counter() - t0)
        publisher.send_multipart([b"p%d" % n, b"SEND", ALICE.encode()] + [a.encode() for a in watchers.addresses]
                                 + [message])
        end = time.monotonic() + PUSH_DEADLINE
        while len(got) < len(watchers.socks) and time.monotonic() < end:
            rounds.busy += watchers.pump(0.2, on_frames)
        rounds.stop()
        rounds.missing += len(watchers.socks) - len(got)
        code = publisher.recv_multipart()[1] if publisher.poll(10000) else b"no reply"
        if not code.startswith(b"2"):
            raise RuntimeError("publish: %r" % code)
        for i in got:  # the credit back once the push is handled, outside the timed window
            watchers.send(i, "c", "CREDIT", "1")
        watchers.pump(0.3, lambda i, frames: None)  # the CREDIT replies
    return rounds


def mailbus_watchers(count=WATCHERS, pushes=5):
    tmp = temp_dir("mailbus-compare-watch-")
    broker = Broker(tmp)
    broker.start()
    watchers = publisher = None
    try:
        addresses = ["watch%d@demo.test" % m for m in range(MAILBOXES)]
        for a in addresses:
            r = broker.admin("mailbox", "add", a, "--password", DEMO_PASSWORD, timeout=120)
            assert r[0] == 0, r
        publisher = zmq.Context.instance().socket(zmq.DEALER)
        publisher.setsockopt(zmq.LINGER, 0)
        publisher.connect(broker.endpoint)
        publisher.send_multipart([b"h", b"HELO", VERSION.encode(), ALICE.encode(), DEMO_PASSWORD.encode()])
        if not publisher.poll(60000) or not publisher.recv_multipart()[1].startswith(b"2"):
            raise RuntimeError("the publisher's HELO failed")
        before = proc_kib(broker.proc.pid, "VmRSS")
        watchers = Watchers(broker.endpoint, addresses, count, broker.proc.pid)
        watchers.identify()
        after = proc_kib(broker.proc.pid, "VmRSS")
        rounds = mailbus_pushes(watchers, publisher, pushes)
        return rounds.result(before, after, count)
    finally:
        if watchers:
            watchers.close()
        if publisher:
            publisher.close(0)
        broker.terminate()
        remove_temp_dir(tmp)


# ---------------------------------------------------------------------------- Redis, Mosquitto

def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def raw_pushes(server_pid, socks, publish, on_data, pushes, rearm=None):
    """PUSHES rounds of publish() to raw sockets, each watcher's first bytes after it timed;
    on_data(sock, data) answers what the protocol needs (PUBACK); rearm() between rounds"""
    rounds = PushRound(server_pid)
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    try:
        for n in range(pushes):
            if rearm and n > 0:
                rearm()
            got = set()
            t0 = rounds.start()
            publish()
            end = time.monotonic() + PUSH_DEADLINE
            while len(got) < len(socks) and time.monotonic() < end:
                events = sel.select(0.2)
                busy_start = time.perf_counter()
                for key, _ in events:
                    data = key.fileobj.recv(65536)
                    if not data:
                        raise RuntimeError("a watcher's connection closed")
                    if key.fileobj not in got:
                        got.add(key.fileobj)
                        rounds.latencies.append(time.perf_counter() - t0)
                    on_data(key.fileobj, data)
                rounds.busy += time.perf_counter() - busy_start
            rounds.stop()
            rounds.missing += len(socks) - len(got)
    finally:
        sel.close()
    return rounds


def redis_watchers(proc_factory, count=WATCHERS, pushes=5):
    """COUNT clients each blocked in XREAD BLOCK 0 on one of MAILBOXES streams; a round is one
    XADD to each stream (pipelined, AOF always), then each client blocks again"""
    srv = proc_factory()
    socks = []
    try:
        ctl = connect(srv.port)
        before = proc_kib(srv.proc.pid, "VmRSS")
        socks = [connect(srv.port) for _ in range(count)]
        ctl_file = ctl.makefile("rb")

        def block_all():
            for i, s in enumerate(socks):
                s.sendall(resp("XREAD", "BLOCK", "0", "STREAMS", "w%d" % (i % MAILBOXES), "$"))
            wait_for(lambda: blocked(ctl, ctl_file) >= count, CONNECT_DEADLINE, "%d blocked Redis clients" % count)
        block_all()
        after = proc_kib(srv.proc.pid, "VmRSS")
        payload = b"a" * 512

        def publish():
            ctl.sendall(b"".join(resp("XADD", "w%d" % m, "*", "f", payload) for m in range(MAILBOXES)))
        rounds = raw_pushes(srv.proc.pid, socks, publish, lambda s, d: None, pushes, block_all)
        return rounds.result(before, after, count)
    finally:
        for s in socks:
            s.close()
        srv.stop()


def blocked(ctl, ctl_file):
    """INFO clients' blocked_clients (the XADD replies of the last round are read on the way)"""
    ctl.sendall(resp("INFO", "clients"))
    while True:
        line = ctl_file.readline()
        if not line:
            raise RuntimeError("Redis closed the connection")
        if line.startswith(b"$"):
            body = ctl_file.read(int(line[1:]) + 2)
            m = re.search(rb"blocked_clients:(\d+)", body)
            if m:
                return int(m.group(1))


def mqtt_packet(kind, body):
    n, length = len(body), b""
    while True:
        byte, n = n % 128, n // 128
        length += bytes([byte | (0x80 if n else 0)])
        if not n:
            return bytes([kind]) + length + body


def mqtt_str(s):
    s = s if isinstance(s, bytes) else s.encode()
    return struct.pack("!H", len(s)) + s


def mqtt_client(port, client_id):
    s = connect(port)
    s.sendall(mqtt_packet(0x10, mqtt_str("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 120) + mqtt_str(client_id)))
    if s.recv(4)[:1] != b"\x20":
        raise RuntimeError("no CONNACK")
    return s


def mqtt_acks(s, data, buffers):
    """Answers each QoS 1 PUBLISH in data (packets may be split across reads) with its PUBACK"""
    buf = buffers.get(s, b"") + data
    while True:
        length, shift, pos = 0, 0, 1
        while pos < len(buf):
            length |= (buf[pos] & 0x7F) << shift
            if not buf[pos] & 0x80:
                break
            shift, pos = shift + 7, pos + 1
        else:
            break  # the fixed header is not all there yet
        start, end = pos + 1, pos + 1 + length
        if len(buf) < end:
            break
        if buf[0] >> 4 == 3 and buf[0] & 0x06:
            topic_len = struct.unpack("!H", buf[start:start + 2])[0]
            s.sendall(b"\x40\x02" + buf[start + 2 + topic_len:start + 4 + topic_len])
        buf = buf[end:]
    buffers[s] = buf


def mosquitto_watchers(proc_factory, count=WATCHERS, pushes=5):
    """COUNT MQTT clients each subscribed (QoS 1) to one of MAILBOXES topics; a round is one QoS 1
    PUBLISH to each topic"""
    srv = proc_factory()
    socks = []
    try:
        pub = mqtt_client(srv.port, "publisher")
        before = proc_kib(srv.proc.pid, "VmRSS")
        for i in range(count):
            s = mqtt_client(srv.port, "watch%d" % i)
            s.sendall(mqtt_packet(0x82, struct.pack("!H", 1) + mqtt_str("w%d" % (i % MAILBOXES)) + b"\x01"))
            socks.append(s)
        for s in socks:
            if s.recv(5)[:1] != b"\x90":
                raise RuntimeError("no SUBACK")
        after = proc_kib(srv.proc.pid, "VmRSS")
        payload, pid = b"a" * 512, [0]

        def publish():
            out = b""
            for m in range(MAILBOXES):
                pid[0] = pid[0] % 65535 + 1
                out += mqtt_packet(0x32, mqtt_str("w%d" % m) + struct.pack("!H", pid[0]) + payload)
            pub.sendall(out)
        buffers = {}
        rounds = raw_pushes(srv.proc.pid, socks, publish, lambda s, d: mqtt_acks(s, d, buffers), pushes)
        pub.close()
        return rounds.result(before, after, count)
    finally:
        for s in socks:
            s.close()
        srv.stop()


# ---------------------------------------------------------------------------- login storm

def login_storms(clients, timeout_s):
    """mailbus-bench-login: {fresh_all, fresh_p50, fresh_p99, resume_all, ...} in seconds"""
    r = subprocess.run([LOGIN_BENCH, "--clients", str(clients), "--timeout", str(timeout_s)], capture_output=True,
                       text=True, timeout=2 * timeout_s + 120)
    if r.returncode != 0:
        raise RuntimeError("mailbus-bench-login exited %d: %s" % (r.returncode, (r.stderr or r.stdout)[-300:]))
    out = {}
    for m in re.finditer(r"storm=(\w+) clients=(\d+) served=(\d+) all_ms=([0-9.]+) p50_ms=([0-9.]+) p99_ms=([0-9.]+)",
                         r.stdout):
        storm = m.group(1)
        if int(m.group(3)) != int(m.group(2)):
            raise RuntimeError("%s storm: %s of %s clients served" % (storm, m.group(3), m.group(2)))
        out.update({storm + "_all": float(m.group(4)) / 1000, storm + "_p50": float(m.group(5)) / 1000,
                    storm + "_p99": float(m.group(6)) / 1000})
    if "fresh_all" not in out or "resume_all" not in out:
        raise RuntimeError("mailbus-bench-login printed no storm line: %s" % r.stdout[-300:])
    return out
