#!/usr/bin/python3
"""The soak (issue 16): a real broker and gateway under mixed load for a long time, the broker
restarted every few minutes. Not a test (meson never runs it): a program that prints, and writes
a CSV and a PNG of, the processes' RSS over time, and at the end counts messages lost (acked but
never received: must be 0), duplicated (received twice: must be 0) and leaks (LeakSanitizer
reports in the logs, with an ASan build: must be 0).

Load, each in its own thread, all bounded in rate:
  - mailbus-pub to bob@demo.test, one process every 0.2 s (acked = exit 0; the client library
    retries 421/452 and re-identifies after a restart by itself);
  - SMTP to carol@demo.test through the gateway (smtplib), one message every 0.25 s;
  - mailbus-sub watch on bob (it must live through every restart);
  - mailbus-sub drain of bob every 5 s, and a POP3 session (STLS, RETR + DELE of everything)
    for carol every 5 s;
  - the broker restarted (SIGTERM, start) every --restart-every seconds.

    MAILBUS_BUILD_DIR=build-asan PYTHONPATH=tests /usr/bin/python3 tests/soak/soak.py --duration 600

Needs gnuplot (Debian: apt-get install gnuplot-nox) for the PNG; without it, only the CSV.
"""
import argparse
import collections
import email
import os
import poplib
import re
import shutil
import smtplib
import subprocess
import sys
import threading
import time

from mailbus_test.broker import Watcher
from mailbus_test.gateway import PASSWORD, PUB, SUB, Stack

SAMPLE_EVERY = 5.0


