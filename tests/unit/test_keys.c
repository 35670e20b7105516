/* test_keys.c — data-key rotation, re-encryption, retirement and KEK
 * rotation (L3 8.1.4.8b, 8.1.4.7b), on SQLite and PostgreSQL.
 *
 * A test table `sealed_t(id, v, expect)` holds values sealed under the
 * `personal` key; each row's plaintext is also kept in `expect`, so a row
 * that can no longer be opened, or opens to something else, is a failure. */
#include "support.h"

#include "app/catalog.h"
#include "app/instance.h"
#include "core/clock.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "crypto/protect.h"
#include "keys/keys.h"
#include "keys/reseal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    t_base b;
    ih_migration *schema;
    /* the services, so that rotation walks the whole catalog */
    ih_identity *id;
    ih_clinic *c;
    ih_report *r;
    ih_catalog cat;
} fx;

static int setup(void **state, ih_store_kind kind)
{
    fx *f = calloc(1, sizeof *f);
    f->schema = calloc(ih_schema_count + 1, sizeof *f->schema);
    memcpy(f->schema, ih_schema, ih_schema_count * sizeof *f->schema);
    f->schema[ih_schema_count] = (ih_migration){
        1000, "test sealed table", "CREATE TABLE sealed_t (id INTEGER PRIMARY KEY, v BLOB NOT NULL, expect TEXT NOT NULL)",
        NULL};
    t_base_open(&f->b, kind, IH_SUITE_INTL, f->schema, ih_schema_count + 1);
    ih_identity_opts io = t_identity_opts(&f->b);
    T_OK(ih_identity_new(&io, &f->id));
    ih_report_opts ro = {.store = f->b.s, .keys = f->b.kr, .audit = f->b.a, .profile = "tianjin"};
    T_OK(ih_report_new(&ro, &f->r));
    ih_clinic_opts co = {.store = f->b.s, .keys = f->b.kr, .audit = f->b.a, .identity = f->id, .report = f->r,
                         .utc_offset_minutes = 480, .privacy_version = "v1", .agreement_version = "v1",
                         .realname_timeout_s = 5, .registrations_per_minute = 100, .rx_max_days = 7,
                         .rx_valid_days = 3, .break_glass_hours = 4};
    T_OK(ih_clinic_new(&co, &f->c));
    ih_catalog_build(&f->cat, f->b.s, f->b.kr, f->id, f->c, f->r);
    *state = f;
    return 0;
}

static int setup_sqlite(void **s) { return setup(s, IH_STORE_SQLITE); }
static int setup_pg(void **s) { return setup(s, IH_STORE_PG); }

static int teardown(void **state)
{
    fx *f = *state;
    ih_clinic_free(f->c);
    ih_report_free(f->r);
    ih_identity_free(f->id);
    t_base_close(&f->b);
    free(f->schema);
    free(f);
    return 0;
}

/* ---- the test table ------------------------------------------------------------ */

typedef struct {
    fx *f;
    const char *value;
    int64_t id;
} put_arg;

static ih_err put_fn(ih_tx *tx, void *arg)
{
    put_arg *p = arg;
    IH_TRY(ih_tx_next_id(tx, "sealed_t", &p->id));
    ih_buf ct = IH_BUF_INIT;
    IH_TRY(ih_field_seal_str(p->f->b.kr, IH_KP_PERSONAL, "sealed_t", "v", p->id, p->value, &ct));
    ih_stmt *st;
    ih_err e = ih_tx_prepare(tx, "INSERT INTO sealed_t (id, v, expect) VALUES ($1, $2, $3)", &st);
    if (e == IH_OK) {
        ih_stmt_int(st, 1, p->id);
        ih_stmt_blob(st, 2, ct.p, ct.len);
        ih_stmt_text(st, 3, p->value);
        e = ih_stmt_exec(st);
    }
    ih_buf_free(&ct);
    return e;
}

static int64_t put(fx *f, const char *value)
{
    put_arg p = {f, value, 0};
    T_OK(ih_store_write(f->b.s, put_fn, &p));
    return p.id;
}

