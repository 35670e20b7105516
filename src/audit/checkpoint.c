/* checkpoint.c — making checkpoints: database, outside file, witness.
 * L3 8.1.4.3c (protected records), 8.1.4.7b; DESIGN invariant 2.
 *
 * Order: the note goes to DIR/audit/checkpoints first (fsync), then into
 * the database.  A crash in between leaves a file checkpoint the database
 * lacks, which verify accepts (it matches the events) — never the reverse,
 * which would let the database claim more than the outside file saw. */
#include "audit/audit_impl.h"

#include "core/clock.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

ih_err ih_audit_open(const ih_audit_opts *o, ih_audit **out)
{
    ih_audit *a = calloc(1, sizeof *a);
    IH_CHECK_ALLOC(a);
    a->o = *o;
    a->origin = strdup(o->origin);
    a->file = dup_or_null(o->checkpoint_file);
    a->anchor = dup_or_null(o->anchor_file);
    a->witness_command = dup_or_null(o->witness_command);
    a->witness_url = dup_or_null(o->witness_url);
    a->o.origin = a->origin;
    a->o.checkpoint_file = a->file;
    a->o.anchor_file = a->anchor;
    a->o.witness_command = a->witness_command;
    a->o.witness_url = a->witness_url;
    if (a->o.interval_s < 1 || a->o.interval_s > 10) a->o.interval_s = 10;
    if (a->o.max_events < 1 || a->o.max_events > 10000) a->o.max_events = 10000;
    a->md = ih_suite_md(o->suite);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (!a->origin) {
        free(a);
        return ih_fail(IH_E_NOMEM, "audit");
    }
    *out = a;
    return IH_OK;
}

static ih_err last_cp_fn(ih_tx *tx, void *arg)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT coalesce(max(size), 0) FROM audit_checkpoint", &st));
    IH_TRY(ih_stmt_step(st, &row));
    *(uint64_t *)arg = (uint64_t)ih_col_int(st, 0);
    return IH_OK;
}

typedef struct {
    uint64_t size;
    const uint8_t *root;
    const char *note;
    const ih_lease *lease; /* NULL: no cluster */
} cp_insert;

static ih_err insert_fn(ih_tx *tx, void *arg)
{
    cp_insert *c = arg;
    if (c->lease) IH_TRY(ih_lease_check(tx, c->lease)); /* fencing: a node cut off seals nothing */
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO audit_checkpoint(size, root, note, created_at) VALUES ($1, $2, $3, $4) "
                             "ON CONFLICT (size) DO NOTHING", &st));
    ih_stmt_int(st, 1, (int64_t)c->size);
    ih_stmt_blob(st, 2, c->root, IH_HASH_LEN);
    ih_stmt_text(st, 3, c->note);
    ih_stmt_int(st, 4, ih_now_ms());
    return ih_stmt_exec(st);
}

