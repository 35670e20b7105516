"""The hospital registry over HTTPS with real sessions: institution,
departments, staff and online enabling, drugs (CSV import), schedules,
patient self-registration with real name, guardians and consent, the
public 亮证 page, masking per role, who may call what, and no plaintext
personal data in the database."""
import json
import os
import re
import sqlite3
import urllib.parse

from tests.integration.harness import (Account, IhosTestCase, Instance, id_number, login, make_staff, must_login,
                                       register_patient, run_ihos, setup_admins)

HERE = os.path.dirname(os.path.abspath(__file__))
INSTITUTION = {"name": "示例医院", "ih_name": "示例互联网医院", "organ_id": "12345678901234567X", "unit_id": "U0001",
               "licence_no": "PDY-TEST-0001", "licence_valid_until": "2030-12-31", "ih_approval": "示卫〔2026〕1号",
               "entity_hospital": "示例医院", "address": "天津市和平区示例路1号", "phone": "022-23456789"}


def patient_body(username, name="张三丰", cert=None, birth="1990-03-07", sex="1", phone="13900001111", **extra):
    b = {"username": username, "password": "Patient-Pass-2026!", "name": name, "cert_type": "1",
         "cert_no": cert or id_number(birth=birth.replace("-", ""), seq=123 if sex == "1" else 124), "sex": sex,
         "birth_date": birth, "phone": phone, "consents": {"privacy": "2026-01", "agreement": "2026-01"}}
    b.update(extra)
    return b


