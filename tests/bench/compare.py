#!/usr/bin/env python3
"""compare.py — the body of tests/bench/compare.sh (run that: it installs the peers and builds
mailbus first). Runs mailbus and its peers on this machine, interleaved ROUNDS times, each on a
fresh store in a temp dir on 127.0.0.1, and prints every figure as min/median/max with
mailbus's ratio to each peer; the servers' RSS during the pipelined publish, 1,000 watchers on
one server and the login storms (compare_memory.py); then the scale curve (STAT/LIST/RETR
latency, broker RSS as the store grows) and a gnuplot PNG of it. Every load is bounded in count
and time.

    PYTHONPATH=tests MAILBUS_BUILD_DIR=build-bench /usr/bin/python3 tests/bench/compare.py [--quick]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import zmq

import compare_memory as mem
from mailbus_test import mailservers
from mailbus_test.broker import ALICE, DEMO_PASSWORD, VERSION, Broker
from mailbus_test.gateway import Stack
from mailbus_test.ports import free_port
from mailbus_test.process import BUILD, stop_process, temp_dir, remove_temp_dir, wait_for, connects

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(BUILD, "tests", "mailbus-bench")
# the parts of a run, each skippable with --skip
PARTS = {"publish", "fifty", "smtp", "memory", "watchers", "login", "scale"}
RUN_LIMIT = 300  # seconds: any one bench program is killed after this
SIZE = 512

# what each system's ack means, printed next to its figures
ACKS = {
    "mailbus": "after fsync (SQLite WAL, synchronous=FULL)",
    "redis": "after fsync (AOF, appendfsync always)",
    "mosquitto": "after memory (QoS 1; persistence saves on exit/autosave)",
    "nats": "after write, no fsync (JetStream file store, sync every 2 min)",
    "postfix": "after fsync (queue file fsynced before 250)",
}


def run(argv, timeout=RUN_LIMIT, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s exited %d:\n%s\n%s" % (argv[0], r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    return r.stdout


def figures(text, *names):
    """name=value pairs of a program's output, as floats"""
    return {n: float(re.search(r"\b%s=([0-9.]+)" % re.escape(n), text).group(1)) for n in names}


class Proc:
    """A peer server on a free 127.0.0.1 port in a temp dir of its own, stopped by its pid"""

    def __init__(self, name, argv_of_port, ready=None):
        self.dir = temp_dir("mailbus-compare-%s-" % name)
        self.port = free_port()
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen(argv_of_port(self.port, self.dir), cwd=self.dir, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: connects(self.port) or self.proc.poll() is not None, 20, name + " port")
        if self.proc.poll() is not None:
            raise RuntimeError("%s exited: %s" % (name, open(self.log.name).read()))

    def stop(self):
        stop_process(self.proc)
        self.log.close()
        remove_temp_dir(self.dir)


# ---------------------------------------------------------------------------- publish peers

def mailbus_publish(count, clients=1):
    tmp = temp_dir("mailbus-compare-mb-")
    broker = Broker(tmp)
    broker.start()
    try:
        return mem.sampled(broker.proc.pid, mailbus_bench, broker, count, clients,
                           logged_in=mem.password_login_logged(broker.log_path))
    finally:
        broker.terminate()
        remove_temp_dir(tmp)


def mailbus_bench(broker, count, clients):
    window = 1 if clients > 1 else 1000
    out = run([BENCH, "-b", broker.endpoint, "-u", ALICE, "-p", DEMO_PASSWORD, "--count", str(count),
               "--size", str(SIZE), "--window", str(window), "--clients", str(clients), "--time-limit", "120"])
    f = figures(out, "acks/s", "p50_ms", "p99_ms", "drain/s")
    return {"rate": f["acks/s"], "p50": f["p50_ms"], "p99": f["p99_ms"], "drain": f["drain/s"]}


