#!/usr/bin/python3
"""tests/bench/drain_cpu.py — the drain's broker CPU per message, two builds side by side.

Runs mailbus-bench (publish, then its drain phase: LIST, then RETR + DELE of --batch ids a
request) against a fresh broker of each build dir given, interleaved, ROUNDS rounds each, and
prints for each run the drained msgs/s, the broker's CPU time (user + system, /proc/PID/stat)
over the drain phase only divided by the messages drained, and the load average. The drain
phase starts when the bench reports its publish done on stderr and ends when it reports the
drain. Bounded: each bench run gets --time-limit 120 and is killed after 300 s.

    tests/bench/drain_cpu.py OLD_BUILD_DIR NEW_BUILD_DIR [--rounds 3] [--count 30000] [--perf FILE]
"""
import argparse
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(bench, endpoint, broker):
    for _ in range(100):
        if broker.poll() is not None:
            raise SystemExit("broker exited early")
        if subprocess.run([bench, "-b", endpoint, "-u", "alice@demo.test", "-p", "demo", "--count", "1",
                           "--size", "256", "--timeout", "2"], capture_output=True).returncode == 0:
            return
        time.sleep(0.2)
    raise SystemExit("broker not ready")


def one_run(build, count, window, perf=None):
    """(drained msgs/s, broker CPU µs per drained message, load average 1 min)"""
    bench = os.path.join(build, "tests", "mailbus-bench")
    with tempfile.TemporaryDirectory(prefix="mailbus-drain-") as tmp:
        endpoint = "tcp://127.0.0.1:%d" % free_port()
        env = dict(os.environ, MAILBUS_LOG="warn")
        with open(os.path.join(tmp, "broker.log"), "w") as log:
            broker = subprocess.Popen([os.path.join(build, "broker", "mailbus-broker"), "--db",
                                       os.path.join(tmp, "mailbus.db"), "--bind", endpoint,
                                       "--synchronous", "full"], stdout=log, stderr=log, env=env)
        try:
            wait_ready(bench, endpoint, broker)
            run = subprocess.Popen(["timeout", "300", bench, "-b", endpoint, "-u", "alice@demo.test", "-p",
                                    "demo", "--to", "bob@demo.test", "--count", str(count), "--window",
                                    str(window), "--time-limit", "120"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            start = drained = None
            for line in run.stderr:
                if " acked, " in line:
                    start = cpu_seconds(broker.pid)
                    if perf:  # the drain phase only
                        recorder = subprocess.Popen(["perf", "record", "--call-graph", "dwarf,16384", "-F", "999", "-q", "-o", perf, "-p",
                                                     str(broker.pid)], stderr=subprocess.DEVNULL)
                elif line.startswith("mailbus-bench: drained "):
                    cpu = cpu_seconds(broker.pid) - start
                    drained = int(line.split()[2])
                    if perf:
                        recorder.send_signal(signal.SIGINT)
                        recorder.wait(timeout=60)
            out = run.stdout.read()
            run.wait()
            rate = float(out.split("drain/s=")[1].split()[0])
            return rate, cpu / drained * 1e6, os.getloadavg()[0]
        finally:
            broker.terminate()
            broker.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("builds", nargs="+", help="build dirs (release), first the old one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=30000)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--perf", metavar="FILE", help="perf record (DWARF call graphs) the broker's drain phase (last build's "
                        "last round) into FILE")
    opts = parser.parse_args()
    results = {b: [] for b in opts.builds}
    for r in range(opts.rounds):
        for build in opts.builds if r % 2 == 0 else reversed(opts.builds):
            last = opts.perf if r == opts.rounds - 1 and build == opts.builds[-1] else None
            rate, cpu, load = one_run(build, opts.count, opts.window, last)
            results[build].append((rate, cpu))
            print("round %d %s: drain/s=%.0f cpu_us_per_msg=%.1f load=%.2f" % (r + 1, build, rate, cpu, load),
                  flush=True)
    for build, runs in results.items():
        for name, values in (("drain/s", [x[0] for x in runs]), ("cpu µs/msg", [x[1] for x in runs])):
            print("%s %s min/median/max: %.1f / %.1f / %.1f" % (build, name, min(values),
                                                                  statistics.median(values), max(values)))


if __name__ == "__main__":
    main()
