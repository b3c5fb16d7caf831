/* Tuning space construction and cfg helpers. Plain C. See tune_space.h. */
#include "tune_space.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *f[2 * LPOT_F_COUNT]; /* activation fields, then weight fields */
} sig_t;

struct lpot_space {
    size_t n_ops;
    lpot_space_op_t *ops;
    size_t n_sampling;
    long *sampling;
    char **strs; /* interned strings */
    size_t n_strs, cap_strs;
    sig_t *sigs; /* model-wise signatures */
    size_t n_sigs, cap_sigs;
};

static const char *const DT_FP32 = "fp32", *const DT_BF16 = "bf16";

uint64_t lpot_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static const char *intern(lpot_space_t *s, const char *str)
{
    for (size_t i = 0; i < s->n_strs; i++)
        if (strcmp(s->strs[i], str) == 0)
            return s->strs[i];
    if (s->n_strs == s->cap_strs) {
        size_t cap = s->cap_strs ? 2 * s->cap_strs : 32;
        char **p = realloc(s->strs, cap * sizeof *p);
        if (p == NULL)
            return NULL;
        s->strs = p;
        s->cap_strs = cap;
    }
    char *d = strdup(str);
    if (d == NULL)
        return NULL;
    s->strs[s->n_strs++] = d;
    return d;
}

static bool in_list(const lpot_strlist_t *l, const char *v)
{
    if (l->v == NULL)
        return true;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], v) == 0)
            return true;
    return false;
}

static bool is_float_dtype(const char *v)
{
    return strcmp(v, DT_FP32) == 0 || strcmp(v, DT_BF16) == 0;
}

/* Allowed values of one field: filter order when the filter lists values,
 * capability order otherwise; float dtypes dropped. Interned into out[]. */
static lpot_status_t allowed(lpot_space_t *s, const lpot_strlist_t *cap,
                             const lpot_strlist_t *flt, bool dtype, const char **out,
                             size_t *n_out)
{
    const lpot_strlist_t *order = flt->v ? flt : cap;
    const lpot_strlist_t *other = flt->v ? cap : flt;
    size_t n = 0;
    for (size_t i = 0; i < order->n; i++) {
        const char *v = order->v[i];
        if (v == NULL || (dtype && is_float_dtype(v)) || !in_list(other, v))
            continue;
        bool dup = false;
        for (size_t j = 0; j < n; j++)
            dup |= strcmp(out[j], v) == 0;
        if (dup)
            continue;
        if ((out[n] = intern(s, v)) == NULL)
            return lpot_set_error(LPOT_ERR_NOMEM, "tuning space: out of memory");
        n++;
    }
    *n_out = n;
    return LPOT_OK;
}

static size_t max_len(const lpot_tensor_spec_t *a, const lpot_tensor_spec_t *b)
{
    size_t m = 1;
    for (int f = 0; f < LPOT_F_COUNT; f++) {
        if (a->f[f].n > m)
            m = a->f[f].n;
        if (b->f[f].v && b->f[f].n > m)
            m = b->f[f].n;
    }
    return m;
}

/* Record o's signature unless known; an op without weights only adds its
 * activation part when no known signature has it. */
static lpot_status_t add_sig(lpot_space_t *s, const lpot_op_opt_t *o, bool has_weight)
{
    sig_t g;
    for (int f = 0; f < LPOT_F_COUNT; f++) {
        g.f[f] = o->activation.f[f];
        g.f[LPOT_F_COUNT + f] = o->weight.f[f];
    }
    for (size_t i = 0; i < s->n_sigs; i++)
        if (memcmp(&s->sigs[i], &g, has_weight ? sizeof g : sizeof g.f[0] * LPOT_F_COUNT) == 0)
            return LPOT_OK;
    if (s->n_sigs == s->cap_sigs) {
        size_t cap = s->cap_sigs ? 2 * s->cap_sigs : 16;
        sig_t *p = realloc(s->sigs, cap * sizeof *p);
        if (p == NULL)
            return lpot_set_error(LPOT_ERR_NOMEM, "tuning space: out of memory");
        s->sigs = p;
        s->cap_sigs = cap;
    }
    s->sigs[s->n_sigs++] = g;
    return LPOT_OK;
}

