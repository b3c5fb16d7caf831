/* oneDNN plumbing for the int8 ops: engine, per-thread streams, execution
 * with per-call scratchpads, attributes, the primitive cache and packed
 * weight variants. Plain C. */
#include "qdnnl.h"

#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

/* ---- engine and streams ------------------------------------------------- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t g_engine;
static dnnl_status_t g_engine_status = dnnl_runtime_error;
static pthread_key_t g_stream_key;
static int g_key_ok;

static void stream_free(void *s) { dnnl_stream_destroy((dnnl_stream_t)s); }

static void engine_init(void)
{
    g_engine_status = dnnl_engine_create(&g_engine, dnnl_cpu, 0);
    g_key_ok = pthread_key_create(&g_stream_key, stream_free) == 0;
}

static const char *dnnl_status_str(dnnl_status_t s)
{
    switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "no implementation";
    case dnnl_last_impl_reached: return "last implementation reached";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    default: return "error";
    }
}

lpot_status_t lpot_dnnl_check(dnnl_status_t s, const char *what)
{
    if (s == dnnl_success)
        return LPOT_OK;
    return lpot_set_error(s == dnnl_out_of_memory ? LPOT_ERR_NOMEM : LPOT_ERR_KERNEL,
                          "oneDNN %s failed: %s (status %d)", what, dnnl_status_str(s), (int)s);
}

lpot_status_t lpot_dnnl_engine(dnnl_engine_t *eng)
{
    pthread_once(&g_once, engine_init);
    if (g_engine_status != dnnl_success)
        return lpot_dnnl_check(g_engine_status, "engine creation");
    *eng = g_engine;
    return LPOT_OK;
}

static lpot_status_t thread_stream(dnnl_stream_t *out)
{
    dnnl_engine_t eng = NULL;
    lpot_status_t st = lpot_dnnl_engine(&eng);
    if (st != LPOT_OK)
        return st;
    if (!g_key_ok)
        return lpot_set_error(LPOT_ERR_KERNEL, "could not create the per-thread stream key");
    dnnl_stream_t s = pthread_getspecific(g_stream_key);
    if (s == NULL) {
        st = lpot_dnnl_check(dnnl_stream_create(&s, eng, dnnl_stream_default_flags),
                             "stream creation");
        if (st != LPOT_OK)
            return st;
        if (pthread_setspecific(g_stream_key, s) != 0) {
            dnnl_stream_destroy(s);
            return lpot_set_error(LPOT_ERR_NOMEM, "could not keep the thread's stream");
        }
    }
    *out = s;
    return LPOT_OK;
}

/* ---- threads -------------------------------------------------------------- */

static atomic_int g_threads;
static int g_default_threads;
static pthread_once_t g_threads_once = PTHREAD_ONCE_INIT;

/* OpenMP's own default, read before lpot changes any thread's setting. */
static void threads_init(void) { g_default_threads = omp_get_max_threads(); }

void lpot_qk_set_num_threads(int n)
{
    pthread_once(&g_threads_once, threads_init);
    atomic_store(&g_threads, n < 0 ? 0 : n);
}

int lpot_qk_get_num_threads(void)
{
    pthread_once(&g_threads_once, threads_init);
    int n = atomic_load(&g_threads);
    return n > 0 ? n : g_default_threads;
}

static _Thread_local int tl_threads;
static _Thread_local int tl_adaptive;   /* lpot_pcache_lookup may pick 1 or the default */
static _Thread_local double tl_last_explore;
#define LPOT_EXPLORE_SECS 0.05 /* re-measure the other variant at most this often */
#define LPOT_EXPLORE_CALLS 16  /* ... and at most once per this many calls of the best */

int lpot_qk_last_threads(void) { return tl_threads; }

/* OpenMP's thread count is a per-thread setting: apply it in the thread
 * about to create and run primitives (oneDNN sizes work at creation). */
static void set_threads(int n)
{
    if (omp_get_max_threads() != n)
        omp_set_num_threads(n);
    tl_threads = n;
}

