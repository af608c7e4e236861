"""gwharness — starts a real mailbus-broker and a real mailbus-gateway on free ports in a
temporary directory, polls for readiness with a deadline (never a fixed sleep) and always
cleans up. Programs are found through MAILBUS_BUILD_DIR (meson sets it)."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

from smtpd_helper import publish, queue, stop_process

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "e2e"))
from ports import free_port  # noqa: E402,F401 (the tests take it from here)

BUILD = os.environ.get("MAILBUS_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
BROKER = os.path.join(BUILD, "broker", "mailbus-broker")
GATEWAY = os.path.join(BUILD, "gateway", "mailbus-gateway")
SUB = os.path.join(BUILD, "subscriber", "mailbus-sub")
PASSWORD = "demo"


def wait_for(condition, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    delay = 0.01
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    raise TimeoutError("timed out waiting for " + what)


class Stack:
    """A broker and a gateway. Use as a context manager or call start()/stop()."""

    def __init__(self, gateway_args=(), broker_args=(), start_gateway=True):
        self.dir = tempfile.mkdtemp(prefix="mailbus-gw-")
        self.var = os.path.join(self.dir, "var")
        os.makedirs(self.var)
        self.broker_port = free_port()
        self.endpoint = "tcp://127.0.0.1:%d" % self.broker_port
        self.smtp_port = free_port()
        self.pop3_port = free_port()
        self.gateway_args = list(gateway_args)
        self.broker_args = list(broker_args)
        self.start_gateway = start_gateway
        self.broker = None
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
        self.broker_log = open(os.path.join(self.dir, "broker.log"), "ab")
        self.broker = subprocess.Popen(
            [BROKER, "--db", os.path.join(self.var, "mailbus.db"), "--bind", self.endpoint] + self.broker_args,
            cwd=self.dir, stdout=self.broker_log, stderr=subprocess.STDOUT)
        secret = os.path.join(self.var, "gateway.secret")
        wait_for(lambda: os.path.exists(secret) and os.path.getsize(secret) > 0 or self._died(self.broker),
                 what="gateway.secret")
        wait_for(lambda: self._connects(self.broker_port) or self._died(self.broker), what="broker port")
        if self.broker.poll() is not None:
            raise RuntimeError("broker exited: " + self.log("broker"))

    def gateway_command(self, extra=()):
        return [GATEWAY, "-b", self.endpoint, "--smtp", "127.0.0.1:%d" % self.smtp_port,
                "--pop3", "127.0.0.1:%d" % self.pop3_port, "--hostname", "gw.demo.test",
                "--gateway-secret", os.path.join(self.var, "gateway.secret")] + self.gateway_args + list(extra)

    def start_gw(self):
        self.gateway_log = open(os.path.join(self.dir, "gateway.log"), "ab")
        self.gateway = subprocess.Popen(self.gateway_command(), cwd=self.dir, stdout=self.gateway_log,
                                        stderr=subprocess.STDOUT)
        wait_for(lambda: self._banner(self.smtp_port) or self._died(self.gateway), what="gateway SMTP banner")
        if self.gateway.poll() is not None:
            raise RuntimeError("gateway exited: " + self.log("gateway"))

    def stop_broker(self):
        self._stop(self.broker)
        self.broker = None

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
        self._stop(self.broker)
        self.gateway = self.broker = None
        for name in ("gateway_log", "broker_log"):
            f = getattr(self, name, None)
            if f:
                f.close()
        if os.environ.get("MAILBUS_KEEP_TMP"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

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
    def _connects(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

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
        r = subprocess.run([SUB, "-b", self.endpoint, "-u", user, "-p", PASSWORD] + list(args),
                           capture_output=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("mailbus-sub %s: %s %s" % (args, r.stdout, r.stderr))
        return r.stdout.decode("utf-8", "replace")

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
        self.db = os.path.join(self.var, "mailbus.db")
        for user in users:
            self.admin("mailbox", "add", "%s@%s" % (user, domain), "--password", PASSWORD)
        # with --domain other than demo.test the broker makes no gateway identity: we do
        secret = "gw-secret-" + domain
        self.admin("mailbox", "add", "gateway@" + domain, "--password", secret, "--role", "gateway")
        with open(os.path.join(self.var, "gateway.secret"), "w") as f:
            f.write("gateway@%s %s\n" % (domain, secret))
        os.chmod(os.path.join(self.var, "gateway.secret"), 0o600)

    def admin(self, *args):
        r = subprocess.run([BROKER, "--db", self.db] + list(args), capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("mailbus-broker %s: %s %s" % (args, r.stdout, r.stderr))
        return r.stdout

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

    def stop_gw(self):
        self._stop(self.gateway)
        self.gateway = None
        self.gateway_log.close()

    def stop_broker(self):
        super().stop_broker()
        self.broker_log.close()

    def queue(self, *args):
        return queue(BUILD, self.db, *args)

    def send(self, user, to, subject, body="hi"):
        r = publish(BUILD, self.endpoint, "%s@%s" % (user, self.domain), PASSWORD, to, subject=subject, body=body)
        return r.stdout

    def mailbox(self, user):
        return self.drain(user="%s@%s" % (user, self.domain))


class Raw:
    """A raw SMTP connection: what a misbehaving client sends, byte for byte."""

    def __init__(self, port, timeout=15):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
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

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed; have %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("latin-1")

    def reply(self):
        """One whole reply (multi-line joined); returns (code, last line)"""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return int(lines[-1][:3]), "\n".join(lines)

    def cmd(self, text):
        self.send(text.encode("latin-1") + b"\r\n")
        return self.reply()

    def closed(self, timeout=10):
        """True when the server closes the connection (EOF) within timeout"""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(4096)
                if not data:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def starttls(self, ctx):
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