class Soak:
    def __init__(self, args):
        self.args = args
        self.stack = Stack(broker_args=["--ticket-lifetime", "86400"])
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = {"pub": set(), "smtp": set()}
        self.received = {"pub": collections.Counter(), "smtp": collections.Counter()}
        self.errors = collections.Counter()
        self.restarts = 0
        self.rows = []

    # ---- load ----
    def loop(self, every, fn):
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                fn(n)
            except Exception as e:  # noqa: BLE001 — a soak counts failures, it does not stop on them
                with self.lock:
                    self.errors["%s: %s" % (fn.__name__, type(e).__name__)] += 1
            self.stop.wait(every)

    def env(self, user):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBUS_")}
        env.update(MAILBUS_BROKER=self.stack.endpoint, MAILBUS_USER=user, MAILBUS_PASSWORD=PASSWORD)
        return env

    def publish(self, n):
        proc = subprocess.run([PUB, "-t", "bob@demo.test", "-s", "soak pub %d" % n, "-m", "x" * 400,
                               "--timeout", "30"], env=self.env("alice@demo.test"), capture_output=True,
                              timeout=300)
        if proc.returncode == 0:
            with self.lock:
                self.acked["pub"].add(n)
        else:
            raise RuntimeError("pub exit %d" % proc.returncode)

    def smtp(self, n):
        msg = ("From: soak@example.org\r\nTo: carol@demo.test\r\nSubject: soak smtp %d\r\n"
               "Message-ID: <soak-smtp-%d@example.org>\r\n\r\n%s\r\n" % (n, n, "y" * 400))
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=60) as s:
            s.sendmail("soak@example.org", ["carol@demo.test"], msg)
        with self.lock:
            self.acked["smtp"].add(n)

    def count_subjects(self, kind, raw_messages):
        with self.lock:
            for raw in raw_messages:
                m = re.match(r"soak %s (\d+)$" % kind, email.message_from_bytes(raw).get("Subject", ""))
                if m:
                    self.received[kind][int(m.group(1))] += 1

    def drain(self, n):
        out = os.path.join(self.stack.dir, "drain")
        os.makedirs(out, exist_ok=True)
        proc = subprocess.run([SUB, "drain", out], env=self.env("bob@demo.test"), capture_output=True, timeout=300)
        raws = []
        for name in os.listdir(out):
            with open(os.path.join(out, name), "rb") as f:
                raws.append(f.read())
            os.unlink(os.path.join(out, name))
        self.count_subjects("pub", raws)
        if proc.returncode != 0:
            raise RuntimeError("drain exit %d" % proc.returncode)

    def pop3(self, n):
        p = poplib.POP3("127.0.0.1", self.stack.pop3_port, timeout=60)
        try:
            p.stls(self.stack.tls_context())
            p.user("carol@demo.test")
            p.pass_(PASSWORD)
            raws = []
            for i in range(1, len(p.list()[1]) + 1):
                raws.append(b"\r\n".join(p.retr(i)[1]))
                p.dele(i)
            p.quit()  # the DELEs apply here: counted only once they did
            self.count_subjects("smtp", raws)
        finally:
            p.close()

    def restart(self, n):
        if n > 1:
            self.stack.stop_broker()
            self.stack.start_broker()
            self.restarts += 1

    # ---- measuring ----
    @staticmethod
    def rss_kb(proc):
        try:
            with open("/proc/%d/status" % proc.pid) as f:
                return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        except (OSError, AttributeError):
            return 0

    def sample(self, started):
        with self.lock:
            row = (round(time.monotonic() - started), self.rss_kb(self.stack.broker.proc),
                   self.rss_kb(self.stack.gateway), len(self.acked["pub"]) + len(self.acked["smtp"]),
                   sum(len(c) for c in self.received.values()))
        self.rows.append(row)
        print("t=%ds broker_rss_kb=%d gateway_rss_kb=%d acked=%d received=%d restarts=%d" % (row + (self.restarts,)),
              flush=True)

    def run(self):
        self.stack.start()
        watcher = Watcher([SUB, "watch"], self.env("bob@demo.test"), os.path.join(self.stack.dir, "watch.err"))
        loads = [(0.2, self.publish), (0.25, self.smtp), (5.0, self.drain), (5.0, self.pop3),
                 (self.args.restart_every, self.restart)]
        threads = [threading.Thread(target=self.loop, args=load, daemon=True) for load in loads]
        started = time.monotonic()
        for t in threads:
            t.start()
        while time.monotonic() - started < self.args.duration:
            time.sleep(SAMPLE_EVERY)
            self.sample(started)
        self.stop.set()
        for t in threads:
            t.join(400)
        self.errors["watch ended"] += watcher.proc.poll() is not None
        watcher.stop()
        for _ in range(3):  # whatever was acked last is still in the mailboxes
            self.drain(0)
            self.pop3(0)
        return self.finish()

    # ---- the end ----
    def finish(self):
        self.stack.stop_gw()
        self.stack.stop_broker()
        leaks = sum(self.stack.log(name).count("ERROR: LeakSanitizer") for name in ("broker", "gateway"))
        lost = {k: len(self.acked[k] - set(self.received[k])) for k in self.acked}
        dup = {k: sum(1 for c in self.received[k].values() if c > 1) for k in self.received}
        self.write_outputs()
        print("acked pub=%d smtp=%d; lost pub=%d smtp=%d; duplicated pub=%d smtp=%d; leaks=%d; restarts=%d"
              % (len(self.acked["pub"]), len(self.acked["smtp"]), lost["pub"], lost["smtp"], dup["pub"],
                 dup["smtp"], leaks, self.restarts))
        print("failed attempts (retried or counted as not acked): %s" % dict(self.errors))
        ok = not any(lost.values()) and not any(dup.values()) and not leaks
        if not ok:
            keep = os.path.join(self.args.out, "soak-logs")
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(self.stack.dir, keep, ignore=shutil.ignore_patterns("*.db*", "drain"))
            print("logs kept in %s" % keep)
        self.stack.stop()
        return 0 if ok else 1

    def write_outputs(self):
        os.makedirs(self.args.out, exist_ok=True)
        csv = os.path.join(self.args.out, "soak.csv")
        with open(csv, "w") as f:
            f.write("seconds,broker_rss_kb,gateway_rss_kb,acked,received\n")
            for row in self.rows:
                f.write("%d,%d,%d,%d,%d\n" % row)
        png = os.path.join(self.args.out, "soak.png")
        if not shutil.which("gnuplot"):
            print("no gnuplot: %s only (apt-get install gnuplot-nox)" % csv)
            return
        script = ("set terminal png size 900,450; set output '%s'; set datafile separator ',';"
                  "set key top left; set xlabel 'seconds'; set ylabel 'RSS (MiB)';"
                  "set title 'mailbus soak: RSS over time, broker restarted every %d s';"
                  "plot '%s' using 1:($2/1024) every ::1 with lines title 'broker',"
                  " '' using 1:($3/1024) every ::1 with lines title 'gateway'"
                  % (png, self.args.restart_every, csv))
        subprocess.run(["gnuplot", "-e", script], check=False)
        print("wrote %s and %s" % (csv, png))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=3600, help="seconds of load (default 3600)")
    parser.add_argument("--restart-every", type=int, default=180, help="seconds between broker restarts (default 180)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="where soak.csv and soak.png go (default tests/soak/out)")
    sys.exit(Soak(parser.parse_args()).run())


if __name__ == "__main__":
    main()
