/* Packed int8 linear (oneDNN matmul with prepacked s8 weights) and the
 * dynamic quantized linear. Plain C. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "qdnnl.h"
#include "qgemm_drv.h"

struct lpot_qlinear {
    int64_t n, k;
    int8_t *w;        /* plain N x K copy: packing source and reference path */
    float *scales;
    int64_t n_scales;
    float *bias;      /* NULL or N */
    int32_t *colsum;  /* sum_k w[n, k], for per-row dynamic quantization */
    lpot_wpack_t wp;
    lpot_pcache_t cache;
    const char *packed_impl;
    int w7;           /* every |w| <= 64: no int16 saturation without VNNI */
    int8_t *gemv_w;   /* weights packed for lpot's own small-M kernel (or NULL) */
    int64_t gemv_nb, gemv_kp; /* blocks; k pairs (int16 path) or k quads (u8s8) */
    int gemv_u8s8;    /* gemv_w packed for qgemv_u8s8 (7-bit weights) */
};

/* lpot's own small-M kernels split their channel blocks among the threads
 * from this much work on (memory-bound, they gain from a second core long
 * before a oneDNN call does; see bench/RESULTS.md). */
#define LPOT_GEMV_MT_MACS 3e5
#define LPOT_GEMV_IMPL "lpot:gemv_avx2"
#define LPOT_GEMV7_IMPL "lpot:gemv_u8s8_avx2"
/* M > LPOT_QGEMV_MAX_M rows of 7-bit weights on CPUs without VNNI: lpot's
 * own 6x16 tile GEMM (the conv path's driver, qgemm_drv.c) up to this many
 * rows, oneDNN's matmul (gemm:jit) above. Measured (AMD EPYC Milan, AVX2,
 * oneDNN 3.2, u8 -> f32, medians of 7, load ~1.5; ratio oneDNN time / own
 * time for K x N = 512x2048, 768x768, 768x3072, 3072x768, 256x2048):
 *   1 thread:  M=16 1.95 1.85 1.76 1.77 1.82   M=64  1.09 1.18 1.19 1.09 1.49
 *              M=128 1.17 1.07 0.87 1.15 1.11  M=256 1.04 1.03 1.04 1.15 1.04
 *              M=512 1.22 0.97 1.11 1.01 0.85  M=1024 1.15 1.02 0.95 1.01 0.91
 *   2 threads: own ahead at every M <= 512 (1.2-60x: oneDNN's OpenMP team
 *              waits for the busy core), M=1024 0.91-1.73.
 * So the own GEMM up to 512 rows (never clearly behind there; short K,
 * 256, is where oneDNN catches up at large M). */
#define LPOT_QLINEAR_GEMM_MAX_M 512
#define LPOT_GEMM7_IMPL "lpot:gemm_u8s8_avx2"

static lpot_status_t check_scales(const float *s, int64_t n_scales, int64_t channels,
                                  const char *what)
{
    if (n_scales != 1 && n_scales != channels)
        return lpot_set_error(LPOT_ERR_KERNEL,
                              "w_scales: expected 1 (per-tensor) or %lld (per-channel) scales "
                              "for %s, got %lld",
                              (long long)channels, what, (long long)n_scales);
    for (int64_t i = 0; i < n_scales; i++)
        if (!(s[i] > 0.0f) || !isfinite(s[i]))
            return lpot_set_error(LPOT_ERR_KERNEL,
                                  "w_scales[%lld]: expected a positive finite scale, got %g",
                                  (long long)i, (double)s[i]);
    return LPOT_OK;
}

static void linear_key(lpot_pkey_t *key, int64_t m, const lpot_qparams_t *qp)
{
    memset(key, 0, sizeof *key);
    key->v[0] = 1;
    key->v[1] = m;
    lpot_pkey_qparams(key, 2, qp);
}

typedef struct {
    lpot_qlinear_t *lin;
    int64_t m;
    const lpot_qparams_t *qp;
    int own_path; /* own_entry_build: key->v[0] of the own path (2 small-M, 3 GEMM) */
} linear_build_ctx;

/* Build the oneDNN matmul for m rows and qp; LPOT_ERR_UNSUPPORTED when
 * oneDNN has no implementation. */
