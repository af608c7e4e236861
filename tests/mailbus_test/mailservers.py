"""mailservers — private instances of Debian's Postfix and Dovecot for the end-to-end tests.

Each instance lives in its own temporary directory (configuration, queue, sockets, state, log),
listens on 127.0.0.1 and free ports only, and is started and stopped by the test itself: the
system's own configuration (/etc/postfix/main.cf, /etc/dovecot) is neither used nor changed.
Both need root (Postfix's master and Dovecot's master start as root and drop to their own users)
and the packages (.ci/install installs them without starting any daemon); skip_reason() says
when a test cannot run here, temp_dir() makes a directory those users can traverse, and
print_logs_if_failed() shows the servers' logs from a failed test's tearDown.

    Dovecot(directory, users={"bob": "secret"})            POP3 (STLS) and POP3S on free ports;
                                                          deliver() writes into the Maildir
    Dovecot(directory, users=..., pop3=False, auth_socket=PATH)
                                                          only the SASL service, for Postfix
    Postfix(directory, relay_domains=..., transports=..., ca_files=..., sasl_path=...)
                                                          smtpd with STARTTLS required on a free
                                                          port, relaying by transport_maps
"""
import grp
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time

from . import process
from .ports import free_port
from .process import connects, remove_temp_dir, stop_process, wait_for
from .smtpd import make_cert

SBIN = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/sbin"


def program(name):
    return shutil.which(name, path=SBIN)


def skip_reason(*programs):
    """None when this machine can run the servers, else why not (for unittest.skip)"""
    if os.geteuid() != 0:
        return "needs root: Postfix's and Dovecot's masters start as root and drop privileges"
    for name in programs:
        if not program(name):
            return "%s is not installed (bash .ci/install installs postfix, dovecot-core, dovecot-pop3d)" % name
    return None


def temp_dir(test, prefix):
    """A temporary directory the other users (postfix, dovecot, nobody) may traverse, removed
    after the test unless MAILBUS_KEEP_TMP is set"""
    path = process.temp_dir(prefix)
    os.chmod(path, 0o755)
    test.addCleanup(remove_temp_dir, path)
    return path