int lpot_qk_use_threads_from(double macs, double min_macs)
{
    int n = macs < min_macs ? 1 : lpot_qk_get_num_threads();
    tl_adaptive = n > 1 && atomic_load(&g_threads) == 0;
    set_threads(n);
    return n;
}

int lpot_qk_use_threads(double macs) { return lpot_qk_use_threads_from(macs, LPOT_SMALL_WORK_MACS); }

double lpot_qk_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void lpot_pentry_record(lpot_pentry_t *e, double secs)
{
    int n = atomic_fetch_add(&e->runs, 1);
    if (n == 0)
        return; /* the first run pays for first-touch and JIT: keep it out */
    atomic_store(&e->secs[(n - 1) % LPOT_TIME_WINDOW], secs);
}

double lpot_pentry_typical(lpot_pentry_t *e)
{
    int n = atomic_load(&e->runs) - 1;
    double v[LPOT_TIME_WINDOW];
    if (n <= 0)
        return 0.0;
    if (n > LPOT_TIME_WINDOW)
        n = LPOT_TIME_WINDOW;
    for (int i = 0; i < n; i++) {
        double t = atomic_load(&e->secs[i]);
        int j = i;
        for (; j > 0 && v[j - 1] > t; j--)
            v[j] = v[j - 1];
        v[j] = t;
    }
    return v[n / 2];
}

/* Adaptive thread count for a large call (see lpot_qk_use_threads): each
 * variant runs a few times first, then the one with the lower median of its
 * last 8 times is used and the other re-measured at most every 50 ms of
 * this thread's time and at most once per 16 calls (a bounded cost: one
 * slower call per 50 ms or per 16 calls), so the choice follows the
 * machine's load within a fraction of a second (a few seconds for calls of
 * 100+ ms). */
static void pick_threads(lpot_pcache_t *c, lpot_pkey_t *key)
{
    const int dflt = tl_threads;
    lpot_pkey_t k1 = *key, kn = *key;
    k1.v[LPOT_KEY_LEN - 1] = 1;
    kn.v[LPOT_KEY_LEN - 1] = dflt;
    lpot_pentry_t *e1 = lpot_pcache_get(c, &k1), *en = lpot_pcache_get(c, &kn);
    int r1 = e1 ? atomic_load(&e1->runs) : 0, rn = en ? atomic_load(&en->runs) : 0;
    int n;
    if (rn < 3)
        n = dflt;
    else if (r1 < 3)
        n = 1;
    else {
        const double t1 = lpot_pentry_typical(e1), tn = lpot_pentry_typical(en);
        int best = t1 < tn ? 1 : dflt;
        double now = lpot_qk_now();
        /* Calls longer than LPOT_EXPLORE_SECS / LPOT_EXPLORE_CALLS (a batch-32
         * convolution: 50+ ms) would otherwise re-measure on every call, i.e.
         * always run the variant measured slower. */
        double every = LPOT_EXPLORE_CALLS * (best == 1 ? t1 : tn);
        every = every > LPOT_EXPLORE_SECS ? every : LPOT_EXPLORE_SECS;
        n = best;
        if (now - tl_last_explore > every) {
            tl_last_explore = now;
            n = best == 1 ? dflt : 1;
        }
    }
    set_threads(n);
    key->v[LPOT_KEY_LEN - 1] = n;
}

/* ---- implementation names ------------------------------------------------- */

static pthread_mutex_t g_intern_mu = PTHREAD_MUTEX_INITIALIZER;
#define LPOT_INTERN_CAP 64
static char *g_intern[LPOT_INTERN_CAP];
static int g_n_intern;

const char *lpot_qk_intern(const char *name)
{
    const char *res = "unknown";
    pthread_mutex_lock(&g_intern_mu);
    for (int i = 0; i < g_n_intern; i++)
        if (strcmp(g_intern[i], name) == 0) {
            res = g_intern[i];
            goto cleanup;
        }
    if (g_n_intern < LPOT_INTERN_CAP) {
        char *c = strdup(name);
        if (c) {
            g_intern[g_n_intern++] = c;
            res = c;
        }
    }
cleanup:
    pthread_mutex_unlock(&g_intern_mu);
    return res;
}

