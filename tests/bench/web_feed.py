#!/usr/bin/env python3
"""tests/bench/web_feed.py — does mailbus-web's live feed keep up with the broker's publish
benchmark, and how much memory does it take? A benchmark program, not a test.

Starts a broker and mailbus-web on a fresh database (temp dir, free 127.0.0.1 ports), opens
VIEWERS dashboard streams (/api/dashboard/events), runs mailbus-bench (COUNT messages to
carol@demo.test, then it drains them), and prints: messages published, deliveries the feed
showed (each viewer), the delivered/s the feed's counters reported at their peak, and
mailbus-web's peak RSS. Bounded: the bench has a time limit, the viewers stop DRAIN_WAIT
seconds after it ends.

    PYTHONPATH=tests /usr/bin/python3 tests/bench/web_feed.py [COUNT [VIEWERS]]
    (MAILBUS_BUILD_DIR: the build to use, default build/; a release build gives fairer figures)
"""
import json
import os
import sys
import threading
import time
import urllib.request

from mailbus_test.broker import Broker, CAROL, DEMO_PASSWORD
from mailbus_test.process import BUILD, remove_temp_dir, run, temp_dir
from mailbus_test.web import Web

BENCH = os.path.join(BUILD, "tests", "mailbus-bench")
DRAIN_WAIT = 3.0


class Viewer(threading.Thread):
    """One dashboard's event stream: counts delivery events, keeps the counters' peak"""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url, self.deliveries, self.peak_delivered, self.stop = url, 0, 0, False
        self.opened = threading.Event()

    def run(self):
        with urllib.request.urlopen(self.url + "/api/dashboard/events", timeout=30) as stream:
            self.opened.set()
            event = None
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "delivery":
                    self.deliveries += 1
                elif line.startswith("data: ") and event == "counters":
                    self.peak_delivered = max(self.peak_delivered, json.loads(line[6:])["delivered"])
                if self.stop:
                    return


def rss_kib(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    viewers_n = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    tmp = temp_dir("mailbus-webbench-")
    broker = Broker(tmp).start()
    web = Web(tmp, broker).start()
    try:
        viewers = [Viewer(web.url) for _ in range(viewers_n)]
        for v in viewers:
            v.start()
            v.opened.wait(10)
        peak = [0]

        def sample():
            while not viewers[0].stop:
                peak[0] = max(peak[0], rss_kib(web.proc.pid))
                time.sleep(0.1)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.monotonic()
        rc, out, err = run([BENCH, "-b", broker.endpoint, "-u", CAROL, "-p", DEMO_PASSWORD, "--count", str(count),
                            "--time-limit", "120"], timeout=400)
        took = time.monotonic() - start
        time.sleep(DRAIN_WAIT)
        for v in viewers:
            v.stop = True
        published = broker.sql("SELECT next - 1 FROM sequences WHERE name = 'messages'")[0][0]
        print("mailbus-bench: %s (rc=%d, %.1f s)" % (out.strip(), rc, took))
        print("published: %d messages" % published)
        for i, v in enumerate(viewers):
            print("viewer %d: %d deliveries shown (%.1f %%), counters peak delivered/s=%d"
                  % (i + 1, v.deliveries, 100.0 * v.deliveries / max(1, published), v.peak_delivered))
        print("mailbus-web RSS: peak sampled %.1f MiB, VmHWM %.1f MiB (limit 64 MiB)"
              % (peak[0] / 1024.0, rss_kib(web.proc.pid, "VmHWM") / 1024.0))
    finally:
        web.stop()
        broker.terminate()
        remove_temp_dir(tmp)


if __name__ == "__main__":
    main()
