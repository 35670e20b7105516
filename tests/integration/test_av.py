"""Audio-video calls on the hospital's two systems (issue 19): Debian's Janus
(system A) and coturn (system B) started in a network namespace this test
creates, ihosd in front of both.  The API tests check who gets credentials
and what Janus and coturn then accept; the browser test connects a doctor
and a patient with fake camera and microphone on A, on B relayed only, and
across Janus's death."""
import base64
import hashlib
import hmac
import json
import os
import ssl
import time
import unittest
import urllib.error
import urllib.request

from tests.integration.av_peer import HAVE_AV, AvPeers
from tests.integration.harness import IhosTestCase, setup_admins
from tests.integration.test_care import Hospital
from tests.integration.test_console import HAVE_BROWSER, login_ui
if HAVE_BROWSER:
    from tests.integration.browser import Browser


def av_instance(case, peers, janus=True, turn=True, name="inst"):
    inst = case.instance(name=name, demo=True)
    files = peers.write_secrets(inst.path("keys"))
    if janus:
        inst.set_conf("av", "janus_url", peers.janus_url)
        inst.set_conf("av", "janus_ca_file", peers.ca)
    if turn:
        inst.set_conf("av", "turn_urls", peers.turn_url)
    inst.set_conf("av", "health_seconds", "1")
    if janus:  # Janus (root in the test, in the namespace) writes here; ihosd seals and removes
        peers.rec_dir = os.path.join(case.tmp, "janus-rec")
        os.makedirs(peers.rec_dir, exist_ok=True)
        inst.set_conf("av", "recordings_dir", peers.rec_dir)
    del files
    return inst


class JanusClient:
    """Just enough of Janus's HTTP API to check what it accepts."""

    def __init__(self, peers, token):
        self.p, self.token, self.n = peers, token, 0

    def call(self, path, body):
        self.n += 1
        body = dict(body, transaction="t%d" % self.n, token=self.token)
        return self.p.janus_call(path, body)

    def session(self):
        r = self.call("", {"janus": "create"})
        if r["janus"] != "success":
            return r
        self.sid = r["data"]["id"]
        r = self.call("/%d" % self.sid, {"janus": "attach", "plugin": "janus.plugin.videoroom"})
        self.hid = r["data"]["id"]
        return r

    def message(self, body):
        """A videoroom request; join answers asynchronously, so the event is
        read from the session's long poll."""
        r = self.call("/%d/%d" % (self.sid, self.hid), {"janus": "message", "body": body})
        if r["janus"] == "ack":
            ctx = ssl.create_default_context(cafile=self.p.ca)
            deadline = time.time() + 10
            while time.time() < deadline:
                url = "%s/%d?maxev=1&token=%s" % (self.p.janus_url, self.sid, urllib.request.quote(self.token))
                ev = json.loads(urllib.request.urlopen(url, context=ctx, timeout=15).read())
                if ev.get("janus") == "event":
                    return ev["plugindata"]["data"]
            raise AssertionError("no event from Janus")
        return r.get("plugindata", {}).get("data", r)


