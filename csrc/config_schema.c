/* The LPOT 1.x configuration schema as a table, and the validator that walks
 * an input tree against it, coerces values, fills defaults and collects every
 * problem with its position and dotted path. Plain C.
 *
 * The output tree holds every field of every present section: a value, its
 * default, or null. Sections marked SECTION (evaluation, pruning, ...) are
 * null when absent; the others are filled with their defaults. docs/config.md
 * describes the result for the engine's other users. */
#include "config_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* short names for the table below (the types live in config.h) */
#define F_MAP LPOT_F_MAP
#define F_STR LPOT_F_STR
#define F_BOOL LPOT_F_BOOL
#define F_INT LPOT_F_INT
#define F_NUM LPOT_F_NUM
#define F_ENUM LPOT_F_ENUM
#define F_STRS LPOT_F_STRS
#define F_ENUMS LPOT_F_ENUMS
#define F_INTS LPOT_F_INTS
#define F_ANY LPOT_F_ANY
#define F_NAMED LPOT_F_NAMED
#define F_DICT LPOT_F_DICT
#define F_SEQ LPOT_F_SEQ
#define REQ LPOT_F_REQUIRED
#define SECTION LPOT_F_SECTION
#define HAS_LO LPOT_F_HAS_LO
#define HAS_HI LPOT_F_HAS_HI
#define LO_OPEN LPOT_F_LO_OPEN
#define HI_OPEN LPOT_F_HI_OPEN
#define ONE LPOT_F_ONE
#define EMPTY LPOT_F_EMPTY
#define OPKEYS LPOT_F_OPKEYS
#define WORKSPACE LPOT_F_WORKSPACE
#define ARGS_NULL_EMPTY LPOT_F_ARGS_NULL_EMPTY
#define EXTENSIBLE LPOT_F_EXTENSIBLE

typedef struct lpot_vctx vctx;
typedef lpot_config_field_t field_t;

#define END {.name = NULL}
#define RANGE_LO(l) .flags = HAS_LO, .lo = (l)
#define S_STR(n, d, fl) {.name = n, .type = F_STR, .def = d, .flags = fl}
#define S_BOOL(n, d) {.name = n, .type = F_BOOL, .def = d}
#define S_INT(n, d, fl, l, h) {.name = n, .type = F_INT, .def = d, .flags = (fl), .lo = l, .hi = h}
#define S_NUM(n, d, fl, l, h) {.name = n, .type = F_NUM, .def = d, .flags = (fl), .lo = l, .hi = h}
#define S_ENUM(n, d, fl, ch) {.name = n, .type = F_ENUM, .def = d, .flags = fl, .choices = ch}
#define S_ENUMS(n, d, ch) {.name = n, .type = F_ENUMS, .def = d, .choices = ch}
#define S_MAP(n, fl, ch) {.name = n, .type = F_MAP, .flags = fl, .children = ch}
#define GE0 (HAS_LO)
#define GE1 (HAS_LO)
#define UNIT (HAS_LO | HAS_HI | HI_OPEN) /* [0, 1) */

/* ---- choices -------------------------------------------------------------- */

static const char *const frameworks[] = {"tensorflow", "pytorch", "pytorch_fx", "pytorch_ipex",
                                         "mxnet", "onnxrt_qlinearops", "onnxrt_integerops",
                                         "onnxrt_qdq", NULL};
static const char *const devices[] = {"cpu", "gpu", NULL};
static const char *const approaches[] = {"post_training_static_quant",
                                         "post_training_dynamic_quant", "quant_aware_training",
                                         NULL};
static const char *const granularities[] = {"per_channel", "per_tensor", NULL};
static const char *const schemes[] = {"sym", "asym", NULL};
static const char *const dtypes[] = {"int8", "uint8", "fp32", "bf16", NULL};
static const char *const w_algorithms[] = {"minmax", NULL};
static const char *const a_algorithms[] = {"minmax", "kl", "percentile", "mse", NULL};
static const char *const strategies[] = {"basic", "mse", "bayesian", "exhaustive", "random",
                                         "tpe", NULL};
static const char *const objectives[] = {"performance", "modelsize", "footprint", NULL};
static const char *const metrics[] = {"topk", "Accuracy", "Loss", "MAE", "MSE", "RMSE", "F1",
                                      "mAP", "COCOmAP", "mIOU", "BLEU", "SquadF1", "GLUE", NULL};
static const char *const last_batches[] = {"rollover", "discard", NULL};
static const char *const filters[] = {"LabelBalance", NULL};
static const char *const optimizers[] = {"SGD", "Adam", "AdamW", NULL};
static const char *const criteria[] = {"CrossEntropyLoss", "SparseCategoricalCrossentropy", NULL};
static const char *const reductions[] = {"none", "mean", "sum", "auto", "sum_over_batch_size",
                                         NULL};
static const char *const prune_types[] = {"basic_magnitude", "pattern_lock",
                                          "gradient_sensitivity", NULL};
static const char *const prune_methods[] = {"per_tensor", "per_channel", NULL};
static const char *const precisions[] = {"bf16", "fp32", NULL};

/* ---- cross-field checks ----------------------------------------------------- */

static void check_accuracy_criterion(vctx *v, const lpot_node_t *in, lpot_node_t *out);
static void check_epochs(vctx *v, const lpot_node_t *in, lpot_node_t *out);

/* ---- the schema ------------------------------------------------------------- */

static const field_t label_balance[] = {
    S_INT("size", NULL, REQ | HAS_LO, 1, 0),
    END,
};
static const field_t filter_args[] = {
    S_MAP("LabelBalance", 0, label_balance),
    END,
};

static const field_t transform_block[] = {
    {.name = "transform", .type = F_NAMED, .flags = SECTION | ARGS_NULL_EMPTY},
    END,
};

static const field_t dataloader[] = {
    S_INT("batch_size", "1", HAS_LO, 1, 0),
    S_ENUM("last_batch", "rollover", 0, last_batches),
    S_BOOL("shuffle", "false"),
    {.name = "dataset", .type = F_NAMED, .flags = SECTION | ONE | ARGS_NULL_EMPTY},
    {.name = "transform", .type = F_NAMED, .flags = SECTION | ARGS_NULL_EMPTY},
    {.name = "filter", .type = F_NAMED, .flags = SECTION | ONE, .choices = filters,
     .children = filter_args},
    END,
};

