/* container.h — the backup file's chunked encryption (internal to backup/). */
#ifndef IH_BACKUP_CONTAINER_H
#define IH_BACKUP_CONTAINER_H

#include "crypto/aead.h"

#include <stdio.h>

#define BK_MAGIC "IHOSBACKUP 1\n"
#define BK_CHUNK (1u << 20)

typedef struct bk_writer {
    FILE *f;
    ih_dek key;
    ih_hasher *payload_hash; /* over the bytes written to the file */
    uint8_t *buf;
    size_t used;
    uint64_t chunks, bytes;
    ih_err e;
} bk_writer;

ih_err bk_writer_open(bk_writer *w, FILE *f, ih_suite s, const uint8_t key[32]);
void bk_write(bk_writer *w, const void *p, size_t n);
/* Seal the final chunk and the end marker. */
ih_err bk_writer_close(bk_writer *w);

typedef struct bk_reader {
    FILE *f;
    ih_dek key;
    uint8_t *buf;
    size_t len, pos;
    uint64_t index;
    bool last_seen;
    ih_err e;
} bk_reader;

ih_err bk_reader_open(bk_reader *r, FILE *f, ih_suite s, const uint8_t key[32]);
/* Read exactly n plaintext bytes (across chunks). */
ih_err bk_read(bk_reader *r, void *p, size_t n);
void bk_reader_close(bk_reader *r);

#endif
