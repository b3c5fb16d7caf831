/* Batched int8 matmul of two activations (attention's Q.K^T and P.V)
 * through oneDNN, with the scalar reference as fallback. oneDNN takes s8
 * "weights" only, so a u8 right operand is shifted by -128 (values and zero
 * point alike: exact). Plain C. */
#include <stdlib.h>
#include <string.h>

#include "qdnnl.h"

static pthread_once_t g_cache_once = PTHREAD_ONCE_INIT;
static lpot_pcache_t g_cache; /* process-wide; lives as long as the process */

static void cache_init(void) { lpot_pcache_init(&g_cache); }

static void mm_key(lpot_pkey_t *key, int64_t batch, int64_t m, int64_t k, int64_t n, int trans_b,
                   int b_shared, int32_t b_zp, const lpot_qparams_t *qp)
{
    memset(key, 0, sizeof *key);
    int64_t v[] = {3, batch, m, k, n, trans_b, b_shared, b_zp != 0};
    memcpy(key->v, v, sizeof v);
    lpot_pkey_qparams(key, (int)(sizeof v / sizeof v[0]), qp);
}

typedef struct {
    int64_t batch, m, k, n;
    int trans_b, b_shared;
    int32_t b_zp;
    const lpot_qparams_t *qp;
} mm_build_ctx;

static lpot_status_t mm_build(void *ctx, lpot_pentry_t **out)
{
    const mm_build_ctx *c = ctx;
    const int64_t batch = c->batch, m = c->m, k = c->k, n = c->n;
    const int trans_b = c->trans_b, b_shared = c->b_shared;
    const int32_t b_zp = c->b_zp;
    const lpot_qparams_t *qp = c->qp;
    dnnl_engine_t eng = NULL;
    dnnl_memory_desc_t md[3] = {NULL, NULL, NULL}; /* a, b, dst */
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    lpot_pentry_t *e = calloc(1, sizeof *e);
    lpot_status_t st = e ? lpot_dnnl_engine(&eng) : lpot_set_error(LPOT_ERR_NOMEM, "cache entry");
    if (st != LPOT_OK)
        goto error;
    mm_key(&e->key, batch, m, k, n, trans_b, b_shared, b_zp, qp);
    const int64_t bb = b_shared ? 1 : batch;
    dnnl_dims_t ds = {batch, m, k}, dw = {bb, k, n}, dd = {batch, m, n};
    dnnl_dims_t ws = {k * n, n, 1}, wst = {k * n, 1, k};
    st = lpot_dnnl_check(dnnl_memory_desc_create_with_tag(&md[0], 3, ds, lpot_dnnl_dt(qp->src_dt), dnnl_abc), "a descriptor");
    if (st == LPOT_OK)
        st = lpot_dnnl_check(dnnl_memory_desc_create_with_strides(&md[1], 3, dw, dnnl_s8, trans_b ? wst : ws), "b descriptor");
    if (st == LPOT_OK)
        st = lpot_dnnl_check(dnnl_memory_desc_create_with_tag(&md[2], 3, dd, lpot_dnnl_dt(qp->dst_dt), dnnl_abc), "dst descriptor");
    if (st == LPOT_OK)
        st = lpot_dnnl_attr(&attr, qp, 0, qp->src_zp != 0, b_zp != 0);
    if (st != LPOT_OK)
        goto error;
    dnnl_status_t s = dnnl_matmul_primitive_desc_create(&pd, eng, md[0], md[1], NULL, md[2], attr);
    st = lpot_pentry_finish(e, s, pd, NULL, "int8 matmul");
    if (st != LPOT_OK)
        goto error;
    *out = e;
    goto cleanup;
error:
    lpot_pentry_destroy(e);
cleanup:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    lpot_md_destroy_all(md, 3);
    return st;
}

static lpot_status_t mm_ref(const void *a, const void *b, int64_t batch, int64_t m, int64_t k,
                            int64_t n, int trans_b, int b_shared, lpot_dtype_t b_dt, float b_scale,
                            int32_t b_zp, const lpot_qparams_t *qp, void *y)
{
    int32_t *acc = malloc(sizeof(int32_t) * (size_t)(batch * m * n) + 1);
    if (acc == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "accumulator");
    for (int64_t i = 0; i < batch; i++) {
        const char *ai = (const char *)a + i * m * k;
        const char *bi = (const char *)b + (b_shared ? 0 : i * k * n);
        lpot_qgemm_acc_ref(ai, qp->src_dt, qp->src_zp, bi, b_dt, b_zp, trans_b ? 1 : n,
                           trans_b ? k : 1, m, k, n, acc + i * m * n);
    }
    lpot_qepilogue_ref(acc, batch * m, n, 0, n, &b_scale, 1, NULL, qp, y);
    free(acc);
    return LPOT_OK;
}

