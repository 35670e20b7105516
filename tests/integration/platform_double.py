"""platform_double.py — a test double of the Tianjin supervision platform
(tests only; the connector under test is the real one).

It implements the platform's side of the protocol in
../shared/reference/tianjin-supervision.md independently of ihos: HTTPS on
127.0.0.1 with its own self-signed certificate, the X-Ca-* headers, the SM3
X-Content-MD5 and signature, the timestamp window, SM4-CBC with ISO/IEC
7816-4 padding over a hex body, and the required fields of each method.  It
stores what it accepted and, on command, answers busy, 5xx, a data error, a
bad-signature error, or hangs; stop() takes it off the network entirely.

Uses only the standard library and python3-cryptography (Debian).
"""
import hashlib
import http.server
import json
import os
import ssl
import subprocess
import threading
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

IV = bytes.fromhex("abcd0863ef9087ced675985321bedf67")
SERVICE_ID = "his.provinceDataUploadService"
SIGNED = ["x-ca-key", "x-ca-nonce", "x-ca-timestamp", "x-content-md5", "x-service-id", "x-service-method"]

BASE = ["organID", "unitID", "organName"]
REQUIRED = {
    "uploadConsultIndicators": BASE + ["bussID", "subjectCode", "subjectName", "deptID", "deptName", "doctorId",
                                       "doctorCertID", "doctorName", "patientCertType", "patientCertID", "patientName",
                                       "age", "sex", "mobile", "consultationType", "applyDate", "consultationPrice",
                                       "content", "answerFlag", "updateTime"],
    "uploadReferralIndicators": BASE + ["bussID", "subjectCode", "subjectName", "deptID", "deptName", "doctorId",
                                        "doctorCertID", "doctorName", "patientCertType", "patientCertID", "patientName",
                                        "age", "sex", "mobile", "consultationType", "applyDate", "returnVisitType",
                                        "diseasesHistory", "mainDiagnoseCode", "thisDiagnosis", "referralFlag",
                                        "returnVisitPrice", "updateTime"],
    "uploadRecipeIndicators": BASE + ["bussID", "doctorId", "doctorCertID", "doctorName", "auditDoctorId",
                                      "auditDoctorCertID", "auditDoctor", "patientCertType", "patientCertID",
                                      "patientName", "diseasesHistory", "recipeUniqueID", "recipeID", "rationalFlag",
                                      "icdCode", "icdName", "recipeType", "datein", "effectivePeriod", "startDate",
                                      "endDate", "totalFee", "isPay", "updateTime", "orderList"],
    "uploadRecipeVerificationIndicators": BASE + ["recipeUniqueID", "recipeID", "deliveryType", "VerificationTime",
                                                  "deliveryPeople", "totalFee", "isPay", "updateTime"],
    "uploadElectMedicalRecord": BASE + ["deptID", "deptName", "caseNo", "doctorID", "doctorName", "doctorCertID",
                                        "furtherConsultNo", "diagnosisCode", "furtherConsultDiagnosis", "patientName",
                                        "patientSex", "patientAge", "patientCertType", "patientCertID",
                                        "patientMobile", "chiefComplaint", "presentHistory", "diagnosticOpinion",
                                        "updateTime"],
    "uploadDrugCatalogue": BASE + ["drugClass", "hospDrcode", "hospDrugName", "hospDrugPacking", "hospDrugManuf",
                                   "useFlag", "updateTime"],
    "uploadBusinessInfoAfter": BASE + ["evaluateID", "bussID", "businessType", "satisfaction", "scoring",
                                       "evaluation", "evaluationPeople", "evaluationTime"],
    "pushMedicalDispute": BASE + ["eventID", "businessType", "patientName", "mobile", "eventDescription", "eventDate",
                                  "eventReason", "takeSteps", "damageDegree", "Improvements", "reportDept",
                                  "reportPerson", "reportDate", "updateTime"],
}
ITEM_REQUIRED = ["drcode", "drname", "drmodel", "admission", "frequency", "dosage", "drunit", "dosageTotal",
                 "doseUnit", "useDays", "otcFlag"]


def sm3_hex(data):
    return hashlib.new("sm3", data).hexdigest().upper()


def sm4_encrypt(key, plain):
    pad = plain + b"\x80" + b"\x00" * (15 - len(plain) % 16)
    e = Cipher(algorithms.SM4(key), modes.CBC(IV)).encryptor()
    return (e.update(pad) + e.finalize()).hex()


def sm4_decrypt(key, hex_body):
    ct = bytes.fromhex(hex_body)
    if not ct or len(ct) % 16:
        raise ValueError("not whole blocks")
    d = Cipher(algorithms.SM4(key), modes.CBC(IV)).decryptor()
    pt = d.update(ct) + d.finalize()
    end = pt.rstrip(b"\x00")
    if not end.endswith(b"\x80") or len(pt) - len(end) > 15:
        raise ValueError("bad 7816-4 padding")
    return end[:-1]