const char *lpot_dnnl_impl_of(const_dnnl_primitive_t prim)
{
    const_dnnl_primitive_desc_t pd;
    const char *s = NULL;
    if (dnnl_primitive_get_primitive_desc(prim, &pd) != dnnl_success ||
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success || !s)
        return "unknown";
    return lpot_qk_intern(s);
}

static _Thread_local const char *tl_impl[3];

static int op_slot(const char *op)
{
    return strcmp(op, "linear") == 0 ? 0 : strcmp(op, "conv2d") == 0 ? 1 : 2;
}

void lpot_qk_record_impl(const char *op, const char *impl) { tl_impl[op_slot(op)] = impl; }

const char *lpot_qk_last_impl(const char *op)
{
    const char *s = tl_impl[op_slot(op)];
    return s ? s : "";
}

/* ---- execution ------------------------------------------------------------ */

dnnl_data_type_t lpot_dnnl_dt(lpot_dtype_t dt)
{
    switch (dt) {
    case LPOT_DT_F32: return dnnl_f32;
    case LPOT_DT_U8: return dnnl_u8;
    case LPOT_DT_S8: return dnnl_s8;
    case LPOT_DT_S32: return dnnl_s32;
    }
    return dnnl_data_type_undef;
}

lpot_status_t lpot_exec_arg_md(lpot_exec_t *ex, int arg, const_dnnl_memory_desc_t md,
                               const void *ptr)
{
    dnnl_engine_t eng = NULL;
    lpot_status_t st = lpot_dnnl_engine(&eng);
    if (st != LPOT_OK)
        return st;
    if (ex->n >= LPOT_EXEC_MAX)
        return lpot_set_error(LPOT_ERR_KERNEL, "too many execution arguments");
    dnnl_memory_t mem;
    st = lpot_dnnl_check(dnnl_memory_create(&mem, md, eng, (void *)ptr), "memory creation");
    if (st != LPOT_OK)
        return st;
    ex->args[ex->n].arg = arg;
    ex->args[ex->n].memory = mem;
    ex->n++;
    return LPOT_OK;
}

lpot_status_t lpot_exec_arg_q(lpot_exec_t *ex, const_dnnl_primitive_t prim, int arg,
                              const void *ptr)
{
    const_dnnl_primitive_desc_t pd;
    lpot_status_t st = lpot_dnnl_check(dnnl_primitive_get_primitive_desc(prim, &pd),
                                       "primitive descriptor query");
    if (st != LPOT_OK)
        return st;
    const_dnnl_memory_desc_t md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
    if (md == NULL)
        return lpot_set_error(LPOT_ERR_KERNEL, "oneDNN memory descriptor query failed");
    return lpot_exec_arg_md(ex, arg, md, ptr);
}

lpot_status_t lpot_exec_arg_vec(lpot_exec_t *ex, int arg, dnnl_data_type_t dt,
                                int64_t count, const void *ptr)
{
    if (ex->n_own >= LPOT_EXEC_MAX)
        return lpot_set_error(LPOT_ERR_KERNEL, "too many execution arguments");
    dnnl_dims_t d = {count};
    dnnl_memory_desc_t md;
    lpot_status_t st = lpot_dnnl_check(dnnl_memory_desc_create_with_tag(&md, 1, d, dt, dnnl_a),
                                       "memory descriptor creation");
    if (st != LPOT_OK)
        return st;
    ex->own_md[ex->n_own++] = md;
    return lpot_exec_arg_md(ex, arg, md, ptr);
}

void lpot_exec_cleanup(lpot_exec_t *ex)
{
    for (int i = 0; i < ex->n; i++)
        dnnl_memory_destroy(ex->args[i].memory);
    for (int i = 0; i < ex->n_own; i++)
        dnnl_memory_desc_destroy(ex->own_md[i]);
    ex->n = ex->n_own = 0;
}