static void witness_command(ih_audit *a, const char *note, uint64_t size)
{
    int fds[2];
    if (pipe(fds) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    char *argv[] = {a->witness_command, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, a->witness_command, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[0]);
    char sz[24];
    snprintf(sz, sizeof sz, "%llu", (unsigned long long)size);
    if (rc != 0) {
        close(fds[1]);
        ih_log(IH_LOG_ERROR, "audit.witness_failed", "alert", "true", "size", sz, "error", strerror(rc), NULL);
        return;
    }
    size_t len = strlen(note), off = 0;
    while (off < len) {
        ssize_t w = write(fds[1], note + off, len - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    close(fds[1]);
    int status = 0;
    for (int i = 0; i < 100; i++) { /* at most 10 s */
        if (waitpid(pid, &status, WNOHANG) == pid) break;
        if (i == 99) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            status = -1;
        }
        usleep(100000);
    }
    if (status != 0)
        ih_log(IH_LOG_ERROR, "audit.witness_failed", "alert", "true", "size", sz, "error", "witness command failed",
               NULL);
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static void witness_url(ih_audit *a, const char *note, uint64_t size)
{
    CURL *c = curl_easy_init();
    if (!c) return;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
    curl_easy_setopt(c, CURLOPT_URL, a->witness_url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, note);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status < 200 || status > 299) {
        char sz[24], st[16];
        snprintf(sz, sizeof sz, "%llu", (unsigned long long)size);
        snprintf(st, sizeof st, "%ld", status);
        ih_log(IH_LOG_ERROR, "audit.witness_failed", "alert", "true", "size", sz, "http_status", st, "error",
               curl_easy_strerror(rc), NULL);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

ih_err ih_audit_checkpoint(ih_audit *a, bool *made)
{
    if (made) *made = false;
    if (!a->o.signer) return ih_fail(IH_E_INTERNAL, "no audit signing key");
    if (a->lease.holder && !a->lease.held) return IH_OK; /* another node seals */
    uint64_t appended = atomic_load(&a->appended);
    ih_frontier f;
    uint64_t last_cp = 0;
    ih_buf note = IH_BUF_INIT, line = IH_BUF_INIT;
    /* Any failure below leaves events unsealed: it is an alert, never silent
     * (a gap in the sequence would otherwise stop every later checkpoint). */
    ih_err e = tree_extend(a->o.store, a->md, &f);
    if (e == IH_OK) e = ih_store_read(a->o.store, last_cp_fn, &last_cp);
    if (e == IH_OK && (f.size == 0 || f.size <= last_cp)) return IH_OK;
    uint8_t root[IH_HASH_LEN];
    if (e == IH_OK) e = ih_frontier_root(a->md, &f, root);
    if (e == IH_OK) e = note_sign(a->o.signer, a->o.suite, a->origin, f.size, root, &note);
    if (e == IH_OK && a->file) {
        char rb64[64];
        ih_b64_encode(root, IH_HASH_LEN, rb64);
        json_t *j = json_pack("{s:I, s:s, s:s%}", "size", (json_int_t)f.size, "root", rb64, "note", note.p, note.len);
        e = j ? ih_json_dump(j, JSON_COMPACT, &line) : ih_fail(IH_E_NOMEM, "checkpoint line");
        json_decref(j);
        if (e == IH_OK) e = ih_buf_puts(&line, "\n");
        if (e == IH_OK) e = ih_file_append(a->file, line.p, line.len, 0600);
    }
    if (e == IH_OK) {
        cp_insert ci = {f.size, root, note.p, a->lease.holder ? &a->lease : NULL};
        e = ih_store_write(a->o.store, insert_fn, &ci);
    }
    if (e == IH_OK) {
        atomic_store(&a->sealed_at_append, appended);
        atomic_store(&a->last_checkpoint_ms, ih_now_ms());
        atomic_store(&a->checkpoint_size, f.size);
        if (made) *made = true;
        /* the anchor is a second copy: its failure is an alert, not a lost checkpoint */
        if (a->anchor && audit_anchor_line(a->anchor, f.size, root, note.p, false) != IH_OK)
            ih_log(IH_LOG_ERROR, "audit.anchor_failed", "alert", "true", "detail", ih_err_detail(), NULL);
        if (a->witness_command) witness_command(a, note.p, f.size);
        if (a->witness_url) witness_url(a, note.p, f.size);
    } else {
        atomic_fetch_add(&a->checkpoint_failures, 1);
        char sz[24];
        snprintf(sz, sizeof sz, "%llu", (unsigned long long)last_cp);
        ih_log(IH_LOG_ERROR, "audit.checkpoint_failed", "alert", "true", "last_checkpoint", sz, "detail",
               ih_err_detail(), NULL);
    }
    ih_buf_free(&note);
    ih_buf_free(&line);
    return e;
}

void ih_audit_health(ih_audit *a, ih_audit_health_info *h)
{
    h->appended = atomic_load(&a->appended);
    h->unsealed = h->appended - atomic_load(&a->sealed_at_append);
    h->checkpoint_failures = atomic_load(&a->checkpoint_failures);
    h->last_checkpoint_ms = atomic_load(&a->last_checkpoint_ms);
    h->checkpoint_size = atomic_load(&a->checkpoint_size);
}

/* Take or renew "audit.checkpoint" every 5 s (a cluster). */
static void lease_step(ih_audit *a, int64_t *next)
{
    if (!a->lease.holder || ih_mono_ms() < *next) return;
    *next = ih_mono_ms() + 5000;
    if (ih_lease_take(a->o.store, &a->lease) != IH_OK) {
        ih_err_clear();
        a->lease.held = false;
    }
}

static void *checkpointer(void *arg)
{
    ih_audit *a = arg;
    int64_t lease_next = 0;
    lease_step(a, &lease_next);
    ih_audit_checkpoint(a, NULL); /* seal what a previous run left unsealed */
    int64_t last = ih_mono_ms();
    pthread_mutex_lock(&a->mu);
    while (!a->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&a->cv, &a->mu, &ts);
        if (a->stopping) break;
        pthread_mutex_unlock(&a->mu);
        lease_step(a, &lease_next);
        pthread_mutex_lock(&a->mu);
        uint64_t pending = atomic_load(&a->appended) - atomic_load(&a->sealed_at_append);
        bool due = ih_mono_ms() - last >= (int64_t)a->o.interval_s * 1000;
        if (pending == 0 || (!due && pending < (uint64_t)a->o.max_events)) continue;
        pthread_mutex_unlock(&a->mu);
        ih_audit_checkpoint(a, NULL);
        last = ih_mono_ms();
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    ih_audit_checkpoint(a, NULL); /* seal the tail on the way out */
    return NULL;
}

ih_err ih_audit_start(ih_audit *a, const char *node)
{
    if (!a->o.signer) return ih_fail(IH_E_INTERNAL, "no audit signing key");
    if (node) {
        snprintf(a->node, sizeof a->node, "%s", node);
        a->lease = (ih_lease){.name = "audit.checkpoint", .holder = a->node, .ttl_ms = 20000};
    }
    if (pthread_create(&a->thread, NULL, checkpointer, a) != 0)
        return ih_fail(IH_E_INTERNAL, "cannot start the audit checkpointer");
    a->running = true;
    return IH_OK;
}

void ih_audit_close(ih_audit *a)
{
    if (!a) return;
    if (a->running) {
        pthread_mutex_lock(&a->mu);
        a->stopping = true;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL); /* the thread seals the tail */
        ih_lease_release(a->o.store, &a->lease);
    } else if (a->o.signer && atomic_load(&a->appended) != atomic_load(&a->sealed_at_append)) {
        ih_audit_checkpoint(a, NULL);
    }
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a->origin);
    free(a->file);
    free(a->anchor);
    free(a->witness_command);
    free(a->witness_url);
    free(a);
}