static const field_t sgd[] = {
    S_NUM("learning_rate", NULL, REQ | HAS_LO | LO_OPEN, 0, 0),
    S_NUM("momentum", NULL, HAS_LO | HAS_HI, 0, 1),
    S_BOOL("nesterov", NULL),
    S_NUM("weight_decay", NULL, HAS_LO, 0, 0),
    END,
};
static const field_t adam[] = {
    S_NUM("learning_rate", NULL, REQ | HAS_LO | LO_OPEN, 0, 0),
    S_NUM("beta_1", NULL, UNIT, 0, 1),
    S_NUM("beta_2", NULL, UNIT, 0, 1),
    S_NUM("epsilon", NULL, HAS_LO | LO_OPEN, 0, 0),
    S_BOOL("amsgrad", NULL),
    S_NUM("weight_decay", NULL, HAS_LO, 0, 0),
    END,
};
static const field_t optimizer_args[] = {
    S_MAP("SGD", 0, sgd),
    S_MAP("Adam", 0, adam),
    S_MAP("AdamW", 0, adam),
    END,
};
static const field_t loss[] = {
    S_ENUM("reduction", NULL, 0, reductions),
    S_BOOL("from_logits", NULL),
    END,
};
static const field_t criterion_args[] = {
    S_MAP("CrossEntropyLoss", 0, loss),
    S_MAP("SparseCategoricalCrossentropy", 0, loss),
    END,
};

static const field_t train[] = {
    {.name = "optimizer", .type = F_NAMED, .flags = SECTION | ONE, .choices = optimizers,
     .children = optimizer_args},
    {.name = "criterion", .type = F_NAMED, .flags = SECTION | ONE, .choices = criteria,
     .children = criterion_args},
    S_MAP("dataloader", SECTION, dataloader),
    S_INT("start_epoch", "0", GE0, 0, 0),
    S_INT("end_epoch", NULL, GE0, 0, 0),
    S_INT("iteration", NULL, GE1, 1, 0),
    S_INT("frequency", NULL, GE1, 1, 0),
    END,
};

static const field_t weight_cfg[] = {
    S_ENUMS("granularity", NULL, granularities),
    S_ENUMS("scheme", NULL, schemes),
    S_ENUMS("dtype", NULL, dtypes),
    S_ENUMS("algorithm", NULL, w_algorithms),
    S_NUM("bit", "7.0", HAS_LO | LO_OPEN | HAS_HI, 0, 8),
    END,
};
static const field_t activation_cfg[] = {
    S_ENUMS("granularity", NULL, granularities),
    S_ENUMS("scheme", NULL, schemes),
    S_ENUMS("dtype", NULL, dtypes),
    S_ENUMS("algorithm", NULL, a_algorithms),
    END,
};
static const field_t op_cfg[] = {
    S_MAP("weight", 0, weight_cfg),
    S_MAP("activation", 0, activation_cfg),
    END,
};
static const field_t op_entry[] = {S_MAP("<op>", 0, op_cfg), END};

static const field_t calibration[] = {
    {.name = "sampling_size", .type = F_INTS, .def = "100", .flags = HAS_LO, .lo = 1},
    S_MAP("dataloader", SECTION, dataloader),
    END,
};
static const field_t recipes[] = {
    S_BOOL("scale_propagation_max_pooling", "true"),
    S_BOOL("scale_propagation_concat", "true"),
    S_BOOL("first_conv_or_matmul_quantization", "true"),
    S_BOOL("fast_bias_correction", "false"),
    S_BOOL("weight_correction", "false"),
    END,
};
static const field_t quantization[] = {
    S_ENUM("approach", "post_training_static_quant", 0, approaches),
    S_MAP("calibration", 0, calibration),
    S_MAP("train", SECTION, train),
    S_MAP("recipes", 0, recipes),
    S_MAP("model_wise", 0, op_cfg),
    {.name = "op_wise", .type = F_DICT, .flags = SECTION | OPKEYS, .children = op_entry},
    END,
};

static const field_t strategy[] = {
    S_ENUM("name", "basic", EXTENSIBLE, strategies), /* + registered Python strategies */
    END,
};
static const field_t accuracy_criterion[] = {
    S_NUM("relative", "0.01", UNIT, 0, 1),
    S_NUM("absolute", NULL, HAS_LO, 0, 0),
    S_BOOL("higher_is_better", "true"),
    END,
};
static const field_t exit_policy[] = {
    S_INT("timeout", "0", GE0, 0, 0),
    S_INT("max_trials", "100", GE1, 1, 0),
    S_BOOL("performance_only", "false"),
    END,
};
static const field_t workspace[] = {
    S_STR("path", NULL, WORKSPACE),
    S_STR("resume", NULL, 0),
    END,
};
static const field_t tuning[] = {
    S_MAP("strategy", 0, strategy),
    {.name = "accuracy_criterion", .type = F_MAP, .children = accuracy_criterion,
     .check = check_accuracy_criterion},
    S_ENUM("objective", "performance", 0, objectives),
    S_MAP("exit_policy", 0, exit_policy),
    S_INT("random_seed", "1978", HAS_LO | HAS_HI, 0, 4294967295.0),
    S_BOOL("tensorboard", "false"),
    S_MAP("workspace", 0, workspace),
    END,
};

static const field_t metric_args[] = {
    S_INT("topk", "1", HAS_LO, 1, 0),
    END,
};
static const field_t perf_configs[] = {
    S_INT("cores_per_instance", NULL, GE1, 1, 0),
    S_INT("num_of_instance", "1", GE1, 1, 0),
    S_INT("inter_num_of_threads", NULL, GE1, 1, 0),
    S_INT("intra_num_of_threads", NULL, GE1, 1, 0),
    S_INT("kmp_blocktime", NULL, GE0, 0, 0),
    END,
};
static const field_t accuracy[] = {
    {.name = "metric", .type = F_NAMED, .flags = SECTION | ARGS_NULL_EMPTY, .choices = metrics,
     .children = metric_args},
    S_MAP("dataloader", SECTION, dataloader),
    S_MAP("postprocess", SECTION, transform_block),
    S_INT("iteration", "-1", HAS_LO, -1, 0),
    S_MAP("configs", SECTION, perf_configs),
    END,
};
static const field_t performance[] = {
    S_INT("warmup", "5", GE0, 0, 0),
    S_INT("iteration", "-1", HAS_LO, -1, 0),
    S_MAP("dataloader", SECTION, dataloader),
    S_MAP("postprocess", SECTION, transform_block),
    S_MAP("configs", 0, perf_configs),
    END,
};
static const field_t evaluation[] = {
    S_MAP("accuracy", SECTION, accuracy),
    S_MAP("performance", SECTION, performance),
    END,
};