static lpot_status_t linear_build(void *ctx, lpot_pentry_t **out)
{
    const linear_build_ctx *c = ctx;
    const lpot_qlinear_t *lin = c->lin;
    const lpot_qparams_t *qp = c->qp;
    const int64_t m = c->m;
    dnnl_engine_t eng = NULL;
    dnnl_memory_desc_t md[4] = {NULL, NULL, NULL, NULL}; /* src, wei, bias, dst */
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    lpot_pentry_t *e = calloc(1, sizeof *e);
    lpot_status_t st = e ? lpot_dnnl_engine(&eng) : lpot_set_error(LPOT_ERR_NOMEM, "cache entry");
    if (st != LPOT_OK)
        goto error;
    linear_key(&e->key, m, qp);
    dnnl_dims_t ds = {m, lin->k}, dw = {lin->k, lin->n}, db = {1, lin->n}, dd = {m, lin->n};
    const int use_bias = lin->bias != NULL && qp->dst_dt != LPOT_DT_S32;
    st = lpot_dnnl_check(dnnl_memory_desc_create_with_tag(&md[0], 2, ds, lpot_dnnl_dt(qp->src_dt), dnnl_ab), "src descriptor");
    if (st == LPOT_OK)
        st = lpot_dnnl_check(dnnl_memory_desc_create_with_tag(&md[1], 2, dw, dnnl_s8, dnnl_format_tag_any), "weight descriptor");
    if (st == LPOT_OK && use_bias)
        st = lpot_dnnl_check(dnnl_memory_desc_create_with_tag(&md[2], 2, db, dnnl_f32, dnnl_ab), "bias descriptor");
    if (st == LPOT_OK)
        st = lpot_dnnl_check(dnnl_memory_desc_create_with_tag(&md[3], 2, dd, lpot_dnnl_dt(qp->dst_dt), dnnl_ab), "dst descriptor");
    if (st == LPOT_OK)
        st = lpot_dnnl_attr(&attr, qp, lin->n_scales > 1 ? 1 << 1 : 0, qp->src_zp != 0, 0);
    if (st != LPOT_OK)
        goto error;
    dnnl_status_t s = dnnl_matmul_primitive_desc_create(&pd, eng, md[0], md[1], md[2], md[3], attr);
    st = lpot_pentry_finish(e, s, pd, &c->lin->wp, "int8 matmul");
    if (st != LPOT_OK)
        goto error;
    *out = e;
    goto cleanup;
error:
    lpot_pentry_destroy(e);
cleanup:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    lpot_md_destroy_all(md, 4);
    return st;
}

