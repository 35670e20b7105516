/* signed.c — see signed.h. */
#include "compliance/signed.h"

#include "core/json.h"

#include <stdlib.h>
#include <string.h>

static ih_err signed_bytes(const json_t *obj, ih_buf *out)
{
    json_t *body = json_deep_copy(obj);
    IH_CHECK_ALLOC(body);
    json_object_del(body, "signature");
    ih_err e = ih_json_dump(body, JSON_COMPACT | JSON_SORT_KEYS, out);
    json_decref(body);
    return e;
}

ih_err ih_json_sign(json_t *obj, const ih_signkey *key)
{
    ih_buf text = IH_BUF_INIT, sig = IH_BUF_INIT;
    ih_err e = signed_bytes(obj, &text);
    if (e == IH_OK) e = ih_sign(key, text.p, text.len, &sig);
    char *b64 = e == IH_OK ? malloc(sig.len * 4 / 3 + 8) : NULL;
    if (e == IH_OK && !b64) e = ih_fail(IH_E_NOMEM, "out of memory");
    if (e == IH_OK) {
        ih_b64_encode((const uint8_t *)sig.p, sig.len, b64);
        if (json_object_set_new(obj, "signature", json_string(b64)) != 0) e = ih_fail(IH_E_NOMEM, "out of memory");
    }
    free(b64);
    ih_buf_free(&text);
    ih_buf_free(&sig);
    return e;
}

bool ih_json_verify(const json_t *obj, const ih_signkey *pub)
{
    const char *sig64 = json_string_value(json_object_get(obj, "signature"));
    uint8_t sig[256];
    long n = sig64 ? ih_b64_decode(sig64, strlen(sig64), sig, sizeof sig) : -1;
    ih_buf text = IH_BUF_INIT;
    bool ok = n > 0 && signed_bytes(obj, &text) == IH_OK && ih_verify(pub, text.p, text.len, sig, (size_t)n) == IH_OK;
    ih_buf_free(&text);
    ih_err_clear();
    return ok;
}

ih_err ih_html_page_head(ih_buf *out, const char *title, const char *style, bool img_self)
{
    uint8_t d[32];
    char h64[48];
    IH_TRY(ih_digest(IH_MD_SHA256, style, strlen(style), d));
    h64[ih_b64_encode(d, sizeof d, h64)] = 0;
    IH_TRY(ih_buf_printf(out,
                         "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
                         "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';%s style-src "
                         "'sha256-%s'\"><title>",
                         img_self ? " img-src 'self';" : "", h64));
    IH_TRY(ih_buf_html_escape(out, title));
    IH_TRY(ih_buf_puts(out, "</title><style>"));
    IH_TRY(ih_buf_puts(out, style));
    return ih_buf_puts(out, "</style></head><body>\n");
}

ih_err ih_html_cell(ih_buf *out, const char *tag, const char *cls, const char *text)
{
    IH_TRY(ih_buf_printf(out, "<%s%s%s%s>", tag, cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : ""));
    IH_TRY(ih_buf_html_escape(out, text ? text : ""));
    return ih_buf_printf(out, "</%s>", tag);
}
