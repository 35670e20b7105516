"""The API says one thing one way, and says it as docs/openapi.yaml does.

A journey through the demo hospital touches most routes as each role; every
JSON answer is then checked two ways:
  - one representation per kind of value: times are ISO 8601 UTC strings
    (keys ending in _at, respond_by), money is "12.34", ids are integers,
    diagnosis codes are [{"code", "name"}] wherever they appear;
  - against the response schema docs/openapi.yaml declares for that
    operation and status (OpenAPI 3.0 schemas, read with python3-yaml and
    checked with python3-jsonschema; "nullable" as JSON Schema spells it).
"""
import os
import re

import jsonschema
import yaml

from tests.integration.harness import IhosTestCase, complete_setup, id_number, initial_credentials, register_patient
from tests.integration.test_care import Hospital
from tests.integration.test_registry import patient_body

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")
MONEY = re.compile(r"^\d+\.\d{2}$")
TIME_KEYS = {"respond_by"}
MONEY_KEYS = {"fee", "amount", "price", "total_fee", "consultation_fee"}
# ids that are not row ids: names, hashes, the audit journal's "any object"
STRING_IDS = {"object_id", "request_id", "instance_id", "prepay_id", "organ_id", "unit_id"}


def kind_problems(v, where="$"):
    """Every value whose form is not the API's one form for its kind."""
    out = []
    if isinstance(v, dict):
        for k, x in v.items():
            at = "%s.%s" % (where, k)
            if (k.endswith("_at") or k in TIME_KEYS) and not (x is None or (isinstance(x, str) and ISO.match(x))):
                out.append("%s is %r: times are ISO 8601 UTC strings" % (at, x))
            elif k in MONEY_KEYS and not (x is None or (isinstance(x, str) and MONEY.match(x))):
                out.append("%s is %r: money is \"12.34\"" % (at, x))
            elif (k == "id" or k.endswith("_id")) and k not in STRING_IDS and not (x is None or type(x) is int):
                out.append("%s is %r: ids are integers" % (at, x))
            elif k == "diagnosis_codes" and not (isinstance(x, list) and all(
                    isinstance(c, dict) and set(c) == {"code", "name"} for c in x)):
                out.append("%s is %r: diagnosis codes are [{code, name}]" % (at, x))
            else:
                out += kind_problems(x, at)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += kind_problems(x, "%s[%d]" % (where, i))
    return out


def to_json_schema(s):
    """OpenAPI 3.0 schema -> JSON Schema: nullable, and refs kept local."""
    if isinstance(s, list):
        return [to_json_schema(x) for x in s]
    if not isinstance(s, dict):
        return s
    d = {k: to_json_schema(v) for k, v in s.items() if k not in ("nullable", "example", "readOnly", "format")}
    if s.get("nullable"):
        return {"anyOf": [d, {"type": "null"}]}
    return d


class Contract:
    def __init__(self):
        with open(os.path.join(ROOT, "docs", "openapi.yaml")) as f:
            self.spec = yaml.safe_load(f)
        self.schemas = to_json_schema(self.spec["components"]["schemas"])
        self.ops = []
        for path, methods in self.spec["paths"].items():
            rx = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
            for m, op in methods.items():
                self.ops.append((m.upper(), rx, path, op))

    def schema_for(self, method, path, status):
        path = path.split("?", 1)[0]
        for m, rx, template, op in self.ops:
            if m == method and rx.match(path):
                resp = op.get("responses", {}).get(str(status))
                if resp is None:
                    return template, None, "status %d is not documented" % status
                content = (resp.get("content") or {}).get("application/json")
                return template, content and content.get("schema"), None
        return None, None, "no such operation"

    def check(self, method, path, status, body):
        template, schema, missing = self.schema_for(method, path, status)
        if missing:
            return ["%s %s -> %d: %s" % (method, path, status, missing)]
        if not schema or schema.get("$ref", "").endswith("/Object"):
            return []
        full = dict(to_json_schema(schema))
        full["components"] = {"schemas": self.schemas}
        full["$schema"] = "http://json-schema.org/draft-07/schema#"
        full_ref = {"$ref": full.pop("$ref")} if "$ref" in full else {}
        doc = dict(full, **full_ref)
        try:
            jsonschema.validate(body, doc, cls=jsonschema.Draft7Validator)
        except jsonschema.ValidationError as e:
            return ["%s %s -> %d (%s): %s at %s" % (method, path, status, template, e.message,
                                                     "/".join(str(p) for p in e.absolute_path))]
        return []