lpot_status_t lpot_qlinear_create(lpot_qlinear_t **out, const int8_t *w, int64_t n,
                                  int64_t k, const float *w_scales, int64_t n_scales,
                                  const float *bias, int64_t m_hint)
{
    lpot_qlinear_t *lin = NULL;
    lpot_status_t st;
    if (n < 1 || k < 1)
        return lpot_set_error(LPOT_ERR_KERNEL, "weight: expected a non-empty 2-D (N, K) array, got (%lld, %lld)",
                              (long long)n, (long long)k);
    st = check_scales(w_scales, n_scales, n, "output channels");
    if (st != LPOT_OK)
        return st;
    lin = calloc(1, sizeof *lin);
    if (lin == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "packed linear");
    lpot_pcache_init(&lin->cache);
    lin->n = n;
    lin->k = k;
    lin->n_scales = n_scales;
    lin->w = malloc((size_t)(n * k));
    lin->scales = malloc(sizeof(float) * (size_t)n_scales);
    lin->colsum = malloc(sizeof(int32_t) * (size_t)n);
    if (bias)
        lin->bias = malloc(sizeof(float) * (size_t)n);
    if (!lin->w || !lin->scales || !lin->colsum || (bias && !lin->bias)) {
        st = lpot_set_error(LPOT_ERR_NOMEM, "packed linear weights");
        goto error;
    }
    memcpy(lin->w, w, (size_t)(n * k));
    memcpy(lin->scales, w_scales, sizeof(float) * (size_t)n_scales);
    if (bias)
        memcpy(lin->bias, bias, sizeof(float) * (size_t)n);
    for (int64_t j = 0; j < n; j++) {
        int32_t s = 0;
        for (int64_t p = 0; p < k; p++)
            s += w[j * k + p];
        lin->colsum[j] = s;
    }
    lin->w7 = lpot_qk_s8_fits7(lin->w, (size_t)(n * k));
    /* lpot's own small-M kernel: where oneDNN's int8 path is not exact
     * (no VNNI) and a vector version exists; measured 4x+ faster than
     * oneDNN's gemm:jit at M=1 on AVX2 (bench/RESULTS.md). 7-bit weights
     * take the u8 x s8 one (vpmaddubsw cannot saturate), others the int16 one. */
    const int own_u8s8 = lin->w7 && lpot_kernels.qgemv_u8s8 != lpot_kernels_ref.qgemv_u8s8;
    if (!lpot_qk_exact_isa() && (own_u8s8 || lpot_kernels.qgemv_s8 != lpot_kernels_ref.qgemv_s8)) {
        lin->gemv_u8s8 = own_u8s8;
        lin->gemv_w = own_u8s8 ? lpot_qgemm_u8s8_pack(lin->w, n, k, &lin->gemv_nb, &lin->gemv_kp)
                               : lpot_qgemv_pack(lin->w, n, k, &lin->gemv_nb, &lin->gemv_kp);
        if (lin->gemv_w == NULL) {
            st = lpot_set_error(LPOT_ERR_NOMEM, "small-M packed weights");
            goto error;
        }
    }
    dnnl_dims_t dw = {k, n};
    st = lpot_wpack_init(&lin->wp, lin->w, 2, dw, dnnl_ba);
    if (st != LPOT_OK)
        goto error;
    /* Pack now for the common call: u8 activations with a zero point. */
    lpot_qparams_t qp = {.src_dt = LPOT_DT_U8, .src_scale = 1.0f, .src_zp = 1,
                         .dst_dt = LPOT_DT_F32, .dst_scale = 1.0f};
    linear_build_ctx bc = {lin, m_hint > 0 ? m_hint : 128, &qp, 0};
    lpot_qk_use_threads((double)bc.m * (double)k * (double)n);
    st = lpot_pcache_prime(&lin->cache, linear_build, &bc, &lin->packed_impl);
    if (st != LPOT_OK)
        goto error;
    *out = lin;
    return LPOT_OK;
error:
    lpot_qlinear_destroy(lin);
    return st;
}

void lpot_qlinear_destroy(lpot_qlinear_t *lin)
{
    if (lin == NULL)
        return;
    lpot_pcache_destroy(&lin->cache);
    lpot_wpack_destroy(&lin->wp);
    free(lin->w);
    free(lin->scales);
    free(lin->bias);
    free(lin->colsum);
    free(lin->gemv_w);
    free(lin);
}

int64_t lpot_qlinear_n(const lpot_qlinear_t *lin) { return lin->n; }
int64_t lpot_qlinear_k(const lpot_qlinear_t *lin) { return lin->k; }
const char *lpot_qlinear_packed_impl(const lpot_qlinear_t *lin) { return lin->packed_impl; }
size_t lpot_qlinear_packed_bytes(const lpot_qlinear_t *lin)
{
    return lpot_wpack_bytes(&((lpot_qlinear_t *)lin)->wp);
}
const int8_t *lpot_qlinear_weight(const lpot_qlinear_t *lin) { return lin->w; }
const float *lpot_qlinear_scales(const lpot_qlinear_t *lin, int64_t *n_scales)
{
    *n_scales = lin->n_scales;
    return lin->scales;
}

/* The key of an own path's entry (path 2: small-M, 3: GEMM). */
static void own_key(lpot_pkey_t *key, int path, int64_t m, const lpot_qparams_t *qp)
{
    linear_key(key, m, qp);
    key->v[0] = path;
}

/* A cache entry without a primitive: it keeps an own path's times for the
 * adaptive thread choice. */
static lpot_status_t own_entry_build(void *ctx, lpot_pentry_t **out)
{
    const linear_build_ctx *c = ctx;
    lpot_pentry_t *e = calloc(1, sizeof *e);
    if (e == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "cache entry");
    own_key(&e->key, c->own_path, c->m, c->qp);
    e->impl = c->own_path == 3 ? LPOT_GEMM7_IMPL
              : c->lin->gemv_u8s8 ? LPOT_GEMV7_IMPL : LPOT_GEMV_IMPL;
    *out = e;
    return LPOT_OK;
}

