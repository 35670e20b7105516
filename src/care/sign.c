/* sign.c — staff signatures (L3 / GB/T 39786 8.4h, non-repudiation): each
 * doctor and pharmacist has their own key pair (Ed25519 or SM2), made on
 * first use, its private half sealed under the keyring's signing key
 * (keys/keys.h).  Callers sign only inside a request of that person's full
 * two-factor session: the key is opened, used and freed within it. */
#include "care/care_impl.h"

#include "keys/keys.h"

ih_err cl_sign(ih_clinic *c, ih_tx *tx, int64_t staff_id, const ih_buf *content, int64_t *key_id, ih_buf *sig)
{
    ih_signkey *k = NULL;
    ih_err e = ih_signkey_load(tx, c->o.keys, "staff", staff_id, &k, key_id);
    if (e == IH_E_NOT_FOUND) {
        ih_err_clear();
        e = ih_sign_generate(ih_keyring_suite(c->o.keys), &k);
        if (e == IH_OK) e = ih_signkey_create(tx, c->o.keys, "staff", staff_id, k, key_id);
    }
    if (e == IH_OK) e = ih_sign(k, content->p, content->len, sig);
    ih_signkey_free(k);
    return e;
}