lpot_status_t lpot_exec_run(const_dnnl_primitive_t prim, lpot_exec_t *ex)
{
    void *scratch = NULL;
    dnnl_stream_t s = NULL;
    const_dnnl_primitive_desc_t pd;
    lpot_status_t st = thread_stream(&s);
    if (st != LPOT_OK)
        goto cleanup;
    st = lpot_dnnl_check(dnnl_primitive_get_primitive_desc(prim, &pd), "primitive query");
    if (st != LPOT_OK)
        goto cleanup;
    const_dnnl_memory_desc_t smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sbytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (sbytes > 0) {
        scratch = aligned_alloc(64, (sbytes + 63) / 64 * 64);
        if (scratch == NULL) {
            st = lpot_set_error(LPOT_ERR_NOMEM, "scratchpad of %zu bytes", sbytes);
            goto cleanup;
        }
        st = lpot_exec_arg_md(ex, DNNL_ARG_SCRATCHPAD, smd, scratch);
        if (st != LPOT_OK)
            goto cleanup;
    }
    st = lpot_dnnl_check(dnnl_primitive_execute(prim, s, ex->n, ex->args), "execution");
    if (st != LPOT_OK)
        goto cleanup;
    st = lpot_dnnl_check(dnnl_stream_wait(s), "stream wait");
cleanup:
    lpot_exec_cleanup(ex);
    free(scratch);
    return st;
}

lpot_status_t lpot_exec_qop(const_dnnl_primitive_t prim, const void *src, const void *wei,
                            const float *bias, void *dst, const lpot_qparams_t *qp,
                            const float *w_scales, int64_t n_scales, int32_t wei_zp)
{
    lpot_exec_t ex = {0};
    float dscale = qp->dst_scale;
    int32_t szp = qp->src_zp, dzp = qp->dst_zp;
    const int quant = qp->dst_dt == LPOT_DT_U8 || qp->dst_dt == LPOT_DT_S8;
    lpot_status_t st = lpot_exec_arg_q(&ex, prim, DNNL_ARG_SRC, src);
    if (st == LPOT_OK)
        st = lpot_exec_arg_q(&ex, prim, DNNL_ARG_WEIGHTS, wei);
    if (st == LPOT_OK && bias && qp->dst_dt != LPOT_DT_S32)
        st = lpot_exec_arg_q(&ex, prim, DNNL_ARG_BIAS, bias);
    if (st == LPOT_OK)
        st = lpot_exec_arg_q(&ex, prim, DNNL_ARG_DST, dst);
    if (st == LPOT_OK && qp->dst_dt != LPOT_DT_S32)
        st = lpot_exec_arg_vec(&ex, DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC, dnnl_f32, 1, &qp->src_scale);
    if (st == LPOT_OK && qp->dst_dt != LPOT_DT_S32)
        st = lpot_exec_arg_vec(&ex, DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS, dnnl_f32, n_scales, w_scales);
    if (st == LPOT_OK && quant)
        st = lpot_exec_arg_vec(&ex, DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST, dnnl_f32, 1, &dscale);
    if (st == LPOT_OK && quant)
        st = lpot_exec_arg_vec(&ex, DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST, dnnl_s32, 1, &dzp);
    if (st == LPOT_OK && szp != 0)
        st = lpot_exec_arg_vec(&ex, DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, dnnl_s32, 1, &szp);
    if (st == LPOT_OK && wei_zp != 0)
        st = lpot_exec_arg_vec(&ex, DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_WEIGHTS, dnnl_s32, 1, &wei_zp);
    if (st != LPOT_OK) {
        lpot_exec_cleanup(&ex);
        return st;
    }
    return lpot_exec_run(prim, &ex);
}

/* ---- exactness without VNNI ------------------------------------------------------- */

int lpot_qk_exact_isa(void)
{
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_avx2_vnni:
    case dnnl_cpu_isa_avx2_vnni_2:
    case dnnl_cpu_isa_avx512_core_vnni:
    case dnnl_cpu_isa_avx512_core_bf16:
    case dnnl_cpu_isa_avx512_core_fp16:
    case dnnl_cpu_isa_avx512_core_amx:
    case dnnl_cpu_isa_avx512_core_amx_fp16: return 1;
    default: return 0;
    }
}

