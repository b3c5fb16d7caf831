/* Packed int8 2-D convolution: lpot's own im2col + AVX2 GEMM path on CPUs
 * without VNNI (see conv_gemm), else oneDNN (NHWC inside; NCHW callers get
 * reorders around it), with the scalar reference as fallback. Plain C. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "qdnnl.h"
#include "qgemm_drv.h"

/* What lpot's own path reports in last_impl(). */
#define LPOT_CONV_GEMM_IMPL "lpot:conv_gemm_avx2"

struct lpot_qconv {
    lpot_conv_geom_t g;
    int8_t *w;
    float *scales;
    int64_t n_scales;
    float *bias;
    lpot_wpack_t wp;
    lpot_pcache_t cache;
    const char *packed_impl;
    int w7;   /* every |w| <= 64: no int16 saturation without VNNI */
    /* lpot's own GEMM path (groups == 1, CPUs without VNNI, else NULL): the
     * weights as a KH*KW*IC x OC matrix (im2col order) packed for
     * lpot_kernels.qgemm_u8s8, and each channel's weight sum. */
    int gemm_ok;        /* the own path can run (packed on first use unless gemm_auto) */
    int gemm_auto;      /* ... and is AUTO's choice for this shape */
    pthread_mutex_t gemm_mu;
    atomic_int gemm_ready;
    int8_t *gw;
    int64_t g_nb, g_k4;
    int32_t *wsum;
};

lpot_status_t lpot_conv_out_hw(const lpot_conv_geom_t *g, int64_t h, int64_t w,
                               int64_t *oh, int64_t *ow)
{
    const int64_t eh = (g->kh - 1) * g->dilation[0] + 1, ew = (g->kw - 1) * g->dilation[1] + 1;
    const int64_t ph = h + g->pad[0] + g->pad[2], pw = w + g->pad[1] + g->pad[3];
    if (h < 1 || w < 1 || ph < eh || pw < ew)
        return lpot_set_error(LPOT_ERR_KERNEL,
                              "x: input %lldx%lld (padded %lldx%lld) is smaller than the dilated "
                              "kernel %lldx%lld",
                              (long long)h, (long long)w, (long long)ph, (long long)pw,
                              (long long)eh, (long long)ew);
    *oh = (ph - eh) / g->stride[0] + 1;
    *ow = (pw - ew) / g->stride[1] + 1;
    return LPOT_OK;
}

static lpot_status_t check_geom(const lpot_conv_geom_t *g)
{
    if (g->groups < 1 || g->oc < 1 || g->ic < 1 || g->kh < 1 || g->kw < 1)
        return lpot_set_error(LPOT_ERR_KERNEL, "weight: expected a non-empty (OC, IC/groups, KH, KW) array and groups >= 1");
    if (g->oc % g->groups != 0)
        return lpot_set_error(LPOT_ERR_KERNEL, "groups: %lld does not divide the %lld output channels",
                              (long long)g->groups, (long long)g->oc);
    for (int i = 0; i < 2; i++) {
        if (g->stride[i] < 1)
            return lpot_set_error(LPOT_ERR_KERNEL, "stride: expected values >= 1");
        if (g->dilation[i] < 1)
            return lpot_set_error(LPOT_ERR_KERNEL, "dilation: expected values >= 1");
    }
    for (int i = 0; i < 4; i++)
        if (g->pad[i] < 0)
            return lpot_set_error(LPOT_ERR_KERNEL, "padding: expected values >= 0");
    return LPOT_OK;
}

static void conv_key(lpot_pkey_t *key, int64_t n, int64_t h, int64_t w, lpot_layout_t layout,
                     const lpot_qparams_t *qp)
{
    memset(key, 0, sizeof *key);
    key->v[0] = 2;
    key->v[1] = n;
    key->v[2] = h;
    key->v[3] = w;
    key->v[4] = layout;
    lpot_pkey_qparams(key, 5, qp);
}

typedef struct {
    lpot_qconv_t *c;
    int64_t n, h, w;
    lpot_layout_t layout;
    const lpot_qparams_t *qp;
} conv_build_ctx;