def print_logs_if_failed(test, logs):
    """From a tearDown: when the test has failed so far, writes each (name, text) of logs to
    stderr (meson test --print-errorlogs shows it)"""
    outcome = getattr(test, "_outcome", None)
    result = getattr(outcome, "result", None)
    failed = (result is None or not getattr(outcome, "success", True)
              or any(case is test for case, _ in list(result.failures) + list(result.errors)))
    if failed:
        for name, text in logs:
            sys.stderr.write("\n----- %s (last 20000 characters) -----\n%s\n" % (name, text[-20000:]))


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _pid_alive(pid):
    """True while the process runs; a zombie waiting for its reaper (the daemonised Postfix
    master's parent is init) counts as gone"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _group_alive(pgid):
    """True while a process of the group runs (zombies aside)"""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


class Dovecot:
    """A Dovecot master in the foreground (dovecot -F), so the test holds its pid. Users come
    from a passwd-file with plain passwords; every user's mail is ~/Maildir under the instance's
    directory, owned by nobody (Dovecot refuses mail access as root)."""

    def __init__(self, directory, users, pop3=True, auth_socket=None, auth_socket_owner="postfix"):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, 0o755)  # the login, auth and mail processes run as other users
        self.users = dict(users)
        self.pop3 = pop3
        self.auth_socket = auth_socket
        self.auth_socket_owner = auth_socket_owner
        self.pop3_port = free_port()
        self.pop3s_port = free_port()
        self.conf = os.path.join(directory, "dovecot.conf")
        self.log_path = os.path.join(directory, "dovecot.log")
        self.mail_uid = pwd.getpwnam("nobody").pw_uid
        self.mail_gid = grp.getgrnam("nogroup").gr_gid
        self.cafile = None
        self.proc = None
        self.out = None
        if pop3:
            self.cafile, self.keyfile = make_cert(directory, "dovecot")

    def write_config(self):
        d = self.dir
        with open(os.path.join(d, "users"), "w") as f:
            for user, password in self.users.items():
                f.write("%s:{PLAIN}%s\n" % (user, password))
        os.chmod(os.path.join(d, "users"), 0o644)
        lines = [
            "instance_name = mailbus-test-%d" % self.pop3_port,
            "base_dir = %s/run" % d,
            "state_dir = %s/state" % d,
            "log_path = %s" % self.log_path,
            "listen = 127.0.0.1",
            "protocols = %s" % ("pop3" if self.pop3 else "none"),
            "auth_mechanisms = plain login",
            # the gateway always asks for STLS; Dovecot would let loopback log in without it
            "disable_plaintext_auth = yes",
            # no 2 s delay after a wrong password (Dovecot's auth penalty still delays the
            # next failures from the same IP: 4 s, 8 s, ...)
            "auth_failure_delay = 0",
            "passdb {", "  driver = passwd-file", "  args = scheme=PLAIN %s/users" % d, "}",
            "userdb {", "  driver = static",
            "  args = uid=%d gid=%d home=%s/home/%%u" % (self.mail_uid, self.mail_gid, d), "}",
            "mail_location = maildir:~/Maildir",
        ]
        if self.pop3:
            lines += [
                "ssl = required",
                "ssl_cert = <%s" % self.cafile,
                "ssl_key = <%s" % self.keyfile,
                "service pop3-login {",
                "  inet_listener pop3 {", "    port = %d" % self.pop3_port, "  }",
                "  inet_listener pop3s {", "    port = %d" % self.pop3s_port, "    ssl = yes", "  }",
                "}",
            ]
        else:
            lines += ["ssl = no"]
        if self.auth_socket:
            owner = pwd.getpwnam(self.auth_socket_owner)
            lines += [
                "service auth {",
                "  unix_listener %s {" % self.auth_socket,
                "    mode = 0660", "    user = %s" % owner.pw_name,
                "    group = %s" % grp.getgrgid(owner.pw_gid).gr_name,
                "  }",
                "}",
            ]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        self.write_config()
        for user in self.users:
            self.maildir(user)
        self.out = open(os.path.join(self.dir, "dovecot.out"), "ab")
        self.proc = subprocess.Popen([program("dovecot"), "-F", "-c", self.conf], stdout=self.out,
                                     stderr=subprocess.STDOUT)
        if self.pop3:
            ready = lambda: process.banner(self.pop3_port, b"+OK") and connects(self.pop3s_port)
        else:
            ready = lambda: os.path.exists(self.auth_socket)
        wait_for(lambda: ready() or self.proc.poll() is not None, what="dovecot ready")
        if self.proc.poll() is not None:
            raise RuntimeError("dovecot exited:\n" + self.log())
        return self

    def stop(self):
        stop_process(self.proc, timeout=15)
        self.proc = None
        if self.out:
            self.out.close()
            self.out = None

    def log(self):
        return _read(os.path.join(self.dir, "dovecot.out")) + _read(self.log_path)

    # ---- the Maildir contract: write into tmp/, rename into new/ ----
    def maildir(self, user):
        base = os.path.join(self.dir, "home", user, "Maildir")
        if not os.path.isdir(os.path.join(base, "new")):
            for sub in ("", "tmp", "new", "cur"):
                path = os.path.join(base, sub)
                os.makedirs(path, exist_ok=True)
            for path in (os.path.dirname(base), base, *(os.path.join(base, s) for s in ("tmp", "new", "cur"))):
                os.chown(path, self.mail_uid, self.mail_gid)
        return base

    def deliver(self, user, data, name):
        base = self.maildir(user)
        tmp = os.path.join(base, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chown(tmp, self.mail_uid, self.mail_gid)
        os.rename(tmp, os.path.join(base, "new", name))

    def stored(self, user):
        """The messages still in the user's Maildir, as bytes, by file name. Dovecot may move a
        file from new/ to cur/ or delete it meanwhile: new/ is read first, so a moved file is
        still seen in cur/, and a deleted one is gone."""
        base = self.maildir(user)
        out = {}
        for sub in ("new", "cur"):
            for name in os.listdir(os.path.join(base, sub)):
                try:
                    with open(os.path.join(base, sub, name), "rb") as f:
                        out[name.split(":")[0]] = f.read()
                except FileNotFoundError:
                    pass
        return out


class Postfix:
    """A Postfix instance of its own: `postfix -c DIR/etc start` and `stop`. main.cf and
    master.cf are written from scratch (no local delivery, no pickup, smtpd on one loopback
    port with STARTTLS required); mail for relay_domains goes where transports say."""

    def __init__(self, directory, relay_domains, transports, ca_files=(), sasl_path=None, recipients=None,
                 extra=None):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, 0o755)  # Postfix's daemons run as the postfix user
        self.etc = os.path.join(directory, "etc")
        self.queue_dir = os.path.join(directory, "queue")
        self.data_dir = os.path.join(directory, "data")
        self.maillog = os.path.join(directory, "maillog")
        os.makedirs(self.etc, exist_ok=True)
        self.make_directories()
        self.port = free_port()
        self.relay_domains = list(relay_domains)
        self.transports = dict(transports)
        self.ca_files = list(ca_files)
        self.sasl_path = sasl_path
        self.recipients = recipients
        self.extra = dict(extra or {})
        self.cafile, self.keyfile = make_cert(self.etc, "postfix")
        self.master_pid = None

    def make_directories(self):
        """The queue and data directories with the owners and modes of Postfix's own table
        (postfix-files: path:type:owner:group:mode:flags). `postfix start` would create them
        itself (post-install create-missing), but that also resets the permissions of every
        installed Postfix file and takes seconds; its check-warn step still verifies these
        (start() fails on any warning it logs)."""
        names = {"$mail_owner": "postfix", "$setgid_group": "postdrop", "-": "root"}
        places = {"$queue_directory": self.queue_dir, "$data_directory": self.data_dir}
        with open("/etc/postfix/postfix-files") as f:
            for line in f:
                fields = line.strip().split(":")
                top = fields[0].split("/")[0]
                if top not in places or len(fields) < 5 or fields[1] != "d":
                    continue
                path = places[top] + fields[0][len(top):]
                os.makedirs(path, exist_ok=True)
                os.chown(path, pwd.getpwnam(names.get(fields[2], fields[2])).pw_uid,
                         grp.getgrnam(names.get(fields[3], fields[3])).gr_gid)
                os.chmod(path, int(fields[4], 8))

    def main_cf(self):
        e = self.etc
        conf = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            # Postfix 3.4+: logging straight into a file through the postlog service
            "maillog_file": self.maillog,
            "maillog_file_prefixes": self.dir,
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "myhostname": "mta.test",
            "mydomain": "mta.test",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "mynetworks": "127.0.0.0/8",
            "relay_domains": " ".join(self.relay_domains),
            "transport_maps": "texthash:%s/transport" % e,
            # this MTA joins the federation's domains and nothing else, authenticated or not
            "smtpd_relay_restrictions": "reject_unauth_destination",
            "smtpd_banner": "$myhostname ESMTP Postfix",
            "smtpd_tls_cert_file": self.cafile,
            "smtpd_tls_key_file": self.keyfile,
            "smtpd_tls_security_level": "encrypt",
            "smtpd_tls_received_header": "yes",
            # out to the gateways: verified TLS against their own self-signed certificates
            # (the next hop [127.0.0.1] matches their subjectAltName IP:127.0.0.1)
            "smtp_tls_security_level": "verify",
            "smtp_tls_CAfile": "%s/peers.pem" % e,
            "smtp_tls_loglevel": "1",
            # a test's retries: seconds, not Postfix's minutes
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "smtp_connect_timeout": "5s",
            "biff": "no",
        }
        if self.recipients is not None:
            conf["relay_recipient_maps"] = "texthash:%s/relay_recipients" % e
        if self.sasl_path:
            conf.update({
                "smtpd_sasl_auth_enable": "yes",
                "smtpd_sasl_type": "dovecot",
                "smtpd_sasl_path": self.sasl_path,
                "smtpd_tls_auth_only": "yes",
                # only authenticated clients may hand it mail at all (a submission relay)
                "smtpd_recipient_restrictions": "permit_sasl_authenticated, reject",
            })
        conf.update(self.extra)
        return "".join("%s = %s\n" % item for item in conf.items())

    def master_cf(self):
        # chroot off everywhere: the queue is a temporary directory without the chroot's files
        services = [
            ("127.0.0.1:%d" % self.port, "inet", "n", "-", "n", "-", "-", "smtpd"),
            # pickup: nothing is ever dropped locally, but postqueue -f wants the system "up"
            ("pickup", "unix", "n", "-", "n", "60", "1", "pickup"),
            ("cleanup", "unix", "n", "-", "n", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr"),
            ("tlsmgr", "unix", "-", "-", "n", "1000?", "1", "tlsmgr"),
            ("rewrite", "unix", "-", "-", "n", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("verify", "unix", "-", "-", "n", "-", "1", "verify"),
            ("flush", "unix", "n", "-", "n", "1000?", "0", "flush"),
            ("proxymap", "unix", "-", "-", "n", "-", "-", "proxymap"),
            ("smtp", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("relay", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("showq", "unix", "n", "-", "n", "-", "-", "showq"),
            ("error", "unix", "-", "-", "n", "-", "-", "error"),
            ("retry", "unix", "-", "-", "n", "-", "-", "error"),
            ("discard", "unix", "-", "-", "n", "-", "-", "discard"),
            ("anvil", "unix", "-", "-", "n", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "n", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "n", "-", "1", "postlogd"),
        ]
        return "".join(" ".join(s) + "\n" for s in services)

    def write_config(self):
        files = {
            "main.cf": self.main_cf(),
            "master.cf": self.master_cf(),
            "transport": "".join("%s smtp:[127.0.0.1]:%d\n" % (d, p) for d, p in self.transports.items()),
            "relay_recipients": "".join("%s OK\n" % r for r in self.recipients or ()),
        }
        peers = b""
        for path in self.ca_files:
            with open(path, "rb") as f:
                peers += f.read()
        with open(os.path.join(self.etc, "peers.pem"), "wb") as f:
            f.write(peers)
        past = time.time() - 60
        for name, text in files.items():
            path = os.path.join(self.etc, name)
            with open(path, "w") as f:
                f.write(text)
            # Postfix waits (300 ms at a time) for a configuration file changed in the last
            # seconds to settle before it reads it
            os.utime(path, (past, past))

    def postfix(self, *args, check=True):
        r = subprocess.run([program("postfix"), "-c", self.etc] + list(args), capture_output=True, text=True,
                           timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("postfix %s: rc=%d %s %s\n%s" % (args, r.returncode, r.stdout, r.stderr, self.log()))
        return r

    def start(self):
        self.write_config()
        # creates the queue's subdirectories with their owners (postfix, group postdrop) and
        # checks the instance (postfix-script check-fatal, check-warn), then starts master
        self.postfix("start")
        with open(os.path.join(self.queue_dir, "pid", "master.pid")) as f:
            self.master_pid = int(f.read().split()[0])
        warnings = [line for line in self.log().splitlines() if "postfix-script" in line and "warning:" in line]
        if warnings:
            raise RuntimeError("postfix check-warn:\n" + "\n".join(warnings))
        wait_for(lambda: process.banner(self.port, b"220 ") or not _pid_alive(self.master_pid), what="postfix smtpd")
        if not _pid_alive(self.master_pid):
            raise RuntimeError("postfix master exited:\n" + self.log())
        return self

    def stop(self):
        if self.master_pid is None:
            return
        # what `postfix stop` does (SIGTERM to the master, which passes it on to its process
        # group: smtpd, qmgr, ...), without its one-second polls; then the group must be gone,
        # or a new master could not bind the same port
        if _pid_alive(self.master_pid):
            os.kill(self.master_pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _group_alive(self.master_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_alive(self.master_pid):
            os.killpg(self.master_pid, signal.SIGKILL)
        self.master_pid = None

    def queue(self):
        """The instance's queue (postqueue -j): one dict per message"""
        r = subprocess.run([program("postqueue"), "-c", self.etc, "-j"], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("postqueue -j: %s %s" % (r.stdout, r.stderr))
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def flush(self):
        subprocess.run([program("postqueue"), "-c", self.etc, "-f"], capture_output=True, timeout=60, check=True)

    def log(self):
        return _read(self.maillog)