def redis_server():
    return Proc("redis", lambda port, d: ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
                                          "--appendonly", "yes", "--appendfsync", "always", "--save", ""])


def redis_publish(count, clients=1):
    srv = redis_server()
    try:
        return mem.sampled(srv.proc.pid, redis_bench, srv, count, clients)
    finally:
        srv.stop()


def redis_bench(srv, count, clients):
    pipeline = "1" if clients > 1 else "1000"
    out = run(["redis-benchmark", "-p", str(srv.port), "-c", str(clients), "-P", pipeline, "-n", str(count),
               "XADD", "bench", "*", "f", "a" * SIZE])
    rate = float(re.search(r"throughput summary: ([0-9.]+)", out).group(1))
    lat = re.search(r"avg\s+min\s+p50\s+p95\s+p99\s+max\s*\n\s*([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)"
                    r"\s+([0-9.]+)", out)
    return {"rate": rate, "p50": float(lat.group(3)), "p99": float(lat.group(5))}


def mosquitto_server():
    def argv(port, d):
        with open(os.path.join(d, "mosquitto.conf"), "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n"
                    "max_inflight_messages 0\nmax_queued_messages 0\n" % (port, d))
        return ["mosquitto", "-c", os.path.join(d, "mosquitto.conf")]
    return Proc("mosquitto", argv)


def mosquitto_publish(count, clients=1):
    srv = mosquitto_server()
    try:
        return mem.sampled(srv.proc.pid, mosquitto_bench, srv, count, clients)
    finally:
        srv.stop()


