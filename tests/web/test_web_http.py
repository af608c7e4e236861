"""mailbus-web over HTTP with curl: every route's bad input gets a clear status and JSON error,
nothing crashes, no stored mail is lost; the security rules (cookie flags, CSRF, escaping,
sandboxed HTML, throttle, upload bound, TLS rule) hold. A real broker and a real mailbus-web.

    PYTHONPATH=.. MAILBUS_BUILD_DIR=../../build /usr/bin/python3 -m unittest -v test_web_http
"""
import json
import socket
import os
import subprocess
import time
import unittest

from mailbus_test.broker import ALICE, BOB, CAROL
from mailbus_test.netns import NetnsPair
from mailbus_test.process import run, wait_for
from mailbus_test.web import WEB, Web, WebCase, curl


def jbody(body):
    return json.loads(body.decode("utf-8"))


class HttpTest(WebCase):

    def publish(self, subject, *args, to=BOB):
        out = self.pub("-t", to, "-s", subject, "-m", "body of " + subject, *args)
        return int(out.split("queued as ")[1].split()[0])

    def test_unknown_route_gives_404_json(self):
        for path in ("/nope", "/api/", "/static/../web.log", "/static/missing.js", "/api/message/partx"):
            status, headers, body = curl(self.url + path)
            self.assertEqual(status, 404, path)
            self.assertIn("error", jbody(body))
            self.assertTrue(headers["content-type"].startswith("application/json"))

    def test_wrong_method_gives_405_with_allow(self):
        status, headers, _ = curl(self.url + "/api/messages", "-X", "POST")
        self.assertEqual((status, headers["allow"]), (405, "GET, HEAD"))
        status, headers, _ = curl(self.url + "/api/login")
        self.assertEqual((status, headers["allow"]), (405, "POST"))
        status, _, _ = curl(self.url + "/", "-X", "DELETE")
        self.assertEqual(status, 405)

    def test_pages_carry_security_headers(self):
        for path in ("/", "/dashboard", "/static/app.js", "/api/dashboard", "/nope"):
            _, headers, _ = curl(self.url + path)
            csp = headers["content-security-policy"]
            self.assertIn("default-src 'none'", csp)
            self.assertIn("script-src 'self'", csp)
            self.assertNotIn("unsafe-inline", csp.split("style-src")[0])
            self.assertEqual(headers["x-content-type-options"], "nosniff")
            self.assertEqual(headers["x-frame-options"], "DENY")
            self.assertEqual(headers["cache-control"], "no-store")

    def test_login_bad_input_gives_400_and_401(self):
        cases = [(["-d", "address=bob@demo.test"], 400), (["-d", "password=demo"], 400),
                 (["-d", "address=&password=demo"], 400),
                 (["-d", "address=" + "a" * 300 + "@demo.test&password=demo"], 400),
                 (["-H", "Content-Type: application/json", "-d", '{"address":"x"}'], 400),
                 (["-H", "Content-Type: multipart/form-data", "-d", "junk"], 400),
                 (["-d", "address=bob@demo.test&password=wrong-secret-xyz"], 401),
                 (["-d", "address=not-an-address&password=wrong-secret-xyz"], 401)]
        for args, want in cases:
            status, _, body = curl(self.url + "/api/login", *args)
            self.assertEqual(status, want, (args, body))
            self.assertIn("error", jbody(body))
        self.assertNotIn("wrong-secret-xyz", self.web.log())
        self.assertIn("login-failed", self.web.log())

    def test_login_sets_httponly_samesite_cookie(self):
        status, headers, body = curl(self.url + "/api/login", "-d", "address=carol@demo.test&password=demo")
        self.assertEqual(status, 200, body)
        cookie = headers["set-cookie"]
        self.assertRegex(cookie, r"^mbweb=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Strict$")
        self.assertEqual(jbody(body)["user"], CAROL)
        self.assertNotIn("demo", cookie.split(";")[0])

    def test_login_from_another_origin_refused(self):
        status, _, _ = curl(self.url + "/api/login", "-H", "Origin: http://evil.example",
                            "-d", "address=bob@demo.test&password=demo")
        self.assertEqual(status, 403)

    def test_session_routes_need_a_session(self):
        for cookie in (None, "mbweb=" + "0" * 64, "mbweb=short", "mbweb=" + "z" * 64, "other=1"):
            args = ["-H", "Cookie: " + cookie] if cookie else []
            for path in ("/api/messages", "/api/message?id=1", "/api/session", "/api/events"):
                status, _, body = curl(self.url + path, *args)
                self.assertEqual(status, 401, (cookie, path, body))

    def test_state_change_without_csrf_is_refused_and_nothing_lost(self):
        mid = self.publish("keep me")
        jar, csrf = self.login()
        for extra in ([], ["-H", "X-CSRF-Token: " + "0" * 64], ["-H", "X-CSRF-Token: bogus"]):
            status, _, body = curl(self.url + "/api/delete", "-b", jar, "-d", "id=%d" % mid, *extra)
            self.assertEqual(status, 403, body)
        status, _, body = curl(self.url + "/api/send", "-b", jar, "-F", "to=" + ALICE, "-F", "subject=x")
        self.assertEqual(status, 403)
        _, _, body = curl(self.url + "/api/messages", "-b", jar)
        self.assertIn(mid, [m["id"] for m in jbody(body)["messages"]])
        status, _, _ = curl(self.url + "/api/delete", "-b", jar, "-H", "X-CSRF-Token: " + csrf,
                            "-d", "id=%d" % mid)
        self.assertEqual(status, 200)
        status, _, _ = curl(self.url + "/api/delete", "-b", jar, "-H", "X-CSRF-Token: " + csrf,
                            "-d", "id=%d" % mid)
        self.assertEqual(status, 404)

    def test_bad_ids_give_400_unknown_404(self):
        jar, csrf = self.login()
        for arg in ("", "id=", "id=abc", "id=-1", "id=01", "id=1e3", "id=99999999999999999999", "id=1%20", "id=%2B1"):
            status, _, _ = curl(self.url + "/api/message?" + arg, "-b", jar)
            self.assertEqual(status, 400, arg)
        status, _, _ = curl(self.url + "/api/message?id=987654", "-b", jar)
        self.assertEqual(status, 404)
        mid = self.publish("parts")
        for arg in ("", "&part=", "&part=x", "&part=-1", "&part=99999"):
            status, _, _ = curl(self.url + "/api/message/part?id=%d%s" % (mid, arg), "-b", jar)
            self.assertEqual(status, 400, arg)
        status, _, _ = curl(self.url + "/api/message/part?id=%d&part=7" % mid, "-b", jar)
        self.assertEqual(status, 404)
        status, _, _ = curl(self.url + "/api/message/html?id=%d&part=0" % mid, "-b", jar)
        self.assertEqual(status, 404)  # a text part is not HTML
        status, _, _ = curl(self.url + "/api/delete", "-b", jar, "-H", "X-CSRF-Token: " + csrf, "-d", "id=x")
        self.assertEqual(status, 400)

    def test_script_subject_is_escaped(self):
        mid = self.publish("<script>alert('x')</script> & co")
        jar, _ = self.login()
        _, _, body = curl(self.url + "/api/messages", "-b", jar)
        self.assertNotIn(b"<script>", body)
        self.assertIn(b"\\u003cscript\\u003e", body)
        _, _, body = curl(self.url + "/api/message?id=%d" % mid, "-b", jar)
        self.assertEqual(jbody(body)["subject"], "<script>alert('x')</script> & co")

    def test_attachment_download_is_byte_identical(self):
        data = os.urandom(70000) + b"\r\n\x00\r"
        path = os.path.join(self.tmp, "blob.bin")
        with open(path, "wb") as f:
            f.write(data)
        mid = self.publish("with attachment", "-a", path)
        jar, _ = self.login()
        _, _, body = curl(self.url + "/api/message?id=%d" % mid, "-b", jar)
        parts = jbody(body)["parts"]
        att = [p for p in parts if p["kind"] == "attachment"][0]
        self.assertEqual((att["filename"], att["size"]), ("blob.bin", len(data)))
        status, headers, got = curl(self.url + "/api/message/part?id=%d&part=%d" % (mid, att["index"]), "-b", jar)
        self.assertEqual(status, 200)
        self.assertEqual(got, data)
        self.assertEqual(headers["content-type"], "application/octet-stream")
        self.assertEqual(headers["content-disposition"], 'attachment; filename="blob.bin"')

    def test_html_part_is_served_sandboxed(self):
        raw = ("From: alice@demo.test\r\nTo: bob@demo.test\r\nSubject: html\r\nMIME-Version: 1.0\r\n"
               "Content-Type: text/html; charset=utf-8\r\n\r\n"
               "<p>hi</p><script>alert(1)</script><img src=\"http://remote.example/x.png\">\r\n")
        path = os.path.join(self.tmp, "html.eml")
        with open(path, "w") as f:
            f.write(raw)
        mid = int(self.pub("-t", BOB, "--raw", path).split("queued as ")[1].split()[0])
        jar, _ = self.login()
        _, _, body = curl(self.url + "/api/message?id=%d" % mid, "-b", jar)
        self.assertEqual(jbody(body)["parts"][0]["kind"], "html")
        status, headers, body = curl(self.url + "/api/message/html?id=%d&part=0" % mid, "-b", jar)
        self.assertEqual(status, 200)
        csp = headers["content-security-policy"]
        self.assertTrue(csp.startswith("sandbox;"), csp)
        self.assertIn("default-src 'none'", csp)
        self.assertNotIn("http:", csp)
        self.assertIn(b"<p>hi</p>", body)

    def test_send_gives_per_recipient_codes(self):
        jar, csrf = self.login(ALICE)
        status, _, body = curl(self.url + "/api/send", "-b", jar, "-H", "X-CSRF-Token: " + csrf,
                               "--form-string", "to=bob@demo.test, nobody@demo.test; bad address",
                               "-F", "subject=two", "-F", "body=hello")
        self.assertEqual(status, 200, body)
        result = jbody(body)
        replies = {r["address"]: r["reply"][:9] for r in result["recipients"]}
        self.assertEqual(replies["bob@demo.test"], "250 2.0.0")
        self.assertEqual(replies["nobody@demo.test"], "550 5.1.1")
        self.assertTrue(replies["bad"].startswith("501"), replies)
        for args in (["-F", "to="], ["-F", "subject=no recipient"], ["-F", "to=" + ",".join(["b@demo.test"] * 101)]):
            status, _, _ = curl(self.url + "/api/send", "-b", jar, "-H", "X-CSRF-Token: " + csrf, *args)
            self.assertEqual(status, 400, args)

    def test_subscribe_bad_input(self):
        jar, csrf = self.login()
        token = ["-H", "X-CSRF-Token: " + csrf]
        status, _, _ = curl(self.url + "/api/subscribe", "-b", jar, *token, "-d", "list=")
        self.assertEqual(status, 400)
        status, _, body = curl(self.url + "/api/subscribe", "-b", jar, *token, "-d", "list=nolist@demo.test")
        self.assertEqual(status, 422)
        self.assertIn("550", jbody(body)["error"])
        status, _, body = curl(self.url + "/api/unsubscribe", "-b", jar, *token, "-d", "list=nolist@demo.test")
        self.assertEqual(status, 422)

    def test_logout_ends_the_session(self):
        jar, csrf = self.login()
        status, headers, _ = curl(self.url + "/api/logout", "-b", jar, "-c", jar, "-H", "X-CSRF-Token: " + csrf,
                                  "-X", "POST")
        self.assertEqual(status, 200)
        self.assertIn("Max-Age=0", headers["set-cookie"])
        with open(jar) as f:
            token = [line.split()[-1] for line in f if "mbweb" in line]
        status, _, _ = curl(self.url + "/api/messages", "-H", "Cookie: mbweb=" + (token[0] if token else ""))
        self.assertEqual(status, 401)

    def test_dashboard_counts_equal_sqlite(self):
        self.publish("count me", to=CAROL)
        _, _, body = curl(self.url + "/api/dashboard")
        data = jbody(body)
        rows = self.broker.sql("SELECT mailbox, waiting, bytes FROM queue")
        shown = [(m["address"], m["waiting"], m["bytes"]) for m in data["mailboxes"]]
        # the broker may have delivered since: both read in one go, compare what did not move
        self.assertEqual(sorted(shown), sorted(rows))
        for key in ("lists", "members", "outbound", "leases", "history", "recent"):
            self.assertIsInstance(data[key], list)

    def test_dashboard_feed_streams_a_delivery(self):
        wanted = (b"event: delivery", b"streamed \\u003cb\\u003elive", b"event: counters")
        with subprocess.Popen(["curl", "-s", "-N", "--max-time", "30", self.url + "/api/dashboard/events"],
                              stdout=subprocess.PIPE) as stream:
            try:
                # the stream's first line says it is open: what it shows starts there
                self.assertEqual(stream.stdout.readline(), b": mailbus-web\n")
                self.publish("streamed <b>live</b>", to=CAROL)
                out = b""
                while not all(w in out for w in wanted):
                    line = stream.stdout.readline()
                    if not line:
                        break  # curl gave up: its --max-time is the deadline
                    out += line
            finally:
                stream.kill()
        for w in wanted:
            self.assertIn(w, out)

    # what needs a mailbus-web of its own (small limits, a password, a missing database), on
    # the same broker: a broker's first start hashes the demo passwords, which takes seconds

    def second(self, *args, db=None, tls=False):
        web = Web(self.tmp, self.broker, list(args), tls=tls)
        if db:
            web.extra_args += ["--db", db]
        self.addCleanup(web.stop)
        return web.start()

    def test_login_throttle_blocks_and_says_when(self):
        web = self.second("--max-login-failures", "3", "--login-block", "30")
        for _ in range(3):
            status, _, _ = curl(web.url + "/api/login", "-d", "address=carol@demo.test&password=bad")
            self.assertEqual(status, 401)
        status, headers, body = curl(web.url + "/api/login", "-d", "address=carol@demo.test&password=demo")
        self.assertEqual(status, 429, body)
        self.assertTrue(1 <= int(headers["retry-after"]) <= 30)

    def test_upload_beyond_the_message_limit_gives_413(self):
        web = self.second("--max-message-size", "4096")
        status, _, body = curl(web.url + "/api/login", "-d", "address=alice@demo.test&password=demo",
                               "-c", os.path.join(self.tmp, "jar413"))
        csrf = jbody(body)["csrf"]
        big = os.path.join(self.tmp, "big.bin")
        with open(big, "wb") as f:
            f.write(os.urandom(200 * 1024))
        status, _, body = curl(web.url + "/api/send", "-b", os.path.join(self.tmp, "jar413"),
                               "-H", "X-CSRF-Token: " + csrf, "-F", "to=bob@demo.test", "-F", "attachment=@" + big)
        self.assertEqual(status, 413, body)
        mid = os.path.join(self.tmp, "mid.bin")
        with open(mid, "wb") as f:
            f.write(os.urandom(4000))  # fits the upload, but base64 makes the message too big
        status, _, body = curl(web.url + "/api/send", "-b", os.path.join(self.tmp, "jar413"),
                               "-H", "X-CSRF-Token: " + csrf, "-F", "to=bob@demo.test", "-F", "attachment=@" + mid)
        self.assertEqual(status, 413, body)
        self.assertIn("552 5.3.4", jbody(body)["error"])

    def test_an_endless_chunked_upload_is_cut_off(self):
        """A chunked POST announces no length: it is read and thrown away up to 1 MiB past the
        limit, then the connection is closed (logged upload-cut); the server goes on serving"""
        web = self.second("--max-message-size", "4096")
        host, port = web.url.split("//")[1].split(":")
        sock = socket.create_connection((host, int(port)), timeout=10)
        sock.sendall(b"POST /api/login HTTP/1.1\r\nHost: %s:%s\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n\r\n" % (host.encode(), port.encode()))
        chunk = b"%x\r\n%s\r\n" % (65536, b"a" * 65536)
        sent, cut = 0, False
        try:
            while sent < 8 * 1024 * 1024:
                sock.sendall(chunk)
                sent += 65536
        except OSError:
            cut = True
        if not cut:  # everything went into buffers: the close shows as an end of the answer
            sock.settimeout(10)
            try:
                cut = sock.recv(4096) == b""
            except OSError:
                cut = True
        sock.close()
        self.assertTrue(cut, "8 MiB of chunked upload were taken")
        self.assertLess(sent, 6 * 1024 * 1024)
        wait_for(lambda: "upload-cut" in web.log(), 10, "the cut logged")
        self.assertEqual(curl(web.url + "/api/login", "-d", "address=bob@demo.test&password=demo")[0], 200)

    def test_dashboard_password(self):
        web = self.second("--dashboard-password", "s3cret-dash")
        for args in ([], ["-u", "admin:wrong"], ["-u", "root:s3cret-dash"]):
            status, headers, _ = curl(web.url + "/api/dashboard", *args)
            self.assertEqual(status, 401, args)
            self.assertIn("Basic", headers["www-authenticate"])
        status, _, _ = curl(web.url + "/api/dashboard", "-u", "admin:s3cret-dash")
        self.assertEqual(status, 200)
        self.assertNotIn("s3cret-dash", web.log())

    def test_dashboard_without_database_gives_503(self):
        web = self.second(db=os.path.join(self.tmp, "missing.db"))
        status, _, body = curl(web.url + "/api/dashboard")
        self.assertEqual(status, 503)
        self.assertIn("database", jbody(body)["error"])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "missing.db")))

    def test_command_line(self):
        rc, out, _ = run([WEB, "--help"])
        self.assertEqual(rc, 0)
        for option in ("--listen", "--broker", "--db", "--tls-cert", "--dashboard-password", "--max-message-size"):
            self.assertIn(option, out)
        rc, _, err = run([WEB, "--listen", "0.0.0.0:18099"])
        self.assertEqual(rc, 64)
        self.assertIn("beyond loopback", err)
        rc, _, err = run([WEB, "--listen", "nonsense"])
        self.assertEqual(rc, 64)
        rc, _, err = run([WEB, "--tls-cert", "x.pem"])
        self.assertEqual(rc, 64)

    def tls_pair(self):
        cert, key = os.path.join(self.tmp, "web-cert.pem"), os.path.join(self.tmp, "web-key.pem")
        if not os.path.exists(key):
            rc, _, err = run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                              "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert])
            self.assertEqual(rc, 0, err)
        return cert, key

    def test_the_dashboard_beyond_loopback_needs_its_password(self):
        # two real hosts (network namespaces): mailbus-web on A's address with TLS, curl on B
        cert, key = self.tls_pair()
        with NetnsPair() as net:
            port = 18443
            log = open(os.path.join(self.tmp, "web-netns.log"), "ab")
            self.addCleanup(log.close)

            def serve(*extra):
                net.popen_a([WEB, "--listen", "%s:%d" % (net.a_ip, port), "--tls-cert", cert, "--tls-key", key,
                             "--db", self.broker.db] + list(extra), stdout=log, stderr=log)

            def code(path, *args):  # 30 s: a TLS handshake on a loaded machine (under ASan too)
                r = net.run_b(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30"]
                              + list(args) + ["https://%s:%d%s" % (net.a_ip, port, path)],
                              capture_output=True, text=True, timeout=60)
                return r.stdout

            serve()
            wait_for(lambda: code("/static/style.css") == "200", 30, "mailbus-web on host A")
            self.assertEqual(code("/api/dashboard"), "403")
            self.assertEqual(code("/dashboard"), "403")
            self.assertEqual(code("/"), "200")  # webmail's page is for everyone
            for proc in net.processes:
                proc.terminate()
                proc.wait(10)
            net.processes = []
            serve("--dashboard-password", "far-away")
            wait_for(lambda: code("/static/style.css") == "200", 30, "mailbus-web on host A again")
            self.assertEqual(code("/api/dashboard"), "401")
            self.assertEqual(code("/api/dashboard", "-u", "admin:wrong"), "401")
            self.assertEqual(code("/api/dashboard", "-u", "admin:far-away"), "200")

    def test_https_serves_a_secure_cookie_and_no_clear_text(self):
        cert, key = self.tls_pair()
        web = self.second("--tls-cert", cert, "--tls-key", key, tls=True)
        status, headers, body = curl(web.url + "/api/login", "--cacert", cert,
                                     "-d", "address=bob@demo.test&password=demo")
        self.assertEqual(status, 200, body)
        cookie = headers["set-cookie"]
        for flag in ("Secure", "HttpOnly", "SameSite=Strict"):
            self.assertIn(flag, cookie)
        # the same port in clear text answers no page (and no cookie)
        p = subprocess.run(["curl", "-s", "-i", "--max-time", "10", "http://127.0.0.1:%d/api/login" % web.port,
                            "-d", "address=bob@demo.test&password=demo"], stdout=subprocess.PIPE, timeout=30)
        self.assertNotIn(b"Set-Cookie", p.stdout)
        self.assertFalse(p.stdout.startswith(b"HTTP/1.1 200"), p.stdout[:200])
        # a bad key file is refused at start with a clear error
        rc, _, err = run([WEB, "--listen", "127.0.0.1:%d" % web.port, "--tls-cert", cert, "--tls-key", cert])
        self.assertNotEqual(rc, 0)

    def test_a_method_with_control_bytes_reaches_the_log_quoted(self):
        import socket
        for method in (b"G\x1bE\"T", b"P\x7fOST"):
            with socket.create_connection(("127.0.0.1", self.web.port), timeout=10) as s:
                s.sendall(method + b" /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 4"))
        log = self.web.log()
        self.assertNotIn("\x1b", log)
        self.assertNotIn("\x7f", log)

    def test_an_idle_session_expires(self):
        web = self.second("--session-idle", "10")
        jar = os.path.join(self.tmp, "jar-idle")
        status, _, body = curl(web.url + "/api/login", "-c", jar, "-d", "address=bob@demo.test&password=demo")
        self.assertEqual(status, 200, body)
        self.assertEqual(curl(web.url + "/api/messages", "-b", jar)[0], 200)
        time.sleep(11.5)
        status, _, body = curl(web.url + "/api/messages", "-b", jar)
        self.assertEqual(status, 401, body)

    def test_zz_a_session_keeps_the_ticket_not_the_password(self):
        """A webmail session keeps the broker's resumption ticket, not the user's password: after a
        broker restart it identifies again with the ticket; once the ticket has expired nothing else
        is tried (there is no password to try) and the session ends: 401, log in again"""
        # 20 s of ticket (stamped in whole seconds at the login): room for a restart and the RESUME
        # on a loaded machine; the second half of the test sleeps out the rest of it
        lifetime = 20
        self.broker.terminate()
        self.broker.start(extra_args=["--ticket-lifetime", str(lifetime)])
        try:
            web = self.second()  # the default --timeout: the broker's answers are slow on a loaded machine
            jar = os.path.join(self.tmp, "jar-ticket")
            status, _, body = curl(web.url + "/api/login", "-c", jar, "-d", "address=bob@demo.test&password=demo")
            self.assertEqual(status, 200, body)
            started = time.monotonic()  # the ticket was stamped before this
            self.broker.restart()
            self.assertEqual(curl(web.url + "/api/messages", "-b", jar)[0], 200,
                             "RESUME after a restart, %.1f s after the login" % (time.monotonic() - started))
            time.sleep(max(0.0, lifetime + 0.5 - (time.monotonic() - started)))
            self.broker.restart()
            status, _, body = curl(web.url + "/api/messages", "-b", jar)
            self.assertEqual(status, 401, body)
            self.assertEqual(curl(web.url + "/api/messages", "-b", jar)[0], 401, "the session is gone")
            self.assertIn("then=none", web.log())
            self.assertIn("ticket expired", self.broker.log())
        finally:
            self.broker.terminate()
            self.broker.start(extra_args=[])

    def test_zz_broker_down_gives_503_then_recovers(self):
        web = self.second("--timeout", "1500")  # a broker-down answer within 1.5 s

        def login():
            return curl(web.url + "/api/login", "-c", jar, "-d", "address=bob@demo.test&password=demo")[0] == 200
        jar = os.path.join(self.tmp, "jar-down")
        wait_for(login, 60, "a login through a web with a short timeout")
        self.broker.terminate()
        status, _, body = curl(web.url + "/api/messages", "-b", jar)
        self.assertEqual(status, 503, body)
        self.assertIn("broker", jbody(body)["error"])
        status, _, body = curl(web.url + "/api/login", "-d", "address=bob@demo.test&password=demo")
        self.assertEqual(status, 503, body)
        self.broker.start()
        wait_for(lambda: curl(web.url + "/api/messages", "-b", jar)[0] == 200, 60, "webmail back by itself")

if __name__ == "__main__":
    unittest.main()