static lpot_status_t conv_build(void *ctx, lpot_pentry_t **out)
{
    const conv_build_ctx *bc = ctx;
    lpot_qconv_t *c = bc->c;
    const int64_t n = bc->n, h = bc->h, w = bc->w;
    const lpot_layout_t layout = bc->layout;
    const lpot_qparams_t *qp = bc->qp;
    const lpot_conv_geom_t *g = &c->g;
    dnnl_engine_t eng = NULL;
    dnnl_memory_desc_t src = NULL, wei = NULL, bias = NULL, dst = NULL, src_u = NULL, dst_u = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int64_t oh, ow;
    lpot_pentry_t *e = calloc(1, sizeof *e);
    lpot_status_t st = e ? lpot_dnnl_engine(&eng) : lpot_set_error(LPOT_ERR_NOMEM, "cache entry");
    if (st == LPOT_OK)
        st = lpot_conv_out_hw(g, h, w, &oh, &ow);
    if (st != LPOT_OK)
        goto error;
    conv_key(&e->key, n, h, w, layout, qp);
    const int grouped = g->groups > 1;
    dnnl_dims_t ds = {n, g->ic, h, w}, dd = {n, g->oc, oh, ow}, db = {g->oc};
    dnnl_dims_t dw = {g->oc, g->ic / g->groups, g->kh, g->kw};
    dnnl_dims_t dwg = {g->groups, g->oc / g->groups, g->ic / g->groups, g->kh, g->kw};
    dnnl_dims_t strides = {g->stride[0], g->stride[1]};
    dnnl_dims_t dil = {g->dilation[0] - 1, g->dilation[1] - 1};
    dnnl_dims_t pl = {g->pad[0], g->pad[1]}, pr = {g->pad[2], g->pad[3]};
    dnnl_data_type_t sdt = lpot_dnnl_dt(qp->src_dt), ddt = lpot_dnnl_dt(qp->dst_dt);
    const int use_bias = c->bias != NULL && qp->dst_dt != LPOT_DT_S32;
#define CHK(call, what)                                     \
    do {                                                    \
        if (st == LPOT_OK)                                  \
            st = lpot_dnnl_check((call), (what));           \
    } while (0)
    CHK(dnnl_memory_desc_create_with_tag(&src, 4, ds, sdt, dnnl_nhwc), "src descriptor");
    CHK(dnnl_memory_desc_create_with_tag(&dst, 4, dd, ddt, dnnl_nhwc), "dst descriptor");
    CHK(dnnl_memory_desc_create_with_tag(&wei, grouped ? 5 : 4, grouped ? dwg : dw, dnnl_s8,
                                         dnnl_format_tag_any), "weight descriptor");
    if (use_bias)
        CHK(dnnl_memory_desc_create_with_tag(&bias, 1, db, dnnl_f32, dnnl_a), "bias descriptor");
    if (st != LPOT_OK)
        goto error;
    int wmask = c->n_scales > 1 ? (grouped ? (1 << 0) | (1 << 1) : 1 << 0) : 0;
    st = lpot_dnnl_attr(&attr, qp, wmask, qp->src_zp != 0, 0);
    if (st != LPOT_OK)
        goto error;
    dnnl_status_t s = dnnl_convolution_forward_primitive_desc_create(
        &pd, eng, dnnl_forward_inference, dnnl_convolution_direct, src, wei, bias, dst, strides,
        dil, pl, pr, attr);
    st = lpot_pentry_finish(e, s, pd, &c->wp, "int8 convolution");
    if (st == LPOT_OK && layout == LPOT_LAYOUT_NCHW) {
        CHK(dnnl_memory_desc_create_with_tag(&src_u, 4, ds, sdt, dnnl_nchw), "src descriptor");
        CHK(dnnl_memory_desc_create_with_tag(&dst_u, 4, dd, ddt, dnnl_nchw), "dst descriptor");
        if (st == LPOT_OK)
            st = lpot_dnnl_reorder(&e->pre[0], src_u, src);
        if (st == LPOT_OK)
            st = lpot_dnnl_reorder(&e->post, dst, dst_u);
        for (int i = 0; st == LPOT_OK && i < qp->n_post; i++)
            if (qp->post[i].kind == LPOT_POST_SUM)
                st = lpot_dnnl_reorder(&e->pre[1], dst_u, dst);
    }
#undef CHK
    if (st != LPOT_OK)
        goto error;
    *out = e;
    goto cleanup;
error:
    lpot_pentry_destroy(e);
cleanup:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    dnnl_memory_desc_t mds[] = {src, wei, bias, dst, src_u, dst_u};
    lpot_md_destroy_all(mds, sizeof mds / sizeof mds[0]);
    return st;
}