def mosquitto_bench(srv, count, clients):
    lines = os.path.join(srv.dir, "lines")
    with open(lines, "w") as f:
        f.write(("a" * (SIZE - 1) + "\n") * (count // clients))
    inflight = "1" if clients > 1 else "1000"
    start = time.monotonic()
    procs = []
    for i in range(clients):
        with open(lines) as src:
            procs.append(subprocess.Popen(["mosquitto_pub", "-p", str(srv.port), "-q", "1", "-M", inflight,
                                           "-i", "bench%d" % i, "-t", "bench", "-l"], stdin=src))
    for p in procs:
        if p.wait(timeout=RUN_LIMIT) != 0:
            raise RuntimeError("mosquitto_pub exited %d" % p.returncode)
    return {"rate": (count // clients) * clients / (time.monotonic() - start)}


def nats_publish(count, clients=1):
    modules = os.path.join(BUILD, "npm", "node_modules")
    srv = Proc("nats", lambda port, d: ["nats-server", "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", d])
    try:
        return mem.sampled(srv.proc.pid, nats_bench, srv, count, clients, modules)
    finally:
        srv.stop()


def nats_bench(srv, count, clients, modules):
    out = run(["node", os.path.join(HERE, "nats_bench.js"), "--port", str(srv.port), "--count", str(count),
               "--size", str(SIZE), "--window", "1000", "--clients", str(clients), "--time-limit", "120"],
              env=dict(os.environ, NODE_PATH=modules))
    f = figures(out, "rate", "p50_ms", "p99_ms")
    return {"rate": f["rate"], "p50": f["p50_ms"], "p99": f["p99_ms"]}


# ---------------------------------------------------------------------------- SMTP ingest

def smtp_source(port, sessions, count):
    start = time.monotonic()
    run(["smtp-source", "-s", str(sessions), "-m", str(count), "-l", str(SIZE), "-f", "load@example.org",
         "-t", "bob@demo.test", "-d", "127.0.0.1:%d" % port])
    return count / (time.monotonic() - start)


def mailbus_smtp(sessions, count):
    # the gateway's per-address throttles allow the benchmark's sessions, all from 127.0.0.1
    with Stack(gateway_args=["--max-connections-per-address", "200", "--max-sessions", "200"]) as stack:
        rate = smtp_source(stack.smtp_port, sessions, count)
        stored = stack.count("bob@demo.test")
        if stored != count:
            raise RuntimeError("gateway stored %d of %d messages" % (stored, count))
        return {"rate": rate}


def postfix_smtp(sessions, count):
    d = temp_dir("mailbus-compare-postfix-")
    os.chmod(d, 0o755)  # Postfix's daemons run as the postfix user
    mta = mailservers.Postfix(os.path.join(d, "pf"), ["demo.test"], {}, extra={
        "smtpd_tls_security_level": "none", "relay_transport": "discard:", "transport_maps": "",
        "smtpd_tls_received_header": "no"})
    try:
        mta.start()
        return {"rate": smtp_source(mta.port, sessions, count)}
    finally:
        mta.stop()
        remove_temp_dir(d)


# ---------------------------------------------------------------------------- scale

class Raw:
    """One HELO'd DEALER: times single requests"""

    def __init__(self, endpoint, user):
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.n = 0
        code, _ = self.call("HELO", VERSION, user, DEMO_PASSWORD)
        assert code.startswith(b"2"), code

    def call(self, verb, *args):
        self.n += 1
        rid = b"%d" % self.n
        self.sock.send_multipart([rid, verb.encode()] + [a.encode() if isinstance(a, str) else a for a in args])
        while True:
            if not self.sock.poll(60000):
                raise RuntimeError("no reply to " + verb)
            frames = self.sock.recv_multipart()
            if frames[0] == rid:
                return frames[1], frames[2:]

    def timed(self, verb, *args, reps=15):
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            code, frames = self.call(verb, *args)
            times.append((time.perf_counter() - t) * 1000)
            assert code.startswith(b"2"), (verb, code)
        return statistics.median(times), frames

    def close(self):
        self.sock.close(0)


def scale_curve(sizes, mailboxes):
    """STAT/LIST (first page)/RETR latency (ms, median) of one of MAILBOXES mailboxes and broker RSS as the
    store holds each of SIZES messages in all"""
    tmp = temp_dir("mailbus-compare-scale-")
    broker = Broker(tmp)
    broker.start()
    rows = []
    try:
        def add(i):
            r = broker.admin("mailbox", "add", "bench%d@demo.test" % i, "--password", DEMO_PASSWORD, timeout=120)
            assert r[0] == 0, r
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(add, range(mailboxes)))
        stored = 0
        for total in sizes:
            run([BENCH, "-b", broker.endpoint, "-u", ALICE, "-p", DEMO_PASSWORD, "--count", str(total - stored),
                 "--size", str(SIZE), "--window", "1000", "--spread", str(mailboxes), "--to", "bench0@demo.test",
                 "--time-limit", "600"], timeout=900)
            stored = total
            raw = Raw(broker.endpoint, "bench0@demo.test")
            stat, _ = raw.timed("STAT")
            lst, frames = raw.timed("LIST", "0", reps=5)  # the first page (up to 1,000)
            # the same page at every size: as many lines as the smallest store's mailbox holds
            page = max(1, sizes[0] // mailboxes)
            lst_page, _ = raw.timed("LIST", "0", str(page))
            first = frames[0].split(b"\t")[0]
            retr, _ = raw.timed("RETR", first)
            raw.close()
            rows.append({"messages": total, "mailbox": len(frames), "stat": stat, "list": lst, "list_page": lst_page,
                         "page": page, "retr": retr, "rss": mem.proc_kib(broker.proc.pid, "VmRSS") / 1024})
            print("  scale %8d messages (%d in the mailbox): STAT %.2f ms  LIST %.2f ms  LIST of %d %.2f ms  "
                  "RETR %.2f ms  RSS %.1f MiB" % (total, len(frames), stat, lst, page, lst_page, retr, rows[-1]["rss"]),
                  flush=True)
    finally:
        broker.terminate()
        remove_temp_dir(tmp)
    s_scale_ratios(rows)
    return rows


def s_scale_ratios(rows):
    """each latency at the largest store over the same at the smallest (issue 13: within 2x)"""
    if len(rows) < 2:
        return
    lo, hi = rows[0], rows[-1]
    print("  %d vs %d messages: STAT %.2fx  LIST of %d %.2fx  RETR %.2fx  (whole first page: %d vs %d lines, %.2fx)"
          % (hi["messages"], lo["messages"], hi["stat"] / lo["stat"], lo["page"], hi["list_page"] / lo["list_page"],
             hi["retr"] / lo["retr"], hi["mailbox"], lo["mailbox"], hi["list"] / lo["list"]), flush=True)


def plot(rows, png, mailboxes):
    if not shutil.which("gnuplot") or not rows:
        print("no gnuplot: no plot")
        return
    data = png + ".dat"
    with open(data, "w") as f:
        for r in rows:
            f.write("%d %.3f %.3f %.3f %.1f %.3f\n" % (r["messages"], r["stat"], r["list"], r["retr"], r["rss"],
                                                      r["list_page"]))
    script = """set terminal pngcairo size 900,500 noenhanced
set output '%s'
set logscale x
set logscale y
set xlabel 'messages stored (all mailboxes)'
set ylabel 'latency, ms (median)'
set y2label 'broker RSS, MiB'
set y2tics
set y2range [0:*]
set ytics nomirror
set key top left
set title 'mailbus: one mailbox of %s as the store grows (LIST: its first page)'
plot '%s' u 1:2 w lp t 'STAT', '' u 1:3 w lp t 'LIST (first page, up to 1,000)', \\
     '' u 1:6 w lp t 'LIST of %d', '' u 1:4 w lp t 'RETR', '' u 1:5 axes x1y2 w lp t 'RSS (MiB)'
""" % (png, "{:,}".format(mailboxes), data, rows[0]["page"])
    subprocess.run(["gnuplot"], input=script, text=True, check=True, timeout=60)
    print("plot:", png)


# ---------------------------------------------------------------------------- the table

def stats(values):
    return min(values), statistics.median(values), max(values)


def fmt(values, digits=0):
    if not values:
        return "-"
    return "/".join(("%%.%df" % digits) % v for v in stats(values))


def table(results, title, metric, digits=0, higher_better=True, notes=ACKS):
    """results: {(figure, system): [dict per round]}"""
    print("\n%s" % title)
    print("%-28s %-10s %26s %8s  %s" % ("figure", "system", "min/median/max", "mailbus÷", "acks"))
    by_figure = {}
    for (figure, system), rounds in results.items():
        by_figure.setdefault(figure, {})[system] = [r[metric] for r in rounds if metric in r]
    for figure, systems in by_figure.items():
        mine = systems.get("mailbus")
        failed = {system: sum(1 for r in results[(figure, system)] if "failed" in r) for system in systems}
        for system, values in sorted(systems.items(), key=lambda kv: kv[0] != "mailbus"):
            if failed[system]:
                print("%-28s %-10s %26s" % (figure, system, "failed %d of %d rounds" % (
                    failed[system], len(results[(figure, system)]))))
            if not values:
                continue
            ratio = ""
            if system != "mailbus" and mine:
                m, p = statistics.median(mine), statistics.median(values)
                ratio = "%.2fx" % ((m / p) if higher_better else (p / m)) if m and p else "-"
            print("%-28s %-10s %26s %8s  %s" % (figure, system, fmt(values, digits), ratio, notes.get(system, "")))


def measure(results, key, fn, *args, **kw):
    """One figure of one round into results[key], printed at once; a failure is printed and
    the run goes on (the table shows the rounds that worked)"""
    try:
        value = fn(*args, **kw)
    except Exception as e:  # noqa: BLE001 (any failure of a peer or of mailbus is reported)
        print("  %-24s %-10s FAILED: %s" % (key[0], key[1], str(e).strip().splitlines()[-1][:200]), flush=True)
        results.setdefault(key, []).append({"failed": 1})
        return
    results.setdefault(key, []).append(value)
    print("  %-24s %-10s %s" % (key[0], key[1], " ".join("%s=%.2f" % kv for kv in value.items())), flush=True)


WATCHES = {
    "mailbus": "WATCH, 100 sessions on each of 10 mailboxes (10 password HELOs, 990 RESUME with their tickets)",
    "redis": "XREAD BLOCK 0, 100 clients on each of 10 streams (AOF always)",
    "mosquitto": "QoS 1 subscriptions, 100 clients on each of 10 topics",
}


def watcher_peers(r):
    peers = [("mailbus", mem.mailbus_watchers),
             ("redis", lambda pushes: mem.redis_watchers(redis_server, pushes=pushes)),
             ("mosquitto", lambda pushes: mem.mosquitto_watchers(mosquitto_server, pushes=pushes))]
    return peers if r % 2 == 0 else peers[::-1]


def memory_tables(pub):
    mine = {k: v for k, v in pub.items() if k[0] == "publish pipelined 1000"}
    title = "server RSS during the pipelined publish (MiB; sampled every 50 ms; mailbus÷ = peer/mailbus)"
    table(mine, title + ": peak", "rss_peak", 1, False)
    table(mine, "peak once logged in (mailbus: without the login's Argon2id, 64 MiB a check), MiB", "rss_load", 1,
          False)
    table(mine, "VmHWM (the kernel's peak), MiB", "hwm", 1, False)
    table(mine, "RSS after the run (mailbus: after the publish and its drain), MiB", "rss_after", 1, False)


def watcher_tables(watch, pushes):
    print("\n%d watchers, one server: %d publishes, each one message to each of the %d mailboxes/streams/topics; "
          "latency from the publish to each watcher's push" % (mem.WATCHERS, pushes, mem.MAILBOXES))
    print("(NATS JetStream is not in this part: a durable watcher there is a JetStream consumer each, "
          "and its Node client is one process, not the 1,000 connections measured here)")
    for metric, title, digits in (("rss_before", "server RSS before they connect, MiB", 1),
                                  ("rss_watching", "server RSS with all watching, MiB", 1),
                                  ("kib_per_watcher", "server RSS per watcher, KiB", 1),
                                  ("p50", "push latency p50, ms", 2), ("p99", "push latency p99, ms", 2),
                                  ("max", "push latency max, ms", 2)):
        table(watch, title, metric, digits, False, WATCHES)
    table(watch, "pushes never received (of %d)" % (mem.WATCHERS * pushes), "missing", 0, False, {})
    table(watch, "the Python client's loop busy (not waiting), % of the push windows", "client_busy_pct", 0, False, {})
    table(watch, "the Python client's CPU (all its threads), % of one core over the push windows", "client_cpu_pct",
          0, False, {})
    table(watch, "the server's CPU, % of one core over the push windows", "server_cpu_pct", 0, False, {})


def login_table(login, clients):
    rounds = login[("login storm", "mailbus")]
    print("\nlogin storm (mailbus-bench-login --clients %d; no peer: none has mailbus's per-login Argon2id check "
          "and resumption tickets), seconds, min/median/max" % clients)
    print("%-44s %22s %22s %22s" % ("storm", "all serving", "p50", "p99"))
    for storm, name in (("fresh", "%d password logins at once" % clients),
                        ("resume", "%d ticket reconnects after a restart" % clients)):
        cells = [fmt([r[storm + "_" + m] for r in rounds if storm + "_all" in r], 2) for m in ("all", "p50", "p99")]
        print("%-44s %22s %22s %22s" % (name, *cells))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small counts, 3 rounds, scale to 50,000: a few minutes")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--scale-max", type=int, default=None, help="largest store of the scale curve")
    p.add_argument("--out", default=".", help="directory of the PNG (default .)")
    p.add_argument("--skip", default="",
                   help="comma list of parts to skip: %s" % ",".join(sorted(PARTS)))
    a = p.parse_args()
    rounds = a.rounds or 3
    count = 20000 if a.quick else 100000
    fifty = 10000 if a.quick else 50000
    smtp_count = 2000 if a.quick else 5000
    scale_max = a.scale_max or (50000 if a.quick else 1000000)
    mailboxes = 100 if a.quick else 1000
    skip = set(a.skip.split(",")) - {""}
    unknown = skip - PARTS
    if unknown:
        p.error("--skip: no part named %s (parts: %s)" % (", ".join(sorted(unknown)), ",".join(sorted(PARTS))))
    watcher_pushes = 3 if a.quick else 10
    login_clients = 100 if a.quick else 1000
    mem.raise_fd_limit()
    peers = {"mailbus": mailbus_publish, "redis": redis_publish, "mosquitto": mosquitto_publish}
    if shutil.which("node") and os.path.isdir(os.path.join(BUILD, "npm", "node_modules", "nats")):
        peers["nats"] = nats_publish
    else:
        print("NATS: no client (npm package nats not installed under %s/npm): skipped" % BUILD)
    print("compare: %d rounds, %d cores, %s, load %s" % (rounds, os.cpu_count(), time.strftime("%Y-%m-%d %H:%M %Z"),
                                                       open("/proc/loadavg").read().split()[0]))
    pub, smtp, watch, login = {}, {}, {}, {}
    for r in range(rounds):
        order = list(peers) if r % 2 == 0 else list(reversed(peers))
        print("round %d of %d: %s" % (r + 1, rounds, " ".join(order)), flush=True)
        for system in order:
            if "publish" not in skip or "memory" not in skip:
                measure(pub, ("publish pipelined 1000", system), peers[system], count)
            if "fifty" not in skip:
                measure(pub, ("50 publishers x 1", system), peers[system], fifty, clients=50)
        if "smtp" not in skip:
            for sessions in (1, 20, 50, 100):
                for system, fn in (("mailbus", mailbus_smtp), ("postfix", postfix_smtp))[::1 if r % 2 == 0 else -1]:
                    measure(smtp, ("smtp %3d sessions" % sessions, system), fn, sessions, smtp_count)
        if "watchers" not in skip:
            for system, fn in watcher_peers(r):
                measure(watch, ("%d watchers" % mem.WATCHERS, system), fn, pushes=watcher_pushes)
        if "login" not in skip:
            measure(login, ("login storm", "mailbus"), mem.login_storms, login_clients, 300 if a.quick else 900)
    if pub and "publish" not in skip:
        table(pub, "publish, %d octets: acks/s" % SIZE, "rate")
        table(pub, "ack latency p50 (ms; mailbus÷ = peer/mailbus, >1 means mailbus faster)", "p50", 2, False)
        table(pub, "ack latency p99 (ms)", "p99", 2, False)
        table({k: v for k, v in pub.items() if k == ("publish pipelined 1000", "mailbus")}, "drain after the publish run "
              "(LIST, then RETR ids PEEK + DELE ids, 100 ids a request, each DELE durable): msgs/s", "drain")
    if smtp:
        table(smtp, "SMTP ingest, smtp-source, %d messages of %d octets: msgs/s" % (smtp_count, SIZE), "rate")
    if pub and "memory" not in skip:
        memory_tables(pub)
    if watch:
        watcher_tables(watch, watcher_pushes)
    if login:
        login_table(login, login_clients)
    if "scale" not in skip:
        sizes = [s for s in (10000, 30000, 100000, 300000, 1000000) if s <= scale_max] or [scale_max]
        print("\nscale: %d mailboxes, one mailbox's STAT/LIST/RETR (median ms) and broker RSS" % mailboxes, flush=True)
        rows = scale_curve(sizes, mailboxes)
        plot(rows, os.path.abspath(os.path.join(a.out, "scale.png")), mailboxes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
