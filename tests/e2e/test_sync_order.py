"""The durable ack, seen from outside the broker: strace on the real broker process shows that
every reply and push leaves only after the WAL frames written before it were synced to the disk
(fdatasync; docs/OPERATIONS.md, "Durability"), whichever thread writes and syncs them. One
request in flight at a time, so that every WAL write before a reply is that request's own.
Also seen with strace: an idle broker takes no write lock on the store (its fcntl on the -shm)."""
import email.utils
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

from mailbus_test.broker import ALICE, BOB, MailbusTestCase, message, wait_for

# strace -f -y: "PID syscall(FD</path>, ..." or, split over two lines when threads interleave,
# "PID syscall(... <unfinished ...>" then "PID <... syscall resumed>...) = RESULT"
LINE = re.compile(r"^(\d+)\s+(?:\d\d:\d\d:\d\d\.\d+\s+)?(.*)$")
# a ZMTP heartbeat, all of one send: the PING command (flags 4, size 7, name, 2-byte TTL) that
# the broker's socket sends every 5 s on each connection whatever else happens (no reply: a
# message frame starts with flags 0 to 3, and a PING sent along with one is a longer send)
HEARTBEAT = re.compile(r'sendto\(\d+<[^>]*>, "\\4\\7\\4PING(?:[^"\\]|\\.)*", 9, ')


class Event:
    def __init__(self, kind, done):
        self.kind = kind  # "write" (to the WAL), "sync" (of the WAL), "send" (a socket)
        self.done = done  # the line that ends it (None: it never returned in the trace)


def wal_events(text):
    """The WAL writes, WAL syncs and socket sends of a strace -f -y log, as (kind, start line,
    end line) in line order"""
    started = {}  # pid -> (kind, start line) of its unfinished call
    events = []
    for n, line in enumerate(text.splitlines()):
        m = LINE.match(line)
        if not m:
            continue
        pid, call = m.groups()
        if call.startswith("<..."):
            kind, start = started.pop(pid, (None, None))
            if kind and re.search(r"\)\s*=\s*\d+", call):
                events.append((kind, start, n))
            continue
        kind = None
        if re.match(r"(pwrite64|write)\(\d+<[^>]*-wal>", call):
            kind = "write"
        elif re.match(r"(fdatasync|fsync)\(\d+<[^>]*-wal>", call):
            kind = "sync"
        elif re.match(r"(sendto|sendmsg)\(", call) and not HEARTBEAT.match(call):
            kind = "send"
        if not kind:
            continue
        if call.endswith("<unfinished ...>"):
            started[pid] = (kind, n)
        elif re.search(r"\)\s*=\s*\d+", call):
            events.append((kind, n, n))
    return events


def unsynced_sends(events):
    """Sends made while a WAL write done before them was not yet covered by a sync that started
    after that write ended and ended before the send started"""
    bad = []
    for kind, start, end in events:
        if kind != "send":
            continue
        writes = [w_end for k, _, w_end in events if k == "write" and w_end < start]
        if not writes:
            continue
        last_write = max(writes)
        if not any(k == "sync" and s_start > last_write and s_end < start for k, s_start, s_end in events):
            bad.append(start)
    return bad