/* u8 rows for the own kernels when the caller's cannot be read in place:
 * s8 shifted to u8 (+128), K zero-padded to kpad. */
typedef struct {
    const uint8_t *x;
    int64_t k;
    uint8_t flip;
} linear_rows_ctx;

static void linear_rows(void *ctx, int64_t r0, int64_t rows, int64_t kpad, uint8_t *a)
{
    const linear_rows_ctx *c = ctx;
    for (int64_t i = 0; i < rows; i++) {
        const uint8_t *xi = c->x + (r0 + i) * c->k;
        uint8_t *d = a + i * kpad;
        for (int64_t j = 0; j < c->k; j++)
            d[j] = xi[j] ^ c->flip;
        memset(d + c->k, 0, (size_t)(kpad - c->k));
    }
}

/* Channel blocks [b0, b1) of every row: the kernel (xa: the int16 pairs, or
 * the u8 rows at stride lda), the zero-point correction and the epilogue. */
static void gemv_part(const lpot_qlinear_t *lin, const void *xa, int64_t lda, int64_t m,
                      int64_t b0, int64_t b1, int32_t zp, int32_t *acc, int64_t np,
                      const lpot_qparams_t *qp, void *y)
{
    const int64_t kk = lin->gemv_kp, bw = lin->gemv_u8s8 ? 16 : 8;
    if (b1 <= b0)
        return;
    if (lin->gemv_u8s8)
        lpot_kernels.qgemv_u8s8(xa, lda, m, lin->gemv_w + b0 * kk * 64, kk * 64, b1 - b0, kk,
                                acc + b0 * 16, np, 0, NULL);
    else
        lpot_kernels.qgemv_s8(xa, m, kk, lin->gemv_w + b0 * kk * 16, b1 - b0, acc + b0 * 8, np);
    const int64_t j0 = b0 * bw, j1 = b1 * bw < lin->n ? b1 * bw : lin->n;
    const size_t ys = lpot_dtype_size(qp->dst_dt);
    for (int64_t i = 0; i < m; i++) {
        int32_t *restrict a = acc + i * np; /* restrict: vectorized (2.5 -> 0.75 us at n=3072) */
        const int32_t *restrict cs = lin->colsum;
        if (zp != 0)
            for (int64_t j = j0; j < j1; j++)
                a[j] -= zp * cs[j];
        lpot_qepilogue(a + j0, 1, j1 - j0, lin->n_scales > 1 ? lin->scales + j0 : lin->scales,
                       lin->n_scales, lin->bias ? lin->bias + j0 : NULL, qp,
                       (char *)y + (size_t)(i * lin->n + j0) * ys);
    }
}

/* lpot's AVX2 small-M path: exact int32, the epilogue per row; the channel
 * blocks (and their epilogue) shared among the threads from
 * LPOT_GEMV_MT_MACS on, 1 or n threads picked from measured times like a
 * oneDNN primitive's. */
