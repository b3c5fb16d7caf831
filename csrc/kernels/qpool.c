/* lpot's own small task pool (see qpool.h). Plain C.
 *
 * A job is published by bumping a generation number; tasks are claimed from
 * a 64-bit counter holding (generation << 40 | next task), closed (index at
 * its maximum) while a new job's description is written: a helper that read
 * a description of another generation than the counter's, or a half-written
 * one, claims nothing (its compare-and-swap fails or finds no task), and a
 * claimed task keeps its job alive: the caller returns only when the done
 * count reaches ntask. Helpers spin for a short
 * while after a job (a model's next convolution comes soon), then sleep on a
 * condition variable. */
#include "qpool.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define LPOT_POOL_IDX_BITS 40
#define LPOT_POOL_IDX_MASK ((UINT64_C(1) << LPOT_POOL_IDX_BITS) - 1)
#define LPOT_POOL_SPIN_NS 200000 /* a helper's spin after a job before it sleeps */

typedef struct {
    pthread_mutex_t run_mu; /* one job at a time */
    pthread_mutex_t sleep_mu;
    pthread_cond_t sleep_cv;
    atomic_int sleepers;
    int n_helpers; /* created (guarded by run_mu) */
    /* the current job */
    _Atomic uint64_t gen;
    _Atomic uint64_t next; /* gen << 40 | next task */
    atomic_llong done;
    _Atomic(lpot_pool_fn) fn;
    _Atomic(void *) ctx;
    atomic_llong ntask;
    atomic_int n_help; /* helpers 1..n_help take part */
} lpot_pool_t;

static lpot_pool_t g_pool = {.run_mu = PTHREAD_MUTEX_INITIALIZER,
                             .sleep_mu = PTHREAD_MUTEX_INITIALIZER,
                             .sleep_cv = PTHREAD_COND_INITIALIZER};
static pthread_once_t g_pool_once = PTHREAD_ONCE_INIT;

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Claim and run tasks of generation g until none is left. */
static void work(uint64_t g, lpot_pool_fn fn, void *ctx, int64_t ntask, int worker)
{
    uint64_t v = atomic_load(&g_pool.next);
    for (;;) {
        if (v >> LPOT_POOL_IDX_BITS != (g & ((UINT64_C(1) << (64 - LPOT_POOL_IDX_BITS)) - 1)))
            return; /* a newer job */
        const int64_t t = (int64_t)(v & LPOT_POOL_IDX_MASK);
        if (t >= ntask)
            return;
        if (!atomic_compare_exchange_weak(&g_pool.next, &v, v + 1))
            continue; /* v reloaded */
        fn(ctx, t, worker);
        atomic_fetch_add(&g_pool.done, 1);
        v = atomic_load(&g_pool.next);
    }
}

static void *helper_main(void *arg)
{
    const int id = (int)(intptr_t)arg;
    uint64_t seen = atomic_load(&g_pool.gen);
    for (;;) {
        uint64_t g = atomic_load(&g_pool.gen);
        if (g == seen) {
            const uint64_t t0 = now_ns();
            for (int i = 0; (g = atomic_load(&g_pool.gen)) == seen; i++) {
                cpu_relax();
                if ((i & 63) == 63 && now_ns() - t0 > LPOT_POOL_SPIN_NS)
                    break;
            }
        }
        if (g == seen) {
            pthread_mutex_lock(&g_pool.sleep_mu);
            atomic_fetch_add(&g_pool.sleepers, 1);
            while ((g = atomic_load(&g_pool.gen)) == seen)
                pthread_cond_wait(&g_pool.sleep_cv, &g_pool.sleep_mu);
            atomic_fetch_sub(&g_pool.sleepers, 1);
            pthread_mutex_unlock(&g_pool.sleep_mu);
        }
        seen = g;
        /* the job of generation g, unless a newer one replaced it meanwhile
         * (then work() claims nothing: the counter carries the generation) */
        if (id <= atomic_load(&g_pool.n_help))
            work(g, atomic_load(&g_pool.fn), atomic_load(&g_pool.ctx), atomic_load(&g_pool.ntask), id);
    }
    return NULL;
}