class RegistryTest(IhosTestCase):
    def setUp(self):
        super().setUp()
        self.inst = self.instance()
        self.inst.set_conf("registry", "registrations_per_minute", "1000")
        self.inst.enable_sms()
        self.inst.start()
        self.admins = setup_admins(self.inst)
        self.sys = self.admins["sysadmin"][1]
        self.sec = self.admins["secadmin"][1]
        self.aud = self.admins["auditadmin"][1]

    def department(self, code="NK", subject="03.04", kind="clinical", name="心血管内科"):
        r = self.sys.req("POST", "/api/v1/departments", {"code": code, "name": name, "subject_code": subject,
                                                          "category_code": subject[:2], "kind": kind})
        self.assertEqual(r.status, 201, r)
        return r.json()["id"]

    def doctor(self, username, dep, years=10, cert_seq=11, title="233"):
        acct = make_staff(self.inst, self.admins, username, role="doctor")
        r = self.sys.req("POST", "/api/v1/staff", {
            "account_id": acct.id, "name": "李医生", "cert_type": "1",
            "cert_no": id_number(birth="19800101", seq=cert_seq), "sex": "1" if cert_seq % 2 else "2",
            "birth_date": "1980-01-01", "title_code": title, "subject_code": "03.04", "qualification_no": "Q-1",
            "practice_no": "P-%d" % cert_seq, "practice_years": years, "departments": [dep]})
        self.assertEqual(r.status, 201, r)
        return acct, r.json()

    # ---- institution and departments ---------------------------------------------------
    def test_institution(self):
        self.assertError(self.inst.request("GET", "/api/v1/institution"), 404, "not_found")
        self.assertError(self.sec.req("PUT", "/api/v1/institution", INSTITUTION), 403, "forbidden")
        bad = dict(INSTITUTION, organ_id="bad id!")
        err = self.assertError(self.sys.req("PUT", "/api/v1/institution", bad), 400, "invalid_field")
        self.assertEqual(err["field"], "organ_id")
        r = self.sys.req("PUT", "/api/v1/institution", INSTITUTION)
        self.assertEqual(r.status, 200, r)
        got = self.inst.request("GET", "/api/v1/institution").json()
        self.assertEqual(got["licence_no"], "PDY-TEST-0001")
        self.assertNotIn("updated_by", got)

    def test_departments(self):
        err = self.assertError(self.sys.req("POST", "/api/v1/departments", {
            "code": "X", "name": "x", "subject_code": "99.99", "category_code": "99", "kind": "clinical"}),
            400, "invalid_field")
        self.assertEqual(err["field"], "subject_code")
        err = self.assertError(self.sys.req("POST", "/api/v1/departments", {
            "code": "X", "name": "x", "subject_code": "03.01", "category_code": "04", "kind": "clinical"}),
            400, "invalid_field")
        self.assertEqual(err["field"], "category_code")
        dep = self.department()
        self.assertError(self.sys.req("POST", "/api/v1/departments", {
            "code": "NK", "name": "dup", "subject_code": "03.01", "category_code": "03", "kind": "clinical"}),
            409, "already_exists")
        deps = self.inst.request("GET", "/api/v1/departments").json()["departments"]
        self.assertEqual([d["id"] for d in deps], [dep])
        self.assertEqual(deps[0]["subject_code_name"], "心血管内科专业")
        r = self.sys.req("PATCH", "/api/v1/departments/%d" % dep, {"active": False})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.inst.request("GET", "/api/v1/departments").json()["departments"], [])
        self.assertError(self.sys.req("PATCH", "/api/v1/departments/%d" % dep, {"code": "NEW"}), 400, "invalid_field")

    # ---- staff -----------------------------------------------------------------------------
    def test_staff_and_online_enabling(self):
        dep = self.department()
        acct = make_staff(self.inst, self.admins, "dr.junior", role="doctor")
        body = {"account_id": acct.id, "name": "王医生", "cert_type": "1", "cert_no": id_number(birth="19950505", seq=21),
                "sex": "1", "birth_date": "1995-05-05", "title_code": "234", "subject_code": "03.04",
                "qualification_no": "Q-2", "practice_no": "P-2", "practice_years": 2, "departments": [dep]}
        # a pharmacist's title for a doctor's account, a wrong check character, sex against the ID
        err = self.assertError(self.sys.req("POST", "/api/v1/staff", dict(body, title_code="243")), 400, "invalid_field")
        self.assertEqual(err["field"], "title_code")
        bad = body["cert_no"][:17] + ("0" if body["cert_no"][17] != "0" else "1")
        err = self.assertError(self.sys.req("POST", "/api/v1/staff", dict(body, cert_no=bad)), 400, "invalid_field")
        self.assertEqual(err["field"], "cert_no")
        err = self.assertError(self.sys.req("POST", "/api/v1/staff", dict(body, sex="2")), 400, "invalid_field")
        self.assertEqual(err["field"], "sex")
        r = self.sys.req("POST", "/api/v1/staff", body)
        self.assertEqual(r.status, 201, r)
        staff = r.json()
        self.assertFalse(staff["online"])
        self.assertEqual(staff["departments"][0]["id"], dep)
        self.assertError(self.sys.req("POST", "/api/v1/staff", body), 409, "already_exists")
        # enabling is the security administrator's step, and needs >= 3 years
        self.assertError(self.sys.req("POST", "/api/v1/staff/%d/online" % staff["id"], {"online": True}), 403,
                         "forbidden")
        err = self.assertError(self.sec.req("POST", "/api/v1/staff/%d/online" % staff["id"], {"online": True}), 409,
                               "invalid_state")
        self.assertIn("3 years", err["message"])
        r = self.sys.req("PATCH", "/api/v1/staff/%d" % staff["id"], {"practice_years": 3})
        self.assertEqual(r.status, 200, r)
        r = self.sec.req("POST", "/api/v1/staff/%d/online" % staff["id"], {"online": True, "reason": "credentials checked"})
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json()["online"])
        # the staff member sees their own record in full; administrators see the ID number masked
        me = must_login(self.inst, acct).req("GET", "/api/v1/me/staff").json()
        self.assertEqual(me["cert_no"], body["cert_no"])
        other = self.sys.req("GET", "/api/v1/staff/%d" % staff["id"]).json()
        self.assertRegex(other["cert_no"], r"^\d{6}\*{8}\d{3}[\dX]$")
        self.assertEqual(other["birth_date"], "1995-**-**")
        # a suspension takes the doctor off online care
        r = self.sys.req("POST", "/api/v1/staff/%d/status" % staff["id"], {"status": "suspended", "reason": "leave"})
        self.assertFalse(r.json()["online"])
        events = self.aud.req("GET", "/api/v1/audit/events?object_type=staff&limit=50").json()["events"]
        actions = {e["action"] for e in events}
        self.assertTrue({"staff.create", "staff.update", "staff.online_enable", "staff.suspend"} <= actions, actions)

    # ---- drugs --------------------------------------------------------------------------------
    def test_drugs_and_csv_import(self):
        pharm = make_staff(self.inst, self.admins, "ph.one", role="pharmacist")
        ph = must_login(self.inst, pharm)
        d = {"hosp_code": "H1", "name": "盐酸吗啡缓释片", "spec": "30mg*10片", "unit": "盒", "manufacturer": "示例制药",
             "dosage_form": "片剂", "drug_class": "1", "price": "38.50", "restricted": True}
        err = self.assertError(ph.req("POST", "/api/v1/drugs", d), 400, "invalid_field")
        self.assertEqual(err["field"], "restricted_class")
        r = ph.req("POST", "/api/v1/drugs", dict(d, restricted_class="narcotic"))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["price"], "38.50")
        csv = ("hosp_code,name,spec,unit,manufacturer,dosage_form,drug_class,price,restricted,restricted_class\n"
               "H2,阿司匹林肠溶片,100mg*30片,盒,示例制药,片剂,1,15.50,0,\n"
               "H3,坏价格,1片,盒,示例制药,片剂,1,12.345,0,\n"
               "H4,缺类别,1片,盒,示例制药,片剂,,9.00,0,\n"
               "H1,盐酸吗啡缓释片,30mg*20片,盒,示例制药,片剂,1,70.00,1,narcotic\n"
               "\"H5\",\"带,逗号的名字\",1片,盒,示例制药,片剂,2,1.00,否,\n")
        r = ph.req("POST", "/api/v1/drugs/import", raw_body=csv.encode(), headers={"Content-Type": "text/csv"})
        self.assertEqual(r.status, 200, r)
        rep = r.json()
        self.assertEqual((rep["created"], rep["updated"]), (2, 1), rep)
        self.assertEqual(sorted((e["row"], e["field"]) for e in rep["errors"]), [(2, "price"), (3, "drug_class")])
        drugs = {x["hosp_code"]: x for x in ph.req("GET", "/api/v1/drugs?limit=100").json()["drugs"]}
        self.assertEqual(set(drugs), {"H1", "H2", "H5"})
        self.assertEqual(drugs["H1"]["spec"], "30mg*20片")
        self.assertEqual(drugs["H5"]["name"], "带,逗号的名字")
        r = ph.req("POST", "/api/v1/drugs/import", raw_body=b"hosp_code,colour\nH9,red\n",
                   headers={"Content-Type": "text/csv"})
        self.assertError(r, 400, "invalid_field")
        self.assertError(ph.req("POST", "/api/v1/drugs/import", raw_body=b"x", headers={"Content-Type": "text/plain"}),
                         415, "unsupported_media_type")
        q = urllib.parse.quote("阿司匹林")
        self.assertEqual(len(ph.req("GET", "/api/v1/drugs?q=" + q).json()["drugs"]), 1)
        # the auditor and the security administrator do not manage drugs
        self.assertError(self.sec.req("POST", "/api/v1/drugs", d), 403, "forbidden")

    # ---- schedules -------------------------------------------------------------------------
    def test_schedules(self):
        dep = self.department()
        acct, doc = self.doctor("dr.sched", dep)
        shift = {"staff_id": doc["id"], "department_id": dep, "day": "2099-01-01", "start_time": "08:00",
                 "end_time": "12:00", "consult_type": "1", "capacity": 10, "response_minutes": 30, "fee": "20.00"}
        err = self.assertError(self.sys.req("POST", "/api/v1/schedules", shift), 400, "invalid_field")
        self.assertEqual(err["field"], "staff_id")  # not enabled for online care yet
        self.sec.req("POST", "/api/v1/staff/%d/online" % doc["id"], {"online": True})
        err = self.assertError(self.sys.req("POST", "/api/v1/schedules", dict(shift, end_time="07:00")), 400,
                               "invalid_field")
        self.assertEqual(err["field"], "end_time")
        r = self.sys.req("POST", "/api/v1/schedules", shift)
        self.assertEqual(r.status, 201, r)
        got = self.inst.request("GET", "/api/v1/schedules?from=2099-01-01&to=2099-01-01").json()["schedules"]
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["doctor"]["name"], "李医生")
        self.assertEqual(got[0]["fee"], "20.00")
        self.assertNotIn("cert_no", got[0]["doctor"])
        self.assertEqual(self.sys.req("POST", "/api/v1/schedules/%d/cancel" % r.json()["id"]).status, 200)
        self.assertEqual(self.inst.request("GET", "/api/v1/schedules?from=2099-01-01&to=2099-01-01").json()["schedules"], [])

    # ---- patients ------------------------------------------------------------------------------
    def test_self_registration(self):
        r = register_patient(self.inst, patient_body("pat.one"))
        self.assertEqual(r.status, 201, r)
        p = r.json()["patient"]
        self.assertEqual(p["realname"], "unverified")  # no verification service configured
        self.assertEqual(p["name"], "张三丰")  # the patient's own view
        # same certificate again: refused through the blind index, and told
        # only to whoever proved the phone (docs/security.md)
        err = self.assertError(register_patient(self.inst, patient_body("pat.two", phone="13900004444")), 409,
                               "already_exists")
        self.assertEqual(err["field"], "cert_no")
        self.assertEqual(len(self.inst.sms("13900001111", "register_attempt")), 1)  # the registered patient is told
        # a wrong check character names the field
        body = patient_body("pat.three", cert=id_number(seq=125)[:17] + "0")
        if id_number(seq=125)[17] == "0":
            body["cert_no"] = id_number(seq=125)[:17] + "1"
        err = self.assertError(self.inst.request("POST", "/api/v1/patients", body), 400, "invalid_field")
        self.assertEqual(err["field"], "cert_no")
        # birth date and sex must agree with the ID number
        err = self.assertError(self.inst.request("POST", "/api/v1/patients",
                                                 patient_body("pat.four", cert=id_number(birth="19900307", seq=131),
                                                              birth="1991-03-07")), 400, "invalid_field")
        self.assertEqual(err["field"], "birth_date")
        # the consent must be to the current versions
        err = self.assertError(self.inst.request("POST", "/api/v1/patients", patient_body(
            "pat.five", cert=id_number(seq=141), consents={"privacy": "2025-01", "agreement": "2026-01"})),
            400, "invalid_field")
        self.assertEqual(err["field"], "privacy")
        # nothing beyond the list is collected
        err = self.assertError(self.inst.request("POST", "/api/v1/patients", patient_body(
            "pat.six", cert=id_number(seq=151), occupation="engineer")), 400, "invalid_field")
        self.assertEqual(err["field"], "occupation")
        # the new patient logs in and reads and edits their profile
        s = must_login(self.inst, Account("pat.one", "Patient-Pass-2026!"))
        me = s.req("GET", "/api/v1/me/patient").json()
        self.assertEqual(me["cert_no"], p["cert_no"])
        self.assertEqual([c["document"] for c in me["consents"]], ["privacy", "agreement"])
        r = s.req("PATCH", "/api/v1/me/patient", {"phone": "13900002222", "allergies": "青霉素"})
        self.assertEqual(r.status, 200, r)
        self.assertError(s.req("PATCH", "/api/v1/me/patient", {"name": "李四"}), 400, "invalid_field")
        # staff cannot use patient routes
        self.assertError(self.sys.req("GET", "/api/v1/me/patient"), 403, "forbidden")

    def test_guardian_for_children(self):
        child = patient_body("kid.one", name="小明", birth="2024-06-01", cert=id_number(birth="20240601", seq=11))
        err = self.assertError(self.inst.request("POST", "/api/v1/patients", child), 400, "invalid_field")
        self.assertTrue(err["field"].startswith("guardian_"))
        child.update(guardian_name="张妈妈", guardian_cert_type="1", guardian_cert_no=id_number(birth="19920202", seq=22),
                     guardian_phone="13900003333")
        r = register_patient(self.inst, child)
        self.assertEqual(r.status, 201, r)
        adult = patient_body("adult.one", cert=id_number(seq=171), guardian_name="某人")
        err = self.assertError(self.inst.request("POST", "/api/v1/patients", adult), 400, "invalid_field")
        self.assertEqual(err["field"], "guardian_name")

    def test_masking_per_role(self):
        r = register_patient(self.inst, patient_body("pat.mask", name="欧阳娜娜"))
        pid = r.json()["patient"]["id"]
        cert = r.json()["patient"]["cert_no"]
        view = self.sys.req("GET", "/api/v1/patients/%d" % pid).json()
        self.assertEqual(view["name"], "欧***")
        self.assertEqual(view["cert_no"], cert[:6] + "********" + cert[14:])
        self.assertEqual(view["phone"], "139****1111")
        self.assertNotIn("address", view)
        self.assertNotIn("allergies", view)
        # a doctor with no care relationship is refused, and it is audited
        dep = self.department()
        acct, _ = self.doctor("dr.nocare", dep)
        doc = must_login(self.inst, acct)
        self.assertError(doc.req("GET", "/api/v1/patients/%d" % pid), 403, "forbidden")
        self.assertEqual(doc.req("GET", "/api/v1/patients").json()["patients"], [])
        self.assertEqual(doc.req("GET", "/api/v1/patients?cert_no=" + cert).json()["patients"], [])
        # the auditor reads no patient data at all
        self.assertError(self.aud.req("GET", "/api/v1/patients/%d" % pid), 403, "forbidden")
        denied = self.aud.req("GET", "/api/v1/audit/events?action=access.denied&limit=50").json()["events"]
        self.assertTrue(any(e["object_type"] == "patient" and e["object_id"] == str(pid) for e in denied), denied)
        # lookups go through the blind index
        found = self.sys.req("GET", "/api/v1/patients?cert_no=" + cert).json()["patients"]
        self.assertEqual([p["id"] for p in found], [pid])
        found = self.sys.req("GET", "/api/v1/patients?phone=13900001111").json()["patients"]
        self.assertEqual([p["id"] for p in found], [pid])

    def test_registration_is_rate_limited(self):
        self.inst.stop()
        self.inst.set_conf("registry", "registrations_per_minute", "3")
        self.inst.start()
        codes = [self.inst.request("POST", "/api/v1/patients", patient_body("rl%d" % i, cert=id_number(seq=201 + 2 * i)))
                 .status for i in range(5)]
        self.assertEqual(codes[:3], [202, 202, 202])
        self.assertEqual(codes[3:], [429, 429])

    def test_public_page(self):
        self.sys.req("PUT", "/api/v1/institution", dict(INSTITUTION, intro="<script>alert(1)</script>"))
        dep = self.department(name="心内科<b>")
        acct, doc = self.doctor("dr.public", dep)
        self.sec.req("POST", "/api/v1/staff/%d/online" % doc["id"], {"online": True})
        for path in ("/", "/about"):
            r = self.inst.request("GET", path)
            self.assertEqual(r.status, 200)
            self.assertTrue(r.header("content-type").startswith("text/html"))
            csp = r.header("content-security-policy")
            self.assertIn("default-src 'none'", csp)
            self.assertRegex(csp, r"style-src 'sha256-[A-Za-z0-9+/=]+'")
            self.assertNotIn("script-src", csp)
            page = r.body.decode()
            self.assertIn("PDY-TEST-0001", page)
            self.assertIn("李医生", page)
            self.assertIn("P-11", page)  # practising-certificate number
            self.assertNotIn("<script>", page)
            self.assertIn("&lt;script&gt;", page)
            self.assertIn("心内科&lt;b&gt;", page)
            self.assertNotIn(doc["cert_no"], page)  # only what the rule requires
        pub = self.inst.request("GET", "/api/v1/public").json()
        self.assertEqual(pub["doctors"][0]["title"], "主治医师")
        self.assertNotIn("cert_no", json.dumps(pub))

    def test_no_plaintext_personal_data(self):
        names, certs, phones = [], [], []
        for i in range(5):
            cert = id_number(birth="1985%02d15" % (i + 1), seq=301 + 2 * i)
            name, phone = "测试患者%s" % "甲乙丙丁戊"[i], "1390000%04d" % (5000 + i)
            b = patient_body("raw%d" % i, name=name, cert=cert, birth="1985-%02d-15" % (i + 1), phone=phone,
                             address="天津市南开区秘密路%d号" % i, allergies="对秘密药物%d过敏" % i)
            self.assertEqual(register_patient(self.inst, b).status, 201)
            names.append(name)
            certs.append(cert)
            phones.append(phone)
        self.assertEqual(self.inst.stop(), 0)
        raw = b""
        for f in ("ihos.db", "ihos.db-wal"):
            if os.path.exists(self.inst.path(f)):
                with open(self.inst.path(f), "rb") as fh:
                    raw += fh.read()
        for s in names + certs + phones + ["秘密路", "秘密药物"]:
            self.assertNotIn(s.encode(), raw, "%s is in the database in the clear" % s)
        self.assertIn("OK:", run_ihos("integrity", "scan", self.inst.dir).stdout)
        self.inst.start()


