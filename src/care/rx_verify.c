/* rx_verify.c — offline verification of a prescription bundle (`ihos rx
 * verify`): recompute the canonical contents from the fields the bundle
 * carries and check the doctor's and the pharmacist's signatures with the
 * public keys it carries.  Needs no database, no instance, no keyring;
 * compare the keys' fingerprints with the hospital's published ones. */
#include "care/care.h"
#include "care/rx_impl.h"

#include "crypto/sign.h"

#include <stdio.h>
#include <string.h>

static ih_err b64_field(json_t *o, const char *k, ih_buf *out)
{
    const char *s = json_string_value(json_object_get(o, k));
    if (!s) return ih_fail(IH_E_INTEGRITY, "bundle: %s missing", k);
    IH_TRY(ih_buf_reserve(out, strlen(s)));
    long n = ih_b64_decode(s, strlen(s), (uint8_t *)out->p, out->cap);
    if (n < 0) return ih_fail(IH_E_INTEGRITY, "bundle: %s is not base64", k);
    out->len = (size_t)n;
    return IH_OK;
}

static ih_err check_one(json_t *signer, const ih_buf *content, const char *who)
{
    const char *pem = json_string_value(json_object_get(signer, "public_key"));
    if (!pem) return ih_fail(IH_E_INTEGRITY, "bundle: the %s's public key is missing", who);
    ih_signkey *k = NULL;
    ih_buf sig = IH_BUF_INIT;
    ih_err e = ih_sign_public_from_pem(pem, strlen(pem), &k);
    if (e == IH_OK) e = b64_field(signer, "signature", &sig);
    if (e == IH_OK) e = ih_verify(k, content->p, content->len, sig.p, sig.len);
    if (e == IH_E_INTEGRITY) e = ih_fail(IH_E_INTEGRITY, "the %s's signature does not verify", who);
    ih_signkey_free(k);
    ih_buf_free(&sig);
    return e;
}

ih_err ih_rx_bundle_verify(json_t *b, char *msg, size_t n)
{
    const char *fmt = json_string_value(json_object_get(b, "format"));
    if (!fmt || strcmp(fmt, "ihos-rx-bundle-v1")) return ih_fail(IH_E_INTEGRITY, "not an ihos prescription bundle");
    json_t *p = json_object_get(b, "prescription"), *doc = json_object_get(b, "doctor"), *rev = json_object_get(b, "review");
    if (!json_is_object(p) || !json_is_object(doc)) return ih_fail(IH_E_INTEGRITY, "bundle: prescription or doctor missing");
    ih_buf content = IH_BUF_INIT, dsig = IH_BUF_INIT;
    ih_err e = rx_canon_issue(p, &content);
    if (e == IH_OK) e = check_one(doc, &content, "doctor");
    if (e == IH_OK && rev) {
        ih_buf_reset(&content);
        e = b64_field(doc, "signature", &dsig);
        if (e == IH_OK) e = rx_canon_review(p, rev, (const uint8_t *)dsig.p, dsig.len, &content);
        if (e == IH_OK) e = check_one(rev, &content, "pharmacist");
    }
    ih_buf_free(&content);
    ih_buf_free(&dsig);
    if (e == IH_OK)
        snprintf(msg, n, "OK: prescription %s (id %lld) signed by doctor %lld%s%s%s", 
                 json_string_value(json_object_get(p, "recipe_no")), (long long)json_integer_value(json_object_get(p, "id")),
                 (long long)json_integer_value(json_object_get(p, "doctor_id")),
                 rev ? "; review '" : "; not yet reviewed",
                 rev ? json_string_value(json_object_get(rev, "decision")) : "", rev ? "' signed by the pharmacist" : "");
    return e;
}
