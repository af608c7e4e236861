#!/usr/bin/env python3
"""Writes the seed and regression corpus of every harness into tests/fuzz/corpus/<name>/.

The files are committed; this script says how the seeds were made and makes new ones
(run it from anywhere: python3 tests/fuzz/make_corpus.py). It only adds or overwrites the
files it names, so reproducers added by hand (regression files) stay. Broker-protocol inputs
are requests of frames, each a 2-octet big-endian length and its octets; 0xFFFF ends a
request (tests/fuzz/fuzz.h)."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
END = b"\xff\xff"


def frames(*parts):
    """One request: each frame length-prefixed, then the end marker."""
    out = b""
    for p in parts:
        p = p.encode() if isinstance(p, str) else p
        out += struct.pack(">H", len(p)) + p
    return out + END


def write(harness, name, data):
    folder = os.path.join(HERE, "corpus", harness)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


MESSAGE = ("From: fuzz@demo.local\r\nTo: news@demo.local\r\nSubject: urgent: hello\r\n"
           "Message-ID: <1@demo.local>\r\n\r\nbody\r\n.dot line\r\n")
FOLDED = "Subject: a\r\n folded\r\n\tsubject\r\nReceived: x\r\nReceived: y\r\n\r\nbody\r\n"
MIME = ("From: a@demo.local\r\nTo: b@demo.local\r\nSubject: =?UTF-8?B?w6ljaG8=?=\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
        "--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
        "--XX\r\nContent-Type: application/octet-stream\r\n"
        "Content-Disposition: attachment; filename=\"../../etc/passwd\"\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--XX--\r\n")


def smtp():
    for i, line in enumerate([
            "EHLO client.example\r\n", "HELO x\r\n", "MAIL FROM:<a@demo.local> SIZE=100 BODY=8BITMIME\r\n",
            "MAIL FROM:<>\r\n", "RCPT TO:<bob@demo.local>\r\n", "RCPT TO:<\"quoted local\"@demo.local>\r\n",
            "RCPT TO:<@route:bob@demo.local>\r\n", "DATA\r\n", "AUTH PLAIN AGZ1enoAc2VjcmV0\r\n",
            "AUTH LOGIN\r\n", "STARTTLS\r\n", "QUIT\r\n", "NOOP hello\r\n", "VRFY bob\r\n",
            "MAIL FROM:<a@demo.local> SIZE=99999999999999999999999\r\n", "RSET\r\n", "HELP\r\n",
            "mail from:<A@Demo.Local>\r\n", "MAIL FROM:<a@demo.local> BODY=BINARYMIME\r\n"]):
        write("smtp", "seed-%02d" % i, line)
    write("smtp", "long-line-bare-lf", "X" * 1001 + "\n.\r\n")
    write("smtp", "nul-in-command", "MAIL FROM:<a\0b@demo.local>\r\n")
    write("smtp", "bare-cr", "RCPT TO:<a@demo.local>\r\rx\r\n")
    write("smtp", "long-address", "RCPT TO:<" + "a" * 65 + "@demo.local>\r\n")
    write("smtp", "long-domain", "RCPT TO:<a@" + "b" * 300 + ".local>\r\n")
    write("smtp", "auth-long", "AUTH PLAIN " + "A" * 12000 + "\r\n")


def pop3():
    for i, line in enumerate([
            "USER fuzz@demo.local\r\n", "PASS secret with spaces\r\n", "STAT\r\n", "LIST\r\n", "LIST 1\r\n",
            "RETR 1\r\n", "TOP 1 10\r\n", "DELE 999999999\r\n", "UIDL\r\n", "CAPA\r\n", "STLS\r\n", "QUIT\r\n",
            "AUTH PLAIN AGZ1enoAc2VjcmV0\r\n", "AUTH PLAIN\r\n", "NOOP\r\n", "RSET\r\n", "user x  y\r\n",
            "AGZ1enoAc2VjcmV0", "="]):
        write("pop3", "seed-%02d" % i, line)
    write("pop3", "stuffing", "Subject: x\r\n\r\n.\r\n..\r\n.x\n.\r\nend")
    write("pop3", "long-line", "USER " + "a" * 300 + "\r\n")
    write("pop3", "nul", "USER a\0b\r\n")
    write("pop3", "bare-lf", "STAT\n")
    write("pop3", "uidl-line", "1 whqtswO00WBw418f9t5JxYwZ")
    write("pop3", "uidl-line-escape", "1/../2 ab\x1b[2Jc")


def proto():
    seeds = [
        frames("1", "HELO", "MAILBUS/1", "fuzz@demo.local", "fuzz-secret"),
        frames("2", "SEND", "fuzz@demo.local", "news@demo.local", "bob@demo.local", MESSAGE),
        frames("3", "STAT") + frames("4", "LIST") + frames("5", "RETR", "1") + frames("6", "DELE", "1"),
        frames("7", "WATCH", "64") + frames("8", "CREDIT", "1") + frames("9", "UNWATCH"),
        frames("a", "SUBSCRIBE", "news@demo.local", "subject:*urgent*") + frames("b", "VRFY", "x@demo.local"),
        frames("c", "LEASE", "10", "30") + frames("d", "ACK", "1") + frames("e", "CLAIM", "5"),
        frames("f", "NOOP") + frames("g", "QUIT"),
    ]
    for i, seed in enumerate(seeds):
        write("proto", "seed-%02d" % i, seed)
    write("proto", "nul-frames", frames("1\0", "SE\0ND", "a\0@demo.local", "\0\0\0"))
    write("proto", "long-request-id", frames("x" * 33, "NOOP") + frames("y" * 255, "NOOP"))
    write("proto", "long-address", frames("1", "VRFY", "a" * 300 + "@demo.local"))
    write("proto", "too-many-args", frames("1", "SEND", *(["a@demo.local"] * 110)))
    write("proto", "no-verb", frames("1") + END + frames("2", "") + frames("3", "lower"))
    write("proto", "number-overflow", frames("1", "RETR", "99999999999999999999") + frames("2", "RETR", "-1"))


def address():
    for i, text in enumerate([
            "bob@demo.local", "<Bob@Demo.Local>", "a.b+c@x-y.example.org", "\"quoted local\"@demo.local",
            "\"a@b\"@demo.local", "@route:bob@demo.local", "bob@[127.0.0.1]", "a..b@demo.local",
            ".a@demo.local", "a@-x.local", "a@x-.local", "a@" + "l" * 64 + ".local", "<>", "<a@b>x",
            "a" * 64 + "@demo.local", "a" * 65 + "@demo.local", "a@" + ("b" * 63 + ".") * 4 + "c",
            "a\0b@demo.local", "a@demo.local\r\n", "caf\xc3\xa9@demo.local"]):
        write("address", "seed-%02d" % i, text)


def header():
    write("header", "message", MESSAGE)
    write("header", "folded", FOLDED)
    write("header", "fields-only", "Subject: no body\r\nFrom: a@demo.local")
    write("header", "no-empty-line", "Subject: x\r\nthis is the body\r\n")
    write("header", "bare-lf", "Subject: a\n b\nReceived: x\n\nbody\n")
    write("header", "empty-first-line", "\r\nbody only\r\n")
    write("header", "control-chars", "Subject: a\x01\x1b[31mred\x7f\r\n\r\n")
    write("header", "name-line", "Received\nReceived: a\r\nReceived : b\r\n\r\n")
    write("header", "colon-names", ":\r\n: x\r\n\r\n")
    write("header", "long-folded", "Subject: " + "a\r\n " * 200 + "\r\n\r\n")


def route():
    write("route", "match", "subject:*urgent*\n" + MESSAGE)
    write("route", "folded", "subject:a*subject\n" + FOLDED)
    write("route", "class", "from:[a-z]*@demo.local\n" + MESSAGE)
    write("route", "unclosed-class", "subject:[abc\n" + MESSAGE)
    write("route", "escaped", "subject:\\[x\\]*\nSubject: [x] y\r\n\r\n")
    write("route", "bad-name", "sub ject:x\n" + MESSAGE)
    write("route", "empty", "\n" + MESSAGE)
    write("route", "long-name", "x" * 100 + ":*\n" + MESSAGE)
    write("route", "stars", "subject:" + "*a" * 90 + "\nSubject: " + "a" * 900 + "b\r\n\r\n")
    write("route", "control", "subject:a\x01b\n" + MESSAGE)


def show():
    write("show", "mime", MIME)
    write("show", "plain", MESSAGE)
    write("show", "broken-boundary", MIME.replace("--XX--", "--X").replace("boundary=\"XX\"", "boundary=\"XX"))
    write("show", "no-boundary", MIME.replace("; boundary=\"XX\"", ""))
    write("show", "nested", "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
          "Content-Type: message/rfc822\r\n\r\n" + MIME + "\r\n--a--\r\n")
    write("show", "escape-in-headers", "Subject: \x1b]0;title\x07 \x1b[2J\r\nFrom: \"\x1b[31m\" <a@b>\r\n\r\nx\x1b[0m\r\n")
    write("show", "encoded-words", "Subject: =?ISO-8859-1?Q?=1B=5B31m?= =?UTF-8?B?G1sybQ==?=\r\n\r\n")
    write("show", "names", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
          "Content-Disposition: attachment; filename=\"..\"\r\n\r\nx\r\n--b\r\n"
          "Content-Disposition: attachment; filename*=UTF-8''%E2%80%AE%0Agpj.exe\r\n\r\ny\r\n--b\r\n"
          "Content-Disposition: attachment; filename=\"" + "\xc3\xa9" * 150 + "\"\r\n\r\nz\r\n--b--\r\n")
    write("show", "html-only", "Content-Type: text/html\r\n\r\n<b>x</b>\r\n")
    write("show", "utf8-cut-name", "a" * 199 + "\xc3\xa9\n")


def broker():
    user, gateway, anon = b"\x00", b"\x01", b"\x02"
    write("broker", "send", user + frames("1", "SEND", "fuzz@demo.local", "news@demo.local", "fuzz@demo.local", MESSAGE))
    write("broker", "pull", user + frames("1", "STAT") + frames("2", "LIST") + frames("3", "RETR", "1")
          + frames("4", "DELE", "1"))
    write("broker", "watch", user + frames("1", "WATCH", "2") + frames("2", "SEND", "fuzz@demo.local",
                                                                        "fuzz@demo.local", MESSAGE)
          + frames("3", "CREDIT", "5") + frames("4", "UNWATCH"))
    write("broker", "gateway-relay", gateway + frames("1", "SEND", "someone@elsewhere.example", "x@remote.example",
                                                      "fuzz@demo.local", MESSAGE)
          + frames("2", "CLAIM", "5") + frames("3", "RELAYED", "1") + frames("4", "DEFER", "1", "later"))
    write("broker", "lists", user + frames("1", "SUBSCRIBE", "news@demo.local", "subject:*x*")
          + frames("2", "EXPN", "news@demo.local") + frames("3", "UNSUBSCRIBE", "news@demo.local")
          + frames("4", "VRFY", "gateway@demo.local"))
    write("broker", "lease", user + frames("1", "LEASE", "5", "30") + frames("2", "ACK", "1") + frames("3", "NACK", "2"))
    write("broker", "anonymous", anon + frames("1", "STAT") + frames("2", "NOOP") + frames("3", "BOGUS"))
    write("broker", "helo-wrong", anon + frames("1", "HELO", "MAILBUS/1", "fuzz@demo.local", "wrong"))
    write("broker", "helo-quit", user + frames("1", "HELO", "MAILBUS/1", "fuzz@demo.local", "fuzz secret\"pw")
          + frames("2", "QUIT"))
    write("broker", "nul-frames", user + frames("1\0", "SEND", "a\0@demo.local", "fuzz@demo.local", "x\0y\r\n\r\n"))
    write("broker", "long-ids", user + frames("x" * 33, "NOOP") + frames("y" * 300, "STAT") + frames("", "NOOP"))
    write("broker", "long-address", user + frames("1", "SEND", "fuzz@demo.local", "a" * 300 + "@demo.local", MESSAGE))
    write("broker", "bare-lf-message", user + frames("1", "SEND", "fuzz@demo.local", "fuzz@demo.local",
                                                     "Subject: x\n\nbody\n"))
    write("broker", "folded-headers", user + frames("1", "SEND", "fuzz@demo.local", "news@demo.local", FOLDED))
    write("broker", "too-many-rcpt", user + frames("1", "SEND", "fuzz@demo.local", *(["fuzz@demo.local"] * 101),
                                                   MESSAGE))
    # log lines: what a client sends reaches them escaped (found by fuzz_broker: a duplicate's
    # Message-ID with an octet above 0x7f went into the log raw)
    eight_bit = MESSAGE.replace("<1@demo.local>", "<2@demo.\x94local\\\">").encode("latin-1")
    write("broker", "log-duplicate-message-id", user + frames("1", "SEND", "fuzz@demo.local", "fuzz@demo.local",
                                                              eight_bit)
          + frames("2", "SEND", "fuzz@demo.local", "fuzz@demo.local", eight_bit))
    write("broker", "log-subscribe-filter", user + frames("1", "SUBSCRIBE", "news@demo.local",
                                                          "subject:*\x94\"x\\*".encode("latin-1")))
    # a user's mail for another domain (relay), then the gateway defers it (replayed in name order)
    write("broker", "log-defer-text-1", user + frames("1", "SEND", "fuzz@demo.local", "x@remote.example", MESSAGE))
    write("broker", "log-defer-text-2", gateway + frames("2", "CLAIM", "100")
          + b"".join(frames(str(i), "DEFER", str(i), b"451 no\r\nfake log line \x94") for i in range(1, 9)))
    write("broker", "wrong-sender", user + frames("1", "SEND", "other@demo.local", "fuzz@demo.local", MESSAGE))
    # batched drain (issue 13): RETR, DELE and ACK of several ids, good and bad
    write("broker", "drain-batch", user + frames("1", "SEND", "fuzz@demo.local", "fuzz@demo.local", MESSAGE)
          + frames("2", "SEND", "fuzz@demo.local", "fuzz@demo.local", MESSAGE)
          + frames("3", "RETR", "1 2 3", "PEEK") + frames("4", "RETR", "2", "1") + frames("5", "LEASE", "5", "30")
          + frames("6", "ACK", "1 2 2 9") + frames("7", "DELE", "1 2 3") + frames("8", "DELE", "1", "2"))
    write("broker", "drain-batch-bad", user + frames("1", "DELE", "1 x") + frames("2", "DELE", "1  2")
          + frames("3", "ACK", " ".join(str(i) for i in range(1001))) + frames("4", "RETR", "1 2", "PEAK")
          + frames("5", "RETR", "1 -2") + frames("6", "DELE", "1 99999999999999999999")
          + frames("7", "ACK", "1 2\0") + frames("8", "DELE", " ") + frames("9", "RETR", "", "PEEK")
          + frames("10", "DELE", *["1 2"] * 100))
    # folders and flags (IMAP): every verb, good and bad
    write("broker", "folders", user + frames("1", "WATCH", "10", "changes") + frames("2", "FOLDERS")
          + frames("3", "FOLDER", "CREATE", "Work/2026") + frames("4", "FOLDER", "RENAME", "Work", "Job")
          + frames("5", "FOLDER", "UNSUBSCRIBE", "Job") + frames("6", "FOLDERS", "Job")
          + frames("7", "FOLDER", "DELETE", "Job") + frames("8", "FOLDER", "DELETE", "INBOX"))
    write("broker", "folder-names", user + frames("1", "FOLDER", "CREATE", "")
          + frames("2", "FOLDER", "CREATE", "a//b") + frames("3", "FOLDER", "CREATE", "inbox")
          + frames("4", "FOLDER", "CREATE", "*") + frames("5", "FOLDER", "CREATE", b"a\x01b")
          + frames("6", "FOLDER", "CREATE", "x" * 201) + frames("7", "FOLDER", "CREATE", b"\xed\xa0\x80")
          + frames("8", "FOLDER", "CREATE", "\u00e9t\u00e9/\u00fc"))
    write("broker", "folder-messages", user + frames("1", "APPEND", "INBOX", "FS", "1700000000", MESSAGE)
          + frames("2", "APPEND", "Sent", "", "0", MESSAGE) + frames("3", "SCAN", "INBOX", "0", "5")
          + frames("4", "FLAG", "+", "TD", "1 2 3") + frames("5", "FLAG", "=", "", "1")
          + frames("6", "COPY", "Trash", "1", "2") + frames("7", "MOVE", "Drafts", "1")
          + frames("8", "RETR", "1", "PEEK") + frames("9", "EXPUNGE", "Trash")
          + frames("10", "EXPUNGE", "INBOX", "1 2"))
    write("broker", "folder-bad-args", user + frames("1", "FLAG", "*", "F", "1")
          + frames("2", "FLAG", "+", "Q", "1") + frames("3", "FLAG", "+", "F", "1  x")
          + frames("4", "COPY", "Nowhere", "1") + frames("5", "APPEND", "Sent", "", "soon", "no header")
          + frames("6", "SCAN", "INBOX", "0", "0") + frames("7", "RETR", "1", "LOOK")
          + frames("8", "FLAG", "+", "F", " ".join(["1"] * 1001)) + frames("9", "WATCH", "1", "all"))


def sasl():
    # base64 of PLAIN messages: good, authzid = authcid, another authzid, NUL in the password,
    # one NUL, three NULs, empty password; "=", "*", bad base64, an unpadded one, a long one
    import base64
    for i, message in enumerate([b"\0alice@demo.test\0secret", b"alice@demo.test\0alice@demo.test\0pw",
                                 b"root\0alice@demo.test\0pw", b"\0alice@demo.test\0se\0cret",
                                 b"alice@demo.test\0secret", b"\0a\0b\0c", b"\0alice@demo.test\0"]):
        write("sasl", "plain-%02d" % i, base64.b64encode(message))
    for name, line in [("empty-response", "="), ("cancel", "*"), ("bad-base64", "AG!!"),
                       ("unpadded", "AGFsaWNl"), ("mechanism", "plain"), ("long", "QUFB" * 200)]:
        write("sasl", name, line)


def ticket():
    # a ticket's length of base64url (98 characters) that no key sealed, one too short, one too
    # long, the other base64 alphabet, padding, a version byte other than 1, and 32 octets of fields
    good_length = "AQ" + "A" * 96
    for name, text in [("right-length", good_length), ("short", good_length[:-1]), ("long", good_length + "A"),
                       ("plus-slash", "+/" * 49), ("padded", good_length[:-2] + "=="),
                       ("version-2", "Ag" + "A" * 96), ("fields", bytes(range(32))), ("empty", "")]:
        write("ticket", name, text)
    # RESUME on the broker: before and after HELO, with garbage, an empty and a long ticket
    user, anon = b"\x00", b"\x02"
    write("broker", "resume", anon + frames("1", "RESUME", "MAILBUS/1", "fuzz@demo.local", good_length)
          + frames("2", "STAT") + frames("3", "RESUME", "MAILBUS/1", "fuzz@demo.local", "")
          + frames("4", "RESUME", "MAILBUS/1", "nobody@demo.local", "x" * 300))
    write("broker", "resume-after-helo", user + frames("1", "RESUME", "MAILBUS/2", "fuzz@demo.local", good_length)
          + frames("2", "RESUME", "MAILBUS/1", "bad address", good_length) + frames("3", "STAT"))


def web():
    # mailbus-web (issue 14): a message from anyone as the webmail renders it; its first line
    # is also read as a message id, a part number, a token, a recipient list, a --listen
    # address and a file name (tests/fuzz/fuzz_web.c)
    write("web", "mime", MIME)
    write("web", "plain", MESSAGE)
    write("web", "html", "Subject: <script>x</script>\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n"
          "<p>\xe9</p><script>alert(1)</script>\r\n")
    write("web", "alternative", "Content-Type: multipart/alternative; boundary=q\r\n\r\n--q\r\n"
          "Content-Type: text/plain\r\n\r\nplain\r\n--q\r\nContent-Type: text/html\r\n\r\n<b>b</b>\r\n"
          "--q\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx\r\n--q--\r\n")
    write("web", "bad-utf8", "Subject: \xff\xfe\xed\xa0\x80 \xf4\x90\x80\x80\r\n\r\n\xc3\r\n")
    write("web", "names", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
          "Content-Disposition: attachment; filename=\"..\"\r\n\r\nx\r\n--b\r\n"
          "Content-Disposition: attachment; filename=\"a\\\";b:c\r\n\r\ny\r\n--b--\r\n")
    for name, line in [("id", "42"), ("id-zero", "0"), ("id-leading-zero", "007"), ("id-huge", "9" * 30),
                       ("token", "0123456789abcdef" * 4), ("token-upper", "0123456789ABCDEF" * 4),
                       ("rcpts", "a@b, c@d; e@f\tg@h"), ("listen-v6", "[::1]:8025"), ("listen", "127.0.0.1:8025"),
                       ("listen-bare-v6", "::1:80"), ("listen-port", "h:65536")]:
        write("web", name, line + "\n")


IMAP_MESSAGE = "From: a@demo.local\r\nTo: b@demo.local\r\nSubject: sent\r\n\r\nhello\r\n"
IMAP_CLIENTS = {
    # what each client sends, taken from their sessions against an IMAP4rev1/rev2 server
    "thunderbird": [
        "1 capability", "2 authenticate PLAIN AGZyZWQAc2VjcmV0", '3 ID ("name" "Thunderbird" "version" "115.3.1")',
        "4 enable UTF8=ACCEPT", '5 list (SUBSCRIBED) "" "*" RETURN (SPECIAL-USE)', '6 select "INBOX"',
        "7 UID fetch 1:* (FLAGS)", "8 UID fetch 3 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc "
        "Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
        "9 UID fetch 3 (UID RFC822.SIZE BODY.PEEK[]<0.16384>)", "10 IDLE", "11 uid store 3 +Flags (\\Seen)",
        '12 append "Sent" (\\Seen) {%d}\r\n%s' % (len(IMAP_MESSAGE), IMAP_MESSAGE), '13 uid move 3 "Trash"',
        '14 lsub "" "*"', "15 namespace", '16 STATUS "Sent" (UIDNEXT MESSAGES UNSEEN RECENT)', "17 UID expunge 3"],
    "mutt": [
        "a0000 CAPABILITY", 'a0001 LOGIN "fred" "sec\\"ret"', 'a0002 LIST "" ""', 'a0003 STATUS "INBOX" (MESSAGES)',
        'a0004 SELECT "INBOX"', "a0005 UID FETCH 1:4294967295 (UID FLAGS)",
        "a0006 UID FETCH 1:3 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM SENDER SUBJECT "
        "TO CC MESSAGE-ID REFERENCES CONTENT-TYPE CONTENT-DESCRIPTION IN-REPLY-TO REPLY-TO LINES LIST-POST "
        "X-LABEL)])", "a0007 UID STORE 1 +FLAGS.SILENT (\\Deleted)", "a0008 EXPUNGE", "a0009 CLOSE", "a0010 LOGOUT"],
    "imaplib": [
        "ABCD1 CAPABILITY", "ABCD2 LOGIN fred {6}\r\nsecret", "ABCD3 SELECT INBOX", "ABCD4 SEARCH ALL",
        "ABCD5 FETCH 1 (RFC822)", "ABCD6 STORE 1 +FLAGS \\Deleted",
        'ABCD7 APPEND INBOX () "30-Nov-2026 19:00:00 +0000" {%d}\r\n%s' % (len(IMAP_MESSAGE), IMAP_MESSAGE),
        "ABCD8 UID SEARCH CHARSET UTF-8 SUBJECT {5}\r\ncaf\xc3\xa9", "ABCD9 SEARCH OR (FROM bob SINCE 1-Feb-2024) "
        "NOT (UNSEEN LARGER 100)", "ABCD10 SEARCH RETURN (MIN MAX COUNT) UID 1:* SENTBEFORE \"01-Feb-2024\""],
    "curl": [
        "A001 CAPABILITY", "A002 LOGIN user secret", "A003 SELECT INBOX", "A004 FETCH 1 BODY[]",
        "A005 UID FETCH 1 BODY[]", "A006 AUTHENTICATE PLAIN AHVzZXIAc2VjcmV0", "A007 EXAMINE INBOX",
        'A008 LIST "" *', "A009 LOGOUT"],
    "fetchmail": [
        "A0001 CAPABILITY", "A0002 STARTTLS", 'A0003 LOGIN "user" "secret"', 'A0004 SELECT "INBOX"',
        "A0005 EXPUNGE", "A0006 SEARCH UNSEEN NOT DELETED", "A0007 FETCH 1:3 RFC822.SIZE",
        "A0008 FETCH 1 RFC822.HEADER", "A0009 FETCH 1 BODY.PEEK[TEXT]", "A0010 STORE 1 +FLAGS (\\Seen \\Deleted)",
        "A0011 FETCH 2 (BINARY.PEEK[1.2] BINARY.SIZE[1] BODY[1.MIME] BODY[2.HEADER.FIELDS.NOT (Received)])"],
}


def imap():
    # IMAP (issue 15): whole commands as the server hands them to imap_parse, real clients'
    # lines first, then the bad inputs of the issue; fuzz_imap.c also reads the first line as a
    # date-time and a LIST pattern against the second line
    for client, lines in IMAP_CLIENTS.items():
        for i, line in enumerate(lines):
            write("imap", "%s-%02d" % (client, i), (line + "\r\n").encode("latin-1"))
    for name, text in [
            ("unbalanced", "u SEARCH ((SEEN) OR FROM a\r\n"), ("deep", "d SEARCH " + "(" * 40 + "ALL" + ")" * 40 + "\r\n"),
            ("not-chain", "n SEARCH " + "NOT " * 40 + "ALL\r\n"), ("huge-literal", "h LOGIN a {99999999999}\r\nx\r\n"),
            ("nonsync-toobig", "t LOGIN a {5000+}\r\n" + "x" * 5000 + "\r\n"), ("bare-lf", "b NOOP\n"),
            ("long-line", "l LOGIN a " + "b" * 8200 + "\r\n"), ("nul", "z LOGIN a {3}\r\na\0b\r\n"),
            ("literal8", "p APPEND Drafts (\\Draft) \" 1-Jan-2024 00:00:00 +0000\" ~{3}\r\na\0b\r\n"),
            ("many-sections", "m FETCH 1 (" + " ".join(["BODY[1.2.3]<0.10>"] * 33) + ")\r\n"),
            ("date-time", "17-Jul-1996 02:44:25 -0700\n"), ("pattern", "Work/%\nWork/2024"),
            ("pattern-star", "*a*a*a*a*a*a*b\n" + "a" * 200), ("seqset", "s FETCH 1:*,*:5,$,4294967295 FLAGS\r\n"),
            ("list-status", 'l LIST "" % RETURN (STATUS (MESSAGES UNSEEN SIZE))\r\n')]:
        write("imap", name, text.encode("latin-1"))


for fn in (smtp, pop3, proto, address, header, route, show, broker, sasl, ticket, web, imap):
    fn()