/* ---- lpot's own path: im2col + AVX2 u8 x s8 GEMM ------------------------------
 *
 * Measured on an AVX2-only CPU (bench/RESULTS.md): oneDNN 3.2's direct
 * jit_uni_int8:avx2 convolution reaches about 60% of a core's int8 peak on
 * ResNet-50's 3x3 shapes, ONNX Runtime's im2col + MLAS GEMM about 90%, so
 * lpot does the same: rows of output pixels are gathered (im2col, NHWC, in
 * chunks that stay in L2) and multiplied with the packed weights by the
 * 6x16 tile kernel in K passes (the shared driver, qgemm_drv.c). 1x1 stride-1
 * unpadded convolutions on u8 input read the input rows in place. Exact because the caller checks that no
 * vpmaddubsw pair can saturate (conv_gemm_exact). The activations' zero
 * point: padding is filled with it, and zp * (channel weight sum) is
 * subtracted from the int32 sums; s8 input is shifted to u8 (+128). */
/* Where the own path runs: spatial kernels (KH*KW > 1) with KH*KW*IC >=
 * this. Measured (bench/RESULTS.md): 3x3 with 128+ input channels 10-15%
 * faster than oneDNN's direct convolution (one thread, CPU time); 3x3 with
 * 64 channels (K = 576) a tie under load, but 7% (batch 1) and 18% (batch
 * 32) faster on the quiet 08:55 run; every 1x1 slower (the separate im2col,
 * zero-point and epilogue passes cost more than the short K saves), so those
 * stay on oneDNN. */
#define LPOT_CONV_GEMM_MIN_K 576

static lpot_status_t gemm_pack(lpot_qconv_t *c)
{
    const lpot_conv_geom_t *g = &c->g;
    const int64_t taps = g->kh * g->kw, k = taps * g->ic;
    int8_t *wm = malloc((size_t)(g->oc * k) + 1);
    c->wsum = malloc(sizeof(int32_t) * (size_t)g->oc);
    if (wm == NULL || c->wsum == NULL) {
        free(wm);
        return lpot_set_error(LPOT_ERR_NOMEM, "packed convolution weights");
    }
    /* OIHW -> O x (KH, KW, I): the column order of the NHWC im2col rows */
    for (int64_t o = 0; o < g->oc; o++) {
        int32_t sum = 0;
        for (int64_t i = 0; i < g->ic; i++)
            for (int64_t t = 0; t < taps; t++) {
                const int8_t v = c->w[(o * g->ic + i) * taps + t];
                wm[o * k + t * g->ic + i] = v;
                sum += v;
            }
        c->wsum[o] = sum;
    }
    c->gw = lpot_qgemm_u8s8_pack(wm, g->oc, k, &c->g_nb, &c->g_k4);
    free(wm);
    if (c->gw == NULL) {
        free(c->wsum);
        c->wsum = NULL;
        return lpot_set_error(LPOT_ERR_NOMEM, "packed convolution weights");
    }
    return LPOT_OK;
}

/* The own path's packed weights, made once (at creation when AUTO uses the
 * path, else on the first call that asks for it). */
static lpot_status_t gemm_weights(lpot_qconv_t *c)
{
    lpot_status_t st = LPOT_OK;
    if (atomic_load(&c->gemm_ready))
        return LPOT_OK;
    pthread_mutex_lock(&c->gemm_mu);
    if (!atomic_load(&c->gemm_ready)) {
        st = gemm_pack(c);
        if (st == LPOT_OK)
            atomic_store(&c->gemm_ready, 1);
    }
    pthread_mutex_unlock(&c->gemm_mu);
    return st;
}

/* The activations (u8, or s8 + 128) and zero point as the tile kernel sees them. */
static int32_t gemm_zp(const lpot_qparams_t *qp)
{
    return qp->src_zp + (qp->src_dt == LPOT_DT_S8 ? 128 : 0);
}

static int conv_padded(const lpot_conv_geom_t *g)
{
    return g->pad[0] || g->pad[1] || g->pad[2] || g->pad[3];
}

/* 1 when no vpmaddubsw pair can saturate: 7-bit weights, or activations
 * (and the zero point that fills the padding) <= 127. */
