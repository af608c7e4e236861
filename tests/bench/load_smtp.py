#!/usr/bin/env python3
"""load_smtp.py — a bounded load run, not a timed test: N concurrent smtplib clients each send
M messages through a real gateway to a real broker; checks that every message was delivered
exactly once (mailbus-sub stat) and prints messages/s.

    PYTHONPATH=tests MAILBUS_BUILD_DIR=build /usr/bin/python3 tests/bench/load_smtp.py [--clients 20]
        [--messages 200] [--tls] [--recipients 1]
"""
import argparse
import multiprocessing
import smtplib
import sys
import time

from mailbus_test.gateway import PASSWORD, Stack


def client(args):
    index, port, messages, tls, cafile, rcpts = args
    s = smtplib.SMTP("127.0.0.1", port, timeout=60)
    if tls:
        import ssl
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.check_hostname = False
        s.starttls(context=ctx)
        s.login("alice@demo.test", PASSWORD)
        sender = "alice@demo.test"
    else:
        sender = "load%d@example.org" % index
    failures = 0
    for n in range(messages):
        body = ("From: %s\r\nTo: bob@demo.test\r\nSubject: load %d/%d\r\nMessage-ID: <load.%d.%d@load.test>\r\n\r\n"
                "message %d of client %d\r\n" % (sender, index, n, index, n, n, index)).encode()
        try:
            refused = s.sendmail(sender, rcpts, body)
            failures += len(refused)
        except smtplib.SMTPException as e:
            print("client %d message %d: %s" % (index, n, e), file=sys.stderr)
            failures += 1
    s.quit()
    return failures


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--messages", type=int, default=200)
    p.add_argument("--tls", action="store_true", help="STARTTLS + AUTH as alice")
    p.add_argument("--recipients", type=int, default=1, choices=(1, 2, 3))
    a = p.parse_args()
    rcpts = ["bob@demo.test", "carol@demo.test", "alice@demo.test"][: a.recipients]
    with Stack() as stack:
        jobs = [(i, stack.smtp_port, a.messages, a.tls, stack.cafile, rcpts) for i in range(a.clients)]
        start = time.monotonic()
        with multiprocessing.Pool(a.clients) as pool:
            failures = sum(pool.map(client, jobs))
        elapsed = time.monotonic() - start
        total = a.clients * a.messages
        counts = {r: stack.count(r) for r in rcpts}
        print("clients=%d messages=%d recipients=%d tls=%s failures=%d elapsed=%.2fs rate=%.0f messages/s"
              % (a.clients, total, len(rcpts), a.tls, failures, elapsed, total / elapsed))
        print("delivered:", counts)
        ok = failures == 0 and all(c == total for c in counts.values())
        print("OK: every message delivered exactly once" if ok else "FAILED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