static const field_t pruner[] = {
    S_ENUM("prune_type", "basic_magnitude", 0, prune_types),
    S_ENUM("method", "per_tensor", 0, prune_methods),
    {.name = "names", .type = F_STRS, .flags = EMPTY},
    S_INT("start_epoch", NULL, GE0, 0, 0),
    S_INT("end_epoch", NULL, GE0, 0, 0),
    S_INT("update_frequency", "1", GE1, 1, 0),
    S_NUM("initial_sparsity", NULL, UNIT, 0, 1),
    S_NUM("target_sparsity", NULL, UNIT, 0, 1),
    {.name = "parameters", .type = F_ANY},
    END,
};
static const field_t pruner_item[] = {
    {.name = "<pruner>", .type = F_MAP, .children = pruner, .check = check_epochs},
    END,
};
static const field_t weight_compression[] = {
    S_NUM("initial_sparsity", "0.0", UNIT, 0, 1),
    S_NUM("target_sparsity", "0.97", UNIT, 0, 1),
    S_INT("start_epoch", "0", GE0, 0, 0),
    S_INT("end_epoch", "4", GE0, 0, 0),
    {.name = "pruners", .type = F_SEQ, .flags = EMPTY, .children = pruner_item,
     .tag = "!Pruner"},
    END,
};
static const field_t pruning_approach[] = {
    {.name = "weight_compression", .type = F_MAP, .children = weight_compression,
     .check = check_epochs},
    END,
};
static const field_t pruning[] = {
    S_MAP("train", SECTION, train),
    S_MAP("approach", 0, pruning_approach),
    END,
};

static const field_t graph_optimization[] = {
    S_ENUMS("precisions", "bf16,fp32", precisions),
    {.name = "op_wise", .type = F_DICT, .flags = SECTION | OPKEYS, .children = op_entry},
    END,
};
static const field_t mixed_precision[] = {
    S_ENUMS("precisions", "bf16,fp32", precisions),
    END,
};

static const field_t model[] = {
    S_STR("name", NULL, REQ),
    S_ENUM("framework", NULL, REQ, frameworks),
    {.name = "inputs", .type = F_STRS, .flags = EMPTY},
    {.name = "outputs", .type = F_STRS, .flags = EMPTY},
    END,
};

static const field_t top[] = {
    S_NUM("version", "1.0", HAS_LO | HAS_HI | HI_OPEN, 1, 2),
    S_MAP("model", REQ, model),
    S_ENUM("device", "cpu", 0, devices),
    S_MAP("quantization", 0, quantization),
    S_MAP("tuning", 0, tuning),
    S_MAP("evaluation", SECTION, evaluation),
    S_MAP("pruning", SECTION, pruning),
    S_MAP("graph_optimization", SECTION, graph_optimization),
    S_MAP("mixed_precision", SECTION, mixed_precision),
    END,
};

static const field_t root_field = {.name = "", .type = F_MAP, .children = top};

const lpot_config_field_t *lpot_config_schema(void) { return &root_field; }

/* ---- validation context ----------------------------------------------------- */

#define PATH_CAP 512

struct lpot_vctx {
    lpot_config_t *cfg;
    lpot_regex_check_fn rx;
    lpot_choice_check_fn choice;
    void *rxctx;
    bool nomem, fatal;
    char path[PATH_CAP];
};