class RealNameTest(IhosTestCase):
    def test_verification_hook(self):
        inst = self.instance()
        inst.set_conf("registry", "realname_command", os.path.join(HERE, "realname_double.py"))
        inst.set_conf("registry", "registrations_per_minute", "1000")
        inst.enable_sms()
        inst.start()
        r = register_patient(inst, patient_body("real.one"))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["patient"]["realname"], "verified")
        err = self.assertError(inst.request("POST", "/api/v1/patients", patient_body(
            "real.two", name="假名字", cert=id_number(seq=133))), 400, "invalid_field")
        self.assertEqual(err["field"], "name")
        self.assertError(inst.request("POST", "/api/v1/patients", patient_body(
            "real.three", name="断线", cert=id_number(seq=135))), 503, "unavailable")
        self.assertTrue(inst.wait_events("realname.unavailable"))
        # refused registrations leave nothing behind: the account names are free
        r = register_patient(inst, patient_body("real.two", name="真名字", cert=id_number(seq=133)))
        self.assertEqual(r.status, 201, r)


class DemoTest(IhosTestCase):
    def test_demo_hospital(self):
        inst = self.instance(demo=True, demo_patients=None)  # the demo as `make run` makes it
        self.assertIn("demo-credentials.json", inst.init_output.stdout)
        self.assertEqual(os.stat(inst.path("demo-credentials.json")).st_mode & 0o777, 0o600)
        inst.start()
        accts = __import__("tests.integration.harness", fromlist=["demo_accounts"]).demo_accounts(inst)
        roles = [a.role for a in accts.values()]
        self.assertEqual((roles.count("doctor"), roles.count("pharmacist"), roles.count("nurse")), (12, 4, 4))
        self.assertGreaterEqual(roles.count("patient"), 190)
        doc = must_login(inst, accts["doctor01"])  # enrolled already: password and TOTP
        drugs = doc.req("GET", "/api/v1/drugs?limit=500").json()["drugs"]
        self.assertGreaterEqual(len(drugs), 100)
        self.assertTrue(any(d["restricted"] for d in drugs))
        pat = must_login(inst, accts["patient001"])
        me = pat.req("GET", "/api/v1/me/patient").json()
        self.assertTrue(re.fullmatch(r"\d{17}[\dX]", me["cert_no"]))
        page = inst.request("GET", "/").body.decode()
        self.assertIn("演示", page)
        self.assertEqual(inst.request("GET", "/healthz").header("x-ihos-demo"), "1")
        # seeding twice is refused
        p = run_ihos("demo", "seed", inst.dir, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("already has staff", p.stderr)

    def test_seed_refuses_a_real_instance(self):
        inst = self.instance()
        p = run_ihos("demo", "seed", inst.dir, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a demo instance", p.stderr)