static int conv_gemm_exact(const lpot_qconv_t *c, const void *x, size_t nx,
                           const lpot_qparams_t *qp)
{
    if (c->w7)
        return 1;
    if (gemm_zp(qp) > 127 && conv_padded(&c->g))
        return 0;
    return lpot_qk_src_fits7(x, qp->src_dt, nx);
}

/* im2col of output rows [r0, r0 + rows) of NHWC x into a (row stride kpad). */
static void conv_im2col(const lpot_conv_geom_t *g, const uint8_t *x, int flip, int64_t h,
                        int64_t w, int64_t oh, int64_t ow, int64_t r0, int64_t rows,
                        uint8_t padv, int64_t kpad, uint8_t *a)
{
    const int64_t ic = g->ic, k = g->kh * g->kw * ic;
    for (int64_t i = 0; i < rows; i++) {
        const int64_t m = r0 + i, b = m / (oh * ow), oy = m % (oh * ow) / ow, ox = m % ow;
        uint8_t *d = a + i * kpad;
        for (int64_t ky = 0; ky < g->kh; ky++) {
            const int64_t iy = oy * g->stride[0] - g->pad[0] + ky * g->dilation[0];
            const int64_t ix0 = ox * g->stride[1] - g->pad[1];
            if (!flip && g->dilation[1] == 1 && iy >= 0 && iy < h && ix0 >= 0 && ix0 + g->kw <= w) {
                /* the whole kernel row is inside: one contiguous run */
                memcpy(d, x + ((b * h + iy) * w + ix0) * ic, (size_t)(g->kw * ic));
                d += g->kw * ic;
                continue;
            }
            for (int64_t kx = 0; kx < g->kw; kx++, d += ic) {
                const int64_t ix = ox * g->stride[1] - g->pad[1] + kx * g->dilation[1];
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
                    memset(d, padv, (size_t)ic);
                    continue;
                }
                const uint8_t *s = x + ((b * h + iy) * w + ix) * ic;
                if (flip)
                    for (int64_t ci = 0; ci < ic; ci++)
                        d[ci] = s[ci] ^ 0x80;
                else
                    memcpy(d, s, (size_t)ic);
            }
        }
        memset(d, 0, (size_t)(kpad - k));
    }
}

/* The rows of one call for the shared GEMM driver (im2col of NHWC x). */
typedef struct {
    const lpot_conv_geom_t *g;
    const uint8_t *x;
    int64_t h, w, oh, ow;
    int flip;
    uint8_t padv;
} conv_rows_ctx;

static void conv_rows(void *ctx, int64_t r0, int64_t rows, int64_t kpad, uint8_t *a)
{
    const conv_rows_ctx *r = ctx;
    conv_im2col(r->g, r->x, r->flip, r->h, r->w, r->oh, r->ow, r0, rows, r->padv, kpad, a);
}

/* NHWC x -> NHWC y on nt threads: the shared GEMM driver (qgemm_drv.c),
 * reading 1x1 stride-1 unpadded u8 input in place, else im2col rows. */
static lpot_status_t conv_gemm(const lpot_qconv_t *c, const uint8_t *x, int64_t n, int64_t h,
                               int64_t w, int64_t oh, int64_t ow, const lpot_qparams_t *qp,
                               void *y, int nt)
{
    const lpot_conv_geom_t *g = &c->g;
    conv_rows_ctx rc = {.g = g, .x = x, .h = h, .w = w, .oh = oh, .ow = ow,
                        .flip = qp->src_dt == LPOT_DT_S8};
    const int32_t zp = gemm_zp(qp);
    rc.padv = (uint8_t)zp;
    const int direct = g->kh == 1 && g->kw == 1 && g->stride[0] == 1 && g->stride[1] == 1 &&
                       !conv_padded(g) && !rc.flip && g->ic % 4 == 0;
    const lpot_qgemm_b_t b = {.w = c->gw, .nb = c->g_nb, .k4 = c->g_k4, .n = g->oc,
                              .wsum = c->wsum, .scales = c->scales, .n_scales = c->n_scales,
                              .bias = c->bias};
    const lpot_qgemm_a_t a = {.a = direct ? x : NULL, .lda = g->ic, .m = n * oh * ow,
                              .rows = conv_rows, .rows_ctx = &rc, .zp = zp};
    return lpot_qgemm_drv_run(&b, &a, qp, y, nt);
}