class ApiContract(IhosTestCase):
    def test_every_answer_in_one_form_and_as_documented(self):
        inst = self.instance(demo=True)
        inst.enable_sms()
        inst.set_conf("registry", "registrations_per_minute", "1000")
        inst.start()
        inst.recorded = []
        h = Hospital(inst)
        creds = initial_credentials(inst)
        adm = {r: complete_setup(inst, a, "Strong-%s-Pass-2026!" % r.capitalize()) for r, a in creds.items()}
        sysa, sec, aud = adm["sysadmin"], adm["secadmin"], adm["auditadmin"]
        # the public face
        for p in ("/api/v1/public", "/api/v1/codes", "/api/v1/codes/route", "/healthz", "/api/v1/institution",
                  "/api/v1/departments", "/api/v1/schedules"):
            inst.request("GET", p)
        # administrators
        for s, p in ((sysa, "/api/v1/me"), (sysa, "/api/v1/me/sessions"), (sysa, "/api/v1/accounts?limit=5"),
                     (sysa, "/api/v1/staff?limit=5"), (sysa, "/api/v1/backups"), (sec, "/api/v1/permissions"),
                     (sec, "/api/v1/approvals"), (sec, "/api/v1/break-glass"), (aud, "/api/v1/audit/checkpoints")):
            s.req("GET", p)
        acct = sysa.req("GET", "/api/v1/accounts?limit=5").json()["accounts"][0]["id"]
        sysa.req("GET", "/api/v1/accounts/%d" % acct)
        r = sec.req("PUT", "/api/v1/roles/secadmin/permissions/patient.read", {"granted": True})
        sysa.req("POST", "/api/v1/approvals/%d" % r.json()["approval"]["id"], {"decision": "reject"})
        # a new patient registers; another asks for a reset
        new = patient_body("contract.pat", cert=id_number(seq=611), phone="13911115555")
        register_patient(inst, new)
        inst.request("POST", "/api/v1/password-resets", {"cert_no": new["cert_no"], "phone": "13911115555"})
        # care, as each role
        pat, doc, ph, ph2 = "patient021", "doctor02", "pharmacist01", "pharmacist02"
        v = h.followup(pat, doc)
        h.s(pat).req("POST", "/api/v1/visits/%d/messages" % v, {"body": "头晕"})
        h.record(doc, v)
        h.s(doc).req("GET", "/api/v1/visits/%d/records" % v)
        rx = h.prescribe(doc, v)
        h.s(ph).req("GET", "/api/v1/prescriptions?status=issued&limit=20")
        h.s(ph).req("POST", "/api/v1/prescriptions/%d/review" % rx["id"], {"decision": "approve"})
        order = h.pay(pat, v, rx["id"])
        h.s(pat).req("GET", "/api/v1/payments/%d" % order["id"])
        h.s(ph2).req("POST", "/api/v1/prescriptions/%d/dispense" % rx["id"], {"delivery_type": "0"})
        for s, p in ((h.s(pat), "/api/v1/visits/%d" % v), (h.s(pat), "/api/v1/visits"), (h.s(doc), "/api/v1/visits"),
                     (h.s(pat), "/api/v1/prescriptions/%d" % rx["id"]), (h.s(pat), "/api/v1/prescriptions"),
                     (h.s(pat), "/api/v1/me/patient"), (h.s(pat), "/api/v1/me/consents"), (h.s(doc), "/api/v1/me/staff"),
                     (h.s(doc), "/api/v1/icd?q=I10"), (h.s(ph), "/api/v1/drugs?limit=5"),
                     (h.s(doc), "/api/v1/adverse-events")):
            s.req("GET", p)
        h.s(doc).req("POST", "/api/v1/visits/%d/close" % v)
        h.s(pat).req("POST", "/api/v1/visits/%d/evaluation" % v, {"satisfaction": 5, "score": 9, "text": "好"})
        aud.req("GET", "/api/v1/audit/events?limit=50")
        # now the checks
        contract = Contract()
        problems, checked = [], 0
        for method, path, resp in inst.recorded:
            if not resp.header("content-type", ) or not resp.header("content-type").startswith("application/json"):
                continue
            checked += 1
            body = resp.json()
            problems += ["%s %s: %s" % (method, path, p) for p in kind_problems(body)]
            if resp.status < 400:
                problems += contract.check(method, path, resp.status, body)
        self.assertGreater(checked, 60)
        self.assertEqual(problems, [], "\n".join(problems))