int lpot_qk_s8_fits7(const int8_t *w, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= w[i] < -64 || w[i] > 64;
    return !bad;
}

int lpot_qk_src_fits7(const void *x, lpot_dtype_t dt, size_t n)
{
    int bad = 0;
    if (dt == LPOT_DT_U8) {
        const uint8_t *p = x;
        for (size_t i = 0; i < n; i++)
            bad |= p[i] > 127;
    } else {
        const int8_t *p = x;
        for (size_t i = 0; i < n; i++)
            bad |= p[i] >= 0;
    }
    return !bad;
}

lpot_status_t lpot_qk_split_src(const void *x, lpot_dtype_t dt, size_t n, int32_t *zp,
                                uint8_t **hi, uint8_t **lo)
{
    *hi = malloc(n + 1);
    *lo = malloc(n + 1);
    if (*hi == NULL || *lo == NULL) {
        free(*hi);
        free(*lo);
        *hi = *lo = NULL;
        return lpot_set_error(LPOT_ERR_NOMEM, "split activations of %zu bytes", n);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned v = dt == LPOT_DT_U8 ? ((const uint8_t *)x)[i]
                                      : (unsigned)(((const int8_t *)x)[i] + 128);
        (*hi)[i] = (uint8_t)(v >> 1);
        (*lo)[i] = (uint8_t)(v & 1);
    }
    if (dt == LPOT_DT_S8)
        *zp += 128;
    return LPOT_OK;
}

lpot_status_t lpot_qk_run_split(lpot_raw_run_fn fn, void *ctx, const void *x, lpot_dtype_t dt,
                                size_t nx, int32_t zp, size_t nacc, int32_t **acc,
                                const char **impl)
{
    uint8_t *hi = NULL, *lo = NULL;
    int32_t *lo_acc = NULL;
    const char *name = "";
    lpot_status_t st = lpot_qk_split_src(x, dt, nx, &zp, &hi, &lo);
    if (st != LPOT_OK)
        return st;
    *acc = malloc(sizeof(int32_t) * nacc + 1);
    lo_acc = malloc(sizeof(int32_t) * nacc + 1);
    if (*acc == NULL || lo_acc == NULL) {
        st = lpot_set_error(LPOT_ERR_NOMEM, "split accumulators");
        goto cleanup;
    }
    /* (x - zp) = 2*hi + (lo - zp): zero-padded borders stay zero in both. */
    st = fn(ctx, hi, 0, *acc, &name);
    if (st == LPOT_OK)
        st = fn(ctx, lo, zp, lo_acc, &name);
    if (st != LPOT_OK)
        goto cleanup;
    for (size_t i = 0; i < nacc; i++)
        (*acc)[i] = 2 * (*acc)[i] + lo_acc[i];
    char buf[256];
    snprintf(buf, sizeof buf, "%s+split", name);
    *impl = lpot_qk_intern(buf);
cleanup:
    if (st != LPOT_OK) {
        free(*acc);
        *acc = NULL;
    }
    free(lo_acc);
    free(hi);
    free(lo);
    return st;
}

/* ---- attributes ------------------------------------------------------------ */

