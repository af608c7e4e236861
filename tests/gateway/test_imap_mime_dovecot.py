"""IMAP's view of a message (gateway/imap/imap_mime.h) against Dovecot's, live.

Each message of tests/gateway/imap_mime_messages/ (plain, multipart/alternative, multipart/mixed
with a base64 attachment, message/rfc822 inside, RFC 2047 subjects and names, groups, missing
headers, 8-bit, malformed) goes into a Maildir; Dovecot's own imap program (Debian's
dovecot-imapd, run pre-authenticated on a pipe: no daemon, no port) answers FETCH ENVELOPE,
BODYSTRUCTURE, BODY and BODY.PEEK[section] for it, and build/tests/imap-mime-dump prints what
imap_mime.c makes of the same file. The two must be equal, octet for octet, except where
KNOWN_DIFFERENCES says why they may not be.

Needs dovecot-imapd (.ci/install); skipped with the reason otherwise."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
MESSAGES = os.path.join(HERE, "imap_mime_messages")
DOVECOT_IMAP = "/usr/lib/dovecot/imap"
BUILD = os.environ.get("MAILBUS_BUILD_DIR", os.path.join(HERE, "..", "..", "build"))
DUMP = os.path.join(BUILD, "tests", "imap-mime-dump")

# the sections asked of every message (absent ones must be absent on both sides)
SECTIONS = ["", "HEADER", "TEXT", "1", "1.MIME", "2", "2.MIME", "1.1", "1.2", "2.HEADER", "2.TEXT", "2.1",
            "3", "3.MIME", "3.HEADER", "3.TEXT", "3.1", "HEADER.FIELDS:From,Subject,X-Long",
            "HEADER.FIELDS.NOT:Subject,To"]

# Where the two servers may differ, each with the reason (RFC 9051 allows both forms)
KNOWN_DIFFERENCES = {
    # Dovecot keeps a display name's RFC 2047 words as written; GMime decodes names and
    # imap_mime.c encodes 8-bit ones again (UTF-8, its own choice of B or Q): the same name
    "03-attachment.eml": {"ENVELOPE"},
    "05-mixed-nested.eml": {"ENVELOPE"},
    # RFC 2231 parameters: Dovecot gives them raw (name* "utf-8''caf%C3%A9.pdf"), imap_mime.c as
    # GMime decoded them, 8-bit values in an RFC 2047 word (name "=?UTF-8?b?...?=")
    "16-rfc2231.eml": {"BODYSTRUCTURE", "BODY"},
}


def skip_reason():
    if not os.access(DOVECOT_IMAP, os.X_OK):
        return "dovecot-imapd is not installed (%s)" % DOVECOT_IMAP
    if not os.access(DUMP, os.X_OK):
        return "%s is not built" % DUMP
    return None


def imap_value(text, i=0):
    """(value, next index) of the IMAP value at text[i]: NIL None, a number int, a quoted string
    or a literal bytes, a list a tuple; so "a" and {1}CRLFa, both valid, compare equal"""
    while text[i:i + 1] == b" ":
        i += 1
    lit = re.match(rb"\{(\d+)\}\r\n", text[i:])
    if lit:
        start = i + lit.end()
        return text[start:start + int(lit.group(1))], start + int(lit.group(1))
    c = text[i:i + 1]
    if c == b"(":
        items, i = [], i + 1
        while text[i:i + 1] != b")":
            value, i = imap_value(text, i)
            items.append(value)
            while text[i:i + 1] == b" ":
                i += 1
        return tuple(items), i + 1
    if c == b'"':
        out, i = b"", i + 1
        while text[i:i + 1] != b'"':
            if text[i:i + 1] == b"\\":
                i += 1
            out += text[i:i + 1]
            i += 1
        return out, i + 1
    atom = re.match(rb"[^ ()]+", text[i:]).group(0)
    return (None if atom == b"NIL" else int(atom)), i + len(atom)


def list_end(text):
    """Where the parenthesised list at the start of text ends (quoted strings and literals
    skipped)"""
    depth, i = 0, 0
    while True:
        c = text[i:i + 1]
        lit = re.match(rb"\{(\d+)\}\r\n", text[i:])
        if lit:
            i += lit.end() + int(lit.group(1))
            continue
        if c == b'"':
            i += 1
            while text[i:i + 1] != b'"':
                i += 2 if text[i:i + 1] == b"\\" else 1
        elif c == b"(":
            depth += 1
        elif c == b")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1


def imap_items(text):
    """{item name: value octets} from '* n FETCH (NAME value NAME value)' responses; a literal
    value {n} is given as its n octets, NIL as None"""
    items = {}
    for m in re.finditer(rb"\* \d+ FETCH \(", text):
        pos = m.end()
        name_end = text.index(b"] ", pos) + 1 if text[pos:pos + 5] == b"BODY[" else text.index(b" ", pos)
        name = text[pos:name_end].decode()
        rest = text[name_end + 1:]
        lit = re.match(rb"\{(\d+)\}\r\n", rest)
        if name.startswith("BODY["):
            if lit:
                items[name] = rest[lit.end():lit.end() + int(lit.group(1))]
            elif rest.startswith(b"NIL"):
                items[name] = None
            else:
                items[name] = rest[1:rest.index(b'"', 1)]
        else:
            items[name] = rest[:list_end(rest)]
    return items


def dovecot_fetch(maildir, home, items):
    """Asks Dovecot for each item of message 1, one FETCH per item"""
    conf = os.path.join(home, "dovecot.conf")
    user = "nobody" if os.geteuid() == 0 else None
    with open(conf, "w") as f:
        f.write("mail_location = maildir:%s\nssl = no\nprotocols = imap\n" % maildir)
        f.write("log_path = %s/log\nbase_dir = %s/run\n" % (home, home))
        if user:
            f.write("mail_uid = nobody\nmail_gid = nogroup\n")
    if user:
        subprocess.run(["chown", "-R", "nobody:nogroup", maildir], check=True)
    script = b"t0 SELECT INBOX\r\n"
    for i, item in enumerate(items, 1):
        script += b"t%d FETCH 1 (%s)\r\n" % (i, item.encode())
    script += b"tz LOGOUT\r\n"
    env = dict(os.environ, USER=user or os.environ.get("USER", "root"), HOME=home)
    out = subprocess.run([DOVECOT_IMAP, "-c", conf], input=script, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, timeout=30, check=True).stdout
    return imap_items(out)


def dump_items(path, sections):
    """The same items from imap-mime-dump"""
    out = subprocess.run([DUMP, path] + sections, stdout=subprocess.PIPE, timeout=30, check=True).stdout
    items = {}
    for spec in ["ENVELOPE", "BODYSTRUCTURE", "BODY"] + sections:
        head, _, out = out.partition(b"\n")
        label, _, count = head.rpartition(b" ")
        assert label.decode() == spec, (label, spec)
        if count == b"NIL":
            items[spec] = None
        else:
            items[spec] = out[:int(count)]
            out = out[int(count):]
    return items


def dovecot_name(spec):
    """"HEADER.FIELDS:From,To" as Dovecot's response names it"""
    name, _, fields = spec.partition(":")
    if fields:
        name += " (%s)" % " ".join(f.upper() for f in fields.split(","))
    return "BODY[%s]" % name