static ih_err reseal_row(void *ctx, ih_tx *tx, int64_t id)
{
    fx *f = ctx;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT v FROM sealed_t WHERE id = $1", &st));
    ih_stmt_int(st, 1, id);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return IH_OK;
    size_t n;
    const uint8_t *ct = ih_col_blob(st, 0, &n);
    ih_buf pt = IH_BUF_INIT, out = IH_BUF_INIT;
    ih_err e = ih_field_open(f->b.kr, IH_KP_PERSONAL, "sealed_t", "v", id, ct, n, &pt);
    if (e == IH_OK) e = ih_field_seal(f->b.kr, IH_KP_PERSONAL, "sealed_t", "v", id, pt.p, pt.len, &out);
    ih_buf_wipe(&pt);
    if (e == IH_OK) e = ih_tx_prepare(tx, "UPDATE sealed_t SET v = $2 WHERE id = $1", &st);
    if (e == IH_OK) {
        ih_stmt_int(st, 1, id);
        ih_stmt_blob(st, 2, out.p, out.len);
        e = ih_stmt_exec(st);
    }
    ih_buf_free(&out);
    return e;
}

/* The instance's catalog plus the test table. */
#define NCOLS (IH_CATALOG_MAX + 1)
static size_t columns(fx *f, ih_sealed_column *cols)
{
    memcpy(cols, f->cat.sealed, f->cat.nsealed * sizeof *cols);
    size_t n = f->cat.nsealed;
    cols[n++] = (ih_sealed_column){"sealed_t", "v", IH_KP_PERSONAL,
                                   "SELECT id, v FROM sealed_t WHERE id > $1 ORDER BY id LIMIT $2",
                                   "SELECT count(*) FROM sealed_t WHERE substr(v, 2, 4) < $1", reseal_row, f};
    return n;
}

typedef struct {
    fx *f;
    int64_t rows, bad;
    uint32_t versions[8]; /* rows per key version 0..7 */
} check_arg;

static ih_err check_fn(ih_tx *tx, void *arg)
{
    check_arg *c = arg;
    memset(c->versions, 0, sizeof c->versions);
    c->rows = c->bad = 0;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id, v, expect FROM sealed_t ORDER BY id", &st));
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        c->rows++;
        size_t n;
        const uint8_t *ct = ih_col_blob(st, 1, &n);
        int64_t v = ih_aead_version(ct, n);
        if (v >= 0 && v < 8) c->versions[v]++;
        ih_buf pt = IH_BUF_INIT;
        if (ih_field_open(c->f->b.kr, IH_KP_PERSONAL, "sealed_t", "v", ih_col_int(st, 0), ct, n, &pt) != IH_OK ||
            pt.len != strlen(ih_col_text(st, 2)) || memcmp(pt.p, ih_col_text(st, 2), pt.len))
            c->bad++;
        ih_buf_wipe(&pt);
    }
    return e;
}

static check_arg check(fx *f)
{
    check_arg c = {.f = f};
    T_OK(ih_store_read(f->b.s, check_fn, &c));
    return c;
}

typedef struct {
    int64_t n;
} count_arg;

static ih_err count_dek_fn(ih_tx *tx, void *arg)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT count(*) FROM dek WHERE purpose = $1 AND wrapped IS NOT NULL", &st));
    ih_stmt_int(st, 1, IH_KP_PERSONAL);
    IH_TRY(ih_stmt_step(st, &row));
    ((count_arg *)arg)->n = ih_col_int(st, 0);
    return IH_OK;
}

static int64_t stored_personal_keys(fx *f)
{
    count_arg c = {0};
    T_OK(ih_store_read(f->b.s, count_dek_fn, &c));
    return c.n;
}

/* ---- tests ------------------------------------------------------------------------ */

/* A new version takes new writes; the pass moves old rows over and retires
 * the old version only after the grace period, deleting its wrapped key. */
