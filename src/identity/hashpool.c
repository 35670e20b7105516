/* hashpool.c — see hashpool.h. */
#include "identity/hashpool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct job {
    void (*fn)(void *);
    void *arg;
    bool done;
    pthread_cond_t cv;
    struct job *next;
} job;

struct ih_hashpool {
    pthread_t *threads;
    int nthreads;
    int queued, max_queue;
    job *head, *tail;
    bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void *worker(void *arg)
{
    ih_hashpool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
        if (!p->head) break;
        job *j = p->head;
        p->head = j->next;
        if (!p->head) p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        j->fn(j->arg);
        pthread_mutex_lock(&p->mu);
        p->queued--;
        j->done = true;
        pthread_cond_signal(&j->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

ih_err ih_hashpool_new(int threads, int queue, ih_hashpool **out)
{
    ih_hashpool *p = calloc(1, sizeof *p);
    IH_CHECK_ALLOC(p);
    p->threads = calloc((size_t)threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return ih_fail(IH_E_NOMEM, "hash pool");
    }
    p->max_queue = queue;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (; p->nthreads < threads; p->nthreads++)
        if (pthread_create(&p->threads[p->nthreads], NULL, worker, p) != 0) break;
    if (p->nthreads == 0) {
        ih_hashpool_free(p);
        return ih_fail(IH_E_INTERNAL, "cannot start hashing threads");
    }
    *out = p;
    return IH_OK;
}

void ih_hashpool_free(ih_hashpool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

ih_err ih_hashpool_run(ih_hashpool *p, void (*fn)(void *), void *arg)
{
    job j = {.fn = fn, .arg = arg};
    pthread_mutex_lock(&p->mu);
    if (p->stop || p->queued >= p->max_queue) {
        pthread_mutex_unlock(&p->mu);
        return ih_fail(IH_E_BUSY, "password hashing queue full");
    }
    pthread_cond_init(&j.cv, NULL);
    p->queued++;
    if (p->tail) p->tail->next = &j;
    else p->head = &j;
    p->tail = &j;
    pthread_cond_signal(&p->cv);
    while (!j.done) pthread_cond_wait(&j.cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_cond_destroy(&j.cv);
    return IH_OK;
}
