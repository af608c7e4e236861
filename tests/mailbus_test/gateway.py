"""The gateway's end-to-end harness: a real mailbus-broker and a real mailbus-gateway on free
ports in a temporary directory, readiness polled with a deadline (never a fixed sleep), always
cleaned up; a raw line client for what no well-behaved client would send; mailbus-pub and
`mailbus-broker queue` for the relay tests. Programs are found through MAILBUS_BUILD_DIR."""
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

from .broker import DEMO_PASSWORD, Broker
from .ports import free_port  # noqa: F401 (the tests take it from here)
from .process import (BROKER, BUILD, GATEWAY, PUB, SUB, connects, remove_temp_dir, run, run_checked,  # noqa: F401
                      stop_process, temp_dir, wait_for)

PASSWORD = DEMO_PASSWORD


class GatewayBroker(Broker):
    """The broker under a gateway: ready once it listens and its gateway.secret is written (the
    gateway reads it at start), without a HELO of its own (a Peer has no demo users)"""

    def wait_ready(self, deadline=15.0):
        secret = os.path.join(self.tmp, "var", "gateway.secret")
        died = lambda: self.proc.poll() is not None  # noqa: E731
        wait_for(lambda: os.path.exists(secret) and os.path.getsize(secret) > 0 or died(), deadline,
                 "gateway.secret")
        wait_for(lambda: connects(self.port) or died(), deadline, "broker port")
        if died():
            raise RuntimeError("broker exited: " + self.log())