static void t_rotate_reencrypt_retire(void **state)
{
    fx *f = *state;
    char v[64];
    for (int i = 0; i < 30; i++) {
        snprintf(v, sizeof v, "value-%d", i);
        put(f, v);
    }
    assert_int_equal(check(f).versions[1], 30);
    uint32_t ver = 0;
    T_OK(ih_keys_rotate(f->b.s, f->b.kr, IH_KP_PERSONAL, NULL, NULL, &ver));
    assert_int_equal(ver, 2);
    put(f, "after rotation");
    check_arg c = check(f);
    assert_int_equal(c.versions[1], 30);
    assert_int_equal(c.versions[2], 1);
    assert_int_equal(c.bad, 0);

    ih_sealed_column cols[NCOLS];
    size_t n = columns(f, cols);
    ih_reseal_report r;
    /* Grace not yet over: everything moves, nothing retires. */
    T_OK(ih_reseal_pass(f->b.s, f->b.kr, f->b.a, cols, n, 3600 * 1000, &r));
    assert_int_equal(r.resealed, 30);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.retired, 0);
    assert_int_equal(stored_personal_keys(f), 2);
    c = check(f);
    assert_int_equal(c.versions[2], 31);
    assert_int_equal(c.bad, 0);
    /* Grace over: version 1 retires and its wrapped key is gone. */
    T_OK(ih_reseal_pass(f->b.s, f->b.kr, f->b.a, cols, n, 0, &r));
    assert_int_equal(r.resealed, 0);
    assert_int_equal(r.retired, 1);
    assert_int_equal(stored_personal_keys(f), 1);
    /* A fresh keyring (a restart) loads only what is left, and every row opens. */
    ih_keyring *fresh;
    uint8_t kek[32];
    memset(kek, T_KEK_BYTE, 32);
    T_OK(ih_keyring_new(IH_SUITE_INTL, kek, &fresh));
    T_OK(ih_keys_load(f->b.s, fresh));
    uint32_t vs[8];
    assert_int_equal(ih_keyring_versions(fresh, IH_KP_PERSONAL, vs, 8), 1);
    assert_int_equal(vs[0], 2);
    ih_keyring *old = f->b.kr;
    f->b.kr = fresh;
    c = check(f);
    assert_int_equal(c.bad, 0);
    assert_int_equal(c.rows, 31);
    f->b.kr = old;
    ih_keyring_free(fresh);
}

/* Writers keep inserting while the key rotates twice and passes run: every
 * row ends up under the newest version and opens to what was written. */
typedef struct {
    fx *f;
    int who;
    int count;
    volatile int *stop;
} writer_arg;

static void *writer(void *p)
{
    writer_arg *w = p;
    char v[64];
    while (!*w->stop && w->count < 2000) {
        snprintf(v, sizeof v, "w%d-row%d", w->who, w->count);
        put_arg a = {w->f, v, 0};
        if (ih_store_write(w->f->b.s, put_fn, &a) != IH_OK) break;
        w->count++;
    }
    return NULL;
}

static void t_rotation_under_concurrent_writes(void **state)
{
    fx *f = *state;
    volatile int stop = 0;
    pthread_t th[3];
    writer_arg wa[3];
    for (int i = 0; i < 3; i++) {
        wa[i] = (writer_arg){f, i, 0, &stop};
        pthread_create(&th[i], NULL, writer, &wa[i]);
    }
    ih_sealed_column cols[NCOLS];
    size_t n = columns(f, cols);
    ih_reseal_report r;
    for (int round = 0; round < 2; round++) {
        usleep(100 * 1000);
        T_OK(ih_keys_rotate(f->b.s, f->b.kr, IH_KP_PERSONAL, NULL, NULL, NULL));
        /* Passes while writing; the grace period keeps versions that a
         * writer may still hold. */
        T_OK(ih_reseal_pass(f->b.s, f->b.kr, f->b.a, cols, n, 60 * 1000, &r));
        assert_int_equal(r.retired, 0);
    }
    usleep(100 * 1000);
    stop = 1;
    int64_t written = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        written += wa[i].count;
    }
    assert_true(written > 0);
    T_OK(ih_reseal_pass(f->b.s, f->b.kr, f->b.a, cols, n, 0, &r));
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.retired, 2);
    check_arg c = check(f);
    assert_int_equal(c.rows, written);
    assert_int_equal(c.bad, 0);
    assert_int_equal(c.versions[3], written);
    assert_int_equal(stored_personal_keys(f), 1);
}

/* The signing keys' sealed private halves move too, and still sign. */
static void t_signing_keys_resealed(void **state)
{
    fx *f = *state;
    T_OK(ih_keys_rotate(f->b.s, f->b.kr, IH_KP_SIGNING, NULL, NULL, NULL));
    ih_sealed_column cols[NCOLS];
    size_t n = columns(f, cols);
    ih_reseal_report r;
    T_OK(ih_reseal_pass(f->b.s, f->b.kr, f->b.a, cols, n, 0, &r));
    assert_int_equal(r.resealed, 1);
    assert_int_equal(r.retired, 1);
}

typedef struct {
    fx *f;
    ih_signkey *k;
} load_sign_arg;

static ih_err load_sign_fn(ih_tx *tx, void *arg)
{
    load_sign_arg *a = arg;
    int64_t id;
    return ih_signkey_load(tx, a->f->b.kr, "audit", 0, &a->k, &id);
}