/* dst[b][c][r] = src[b][r][c] for b < n (rows x cols planes of es-byte values). */
static void transpose_planes(const void *src, void *dst, int64_t n, int64_t rows, int64_t cols,
                             size_t es)
{
    for (int64_t b = 0; b < n; b++)
        for (int64_t r0 = 0; r0 < rows; r0 += 32)
            for (int64_t c0 = 0; c0 < cols; c0 += 32) {
                const int64_t r1 = r0 + 32 < rows ? r0 + 32 : rows, c1 = c0 + 32 < cols ? c0 + 32 : cols;
                for (int64_t r = r0; r < r1; r++)
                    for (int64_t cc = c0; cc < c1; cc++) {
                        const size_t from = (size_t)((b * rows + r) * cols + cc), to = (size_t)((b * cols + cc) * rows + r);
                        if (es == 1)
                            ((uint8_t *)dst)[to] = ((const uint8_t *)src)[from];
                        else
                            ((uint32_t *)dst)[to] = ((const uint32_t *)src)[from];
                    }
            }
}

static lpot_status_t gemm_entry_build(void *ctx, lpot_pentry_t **out);

/* The own path for one call: the adaptive thread choice (a cache entry
 * without a primitive keeps this path's times), NCHW transposed around it. */
static lpot_status_t conv_gemm_run(lpot_qconv_t *c, const void *x, int64_t n, int64_t h,
                                   int64_t w, int64_t oh, int64_t ow, lpot_layout_t layout,
                                   const lpot_qparams_t *qp, void *y, const char **impl)
{
    lpot_pentry_t *e = NULL, *own = NULL;
    lpot_pkey_t key;
    conv_key(&key, n, h, w, layout, qp);
    key.v[0] = 3;
    conv_build_ctx bc = {c, n, h, w, layout, qp};
    lpot_status_t st = lpot_pcache_lookup(&c->cache, &key, gemm_entry_build, &bc, &e, &own);
    if (st != LPOT_OK)
        return st;
    const int nt = lpot_qk_last_threads() > 0 ? lpot_qk_last_threads() : 1;
    const size_t ys = lpot_dtype_size(qp->dst_dt);
    const int64_t nx = n * c->g.ic * h * w, ny = n * c->g.oc * oh * ow;
    void *tx = NULL, *ty = NULL;
    const void *src = x;
    void *dst = y;
    if (layout == LPOT_LAYOUT_NCHW) {
        tx = malloc((size_t)nx + 64);
        ty = malloc((size_t)ny * ys + 64);
        if (tx == NULL || ty == NULL) {
            st = lpot_set_error(LPOT_ERR_NOMEM, "NHWC staging buffers");
            goto cleanup;
        }
        transpose_planes(x, tx, n, c->g.ic, h * w, 1);
        for (int i = 0; i < qp->n_post; i++)
            if (qp->post[i].kind == LPOT_POST_SUM) {
                transpose_planes(y, ty, n, c->g.oc, oh * ow, ys);
                break;
            }
        src = tx;
        dst = ty;
    }
    const double t0 = lpot_qk_now();
    st = conv_gemm(c, src, n, h, w, oh, ow, qp, dst, nt);
    if (st == LPOT_OK)
        lpot_pentry_record(e, lpot_qk_now() - t0);
    if (st == LPOT_OK && layout == LPOT_LAYOUT_NCHW)
        transpose_planes(ty, y, n, oh * ow, c->g.oc, ys);
    if (st == LPOT_OK)
        *impl = LPOT_CONV_GEMM_IMPL;
cleanup:
    free(tx);
    free(ty);
    lpot_pentry_destroy(own);
    return st;
}

