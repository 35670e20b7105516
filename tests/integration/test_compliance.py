"""Compliance evidence (issue 18, first part): `ihos sbom`, the bill of
materials an operator tracks known vulnerabilities with (8.1.4.4e).

Checked against the system itself: every library ihosd links (ldd) is in
the list with the version dpkg reports for its package, package URLs carry
Debian versions percent-encoded, and a library no package owns (a copy
preloaded from a temporary directory) is listed as unpackaged.
"""
import json
import os
import re
import shutil
import subprocess

from tests.integration.harness import IHOSD, IhosTestCase, run_ihos


def dpkg_version(pkg):
    return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True,
                          check=True).stdout


class SbomTest(IhosTestCase):
    def sbom(self, env=None):
        p = run_ihos("sbom", env=env)
        return json.loads(p.stdout)

    def files(self, doc):
        """{real path of a file: component}"""
        out = {}
        for c in doc["components"]:
            for prop in c.get("properties", []):
                if prop["name"] == "ihos:file":
                    out[prop["value"].split(" sha256:")[0]] = c
        return out

    def test_every_linked_library_with_its_package_version(self):
        doc = self.sbom()
        self.assertEqual(doc["bomFormat"], "CycloneDX")
        self.assertEqual(doc["specVersion"], "1.5")
        self.assertRegex(doc["serialNumber"], r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-")
        self.assertEqual(doc["metadata"]["component"]["name"], "ihos")
        files = self.files(doc)
        # ihosd links what ihos links: each of its libraries is listed
        ldd = subprocess.run(["ldd", IHOSD], capture_output=True, text=True, check=True).stdout
        linked = [os.path.realpath(m) for m in re.findall(r"=> (/\S+)", ldd)]
        self.assertGreater(len(linked), 8)
        for path in linked:
            self.assertIn(path, files, "ihosd links %s, the bill of materials lacks it" % path)
        # the versions are dpkg's, and the file hashes are the files'
        by_name = {c["name"]: c for c in doc["components"]}
        for pkg in ("libssl3", "libsqlite3-0", "libpq5", "libsodium23", "libjansson4", "libc6"):
            self.assertIn(pkg, by_name)
            self.assertEqual(by_name[pkg]["version"], dpkg_version(pkg))
            self.assertTrue(by_name[pkg]["purl"].startswith("pkg:deb/debian/%s@" % pkg))
        for c in doc["components"]:
            if "+" in c["version"]:
                self.assertIn("%2B", c["purl"])
                self.assertNotIn("+", c["purl"].split("@")[1].split("?")[0])
        libssl = next(p for p in files if os.path.basename(p).startswith("libssl.so"))
        digest = subprocess.run(["sha256sum", libssl], capture_output=True, text=True, check=True).stdout.split()[0]
        self.assertIn("%s sha256:%s" % (libssl, digest),
                      [p["value"] for p in files[libssl]["properties"]])
        # compiled in from Debian's sources
        self.assertEqual(by_name["node-llhttp"]["version"], dpkg_version("node-llhttp"))
        # every component is something ihos depends on
        refs = {c["bom-ref"] for c in doc["components"]}
        self.assertEqual(set(doc["dependencies"][0]["dependsOn"]), refs)

    def test_unpackaged_library_is_marked(self):
        src = next(p for p in ("/usr/lib/x86_64-linux-gnu/libffi.so.8", "/lib/x86_64-linux-gnu/libffi.so.8")
                   if os.path.exists(p))
        copy = os.path.join(self.tmp, "libhandmade.so")
        shutil.copy(src, copy)
        env = dict(os.environ, LD_PRELOAD=copy, ASAN_OPTIONS="verify_asan_link_order=0")
        files = self.files(self.sbom(env=env))
        self.assertIn(os.path.realpath(copy), files)
        c = files[os.path.realpath(copy)]
        self.assertEqual(c["version"], "unknown")
        self.assertIn({"name": "ihos:unpackaged", "value": "true"}, c["properties"])

    def test_out_file_and_errors(self):
        out = os.path.join(self.tmp, "sbom.json")
        run_ihos("sbom", "--out", out)
        with open(out) as f:
            self.assertEqual(json.load(f)["bomFormat"], "CycloneDX")
        p = run_ihos("sbom", "--bogus", check=False)
        self.assertEqual(p.returncode, 2)
        p = run_ihos("sbom", "--out", os.path.join(self.tmp, "no", "such", "dir", "x.json"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stderr, r"^ihos: cannot write .*\n$")
