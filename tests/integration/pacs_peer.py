"""The hospital's PACS for tests: Debian's Orthanc with its DICOMweb and
ModalityWorklists plugins, and dcmtk as the modality.

Orthanc 1.10 cannot be told which address to listen on, so it runs inside a
network namespace this helper creates, reached over a veth pair
(10.213.N.1 here, 10.213.N.2 there).  As in a hospital, HTTPS is terminated
in front of it (Debian's Orthanc 1.10 cannot serve TLS with OpenSSL 3): an
HAProxy in the same namespace with a certificate for 10.213.N.2 signed by a
CA made here (ihos verifies it), forwarding to Orthanc on the namespace's
loopback, where Orthanc takes HTTP only from loopback and only as the user
"ihos".  The DICOM port is the modality's (storescu, findscu) and stays
plain.  stop() kills both and deletes the pair and the namespace.
Synthetic people only."""
import json
import math
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
import base64

from tests.integration.netns import Netns

ORTHANC = "/usr/sbin/Orthanc"
PLUGINS = "/usr/share/orthanc/plugins"
WSI_PLUGIN = PLUGINS + "/libOrthancWSI.so"  # orthanc-wsi: whole-slide pyramids and tiles
HAVE_WSI = os.path.exists(WSI_PLUGIN) and os.path.exists("/usr/bin/OrthancWSIDicomizer")
HAVE_PACS = all(os.path.exists(p) for p in (ORTHANC, PLUGINS + "/libOrthancDicomWeb.so",
                                             PLUGINS + "/libModalityWorklists.so")) \
    and all(shutil.which(t) for t in ("dump2dcm", "storescu", "findscu", "ip")) and os.geteuid() == 0


def run(*cmd, **kw):
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True, timeout=60, **kw)