class DovecotAgrees(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        reason = skip_reason()
        if reason:
            raise unittest.SkipTest(reason)

    def compare(self, name):
        with tempfile.TemporaryDirectory() as home:
            os.chmod(home, 0o755)
            maildir = os.path.join(home, "Maildir")
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(maildir, sub))
            shutil.copy(os.path.join(MESSAGES, name), os.path.join(maildir, "cur", "1.host:2,S"))
            asked = ["ENVELOPE", "BODYSTRUCTURE", "BODY"] + ["BODY.PEEK[%s]" % dovecot_name(s)[5:-1]
                                                             for s in SECTIONS]
            theirs = dovecot_fetch(maildir, home, asked)
        ours = dump_items(os.path.join(MESSAGES, name), SECTIONS)
        known = KNOWN_DIFFERENCES.get(name, set())
        for item in ("ENVELOPE", "BODYSTRUCTURE", "BODY"):
            if item not in known:
                self.assertEqual(imap_value(ours[item])[0], imap_value(theirs[item])[0], "%s %s" % (name, item))
        for spec in SECTIONS:
            if spec in known:
                continue
            theirs_value = theirs.get(dovecot_name(spec))
            if theirs_value is None or theirs_value == b"":
                self.assertIn(ours[spec], (None, b""), "%s BODY[%s]" % (name, spec))
            else:
                self.assertEqual(ours[spec], theirs_value, "%s BODY[%s]" % (name, spec))


def _add(name):
    def test(self):
        self.compare(name)
    test.__name__ = "test_" + re.sub(r"\W", "_", name[:-4])
    setattr(DovecotAgrees, test.__name__, test)


for _name in sorted(os.listdir(MESSAGES)):
    if _name.endswith(".eml"):
        _add(_name)

if __name__ == "__main__":
    unittest.main()
