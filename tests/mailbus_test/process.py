"""What every end-to-end test shares: where the programs under test are, waiting for a condition
with a deadline (never a fixed sleep), running a program to its end, stopping a process by its
pid, temporary directories, and probing a loopback port.

The programs are found under MAILBUS_BUILD_DIR (meson sets it to the build root; default build/).
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(TESTS)
BUILD = os.path.abspath(os.environ.get("MAILBUS_BUILD_DIR", os.path.join(ROOT, "build")))

BROKER = os.path.join(BUILD, "broker", "mailbus-broker")
PUB = os.path.join(BUILD, "publisher", "mailbus-pub")
SUB = os.path.join(BUILD, "subscriber", "mailbus-sub")
GATEWAY = os.path.join(BUILD, "gateway", "mailbus-gateway")
PYTHON = "/usr/bin/python3"  # it has python3-zmq and python3-aiosmtpd

RUN_DEADLINE = 60.0  # seconds for one client program run


class WaitTimeout(AssertionError, TimeoutError):
    """A wait that ran out: a test failure (AssertionError), and a TimeoutError for the callers
    that catch one"""


def wait_for(condition, timeout=30.0, what="condition", max_interval=0.2):
    """Polls condition() until it returns a true value (returned) or timeout seconds pass; the
    interval grows from 10 ms to max_interval. The default timeout is generous: only a failing
    test waits that long, and a loaded machine needs the margin."""
    end = time.monotonic() + timeout
    delay = min(0.01, max_interval)
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= end:
            raise WaitTimeout("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(delay)
        delay = min(delay * 2, max_interval)


def b(x):
    return x if isinstance(x, bytes) else str(x).encode()


def run(argv, env=None, input=None, timeout=RUN_DEADLINE, cwd=None):
    """Runs a program to its end; returns (rc, stdout, stderr) as text."""
    try:
        p = subprocess.run(argv, env=env, input=b(input) if input is not None else None,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("%s did not finish within %s s; stdout=%r stderr=%r"
                             % (" ".join(argv), timeout, e.stdout, e.stderr))
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def run_checked(argv, what, timeout=RUN_DEADLINE):
    """Runs a program to its end; its stdout as text, or RuntimeError when it failed"""
    rc, out, err = run([str(a) for a in argv], timeout=timeout)
    if rc != 0:
        raise RuntimeError("%s: rc=%d %s %s" % (what, rc, out, err))
    return out


def stop_process(proc, timeout=10, sig=signal.SIGTERM):
    """sig (SIGTERM), then SIGKILL after timeout seconds; the process is reaped either way.
    Returns its exit status, or None when it had to be killed (or proc is None)."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
    return proc.wait()


def freeze(proc):
    """SIGSTOP, then waits until every thread of proc is stopped: kill() returns before a
    multi-threaded process has stopped (the kernel stops its threads one by one, as each is
    scheduled), and a thread still running may yet answer a request sent after the kill."""
    proc.send_signal(signal.SIGSTOP)

    def stopped():
        try:
            tasks = os.listdir("/proc/%d/task" % proc.pid)
            states = []
            for tid in tasks:
                with open("/proc/%d/task/%s/stat" % (proc.pid, tid)) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
        except FileNotFoundError:  # a thread ended meanwhile: look again
            return False
        return all(state in ("T", "t") for state in states)
    wait_for(stopped, timeout=30, what="every thread of pid %d to stop" % proc.pid)


def temp_dir(prefix):
    """A new temporary directory"""
    return tempfile.mkdtemp(prefix=prefix)


def remove_temp_dir(path):
    """Removes a temporary directory, or keeps it and says so when MAILBUS_KEEP_TMP is set"""
    if os.environ.get("MAILBUS_KEEP_TMP"):
        print("kept", path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def connects(port, host="127.0.0.1"):
    """True when something accepts a TCP connection on host:port"""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def banner(port, prefix, host="127.0.0.1"):
    """True when a server on host:port greets with a line that starts with prefix (bytes)"""
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            return s.recv(512).startswith(prefix)
    except OSError:
        return False