static void describe(const lpot_strlist_t *l, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < l->n && k + 1 < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%s", i ? "," : "", l->v[i]);
}

static lpot_status_t build_op(lpot_space_t *s, const lpot_op_cap_t *c,
                              const lpot_op_filter_t *flt, bool is_op_wise,
                              lpot_space_op_t *op)
{
    static const lpot_tensor_spec_t any = {{{0, NULL}}};
    const lpot_tensor_spec_t *fa = flt ? &flt->activation : &any;
    const lpot_tensor_spec_t *fw = flt ? &flt->weight : &any;
    lpot_status_t st = LPOT_OK;
    size_t m = max_len(&c->activation, fa);
    if (c->has_weight && max_len(&c->weight, fw) > m)
        m = max_len(&c->weight, fw);
    const char **vals = calloc(2 * LPOT_F_COUNT * m, sizeof *vals);
    if (vals == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "tuning space: out of memory");
    size_t n[2 * LPOT_F_COUNT];
    op->name = intern(s, c->name);
    op->type = intern(s, c->type ? c->type : "");
    if (op->name == NULL || op->type == NULL) {
        st = lpot_set_error(LPOT_ERR_NOMEM, "tuning space: out of memory");
        goto cleanup;
    }
    op->has_weight = c->has_weight;
    op->bf16 = op->fp32 = -1;
    for (int f = 0; f < LPOT_F_COUNT; f++) {
        st = allowed(s, &c->activation.f[f], &fa->f[f], f == LPOT_F_DTYPE, vals + f * m, &n[f]);
        if (st != LPOT_OK)
            goto cleanup;
        if (c->has_weight) {
            st = allowed(s, &c->weight.f[f], &fw->f[f], f == LPOT_F_DTYPE,
                         vals + (LPOT_F_COUNT + f) * m, &n[LPOT_F_COUNT + f]);
            if (st != LPOT_OK)
                goto cleanup;
        } else {
            n[LPOT_F_COUNT + f] = 1;
            vals[(LPOT_F_COUNT + f) * m] = NULL;
        }
    }
    size_t nq = 1;
    for (int f = 0; f < 2 * LPOT_F_COUNT; f++)
        nq *= n[f];
    bool bf16 = in_list(&c->activation.f[LPOT_F_DTYPE], DT_BF16) &&
                c->activation.f[LPOT_F_DTYPE].v != NULL &&
                in_list(&fa->f[LPOT_F_DTYPE], DT_BF16);
    bool fp32 = !is_op_wise || in_list(&fa->f[LPOT_F_DTYPE], DT_FP32);
    op->n_opts = nq + bf16 + fp32;
    if (op->n_opts == 0) {
        char cap[256];
        describe(&c->activation.f[LPOT_F_DTYPE], cap, sizeof cap);
        st = lpot_set_error(LPOT_ERR_CONFIG,
                            "tuning space: op '%s' (%s): the %s filter leaves no option "
                            "(capability activation dtypes: %s)",
                            c->name, op->type, is_op_wise ? "op_wise" : "model_wise", cap);
        goto cleanup;
    }
    op->opts = calloc(op->n_opts, sizeof *op->opts);
    if (op->opts == NULL) {
        st = lpot_set_error(LPOT_ERR_NOMEM, "tuning space: out of memory");
        goto cleanup;
    }
    /* mixed-radix over the 8 fields; the last weight field varies fastest */
    for (size_t q = 0; q < nq; q++) {
        size_t r = q;
        lpot_op_opt_t *o = &op->opts[q];
        o->prec = LPOT_PREC_INT8;
        for (int f = 2 * LPOT_F_COUNT - 1; f >= 0; f--) {
            const char *v = vals[f * m + r % n[f]];
            r /= n[f];
            if (f < LPOT_F_COUNT)
                o->activation.f[f] = v;
            else
                o->weight.f[f - LPOT_F_COUNT] = v;
        }
    }
    op->n_quant = nq;
    size_t k = nq;
    if (bf16) {
        op->bf16 = (int32_t)k;
        op->opts[k].prec = LPOT_PREC_BF16;
        op->opts[k].activation.f[LPOT_F_DTYPE] = intern(s, DT_BF16);
        op->opts[k].weight.f[LPOT_F_DTYPE] = c->has_weight ? intern(s, DT_BF16) : NULL;
        k++;
    }
    if (fp32) {
        op->fp32 = (int32_t)k;
        op->opts[k].prec = LPOT_PREC_FP32;
        op->opts[k].activation.f[LPOT_F_DTYPE] = intern(s, DT_FP32);
        op->opts[k].weight.f[LPOT_F_DTYPE] = c->has_weight ? intern(s, DT_FP32) : NULL;
    }
cleanup:
    free(vals);
    return st;
}