static lpot_status_t linear_gemv(lpot_qlinear_t *lin, const void *x, int64_t m,
                                 const lpot_qparams_t *qp, void *y, const char **impl)
{
    const int64_t k = lin->k, kk = lin->gemv_kp, nb = lin->gemv_nb;
    const int64_t np = nb * (lin->gemv_u8s8 ? 16 : 8);
    const int is_u8 = qp->src_dt == LPOT_DT_U8;
    lpot_pentry_t *e = NULL, *own = NULL;
    lpot_pkey_t key;
    own_key(&key, 2, m, qp);
    linear_build_ctx bc = {lin, m, qp, 2};
    lpot_qk_use_threads_from((double)m * (double)k * (double)lin->n, LPOT_GEMV_MT_MACS);
    lpot_status_t st = lpot_pcache_lookup(&lin->cache, &key, own_entry_build, &bc, &e, &own);
    if (st != LPOT_OK)
        return st;
    const int nt = lpot_qk_last_threads() > 0 ? lpot_qk_last_threads() : 1;
    /* u8s8: u8 rows of 4 * kk bytes (s8 shifted by +128, its zero point with
     * it); the caller's rows as they are when they already are. */
    const int direct = lin->gemv_u8s8 && is_u8 && k % 4 == 0;
    const size_t xbytes = lin->gemv_u8s8 ? (size_t)(m * kk * 4) : sizeof(int32_t) * (size_t)(m * kk);
    void *xa = direct ? NULL : malloc(xbytes + 1);
    int32_t *acc = malloc(sizeof(int32_t) * (size_t)(m * np) + 1);
    int64_t lda = 4 * kk;
    int32_t zp = qp->src_zp;
    if ((!direct && xa == NULL) || acc == NULL) {
        st = lpot_set_error(LPOT_ERR_NOMEM, "small-M buffers");
        goto cleanup;
    }
    const size_t xs = lpot_dtype_size(qp->src_dt);
    if (direct)
        lda = k;
    else if (lin->gemv_u8s8) {
        linear_rows_ctx rc = {x, k, is_u8 ? 0 : 0x80};
        linear_rows(&rc, 0, m, lda, xa);
        zp += is_u8 ? 0 : 128;
    } else
        for (int64_t i = 0; i < m; i++)
            lpot_qgemv_xpairs((const char *)x + i * k * xs, is_u8, k, (int32_t *)xa + i * kk);
    const void *xin = direct ? x : xa;
    const double t0 = lpot_qk_now();
    if (nt == 1)
        gemv_part(lin, xin, lda, m, 0, nb, zp, acc, np, qp, y);
    else {
        /* u8s8 in pairs of blocks: its one-row kernel works on two at once. */
        const int64_t unit = lin->gemv_u8s8 ? 2 : 1, units = (nb + unit - 1) / unit;
#pragma omp parallel num_threads(nt)
        {
            const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
            const int64_t b0 = units * t / T * unit, b1 = units * (t + 1) / T * unit;
            gemv_part(lin, xin, lda, m, b0, b1 < nb ? b1 : nb, zp, acc, np, qp, y);
        }
    }
    lpot_pentry_record(e, lpot_qk_now() - t0);
    *impl = e->impl;
cleanup:
    free(xa);
    free(acc);
    lpot_pentry_destroy(own);
    return st;
}

/* lpot's own GEMM for M > LPOT_QGEMV_MAX_M rows of 7-bit weights (CPUs
 * without VNNI): the weights as packed for the small-M u8 x s8 kernel (the
 * same packing), u8 rows with k % 4 == 0 read in place, the conv path's
 * driver (row chunks x channel groups on lpot's task pool). Exact: no
 * vpmaddubsw pair can saturate with |w| <= 64. */
static lpot_status_t linear_gemm(lpot_qlinear_t *lin, const void *x, int64_t m,
                                 const lpot_qparams_t *qp, void *y, const char **impl)
{
    lpot_pentry_t *e = NULL, *own = NULL;
    lpot_pkey_t key;
    own_key(&key, 3, m, qp);
    linear_build_ctx bc = {lin, m, qp, 3};
    lpot_status_t st = lpot_pcache_lookup(&lin->cache, &key, own_entry_build, &bc, &e, &own);
    if (st != LPOT_OK)
        return st;
    const int nt = lpot_qk_last_threads() > 0 ? lpot_qk_last_threads() : 1;
    const int is_u8 = qp->src_dt == LPOT_DT_U8;
    linear_rows_ctx rc = {x, lin->k, is_u8 ? 0 : 0x80};
    const lpot_qgemm_b_t b = {.w = lin->gemv_w, .nb = lin->gemv_nb, .k4 = lin->gemv_kp,
                              .n = lin->n, .wsum = lin->colsum, .scales = lin->scales,
                              .n_scales = lin->n_scales, .bias = lin->bias};
    const lpot_qgemm_a_t a = {.a = is_u8 && lin->k % 4 == 0 ? x : NULL, .lda = lin->k, .m = m,
                              .rows = linear_rows, .rows_ctx = &rc,
                              .zp = qp->src_zp + (is_u8 ? 0 : 128)};
    const double t0 = lpot_qk_now();
    st = lpot_qgemm_drv_run(&b, &a, qp, y, nt);
    if (st == LPOT_OK) {
        lpot_pentry_record(e, lpot_qk_now() - t0);
        *impl = e->impl;
    }
    lpot_pentry_destroy(own);
    return st;
}

