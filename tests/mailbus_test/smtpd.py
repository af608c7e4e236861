"""A real SMTP server (Debian's python3-aiosmtpd) in a child process, for the relay, federation
and fetch tests; and a test certificate.

Run as a program (with tests/ on PYTHONPATH) it is the server:

    /usr/bin/python3 -m mailbus_test.smtpd --port P --dir D [--cert C --key K] [--user U --password W]
                                     [--rcpt-reply '451 4.2.0 try later'] [--drop-in-data]

  --cert/--key    STARTTLS offered and required (require_starttls); without them plain SMTP
  --user/--password  AUTH PLAIN/LOGIN with exactly this account, required before MAIL; with
                  TLS it is only offered inside TLS, without TLS it is offered in plaintext
                  (a trap: a correct client must still never send it)
  --rcpt-reply    the answer to every RCPT TO (default 250 OK)
  --drop-in-data  after 354 read one line of the message and die (os._exit): the connection
                  closes in the middle of DATA and nothing is stored
  --hang-after-data  store the message, then never answer the end of DATA (a client waiting
                  for the 250 may be killed meanwhile: the message was stored once already)

Every command line's verb is appended to D/commands.log (before any check, so an AUTH
refused for lack of TLS is still seen); every accepted message to D/messages.log as a record
"MESSAGE <octets> <mail-from> <rcpt,rcpt>\\r\\n" + the DATA content exactly as aiosmtpd gives
it (envelope.original_content: CRLF line ends, dot-stuffing undone) + "\\r\\n", fsynced before
the 250. D/ready appears once the server listens.

As a module, SmtpServer starts/stops/kills such a child by pid and reads its files.
"""
import argparse
import os
import signal
import subprocess

from .process import PYTHON, TESTS, stop_process, wait_for


# ---------------------------------------------------------------------------------- the server

def _serve(args):
    import asyncio
    import logging
    import ssl
    import threading

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, AuthResult

    commands_path = os.path.join(args.dir, "commands.log")
    messages_path = os.path.join(args.dir, "messages.log")

    def note(verb):
        with open(commands_path, "a") as f:
            f.write(verb + "\n")

    class CommandLog(logging.Handler):
        """aiosmtpd logs every command line it reads ('%r >> %r', peer, line) before any check"""

        def emit(self, record):
            if record.msg == "%r >> %r" and len(record.args) == 2:
                line = record.args[1]
                if isinstance(line, bytes):
                    line = line.decode("latin-1")
                note(str(line).split(" ", 1)[0].upper() or "(empty)")

    log = logging.getLogger("mail.log")
    log.setLevel(logging.INFO)
    log.addHandler(CommandLog())
    log.propagate = False

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if args.rcpt_reply:
                return args.rcpt_reply
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"

        async def handle_DATA(self, server, session, envelope):
            content = envelope.original_content
            head = ("MESSAGE %d %s %s\r\n" % (len(content), envelope.mail_from or "<>",
                                                ",".join(envelope.rcpt_tos))).encode()
            with open(messages_path, "ab") as f:
                f.write(head + content + b"\r\n")
                f.flush()
                os.fsync(f.fileno())
            if args.hang_after_data:
                await asyncio.sleep(3600)
            return "250 2.0.0 OK stored"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (getattr(auth_data, "login", None) == args.user.encode()
              and getattr(auth_data, "password", None) == args.password.encode())
        return AuthResult(success=ok, handled=False)

    class DroppingSMTP(SMTP):
        async def smtp_DATA(self, arg):
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readuntil(b"\r\n")
            os._exit(3)  # the connection dies in the middle of the message, nothing stored

    class Server(Controller):
        def factory(self):
            cls = DroppingSMTP if args.drop_in_data else SMTP
            return cls(self.handler, **self.SMTP_kwargs)

    kwargs = dict(hostname="127.0.0.1", port=args.port, server_hostname="smtp.remote.test", ready_timeout=10)
    if args.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.cert, args.key)
        kwargs.update(tls_context=ctx, require_starttls=True)
    if args.user:
        kwargs.update(authenticator=authenticator, auth_required=True,
                      auth_require_tls=bool(args.cert))
    controller = Server(Handler(), **kwargs)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with open(os.path.join(args.dir, "ready"), "w") as f:
        f.write(str(os.getpid()))
    while not stop.wait(1.0):
        pass
    controller.stop()


def main():
    p = argparse.ArgumentParser(description="aiosmtpd test server")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--rcpt-reply")
    p.add_argument("--drop-in-data", action="store_true")
    p.add_argument("--hang-after-data", action="store_true")
    _serve(p.parse_args())


# ---------------------------------------------------------------------------------- the parent side

def make_cert(directory, name="smtpd"):
    """A self-signed certificate for localhost and 127.0.0.1 (it is its own CA)."""
    cert = os.path.join(directory, name + "-cert.pem")
    key = os.path.join(directory, name + "-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class SmtpServer:
    """One aiosmtpd child process on 127.0.0.1:port; may be started again after stop/kill."""

    def __init__(self, directory, port, cert=None, key=None, user=None, password=None, rcpt_reply=None,
                 drop_in_data=False, hang_after_data=False):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.port = port
        self.options = dict(cert=cert, key=key, user=user, password=password, rcpt_reply=rcpt_reply,
                            drop_in_data=drop_in_data, hang_after_data=hang_after_data)
        self.proc = None
        self.log = None

    def command(self):
        o = self.options
        cmd = [PYTHON, "-m", "mailbus_test.smtpd", "--port", str(self.port), "--dir", self.dir]
        if o["cert"]:
            cmd += ["--cert", o["cert"], "--key", o["key"]]
        if o["user"]:
            cmd += ["--user", o["user"], "--password", o["password"]]
        if o["rcpt_reply"]:
            cmd += ["--rcpt-reply", o["rcpt_reply"]]
        if o["drop_in_data"]:
            cmd += ["--drop-in-data"]
        if o["hang_after_data"]:
            cmd += ["--hang-after-data"]
        return cmd

    def start(self, **changes):
        """Starts the child (options may be changed for this and later starts) and waits until it listens."""
        self.options.update(changes)
        ready = os.path.join(self.dir, "ready")
        if os.path.exists(ready):
            os.unlink(ready)
        if self.log is None:
            self.log = open(os.path.join(self.dir, "server.log"), "ab")
        env = dict(os.environ, PYTHONPATH=TESTS)
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: os.path.exists(ready) or self.proc.poll() is not None, 30, "smtpd ready")
        if self.proc.poll() is not None:
            raise RuntimeError("smtpd exited: " + self.server_log())
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        stop_process(self.proc)
        self.proc = None

    def kill(self):
        """SIGKILL, by pid"""
        if self.proc:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
        self.proc = None

    def close(self):
        self.stop()
        if self.log:
            self.log.close()
            self.log = None

    def server_log(self):
        try:
            with open(os.path.join(self.dir, "server.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def commands(self):
        try:
            with open(os.path.join(self.dir, "commands.log")) as f:
                return f.read().split()
        except OSError:
            return []

    def messages(self):
        """[(mail_from, [rcpt...], content bytes)] in the order received"""
        try:
            with open(os.path.join(self.dir, "messages.log"), "rb") as f:
                data = f.read()
        except OSError:
            return []
        out, i = [], 0
        while i < len(data):
            end = data.index(b"\r\n", i)
            _, size, sender, rcpts = data[i:end].decode().split(" ", 3)
            start = end + 2
            content = data[start:start + int(size)]
            out.append((sender, rcpts.split(",") if rcpts else [], content))
            i = start + int(size) + 2
        return out


if __name__ == "__main__":
    main()