class Pacs:
    def __init__(self, tmp, worklist_dir, password="pacs-Secret-2026"):
        self.tmp = tmp
        self.net = Netns("pa", 213)
        self.ip = self.net.ip
        self.http_port, self.tls_port, self.dicom_port = 8042, 8443, 4242
        self.url = "https://%s:%d" % (self.ip, self.tls_port)
        self.worklist_dir = worklist_dir
        self.password = password
        self.proc = self.proxy = None
        self.ca = os.path.join(tmp, "pacs-ca.pem")

    def _certs(self):
        ca_key, key = os.path.join(self.tmp, "pacs-ca.key"), os.path.join(self.tmp, "pacs.key")
        csr, crt = os.path.join(self.tmp, "pacs.csr"), os.path.join(self.tmp, "pacs.crt")
        ext = os.path.join(self.tmp, "pacs.ext")
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=ihos test PACS CA", "-keyout", ca_key, "-out", self.ca)
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
            "/CN=" + self.ip, "-keyout", key, "-out", csr)
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n" % self.ip)
        run("openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
            "-extfile", ext, "-out", crt)
        pem = os.path.join(self.tmp, "pacs-tls.pem")  # Orthanc wants certificate and key in one file
        with open(pem, "w") as out:
            for p in (crt, key):
                with open(p) as f:
                    out.write(f.read())
        return pem

    def start(self):
        os.makedirs(self.worklist_dir, exist_ok=True)
        pem = self._certs()
        self.net.start()
        db = os.path.join(self.tmp, "orthanc-db")
        conf = {
            "Name": "ihos-test-pacs", "StorageDirectory": db, "IndexDirectory": db,
            "HttpPort": self.http_port, "DicomPort": self.dicom_port, "DicomAet": "ORTHANC",
            "RemoteAccessAllowed": False, "AuthenticationEnabled": True,
            "RegisteredUsers": {"ihos": self.password},
            "Plugins": [PLUGINS + "/libOrthancDicomWeb.so", PLUGINS + "/libModalityWorklists.so"]
            + ([WSI_PLUGIN] if HAVE_WSI else []),
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "Worklists": {"Enable": True, "Database": self.worklist_dir},
            "DicomAlwaysAllowStore": True, "DicomAlwaysAllowFind": True, "DicomAlwaysAllowFindWorklist": True,
            "DicomAlwaysAllowEcho": True,
            "DicomCheckCalledAet": False, "StableAge": 1, "HttpDescribeErrors": True, "DefaultEncoding": "Utf8",
        }
        cfg = os.path.join(self.tmp, "orthanc.json")
        with open(cfg, "w") as f:
            json.dump(conf, f)
        self.log = open(os.path.join(self.tmp, "orthanc.log"), "w")
        self.proc = self.net.popen([ORTHANC, cfg], stdout=self.log, stderr=subprocess.STDOUT)
        hcfg = os.path.join(self.tmp, "pacs-haproxy.cfg")
        with open(hcfg, "w") as f:
            f.write("global\n  maxconn 200\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n"
                    "  timeout server 60s\nfrontend pacs\n  bind %s:%d ssl crt %s\n  default_backend orthanc\n"
                    "backend orthanc\n  server orthanc 127.0.0.1:%d\n" % (self.ip, self.tls_port, pem, self.http_port))
        self.proxy = self.net.popen(["haproxy", "-db", "-f", hcfg], stdout=self.log, stderr=subprocess.STDOUT)
        ctx = ssl.create_default_context(cafile=self.ca)
        auth = "Basic " + base64.b64encode(("ihos:" + self.password).encode()).decode()
        deadline = time.time() + 60
        while True:
            try:
                req = urllib.request.Request(self.url + "/system", headers={"Authorization": auth})
                urllib.request.urlopen(req, context=ctx, timeout=2).read()
                return self
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None or self.proxy.poll() is not None:
                    self.stop()
                    raise AssertionError("Orthanc did not start: " + open(os.path.join(self.tmp, "orthanc.log")).read()[-2000:])
                time.sleep(0.2)

    def stop(self):
        Netns.end(self.proxy, self.proc)
        self.proc = self.proxy = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None
        self.net.stop()

    # ---- the modality (dcmtk) -------------------------------------------------------------

    def worklist_query(self, accession):
        """findscu -W for one accession number, answers asked in UTF-8 (as a
        Chinese modality does, or in GB18030): the raw response text."""
        r = subprocess.run(["findscu", "-v", "-W", "-aec", "ORTHANC", self.ip, str(self.dicom_port),
                            "-k", "SpecificCharacterSet=ISO_IR 192", "-k", "AccessionNumber=" + accession, "-k", "PatientName", "-k", "PatientID",
                            "-k", "ScheduledProcedureStepSequence[0].Modality",
                            "-k", "RequestedProcedureDescription"],
                           capture_output=True, timeout=60)
        return (r.stdout + r.stderr).decode("utf-8", "replace")

    def upload(self, path):
        """A DICOM file through Orthanc's REST API (what storescu cannot
        negotiate, e.g. a JPEG whole-slide image)."""
        ctx = ssl.create_default_context(cafile=self.ca)
        auth = "Basic " + base64.b64encode(("ihos:" + self.password).encode()).decode()
        with open(path, "rb") as f:
            req = urllib.request.Request(self.url + "/instances", data=f.read(),
                                         headers={"Authorization": auth, "Content-Type": "application/dicom"})
        urllib.request.urlopen(req, context=ctx, timeout=30).read()

    def store(self, path):
        run("storescu", "-aec", "ORTHANC", self.ip, str(self.dicom_port), path)


def write_dicom(tmp, name, dump_text):
    """A DICOM file from a dcmtk dump (dump2dcm, long lines allowed)."""
    dump, out = os.path.join(tmp, name + ".dump"), os.path.join(tmp, name + ".dcm")
    with open(dump, "w") as f:
        f.write(dump_text)
    run("dump2dcm", "--line", "1000000", "+te", dump, out)
    return out


def slide(tmp, accession, patient_id, width=1024, height=768, tile=256):
    """A synthetic whole-slide image (pink tissue with purple nuclei on white)
    made into a DICOM pyramid of 3 levels of tile x tile tiles with
    orthanc-wsi's dicomizer; returns its files."""
    import struct
    import zlib
    raw = bytearray()
    for y in range(height):
        raw.append(0)
        for x in range(width):
            inside = ((x - width / 2) / (width * 0.3)) ** 2 + ((y - height / 2) / (height * 0.33)) ** 2 < 1
            px = (250, 250, 250) if not inside else (120, 60, 150) if (x // 16 + y // 16) % 5 == 0 else (230, 150, 190)
            raw += bytes(px)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    png = os.path.join(tmp, "slide-%s.png" % accession)
    with open(png, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(bytes(raw), 6)) + chunk(b"IEND", b""))
    ds = os.path.join(tmp, "slide-%s.json" % accession)
    with open(ds, "w") as f:
        json.dump({"PatientID": patient_id, "PatientName": "SYNTHETIC^SLIDE", "AccessionNumber": accession,
                   "StudyID": "1", "SeriesNumber": "1"}, f)
    out = os.path.join(tmp, "slide-" + accession)
    os.makedirs(out, exist_ok=True)
    run("OrthancWSIDicomizer", "--dataset", ds, "--pyramid", "1", "--levels", "3", "--tile-width", str(tile),
        "--tile-height", str(tile), "--compression", "jpeg", "--folder", out, png)
    return sorted(os.path.join(out, f) for f in os.listdir(out))


