/* tianjin.c — the Tianjin profile: methods, encoding and signing, and the
 * reading of responses (../shared/reference/tianjin-supervision.md; the
 * field mapping is in tianjin_map.c). */
#include "report/profile.h"
#include "report/tianjin_crypto.h"
#include "report/tianjin_map.h"

#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *kind, *method;
    bool updatable;
} methods[] = {
    {"consult", "uploadConsultIndicators", false},
    {"followup", "uploadReferralIndicators", false},
    {"record", "uploadElectMedicalRecord", true},
    {"prescription", "uploadRecipeIndicators", false},
    {"dispense", "uploadRecipeVerificationIndicators", false},
    {"evaluation", "uploadBusinessInfoAfter", false},
    {"adverse", "pushMedicalDispute", false},
    {"adverse_empty", "pushMedicalDispute", false},
    {"drug", "uploadDrugCatalogue", true},
    /* institution, department and staff filings are not methods of this
     * platform (only of the vendor's older SDK): not reported here. */
};

static const char *tj_method(const char *kind)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (!strcmp(methods[i].kind, kind)) return methods[i].method;
    return NULL;
}

static bool tj_updatable(const char *kind)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (!strcmp(methods[i].kind, kind)) return methods[i].updatable;
    return false;
}

static ih_err tj_encode(const ih_profile_ctx *ctx, const char *method, const char *json, size_t n, int64_t now_ms,
                        const char *nonce, ih_buf *body, ih_buf *headers)
{
    if (ctx->app_secret_len != 16) return ih_fail(IH_E_CONFIG, "the Tianjin appSecret is 32 hex characters (16 bytes)");
    IH_TRY(ih_tj_encrypt(ctx->app_secret, json, n, body));
    char md5[65], sig[65], ts[24];
    IH_TRY(ih_tj_sm3_hex(body->p, body->len, md5));
    snprintf(ts, sizeof ts, "%lld", (long long)now_ms);
    ih_buf canon = IH_BUF_INIT;
    ih_err e = ih_tj_canonical(ctx->app_key, nonce, ts, md5, method, &canon);
    if (e == IH_OK) e = ih_tj_sm3_hex(canon.p, canon.len, sig);
    ih_buf_free(&canon);
    IH_TRY(e);
    return ih_buf_printf(headers,
                         "Content-Type: application/json\r\n"
                         "X-Service-Id: %s\r\n"
                         "X-Service-Method: %s\r\n"
                         "X-Ca-Key: %s\r\n"
                         "X-Ca-Nonce: %s\r\n"
                         "X-Ca-Timestamp: %s\r\n"
                         "X-Content-MD5: %s\r\n"
                         "X-Ca-Signature-Headers: x-ca-key,x-ca-nonce,x-ca-timestamp,x-content-md5,x-service-id,"
                         "x-service-method\r\n"
                         "X-Ca-Signature: %s\r\n",
                         IH_TJ_SERVICE_ID, method, ctx->app_key, nonce, ts, md5, sig);
}

/* {"code":200,"body":{"msgCode":200,"msg":"..."}} */
static ih_upload_outcome tj_classify(long status, const char *body, size_t n, char *msg, size_t msgn)
{
    snprintf(msg, msgn, "HTTP %ld", status);
    if (status >= 500) return IH_UP_RETRY;
    json_t *j = NULL;
    if (ih_json_parse_object(body ? body : "", n, &j) != IH_OK) {
        /* 2xx with something unreadable: it may have been stored */
        snprintf(msg, msgn, "HTTP %ld with an unreadable answer", status);
        return status >= 200 && status < 300 ? IH_UP_UNKNOWN : IH_UP_RETRY;
    }
    json_int_t code = json_integer_value(json_object_get(j, "code"));
    json_t *inner = json_object_get(j, "body");
    json_int_t mc = json_integer_value(json_object_get(inner, "msgCode"));
    const char *m = json_string_value(json_object_get(inner, "msg"));
    if (!m) m = json_string_value(json_object_get(j, "msg"));
    snprintf(msg, msgn, "code %lld, msgCode %lld: %.200s", (long long)code, (long long)mc, m ? m : "");
    ih_upload_outcome out;
    if (code == 200 && mc == 200) out = IH_UP_OK;
    else if (code == 200) out = IH_UP_DATA_ERROR; /* -99 empty required field, -98 no data, -1 failure */
    else if (code == 40001) out = IH_UP_DATA_ERROR;
    else out = IH_UP_RETRY; /* -1 busy, 40011 expired, and credential or permission errors an operator fixes */
    json_decref(j);
    return out;
}

const ih_profile ih_profile_tianjin = {
    .name = "tianjin",
    .method = tj_method,
    .updatable = tj_updatable,
    .map = ih_tj_map,
    .encode = tj_encode,
    .classify = tj_classify,
    .personal = ih_tj_personal,
};

const ih_profile *ih_profile_find(const char *name)
{
    if (name && !strcmp(name, "tianjin")) return &ih_profile_tianjin;
    return NULL;
}