static lpot_status_t linear_ref(lpot_qlinear_t *lin, const void *x, int64_t m,
                                const lpot_qparams_t *qp, void *y)
{
    int32_t *acc = malloc(sizeof(int32_t) * (size_t)(m * lin->n) + 1);
    if (acc == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "accumulator of %lld x %lld", (long long)m,
                              (long long)lin->n);
    lpot_qgemm_acc_ref(x, qp->src_dt, qp->src_zp, lin->w, LPOT_DT_S8, 0, 1, lin->k, m, lin->k,
                       lin->n, acc);
    lpot_qepilogue_ref(acc, m, lin->n, 0, lin->n, lin->scales, lin->n_scales, lin->bias, qp, y);
    free(acc);
    return LPOT_OK;
}

typedef struct {
    lpot_qlinear_t *lin;
    int64_t m;
    lpot_impl_pref_t pref;
} linear_raw_ctx;

static lpot_status_t linear_raw(void *ctx, const uint8_t *x, int32_t zp, int32_t *acc,
                                const char **impl)
{
    linear_raw_ctx *c = ctx;
    lpot_qparams_t raw = {.src_dt = LPOT_DT_U8, .src_scale = 1.0f, .src_zp = zp,
                          .dst_dt = LPOT_DT_S32, .dst_scale = 1.0f};
    return lpot_qlinear_run(c->lin, x, c->m, &raw, acc, c->pref, impl);
}

lpot_status_t lpot_qlinear_run(lpot_qlinear_t *lin, const void *x, int64_t m,
                               const lpot_qparams_t *qp, void *y,
                               lpot_impl_pref_t pref, const char **impl)
{
    lpot_status_t st = lpot_qparams_check(qp);
    lpot_pentry_t *e = NULL, *own = NULL;
    if (st != LPOT_OK)
        return st;
    if (m < 0)
        return lpot_set_error(LPOT_ERR_KERNEL, "x: negative row count");
    *impl = "lpot:ref";
    if (m == 0)
        return LPOT_OK;
    if (pref == LPOT_IMPL_REF)
        goto ref;
    if (m <= LPOT_QGEMV_MAX_M && lin->gemv_w != NULL &&
        (pref == LPOT_IMPL_AUTO || pref == LPOT_IMPL_OWN))
        return linear_gemv(lin, x, m, qp, y, impl);
    lpot_qk_use_threads((double)m * (double)lin->k * (double)lin->n);
    if (lin->gemv_u8s8 && lpot_kernels.qgemm_u8s8 != lpot_kernels_ref.qgemm_u8s8 &&
        ((pref == LPOT_IMPL_AUTO && m <= LPOT_QLINEAR_GEMM_MAX_M &&
          lpot_qgemm_drv_epi_cheap(qp)) || pref == LPOT_IMPL_OWN))
        return linear_gemm(lin, x, m, qp, y, impl);
    if (!lin->w7 && !lpot_qk_exact_isa() &&
        !lpot_qk_src_fits7(x, qp->src_dt, (size_t)(m * lin->k))) {
        int32_t *acc = NULL;
        linear_raw_ctx ctx = {lin, m, pref};
        st = lpot_qk_run_split(linear_raw, &ctx, x, qp->src_dt, (size_t)(m * lin->k), qp->src_zp,
                               (size_t)(m * lin->n), &acc, impl);
        if (st == LPOT_OK)
            lpot_qepilogue(acc, m, lin->n, lin->scales, lin->n_scales, lin->bias, qp, y);
        free(acc);
        return st;
    }
    lpot_pkey_t key;
    linear_key(&key, m, qp);
    linear_build_ctx bc = {lin, m, qp, 0};
    st = lpot_pcache_lookup(&lin->cache, &key, linear_build, &bc, &e, &own);
    if (st == LPOT_ERR_UNSUPPORTED)
        goto ref;
    if (st != LPOT_OK)
        return st;
    const double t0 = lpot_qk_now();
    st = lpot_exec_qop(e->prim, x, e->weights, lin->bias, y, qp, lin->scales,
                       lin->n_scales, 0);
    if (st == LPOT_OK)
        lpot_pentry_record(e, lpot_qk_now() - t0);
    if (st == LPOT_OK)
        *impl = e->impl;
    lpot_pentry_destroy(own);
    return st;
ref:
    *impl = "lpot:ref";
    return linear_ref(lin, x, m, qp, y);
}

/* ---- dynamic quantization --------------------------------------------------- */