class Stack:
    """A broker and a gateway. Use as a context manager or call start()/stop()."""

    def __init__(self, gateway_args=(), broker_args=(), start_gateway=True):
        self.dir = temp_dir("mailbus-gw-")
        self.var = os.path.join(self.dir, "var")
        os.makedirs(self.var)
        self.broker = GatewayBroker(self.dir, extra_args=broker_args)
        self.broker_port = self.broker.port
        self.endpoint = self.broker.endpoint
        self.smtp_port = free_port()
        self.pop3_port = free_port()
        self.imap_port = free_port()
        self.gateway_args = list(gateway_args)
        self.start_gateway = start_gateway
        self.gateway = None
        self.cafile = os.path.join(self.var, "gateway-cert.pem")

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.start_broker()
        if self.start_gateway:
            self.start_gw()

    def start_broker(self):
        self.broker.start()

    def gateway_command(self, extra=()):
        return [GATEWAY, "-b", self.endpoint, "--smtp", "127.0.0.1:%d" % self.smtp_port,
                "--pop3", "127.0.0.1:%d" % self.pop3_port, "--imap", "127.0.0.1:%d" % self.imap_port,
                "--hostname", "gw.demo.test",
                "--gateway-secret", os.path.join(self.var, "gateway.secret")] + self.gateway_args + list(extra)

    def start_gw(self):
        self.gateway_log = open(os.path.join(self.dir, "gateway.log"), "ab")
        self.gateway = subprocess.Popen(self.gateway_command(), cwd=self.dir, stdout=self.gateway_log,
                                        stderr=subprocess.STDOUT)
        wait_for(lambda: self._banner(self.smtp_port) or self._died(self.gateway), what="gateway SMTP banner")
        if self.gateway.poll() is not None:
            raise RuntimeError("gateway exited: " + self.log("gateway"))

    def stop_broker(self):
        stop_process(self.broker.proc)
        self.broker.proc = None

    def stop_gw(self):
        self._stop(self.gateway)
        self.gateway = None
        self.gateway_log.close()

    def kill_gw_when_logged(self, marker, timeout=30):
        """SIGKILL the gateway as soon as its log shows marker (a tight poll: what it waits for
        is quick), e.g. in the middle of a fetch run, before the QUIT that would apply DELEs"""
        deadline = time.monotonic() + timeout
        while marker not in self.log("gateway"):
            if time.monotonic() > deadline:
                raise TimeoutError("the gateway never logged " + marker)
            time.sleep(0.005)
        self.gateway.send_signal(signal.SIGKILL)
        self.gateway.wait()
        self.gateway = None
        self.gateway_log.close()

    def stop(self):
        self._stop(self.gateway)
        self.gateway = None
        self.stop_broker()
        f = getattr(self, "gateway_log", None)
        if f:
            f.close()
        remove_temp_dir(self.dir)

    def log(self, name):
        try:
            with open(os.path.join(self.dir, name + ".log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    @staticmethod
    def _stop(proc):
        stop_process(proc)

    @staticmethod
    def _died(proc):
        return proc is not None and proc.poll() is not None

    @staticmethod
    def _banner(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                data = s.recv(512)
                s.sendall(b"QUIT\r\n")
                return data.startswith(b"220 ")
        except OSError:
            return False

    # ---- clients ----
    def tls_context(self):
        ctx = ssl.create_default_context(cafile=self.cafile)
        ctx.check_hostname = False  # the self-signed certificate names localhost and 127.0.0.1
        return ctx

    def sub(self, *args, user="bob@demo.test", check=True):
        rc, out, err = run([SUB, "-b", self.endpoint, "-u", user, "-p", PASSWORD] + list(args), timeout=60)
        if check and rc != 0:
            raise RuntimeError("mailbus-sub %s: %s %s" % (args, out, err))
        return out

    def count(self, user="bob@demo.test"):
        """Messages in the mailbox, from mailbus-sub stat ("3 messages, 4120 bytes")"""
        return int(self.sub("stat", user=user).split()[0])

    def drain(self, user="bob@demo.test"):
        """Every message of the mailbox as bytes (mailbus-sub drain), oldest first"""
        out = os.path.join(self.dir, "drain-" + user)
        os.makedirs(out, exist_ok=True)
        self.sub("drain", out, user=user)
        names = sorted(os.listdir(out), key=lambda n: int(n.split(".")[0]) if n.split(".")[0].isdigit() else 0)
        result = []
        for n in names:
            with open(os.path.join(out, n), "rb") as f:
                result.append(f.read())
            os.unlink(os.path.join(out, n))
        return result


class Peer(Stack):
    """A broker authoritative for one domain (no demo users) and its gateway."""

    def __init__(self, domain, users):
        super().__init__(broker_args=["--domain", domain, "--retry-base", "1"])
        self.domain = domain
        self.db = self.broker.db
        for user in users:
            self.admin("mailbox", "add", "%s@%s" % (user, domain), "--password", PASSWORD)
        # with --domain other than demo.test the broker makes no gateway identity: we do
        secret = "gw-secret-" + domain
        self.admin("mailbox", "add", "gateway@" + domain, "--password", secret, "--role", "gateway")
        with open(os.path.join(self.var, "gateway.secret"), "w") as f:
            f.write("gateway@%s %s\n" % (domain, secret))
        os.chmod(os.path.join(self.var, "gateway.secret"), 0o600)

    def admin(self, *args):
        return run_checked([BROKER, "--db", self.db] + list(args), "mailbus-broker %s" % (args,))

    def route_to(self, other):
        self.gateway_args = ["--domain", self.domain, "--hostname", "gw." + self.domain,
                             "--route", "%s=127.0.0.1:%d" % (other.domain, other.smtp_port),
                             "--smarthost-tls", "starttls", "--smarthost-ca", other.cafile,
                             "--relay-interval", "100"]

    def relay_through(self, hostport, ca, auth=None):
        """every other domain through one smarthost (an MTA such as Postfix) over STARTTLS,
        with AUTH when auth names a 'USER PASSWORD' file"""
        self.gateway_args = ["--domain", self.domain, "--hostname", "gw." + self.domain,
                             "--smarthost", hostport, "--smarthost-tls", "starttls", "--smarthost-ca", ca,
                             "--relay-interval", "100"] + (["--smarthost-auth", auth] if auth else [])

    def queue(self, *args):
        return queue(self.db, *args)

    def send(self, user, to, subject, body="hi"):
        r = publish(self.endpoint, "%s@%s" % (user, self.domain), PASSWORD, to, subject=subject, body=body)
        return r.stdout

    def mailbox(self, user):
        return self.drain(user="%s@%s" % (user, self.domain))


class HoldingProxy:
    """A TCP relay on a free 127.0.0.1 port to the server at 127.0.0.1:port that passes the
    server's first budget bytes (all connections together) and holds the rest until release():
    a client run that needs more stops in the middle, for as long as the test wants (e.g. a
    fetch run, so that a kill comes before its end however slowly the test is scheduled).
    Use as a context manager or call close()."""

    def __init__(self, port, budget):
        self.target, self.budget, self.passed = port, budget, 0
        self.released = threading.Event()
        self.closing = threading.Event()
        self.lock = threading.Lock()
        self.sockets = []
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.accepter = threading.Thread(target=self._accept, daemon=True)
        self.accepter.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def release(self):
        """From now on everything passes, what was held first"""
        self.released.set()

    def close(self):
        self.closing.set()
        self.released.set()
        for sock in [self.listener] + self.sockets:
            self._shut(sock)
        self.listener.close()
        self.accepter.join(10)

    @staticmethod
    def _shut(sock):
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv on it
        except OSError:
            pass

    def _accept(self):
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target), timeout=30)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            self.sockets += [client, server]
            threading.Thread(target=self._connection, args=(client, server), daemon=True).start()

    def _connection(self, client, server):
        dead = threading.Event()

        def up():  # client to server: never held
            try:
                while True:
                    data = client.recv(65536)
                    if not data:
                        break
                    server.sendall(data)
            except OSError:
                pass
            dead.set()
            self._shut(server)
            self._shut(client)

        upward = threading.Thread(target=up, daemon=True)
        upward.start()
        try:
            while True:
                data = server.recv(65536)
                if not data:
                    break
                with self.lock:
                    now = len(data) if self.released.is_set() else min(len(data), self.budget - self.passed)
                    now = max(now, 0)
                    self.passed += now
                client.sendall(data[:now])
                if now < len(data):
                    while not self.released.wait(0.05):
                        if dead.is_set():
                            return
                    client.sendall(data[now:])
        except OSError:
            pass
        finally:
            self._shut(client)
            self._shut(server)
            upward.join(10)
            client.close()
            server.close()


def publish(endpoint, user, password, to, subject="relay test", body="hello", raw=None, check=True):
    """mailbus-pub; returns the CompletedProcess (stdout has the broker's answer per recipient)"""
    cmd = [PUB, "-b", endpoint, "-u", user, "-p", password]
    for t in ([to] if isinstance(to, str) else to):
        cmd += ["-t", t]
    cmd += ["--raw", raw] if raw else ["-s", subject, "-m", body]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise RuntimeError("mailbus-pub: rc=%d %s %s" % (r.returncode, r.stdout, r.stderr))
    return r


def queue(db, *args):
    """`mailbus-broker --db DB queue [args]`; for a listing, a list of dicts per entry:
    id, sender, recipient, state, attempts (int), next, error"""
    out = run_checked([BROKER, "--db", db, "queue"] + list(args), "mailbus-broker queue %s" % (args,))
    if args and args[0] != "list":
        return out
    rows = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 5:
            continue
        entry = dict(id=int(parts[0]), sender=parts[1], recipient=parts[2], state=parts[3],
                     attempts=int(parts[4]))
        # NEXT is a date and a time for a queued entry, '-' otherwise; the rest is the last error
        rest = parts[7:] if entry["state"] == "queued" else parts[6:]
        entry["next"] = " ".join(parts[5:7]) if entry["state"] == "queued" else parts[5] if len(parts) > 5 else ""
        entry["error"] = " ".join(rest)
        rows.append(entry)
    return rows


class RawLines:
    """A raw line connection (CRLF) to a server on 127.0.0.1: send what you like, read lines as
    they come; source is the client's own loopback address (127.0.0.2 is another client)"""

    def __init__(self, port, timeout=15, source=None):
        source_address = (source, 0) if source else None
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=source_address)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def raw_line(self):
        """One line without its CRLF, as bytes; EOFError when the server closed"""
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed; have %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def closed(self, timeout=10):
        """True when the server closes the connection (EOF) within timeout"""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(4096):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def starttls(self, ctx):
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""


class Raw(RawLines):
    """A raw SMTP connection: what a misbehaving client sends, byte for byte."""

    def line(self):
        return self.raw_line().decode("latin-1")

    def reply(self):
        """One whole reply (multi-line joined); returns (code, last line)"""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return int(lines[-1][:3]), "\n".join(lines)

    def cmd(self, text):
        self.send(text.encode("latin-1") + b"\r\n")
        return self.reply()