/* In a forked child the helpers are gone and the locks may be held. */
static void pool_atfork_child(void)
{
    pthread_mutex_init(&g_pool.run_mu, NULL);
    pthread_mutex_init(&g_pool.sleep_mu, NULL);
    pthread_cond_init(&g_pool.sleep_cv, NULL);
    atomic_store(&g_pool.sleepers, 0);
    g_pool.n_helpers = 0;
}

static void pool_init(void) { pthread_atfork(NULL, NULL, pool_atfork_child); }

/* Start helpers up to `want` (run_mu held); returns how many exist. */
static int ensure_helpers(int want)
{
    while (g_pool.n_helpers < want) {
        pthread_attr_t attr;
        pthread_t th;
        sigset_t all, old;
        if (pthread_attr_init(&attr) != 0)
            break;
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old); /* signals stay with the caller's threads */
        const int rc = pthread_create(&th, &attr, helper_main, (void *)(intptr_t)(g_pool.n_helpers + 1));
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            break;
        g_pool.n_helpers++;
    }
    return g_pool.n_helpers;
}

void lpot_pool_run(int nt, int64_t ntask, lpot_pool_fn fn, void *ctx)
{
    nt = nt > LPOT_POOL_MAX_WORKERS ? LPOT_POOL_MAX_WORKERS : nt;
    if (nt <= 1 || ntask <= 1 || pthread_mutex_trylock(&g_pool.run_mu) != 0) {
        for (int64_t t = 0; t < ntask; t++)
            fn(ctx, t, 0);
        return;
    }
    pthread_once(&g_pool_once, pool_init);
    const int n_help = ensure_helpers(nt - 1);
    const uint64_t g = atomic_load(&g_pool.gen) + 1;
    const uint64_t tag = (g & ((UINT64_C(1) << (64 - LPOT_POOL_IDX_BITS)) - 1)) << LPOT_POOL_IDX_BITS;
    /* close the counter first: a helper still holding the previous job's
     * generation, or reading this job's fields half-written, claims nothing */
    atomic_store(&g_pool.next, tag | LPOT_POOL_IDX_MASK);
    atomic_store(&g_pool.fn, fn);
    atomic_store(&g_pool.ctx, ctx);
    atomic_store(&g_pool.ntask, ntask);
    atomic_store(&g_pool.n_help, n_help);
    atomic_store(&g_pool.done, 0);
    atomic_store(&g_pool.next, tag);
    atomic_store(&g_pool.gen, g);
    if (atomic_load(&g_pool.sleepers) > 0) {
        pthread_mutex_lock(&g_pool.sleep_mu);
        pthread_cond_broadcast(&g_pool.sleep_cv);
        pthread_mutex_unlock(&g_pool.sleep_mu);
    }
    work(g, fn, ctx, ntask, 0);
    /* the tasks helpers claimed: wait for them (briefly spinning, then yielding) */
    for (int i = 0; atomic_load(&g_pool.done) < ntask; i++) {
        if (i < 4096)
            cpu_relax();
        else
            sched_yield();
    }
    pthread_mutex_unlock(&g_pool.run_mu);
}

/* ---- per-thread scratch ---------------------------------------------------- */

typedef struct {
    void *p[LPOT_POOL_SLOTS];
    size_t n[LPOT_POOL_SLOTS];
} scratch_t;

static pthread_key_t g_scratch_key;
static pthread_once_t g_scratch_once = PTHREAD_ONCE_INIT;
static _Thread_local scratch_t *tl_scratch;

static void scratch_free(void *arg)
{
    scratch_t *s = arg;
    for (int i = 0; i < LPOT_POOL_SLOTS; i++)
        free(s->p[i]);
    free(s);
}

static void scratch_init(void) { pthread_key_create(&g_scratch_key, scratch_free); }

void *lpot_pool_scratch(int slot, size_t bytes)
{
    if (tl_scratch == NULL) {
        pthread_once(&g_scratch_once, scratch_init);
        scratch_t *s = calloc(1, sizeof *s);
        if (s == NULL)
            return NULL;
        if (pthread_setspecific(g_scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
        tl_scratch = s;
    }
    scratch_t *s = tl_scratch;
    if (s->n[slot] < bytes) {
        free(s->p[slot]);
        s->n[slot] = 0;
        const size_t sz = (bytes + 4095) / 4096 * 4096;
        s->p[slot] = aligned_alloc(64, sz);
        if (s->p[slot] == NULL)
            return NULL;
        s->n[slot] = sz;
    }
    return s->p[slot];
}