static void verr(vctx *v, const lpot_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void verr(vctx *v, const lpot_node_t *at, const char *fmt, ...)
{
    char buf[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (lpot_config_add_error(v->cfg, at ? at->line : 0, at ? at->col : 0, v->path, "%s",
                              buf) == LPOT_ERR_NOMEM)
        v->nomem = true;
}

static size_t path_push_key(vctx *v, const char *key, size_t len)
{
    size_t old = strlen(v->path);
    lpot_path_key(v->path, sizeof v->path, key, len);
    return old;
}

static size_t path_push_index(vctx *v, size_t i)
{
    size_t old = strlen(v->path);
    lpot_path_index(v->path, sizeof v->path, i);
    return old;
}

static void path_pop(vctx *v, size_t old) { v->path[old] = '\0'; }

static lpot_node_t *onode(vctx *v, lpot_node_kind_t kind)
{
    lpot_node_t *n = lpot_config_alloc(v->cfg, sizeof *n);
    if (n == NULL) {
        v->nomem = true;
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->kind = kind;
    return n;
}

static lpot_node_t *ocoll(vctx *v, lpot_node_kind_t kind, size_t n)
{
    lpot_node_t *o = onode(v, kind);
    if (o && lpot_config_set_items(v->cfg, o, n) != LPOT_OK) {
        v->nomem = true;
        return NULL;
    }
    return o;
}

static lpot_node_t *ostr(vctx *v, const char *s, size_t len)
{
    lpot_node_t *o = onode(v, LPOT_NODE_STR);
    if (o) {
        o->str = s;
        o->len = len;
    }
    return o;
}

/* ---- describing values and ranges ------------------------------------------ */

static bool is_text(const lpot_node_t *n)
{
    return n->kind == LPOT_NODE_STR || n->kind == LPOT_NODE_PLAIN;
}

/* Printable, truncated, quoted form of a value for "got ..." */
static const char *got(const lpot_node_t *in, char *buf, size_t cap)
{
    lpot_node_t r;
    if (in == NULL)
        return "nothing";
    lpot_config_resolve(in, &r);
    switch (r.kind) {
    case LPOT_NODE_NULL: return "null";
    case LPOT_NODE_MAP: return "a mapping";
    case LPOT_NODE_SEQ: return "a list";
    case LPOT_NODE_BOOL:
        if (in->kind == LPOT_NODE_PLAIN)
            break;
        return r.v.b ? "true" : "false";
    case LPOT_NODE_INT:
        if (in->kind == LPOT_NODE_PLAIN)
            break;
        snprintf(buf, cap, "%lld", (long long)r.v.i);
        return buf;
    case LPOT_NODE_FLOAT:
        if (in->kind == LPOT_NODE_PLAIN)
            break;
        if (isnan(r.v.f))
            return ".nan";
        if (isinf(r.v.f))
            return r.v.f > 0 ? ".inf" : "-.inf";
        snprintf(buf, cap, "%.15g", r.v.f);
        if (strtod(buf, NULL) != r.v.f)
            snprintf(buf, cap, "%.17g", r.v.f);
        return buf;
    default:
        break;
    }
    /* text: quoted unless it is a plain YAML number/bool; escaped; truncated */
    bool quote = r.kind == LPOT_NODE_STR;
    size_t b = 0;
    if (quote)
        buf[b++] = '\'';
    for (size_t i = 0; i < in->len && b + 8 < cap; i++) {
        unsigned char c = (unsigned char)in->str[i];
        if (i >= 60 && (c & 0xC0) != 0x80) { /* cut between characters */
            memcpy(buf + b, "...", 3);
            b += 3;
            break;
        }
        if (c < 0x20 || c == 0x7f)
            b += (size_t)snprintf(buf + b, cap - b, "\\x%02x", c);
        else
            buf[b++] = (char)c;
    }
    if (quote)
        buf[b++] = '\'';
    buf[b] = '\0';
    return buf;
}

static void fmt_num(char *buf, size_t cap, double x)
{
    snprintf(buf, cap, "%.15g", x);
}

static const char *describe_range(const field_t *f, char *buf, size_t cap)
{
    char lo[32], hi[32];
    fmt_num(lo, sizeof lo, f->lo);
    fmt_num(hi, sizeof hi, f->hi);
    if ((f->flags & HAS_LO) && (f->flags & HAS_HI))
        snprintf(buf, cap, " in %c%s, %s%c", f->flags & LO_OPEN ? '(' : '[', lo, hi,
                 f->flags & HI_OPEN ? ')' : ']');
    else if (f->flags & HAS_LO)
        snprintf(buf, cap, " %s %s", f->flags & LO_OPEN ? ">" : ">=", lo);
    else if (f->flags & HAS_HI)
        snprintf(buf, cap, " %s %s", f->flags & HI_OPEN ? "<" : "<=", hi);
    else
        buf[0] = '\0';
    return buf;
}

static bool in_range(const field_t *f, double x)
{
    if (f->flags & HAS_LO) {
        if (f->flags & LO_OPEN ? !(x > f->lo) : !(x >= f->lo))
            return false;
    }
    if (f->flags & HAS_HI) {
        if (f->flags & HI_OPEN ? !(x < f->hi) : !(x <= f->hi))
            return false;
    }
    return true;
}

/* ---- suggestions ---------------------------------------------------------- */

static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
    if (la > 64 || lb > 64)
        return 99;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            char ca = a[i - 1], cb = b[j - 1];
            if (ca >= 'A' && ca <= 'Z')
                ca = (char)(ca + 32);
            if (cb >= 'A' && cb <= 'Z')
                cb = (char)(cb + 32);
            size_t d = prev[j - 1] + (ca != cb);
            if (prev[j] + 1 < d)
                d = prev[j] + 1;
            if (cur[j - 1] + 1 < d)
                d = cur[j - 1] + 1;
            cur[j] = d;
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

/* The closest candidate when close enough to be a typo, else NULL. */
static const char *closest(const char *s, size_t len, const char *const *names, size_t count,
                           size_t stride)
{
    const char *best = NULL;
    size_t bestd = 99;
    for (size_t i = 0; i < count; i++) {
        const char *cand = *(const char *const *)((const char *)names + i * stride);
        if (cand == NULL)
            break;
        size_t d = edit_distance(s, len, cand, strlen(cand));
        if (d < bestd) {
            bestd = d;
            best = cand;
        }
    }
    size_t cl = best ? strlen(best) : 0;
    size_t limit = (cl > len ? cl : len) / 3 + 1;
    if (limit > 3)
        limit = 3;
    return best && bestd <= limit ? best : NULL;
}

static size_t count_fields(const field_t *t)
{
    size_t n = 0;
    while (t[n].name)
        n++;
    return n;
}

/* Where else in the schema a key of this name lives ("tuning"), for keys put
 * in the wrong section. */
static bool find_elsewhere(const field_t *t, const char *key, size_t klen, char *out,
                           size_t cap, int depth)
{
    if (depth > 8)
        return false;
    for (; t->name; t++) {
        if (strlen(t->name) == klen && memcmp(t->name, key, klen) == 0)
            return true;
        if ((t->type == F_MAP) && t->children) {
            size_t old = strlen(out);
            if (t->name[0] != '<')
                lpot_path_key(out, cap, t->name, strlen(t->name));
            if (find_elsewhere(t->children, key, klen, out, cap, depth + 1))
                return true;
            out[old] = '\0';
        }
    }
    return false;
}

static void unknown_key(vctx *v, const lpot_node_t *key, const field_t *children)
{
    const char *s = closest(key->str, key->len, &children[0].name, count_fields(children),
                            sizeof(field_t));
    char where[PATH_CAP] = "";
    if (s) {
        verr(v, key, "unknown key '%s', did you mean '%s'?", key->str, s);
    } else if (find_elsewhere(top, key->str, key->len, where, sizeof where, 0)) {
        verr(v, key, "unknown key '%s' here; it belongs under '%s'", key->str,
             where[0] ? where : "the top level");
    } else {
        char list[400];
        size_t b = 0;
        list[0] = '\0';
        for (const field_t *c = children; c->name && b + 40 < sizeof list; c++)
            b += (size_t)snprintf(list + b, sizeof list - b, "%s%s", b ? ", " : "", c->name);
        verr(v, key, "unknown key '%s' (expected one of: %s)", key->str, list);
    }
}

/* "expected one of 'a', 'b', got X[; did you mean 'a'?]" for a value (any kind). */
static void bad_choice(vctx *v, const lpot_node_t *at, const char *const *choices,
                       const char *what, const char *tail)
{
    char list[400];
    size_t b = 0;
    for (const char *const *c = choices; *c && b + 40 < sizeof list; c++)
        b += (size_t)snprintf(list + b, sizeof list - b, "%s'%s'", b ? ", " : "", *c);
    list[b] = '\0';
    size_t n = 0;
    while (choices[n])
        n++;
    const char *s2 = is_text(at) ? closest(at->str, at->len, choices, n, sizeof *choices) : NULL;
    char gbuf[128];
    lpot_node_t shown = *at;
    if (shown.kind == LPOT_NODE_PLAIN)
        shown.kind = LPOT_NODE_STR; /* a name is text: quote it */
    if (s2)
        verr(v, at, "expected %sone of %s%s, got %s; did you mean '%s'?", what, list, tail,
             got(&shown, gbuf, sizeof gbuf), s2);
    else
        verr(v, at, "expected %sone of %s%s, got %s", what, list, tail,
             got(&shown, gbuf, sizeof gbuf));
}

/* ---- scalar coercions --------------------------------------------------------- */

static bool is_null(const lpot_node_t *in)
{
    lpot_node_t r;
    lpot_config_resolve(in, &r);
    return r.kind == LPOT_NODE_NULL;
}

static lpot_node_t *co_str(vctx *v, const field_t *f, const lpot_node_t *in)
{
    (void)f;
    char gbuf[128];
    if (!is_text(in)) {
        verr(v, in, "expected a string, got %s", got(in, gbuf, sizeof gbuf));
        return onode(v, LPOT_NODE_NULL);
    }
    return ostr(v, in->str, in->len);
}

static lpot_node_t *co_bool(vctx *v, const field_t *f, const lpot_node_t *in)
{
    (void)f;
    lpot_node_t r;
    char gbuf[128];
    lpot_config_resolve(in, &r);
    if (r.kind == LPOT_NODE_STR) {
        /* a quoted 'true' still means true */
        lpot_node_t plain = *in;
        plain.kind = LPOT_NODE_PLAIN;
        lpot_config_resolve(&plain, &r);
    }
    if (r.kind != LPOT_NODE_BOOL) {
        verr(v, in, "expected true or false, got %s", got(in, gbuf, sizeof gbuf));
        return onode(v, LPOT_NODE_NULL);
    }
    lpot_node_t *o = onode(v, LPOT_NODE_BOOL);
    if (o)
        o->v.b = r.v.b;
    return o;
}

/* Number (INT or FLOAT) from any scalar; 1 ok, 0 not a number, -1 out of int64. */
static int scalar_number(const lpot_node_t *in, double *f, int64_t *i, bool *is_int)
{
    lpot_node_t r;
    lpot_config_resolve(in, &r);
    switch (r.kind) {
    case LPOT_NODE_INT:
        *i = r.v.i;
        *f = (double)r.v.i;
        *is_int = true;
        return 1;
    case LPOT_NODE_FLOAT:
        *f = r.v.f;
        *is_int = false;
        return 1;
    case LPOT_NODE_STR:
        return lpot_config_text_number(in->str, in->len, f, i, is_int);
    default:
        return 0;
    }
}

static lpot_node_t *co_int(vctx *v, const field_t *f, const lpot_node_t *in)
{
    double x;
    int64_t i = 0;
    bool is_int;
    char gbuf[128], rbuf[96];
    int r = scalar_number(in, &x, &i, &is_int);
    if (r == 1 && !is_int) {
        /* 100.0 is accepted as 100; 1.5 and 1e300 are not integers */
        if (isfinite(x) && x == floor(x) && fabs(x) < 9007199254740992.0) {
            i = (int64_t)x;
            is_int = true;
        }
    }
    if (r != 1 || !is_int || !in_range(f, (double)i)) {
        verr(v, in, "expected an integer%s, got %s%s", describe_range(f, rbuf, sizeof rbuf),
             got(in, gbuf, sizeof gbuf), r == -1 ? " (out of range)" : "");
        return onode(v, LPOT_NODE_NULL);
    }
    lpot_node_t *o = onode(v, LPOT_NODE_INT);
    if (o)
        o->v.i = i;
    return o;
}

static lpot_node_t *co_num(vctx *v, const field_t *f, const lpot_node_t *in)
{
    double x = 0;
    int64_t i;
    bool is_int;
    char gbuf[128], rbuf[96];
    int r = scalar_number(in, &x, &i, &is_int);
    if (r != 1 || !isfinite(x) || !in_range(f, x)) {
        verr(v, in, "expected a%s number%s, got %s", r == 1 && !isfinite(x) ? " finite" : "",
             describe_range(f, rbuf, sizeof rbuf), got(in, gbuf, sizeof gbuf));
        return onode(v, LPOT_NODE_NULL);
    }
    lpot_node_t *o = onode(v, LPOT_NODE_FLOAT);
    if (o)
        o->v.f = x;
    return o;
}

static lpot_node_t *co_enum(vctx *v, const field_t *f, const lpot_node_t *in)
{
    for (const char *const *c = f->choices; is_text(in) && *c; c++)
        if (strlen(*c) == in->len && memcmp(*c, in->str, in->len) == 0)
            return ostr(v, *c, in->len);
    if ((f->flags & EXTENSIBLE) && v->choice != NULL && is_text(in) &&
        strlen(in->str) == in->len) {
        int r = v->choice(v->rxctx, v->path, in->str);
        if (r < 0) {
            v->fatal = true;
            return onode(v, LPOT_NODE_NULL);
        }
        if (r == 0)
            return ostr(v, in->str, in->len);
    }
    bad_choice(v, in, f->choices, "",
               (f->flags & EXTENSIBLE) ? " or a strategy registered with @strategy_registry"
                                       : "");
    return onode(v, LPOT_NODE_NULL);
}

/* ---- lists ------------------------------------------------------------------- */

static lpot_node_t *validate(vctx *v, const field_t *f, const lpot_node_t *in,
                             const lpot_node_t *parent);

static bool is_sep(char c) { return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* 'a,b' / 'a b' / 'a, b' -> items (as text nodes carrying the scalar's position) */
static lpot_node_t *split_scalar(vctx *v, const lpot_node_t *in)
{
    size_t count = 0;
    for (size_t i = 0; i < in->len;) {
        while (i < in->len && is_sep(in->str[i]))
            i++;
        if (i < in->len)
            count++;
        while (i < in->len && !is_sep(in->str[i]))
            i++;
    }
    lpot_node_t *seq = ocoll(v, LPOT_NODE_SEQ, count);
    if (seq == NULL)
        return NULL;
    *seq = (lpot_node_t){.kind = LPOT_NODE_SEQ, .line = in->line, .col = in->col,
                         .n = seq->n, .items = seq->items};
    size_t k = 0;
    for (size_t i = 0; i < in->len;) {
        while (i < in->len && is_sep(in->str[i]))
            i++;
        size_t s = i;
        while (i < in->len && !is_sep(in->str[i]))
            i++;
        if (i > s) {
            const char *t = lpot_config_strdup(v->cfg, in->str + s, i - s);
            lpot_node_t *item = onode(v, in->kind);
            if (t == NULL || item == NULL) {
                v->nomem = true;
                return NULL;
            }
            item->str = t;
            item->len = i - s;
            item->line = in->line;
            item->col = in->col;
            seq->items[k++] = item;
        }
    }
    return seq;
}

static lpot_node_t *co_list(vctx *v, const field_t *f, const lpot_node_t *in)
{
    field_t elem = *f;
    elem.type = f->type == F_STRS ? F_STR : f->type == F_ENUMS ? F_ENUM : F_INT;
    elem.flags &= ~(REQ | SECTION | EMPTY);
    elem.def = NULL;
    const lpot_node_t *src = in;
    char gbuf[128];
    if (in->kind == LPOT_NODE_MAP) {
        verr(v, in, "expected a list (or 'a, b'), got a mapping");
        return onode(v, LPOT_NODE_NULL);
    }
    if (in->kind != LPOT_NODE_SEQ) {
        lpot_node_t r;
        lpot_config_resolve(in, &r);
        if (is_text(&r)) {
            src = split_scalar(v, in);
            if (src == NULL)
                return NULL;
        } else {
            /* one number/bool: a one-element list */
            lpot_node_t **one = lpot_config_alloc(v->cfg, sizeof *one);
            lpot_node_t *seq = onode(v, LPOT_NODE_SEQ);
            if (one == NULL || seq == NULL) {
                v->nomem = true;
                return NULL;
            }
            one[0] = (lpot_node_t *)in;
            seq->n = 1;
            seq->items = one;
            src = seq;
        }
    }
    lpot_node_t *out = ocoll(v, LPOT_NODE_SEQ, src->n);
    if (out == NULL)
        return NULL;
    /* one value given where a list is wanted: its errors name the key, not [0] */
    bool single = in->kind != LPOT_NODE_SEQ && src->n == 1;
    for (size_t i = 0; i < src->n; i++) {
        size_t old = single ? strlen(v->path) : path_push_index(v, i);
        const lpot_node_t *it = src->items[i];
        if (it->kind == LPOT_NODE_SEQ || it->kind == LPOT_NODE_MAP || is_null(it)) {
            verr(v, it, "expected a %s, got %s",
                 elem.type == F_INT ? "number" : "name", got(it, gbuf, sizeof gbuf));
            out->items[i] = onode(v, LPOT_NODE_NULL);
        } else {
            out->items[i] = validate(v, &elem, it, in);
        }
        path_pop(v, old);
        if (out->items[i] == NULL)
            return NULL;
    }
    return out;
}

/* ---- free-form values ---------------------------------------------------------- */

static bool tag_allowed(vctx *v, const lpot_node_t *in, const char *allowed)
{
    if (in->tag == NULL || (allowed && strcmp(in->tag, allowed) == 0))
        return true;
    if (strcmp(in->tag, "!Pruner") == 0)
        verr(v, in, "the tag '!Pruner' belongs only on the items of "
                    "pruning.approach.weight_compression.pruners");
    else
        verr(v, in, "the tag '%.100s' is not allowed: a configuration never constructs "
                    "objects (remove the tag)", in->tag);
    return false;
}

/* Tags inside a subtree nobody reads (an unknown key's value) are still refused. */
static void scan_tags(vctx *v, const lpot_node_t *in)
{
    tag_allowed(v, in, NULL);
    if (in->kind != LPOT_NODE_SEQ && in->kind != LPOT_NODE_MAP)
        return;
    size_t slots = in->kind == LPOT_NODE_MAP ? 2 * in->n : in->n;
    for (size_t i = 0; i < slots; i++)
        scan_tags(v, in->items[i]);
}

static lpot_node_t *copy_any(vctx *v, const lpot_node_t *in)
{
    tag_allowed(v, in, NULL);
    if (in->kind != LPOT_NODE_SEQ && in->kind != LPOT_NODE_MAP) {
        lpot_node_t *o = onode(v, LPOT_NODE_NULL);
        if (o) {
            lpot_config_resolve(in, o);
            o->tag = NULL;
        }
        return o;
    }
    lpot_node_t *o = ocoll(v, in->kind, in->n);
    if (o == NULL)
        return NULL;
    bool map = in->kind == LPOT_NODE_MAP;
    for (size_t i = 0; i < in->n; i++) {
        size_t old;
        if (map) {
            const lpot_node_t *k = in->items[2 * i];
            old = path_push_key(v, k->str, k->len);
            tag_allowed(v, k, NULL);
            o->items[2 * i] = ostr(v, k->str, k->len);
            o->items[2 * i + 1] = copy_any(v, in->items[2 * i + 1]);
            path_pop(v, old);
            if (o->items[2 * i] == NULL || o->items[2 * i + 1] == NULL)
                return NULL;
        } else {
            old = path_push_index(v, i);
            o->items[i] = copy_any(v, in->items[i]);
            path_pop(v, old);
            if (o->items[i] == NULL)
                return NULL;
        }
    }
    return o;
}

/* ---- collections --------------------------------------------------------------- */

static const lpot_node_t *map_get(const lpot_node_t *m, const char *key)
{
    if (m == NULL || m->kind != LPOT_NODE_MAP)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < m->n; i++) {
        const lpot_node_t *k = m->items[2 * i];
        if (k->len == kl && memcmp(k->str, key, kl) == 0)
            return m->items[2 * i + 1];
    }
    return NULL;
}

static const lpot_node_t *map_key(const lpot_node_t *m, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; m && m->kind == LPOT_NODE_MAP && i < m->n; i++) {
        const lpot_node_t *k = m->items[2 * i];
        if (k->len == kl && memcmp(k->str, key, kl) == 0)
            return k;
    }
    return NULL;
}

static lpot_node_t *v_map(vctx *v, const field_t *f, const lpot_node_t *in,
                          const lpot_node_t *parent)
{
    char gbuf[128];
    if (in && in->kind != LPOT_NODE_MAP) {
        verr(v, in, "expected a mapping (keys such as '%s:'), got %s", f->children[0].name,
             got(in, gbuf, sizeof gbuf));
        return onode(v, LPOT_NODE_NULL);
    }
    size_t nf = count_fields(f->children);
    if (in) {
        for (size_t i = 0; i < in->n; i++) {
            const lpot_node_t *k = in->items[2 * i];
            bool known = false;
            for (size_t c = 0; c < nf && !known; c++)
                known = strlen(f->children[c].name) == k->len &&
                        memcmp(f->children[c].name, k->str, k->len) == 0;
            size_t old = path_push_key(v, k->str, k->len);
            tag_allowed(v, k, NULL);
            if (!known) {
                unknown_key(v, k, f->children);
                scan_tags(v, in->items[2 * i + 1]);
            }
            path_pop(v, old);
        }
    }
    lpot_node_t *out = ocoll(v, LPOT_NODE_MAP, nf);
    if (out == NULL)
        return NULL;
    for (size_t c = 0; c < nf; c++) {
        const field_t *cf = &f->children[c];
        size_t old = path_push_key(v, cf->name, strlen(cf->name));
        out->items[2 * c] = ostr(v, cf->name, strlen(cf->name));
        out->items[2 * c + 1] = validate(v, cf, map_get(in, cf->name), in ? in : parent);
        path_pop(v, old);
        if (out->items[2 * c] == NULL || out->items[2 * c + 1] == NULL)
            return NULL;
    }
    if (f->check)
        f->check(v, in, out);
    return out;
}

static bool regex_ok(vctx *v, const lpot_node_t *key)
{
    if (lpot_config_is_op_name(key->str) || v->rx == NULL)
        return true;
    char msg[300] = "";
    int r = v->rx(v->rxctx, key->str, msg, sizeof msg);
    if (r < 0) {
        v->fatal = true;
        return false;
    }
    if (r > 0) {
        verr(v, key, "op_wise key '%.200s' is not an op name, and not a valid regular "
                     "expression: %s", key->str, msg);
        return false;
    }
    return true;
}

static lpot_node_t *v_collection(vctx *v, const field_t *f, const lpot_node_t *in)
{
    char gbuf[128];
    bool seq = f->type == F_SEQ;
    lpot_node_t one_seq;
    lpot_node_t *one_item[1];
    if (seq && in->kind == LPOT_NODE_MAP) {
        /* a single item where a list is expected */
        one_item[0] = (lpot_node_t *)in;
        one_seq = (lpot_node_t){.kind = LPOT_NODE_SEQ, .line = in->line, .col = in->col,
                                .n = 1, .items = one_item};
        in = &one_seq;
    }
    if (in->kind != (seq ? LPOT_NODE_SEQ : LPOT_NODE_MAP)) {
        verr(v, in, "expected a %s, got %s", seq ? "list" : "mapping", got(in, gbuf, sizeof gbuf));
        return onode(v, LPOT_NODE_NULL);
    }
    lpot_node_t *out = ocoll(v, in->kind, in->n);
    if (out == NULL)
        return NULL;
    size_t nchoices = 0;
    if (f->type == F_NAMED && f->choices)
        while (f->choices[nchoices])
            nchoices++;
    for (size_t i = 0; i < in->n; i++) {
        lpot_node_t *res;
        if (seq) {
            size_t old = path_push_index(v, i);
            const lpot_node_t *it = in->items[i];
            tag_allowed(v, it, f->tag); /* reported; validate the rest anyway */
            lpot_node_t untagged = *it;
            untagged.tag = NULL;
            res = validate(v, &f->children[0], &untagged, in);
            out->items[i] = res;
            path_pop(v, old);
            if (res == NULL)
                return NULL;
            continue;
        }
        const lpot_node_t *k = in->items[2 * i], *val = in->items[2 * i + 1];
        size_t old = path_push_key(v, k->str, k->len);
        tag_allowed(v, k, NULL);
        out->items[2 * i] = ostr(v, k->str, k->len);
        if (f->type == F_DICT) {
            if (f->flags & OPKEYS)
                regex_ok(v, k);
            res = validate(v, &f->children[0], is_null(val) ? NULL : val, in);
        } else {
            const field_t *args = NULL;
            bool known = nchoices == 0;
            for (size_t c = 0; c < nchoices && !known; c++)
                known = strlen(f->choices[c]) == k->len &&
                        memcmp(f->choices[c], k->str, k->len) == 0;
            for (const field_t *c = f->children; c && c->name && !args; c++)
                if (strlen(c->name) == k->len && memcmp(c->name, k->str, k->len) == 0)
                    args = c;
            if (!known)
                bad_choice(v, k, f->choices, "a name, ", "");
            if (args)
                res = validate(v, args, is_null(val) ? NULL : val, in);
            else if ((f->flags & ARGS_NULL_EMPTY) && is_null(val))
                res = ocoll(v, LPOT_NODE_MAP, 0);
            else
                res = copy_any(v, val);
        }
        out->items[2 * i + 1] = res;
        path_pop(v, old);
        if (out->items[2 * i] == NULL || res == NULL)
            return NULL;
    }
    if ((f->flags & ONE) && in->n != 1)
        verr(v, in, "expected exactly one %s entry (NAME: {arguments}), got %zu", f->name,
             in->n);
    return out;
}

/* ---- defaults ------------------------------------------------------------------ */

static lpot_node_t *v_default(vctx *v, const field_t *f, const lpot_node_t *parent)
{
    if (f->flags & REQ) {
        verr(v, parent, "required key '%s' is missing", f->name);
        return onode(v, LPOT_NODE_NULL);
    }
    if (f->flags & SECTION)
        return onode(v, LPOT_NODE_NULL);
    if (f->type == F_MAP)
        return v_map(v, f, NULL, parent);
    if (f->flags & EMPTY)
        return ocoll(v, f->type == F_SEQ || f->type == F_STRS || f->type == F_ENUMS ||
                                f->type == F_INTS
                            ? LPOT_NODE_SEQ
                            : LPOT_NODE_MAP,
                     0);
    if (f->flags & WORKSPACE) {
        char buf[80];
        time_t now = time(NULL);
        struct tm tmv;
        if (localtime_r(&now, &tmv) == NULL ||
            strftime(buf, sizeof buf, "./lpot_workspace/%Y-%m-%d_%H-%M-%S/", &tmv) == 0)
            strcpy(buf, "./lpot_workspace/");
        const char *s = lpot_config_strdup(v->cfg, buf, strlen(buf));
        if (s == NULL) {
            v->nomem = true;
            return NULL;
        }
        return ostr(v, s, strlen(s));
    }
    if (f->def == NULL)
        return onode(v, LPOT_NODE_NULL);
    lpot_node_t d = {.kind = LPOT_NODE_PLAIN, .str = f->def, .len = strlen(f->def)};
    return validate(v, f, &d, parent);
}

static lpot_node_t *validate(vctx *v, const field_t *f, const lpot_node_t *in,
                             const lpot_node_t *parent)
{
    if (v->nomem || v->fatal)
        return NULL;
    if (in && in->tag && f->type != F_ANY)
        tag_allowed(v, in, NULL);
    if (in == NULL || (in->kind != LPOT_NODE_SEQ && in->kind != LPOT_NODE_MAP && is_null(in)))
        return v_default(v, f, parent);
    switch (f->type) {
    case F_MAP: return v_map(v, f, in, parent);
    case F_STR: return co_str(v, f, in);
    case F_BOOL: return co_bool(v, f, in);
    case F_INT: return co_int(v, f, in);
    case F_NUM: return co_num(v, f, in);
    case F_ENUM: return co_enum(v, f, in);
    case F_STRS:
    case F_ENUMS:
    case F_INTS: return co_list(v, f, in);
    case F_ANY: return copy_any(v, in);
    case F_NAMED:
    case F_DICT:
    case F_SEQ: return v_collection(v, f, in);
    }
    return onode(v, LPOT_NODE_NULL);
}

/* ---- cross-field checks ---------------------------------------------------------- */

static lpot_node_t **out_slot(lpot_node_t *out, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; out && i < out->n; i++)
        if (out->items[2 * i]->len == kl && memcmp(out->items[2 * i]->str, key, kl) == 0)
            return &out->items[2 * i + 1];
    return NULL;
}

/* accuracy_criterion: exactly one of relative/absolute (relative 0.01 when neither). */
static void check_accuracy_criterion(vctx *v, const lpot_node_t *in, lpot_node_t *out)
{
    const lpot_node_t *rel = map_get(in, "relative"), *abs_ = map_get(in, "absolute");
    bool has_rel = rel && !is_null(rel), has_abs = abs_ && !is_null(abs_);
    if (has_rel && has_abs) {
        size_t old = path_push_key(v, "absolute", 8);
        verr(v, map_key(in, "absolute"),
             "give either 'relative' or 'absolute', not both");
        path_pop(v, old);
    } else if (has_abs) {
        lpot_node_t **slot = out_slot(out, "relative");
        if (slot)
            (*slot)->kind = LPOT_NODE_NULL;
    }
}

static bool out_number(lpot_node_t *out, const char *key, double *x)
{
    lpot_node_t **s = out_slot(out, key);
    if (s == NULL || *s == NULL)
        return false;
    if ((*s)->kind == LPOT_NODE_INT)
        *x = (double)(*s)->v.i;
    else if ((*s)->kind == LPOT_NODE_FLOAT)
        *x = (*s)->v.f;
    else
        return false;
    return true;
}

/* start_epoch <= end_epoch and initial_sparsity <= target_sparsity. */
static void check_epochs(vctx *v, const lpot_node_t *in, lpot_node_t *out)
{
    double a, b;
    char sa[32], sb[32];
    if (out_number(out, "start_epoch", &a) && out_number(out, "end_epoch", &b) && b < a) {
        size_t old = path_push_key(v, "end_epoch", 9);
        fmt_num(sa, sizeof sa, a);
        fmt_num(sb, sizeof sb, b);
        const lpot_node_t *at = map_key(in, "end_epoch");
        verr(v, at ? at : in, "end_epoch %s is before start_epoch %s", sb, sa);
        path_pop(v, old);
    }
    if (out_number(out, "initial_sparsity", &a) && out_number(out, "target_sparsity", &b) &&
        b < a) {
        size_t old = path_push_key(v, "target_sparsity", 15);
        fmt_num(sa, sizeof sa, a);
        fmt_num(sb, sizeof sb, b);
        const lpot_node_t *at = map_key(in, "target_sparsity");
        verr(v, at ? at : in, "target_sparsity %s is below initial_sparsity %s", sb, sa);
        path_pop(v, old);
    }
}

/* ---- entry ----------------------------------------------------------------------- */

lpot_status_t lpot_config_validate(lpot_config_t *cfg, lpot_regex_check_fn check, void *ctx)
{
    lpot_config_hooks_t h = {.regex = check, .ctx = ctx};
    return lpot_config_validate_hooks(cfg, &h);
}

lpot_status_t lpot_config_validate_hooks(lpot_config_t *cfg, const lpot_config_hooks_t *hooks)
{
    vctx v = {.cfg = cfg};
    if (hooks != NULL) {
        v.rx = hooks->regex;
        v.choice = hooks->choice;
        v.rxctx = hooks->ctx;
    }
    v.path[0] = '\0';
    cfg->output = NULL;
    if (cfg->input == NULL || cfg->input->kind != LPOT_NODE_MAP) {
        if (cfg->nerrors == 0)
            lpot_config_add_error(cfg, cfg->input ? cfg->input->line : 0,
                                  cfg->input ? cfg->input->col : 0, "",
                                  "expected a mapping at the top (keys such as 'model:')");
        return LPOT_ERR_CONFIG;
    }
    lpot_node_t *out = validate(&v, &root_field, cfg->input, cfg->input);
    if (v.fatal)
        return LPOT_ERR_PYTHON;
    if (v.nomem || out == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "config: out of memory while validating");
    cfg->output = out;
    /* report in file order (stable; problems without a position last) */
    for (size_t i = 1; i < cfg->nerrors; i++) {
        lpot_config_error_t e = cfg->errors[i];
        uint64_t ke = e.line ? ((uint64_t)e.line << 32 | e.col) : UINT64_MAX;
        size_t j = i;
        for (; j > 0; j--) {
            const lpot_config_error_t *p = &cfg->errors[j - 1];
            uint64_t kp = p->line ? ((uint64_t)p->line << 32 | p->col) : UINT64_MAX;
            if (kp <= ke)
                break;
            cfg->errors[j] = *p;
        }
        cfg->errors[j] = e;
    }
    return cfg->nerrors || cfg->dropped ? LPOT_ERR_CONFIG : LPOT_OK;
}