lpot_status_t lpot_space_create(const lpot_op_cap_t *caps, size_t n_ops,
                                const lpot_op_filter_t *model_wise,
                                const lpot_op_filter_t *op_wise, const long *sampling,
                                size_t n_sampling, lpot_space_t **out)
{
    lpot_status_t st = LPOT_OK;
    *out = NULL;
    if (n_ops == 0)
        return lpot_set_error(LPOT_ERR_TUNING, "tuning space: the model has no quantizable op");
    if (n_sampling == 0)
        return lpot_set_error(LPOT_ERR_CONFIG, "tuning space: no calibration sampling size");
    lpot_space_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "tuning space: out of memory");
    s->ops = calloc(n_ops, sizeof *s->ops);
    s->sampling = malloc(n_sampling * sizeof *s->sampling);
    if (s->ops == NULL || s->sampling == NULL) {
        st = lpot_set_error(LPOT_ERR_NOMEM, "tuning space: out of memory");
        goto error;
    }
    for (size_t i = 0; i < n_sampling; i++) {
        if (sampling[i] <= 0) {
            st = lpot_set_error(LPOT_ERR_CONFIG,
                                "tuning space: sampling_size %ld must be positive", sampling[i]);
            goto error;
        }
        s->sampling[i] = sampling[i];
    }
    s->n_sampling = n_sampling;
    for (size_t i = 0; i < n_ops; i++) {
        bool ow = op_wise && op_wise[i].set;
        s->n_ops = i + 1;
        st = build_op(s, &caps[i], ow ? &op_wise[i] : (model_wise && model_wise->set ? model_wise : NULL),
                      ow, &s->ops[i]);
        if (st != LPOT_OK)
            goto error;
    }
    for (int pass = 1; pass >= 0; pass--)
        for (size_t i = 0; i < n_ops; i++)
            for (size_t j = 0; s->ops[i].has_weight == pass && j < s->ops[i].n_quant; j++)
                if ((st = add_sig(s, &s->ops[i].opts[j], pass)) != LPOT_OK)
                    goto error;
    *out = s;
    return LPOT_OK;
error:
    lpot_space_destroy(s);
    return st;
}

void lpot_space_destroy(lpot_space_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_ops; i++)
        free(s->ops[i].opts);
    for (size_t i = 0; i < s->n_strs; i++)
        free(s->strs[i]);
    free(s->strs);
    free(s->sigs);
    free(s->ops);
    free(s->sampling);
    free(s);
}

size_t lpot_space_n_ops(const lpot_space_t *s) { return s->n_ops; }
const lpot_space_op_t *lpot_space_op(const lpot_space_t *s, size_t i) { return &s->ops[i]; }
size_t lpot_space_n_sampling(const lpot_space_t *s) { return s->n_sampling; }
long lpot_space_sampling(const lpot_space_t *s, size_t i) { return s->sampling[i]; }
size_t lpot_space_cfg_len(const lpot_space_t *s) { return s->n_ops + 1; }

double lpot_space_log10_size(const lpot_space_t *s)
{
    double l = log10((double)s->n_sampling);
    for (size_t i = 0; i < s->n_ops; i++)
        l += log10((double)s->ops[i].n_opts);
    return l;
}

size_t lpot_space_n_modelwise(const lpot_space_t *s) { return s->n_sigs ? s->n_sigs : 1; }