@unittest.skipUnless(HAVE_AV, "janus and coturn are not installed")
class CallsApi(IhosTestCase):
    def setUp(self):
        super().setUp()
        self.av = AvPeers(self.tmp).start()
        self.addCleanup(self.av.stop)
        self.inst = av_instance(self, self.av)
        self.inst.start()
        self.h = Hospital(self.inst)

    def open_call(self, pat, doc):
        h = self.h
        visit = h.followup(pat, doc)
        r = h.s(doc).req("POST", "/api/v1/visits/%d/call" % visit)
        self.assertEqual(r.status, 201, r)
        return visit, r.json()

    def test_who_joins_and_what_janus_accepts(self):
        h, av = self.h, self.av
        pat, doc, other_doc, other_pat = "patient042", "doctor03", "doctor01", "patient007"
        visit = h.followup(pat, doc)
        # only the treating doctor opens a call
        self.assertError(h.s(pat).req("POST", "/api/v1/visits/%d/call" % visit), 403, "forbidden")
        self.assertError(h.s(other_doc).req("POST", "/api/v1/visits/%d/call" % visit), 403, "forbidden")
        r = h.s(doc).req("POST", "/api/v1/visits/%d/call" % visit)
        self.assertEqual(r.status, 201, r)
        call = r.json()
        self.assertEqual((call["system"], call["state"]), ("janus", "inviting"))
        for k in ("room", "pin", "room_secret"):
            self.assertNotIn(k, call)
        # opening again gives the same call
        self.assertEqual(h.s(doc).req("POST", "/api/v1/visits/%d/call" % visit).json()["id"], call["id"])
        cid = call["id"]
        # nobody joins before the patient consents
        self.assertError(h.s(doc).req("POST", "/api/v1/calls/%d/join" % cid), 409, "invalid_state")
        self.assertError(h.s(doc).req("POST", "/api/v1/calls/%d/consent" % cid, {"consent": True}), 403, "forbidden")
        self.assertError(h.s(pat).req("POST", "/api/v1/calls/%d/consent" % cid, {"consent": "yes"}), 400,
                         "invalid_field")
        r = h.s(pat).req("POST", "/api/v1/calls/%d/consent" % cid, {"consent": True, "recording": False})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["state"], "open")
        self.assertFalse(r.json()["recording_consent"])
        # outsiders get nothing
        self.assertError(h.s(other_doc).req("POST", "/api/v1/calls/%d/join" % cid), 403, "forbidden")
        self.assertError(h.s(other_pat).req("POST", "/api/v1/calls/%d/join" % cid), 403, "forbidden")
        self.assertError(h.s(other_pat).req("GET", "/api/v1/visits/%d/call" % visit), 403, "forbidden")
        gd = h.s(doc).req("POST", "/api/v1/calls/%d/join" % cid).json()
        gp = h.s(pat).req("POST", "/api/v1/calls/%d/join" % cid).json()
        self.assertEqual((gd["role"], gp["role"]), ("doctor", "patient"))
        self.assertEqual(gd["janus"]["room"], gp["janus"]["room"])
        self.assertEqual(gd["janus"]["pin"], gp["janus"]["pin"])
        self.assertEqual(gd["janus"]["url"], av.janus_url)
        # the token is Janus's signed format, ending when the call's credentials end
        exp = int(gd["janus"]["token"].split(",")[0])
        self.assertGreater(exp, time.time() + 240)
        self.assertLessEqual(exp, time.time() + 12 * 3600)
        # TURN REST credentials: EXPIRY:call-ID-ROLE, HMAC-SHA1 under coturn's secret
        ice = gp["ice_servers"][0]
        self.assertEqual(ice["urls"], [av.turn_url])
        self.assertEqual(ice["username"], "%d:call-%d-patient" % (exp, cid))
        self.assertEqual(ice["credential"], base64.b64encode(
            hmac.new(av.turn_secret.encode(), ice["username"].encode(), hashlib.sha1).digest()).decode())

        # Janus takes the doctor's token and the room's PIN ...
        jd = JanusClient(av, gd["janus"]["token"])
        self.assertEqual(jd.session()["janus"], "success")
        joined = jd.message({"request": "join", "ptype": "publisher", "room": gd["janus"]["room"],
                             "pin": gd["janus"]["pin"], "token": gd["janus"]["room_token"], "display": "doctor"})
        self.assertEqual(joined.get("videoroom"), "joined", joined)
        # each participant's admission is their own: the patient's is another, and none is refused
        self.assertNotEqual(gd["janus"]["room_token"], gp["janus"]["room_token"])
        # ... and refuses a wrong PIN, a subscriber without a publisher's private id, an expired token
        jp = JanusClient(av, gp["janus"]["token"])
        jp.session()
        wrong = jp.message({"request": "join", "ptype": "publisher", "room": gp["janus"]["room"], "pin": "00000000",
                            "token": gp["janus"]["room_token"]})
        self.assertEqual(wrong.get("error_code"), 433, wrong)
        # the right PIN without a participant's admission token does not publish either
        bare = jp.message({"request": "join", "ptype": "publisher", "room": gp["janus"]["room"],
                           "pin": gp["janus"]["pin"]})
        self.assertIn(bare.get("error_code"), (433, 428), bare)
        sub = jp.message({"request": "join", "ptype": "subscriber", "room": gp["janus"]["room"],
                          "pin": gp["janus"]["pin"], "feed": joined["id"]})
        self.assertIn(sub.get("error_code"), (433, 428), sub)
        late = JanusClient(av, av.token(int(time.time()) - 1)).call("", {"janus": "create"})
        self.assertEqual((late["janus"], late["error"]["code"]), ("error", 403))
        forged = JanusClient(av, gd["janus"]["token"].replace(str(exp), str(exp + 3600), 1)).call("", {"janus": "create"})
        self.assertEqual(forged["janus"], "error")
        # nobody may create rooms on Janus without ihosd's admin key
        r = jp.message({"request": "create", "room": 4242, "pin": "1"})
        self.assertEqual(r.get("error_code"), 429, r)

        # Janus dies: the patient's fallback moves the call to B, once
        av.kill_janus()
        r = h.s(pat).req("POST", "/api/v1/calls/%d/fallback" % cid)
        self.assertEqual(r.status, 200, r)
        b = r.json()
        self.assertEqual(b["system"], "p2p")
        self.assertNotIn("janus", b)
        self.assertTrue(b["relay_only"])
        self.assertEqual(b["ice_servers"][0]["urls"], [av.turn_url])
        self.assertEqual(h.s(doc).req("POST", "/api/v1/calls/%d/join" % cid).json()["system"], "p2p")
        self.assertEqual(h.s(doc).req("GET", "/api/v1/visits/%d/call" % visit).json()["call"]["switch_reason"],
                         "janus_down")
        # system B's signalling: each side reads only the other's
        self.assertError(h.s(doc).req("POST", "/api/v1/calls/%d/signals" % cid, {"kind": "offer"}), 400,
                         "invalid_field")
        self.assertError(h.s(doc).req("POST", "/api/v1/calls/%d/signals" % cid, {"kind": "ring", "data": "x"}), 400,
                         "invalid_field")
        r = h.s(doc).req("POST", "/api/v1/calls/%d/signals" % cid, {"kind": "offer", "data": "v=0\r\no=- 1 1 IN IP4 0\r\n"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(h.s(doc).req("GET", "/api/v1/calls/%d/signals" % cid).json()["signals"], [])
        sig = h.s(pat).req("GET", "/api/v1/calls/%d/signals" % cid).json()["signals"]
        self.assertEqual([(s["kind"], s["sender_role"], s["data"]) for s in sig],
                         [("offer", "doctor", "v=0\r\no=- 1 1 IN IP4 0\r\n")])
        self.assertEqual(h.s(pat).req("GET", "/api/v1/calls/%d/signals?after=%d" % (cid, sig[0]["id"])).json()["signals"], [])
        self.assertError(h.s(other_pat).req("GET", "/api/v1/calls/%d/signals" % cid), 403, "forbidden")
        # the doctor ends it; no more joining
        self.assertError(h.s(pat).req("POST", "/api/v1/calls/%d/end" % cid), 403, "forbidden")
        r = h.s(doc).req("POST", "/api/v1/calls/%d/end" % cid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["state"], "ended")
        self.assertTrue(r.json()["media_id"])
        self.assertError(h.s(pat).req("POST", "/api/v1/calls/%d/join" % cid), 409, "invalid_state")

        m = self.inst.metrics()
        self.assertIn("ihos_av_switches_total 1", m)
        self.assertIn('ihos_av_calls_total{system="janus"} 1', m)
        self.assertIn("ihos_av_janus_up 0", m)
        # the journal: every step, and each refusal
        audit = setup_admins(self.inst)["auditadmin"][1]
        ev = audit.req("GET", "/api/v1/audit/events?object_type=av_session&limit=200").json()["events"]
        acts = [(e["action"], e["actor_username"]) for e in ev if e["object_id"] == str(cid) and e["outcome"] == "success"]
        for want in (("call.open", doc), ("call.consent", pat), ("call.join", doc), ("call.join", pat),
                     ("call.switch", pat), ("call.signal", doc), ("call.end", doc)):
            self.assertIn(want, acts)
        # outsiders' attempts (and the doctor's consent for the patient) are access.denied on the call;
        # a join at the wrong time is a failed call.join
        denied = audit.req("GET", "/api/v1/audit/events?action=access.denied&object_type=av_session").json()["events"]
        self.assertEqual(sorted({e["actor_username"] for e in denied if e["object_id"] == str(cid)}),
                         sorted([doc, other_doc, other_pat]))
        early = audit.req("GET", "/api/v1/audit/events?action=call.join&outcome=failure").json()["events"]
        self.assertEqual(sorted(e["actor_username"] for e in early), sorted([doc, pat]))
        # nothing secret in the journal
        dump = json.dumps(ev)
        self.assertNotIn(gd["janus"]["pin"], dump)
        self.assertNotIn(gd["janus"]["token"].split(":")[1], dump)

    def test_closing_the_visit_ends_its_call(self):
        h, av = self.h, self.av
        pat, doc = "patient051", "doctor03"
        visit, call = self.open_call(pat, doc)
        cid = call["id"]
        self.assertEqual(h.s(pat).req("POST", "/api/v1/calls/%d/consent" % cid, {"consent": True}).status, 200)
        gd = h.s(doc).req("POST", "/api/v1/calls/%d/join" % cid).json()
        jd = JanusClient(av, gd["janus"]["token"])
        jd.session()
        joined = jd.message({"request": "join", "ptype": "publisher", "room": gd["janus"]["room"],
                             "pin": gd["janus"]["pin"], "token": gd["janus"]["room_token"], "display": "doctor"})
        self.assertEqual(joined.get("videoroom"), "joined", joined)
        self.assertTrue(jd.message({"request": "exists", "room": gd["janus"]["room"]})["exists"])

        self.assertEqual(h.s(doc).req("POST", "/api/v1/visits/%d/close" % visit).status, 200)
        c = h.s(doc).req("GET", "/api/v1/visits/%d/call" % visit).json()["call"]
        self.assertEqual(c["state"], "ended")
        self.assertTrue(c["media_id"])  # the call's media record, as when the doctor ends it
        # the room is gone from Janus, so whoever was still in it is out
        self.assertFalse(jd.message({"request": "exists", "room": gd["janus"]["room"]})["exists"])
        self.assertError(h.s(pat).req("POST", "/api/v1/calls/%d/join" % cid), 409, "invalid_state")

    def test_janus_down_new_calls_go_to_b(self):
        h, av = self.h, self.av
        av.kill_janus()
        deadline = time.time() + 15
        while "ihos_av_janus_up 0" not in self.inst.metrics():
            self.assertLess(time.time(), deadline, "the health check did not see Janus go")
            time.sleep(0.3)
        visit, call = self.open_call("patient042", "doctor03")
        self.assertEqual(call["system"], "p2p")
        # and back on A once Janus answers again (the next call)
        av.start_janus()
        av.wait_janus()
        deadline = time.time() + 15
        while "ihos_av_janus_up 1" not in self.inst.metrics():
            self.assertLess(time.time(), deadline, "the health check did not see Janus back")
            time.sleep(0.3)
        self.assertEqual(h.s("doctor03").req("POST", "/api/v1/calls/%d/end" % call["id"]).status, 200)
        r = h.s("doctor03").req("POST", "/api/v1/visits/%d/call" % visit)
        self.assertEqual((r.status, r.json()["system"]), (201, "janus"))

    def test_declined_and_unconfigured(self):
        # with Janus configured the console may use camera and microphone and reach Janus, nothing else
        page = self.inst.request("GET", "/app/")
        self.assertEqual(page.header("permissions-policy"), "camera=(self), microphone=(self), geolocation=()")
        self.assertIn("connect-src 'self' https://%s:8089;" % self.av.ip, page.header("content-security-policy"))
        self.assertEqual(self.inst.request("GET", "/healthz").header("permissions-policy"),
                         "camera=(), microphone=(), geolocation=()")
        h = self.h
        visit, call = self.open_call("patient042", "doctor03")
        r = h.s("patient042").req("POST", "/api/v1/calls/%d/consent" % call["id"], {"consent": False})
        self.assertEqual(r.json()["state"], "declined")
        self.assertError(h.s("doctor03").req("POST", "/api/v1/calls/%d/join" % call["id"]), 409, "invalid_state")
        self.assertError(h.s("patient042").req("POST", "/api/v1/calls/%d/consent" % call["id"], {"consent": True}),
                         409, "invalid_state")
        # Janus answers its health check but will not make the room (ihosd holds a wrong admin key):
        # the call goes to B at once, and says why
        bad = av_instance(self, self.av, name="badkey")
        with open(bad.path("keys", "janus-admin-key"), "w") as f:
            f.write("not-the-admin-key\n")
        bad.start()
        hb = Hospital(bad)
        v = hb.followup("patient042", "doctor03")
        r = hb.s("doctor03").req("POST", "/api/v1/visits/%d/call" % v)
        self.assertEqual(r.status, 201, r)
        self.assertEqual((r.json()["system"], r.json()["switch_reason"]), ("p2p", "janus_down"))
        self.assertIn("ihos_av_switches_total 1", bad.metrics())
        self.assertTrue([l for l in bad.log_lines if "av.room_failed" in l])
        # an instance with no call system: no calls, said plainly
        plain = self.instance(name="plain", demo=True)
        plain.start()
        hp = Hospital(plain)
        v = hp.followup("patient042", "doctor03")
        self.assertError(hp.s("doctor03").req("POST", "/api/v1/visits/%d/call" % v), 503, "unavailable")


FAKE_MEDIA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              "--autoplay-policy=no-user-gesture-required")


@unittest.skipUnless(HAVE_AV and HAVE_BROWSER, "needs janus, coturn, chromium and chromium-driver")
class CallsInBrowser(IhosTestCase):
    """A doctor (console) and a patient (H5), each in headless Chromium with a
    fake camera and microphone: invited, consented, connected on Janus with
    media both ways; Janus killed mid-call and both back on system B, relayed
    by coturn; ended by the doctor."""

    def setUp(self):
        super().setUp()
        self.av = AvPeers(self.tmp).start()
        self.addCleanup(self.av.stop)
        self.inst = av_instance(self, self.av)
        self.inst.start()
        self.h = Hospital(self.inst)

    def media(self, b):
        """The call card's line and what has been received: (system, state, audio bytes, video bytes, candidate)."""
        d = b.js("const s = document.querySelector('#call .av-status'); return s ? Object.assign({}, s.dataset) : {};")
        return (d.get("system"), d.get("state"), int(d.get("inAudio") or 0), int(d.get("inVideo") or 0),
                d.get("candidate"))

    def join(self, b):
        """Click 加入视频 until the page has started the call (its own camera
        shown): a live update's reload keeps the card's buttons disabled while
        it runs, and a click that lands in that moment does nothing."""
        deadline, last = time.time() + 45, 0
        while time.time() < deadline:
            if b.js("return !!document.querySelector('#call video.local');"):
                return
            if time.time() - last > 10:
                for el in b.all("#call button"):
                    try:
                        if el.is_displayed() and el.is_enabled() and el.text.strip() == "加入视频":
                            b.click(el)
                            last = time.time()
                            break
                    except Exception:
                        pass  # redrawn meanwhile: look again
            time.sleep(0.3)
        self.fail("the page did not join: %s" % b.text("#call"))

    def flowing(self, b, system, timeout=40):
        """Media arriving on `system`, and still arriving a moment later."""
        deadline = time.time() + timeout
        first = None
        while time.time() < deadline:
            m = self.media(b)
            if m[0] == system and m[1] == "connected" and m[2] > 0 and m[3] > 0:
                if first is None:
                    first = m
                elif m[2] > first[2] and m[3] > first[3]:
                    return m
            time.sleep(0.5)
        self.fail("no media both ways on %s; the card says %r: %s\nconsole: %s\ncoturn: %s" % (
            system, self.media(b), b.text("#call"), b.console()[-10:], self.av.log("coturn")[-1500:]))

    def test_call_on_a_then_b(self):
        h, pat, doc = self.h, "patient042", "doctor03"
        visit = h.followup(pat, doc)
        base = "https://127.0.0.1:%d" % self.inst.port
        d = Browser(base, args=FAKE_MEDIA)
        self.addCleanup(d.quit)
        p = Browser(base, mobile=True, args=FAKE_MEDIA)
        self.addCleanup(p.quit)
        d.open("/app/")
        login_ui(d, h.accts[doc])
        d.click_text("打开", "#main button")
        d.click_text("发起视频问诊", "#call button")
        d.wait_text("等待患者同意", "#call")
        p.open("/h5/")
        login_ui(p, h.accts[pat])
        p.click_in_row("#visits tbody tr", "问诊中", "button")
        p.wait_text("医生邀请您进行视频问诊", "#call")
        p.click_text("同意并加入", "#call button")
        p.wait_text("请先勾选同意视频问诊", "#call")  # no consent, no call
        p.find("#call input[name=consent]").click()
        p.find("#call input[name=recording]").click()  # and to the recording
        p.click_text("同意并加入", "#call button")
        self.join(d)  # the doctor's card redrew on the live event
        md, mp = self.flowing(d, "janus"), self.flowing(p, "janus")
        self.assertNotEqual(md[4], "relay")  # A: straight to Janus
        time.sleep(2)  # a little more for the recording
        d.shot("call-doctor-janus")
        p.shot("call-patient-janus")
        # Janus dies mid-call: both pages move to B, relayed by coturn only
        self.av.kill_janus()
        md, mp = self.flowing(d, "p2p", 60), self.flowing(p, "p2p", 60)
        self.assertEqual((md[4], mp[4]), ("relay", "relay"))
        d.shot("call-doctor-p2p")
        call = h.s(doc).req("GET", "/api/v1/visits/%d/call" % visit).json()["call"]
        self.assertEqual((call["system"], call["switch_reason"]), ("p2p", "janus_down"))
        # the doctor ends it; the patient's page stops too
        d.click_text("结束通话", "#call button")
        d.wait_text("已结束", "#call")
        p.wait_text("已结束", "#call")
        self.assertEqual(h.s(doc).req("GET", "/api/v1/visits/%d/call" % visit).json()["call"]["state"], "ended")
        self.assertEqual(d.csp_violations(), [])
        self.assertEqual(p.csp_violations(), [])
        self.check_recordings(visit, doc, "doctor01")

    def check_recordings(self, visit, doc, other):
        """What Janus recorded on A (both sides, audio and video) is in ihos
        sealed, gone from Janus's directory, and plays for the treating
        doctor only."""
        h = self.h
        deadline = time.time() + 60
        while True:
            call = h.s(doc).req("GET", "/api/v1/visits/%d/call" % visit).json()["call"]
            if call.get("recording") in ("stored", "failed", "none"):
                break
            self.assertLess(time.time(), deadline, "the recording was not stored: %r" % call)
            time.sleep(0.5)
        self.assertEqual(call["recording"], "stored", [l for l in self.inst.log_lines if "av.record" in l])
        recs = call["recordings"]
        self.assertEqual(sorted({(r["kind"], r["format"]) for r in recs}), [("audio", "opus"), ("video", "webm")])
        self.assertGreaterEqual(len(recs), 3)
        self.assertEqual([f for f in os.listdir(self.av.rec_dir) if f.endswith(".mjr")], [])
        stored = os.listdir(self.inst.path("recordings"))
        self.assertEqual(len(stored), len(recs))
        for f in stored:
            self.assertEqual(os.stat(self.inst.path("recordings", f)).st_mode & 0o777, 0o600)
            with open(self.inst.path("recordings", f), "rb") as fh:
                raw = fh.read()
            self.assertNotIn(b"OggS", raw)
            self.assertNotIn(b"\x1a\x45\xdf\xa3", raw)
        for r in recs:
            got = h.s(doc).req("GET", "/api/v1/recordings/%d" % r["id"])
            self.assertEqual(got.status, 200, got)
            self.assertEqual(hashlib.sha256(got.body).hexdigest(), r["sha256"])
            self.assertTrue(got.body.startswith(b"OggS" if r["kind"] == "audio" else b"\x1a\x45\xdf\xa3"))
        self.assertError(h.s(other).req("GET", "/api/v1/recordings/%d" % recs[0]["id"]), 403, "forbidden")
        self.assertError(h.s("patient042").req("GET", "/api/v1/recordings/%d" % recs[0]["id"]), 403, "forbidden")
        audit = setup_admins(self.inst)["auditadmin"][1]
        acts = [e["action"] for e in audit.req("GET", "/api/v1/audit/events?object_type=av_session&limit=300").json()["events"]]
        for a in ("call.record_start", "call.recording_stored", "call.recording_open"):
            self.assertIn(a, acts)


    def test_mdt_three_on_janus(self):
        """An MDT's video: the requester and two experts, each page receiving both others through Janus."""
        from tests.integration.test_consult import scheduled_consult
        h, doc = self.h, "doctor03"
        visit = h.followup("patient042", doc)
        cid, _ = scheduled_consult(h, setup_admins(self.inst)["sysadmin"][1], doc, visit, ["doctor01", "doctor04"], "mdt")
        base = "https://127.0.0.1:%d" % self.inst.port
        pages = {}
        for u in (doc, "doctor01", "doctor04"):
            b = Browser(base, width=1000, height=800, args=FAKE_MEDIA)
            self.addCleanup(b.quit)
            b.open("/app/")
            login_ui(b, h.accts[u])
            b.click_text("远程会诊", "nav a")
            b.click_text("打开", "#consults button")
            b.find("#call .av-status")
            pages[u] = b
        pages[doc].click_text("发起视频会诊", "#call button")
        for u, b in pages.items():
            self.join(b)
        for u, b in pages.items():
            self.flowing(b, "janus")
            deadline = time.time() + 45
            while time.time() < deadline:
                n = b.js("return [...document.querySelectorAll('#call video.remote')]"
                         ".filter(v => v.srcObject && v.videoWidth > 0).length;")
                if n == 2:
                    break
                time.sleep(0.5)
            if n != 2:  # what every page shows, for the record
                seen = "; ".join("%s: %s %s" % (p, q.js(
                    "return JSON.stringify([...document.querySelectorAll('#call video')].map(v => "
                    "[v.className, !!v.srcObject, v.videoWidth, v.readyState]))"), q.text("#call"))
                    for p, q in pages.items())
                self.fail("%s sees %d others; %s" % (u, n, seen))
        pages["doctor01"].shot("call-mdt-expert")


@unittest.skipUnless(HAVE_AV, "janus and coturn are not installed")
class ConsultCalls(IhosTestCase):
    """A remote consultation's call: its requester and invited experts only,
    opened once scheduled, no patient consent step (the consultation carries
    it); an MDT is multi-party on Janus and cannot move to B; a one-expert
    consultation can."""

    def setUp(self):
        super().setUp()
        self.av = AvPeers(self.tmp).start()
        self.addCleanup(self.av.stop)
        self.inst = av_instance(self, self.av)
        self.inst.start()
        self.h = Hospital(self.inst)
        self.sysa = setup_admins(self.inst)["sysadmin"][1]

    def test_mdt_and_consult(self):
        from tests.integration.test_consult import scheduled_consult
        h, doc = self.h, "doctor03"
        visit = h.followup("patient042", doc)
        mdt, ag = scheduled_consult(h, self.sysa, doc, visit, ["doctor01", "doctor04"], "mdt")
        self.assertError(h.s("doctor04").req("POST", "/api/v1/consults/%d/call" % mdt), 403, "forbidden")  # not the lead
        self.assertError(h.s("doctor02").req("POST", "/api/v1/consults/%d/call" % mdt), 403, "forbidden")  # medical office
        r = h.s(doc).req("POST", "/api/v1/consults/%d/call" % mdt)
        self.assertEqual(r.status, 201, r)
        call = r.json()
        self.assertEqual((call["system"], call["state"], call["consult_id"]), ("janus", "open", mdt))
        grants = {u: h.s(u).req("POST", "/api/v1/calls/%d/join" % call["id"]).json() for u in (doc, "doctor01", "doctor04")}
        self.assertEqual({u: g["role"] for u, g in grants.items()}, {doc: "doctor", "doctor01": "expert", "doctor04": "expert"})
        self.assertEqual(len({g["janus"]["room"] for g in grants.values()}), 1)
        self.assertError(h.s("doctor02").req("POST", "/api/v1/calls/%d/join" % call["id"]), 403, "forbidden")
        self.assertError(h.s("patient042").req("POST", "/api/v1/calls/%d/join" % call["id"]), 403, "forbidden")
        # three publishers fit in the room Janus made
        for u, g in grants.items():
            j = JanusClient(self.av, g["janus"]["token"])
            j.session()
            r = j.message({"request": "join", "ptype": "publisher", "room": g["janus"]["room"], "pin": g["janus"]["pin"],
                           "token": g["janus"]["room_token"], "display": g["role"]})
            self.assertEqual(r.get("videoroom"), "joined", r)
        # Janus goes: an MDT does not fit on B
        self.av.kill_janus()
        self.assertError(h.s("doctor01").req("POST", "/api/v1/calls/%d/fallback" % call["id"]), 503, "unavailable")
        self.assertEqual(h.s(doc).req("GET", "/api/v1/consults/%d/call" % mdt).json()["call"]["system"], "janus")
        # a one-expert consultation opened now goes to B (after the health check saw Janus go)
        deadline = time.time() + 15
        while "ihos_av_janus_up 0" not in self.inst.metrics():
            self.assertLess(time.time(), deadline)
            time.sleep(0.3)
        one, _ = scheduled_consult(h, self.sysa, doc, visit, ["doctor01"], ag=ag)
        r = h.s("doctor01").req("POST", "/api/v1/consults/%d/call" % one)  # the lead expert may open it too
        self.assertEqual((r.status, r.json()["system"]), (201, "p2p"))
        b = [h.s(u).req("POST", "/api/v1/calls/%d/join" % r.json()["id"]).json() for u in (doc, "doctor01")]
        self.assertEqual([(g["system"], g["relay_only"]) for g in b], [("p2p", True), ("p2p", True)])
        self.assertEqual(h.s(doc).req("POST", "/api/v1/calls/%d/end" % call["id"]).status, 200)
        self.assertError(h.s("doctor04").req("POST", "/api/v1/calls/%d/join" % call["id"]), 409, "invalid_state")