@unittest.skipUnless(shutil.which("strace"), "strace is not installed (.ci/install installs it)")
class SyncOrder(MailbusTestCase):

    def attached(self, tracer):
        """Whether tracer traces every thread of the broker now"""
        pid = self.broker.proc.pid
        try:
            for tid in os.listdir("/proc/%d/task" % pid):
                with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                    if "\nTracerPid:\t%d\n" % tracer.pid not in f.read():
                        return False
        except FileNotFoundError:  # a thread ended meanwhile: look again
            return False
        return True

    def traced(self, work, calls="pwrite64,write,fdatasync,fsync,sendto,sendmsg"):
        """Runs work() with strace attached to every thread of the broker; returns its log"""
        log = os.path.join(self.tmp, "strace.log")
        tracer = subprocess.Popen(["strace", "-f", "-y", "-qq", "-e", "trace=" + calls,
                                   "-o", log, "-p", str(self.broker.proc.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: self.attached(tracer), 30, "strace attached to every thread of the broker")
            work()
            time.sleep(0.3)
        finally:
            tracer.send_signal(signal.SIGINT)  # detaches; the broker goes on
            tracer.wait(timeout=30)
        with open(log, errors="replace") as f:
            return f.read()

    def write_locks(self, work):
        """The store's write locks the broker took while work() ran: SQLite's WAL write lock is
        byte 120 of the -shm file, taken with fcntl (F_SETLK, F_WRLCK)"""
        text = self.traced(work, calls="fcntl")
        return [line for line in text.splitlines() if "-shm>" in line and "F_WRLCK" in line
                and "l_start=120," in line]

    def test_an_idle_broker_takes_no_write_lock(self):
        """The once-a-second purge reads first and begins its write transaction only when there
        is something to purge: a sqlite3 shell writing by hand (no busy timeout by default) never
        meets the broker's write lock while the broker is idle"""
        self.start_broker()
        sender = self.raw(ALICE)
        # an expiry a few seconds ahead (formatdate drops the fraction): the purge's work
        soon = email.utils.formatdate(time.time() + 5)
        status, _ = sender.request("SEND", ALICE, BOB, message("short-lived", "x", extra_headers=("Expires: " + soon,)))
        self.assertTrue(status.startswith("250"), status)
        wal = self.broker.db + "-wal"
        wait_for(lambda: os.path.getsize(wal) == 0, 30, "the idle broker's TRUNCATE checkpoint")
        # the purge, with work to do, takes the lock (nothing else asks the broker anything)
        locks = self.write_locks(lambda: wait_for(lambda: self.broker.sql("SELECT count(*) FROM deliveries")
                                                  == [(0,)], 30, "the expired message purged"))
        self.assertNotEqual(locks, [], "the trace sees the purge's write lock")
        wait_for(lambda: os.path.getsize(wal) == 0, 30, "the idle broker's TRUNCATE checkpoint")
        # idle: three purges look, none takes the lock (before: one write transaction a second)
        self.assertEqual(self.write_locks(lambda: time.sleep(3.5)), [])

    def test_every_reply_and_push_waits_for_the_sync_of_the_wal(self):
        self.start_broker()
        sender = self.raw(ALICE)
        reader = self.raw(BOB)
        watcher = self.raw(BOB)
        status, _ = watcher.request("WATCH", "64")
        self.assertTrue(status.startswith("250"), status)
        ids = []

        def work():
            for i in range(10):
                status, frames = sender.request("SEND", ALICE, BOB, message("sync order %d" % i, "the body of %d" % i))
                self.assertTrue(status.startswith("250"), status)
            status, frames = reader.request("LIST")
            ids.extend(f.split(b"\t")[0].decode() for f in frames if f)
            for i in ids[:5]:
                self.assertTrue(reader.request("RETR", i)[0].startswith("250"))  # marks it seen
            for i in ids[:5]:
                self.assertTrue(reader.request("DELE", i)[0].startswith("250"))

        text = self.traced(work)
        events = wal_events(text)
        kinds = [k for k, _, _ in events]
        # the trace saw the work: the WAL written and synced, replies and pushes sent
        self.assertGreaterEqual(kinds.count("write"), 10, text[-3000:])
        self.assertGreaterEqual(kinds.count("sync"), 10, text[-3000:])
        self.assertGreaterEqual(kinds.count("send"), 30, text[-3000:])
        self.assertEqual(len(ids), 10)
        self.assertEqual(unsynced_sends(events), [], "sends ahead of the disk; trace:\n" + text[-6000:])
        # and the pushes came: one NEW per SEND
        pushes = 0
        while watcher.recv(timeout=0.5) is not None:
            pushes += 1
        self.assertGreaterEqual(pushes, 10)

    def test_the_check_sees_a_send_ahead_of_the_disk(self):
        """The checker itself: a reply after an unsynced WAL write is reported"""
        events = [("write", 1, 2), ("send", 3, 3), ("sync", 4, 5), ("send", 6, 6), ("write", 7, 8), ("sync", 9, 10),
                  ("send", 11, 11)]
        self.assertEqual(unsynced_sends(events), [3])
        # a sync that started before the write ended does not cover it
        self.assertEqual(unsynced_sends([("write", 1, 4), ("sync", 2, 5), ("send", 6, 6)]), [6])
        # a heartbeat PING alone is no reply; a reply is a send, also with a PING in the same send
        trace = ('7 pwrite64(5</t/var/mailbus.db-wal>, "\\r\\0"..., 8192, 56) = 8192\n'
                 '6 sendto(32<socket:[1]>, "\\4\\7\\4PING\\0\\0", 9, 0, NULL, 0) = 9\n'
                 '6 sendto(32<socket:[1]>, "\\4\\7\\4PING\\0\\0\\1\\0012\\1$250 2.0.0 1 of"..., 87, 0, NULL, 0) = 87\n'
                 '6 sendto(32<socket:[1]>, "\\1\\0012\\1$250 2.0.0 1 of 1 recipients"..., 78, 0, NULL, 0) = 78\n')
        self.assertEqual(wal_events(trace), [("write", 0, 0), ("send", 2, 2), ("send", 3, 3)])


if __name__ == "__main__":
    unittest.main()
