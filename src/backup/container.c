/* container.c — see container.h.  Chunk on disk: u32 length (big-endian)
 * then the AEAD ciphertext; a zero length ends the payload.  Associated
 * data: "ihos-backup" || u64 index || 1 byte "last". */
#include "backup/container.h"

#include <stdlib.h>
#include <string.h>

static void ad_for(uint64_t index, bool last, uint8_t ad[20])
{
    memcpy(ad, "ihos-backup", 11);
    for (int i = 0; i < 8; i++) ad[11 + i] = (uint8_t)(index >> (56 - 8 * i));
    ad[19] = last ? 1 : 0;
}

static ih_err key_init(ih_dek *k, ih_suite s, const uint8_t key[32])
{
    memset(k, 0, sizeof *k);
    k->suite = s;
    k->version = 1;
    memcpy(k->root, key, 32);
    return ih_dek_derive(k);
}

ih_err bk_writer_open(bk_writer *w, FILE *f, ih_suite s, const uint8_t key[32])
{
    memset(w, 0, sizeof *w);
    w->f = f;
    w->buf = malloc(BK_CHUNK);
    IH_CHECK_ALLOC(w->buf);
    IH_TRY(key_init(&w->key, s, key));
    return ih_hasher_new(ih_suite_md(s), &w->payload_hash);
}

static void emit(bk_writer *w, const void *p, size_t n)
{
    if (w->e != IH_OK) return;
    if (fwrite(p, 1, n, w->f) != n) w->e = ih_fail(IH_E_IO, "backup write failed (disk full?)");
    else w->e = ih_hasher_update(w->payload_hash, p, n);
    w->bytes += n;
}

static void flush_chunk(bk_writer *w, bool last)
{
    if (w->e != IH_OK) return;
    uint8_t ad[20];
    ad_for(w->chunks, last, ad);
    ih_buf ct = IH_BUF_INIT;
    w->e = ih_aead_seal(&w->key, ad, sizeof ad, w->buf, w->used, &ct);
    if (w->e == IH_OK) {
        uint8_t len[4] = {(uint8_t)(ct.len >> 24), (uint8_t)(ct.len >> 16), (uint8_t)(ct.len >> 8), (uint8_t)ct.len};
        emit(w, len, 4);
        emit(w, ct.p, ct.len);
    }
    ih_buf_free(&ct);
    w->chunks++;
    w->used = 0;
}

void bk_write(bk_writer *w, const void *p, size_t n)
{
    const uint8_t *s = p;
    while (n && w->e == IH_OK) {
        size_t take = BK_CHUNK - w->used < n ? BK_CHUNK - w->used : n;
        memcpy(w->buf + w->used, s, take);
        w->used += take;
        s += take;
        n -= take;
        if (w->used == BK_CHUNK) flush_chunk(w, false);
    }
}

ih_err bk_writer_close(bk_writer *w)
{
    flush_chunk(w, true); /* possibly empty: it carries the "last" mark */
    static const uint8_t end[4] = {0, 0, 0, 0};
    emit(w, end, 4);
    ih_wipe(w->buf, BK_CHUNK);
    free(w->buf);
    ih_wipe(&w->key, sizeof w->key);
    w->buf = NULL;
    return w->e;
}

ih_err bk_reader_open(bk_reader *r, FILE *f, ih_suite s, const uint8_t key[32])
{
    memset(r, 0, sizeof *r);
    r->f = f;
    return key_init(&r->key, s, key);
}

static ih_err next_chunk(bk_reader *r)
{
    if (r->last_seen) return ih_fail(IH_E_INTEGRITY, "backup payload shorter than its manifest says");
    uint8_t len[4];
    if (fread(len, 1, 4, r->f) != 4) return ih_fail(IH_E_INTEGRITY, "backup payload truncated");
    size_t n = (size_t)len[0] << 24 | (size_t)len[1] << 16 | (size_t)len[2] << 8 | len[3];
    if (n == 0 || n > BK_CHUNK + 256) return ih_fail(IH_E_INTEGRITY, "backup chunk %llu malformed", (unsigned long long)r->index);
    uint8_t *ct = malloc(n);
    IH_CHECK_ALLOC(ct);
    if (fread(ct, 1, n, r->f) != n) {
        free(ct);
        return ih_fail(IH_E_INTEGRITY, "backup payload truncated");
    }
    ih_buf pt = IH_BUF_INIT;
    ih_err e = IH_E_INTEGRITY;
    for (int last = 0; last < 2 && e != IH_OK; last++) { /* which of the two ADs authenticates it */
        uint8_t ad[20];
        ad_for(r->index, last, ad);
        ih_buf_reset(&pt);
        if (ih_aead_open(&r->key, ad, sizeof ad, ct, n, &pt) == IH_OK) {
            e = IH_OK;
            r->last_seen = last;
        }
    }
    free(ct);
    if (e != IH_OK) {
        ih_buf_wipe(&pt);
        return ih_fail(IH_E_INTEGRITY, "backup chunk %llu fails authentication (wrong recovery key, or the file was "
                                       "changed)", (unsigned long long)r->index);
    }
    if (r->buf) {
        ih_wipe(r->buf, r->len);
        free(r->buf);
    }
    r->buf = (uint8_t *)pt.p;
    r->len = pt.len;
    r->pos = 0;
    r->index++;
    return IH_OK;
}

ih_err bk_read(bk_reader *r, void *p, size_t n)
{
    uint8_t *d = p;
    while (n) {
        if (r->pos == r->len) IH_TRY(next_chunk(r));
        size_t take = r->len - r->pos < n ? r->len - r->pos : n;
        memcpy(d, r->buf + r->pos, take);
        r->pos += take;
        d += take;
        n -= take;
    }
    return IH_OK;
}

void bk_reader_close(bk_reader *r)
{
    if (r->buf) {
        ih_wipe(r->buf, r->len);
        free(r->buf);
    }
    ih_wipe(&r->key, sizeof r->key);
}