/* ONNX DynamicQuantizeLinear: u8, range widened to include 0 (non-finite
 * values ignored). The dispatched min/max and quantize kernels (vector on
 * AVX2) round exactly as their scalar references. */
static void dyn_params(const float *x, int64_t n, float *scale, int32_t *zp)
{
    float lo = 0.0f, hi = 0.0f;
    size_t bad = 0;
    lpot_kernels.minmax_f32(x, (size_t)n, 1, &lo, &hi, &bad);
    float s = (hi - lo) / 255.0f;
    if (!(s > 0.0f))
        s = 1.0f;
    *scale = s;
    *zp = lpot_q_saturate((double)(-lo / s), LPOT_DT_U8);
}

static void dyn_quantize(const float *x, int64_t n, float scale, int32_t zp, uint8_t *q)
{
    const lpot_qk_params_t p = {.scale = &scale, .zp = &zp, .per_elem = 0, .qmin = 0, .qmax = 255};
    lpot_kernels.quantize_f32(x, q, 0, (size_t)n, &p);
}

lpot_status_t lpot_qlinear_run_dynamic(lpot_qlinear_t *lin, const float *x, int64_t m,
                                       int per_row, const lpot_post_op_t *post,
                                       int n_post, float *y, float *x_scales,
                                       int32_t *x_zps, lpot_impl_pref_t pref,
                                       const char **impl)
{
    lpot_status_t st = LPOT_OK;
    uint8_t *q = NULL;
    int32_t *acc = NULL;
    const int64_t k = lin->k, n = lin->n;
    if (n_post < 0 || n_post > LPOT_MAX_POST_OPS)
        return lpot_set_error(LPOT_ERR_KERNEL, "post_ops: at most %d allowed", LPOT_MAX_POST_OPS);
    for (int i = 0; i < n_post; i++)
        if (post[i].kind == LPOT_POST_SUM)
            return lpot_set_error(LPOT_ERR_KERNEL, "post_ops: 'sum' is not supported by the dynamic linear");
    *impl = "lpot:ref";
    if (m <= 0)
        return LPOT_OK;
    q = malloc((size_t)(m * k));
    if (q == NULL) {
        st = lpot_set_error(LPOT_ERR_NOMEM, "quantized input");
        goto cleanup;
    }
    lpot_qparams_t qp = {.src_dt = LPOT_DT_U8, .dst_dt = LPOT_DT_F32, .dst_scale = 1.0f,
                         .n_post = n_post};
    if (n_post > 0)
        memcpy(qp.post, post, sizeof(lpot_post_op_t) * (size_t)n_post);
    if (!per_row) {
        dyn_params(x, m * k, &x_scales[0], &x_zps[0]);
        dyn_quantize(x, m * k, x_scales[0], x_zps[0], q);
        qp.src_scale = x_scales[0];
        qp.src_zp = x_zps[0];
        st = lpot_qlinear_run(lin, q, m, &qp, y, pref, impl);
        goto cleanup;
    }
    /* Per row: raw u8 x s8 products in int32, then each row's zero point is
     * taken out with the weights' column sums and its scale applied here. */
    for (int64_t i = 0; i < m; i++) {
        dyn_params(x + i * k, k, &x_scales[i], &x_zps[i]);
        dyn_quantize(x + i * k, k, x_scales[i], x_zps[i], q + i * k);
    }
    acc = malloc(sizeof(int32_t) * (size_t)(m * n));
    if (acc == NULL) {
        st = lpot_set_error(LPOT_ERR_NOMEM, "accumulator");
        goto cleanup;
    }
    lpot_qparams_t raw = {.src_dt = LPOT_DT_U8, .src_scale = 1.0f, .src_zp = 0,
                          .dst_dt = LPOT_DT_S32, .dst_scale = 1.0f};
    st = lpot_qlinear_run(lin, q, m, &raw, acc, pref, impl);
    if (st != LPOT_OK)
        goto cleanup;
    lpot_qparams_t ep = qp;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++)
            acc[i * n + j] -= x_zps[i] * lin->colsum[j];
        ep.src_scale = x_scales[i];
        lpot_qepilogue(acc + i * n, 1, n, lin->scales, lin->n_scales, lin->bias, &ep, y + i * n);
    }
cleanup:
    free(q);
    free(acc);
    return st;
}
