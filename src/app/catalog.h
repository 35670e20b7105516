/* catalog.h — every table whose rows the instance protects, in one list.
 *
 * Each module describes its own tables (keys/protected.h): the clinic's
 * registry and care descriptors, identity's accounts and sessions, the
 * grants, the signing keys, the supervision outbox and secret.  Everything
 * that walks protected tables is derived from this list:
 *   - key rotation: re-seal, then retire (keys/reseal.h);
 *   - the integrity scan: every row MAC, every ciphertext still under a key
 *     version the keyring holds, every row the audit journal recorded still
 *     there and not older than recorded (rows deleted, or put back from an
 *     older copy), and the schema check — a table or sealed column of the
 *     database that no module describes is itself a failure.
 */
#ifndef IH_APP_CATALOG_H
#define IH_APP_CATALOG_H

#include "app/app.h"
#include "keys/protected.h"
#include "keys/reseal.h"

#define IH_CATALOG_MAX 64

typedef struct ih_catalog {
    ih_sealed_column sealed[IH_CATALOG_MAX];
    size_t nsealed;
    ih_mac_scan scans[IH_CATALOG_MAX];
    size_t nscans;
    /* context of the grants' scan */
    ih_store *store;
    ih_keyring *keys;
} ih_catalog;

/* From the modules of a running instance (report may be NULL only in tools
 * that never touch the outbox; then its tables count as undescribed). */
void ih_catalog_build(ih_catalog *c, ih_store *s, ih_keyring *k, ih_identity *id, ih_clinic *cl, ih_report *r);

/* One re-seal pass over every sealed column (keys/reseal.h). */
ih_err ih_catalog_reseal(ih_catalog *c, ih_audit *a, int64_t grace_ms, ih_reseal_report *r);

typedef struct ih_integrity_report {
    uint64_t rows;           /* rows whose MAC was checked */
    uint64_t bad;            /* of those, failing */
    uint64_t sealed_rows;    /* rows whose ciphertexts were checked for a live key version */
    uint64_t unopenable;     /* of those, under a version the keyring does not hold */
    uint64_t missing;        /* rows the audit journal says were written, gone from their table */
    uint64_t older;          /* rows older than the version the journal recorded (put back) */
    char schema_problem[256]; /* a protected table or column no module describes, or "" */
    char bad_tables[256];     /* tables with a failing, missing or older row: "account,role_grant" */
} ih_integrity_report;

/* The whole scan; failures are recorded (integrity.violation) and alerted
 * one by one.  IH_OK when the scan ran, whatever it found. */
ih_err ih_catalog_scan(ih_catalog *c, ih_audit *a, ih_integrity_report *r);

#endif
