/* signed.h — JSON documents signed with the audit key (the trust manifest,
 * the filing pack's manifest), and the pieces of the printable pages (the
 * self-check report, the filing pack's index).
 *
 * The signature covers the object without its "signature" member, keys
 * sorted, compact (jansson's JSON_COMPACT | JSON_SORT_KEYS, UTF-8 as is), and
 * is stored base64 in "signature": anyone with keys/audit.pub can check it
 * (the filing test does so with python3-cryptography).
 */
#ifndef IH_COMPLIANCE_SIGNED_H
#define IH_COMPLIANCE_SIGNED_H

#include "crypto/sign.h"

#include <jansson.h>
#include <stdbool.h>

/* Sign obj (any "signature" is replaced). */
ih_err ih_json_sign(json_t *obj, const ih_signkey *key);
/* Does obj's "signature" verify with pub? */
bool ih_json_verify(const json_t *obj, const ih_signkey *pub);

/* "<!DOCTYPE html>…<body>\n" of a standalone printable page in Chinese: a
 * CSP with nothing but its own inline style (allowed by hash) and, when
 * img_self, images from the same directory. */
ih_err ih_html_page_head(ih_buf *out, const char *title, const char *style, bool img_self);
/* <tag class="cls">text</tag>, the text escaped (cls may be NULL). */
ih_err ih_html_cell(ih_buf *out, const char *tag, const char *cls, const char *text);

#endif