def make_cert(directory):
    key, crt = os.path.join(directory, "platform.key"), os.path.join(directory, "platform.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    return key, crt


class Platform:
    """One receiver; start() listens on 127.0.0.1:port (0 = any free port)."""

    def __init__(self, directory, app_key="testkey0001", app_secret="bbf1dd188b8b4629853f06f118d11e4a"):
        self.dir = directory
        self.app_key = app_key
        self.secret = bytes.fromhex(app_secret)
        self.app_secret = app_secret
        self.key, self.cert = make_cert(directory)
        self.mode = "ok"          # ok | busy | 5xx | data_error | bad_sig | hang | store_then_hang
        self.hang_seconds = 30
        self.unanswered = []      # (method, record) stored, whose answer was withheld
        self.records = []         # (method, record) accepted, in order
        self.calls = []           # (method, outcome)
        self.errors = []          # what the double refused, and why
        self.lock = threading.Lock()
        self.server = None
        self.port = 0
        self.data_error_method = None  # mode data_error_for: only this method is refused

    # -- life ---------------------------------------------------------------------------
    def start(self, port=0):
        platform = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def log_message(self, *a):
                pass

            def do_POST(self):
                platform._handle(self)

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that gave up on a hanging answer is what "hang" is for

        srv = Server(("127.0.0.1", port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        srv.daemon_threads = True
        self.server = srv
        self.port = srv.server_address[1]
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self):
        return "https://127.0.0.1:%d/openapi/api" % self.port

    def by_method(self, method):
        with self.lock:
            return [r for m, r in self.records if m == method]

    # -- the platform ---------------------------------------------------------------------
    def _reply(self, h, status, code, msg_code=None, msg="ok"):
        body = {"code": code}
        if msg_code is not None:
            body["body"] = {"msgCode": msg_code, "msg": msg}
        else:
            body["msg"] = msg
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _refuse(self, h, code, why, method="?"):
        with self.lock:
            self.errors.append((method, code, why))
            self.calls.append((method, "refused %d" % code))
        self._reply(h, 200, code, None, why)

    def _handle(self, h):
        n = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(n)
        hdr = {k.lower(): v for k, v in h.headers.items()}
        method = hdr.get("x-service-method", "?")
        if h.path != "/openapi/api":
            return self._refuse(h, 40001, "unknown path", method)
        for k in SIGNED + ["x-ca-signature", "x-ca-signature-headers"]:
            if not hdr.get(k):
                return self._refuse(h, 40001, "missing header " + k, method)
        if hdr["x-service-id"] != SERVICE_ID:
            return self._refuse(h, 40006, "unknown service", method)
        if hdr["x-ca-key"] != self.app_key:
            return self._refuse(h, 40002, "unknown appKey", method)
        if hdr["x-ca-signature-headers"] != ",".join(SIGNED):
            return self._refuse(h, 40010, "signature headers", method)
        try:
            ts = int(hdr["x-ca-timestamp"])
        except ValueError:
            return self._refuse(h, 40001, "timestamp", method)
        if abs(time.time() * 1000 - ts) > 5 * 60 * 1000:
            return self._refuse(h, 40011, "request expired", method)
        body = raw.decode("ascii", "replace")
        if sm3_hex(raw) != hdr["x-content-md5"]:
            return self._refuse(h, 40010, "X-Content-MD5 does not match the body", method)
        canonical = "&".join("%s:%s" % (k, hdr[k]) for k in sorted(SIGNED))
        if sm3_hex(canonical.encode()) != hdr["x-ca-signature"] or self.mode == "bad_sig":
            return self._refuse(h, 40010, "bad signature", method)
        try:
            payload = json.loads(sm4_decrypt(self.secret, body).decode("utf-8"))
        except Exception as e:  # noqa: BLE001 - anything undecryptable is a bad request
            return self._refuse(h, 40001, "cannot decrypt: %s" % e, method)
        if not isinstance(payload, list):
            return self._refuse(h, 40001, "the payload is not a list", method)
        mode = self.mode
        if mode == "hang":
            time.sleep(self.hang_seconds)
            with self.lock:
                self.calls.append((method, "hung"))
            return self._reply(h, 200, -1, None, "busy")
        if mode == "5xx":
            with self.lock:
                self.calls.append((method, "503"))
            h.send_response(503)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if mode == "busy":
            with self.lock:
                self.calls.append((method, "busy"))
            return self._reply(h, 200, -1, None, "系统繁忙")
        req = REQUIRED.get(method)
        if req is None:
            return self._refuse(h, 40006, "no permission for method " + method, method)
        for rec in payload:  # a list method stops at the first bad record
            missing = [f for f in req if rec.get(f) in (None, "")]
            if method == "uploadRecipeIndicators":
                for item in rec.get("orderList") or []:
                    missing += ["orderList." + f for f in ITEM_REQUIRED if item.get(f) in (None, "")]
            if missing or mode == "data_error" or (mode == "data_error_for" and method == self.data_error_method):
                why = "|".join(missing) if missing else "forced data error"
                with self.lock:
                    self.errors.append((method, -99, why))
                    self.calls.append((method, "data error"))
                return self._reply(h, 200, 200, -99, why)
        with self.lock:
            for rec in payload:
                self.records.append((method, rec))
            self.calls.append((method, "ok %d" % len(payload)))
        if mode == "store_then_hang":  # stored, and the answer never arrives
            with self.lock:
                self.unanswered.extend((method, rec) for rec in payload)
            time.sleep(self.hang_seconds)
        return self._reply(h, 200, 200, 200, "成功")
