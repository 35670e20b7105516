"""Real headless Chromium (Debian's chromium + chromedriver, driven by
python3-selenium) for the console tests.  Every wait is bounded; each
browser is its own profile (its own cookies), so a patient and a doctor
can be open at once.  Console messages are kept so that a test can assert
that the page logged no Content-Security-Policy violation."""
import os
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 20  # seconds any one expected thing may take
SHOTS = os.environ.get("IHOS_SCREENSHOTS") or os.path.join(os.path.dirname(__file__), "..", "..", "build",
                                                            "screenshots")


class Browser:
    def __init__(self, base_url, width=1280, height=900, mobile=False, args=()):
        self.base = base_url
        self.profile = tempfile.mkdtemp(prefix="ihos-chromium-")
        self.downloads = os.path.join(self.profile, "downloads")  # what the pages save
        os.makedirs(self.downloads)
        o = webdriver.ChromeOptions()
        o.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  "--no-first-run", "--disable-extensions", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--lang=zh-CN",
                  "--user-data-dir=" + self.profile, "--window-size=%d,%d" % (width, height)) + tuple(args):
            o.add_argument(a)
        if mobile:
            o.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": 390, "height": 844,
                                                                            "pixelRatio": 1}})
        o.add_experimental_option("prefs", {"download.default_directory": self.downloads,
                                            "download.prompt_for_download": False})
        o.accept_insecure_certs = True  # the instance's own self-signed certificate
        o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
        # the people using ihos are in the hospital's time zone (the demo's +08:00):
        # times on the screens and in screenshots show as they see them
        self.d.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Shanghai"})
        self.d.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": self.downloads})
        self.d.set_page_load_timeout(30)
        self.d.set_script_timeout(20)
        self.logs = []

    def quit(self):
        try:
            self.d.quit()
        except Exception:
            pass

    def open(self, path):
        self.d.get(self.base + path)

    # -- finding and acting --------------------------------------------------
    def find(self, css, timeout=WAIT, visible=True):
        cond = EC.visibility_of_element_located if visible else EC.presence_of_element_located
        try:
            return WebDriverWait(self.d, timeout).until(cond((By.CSS_SELECTOR, css)))
        except TimeoutException:
            raise AssertionError("no %s within %ss; page text: %s" % (css, timeout, self.text()[:1500]))

    def all(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def fill(self, form_css, **values):
        f = self.find(form_css)
        for name, v in values.items():
            el = f.find_element(By.NAME, name)
            if el.tag_name == "select":
                from selenium.webdriver.support.ui import Select
                Select(el).select_by_value(str(v))
            elif el.get_attribute("type") == "checkbox":
                if bool(v) != el.is_selected():
                    el.click()
            else:
                el.clear()
                el.send_keys(str(v))
        return f

    def submit(self, form_css, **values):
        f = self.fill(form_css, **values)
        self.click(f.find_element(By.CSS_SELECTOR, "button[type=submit]"))

    def click(self, el):
        """Click el in the middle of the viewport (the phone page's tab bar
        is fixed at the bottom)."""
        self.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
        el.click()

    def click_text(self, text, css="button, a", timeout=WAIT):
        end = time.time() + timeout
        while time.time() < end:
            for el in self.all(css):
                try:
                    # a disabled button (an action of the page's in flight) ignores the click
                    if el.is_displayed() and el.is_enabled() and el.text.strip() == text:
                        self.click(el)
                        return
                except Exception:
                    pass
            time.sleep(0.2)
        raise AssertionError("no %r to click; page text: %s" % (text, self.text()[:1500]))

    def click_in_row(self, rows_css, contains, button_css="button", timeout=WAIT):
        """Click the button in the first row holding `contains`.  A live update
        may redraw the table between finding the row and clicking: try again."""
        from selenium.common.exceptions import StaleElementReferenceException
        end = time.time() + timeout
        while time.time() < end:
            try:
                rows = [r for r in self.all(rows_css) if contains in r.text]
                if rows:
                    self.click(rows[0].find_element(By.CSS_SELECTOR, button_css))
                    return
            except StaleElementReferenceException:
                pass
            time.sleep(0.2)
        raise AssertionError("no row with %r in %s; page text: %s" % (contains, rows_css, self.text()[:1500]))

    def wait_text(self, text, css="body", timeout=WAIT):
        end = time.time() + timeout
        while time.time() < end:
            if text in self.text(css):
                return
            time.sleep(0.2)
        raise AssertionError("%r never appeared in %s; it shows: %s" % (text, css, self.text(css)[:2000]))

    def text(self, css="body"):
        try:
            return self.d.find_element(By.CSS_SELECTOR, css).text
        except Exception:
            return ""

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def js_async(self, script, *args):
        return self.d.execute_async_script(script, *args)

    def export_audit(self, timeout=WAIT):
        """On the audit screen: 导出查询结果, then 继续导出 for as long as the page
        offers it; the events of the files the browser saved, in order.  Each
        file must hold as many events as the page's note says."""
        import json
        for f in os.listdir(self.downloads):
            os.remove(os.path.join(self.downloads, f))
        self.click_text("导出查询结果")
        events, part = [], 1
        while True:
            path = os.path.join(self.downloads, "ihos-audit-%d.ndjson" % part)
            end = time.time() + timeout
            note = None
            while time.time() < end:
                el = self.all("#export-note")
                if el and el[0].get_attribute("data-part") == str(part) and os.path.exists(path):
                    note = el[0]
                    break
                time.sleep(0.2)
            if note is None:
                raise AssertionError("export %d never saved; it shows: %s; saved: %s"
                                     % (part, self.text("#audit-export"), os.listdir(self.downloads)))
            with open(path) as f:
                lines = f.read().splitlines()
            if len(lines) != int(note.get_attribute("data-count")):
                raise AssertionError("file %d holds %d events, the page says %s"
                                     % (part, len(lines), note.get_attribute("data-count")))
            events += [json.loads(x) for x in lines]
            if "继续导出" not in self.text("#audit-export"):
                return events
            self.click_text("继续导出")
            part += 1

    # -- evidence -------------------------------------------------------------
    def shot(self, name):
        """The whole page (not only the viewport) as SHOTS/name.png."""
        import base64
        os.makedirs(SHOTS, exist_ok=True)
        path = os.path.join(SHOTS, name + ".png")
        size = self.d.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        png = self.d.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 4000), "scale": 1}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(png["data"]))
        return path

    def console(self):
        self.logs += self.d.get_log("browser")
        return self.logs

    def csp_violations(self):
        return [e for e in self.console() if "Content Security Policy" in e.get("message", "")
                or "Content-Security-Policy" in e.get("message", "")]
