"""The web console in real headless Chromium (issue 16): each role's main
journey clicked through, live updates arriving without a reload, text
from the server shown as text, a CSRF attempt refused, the idle timeout
logging the browser out, and no CSP violation in any page.  Screenshots of
the main screens go to build/screenshots/ (docs/console.md shows them)."""
import datetime
import gzip
import json
import os
import re
import socket
import ssl
import time
import unittest

from tests.integration.harness import (Account, IhosTestCase, demo_accounts, id_number, initial_credentials,
                                       must_login, totp)

try:
    from tests.integration.browser import Browser
    HAVE_BROWSER = os.path.exists("/usr/bin/chromium") and os.path.exists("/usr/bin/chromedriver")
except ImportError:
    HAVE_BROWSER = False

XSS_NAME = "<img src=x onerror=alert(1)>王"
XSS_MSG = "<script>alert('x')</script>医生您好，<b>血压</b>偏高"


def ui_code(acct):
    """A code of the current step, not too close to its end: typing it in
    takes a moment, and the server takes codes one step either side only."""
    while True:
        t = time.time()
        step = int(t) // 30
        if t % 30 < 25 and step > acct.last_step:
            acct.last_step = step
            return totp(acct.secret, step)
        time.sleep(30 - t % 30 + 0.2)


def login_ui(b, acct, totp=True):
    b.submit(".login form", username=acct.username, password=acct.password,
             **({"totp": ui_code(acct)} if totp and acct.secret else {}))


def first_login_ui(b, acct, new_password):
    """Initial password → change it → enrol TOTP from the QR page → in."""
    login_ui(b, acct, totp=False)
    b.find("form [name=again]")
    b.shot("first-login-password")
    b.submit(".login form", new_password=new_password, again=new_password)
    acct.password = new_password
    secret = b.find("#totp-secret").text.strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    assert b.find("canvas.qr").size["width"] > 100
    b.shot("first-login-totp")
    acct.secret = secret
    b.submit(".login form", code=ui_code(acct))
    b.find("header #idle")