typedef struct {
    const void *b;
    int64_t batch, m, k, n;
    int trans_b, b_shared;
    int32_t b_zp;
} mm_raw_ctx;

static lpot_status_t mm_raw(void *ctx, const uint8_t *x, int32_t zp, int32_t *acc,
                            const char **impl)
{
    mm_raw_ctx *r = ctx;
    lpot_qparams_t raw = {.src_dt = LPOT_DT_U8, .src_scale = 1.0f, .src_zp = zp,
                          .dst_dt = LPOT_DT_S32, .dst_scale = 1.0f};
    return lpot_qmatmul_run(x, r->b, r->batch, r->m, r->k, r->n, r->trans_b, r->b_shared,
                            LPOT_DT_S8, 1.0f, r->b_zp, &raw, acc, LPOT_IMPL_AUTO, impl);
}

lpot_status_t lpot_qmatmul_run(const void *a, const void *b, int64_t batch,
                               int64_t m, int64_t k, int64_t n, int trans_b, int b_shared,
                               lpot_dtype_t b_dt, float b_scale, int32_t b_zp,
                               const lpot_qparams_t *qp, void *y,
                               lpot_impl_pref_t pref, const char **impl)
{
    lpot_status_t st = lpot_qparams_check(qp);
    lpot_pentry_t *e = NULL, *own = NULL;
    int8_t *bs = NULL;
    if (st != LPOT_OK)
        return st;
    if (b_dt != LPOT_DT_U8 && b_dt != LPOT_DT_S8)
        return lpot_set_error(LPOT_ERR_KERNEL, "b: expected uint8 or int8");
    *impl = "lpot:ref";
    if (batch <= 0 || m <= 0 || n <= 0)
        return LPOT_OK;
    if (pref == LPOT_IMPL_REF || k == 0)
        return mm_ref(a, b, batch, m, k, n, trans_b, b_shared, b_dt, b_scale, b_zp, qp, y);
    const void *bq = b;
    int32_t zq = b_zp;
    if (b_dt == LPOT_DT_U8) {
        const int64_t nb = (b_shared ? 1 : batch) * k * n;
        bs = malloc((size_t)nb);
        if (bs == NULL)
            return lpot_set_error(LPOT_ERR_NOMEM, "shifted b");
        for (int64_t i = 0; i < nb; i++)
            bs[i] = (int8_t)((int32_t)((const uint8_t *)b)[i] - 128);
        bq = bs;
        zq = b_zp - 128;
    }
    lpot_qk_use_threads((double)batch * m * k * n);
    const int64_t nb = (b_shared ? 1 : batch) * k * n;
    if (!lpot_qk_exact_isa() && !lpot_qk_s8_fits7(bq, (size_t)nb) &&
        !lpot_qk_src_fits7(a, qp->src_dt, (size_t)(batch * m * k))) {
        int32_t *acc = NULL;
        mm_raw_ctx ctx = {bq, batch, m, k, n, trans_b, b_shared, zq};
        st = lpot_qk_run_split(mm_raw, &ctx, a, qp->src_dt, (size_t)(batch * m * k), qp->src_zp,
                               (size_t)(batch * m * n), &acc, impl);
        if (st == LPOT_OK)
            lpot_qepilogue(acc, batch * m, n, &b_scale, 1, NULL, qp, y);
        free(acc);
        goto cleanup;
    }
    pthread_once(&g_cache_once, cache_init);
    lpot_pkey_t key;
    mm_key(&key, batch, m, k, n, trans_b, b_shared, zq, qp);
    mm_build_ctx bc = {batch, m, k, n, trans_b, b_shared, zq, qp};
    st = lpot_pcache_lookup(&g_cache, &key, mm_build, &bc, &e, &own);
    if (st == LPOT_ERR_UNSUPPORTED) {
        st = mm_ref(a, b, batch, m, k, n, trans_b, b_shared, b_dt, b_scale, b_zp, qp, y);
        goto cleanup;
    }
    if (st != LPOT_OK)
        goto cleanup;
    const double t0 = lpot_qk_now();
    st = lpot_exec_qop(e->prim, a, bq, NULL, y, qp, &b_scale, 1, zq);
    if (st == LPOT_OK)
        lpot_pentry_record(e, lpot_qk_now() - t0);
    if (st == LPOT_OK)
        *impl = e->impl;
cleanup:
    free(bs);
    lpot_pentry_destroy(own);
    return st;
}