lpot_status_t lpot_dnnl_attr(dnnl_primitive_attr_t *out, const lpot_qparams_t *qp,
                             int wei_mask, int src_zp_set, int wei_zp_set)
{
    dnnl_primitive_attr_t a = NULL;
    dnnl_post_ops_t po = NULL;
    lpot_status_t st = lpot_dnnl_check(dnnl_primitive_attr_create(&a), "attribute creation");
    if (st != LPOT_OK)
        goto error;
#define CHK(call, what)                                 \
    do {                                                \
        st = lpot_dnnl_check((call), (what));           \
        if (st != LPOT_OK)                              \
            goto error;                                 \
    } while (0)
    CHK(dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user), "scratchpad mode");
    if (qp->dst_dt != LPOT_DT_S32) {
        CHK(dnnl_primitive_attr_set_scales_mask(a, DNNL_ARG_SRC, 0), "src scales");
        CHK(dnnl_primitive_attr_set_scales_mask(a, DNNL_ARG_WEIGHTS, wei_mask), "weight scales");
        if (qp->dst_dt != LPOT_DT_F32) {
            CHK(dnnl_primitive_attr_set_scales_mask(a, DNNL_ARG_DST, 0), "dst scales");
            CHK(dnnl_primitive_attr_set_zero_points_mask(a, DNNL_ARG_DST, 0), "dst zero point");
        }
    }
    if (src_zp_set)
        CHK(dnnl_primitive_attr_set_zero_points_mask(a, DNNL_ARG_SRC, 0), "src zero point");
    if (wei_zp_set)
        CHK(dnnl_primitive_attr_set_zero_points_mask(a, DNNL_ARG_WEIGHTS, 0), "weight zero point");
    if (qp->n_post > 0) {
        CHK(dnnl_post_ops_create(&po), "post-ops creation");
        for (int i = 0; i < qp->n_post; i++) {
            const lpot_post_op_t *p = &qp->post[i];
            switch (p->kind) {
            case LPOT_POST_RELU:
                CHK(dnnl_post_ops_append_eltwise(po, dnnl_eltwise_relu, 0.0f, 0.0f), "relu post-op");
                break;
            case LPOT_POST_GELU_ERF:
                CHK(dnnl_post_ops_append_eltwise(po, dnnl_eltwise_gelu_erf, 0.0f, 0.0f), "gelu post-op");
                break;
            case LPOT_POST_GELU_TANH:
                CHK(dnnl_post_ops_append_eltwise(po, dnnl_eltwise_gelu_tanh, 0.0f, 0.0f), "gelu post-op");
                break;
            case LPOT_POST_SUM:
                CHK(dnnl_post_ops_append_sum(po, p->scale, p->zp, dnnl_data_type_undef), "sum post-op");
                break;
            }
        }
        CHK(dnnl_primitive_attr_set_post_ops(a, po), "post-ops");
    }
#undef CHK
    if (po)
        dnnl_post_ops_destroy(po);
    *out = a;
    return LPOT_OK;
error:
    if (po)
        dnnl_post_ops_destroy(po);
    if (a)
        dnnl_primitive_attr_destroy(a);
    return st;
}

/* ---- primitive cache --------------------------------------------------------- */

int lpot_pkey_qparams(lpot_pkey_t *key, int at, const lpot_qparams_t *qp)
{
    key->v[LPOT_KEY_LEN - 1] = tl_threads; /* primitives are sized for it */
    key->v[at++] = qp->src_dt;
    key->v[at++] = qp->src_zp != 0;
    key->v[at++] = qp->dst_dt;
    key->v[at++] = qp->n_post;
    for (int i = 0; i < qp->n_post && at + 3 < LPOT_KEY_LEN; i++) {
        float s = qp->post[i].scale;
        int32_t bits;
        memcpy(&bits, &s, sizeof bits);
        key->v[at++] = qp->post[i].kind;
        key->v[at++] = qp->post[i].kind == LPOT_POST_SUM ? bits : 0;
        key->v[at++] = qp->post[i].kind == LPOT_POST_SUM ? qp->post[i].zp : 0;
    }
    return at;
}

void lpot_pentry_destroy(lpot_pentry_t *e)
{
    if (e == NULL)
        return;
    if (e->prim)
        dnnl_primitive_destroy(e->prim);
    for (int i = 0; i < 2; i++)
        if (e->pre[i])
            dnnl_primitive_destroy(e->pre[i]);
    if (e->post)
        dnnl_primitive_destroy(e->post);
    free(e);
}

void lpot_pcache_init(lpot_pcache_t *c)
{
    pthread_mutex_init(&c->mu, NULL);
    c->n = 0;
}

void lpot_pcache_destroy(lpot_pcache_t *c)
{
    for (int i = 0; i < c->n; i++)
        lpot_pentry_destroy(c->e[i]);
    c->n = 0;
    pthread_mutex_destroy(&c->mu);
}