/* KEK rotation rewraps every data key: the old KEK opens nothing, the new
 * one everything; an interrupted rotation is finished at the next start. */
static void t_kek_rotation(void **state)
{
    fx *f = *state;
    put(f, "before kek rotation");
    char kek_path[700];
    snprintf(kek_path, sizeof kek_path, "%s/kek", f->b.dir);
    uint8_t kek[32];
    memset(kek, T_KEK_BYTE, 32);
    T_OK(ih_file_create(kek_path, kek, 32, 0600));
    T_OK(ih_keys_rotate_kek(f->b.s, f->b.kr, kek_path, NULL, NULL));
    uint8_t now_kek[32];
    T_OK(ih_kek_read_file(kek_path, now_kek));
    assert_memory_not_equal(now_kek, kek, 32);
    ih_keyring *k;
    /* The old KEK no longer unwraps anything. */
    T_OK(ih_keyring_new(IH_SUITE_INTL, kek, &k));
    assert_int_equal(ih_keys_load(f->b.s, k), IH_E_INTEGRITY);
    ih_keyring_free(k);
    /* The new one unwraps everything; data and signing keys still work. */
    T_OK(ih_keyring_new(IH_SUITE_INTL, now_kek, &k));
    T_OK(ih_keys_load(f->b.s, k));
    ih_keyring *old = f->b.kr;
    f->b.kr = k;
    assert_int_equal(check(f).bad, 0);
    load_sign_arg la = {f, NULL};
    T_OK(ih_store_read(f->b.s, load_sign_fn, &la));
    ih_signkey_free(la.k);
    f->b.kr = old;
    ih_keyring_free(k);

    /* A crash after the database was rewrapped but before the rename:
     * keys/kek still holds the previous KEK, kek.new the one in use. */
    char tmp[800];
    snprintf(tmp, sizeof tmp, "%s.new", kek_path);
    assert_int_equal(rename(kek_path, tmp), 0);
    T_OK(ih_file_create(kek_path, kek, 32, 0600)); /* the stale one */
    uint8_t got[32];
    memcpy(got, kek, 32);
    T_OK(ih_kek_recover(f->b.s, IH_SUITE_INTL, kek_path, got));
    assert_memory_equal(got, now_kek, 32);
    struct stat st;
    assert_int_equal(stat(tmp, &st), -1);
    uint8_t on_disk[32];
    T_OK(ih_kek_read_file(kek_path, on_disk));
    assert_memory_equal(on_disk, now_kek, 32);
    /* Neither file holding the right KEK is an error, not a guess. */
    T_OK(ih_file_replace(kek_path, kek, 32, 0600));
    memcpy(got, kek, 32);
    assert_int_equal(ih_kek_recover(f->b.s, IH_SUITE_INTL, kek_path, got), IH_E_INTEGRITY);
}

/* A key file anyone else can read is refused. */
static void t_kek_file_must_be_private(void **state)
{
    fx *f = *state;
    char p[700];
    snprintf(p, sizeof p, "%s/kek-open", f->b.dir);
    uint8_t kek[32] = {1};
    T_OK(ih_file_create(p, kek, 32, 0600));
    uint8_t out[32];
    T_OK(ih_kek_read_file(p, out));
    chmod(p, 0640);
    assert_int_not_equal(ih_kek_read_file(p, out), IH_OK);
    chmod(p, 0600);
    /* A short file is refused too. */
    T_OK(ih_file_replace(p, kek, 16, 0600));
    assert_int_not_equal(ih_kek_read_file(p, out), IH_OK);
}


/* Every table of the schema that holds sealed values or row MACs is
 * described by some module: a table the catalog forgot fails here. */
static void t_catalog_describes_every_protected_table(void **state)
{
    fx *f = *state;
    char problem[256];
    ih_err e = ih_protected_check_schema(f->b.s, f->cat.sealed, f->cat.nsealed, f->cat.scans, f->cat.nscans, problem,
                                         sizeof problem);
    if (e != IH_OK) fail_msg("%s", problem);
    /* the care tables are there (a rotation once skipped them all) */
    const char *care[] = {"visit", "message", "record", "prescription", "break_glass", "evaluation", "adverse_event",
                          "outbox", "payment", "media_session", "stats_request", "report_secret"};
    for (size_t i = 0; i < sizeof care / sizeof care[0]; i++) {
        bool found = false;
        for (size_t j = 0; j < f->cat.nsealed && !found; j++) found = !strcmp(f->cat.sealed[j].table, care[i]);
        for (size_t j = 0; j < f->cat.nscans && !found; j++) found = !strcmp(f->cat.scans[j].table, care[i]);
        if (!found) fail_msg("%s is in neither list", care[i]);
    }
}