lpot_status_t lpot_qconv_create(lpot_qconv_t **out, const int8_t *w,
                                const lpot_conv_geom_t *g, const float *w_scales,
                                int64_t n_scales, const float *bias,
                                const int64_t hint_hw[2])
{
    lpot_status_t st = check_geom(g);
    if (st != LPOT_OK)
        return st;
    if (n_scales != 1 && n_scales != g->oc)
        return lpot_set_error(LPOT_ERR_KERNEL,
                              "w_scales: expected 1 (per-tensor) or %lld (per-channel) scales, got %lld",
                              (long long)g->oc, (long long)n_scales);
    for (int64_t i = 0; i < n_scales; i++)
        if (!(w_scales[i] > 0.0f) || w_scales[i] > 3.4e38f)
            return lpot_set_error(LPOT_ERR_KERNEL, "w_scales[%lld]: expected a positive finite scale, got %g",
                                  (long long)i, (double)w_scales[i]);
    lpot_qconv_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "packed convolution");
    lpot_pcache_init(&c->cache);
    pthread_mutex_init(&c->gemm_mu, NULL);
    c->g = *g;
    const size_t wn = (size_t)(g->oc * (g->ic / g->groups) * g->kh * g->kw);
    c->w = malloc(wn);
    c->scales = malloc(sizeof(float) * (size_t)n_scales);
    c->n_scales = n_scales;
    if (bias)
        c->bias = malloc(sizeof(float) * (size_t)g->oc);
    if (!c->w || !c->scales || (bias && !c->bias)) {
        st = lpot_set_error(LPOT_ERR_NOMEM, "packed convolution weights");
        goto error;
    }
    memcpy(c->w, w, wn);
    memcpy(c->scales, w_scales, sizeof(float) * (size_t)n_scales);
    if (bias)
        memcpy(c->bias, bias, sizeof(float) * (size_t)g->oc);
    c->w7 = lpot_qk_s8_fits7(c->w, wn);
    c->gemm_ok = g->groups == 1 && !lpot_qk_exact_isa() &&
                 lpot_kernels.qgemm_u8s8 != lpot_kernels_ref.qgemm_u8s8;
    c->gemm_auto = c->gemm_ok && g->kh * g->kw > 1 &&
                   g->kh * g->kw * g->ic >= LPOT_CONV_GEMM_MIN_K;
    if (c->gemm_auto) {
        st = gemm_weights(c);
        if (st != LPOT_OK)
            goto error;
    }
    if (g->groups > 1) {
        dnnl_dims_t d = {g->groups, g->oc / g->groups, g->ic / g->groups, g->kh, g->kw};
        st = lpot_wpack_init(&c->wp, c->w, 5, d, dnnl_goihw);
    } else {
        dnnl_dims_t d = {g->oc, g->ic, g->kh, g->kw};
        st = lpot_wpack_init(&c->wp, c->w, 4, d, dnnl_oihw);
    }
    if (st != LPOT_OK)
        goto error;
    /* Pack now for the common call: NHWC u8 input with a zero point. */
    int64_t h = hint_hw && hint_hw[0] > 0 ? hint_hw[0] : 56;
    int64_t wd = hint_hw && hint_hw[1] > 0 ? hint_hw[1] : 56;
    int64_t eh = (g->kh - 1) * g->dilation[0] + 1, ew = (g->kw - 1) * g->dilation[1] + 1;
    h = h < eh ? eh : h;
    wd = wd < ew ? ew : wd;
    lpot_qparams_t qp = {.src_dt = LPOT_DT_U8, .src_scale = 1.0f, .src_zp = 1,
                         .dst_dt = LPOT_DT_F32, .dst_scale = 1.0f};
    conv_build_ctx bc = {c, 1, h, wd, LPOT_LAYOUT_NHWC, &qp};
    int64_t oh = 1, ow = 1;
    lpot_conv_out_hw(g, h, wd, &oh, &ow);
    lpot_qk_use_threads((double)oh * ow * g->oc * (double)(g->ic / g->groups) * g->kh * g->kw);
    st = lpot_pcache_prime(&c->cache, conv_build, &bc, &c->packed_impl);
    if (st != LPOT_OK)
        goto error;
    *out = c;
    return LPOT_OK;
error:
    lpot_qconv_destroy(c);
    return st;
}

void lpot_qconv_destroy(lpot_qconv_t *c)
{
    if (c == NULL)
        return;
    lpot_pcache_destroy(&c->cache);
    lpot_wpack_destroy(&c->wp);
    free(c->gw);
    free(c->wsum);
    pthread_mutex_destroy(&c->gemm_mu);
    free(c->w);
    free(c->scales);
    free(c->bias);
    free(c);
}

const lpot_conv_geom_t *lpot_qconv_geom(const lpot_qconv_t *c) { return &c->g; }
const char *lpot_qconv_packed_impl(const lpot_qconv_t *c) { return c->packed_impl; }
size_t lpot_qconv_packed_bytes(const lpot_qconv_t *c)
{
    lpot_qconv_t *m = (lpot_qconv_t *)c;
    size_t own = 0;
    pthread_mutex_lock(&m->gemm_mu);
    if (atomic_load(&m->gemm_ready))
        own = (size_t)(c->g_nb * c->g_k4 * 64);
    pthread_mutex_unlock(&m->gemm_mu);
    return lpot_wpack_bytes(&m->wp) + own;
}