@unittest.skipUnless(HAVE_BROWSER, "needs Debian chromium and chromium-driver (scripts/deps.sh test)")
class ConsoleJourney(IhosTestCase):
    def setUp(self):
        super().setUp()
        self.browsers = []

    def tearDown(self):
        for b in self.browsers:
            b.quit()
        super().tearDown()

    def browser(self, **kw):
        b = Browser(self.base, **kw)
        self.browsers.append(b)
        return b

    def assertNoCsp(self):
        for b in self.browsers:
            self.assertEqual(b.csp_violations(), [])

    def test_clinical_journey(self):
        inst = self.instance(demo=True)
        inst.enable_sms()
        inst.start()
        self.base = "https://127.0.0.1:%d" % inst.port
        acc = demo_accounts(inst)

        # ---- a patient registers on the phone page: real name, consent, SMS code
        pat = self.browser(mobile=True)
        pat.open("/h5/")
        pat.click_text("实名注册")
        pat.find("#register form")
        phone = "13900002222"
        cert = id_number(birth="19800512", seq=321)
        pat.fill("#register form", username="web.patient", password="Web-Patient-Pass-2026!", name=XSS_NAME,
                 cert_no=cert, sex="1", phone=phone, privacy=True, agreement=True)
        pat.js("document.querySelector('#register [name=birth_date]').value = '1980-05-12'")
        pat.shot("h5-register")
        pat.click(pat.find("#register button[type=submit]"))
        pat.find("#register [name=code]")
        pat.submit("#register form", code=inst.last_code(phone, "register_code"))
        pat.wait_text("注册完成")
        me = Account("web.patient", "Web-Patient-Pass-2026!")
        login_ui(pat, me)
        pat.find("header #idle")
        # the name is shown as the text it is: no element was made of it
        pat.click_text("我的")
        self.assertEqual(pat.find("#my-name").text, XSS_NAME)
        self.assertEqual(pat.js("return document.querySelectorAll('#my-name *, img[src=x]').length"), 0)
        pat.shot("h5-profile")
        pat.submit("#profile-edit", allergies="青霉素过敏", address="天津市和平区示例路2号")
        pat.wait_text("青霉素过敏", "#profile dl")

        # ---- the doctor has the workbench open before the request arrives
        doc = self.browser()
        doc.open("/app/")
        login_ui(doc, acc["doctor01"])
        doc.find("#main")
        doc.wait_text("暂无待接诊的请求")
        doc.find("body.live", visible=False)

        # ---- the patient asks doctor01 for a follow-up
        pat.click_text("排班预约")
        pat.find("#schedule li")
        staff = must_login(inst, acc["doctor01"]).req("GET", "/api/v1/me/staff").json()
        pat.shot("h5-schedule")
        cards = [li for li in pat.all("#schedule li") if staff["name"] in li.text]
        self.assertTrue(cards, pat.text("#schedule"))
        pat.click(cards[0].find_element("css selector", "button"))
        pat.submit("#request form", kind="followup", complaint="高血压复诊，血压控制不佳 <b>x</b>",
                   first_diagnosis="2025-03 示例医院 原发性高血压", disease_history="高血压5年")
        pat.find("#visit")
        pat.wait_text("等待医生接诊")

        # it reaches the open queue live, with its response clock
        doc.wait_text("高血压复诊，血压控制不佳 <b>x</b>", "#main")
        self.assertRegex(doc.find(".clock").text, r"^\d\d:\d\d$|^\d+ 小时 \d\d 分$|已超时")
        doc.shot("doctor-queue")
        doc.click_text("查看并接诊")
        doc.submit("#accept", followup_confirmed=True)
        doc.find("#chat")
        pat.wait_text("问诊中", "#visit")  # the patient's page follows live

        # ---- chat both ways, arriving live, shown as text
        pat.submit("#send", body=XSS_MSG)
        pat.wait_text(XSS_MSG, "#chat")
        doc.wait_text(XSS_MSG, "#chat")
        self.assertEqual(doc.js("return document.querySelectorAll('#chat script, #chat b').length"), 0)
        doc.submit("#send", body="请继续服药，明早复测血压。")
        pat.wait_text("请继续服药，明早复测血压。", "#chat")
        pat.shot("h5-chat")

        # ---- a CSRF attempt: the session cookie without the token is refused
        r = doc.js_async("""const done = arguments[arguments.length - 1];
            fetch('/api/v1/me/password', {method: 'POST', credentials: 'same-origin',
                  headers: {'Content-Type': 'application/json'},
                  body: JSON.stringify({old_password: 'x', new_password: 'y'})})
              .then(r => r.json().then(j => done([r.status, j.error.code])))""")
        self.assertEqual(r, [403, "csrf_failed"])

        # ---- record with ICD search, prescription with drug search
        doc.find("#record-icd-q").send_keys("高血压")
        doc.click_text("I10.x00 原发性高血压", "#record-icd button")
        doc.fill("#record", chief_complaint="血压控制不佳", present_history="高血压5年，规律服药",
                 diagnosis="原发性高血压", opinion="继续用药，监测血压")
        doc.click(doc.find("#record button[type=submit]"))
        doc.wait_text("已签名", "#records")
        doc.find("#rx-icd-q").send_keys("高血压")
        doc.click_text("I10.x00 原发性高血压", "#rx-icd button")
        doc.find("#drug-q").send_keys("氨氯地平")
        doc.click(doc.find("#prescribe .pick button"))
        doc.submit("#item", dosage="5", dose_unit="mg", frequency="qd", route="1", days="7", quantity="1")
        doc.wait_text("苯磺酸氨氯地平片", "#prescribe .items")
        # the patient's allergy is in view before signing; a conflicting drug needs a reason
        self.assertIn("青霉素过敏", doc.text("#prescribe"))
        doc.find("#drug-q").send_keys("阿莫西林")
        doc.click(doc.find("#prescribe .pick button"))
        doc.submit("#item", dosage="0.5", dose_unit="g", frequency="tid", route="1", days="3", quantity="1")
        doc.wait_text("阿莫西林胶囊", "#prescribe .items")
        doc.click(doc.find("#rx-submit button[type=submit]"))
        doc.wait_text("过敏冲突", "#rx-submit")
        doc.fill("#rx-submit", override_reason="皮试阴性，既往青霉素过敏史不确切，已告知患者")
        doc.shot("doctor-visit")
        doc.click(doc.find("#rx-submit button[type=submit]"))
        doc.wait_text("待审核", "#visit-rx")

        # ---- pharmacist 1 reviews (the queue is live), pharmacist 2 dispenses after payment
        ph = self.browser()
        ph.open("/app/")
        login_ui(ph, acc["pharmacist01"])
        ph.find("#review-queue")
        ph.click_text("审核")
        ph.wait_text("医师电子签名", "#rx")
        self.assertIn("已签名", ph.find("#sig").text)
        ph.shot("pharmacist-review")
        ph.click(ph.find("#approve button"))
        ph.wait_text("审核通过", "#rx")
        doc.wait_text("审核通过", "#visit-rx")  # the doctor sees it live

        pat.wait_text("去支付", "#prescriptions")
        pat.click_text("去支付")
        order = pat.find(".pay-state").get_attribute("data-order")
        status, text = inst.channel_notify("paid", order)
        self.assertEqual(status, 200, text)
        # live: the channel's notification redraws the page, which says the prescription is paid
        pat.wait_text("已支付", "#prescriptions")
        self.assertNotIn("去支付", pat.text("#prescriptions"))

        ph2 = self.browser()
        ph2.open("/app/")
        login_ui(ph2, acc["pharmacist02"])
        ph2.click_text("发药", "nav a")
        ph2.wait_text("已支付", "#dispense-queue")  # the pharmacist sees it is paid (the list loads after its box)
        ph2.click_text("打开")
        ph2.submit("#dispense", delivery_type="0")
        ph2.wait_text("已发药", "#rx")
        ph2.shot("pharmacist-dispense")

        # ---- the doctor closes; the patient evaluates
        doc.click(doc.find("#close button"))
        doc.wait_text("已结束")
        pat.wait_text("评价与投诉")
        pat.submit("#evaluate form", satisfaction="5", score="9", text="医生很耐心")
        pat.wait_text("感谢您的评价")
        pat.shot("h5-evaluate")

        # ---- another doctor, in an emergency, finds her by ID number: break-glass
        other = self.browser()
        other.open("/app/")
        login_ui(other, acc["doctor05"])
        other.click_text("我的患者", "nav a")
        other.submit("#break-glass form", cert_no=id_number(birth="19660606", seq=901),
                     reason="患者急诊入院昏迷，需立即查看既往用药与过敏史")
        other.wait_text("No patient has this ID number", "#break-glass")  # a 404, audited
        other.submit("#break-glass form", cert_no=cert, reason="患者急诊入院昏迷，需立即查看既往用药与过敏史")
        other.wait_text("已授权访问患者", "#break-glass")
        self.assertNotIn("王", other.text("#break-glass"))
        other.shot("doctor-break-glass")
        self.assertNoCsp()

    def test_administrators(self):
        # more accounts than one page of the account list (500): the doctor's account
        # made below must still be found among them to register its practice data
        inst = self.instance(demo=True, demo_patients=490)
        inst.start()
        self.base = "https://127.0.0.1:%d" % inst.port
        creds = initial_credentials(inst)
        sysb, secb, audb = self.browser(), self.browser(), self.browser()
        for b, role in ((sysb, "sysadmin"), (secb, "secadmin"), (audb, "auditadmin")):
            b.open("/app/")
            first_login_ui(b, creds[role], "Strong-%s-Pass-2026!" % role.capitalize())
        # the system administrator creates a doctor's account …
        sysb.click_text("账号", "nav a")
        sysb.submit("#main form.form:not(.inline)", username="new.doctor", role="doctor")
        sysb.wait_text("一次性密码")
        sysb.shot("sysadmin-accounts")
        # … the security administrator activates it (the pending list is live)
        secb.find("#accounts")
        secb.wait_text("new.doctor", "#accounts")
        secb.click_in_row("#accounts tr", "new.doctor")
        secb.wait_text("没有符合条件的账号", "#accounts")  # the pending list is empty again
        secb.shot("secadmin-accounts")
        # … the system administrator registers the doctor's practice data …
        sysb.click_text("医务人员", "nav a")
        f = sysb.find("#staff-add form")
        opt = [o for o in f.find_elements("css selector", "[name=account_id] option") if "new.doctor" in o.text]
        self.assertTrue(opt, f.text)
        opt[0].click()
        sysb.fill("#staff-add form", name="钱新", cert_no=id_number(birth="19850101", seq=555), sex="1",
                  practice_no="P-WEB-0001", qualification_no="Q-WEB-0001", practice_years="10")
        sysb.js("document.querySelector('#staff-add [name=birth_date]').value = '1985-01-01'")
        sysb.click(f.find_element("css selector", "button[type=submit]"))
        sysb.wait_text("钱新", "#staff")
        sysb.shot("sysadmin-staff")
        # … the security administrator enables online care after checking it …
        secb.click_text("线上执业", "nav a")
        secb.wait_text("钱新", "#staff")
        self.assertIn("未开通", [tr.text for tr in secb.all("#staff tr") if "钱新" in tr.text][0])
        secb.click_in_row("#staff tr", "钱新")
        secb.wait_text("停止线上接诊", "#staff")
        # … and the doctor's shift is published
        sysb.click_text("排班", "nav a")
        f = sysb.find("#schedule-add form")
        opt = [o for o in f.find_elements("css selector", "[name=staff_id] option") if "钱新" in o.text]
        opt[0].click()
        day = (datetime.date.today() + datetime.timedelta(days=3)).isoformat()
        sysb.js("document.querySelector('#schedule-add [name=day]').value = arguments[0]", day)
        sysb.click(f.find_element("css selector", "button[type=submit]"))
        sysb.wait_text("钱新", "#schedules")
        self.assertIn(day, sysb.text("#schedules"))
        for screen in ("机构", "科室", "药品与编码"):
            sysb.click_text(screen, "nav a")
            sysb.find("#main .card")
            self.assertEqual([e.text for e in sysb.all("#main .err") if e.is_displayed()], [])
        sysb.click_text("备份", "nav a")
        sysb.find("#backups")
        before = len(sysb.all("#backups tbody tr"))
        sysb.click_text("立即备份")
        end = time.time() + 60
        while len(sysb.all("#backups tbody tr")) <= before and time.time() < end:
            time.sleep(0.5)
        self.assertEqual(len(sysb.all("#backups tbody tr")), before + 1, sysb.text("#main"))
        for screen in ("破窗复核", "统方审批", "安全告警"):
            secb.click_text(screen, "nav a")
            secb.find("#main .card")
            self.assertEqual([e.text for e in secb.all("#main .err") if e.is_displayed()], [])
        # 安全告警 opens on the incidents nobody has handled; 全部 shows every state
        self.assertEqual(secb.js("return document.querySelector('#incident-status').value"), "open")
        secb.js("document.querySelector('#incidents').dataset.drawn = 'before';"
                "const s = document.querySelector('#incident-status'); s.value = ''; s.dispatchEvent(new Event('change'))")
        secb.find("#incidents:not([data-drawn]) table, #incidents:not([data-drawn]) .empty")
        self.assertEqual(secb.js("return document.querySelector('#incident-status').value"), "")
        self.assertEqual([e.text for e in secb.all("#main .err") if e.is_displayed()], [])
        # the Level 3 self-check, run from the console (a long operation)
        secb.click_text("等保自查", "nav a")
        secb.click_text("运行自查")
        secb.wait_text("逐项结论", "#selfcheck", timeout=120)
        self.assertIn("8.1.4.3c", secb.text("#selfcheck"))
        self.assertIn("估算符合度", secb.text("#selfcheck"))
        self.assertEqual([e.text for e in secb.all("#main .err") if e.is_displayed()], [])
        # the audit administrator finds the activation, by name and role
        audb.submit("#audit form", actor_username=creds["secadmin"].username, action="account.activate")
        audb.wait_text("account.activate", "#audit table")
        self.assertIn("（安全管理员）", audb.text("#audit table"))
        audb.shot("auditadmin-search")
        audb.submit("#audit form", actor_username="nobody.at.all", action="account.activate")
        audb.wait_text("无匹配记录", "#audit")
        # every event, a page at a time (newest first), then the refusals alone, and their export
        def first_seq():  # the first row's 序号, None while the table is being redrawn
            try:
                return int(audb.all("#audit tbody tr")[0].text.split()[0])
            except Exception:
                return None
        audb.submit("#audit form", actor_username="", action="")
        audb.wait_text("下一页", "#audit")
        first = first_seq()
        audb.click_text("下一页", "#audit button")
        end = time.time() + 30
        while time.time() < end and first_seq() in (first, None):
            time.sleep(0.2)
        self.assertEqual(first_seq(), first - 200)
        bad = inst.request("POST", "/api/v1/sessions", body={"username": "no.such.user", "password": "Wrong-Pass-2026!"})
        self.assertEqual(bad.status, 401)  # a refused login: a failure in the journal
        audb.submit("#audit form", outcome="failure")
        audb.wait_text("失败", "#audit tbody")
        self.assertNotIn("成功", audb.text("#audit tbody"))
        # the export is the form's query: the refusals alone, every one of them
        failures = audb.export_audit()
        self.assertTrue(failures and all(e["outcome"] == "failure" for e in failures), failures[:3])
        # … and all of a journal longer than a page of the API (1,000 events, which an
        # export without a limit stopped at): a patient's reads, each one audited
        pat = must_login(inst, demo_accounts(inst)["patient001"])
        conn = inst.connection()
        for _ in range(1100):
            self.assertEqual(pat.req("GET", "/api/v1/me/patient", conn=conn).status, 200)
        conn.close()
        audb.submit("#audit form", outcome="")
        audb.wait_text("下一页", "#audit")
        every = audb.export_audit()
        seqs = [e["seq"] for e in every]
        self.assertGreater(len(seqs), 1100)
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] - len(seqs), -1)))  # newest first, none missing
        self.assertEqual(seqs[-1], 0)  # down to the journal's first event
        audb.click_text("验证审计日志")
        audb.wait_text("验证通过", "#main")
        audb.click_text("检查点", "nav a")
        audb.find("#main .card")
        # taking a permission from the auditor is proposed, then decided by another administrator
        secb.click_text("权限", "nav a")
        secb.click_in_row("#permissions tr", "audit.export")
        secb.wait_text("已提交审批", "#permissions")
        secb.shot("secadmin-permissions")
        sysb.click_text("审批", "nav a")
        sysb.wait_text("收回 审计管理员：audit.export", "#approvals")
        sysb.shot("sysadmin-approvals")
        sysb.click_text("批准", "#approvals button")
        sysb.wait_text("已批准", "#approvals")
        secb.click_text("权限", "nav a")
        end = time.time() + 20
        row = ""
        while time.time() < end and "授予 审计管理员" not in row:
            try:
                row = " ".join(tr.text for tr in secb.all("#permissions tr") if tr.text.startswith("audit.export"))
            except Exception:  # redrawn meanwhile
                row = ""
            time.sleep(0.2)
        self.assertIn("授予 审计管理员", row)
        self.assertNoCsp()