def uid():
    return "2.25.%d" % int.from_bytes(os.urandom(15), "big")


def ct_image(tmp, accession, patient_name, patient_id):
    """A tiny CT image (8x8, 16 bits) of a study with this accession number."""
    pixels = "\\".join("%04x" % (i * 50) for i in range(64))
    return write_dicom(tmp, "ct-" + accession, """(0008,0005) CS [ISO_IR 192]
(0008,0016) UI [1.2.840.10008.5.1.4.1.1.2]
(0008,0018) UI [%s]
(0008,0020) DA [20261201]
(0008,0050) SH [%s]
(0008,0060) CS [CT]
(0010,0010) PN [%s]
(0010,0020) LO [%s]
(0020,000d) UI [%s]
(0020,000e) UI [%s]
(0020,0013) IS [1]
(0028,0002) US 1
(0028,0004) CS [MONOCHROME2]
(0028,0010) US 8
(0028,0011) US 8
(0028,0100) US 16
(0028,0101) US 12
(0028,0102) US 11
(0028,0103) US 0
(7fe0,0010) OW %s
""" % (uid(), accession, patient_name, patient_id, uid(), uid(), pixels))


LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def ecg_value(lead, s, frequency=500):
    """Lead `lead` (0-11) at sample s, in microvolts: a synthetic beat every
    0.8 s (P, QRS, T as Gaussian bumps), scaled and signed per lead so each
    can be told apart."""
    t = (s / frequency) % 0.8
    g = lambda c, w, a: a * math.exp(-((t - c) / w) ** 2)
    v = g(0.16, 0.025, 100) + g(0.24, 0.008, -150) + g(0.26, 0.010, 1200) + g(0.28, 0.010, -300) + g(0.45, 0.04, 300)
    return int(round(v * (lead + 1) / 6 * (-1 if lead == 3 else 1)))


def ecg(tmp, accession, patient_name, patient_id, samples=5000):
    """A 12-lead ECG (DICOM 12-lead ECG waveform storage), 500 Hz, ten
    seconds of ecg_value()."""
    chans = []
    for k, lead in enumerate(LEADS):
        chans.append("""    (fffe,e000) na
      (003a,0208) SQ
        (fffe,e000) na
          (0008,0100) SH [5.6.3-9-%d]
          (0008,0102) SH [SCPECG]
          (0008,0104) LO [Lead %s]
        (fffe,e00d) na
      (fffe,e0dd) na
      (003a,0210) DS [1]
      (003a,0211) SQ
        (fffe,e000) na
          (0008,0100) SH [uV]
          (0008,0102) SH [UCUM]
          (0008,0104) LO [microvolt]
        (fffe,e00d) na
      (fffe,e0dd) na
      (003a,021a) US 16
    (fffe,e00d) na
""" % (k + 1, lead))
    words = []
    for s in range(samples):
        for k in range(12):
            words.append("%04x" % (ecg_value(k, s) & 0xFFFF))
    return write_dicom(tmp, "ecg-" + accession, """(0008,0005) CS [ISO_IR 192]
(0008,0016) UI [1.2.840.10008.5.1.4.1.1.9.1.1]
(0008,0018) UI [%s]
(0008,0050) SH [%s]
(0008,0060) CS [ECG]
(0010,0010) PN [%s]
(0010,0020) LO [%s]
(0020,000d) UI [%s]
(0020,000e) UI [%s]
(0020,0013) IS [1]
(5400,0100) SQ
  (fffe,e000) na
    (0018,1068) DS [0]
    (003a,0004) CS [ORIGINAL]
    (003a,0005) US 12
    (003a,0010) UL %d
    (003a,001a) DS [500]
    (003a,0200) SQ
%s    (fffe,e0dd) na
    (5400,1004) US 16
    (5400,1006) CS [SS]
    (5400,1010) OW %s
  (fffe,e00d) na
(fffe,e0dd) na
""" % (uid(), accession, patient_name, patient_id, uid(), uid(), samples, "".join(chans), "\\".join(words)))