void lpot_space_modelwise_cfg(const lpot_space_t *s, size_t k, size_t sampling_idx,
                              int32_t *cfg)
{
    const sig_t *g = k < s->n_sigs ? &s->sigs[k] : NULL;
    for (size_t i = 0; i < s->n_ops; i++) {
        const lpot_space_op_t *op = &s->ops[i];
        int32_t pick = 0, act_match = -1;
        for (size_t j = 0; g && j < op->n_quant; j++) {
            const lpot_op_opt_t *o = &op->opts[j];
            bool act = memcmp(o->activation.f, g->f, sizeof o->activation.f) == 0;
            bool w = !op->has_weight ||
                     memcmp(o->weight.f, g->f + LPOT_F_COUNT, sizeof o->weight.f) == 0;
            if (act && w) {
                act_match = (int32_t)j;
                break;
            }
            if (act && act_match < 0)
                act_match = (int32_t)j;
        }
        if (act_match >= 0)
            pick = act_match;
        cfg[i] = pick;
    }
    cfg[s->n_ops] = (int32_t)sampling_idx;
}

int32_t lpot_space_fallback(const lpot_space_t *s, size_t op, int stage)
{
    const lpot_space_op_t *o = &s->ops[op];
    if (stage == 0)
        return o->bf16 >= 0 ? o->bf16 : o->fp32;
    return o->fp32;
}

bool lpot_space_cfg_valid(const lpot_space_t *s, const int32_t *cfg)
{
    for (size_t i = 0; i < s->n_ops; i++)
        if (cfg[i] < 0 || (size_t)cfg[i] >= s->ops[i].n_opts)
            return false;
    return cfg[s->n_ops] >= 0 && (size_t)cfg[s->n_ops] < s->n_sampling;
}

static uint64_t hash_str(uint64_t h, const char *v)
{
    if (v == NULL)
        return lpot_fnv1a(h, "\x01", 1);
    return lpot_fnv1a(h, v, strlen(v) + 1);
}

uint64_t lpot_space_hash(const lpot_space_t *s)
{
    uint64_t h = LPOT_FNV_SEED;
    for (size_t i = 0; i < s->n_sampling; i++)
        h = lpot_fnv1a(h, &s->sampling[i], sizeof s->sampling[i]);
    for (size_t i = 0; i < s->n_ops; i++) {
        const lpot_space_op_t *op = &s->ops[i];
        h = hash_str(hash_str(h, op->name), op->type);
        for (size_t j = 0; j < op->n_opts; j++) {
            const lpot_op_opt_t *o = &op->opts[j];
            h = lpot_fnv1a(h, &o->prec, sizeof o->prec);
            for (int f = 0; f < LPOT_F_COUNT; f++)
                h = hash_str(hash_str(h, o->activation.f[f]), o->weight.f[f]);
        }
    }
    return h;
}

size_t lpot_space_cfg_encode(const lpot_space_t *s, const int32_t *cfg, char *buf,
                             size_t cap)
{
    size_t k = 0;
    char tmp[16];
    for (size_t i = 0; i <= s->n_ops; i++) {
        int32_t v = i == 0 ? cfg[s->n_ops] : cfg[i - 1];
        int w = snprintf(tmp, sizeof tmp, "%s%d", i == 0 ? "" : (i == 1 ? "|" : ","), (int)v);
        if (k + (size_t)w < cap)
            memcpy(buf + k, tmp, (size_t)w);
        k += (size_t)w;
    }
    if (cap)
        buf[k < cap ? k : cap - 1] = '\0';
    return k;
}

lpot_status_t lpot_space_cfg_decode(const lpot_space_t *s, const char *text, int32_t *cfg)
{
    const char *p = text;
    for (size_t i = 0; i <= s->n_ops; i++) {
        char *end;
        long v = strtol(p, &end, 10);
        char want = i == 0 ? '|' : (i == s->n_ops ? '\0' : ',');
        if (end == p || *end != want || v < 0 || v > INT32_MAX)
            return lpot_set_error(LPOT_ERR_INVALID, "cfg '%.60s' does not fit the tuning space", text);
        if (i == 0)
            cfg[s->n_ops] = (int32_t)v;
        else
            cfg[i - 1] = (int32_t)v;
        p = end + (*end != '\0');
    }
    if (!lpot_space_cfg_valid(s, cfg))
        return lpot_set_error(LPOT_ERR_INVALID, "cfg '%.60s' does not fit the tuning space", text);
    return LPOT_OK;
}