@unittest.skipUnless(HAVE_BROWSER, "needs Debian chromium and chromium-driver (scripts/deps.sh test)")
class ConsoleResync(IhosTestCase):
    def test_a_reopened_stream_redraws_what_was_missed(self):
        """A request sent while the doctor's page has no event stream (the
        server ended it after [web] stream_seconds; the browser reopens it
        3 s later) still reaches the open queue: the reopened stream makes
        the page redraw.  Without that the queue stays empty."""
        inst = self.instance(demo=True)
        inst.set_conf("web", "stream_seconds", "2")
        inst.start()
        acc = demo_accounts(inst)
        staff = must_login(inst, acc["doctor01"]).req("GET", "/api/v1/me/staff").json()["id"]
        shift = [x for x in inst.request("GET", "/api/v1/schedules").json()["schedules"]
                 if x["staff_id"] == staff and x["open"]][0]
        pat = must_login(inst, acc["patient001"])
        b = Browser("https://127.0.0.1:%d" % inst.port)
        try:
            b.open("/app/")
            login_ui(b, acc["doctor01"])
            b.wait_text("暂无待接诊的请求", "#main")
            b.find("body.live", visible=False)
            # the stream ends; the request is sent before the browser reopens it
            end = time.time() + 10
            while time.time() < end and b.js("return document.body.classList.contains('live')"):
                time.sleep(0.05)
            self.assertFalse(b.js("return document.body.classList.contains('live')"), "the stream never ended")
            r = pat.req("POST", "/api/v1/visits", {
                "kind": "followup", "schedule_id": shift["id"], "complaint": "断线期间的复诊请求",
                "first_diagnosis": "2025-03 示例医院 原发性高血压", "disease_history": "高血压5年"})
            self.assertEqual(r.status, 201, r.body)
            b.wait_text("断线期间的复诊请求", "#main", timeout=15)
            self.assertEqual(b.csp_violations(), [])
        finally:
            b.quit()


