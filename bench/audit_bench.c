/* audit_bench.c — the audit journal's speed targets, with baselines.
 *   verify   events/s recomputing a journal (SHA-256 and SM3), one core;
 *            beside `openssl speed` for the same digest
 *   proof    time to build one inclusion proof, and to check it, on a
 *            journal of PROOF_EVENTS events (default 10,000,000)
 * Usage: audit_bench DIR VERIFY_EVENTS PROOF_EVENTS */
#include "app/instance.h"
#include "audit/audit.h"
#include "core/log.h"
#include "keys/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct {
    ih_audit *a;
    int n;
    int64_t base;
} batch_arg;

static ih_err batch_fn(ih_tx *tx, void *arg)
{
    batch_arg *b = arg;
    for (int i = 0; i < b->n; i++) {
        char oid[24], ip[24];
        snprintf(oid, sizeof oid, "%lld", (long long)(b->base + i) % 100000);
        snprintf(ip, sizeof ip, "10.1.%d.%d", i % 200, i % 250);
        ih_actor who = {.id = 1 + i % 500, .role = "doctor", .session = "0123456789abcdef", .ip = ip,
                        .request_id = "5f3c2a9e01b7d844"};
        ih_audit_event ev = {.action = "message.create", .object_type = "visit", .object_id = oid};
        IH_TRY(ih_audit_append(b->a, tx, &who, &ev));
    }
    return IH_OK;
}

typedef struct {
    ih_store *s;
    ih_keyring *kr;
    ih_signkey *key, *pub;
    ih_audit *a;
    char cp[1200];
} journal;

static ih_err key_fn(ih_tx *tx, void *arg)
{
    journal *j = arg;
    int64_t id;
    return ih_signkey_create(tx, j->kr, "audit", 0, j->key, &id);
}

static void fail(const char *what)
{
    fprintf(stderr, "audit_bench: %s: %s\n", what, ih_err_detail());
    exit(1);
}

static void build(journal *j, const char *dir, const char *name, ih_suite suite, long events)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/%s.db", dir, name);
    snprintf(j->cp, sizeof j->cp, "%s/%s.checkpoints", dir, name);
    ih_store_opts o = {.kind = IH_STORE_SQLITE, .sqlite_path = path, .pool_size = 8, .batch_max = 64};
    uint8_t kek[32] = {1};
    if (ih_store_open(&o, &j->s) != IH_OK || ih_store_migrate(j->s, ih_schema, ih_schema_count) != IH_OK ||
        ih_keyring_new(suite, kek, &j->kr) != IH_OK || ih_keys_bootstrap(j->s, j->kr) != IH_OK ||
        ih_sign_generate(suite, &j->key) != IH_OK || ih_store_write(j->s, key_fn, j) != IH_OK)
        fail("setup");
    ih_buf pem = IH_BUF_INIT;
    ih_sign_public_pem(j->key, &pem);
    ih_sign_public_from_pem(pem.p, pem.len, &j->pub);
    ih_buf_free(&pem);
    ih_audit_opts ao = {.store = j->s, .suite = suite, .origin = "ihos/bench", .signer = j->key,
                        .checkpoint_file = j->cp, .utc_offset_minutes = 480, .interval_s = 10, .max_events = 10000};
    if (ih_audit_open(&ao, &j->a) != IH_OK) fail("audit");
    double t0 = now();
    for (long done = 0; done < events;) {
        batch_arg b = {j->a, (int)(events - done < 20000 ? events - done : 20000), done};
        if (ih_store_write(j->s, batch_fn, &b) != IH_OK) fail("append");
        done += b.n;
        if (done % 1000000 == 0 || done == events) { /* a checkpoint every million, and at the end */
            if (ih_audit_checkpoint(j->a, NULL) != IH_OK) fail("checkpoint");
        }
    }
    fprintf(stderr, "  (built %ld %s events in %.0f s)\n", events, name, now() - t0);
}

static void drop(journal *j)
{
    ih_audit_close(j->a);
    ih_store_close(j->s);
    ih_keyring_free(j->kr);
    ih_signkey_free(j->key);
    ih_signkey_free(j->pub);
}

static double openssl_speed(const char *alg)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "openssl speed -seconds 2 -bytes 256 -evp %s 2>/dev/null | tail -1", alg);
    FILE *p = popen(cmd, "r");
    if (!p) return 0;
    char line[256] = "";
    if (!fgets(line, sizeof line, p)) line[0] = '\0';
    pclose(p);
    char *k = strrchr(line, ' ');
    double kbs = k ? atof(k) : 0; /* "...  123456.78k" : 1000 bytes per second units */
    return kbs * 1000 / 256;      /* 256-byte digests per second */
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: audit_bench DIR VERIFY_EVENTS PROOF_EVENTS\n");
        return 2;
    }
    ih_log_setup("stderr", IH_LOG_ERROR, "audit_bench");
    ih_crypto_init();
    long nv = atol(argv[2]), np = atol(argv[3]);
    printf("audit journal\n");
    struct {
        const char *name;
        ih_suite suite;
        const char *evp;
        double target;
    } suites[] = {{"sha256", IH_SUITE_INTL, "sha256", 1e6}, {"sm3", IH_SUITE_GM, "sm3", 3e5}};
    for (int i = 0; i < 2; i++) {
        journal j = {0};
        build(&j, argv[1], suites[i].name, suites[i].suite, nv);
        ih_audit_report r;
        double best = 1e30;
        for (int rep = 0; rep < 3; rep++) { /* best of three: the machine is shared */
            double t0 = now();
            if (ih_audit_verify(j.s, suites[i].suite, "ihos/bench", j.pub, j.cp, &r) != IH_OK || r.problem[0])
                fail("verify");
            if (now() - t0 < best) best = now() - t0;
        }
        double rate = (double)r.events / best, base = openssl_speed(suites[i].evp);
        printf("  verify %-7s %9.0f events/s over %ld events, best of 3 (target >= %.0f); openssl %s alone: %.0f "
               "256-byte digests/s: %.0f%% of it (target >= 50%%)\n",
               suites[i].name, rate, nv, suites[i].target, suites[i].evp, base, base > 0 ? 100 * rate / base : 0);
        drop(&j);
    }
    if (np > 0) {
        journal j = {0};
        build(&j, argv[1], "proof", IH_SUITE_INTL, np);
        int rounds = 200;
        double build_t = 0, check_t = 0;
        srand(7);
        for (int k = 0; k < rounds; k++) {
            uint64_t seq = ((uint64_t)rand() * 65536u + (uint64_t)rand()) % (uint64_t)np;
            ih_buf b = IH_BUF_INIT;
            double t0 = now();
            if (ih_audit_prove(j.s, IH_SUITE_INTL, seq, &b) != IH_OK) fail("prove");
            double t1 = now();
            char msg[512];
            if (ih_audit_check_proof(b.p, b.len, j.pub, msg, sizeof msg) != IH_OK) fail("check-proof");
            double t2 = now();
            build_t += t1 - t0;
            check_t += t2 - t1;
            ih_buf_free(&b);
        }
        printf("  inclusion proof on %ld events: build %.3f ms, check %.3f ms (mean of %d; target <= 1 ms)\n", np,
               build_t / rounds * 1e3, check_t / rounds * 1e3, rounds);
        drop(&j);
    }
    return 0;
}
