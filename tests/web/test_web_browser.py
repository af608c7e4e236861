"""mailbus-web in a real headless Chromium (Debian's chromium + chromium-driver, driven by
python3-selenium) against a real broker and mailbus-web: the dashboard's live feed and counts,
and webmail — log in, new mail appears without reload, open, download the attachment byte for
byte, delete, compose with an attachment to a list, subscribe — an XSS subject shown as text,
and a POST without the CSRF token refused. Skipped, saying why, when chromium is absent.

Screenshots of the dashboard and the inbox go to BUILD/web-screenshots/; with
MAILBUS_UPDATE_SCREENSHOT=1 the dashboard's is also written to docs/web-dashboard.png (the
README's picture).
"""
import os
import shutil
import unittest

from mailbus_test.broker import ALICE, BOB, CAROL, DEMO_PASSWORD
from mailbus_test.process import BUILD, ROOT, wait_for
from mailbus_test.web import WebCase

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
except ImportError:  # pragma: no cover - the skip below says what is missing
    webdriver = None

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
WHY_SKIP = ("needs python3-selenium, chromium and chromium-driver (bash .ci/install --test)"
            if not (webdriver and CHROMIUM and DRIVER) else None)
SHOTS = os.path.join(BUILD, "web-screenshots")


@unittest.skipIf(WHY_SKIP, WHY_SKIP)
class BrowserTest(WebCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=1280,1000", "--no-first-run", "--disable-extensions"):
            options.add_argument(arg)
        cls.downloads = os.path.join(cls.tmp, "downloads")
        os.makedirs(cls.downloads)
        options.add_experimental_option("prefs", {"download.default_directory": cls.downloads,
                                                  "download.prompt_for_download": False})
        try:
            cls.driver = webdriver.Chrome(service=Service(DRIVER), options=options)
        except BaseException:
            super().tearDownClass()
            raise
        cls.driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": cls.downloads})
        os.makedirs(SHOTS, exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        super().tearDownClass()

    def find(self, id_):
        return self.driver.find_element(By.ID, id_)

    # 30 s: most of what a page shows waits on the broker (an fsync, a login) on a loaded machine
    def wait_text(self, id_, text, timeout=30.0):
        return wait_for(lambda: text in self.find(id_).text, timeout, "%r in #%s" % (text, id_), 0.05)

    def no_alert(self):
        try:
            self.driver.switch_to.alert
        except NoAlertPresentException:
            return True
        return False

    def test_dashboard_live_feed_and_counts(self):
        d = self.driver
        # the page's own refresh (every 5 s) fills the feed only while it is empty: with a delivery
        # already in it, a new one can come only by the live stream, however long the machine takes
        self.pub("-t", CAROL, "-s", "before the page", "-m", "for the class")
        d.get(self.url + "/dashboard")
        self.wait_text("mailboxes", BOB)
        wait_for(lambda: self.find("feed").find_elements(By.TAG_NAME, "li"), 30, "a delivery in the feed", 0.05)
        wait_for(lambda: "on" in self.find("live").get_attribute("class"), 30, "the live feed to open", 0.05)
        self.pub("-t", CAROL, "-s", "projector <b>hello</b>", "-m", "for the class")
        self.wait_text("feed", "projector <b>hello</b>")
        self.assertTrue(self.no_alert())

        def rows_match():
            rows = dict(d.execute_script(
                "return Array.from(document.querySelectorAll('#mailboxes tr'))"
                ".map((tr) => [tr.cells[0].textContent, tr.cells[1].textContent]);"))
            want = {m: str(n) for m, n in self.broker.sql("SELECT mailbox, waiting FROM queue")}
            return rows == want
        wait_for(rows_match, 30, "the dashboard's counts to equal sqlite3's", 0.1)
        d.save_screenshot(os.path.join(SHOTS, "dashboard.png"))
        if os.environ.get("MAILBUS_UPDATE_SCREENSHOT"):
            d.save_screenshot(os.path.join(ROOT, "docs", "web-dashboard.png"))

    def login_in_browser(self, user):
        d = self.driver
        d.get(self.url + "/")
        wait_for(lambda: self.find("login-view").is_displayed() or self.find("mail-view").is_displayed(), 10,
                 "the page", 0.05)
        if self.find("mail-view").is_displayed():
            self.find("logout").click()
            wait_for(lambda: self.find("login-view").is_displayed(), 10, "logged out", 0.05)
        self.find("login-address").send_keys(user)
        self.find("login-password").send_keys(DEMO_PASSWORD)
        self.find("login-submit").click()
        wait_for(lambda: self.find("mail-view").is_displayed(), 30, "the inbox", 0.05)
        wait_for(lambda: "on" in self.find("live").get_attribute("class"), 30, "the inbox's live stream", 0.05)

    def test_webmail_read_download_delete_compose(self):
        d = self.driver
        self.login_in_browser(BOB)
        data = os.urandom(5000) + b"\x00\r\n"
        path = os.path.join(self.tmp, "notes.bin")
        with open(path, "wb") as f:
            f.write(data)
        subject = "<script>alert('xss')</script> lunch?"
        self.pub("-t", BOB, "-s", subject, "-a", path, "-m", "see the notes")
        # the page does not poll: only the live stream's event reloads the open inbox
        wait_for(lambda: subject in self.find("inbox").text, 30, "the new message in the open inbox", 0.05)
        self.assertTrue(self.no_alert())
        d.save_screenshot(os.path.join(SHOTS, "inbox.png"))
        row = [r for r in self.find("inbox").find_elements(By.TAG_NAME, "tr") if subject in r.text][0]
        row.click()
        self.wait_text("message-subject", subject)
        self.assertEqual(self.find("message-text").text.strip(), "see the notes")
        self.assertTrue(self.no_alert())
        self.find("attachments").find_element(By.TAG_NAME, "a").click()
        target = os.path.join(self.downloads, "notes.bin")
        wait_for(lambda: os.path.exists(target) and os.path.getsize(target) == len(data), 15, "the download", 0.1)
        with open(target, "rb") as f:
            self.assertEqual(f.read(), data)
        self.find("delete-button").click()
        wait_for(lambda: subject not in self.find("inbox").text, 30, "the message gone", 0.05)
        left = self.broker.sql("SELECT count(*) FROM inbox WHERE mailbox = ? AND subject = ?", (BOB, subject))
        self.assertEqual(left, [(0,)])

    def test_compose_to_a_list_and_subscribe(self):
        self.assertEqual(self.broker.admin("list", "add", "class@demo.test", "--posting", "anyone")[0], 0)
        rc, out, err = self.sub("subscribe", "class@demo.test", user=CAROL)
        self.assertEqual(rc, 0, out + err)
        self.login_in_browser(ALICE)
        self.find("list-address").send_keys("class@demo.test")
        self.find("list-subscribe").click()
        self.wait_text("list-result", "250")
        path = os.path.join(self.tmp, "slides.txt")
        with open(path, "wb") as f:
            f.write(b"slide 1\r\nslide 2\r\n")
        self.find("compose-to").send_keys("class@demo.test, nobody@demo.test")
        self.find("compose-subject").send_keys("slides for today")
        self.find("compose-body").send_keys("attached")
        self.find("compose-files").send_keys(path)
        self.find("compose-send").click()
        self.wait_text("send-results", "nobody@demo.test: 550 5.1.1")
        self.assertIn("class@demo.test: 250 2.0.0", self.find("send-results").text)
        rc, out, err = self.sub("list", user=CAROL)
        self.assertEqual(rc, 0, err)
        self.assertIn("slides for today", out)
        wait_for(lambda: "slides for today" in self.find("inbox").text, 30, "alice's own copy", 0.05)

    def test_post_without_csrf_token_is_refused(self):
        self.login_in_browser(BOB)
        status = self.driver.execute_async_script(
            "const done = arguments[0];"
            "fetch('/api/delete', {method: 'POST', body: new URLSearchParams({id: '1'})})"
            ".then((r) => done(r.status));")
        self.assertEqual(status, 403)
        cookie = self.driver.execute_script("return document.cookie")
        self.assertNotIn("mbweb", cookie)  # HttpOnly: no script can read the session


if __name__ == "__main__":
    unittest.main()