@unittest.skipUnless(HAVE_BROWSER, "needs Debian chromium and chromium-driver (scripts/deps.sh test)")
class ConsoleIdle(IhosTestCase):
    def test_idle_timeout_logs_the_browser_out(self):
        """The countdown runs on the page's clock: Chromium's virtual time
        moves it past [security] session_idle_minutes in a second of real
        time.  The page logs out (the server ends the session) and says why."""
        inst = self.instance(demo=True)
        inst.start()
        acc = demo_accounts(inst)
        b = Browser("https://127.0.0.1:%d" % inst.port)
        try:
            b.open("/app/")
            login_ui(b, acc["doctor01"])
            self.assertRegex(b.find("#idle").text, r"1[45]:\d\d 后无操作将自动退出")
            b.shot("doctor-idle-countdown")
            cookie = b.d.get_cookie("ihos_session")
            self.assertTrue(cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict", cookie)
            b.d.execute_cdp_cmd("Emulation.setVirtualTimePolicy", {"policy": "advance", "budget": 16 * 60 * 1000})
            b.wait_text("因超过 15 分钟未操作，已自动退出，请重新登录。", ".login")
            b.shot("idle-logged-out")
            status = b.js_async("const done = arguments[arguments.length - 1];"
                                "fetch('/api/v1/me').then(r => done(r.status))")
            self.assertEqual(status, 401)
            self.assertEqual(b.csp_violations(), [])
        finally:
            b.quit()
        # the server ended that session: its token is refused everywhere
        self.assertError(inst.request("GET", "/api/v1/me", token=cookie["value"]), 401, "unauthenticated")


class ConsoleServing(IhosTestCase):
    """What ihosd sends for the console and the live updates, over HTTPS."""

    def test_pages_assets_and_headers(self):
        inst = self.instance()
        inst.start()
        page = inst.request("GET", "/app/")
        self.assertEqual(page.status, 200)
        self.assertTrue(page.header("content-type").startswith("text/html"))
        csp = page.header("content-security-policy")
        self.assertIn("script-src 'self'", csp)
        self.assertIn("default-src 'self'", csp)
        self.assertNotIn("unsafe", csp)
        self.assertEqual(page.header("cache-control"), "no-store")
        html = page.body.decode()
        self.assertNotRegex(html, r"<script>|<style>| on\w+=")  # nothing inline
        # without a call system configured the pages may not ask for camera or microphone
        self.assertEqual(page.header("permissions-policy"), "camera=(), microphone=(), geolocation=()")
        assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)
        self.assertEqual(len(assets), 6, html)  # icon, style, ui.js, av.js, consult.js, app.js
        for a in assets:
            plain = inst.request("GET", a)
            self.assertEqual(plain.status, 200)
            self.assertEqual(plain.header("cache-control"), "public, max-age=31536000, immutable")
            self.assertIsNone(plain.header("content-encoding"))
            gz = inst.request("GET", a, headers={"Accept-Encoding": "br, gzip;q=0.8"})
            self.assertEqual(gz.header("content-encoding"), "gzip")
            self.assertEqual(gzip.decompress(gz.body), plain.body)
            self.assertLess(len(gz.body), len(plain.body))
            refused = inst.request("GET", a, headers={"Accept-Encoding": "gzip;q=0"})
            self.assertIsNone(refused.header("content-encoding"))
        self.assertIn("/assets/h5.", inst.request("GET", "/h5/").body.decode())
        for path, to in (("/app", "/app/"), ("/login", "/app/"), ("/admin", "/app/"), ("/h5", "/h5/")):
            r = inst.request("GET", path)
            self.assertEqual((r.status, r.header("location")), (302, to))
        self.assertError(inst.request("GET", "/assets/..%2fihos.conf"), 404, "not_found")
        self.assertError(inst.request("GET", "/assets/nope.js"), 404, "not_found")

    def test_live_updates(self):
        from tests.integration.test_care import Hospital
        inst = self.instance(demo=True)
        inst.start()
        h = Hospital(inst)
        self.assertError(inst.request("GET", "/api/v1/events"), 401, "unauthenticated")
        v = h.followup("patient042", "doctor03")
        doc = h.s("doctor03")

        def stream(token):
            c = inst.connection(timeout=10)
            c.request("GET", "/api/v1/events", headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
            return c, r

        def next_event(r):
            lines = []
            while not lines or lines[-1] != b"\n":
                line = r.fp.readline()
                if line.startswith(b":") or line.startswith(b"retry:") or (line == b"\n" and not lines):
                    continue
                lines.append(line)
            return lines

        c, r = stream(doc.token)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "text/event-stream; charset=utf-8")
        self.assertEqual(r.getheader("Cache-Control"), "no-store")
        self.assertIsNone(r.getheader("Content-Length"))
        self.assertEqual(r.fp.readline(), b"retry: 3000\n")
        # a doctor with no part in the visit hears nothing of it
        other = h.s("doctor05")
        oc, orr = stream(other.token)
        secret = "胸闷三天，夜间加重"
        self.assertEqual(h.s("patient042").req("POST", "/api/v1/visits/%d/messages" % v, {"body": secret}).status, 201)
        lines = next_event(r)
        self.assertEqual(lines, [b"event: message\n", ('data: {"visit":%d}\n' % v).encode(), b"\n"])
        self.assertNotIn(secret.encode(), b"".join(lines))
        # and the doctor's answer reaches the patient
        pc, pr = stream(h.s("patient042").token)
        self.assertEqual(doc.req("POST", "/api/v1/visits/%d/messages" % v, {"body": "请拍胸片"}).status, 201)
        self.assertEqual(next_event(pr), [b"event: message\n", ('data: {"visit":%d}\n' % v).encode(), b"\n"])
        self.assertEqual(next_event(r), [b"event: message\n", ('data: {"visit":%d}\n' % v).encode(), b"\n"])
        pc.close()
        orr.fp.raw._sock.settimeout(1.5)  # only the opening comment and nothing after it
        got = b""
        try:
            while True:
                chunk = orr.fp.readline()
                if not chunk:
                    break
                got += chunk
        except (socket.timeout, TimeoutError, ssl.SSLError, OSError):
            pass
        self.assertNotIn(b"event:", got)
        orr.close()
        oc.close()
        # at most [web] streams_per_account (4) per account
        more = [stream(doc.token) for _ in range(3)]
        self.assertTrue(all(x[1].status == 200 for x in more))
        # the payment channel's verified notification: the patient's screen hears of it at once
        pc, pr = stream(h.s("patient042").token)
        h.pay("patient042", v)
        self.assertEqual(next_event(pr), [b"event: visit\n", ('data: {"visit":%d}\n' % v).encode(), b"\n"])
        pr.close()
        pc.close()
        c5 = inst.connection()
        c5.request("GET", "/api/v1/events", headers={"Authorization": "Bearer " + doc.token})
        r5 = c5.getresponse()
        self.assertEqual(r5.status, 503)
        self.assertEqual(json.loads(r5.read())["error"]["code"], "busy")
        c5.close()
        self.assertIn("ihos_http_event_streams_open", inst.metrics())
        for x in more + [(c, r)]:
            x[1].close()
            x[0].close()
        # closed streams are given back: a new one opens
        deadline = time.time() + 10
        while time.time() < deadline:
            c6, r6 = stream(doc.token)
            r6.close()
            c6.close()
            if r6.status == 200:
                break
            time.sleep(0.3)
        self.assertEqual(r6.status, 200)