/* fast: the vectorized epilogue where it applies (NHWC), else the reference */
static void conv_epilogue(lpot_qconv_t *c, const int32_t *acc, int64_t n, int64_t oh, int64_t ow,
                          lpot_layout_t layout, const lpot_qparams_t *qp, void *y, int fast)
{
    if (layout == LPOT_LAYOUT_NCHW)
        lpot_qepilogue_ref(acc, n * c->g.oc, oh * ow, 1, c->g.oc, c->scales, c->n_scales, c->bias,
                           qp, y);
    else if (fast)
        lpot_qepilogue(acc, n * oh * ow, c->g.oc, c->scales, c->n_scales, c->bias, qp, y);
    else
        lpot_qepilogue_ref(acc, n * oh * ow, c->g.oc, 0, c->g.oc, c->scales, c->n_scales, c->bias,
                           qp, y);
}

static lpot_status_t conv_ref(lpot_qconv_t *c, const void *x, int64_t n, int64_t h, int64_t w,
                              int64_t oh, int64_t ow, lpot_layout_t layout,
                              const lpot_qparams_t *qp, void *y)
{
    const int64_t total = n * c->g.oc * oh * ow;
    int32_t *acc = malloc(sizeof(int32_t) * (size_t)total + 1);
    if (acc == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "accumulator of %lld values", (long long)total);
    lpot_qconv_acc_ref(x, qp->src_dt, qp->src_zp, layout, c->w, &c->g, n, h, w, oh, ow, acc);
    conv_epilogue(c, acc, n, oh, ow, layout, qp, y, 0);
    free(acc);
    return LPOT_OK;
}

typedef struct {
    lpot_qconv_t *c;
    int64_t n, h, w;
    lpot_layout_t layout;
    lpot_impl_pref_t pref;
} conv_raw_ctx;

static lpot_status_t conv_raw(void *ctx, const uint8_t *x, int32_t zp, int32_t *acc,
                              const char **impl)
{
    conv_raw_ctx *r = ctx;
    lpot_qparams_t raw = {.src_dt = LPOT_DT_U8, .src_scale = 1.0f, .src_zp = zp,
                          .dst_dt = LPOT_DT_S32, .dst_scale = 1.0f};
    return lpot_qconv_run(r->c, x, r->n, r->h, r->w, r->layout, &raw, acc, r->pref, impl);
}

/* oneDNN 3.2's int8 convolutions without VNNI scale the weights by 1/2 (with
 * rounding) for s8 activations, to keep vpmaddubsw from saturating: not
 * exact, even for 7-bit weights (found by test_kernels_conv_gemm.py). So
 * s8 activations go to oneDNN as u8: x + 128 with the zero point + 128. */
static lpot_status_t conv_s8_as_u8(lpot_qconv_t *c, const void *x, int64_t n, int64_t h,
                                   int64_t w, lpot_layout_t layout, const lpot_qparams_t *qp,
                                   void *y, lpot_impl_pref_t pref, const char **impl)
{
    const size_t nx = (size_t)(n * c->g.ic * h * w);
    uint8_t *xu = malloc(nx + 1);
    if (xu == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "u8 copy of %zu activations", nx);
    for (size_t i = 0; i < nx; i++)
        xu[i] = ((const uint8_t *)x)[i] ^ 0x80;
    lpot_qparams_t qu = *qp;
    qu.src_dt = LPOT_DT_U8;
    qu.src_zp += 128;
    lpot_status_t st = lpot_qconv_run(c, xu, n, h, w, layout, &qu, y, pref, impl);
    free(xu);
    return st;
}

