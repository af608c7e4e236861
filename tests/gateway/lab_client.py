"""lab_client — a student's mail client on another host of a lab network (run inside a test
network namespace by test_lab.py): Python smtplib and poplib with STARTTLS/STLS, pinning the
gateway's self-signed certificate by its SHA-256 fingerprint before any credential is sent.

  lab_client.py submit HOST PORT FINGERPRINT USER PASSWORD TO SUBJECT
  lab_client.py retrieve HOST PORT FINGERPRINT USER PASSWORD     prints every message
  lab_client.py plain-auth HOST SMTP_PORT POP3_PORT USER PASSWORD   prints the refusals
Exit status 0 when the conversation went as asked; a failure raises (status 1)."""
import base64
import hashlib
import poplib
import smtplib
import ssl
import sys


def pinned_context():
    """No CA can vouch for a lab's self-signed certificate: the fingerprint does"""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def check_pin(sock, fingerprint):
    der = sock.getpeercert(binary_form=True)
    got = ":".join("%02X" % b for b in hashlib.sha256(der).digest())
    if got != fingerprint.upper():
        raise SystemExit("certificate fingerprint %s is not the pinned %s" % (got, fingerprint))


def submit(host, port, fingerprint, user, password, to, subject):
    with smtplib.SMTP(host, int(port), timeout=30) as s:
        s.starttls(context=pinned_context())
        check_pin(s.sock, fingerprint)
        s.login(user, password)
        body = "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nacross the lab network\r\n" % (user, to, subject)
        refused = s.sendmail(user, [to], body.encode())
        print("submitted", refused)


def retrieve(host, port, fingerprint, user, password):
    p = poplib.POP3(host, int(port), timeout=30)
    try:
        p.stls(context=pinned_context())
        check_pin(p.sock, fingerprint)
        p.user(user)
        p.pass_(password)
        count, _ = p.stat()
        for i in range(1, count + 1):
            print(b"\n".join(p.retr(i)[1]).decode("utf-8", "replace"))
    finally:
        p.quit()


def plain_auth(host, smtp_port, pop3_port, user, password):
    """AUTH and USER/PASS in clear text: each must be refused"""
    with smtplib.SMTP(host, int(smtp_port), timeout=30) as s:
        s.ehlo()
        token = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        code, text = s.docmd("AUTH", "PLAIN " + token)
        print("smtp AUTH", code, text.decode())
    p = poplib.POP3(host, int(pop3_port), timeout=30)
    try:
        p.user(user)
        p.pass_(password)
        print("pop3 PASS accepted")
    except poplib.error_proto as e:
        print("pop3", e.args[0].decode())
    finally:
        p.quit()


if __name__ == "__main__":
    verbs = {"submit": submit, "retrieve": retrieve, "plain-auth": plain_auth}
    verbs[sys.argv[1]](*sys.argv[2:])