lpot_pentry_t *lpot_pcache_get(lpot_pcache_t *c, const lpot_pkey_t *key)
{
    lpot_pentry_t *res = NULL;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n; i++)
        if (memcmp(&c->e[i]->key, key, sizeof *key) == 0) {
            res = c->e[i];
            break;
        }
    pthread_mutex_unlock(&c->mu);
    return res;
}

lpot_pentry_t *lpot_pcache_put(lpot_pcache_t *c, lpot_pentry_t *e)
{
    lpot_pentry_t *res = NULL;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n; i++)
        if (memcmp(&c->e[i]->key, &e->key, sizeof e->key) == 0) {
            res = c->e[i];
            break;
        }
    if (res == NULL && c->n < LPOT_PCACHE_CAP)
        res = c->e[c->n++] = e;
    pthread_mutex_unlock(&c->mu);
    if (res != NULL && res != e)
        lpot_pentry_destroy(e);
    return res;
}

lpot_status_t lpot_pcache_lookup(lpot_pcache_t *c, const lpot_pkey_t *key_in, lpot_build_fn build,
                                 void *ctx, lpot_pentry_t **e, lpot_pentry_t **own)
{
    lpot_pkey_t key_local = *key_in, *key = &key_local;
    if (tl_adaptive)
        pick_threads(c, key); /* the build below reads the choice (tl_threads) */
    *own = NULL;
    *e = lpot_pcache_get(c, key);
    if (*e != NULL)
        return LPOT_OK;
    lpot_pentry_t *n = NULL;
    lpot_status_t st = build(ctx, &n);
    if (st == LPOT_ERR_UNSUPPORTED)
        lpot_clear_error();
    if (st != LPOT_OK)
        return st;
    *e = lpot_pcache_put(c, n);
    if (*e == NULL)
        *e = *own = n;
    return LPOT_OK;
}

lpot_status_t lpot_pcache_prime(lpot_pcache_t *c, lpot_build_fn build, void *ctx,
                                const char **impl)
{
    lpot_pentry_t *e = NULL;
    lpot_status_t st = build(ctx, &e);
    if (st == LPOT_ERR_UNSUPPORTED) {
        lpot_clear_error();
        *impl = "lpot:ref";
        return LPOT_OK;
    }
    if (st != LPOT_OK)
        return st;
    *impl = e->impl;
    if (lpot_pcache_put(c, e) == NULL)
        lpot_pentry_destroy(e);
    return LPOT_OK;
}

lpot_status_t lpot_pentry_finish(lpot_pentry_t *e, dnnl_status_t s, dnnl_primitive_desc_t pd,
                                 lpot_wpack_t *wp, const char *what)
{
    lpot_status_t st;
    if (s == dnnl_unimplemented)
        st = lpot_set_error(LPOT_ERR_UNSUPPORTED, "oneDNN has no %s for this call", what);
    else
        st = lpot_dnnl_check(s, what);
    if (st == LPOT_OK && wp != NULL)
        st = lpot_wpack_get(wp, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0),
                            &e->weights);
    if (st == LPOT_OK)
        st = lpot_dnnl_check(dnnl_primitive_create(&e->prim, pd), what);
    if (st == LPOT_OK)
        e->impl = lpot_dnnl_impl_of(e->prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return st;
}

void lpot_md_destroy_all(dnnl_memory_desc_t *mds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (mds[i])
            dnnl_memory_desc_destroy(mds[i]);
}

/* ---- reorders and packed weights ---------------------------------------------- */

lpot_status_t lpot_dnnl_reorder(dnnl_primitive_t *out, const_dnnl_memory_desc_t from,
                                const_dnnl_memory_desc_t to)
{
    dnnl_engine_t eng = NULL;
    dnnl_primitive_desc_t pd = NULL;
    lpot_status_t st = lpot_dnnl_engine(&eng);
    if (st != LPOT_OK)
        return st;
    st = lpot_dnnl_check(dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, NULL),
                         "reorder creation");
    if (st != LPOT_OK)
        return st;
    st = lpot_dnnl_check(dnnl_primitive_create(out, pd), "reorder creation");
    dnnl_primitive_desc_destroy(pd);
    return st;
}