lpot_status_t lpot_qconv_run(lpot_qconv_t *c, const void *x, int64_t n, int64_t h, int64_t w,
                             lpot_layout_t layout, const lpot_qparams_t *qp, void *y,
                             lpot_impl_pref_t pref, const char **impl)
{
    lpot_status_t st = lpot_qparams_check(qp);
    lpot_pentry_t *e = NULL, *own = NULL;
    void *tsrc = NULL, *tdst = NULL;
    int64_t oh, ow;
    if (st == LPOT_OK)
        st = lpot_conv_out_hw(&c->g, h, w, &oh, &ow);
    if (st != LPOT_OK)
        return st;
    *impl = "lpot:ref";
    if (n <= 0)
        return LPOT_OK;
    if (pref == LPOT_IMPL_REF)
        return conv_ref(c, x, n, h, w, oh, ow, layout, qp, y);
    lpot_qk_use_threads((double)n * oh * ow * c->g.oc * (double)(c->g.ic / c->g.groups) * c->g.kh *
                        c->g.kw);
    const size_t nx = (size_t)(n * c->g.ic * h * w);
    if (((pref == LPOT_IMPL_AUTO && c->gemm_auto) || (pref == LPOT_IMPL_OWN && c->gemm_ok)) &&
        conv_gemm_exact(c, x, nx, qp)) {
        st = gemm_weights(c);
        return st == LPOT_OK ? conv_gemm_run(c, x, n, h, w, oh, ow, layout, qp, y, impl) : st;
    }
    if (qp->src_dt == LPOT_DT_S8 && !lpot_qk_exact_isa())
        return conv_s8_as_u8(c, x, n, h, w, layout, qp, y, pref, impl);
    if (!c->w7 && !lpot_qk_exact_isa() && !lpot_qk_src_fits7(x, qp->src_dt, nx)) {
        int32_t *acc = NULL;
        conv_raw_ctx ctx = {c, n, h, w, layout, pref};
        st = lpot_qk_run_split(conv_raw, &ctx, x, qp->src_dt, nx, qp->src_zp,
                               (size_t)(n * c->g.oc * oh * ow), &acc, impl);
        if (st == LPOT_OK)
            conv_epilogue(c, acc, n, oh, ow, layout, qp, y, 0);
        free(acc);
        return st;
    }
    lpot_pkey_t key;
    conv_key(&key, n, h, w, layout, qp);
    conv_build_ctx bc = {c, n, h, w, layout, qp};
    st = lpot_pcache_lookup(&c->cache, &key, conv_build, &bc, &e, &own);
    if (st == LPOT_ERR_UNSUPPORTED)
        return conv_ref(c, x, n, h, w, oh, ow, layout, qp, y);
    if (st != LPOT_OK)
        return st;
    const void *src = x;
    void *dst = y;
    if (layout == LPOT_LAYOUT_NCHW) {
        tsrc = malloc((size_t)(n * c->g.ic * h * w) * lpot_dtype_size(qp->src_dt) + 64);
        tdst = malloc((size_t)(n * c->g.oc * oh * ow) * lpot_dtype_size(qp->dst_dt) + 64);
        if (tsrc == NULL || tdst == NULL) {
            st = lpot_set_error(LPOT_ERR_NOMEM, "NHWC staging buffers");
            goto cleanup;
        }
        st = lpot_dnnl_run_reorder(e->pre[0], x, tsrc);
        if (st == LPOT_OK && e->pre[1])
            st = lpot_dnnl_run_reorder(e->pre[1], y, tdst);
        if (st != LPOT_OK)
            goto cleanup;
        src = tsrc;
        dst = tdst;
    }
    const double t0 = lpot_qk_now();
    st = lpot_exec_qop(e->prim, src, e->weights, c->bias, dst, qp, c->scales,
                       c->n_scales, 0);
    if (st == LPOT_OK)
        lpot_pentry_record(e, lpot_qk_now() - t0);
    if (st == LPOT_OK && layout == LPOT_LAYOUT_NCHW)
        st = lpot_dnnl_run_reorder(e->post, tdst, y);
    if (st == LPOT_OK)
        *impl = e->impl;
cleanup:
    free(tsrc);
    free(tdst);
    lpot_pentry_destroy(own);
    return st;
}

/* The own path's cache entry: no primitive, only its times for the thread choice. */
static lpot_status_t gemm_entry_build(void *ctx, lpot_pentry_t **out)
{
    const conv_build_ctx *bc = ctx;
    lpot_pentry_t *e = calloc(1, sizeof *e);
    if (e == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "cache entry");
    conv_key(&e->key, bc->n, bc->h, bc->w, bc->layout, bc->qp);
    e->key.v[0] = 3;
    e->impl = LPOT_CONV_GEMM_IMPL;
    *out = e;
    return LPOT_OK;
}
