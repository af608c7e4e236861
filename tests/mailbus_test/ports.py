"""Ports for the servers under test, shared by the end-to-end and the gateway tests.

A port is handed out once across every test process running at the same time: the suite runs
tests in parallel, and a port that was merely free when one test looked at it can be chosen by
another test (or by the same one, for its second server) before the first server binds it
("Address already in use"). Each port handed out is reserved with a file created with O_EXCL in
a shared directory, holding the pid of the test process; the reservation is removed when that
process exits, and a reservation whose process is gone is taken over.
"""
import atexit
import os
import random
import socket
import tempfile

RESERVATIONS = os.path.join(tempfile.gettempdir(), "mailbus-test-ports")
_mine = []


def _release():
    for path in _mine:
        try:
            os.unlink(path)
        except OSError:
            pass


atexit.register(_release)


def _owner_alive(path):
    try:
        with open(path) as f:
            pid = int(f.read().strip() or "0")
    except (OSError, ValueError):
        return True  # being written right now: leave it to its writer
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reserve(port):
    os.makedirs(RESERVATIONS, exist_ok=True)
    path = os.path.join(RESERVATIONS, str(port))
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _owner_alive(path):
                return False
            try:
                os.unlink(path)  # its test process is gone: take it over
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        _mine.append(path)
        return True
    return False


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now and that no other test process
    running now was given, below the kernel's ephemeral range: a port the kernel hands out (bind to
    port 0) can be taken by another test's outgoing connection before the server under test binds
    it."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    for _ in range(10000):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if _reserve(port):
            return port
    raise RuntimeError("no free port below %d" % low)
