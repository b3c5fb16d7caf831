/* Packed int8 2-D convolution through oneDNN (NHWC inside; NCHW callers get
 * reorders around it), with the scalar reference as fallback. Plain C. */
#include <stdlib.h>
#include <string.h>

#include "qdnnl.h"

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
    free(c->w);
    free(c->scales);
    free(c->bias);
    free(c);
}

const lpot_conv_geom_t *lpot_qconv_geom(const lpot_qconv_t *c) { return &c->g; }
const char *lpot_qconv_packed_impl(const lpot_qconv_t *c) { return c->packed_impl; }
size_t lpot_qconv_packed_bytes(const lpot_qconv_t *c) { return lpot_wpack_bytes(&((lpot_qconv_t *)c)->wp); }

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
} conv_raw_ctx;

static lpot_status_t conv_raw(void *ctx, const uint8_t *x, int32_t zp, int32_t *acc,
                              const char **impl)
{
    conv_raw_ctx *r = ctx;
    lpot_qparams_t raw = {.src_dt = LPOT_DT_U8, .src_scale = 1.0f, .src_zp = zp,
                          .dst_dt = LPOT_DT_S32, .dst_scale = 1.0f};
    return lpot_qconv_run(r->c, x, r->n, r->h, r->w, r->layout, &raw, acc, LPOT_IMPL_AUTO, impl);
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
    if (!c->w7 && !lpot_qk_exact_isa() && !lpot_qk_src_fits7(x, qp->src_dt, nx)) {
        int32_t *acc = NULL;
        conv_raw_ctx ctx = {c, n, h, w, layout};
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