lpot_status_t lpot_dnnl_run_reorder(const_dnnl_primitive_t r, const void *src, void *dst)
{
    lpot_exec_t ex = {0};
    lpot_status_t st = lpot_exec_arg_q(&ex, r, DNNL_ARG_FROM, src);
    if (st == LPOT_OK)
        st = lpot_exec_arg_q(&ex, r, DNNL_ARG_TO, dst);
    if (st != LPOT_OK) {
        lpot_exec_cleanup(&ex);
        return st;
    }
    return lpot_exec_run(r, &ex);
}

lpot_status_t lpot_wpack_init(lpot_wpack_t *wp, const int8_t *plain, int ndims,
                              const dnnl_dims_t dims, dnnl_format_tag_t tag)
{
    memset(wp, 0, sizeof *wp);
    wp->plain = plain;
    lpot_status_t st = lpot_dnnl_check(
        dnnl_memory_desc_create_with_tag(&wp->plain_md, ndims, dims, dnnl_s8, tag),
        "weight descriptor creation");
    if (st != LPOT_OK)
        return st;
    pthread_mutex_init(&wp->mu, NULL);
    return LPOT_OK;
}

void lpot_wpack_destroy(lpot_wpack_t *wp)
{
    if (wp->plain_md == NULL)
        return;
    for (int i = 0; i < wp->n; i++) {
        dnnl_memory_desc_destroy(wp->v[i].md);
        free(wp->v[i].data);
    }
    dnnl_memory_desc_destroy(wp->plain_md);
    wp->plain_md = NULL;
    pthread_mutex_destroy(&wp->mu);
}

size_t lpot_wpack_bytes(lpot_wpack_t *wp)
{
    size_t b = 0;
    pthread_mutex_lock(&wp->mu);
    for (int i = 0; i < wp->n; i++)
        b += dnnl_memory_desc_get_size(wp->v[i].md);
    pthread_mutex_unlock(&wp->mu);
    return b;
}

lpot_status_t lpot_wpack_get(lpot_wpack_t *wp, const_dnnl_memory_desc_t md, const void **data)
{
    lpot_status_t st = LPOT_OK;
    dnnl_primitive_t r = NULL;
    void *buf = NULL;
    dnnl_memory_desc_t copy = NULL;
    pthread_mutex_lock(&wp->mu);
    for (int i = 0; i < wp->n; i++)
        if (dnnl_memory_desc_equal(wp->v[i].md, md)) {
            *data = wp->v[i].data;
            goto cleanup;
        }
    if (dnnl_memory_desc_equal(wp->plain_md, md)) {
        *data = wp->plain;
        goto cleanup;
    }
    if (wp->n >= LPOT_MAX_WVARIANTS) {
        st = lpot_set_error(LPOT_ERR_KERNEL, "too many packed weight layouts (%d)",
                            LPOT_MAX_WVARIANTS);
        goto cleanup;
    }
    size_t bytes = dnnl_memory_desc_get_size(md);
    buf = aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
    if (buf == NULL) {
        st = lpot_set_error(LPOT_ERR_NOMEM, "packed weights of %zu bytes", bytes);
        goto cleanup;
    }
    st = lpot_dnnl_check(dnnl_memory_desc_clone(&copy, md), "descriptor copy");
    if (st != LPOT_OK)
        goto cleanup;
    st = lpot_dnnl_reorder(&r, wp->plain_md, md);
    if (st != LPOT_OK)
        goto cleanup;
    st = lpot_dnnl_run_reorder(r, wp->plain, buf);
    if (st != LPOT_OK)
        goto cleanup;
    wp->v[wp->n].md = copy;
    wp->v[wp->n].data = buf;
    wp->n++;
    *data = buf;
    copy = NULL;
    buf = NULL;
cleanup:
    pthread_mutex_unlock(&wp->mu);
    if (r)
        dnnl_primitive_destroy(r);
    if (copy)
        dnnl_memory_desc_destroy(copy);
    free(buf);
    return st;
}