/* A sealed column no entry names: nothing is retired, and the pass says why. */
static void t_forgotten_table_keeps_old_versions(void **state)
{
    fx *f = *state;
    put(f, "a value");
    T_OK(ih_keys_rotate(f->b.s, f->b.kr, IH_KP_CLINICAL, NULL, NULL, NULL));
    T_OK(ih_keys_rotate(f->b.s, f->b.kr, IH_KP_PERSONAL, NULL, NULL, NULL));
    ih_sealed_column all[NCOLS], cols[NCOLS];
    size_t na = columns(f, all), n = 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(all[i].table, "visit")) cols[n++] = all[i];
    ih_reseal_report r;
    T_OK(ih_reseal_pass(f->b.s, f->b.kr, f->b.a, cols, n, 0, &r));
    assert_int_equal(r.retired, 0);
    assert_non_null(strstr(r.refused, "visit."));
    assert_int_equal(stored_personal_keys(f), 2);
    /* with the whole catalog it goes through */
    T_OK(ih_reseal_pass(f->b.s, f->b.kr, f->b.a, all, na, 0, &r));
    assert_int_equal(r.retired, 2);
    assert_string_equal(r.refused, "");
}

/* A re-seal that claimed success but left rows under the old version: the
 * retiring transaction counts them and keeps the version. */
static ih_err reseal_nothing(void *ctx, ih_tx *tx, int64_t id)
{
    (void)ctx;
    (void)tx;
    (void)id;
    return IH_OK;
}

static void t_version_in_use_is_never_retired(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 5; i++) put(f, "kept under v1");
    T_OK(ih_keys_rotate(f->b.s, f->b.kr, IH_KP_PERSONAL, NULL, NULL, NULL));
    ih_sealed_column cols[NCOLS];
    size_t n = columns(f, cols);
    cols[n - 1].reseal = reseal_nothing;
    ih_reseal_report r;
    T_OK(ih_reseal_pass(f->b.s, f->b.kr, f->b.a, cols, n, 0, &r));
    assert_int_equal(r.retired, 0);
    assert_non_null(strstr(r.refused, "5 rows of sealed_t"));
    assert_int_equal(stored_personal_keys(f), 2);
    /* a restarted keyring still opens every row */
    ih_keyring *fresh;
    uint8_t kek[32];
    memset(kek, T_KEK_BYTE, 32);
    T_OK(ih_keyring_new(IH_SUITE_INTL, kek, &fresh));
    T_OK(ih_keys_load(f->b.s, fresh));
    ih_keyring *old = f->b.kr;
    f->b.kr = fresh;
    assert_int_equal(check(f).bad, 0);
    f->b.kr = old;
    ih_keyring_free(fresh);
}

#define CASES(s)                                                                                                      \
    cmocka_unit_test_setup_teardown(t_rotate_reencrypt_retire, s, teardown),                                          \
        cmocka_unit_test_setup_teardown(t_rotation_under_concurrent_writes, s, teardown),                             \
        cmocka_unit_test_setup_teardown(t_signing_keys_resealed, s, teardown),                                        \
        cmocka_unit_test_setup_teardown(t_kek_rotation, s, teardown),                                                 \
        cmocka_unit_test_setup_teardown(t_kek_file_must_be_private, s, teardown),                                     \
        cmocka_unit_test_setup_teardown(t_catalog_describes_every_protected_table, s, teardown),                     \
        cmocka_unit_test_setup_teardown(t_forgotten_table_keeps_old_versions, s, teardown),                          \
        cmocka_unit_test_setup_teardown(t_version_in_use_is_never_retired, s, teardown)

int main(void)
{
    ih_log_setup("stderr", IH_LOG_ERROR + 1, "test");
    if (ih_crypto_init() != IH_OK) return 1;
    const struct CMUnitTest sq[] = {CASES(setup_sqlite)};
    const struct CMUnitTest pg[] = {CASES(setup_pg)};
    int rc = cmocka_run_group_tests_name("keys/sqlite", sq, NULL, NULL);
    rc += cmocka_run_group_tests_name("keys/postgres", pg, NULL, NULL);
    return rc;
}
