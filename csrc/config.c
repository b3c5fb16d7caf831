/* lpot configuration: arena, error list, libyaml event parser -> node tree,
 * scalar resolution. Plain C; the schema and validation are in
 * config_schema.c. */
#include "config_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

/* ---- arena ---------------------------------------------------------------- */

struct lpot_arena_chunk {
    lpot_arena_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

#define ARENA_CHUNK (64 * 1024)

void *lpot_config_alloc(lpot_config_t *cfg, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    lpot_arena_chunk *c = cfg->chunks;
    if (c == NULL || c->cap - c->used < size) {
        size_t cap = size > ARENA_CHUNK / 4 ? size : ARENA_CHUNK;
        lpot_arena_chunk *nc = malloc(sizeof *nc + cap);
        if (nc == NULL)
            return NULL;
        nc->used = 0;
        nc->cap = cap;
        if (c != NULL && cap != ARENA_CHUNK) {
            /* a big block: keep the current chunk on top for small ones */
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            cfg->chunks = nc;
        }
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

static const lpot_config_limits_t default_limits = {
    .max_bytes = 8u << 20,
    .max_depth = 64,
    .max_nodes = 1000000,
    .max_alias_nodes = 100000,
};

lpot_config_t *lpot_config_create(const lpot_config_limits_t *limits)
{
    lpot_config_t *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL)
        return NULL;
    cfg->lim = limits ? *limits : default_limits;
    return cfg;
}

void lpot_config_destroy(lpot_config_t *cfg)
{
    if (cfg == NULL)
        return;
    lpot_arena_chunk *c = cfg->chunks;
    while (c) {
        lpot_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(cfg);
}

const lpot_node_t *lpot_config_input(const lpot_config_t *cfg) { return cfg->input; }
const lpot_node_t *lpot_config_output(const lpot_config_t *cfg) { return cfg->output; }
size_t lpot_config_error_count(const lpot_config_t *cfg) { return cfg->nerrors; }
size_t lpot_config_errors_dropped(const lpot_config_t *cfg) { return cfg->dropped; }
void lpot_config_set_input(lpot_config_t *cfg, lpot_node_t *root) { cfg->input = root; }

const lpot_config_error_t *lpot_config_error(const lpot_config_t *cfg, size_t i)
{
    return i < cfg->nerrors ? &cfg->errors[i] : NULL;
}

const char *lpot_config_strdup(lpot_config_t *cfg, const char *s, size_t len)
{
    char *p = lpot_config_alloc(cfg, len + 1);
    if (p == NULL)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

lpot_status_t lpot_config_add_error(lpot_config_t *cfg, uint32_t line, uint32_t col,
                                    const char *path, const char *fmt, ...)
{
    if (cfg->nerrors >= LPOT_CONFIG_MAX_ERRORS) {
        cfg->dropped++;
        return LPOT_ERR_CONFIG;
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    lpot_config_error_t *e = &cfg->errors[cfg->nerrors];
    e->line = line;
    e->col = col;
    e->path = lpot_config_strdup(cfg, path ? path : "", path ? strlen(path) : 0);
    e->msg = lpot_config_strdup(cfg, buf, (size_t)n);
    if (e->path == NULL || e->msg == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "out of memory recording a config error");
    cfg->nerrors++;
    return LPOT_ERR_CONFIG;
}

lpot_node_t *lpot_config_new_node(lpot_config_t *cfg, lpot_node_kind_t kind)
{
    if (cfg->nodes >= cfg->lim.max_nodes) {
        if (!cfg->nodes_exceeded) {
            cfg->nodes_exceeded = true;
            lpot_config_add_error(cfg, 0, 0, "",
                                  "the configuration has more than %zu values (counting "
                                  "alias expansions); refusing to go on",
                                  cfg->lim.max_nodes);
        }
        return NULL;
    }
    lpot_node_t *n = lpot_config_alloc(cfg, sizeof *n);
    if (n == NULL)
        return NULL;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    cfg->nodes++;
    return n;
}

lpot_status_t lpot_config_set_items(lpot_config_t *cfg, lpot_node_t *node, size_t n)
{
    size_t slots = node->kind == LPOT_NODE_MAP ? 2 * n : n;
    node->n = n;
    node->items = NULL;
    if (slots == 0)
        return LPOT_OK;
    if (slots > SIZE_MAX / sizeof(lpot_node_t *))
        return lpot_set_error(LPOT_ERR_NOMEM, "config: too many items");
    node->items = lpot_config_alloc(cfg, slots * sizeof(lpot_node_t *));
    if (node->items == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "config: out of memory");
    memset(node->items, 0, slots * sizeof(lpot_node_t *));
    return LPOT_OK;
}

/* ---- scalar resolution -------------------------------------------------- */

static bool text_in(const char *s, size_t len, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == len && memcmp(*words, s, len) == 0)
            return true;
    return false;
}

static const char *const null_words[] = {"~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                         "on", "On", "ON", NULL};
static const char *const false_words[] = {"false", "False", "FALSE", "no", "No", "NO",
                                          "off", "Off", "OFF", NULL};

static bool is_digit_in_base(char c, int base)
{
    if (base == 16)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (base == 8)
        return c >= '0' && c <= '7';
    return c >= '0' && c <= '9';
}

/* Integer text ([-+]?digits with '_', 0x.., 0o..). 1: *out set; 0: not an
 * integer; -1: an integer outside int64. */
static int parse_int(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    int base = 10;
    if (len - i > 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'o')) {
        base = s[i + 1] == 'x' ? 16 : 8;
        i += 2;
    }
    if (i >= len || s[i] == '_')
        return 0;
    uint64_t v = 0;
    bool overflow = false;
    for (; i < len; i++) {
        char c = s[i];
        if (c == '_')
            continue;
        if (!is_digit_in_base(c, base))
            return 0;
        int d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            overflow = true;
        else
            v = v * (uint64_t)base + (uint64_t)d;
    }
    if (overflow || v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

/* Float text: [-+]?(.5|1.|1.5|1)([eE][-+]?digits)? with a '.' or exponent,
 * or [-+]?.inf / .nan. */
static bool parse_float(const char *s, size_t len, double *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    const char *r = s + i;
    size_t rl = len - i;
    static const char *const inf_words[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const nan_words[] = {".nan", ".NaN", ".NAN", NULL};
    if (text_in(r, rl, inf_words)) {
        *out = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (i == 0 && text_in(r, rl, nan_words)) {
        *out = NAN;
        return true;
    }
    char buf[128];
    size_t b = 0, digits = 0;
    bool dot = false, exp = false;
    if (neg)
        buf[b++] = '-';
    for (; i < len; i++) {
        char c = s[i];
        if (b >= sizeof buf - 1)
            return false;
        if (c >= '0' && c <= '9') {
            digits++;
            buf[b++] = c;
        } else if (c == '_' && digits && !exp) {
            continue;
        } else if (c == '.' && !dot && !exp) {
            dot = true;
            buf[b++] = c;
        } else if ((c == 'e' || c == 'E') && digits && !exp) {
            exp = true;
            buf[b++] = 'e';
            if (i + 1 < len && (s[i + 1] == '-' || s[i + 1] == '+'))
                buf[b++] = s[++i];
            if (i + 1 >= len)
                return false;
            digits = 0;
        } else {
            return false;
        }
    }
    if (!digits || !(dot || exp))
        return false;
    buf[b] = '\0';
    char *end;
    *out = strtod(buf, &end);
    return *end == '\0';
}

void lpot_config_resolve(const lpot_node_t *in, lpot_node_t *out)
{
    *out = *in;
    if (in->kind != LPOT_NODE_PLAIN)
        return;
    const char *s = in->str;
    size_t len = in->len;
    out->kind = LPOT_NODE_STR;
    if (len == 0 || text_in(s, len, null_words)) {
        out->kind = LPOT_NODE_NULL;
    } else if (text_in(s, len, true_words) || text_in(s, len, false_words)) {
        out->kind = LPOT_NODE_BOOL;
        out->v.b = text_in(s, len, true_words);
    } else if ((s[0] >= '0' && s[0] <= '9') || s[0] == '-' || s[0] == '+' || s[0] == '.') {
        int64_t iv;
        double fv;
        if (parse_int(s, len, &iv) == 1) {
            out->kind = LPOT_NODE_INT;
            out->v.i = iv;
        } else if (parse_float(s, len, &fv)) {
            out->kind = LPOT_NODE_FLOAT;
            out->v.f = fv;
        }
    }
}

/* Number from text for a field that wants one: what resolve() accepts plus
 * 'NN%' (-> NN/100). 1: number (*is_int says which); 0: not a number; -1:
 * integer text out of int64 range. */
int lpot_config_text_number(const char *s, size_t len, double *f, int64_t *i, bool *is_int)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    bool pct = len > 1 && s[len - 1] == '%';
    if (pct) {
        len--;
        while (len && s[len - 1] == ' ')
            len--;
    }
    int r = parse_int(s, len, i);
    if (r == 1) {
        *is_int = !pct;
        *f = pct ? (double)*i / 100.0 : (double)*i;
        return 1;
    }
    if (r == -1 && !pct)
        return -1;
    if (parse_float(s, len, f) || (r == -1 && parse_float(s, len, f))) {
        *is_int = false;
        if (pct)
            *f /= 100.0;
        return 1;
    }
    /* plain decimal integers too long for int64 still read as floats */
    char buf[64];
    if (len > 0 && len < sizeof buf - 2) {
        memcpy(buf, s, len);
        memcpy(buf + len, ".0", 3);
        if (parse_float(buf, len + 2, f)) {
            *is_int = false;
            if (pct)
                *f /= 100.0;
            return 1;
        }
    }
    return 0;
}

bool lpot_config_is_op_name(const char *key)
{
    const unsigned char *p = (const unsigned char *)key;
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
          *p == '.'))
        return false;
    for (p++; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-' || *p == '/'))
            return false;
    return true;
}

/* ---- paths ---------------------------------------------------------------- */

void lpot_path_key(char *buf, size_t cap, const char *key, size_t klen)
{
    size_t len = strlen(buf);
    if (len + 6 >= cap)
        return;
    if (len)
        buf[len++] = '.';
    bool cut = len + klen + 1 > cap;
    if (cut) {
        klen = cap - len - 4;
        while (klen > 0 && ((unsigned char)key[klen] & 0xC0) == 0x80)
            klen--; /* between characters */
    }
    memcpy(buf + len, key, klen);
    memcpy(buf + len + klen, cut ? "..." : "", cut ? 4 : 1);
}

void lpot_path_index(char *buf, size_t cap, size_t i)
{
    size_t len = strlen(buf);
    if (len + 24 < cap)
        snprintf(buf + len, cap - len, "[%zu]", i);
}

/* ---- parser --------------------------------------------------------------- */

typedef struct {
    lpot_node_t *node;
    size_t start;       /* first pending slot of this collection */
    const char *anchor; /* NULL or the anchor to register at the end */
} frame_t;

typedef struct {
    const char *name;
    lpot_node_t *node;
} anchor_t;

typedef struct {
    lpot_config_t *cfg;
    lpot_node_t **pending;
    size_t npending, cappending;
    frame_t *frames;
    size_t nframes;
    anchor_t *anchors;
    size_t nanchors, capanchors;
    lpot_node_t *root;
    int documents;
    size_t alias_nodes; /* created by alias expansion so far */
} parser_t;

static void frame_path(const parser_t *p, size_t nframes, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t f = 0; f < nframes; f++) {
        const frame_t *fr = &p->frames[f];
        size_t end = f + 1 < p->nframes ? p->frames[f + 1].start : p->npending;
        size_t count = end - fr->start;
        if (fr->node->kind == LPOT_NODE_SEQ) {
            lpot_path_index(buf, cap, count);
        } else if (count % 2 == 1) {
            const lpot_node_t *k = p->pending[end - 1];
            if (k->kind == LPOT_NODE_STR || k->kind == LPOT_NODE_PLAIN)
                lpot_path_key(buf, cap, k->str, k->len);
            else
                lpot_path_key(buf, cap, "?", 1);
        }
    }
}

static lpot_status_t push_pending(parser_t *p, lpot_node_t *n)
{
    if (p->npending == p->cappending) {
        size_t cap = p->cappending ? 2 * p->cappending : 256;
        lpot_node_t **np = realloc(p->pending, cap * sizeof *np);
        if (np == NULL)
            return lpot_set_error(LPOT_ERR_NOMEM, "config: out of memory");
        p->pending = np;
        p->cappending = cap;
    }
    p->pending[p->npending++] = n;
    return LPOT_OK;
}

static lpot_status_t add_anchor(parser_t *p, const char *name, lpot_node_t *n)
{
    if (p->nanchors == p->capanchors) {
        size_t cap = p->capanchors ? 2 * p->capanchors : 16;
        anchor_t *na = realloc(p->anchors, cap * sizeof *na);
        if (na == NULL)
            return lpot_set_error(LPOT_ERR_NOMEM, "config: out of memory");
        p->anchors = na;
        p->capanchors = cap;
    }
    p->anchors[p->nanchors].name = name;
    p->anchors[p->nanchors].node = n;
    p->nanchors++;
    return LPOT_OK;
}

/* A completed node: becomes the root or the next item of the open collection. */
static lpot_status_t add_node(parser_t *p, lpot_node_t *n, const char *anchor)
{
    if (anchor != NULL) {
        lpot_status_t s = add_anchor(p, anchor, n);
        if (s != LPOT_OK)
            return s;
    }
    if (p->nframes == 0) {
        p->root = n;
        return LPOT_OK;
    }
    return push_pending(p, n);
}

static const char *mark_tag(parser_t *p, const yaml_char_t *tag)
{
    if (tag == NULL)
        return NULL;
    const char *t = (const char *)tag;
    static const char core[] = "tag:yaml.org,2002:";
    char buf[512];
    if (strncmp(t, core, sizeof core - 1) == 0) {
        snprintf(buf, sizeof buf, "!!%s", t + sizeof core - 1);
        t = buf;
    }
    return lpot_config_strdup(p->cfg, t, strlen(t));
}

/* Deep copy of an anchored node for an alias; bounded by max_nodes and by
 * the depth it lands at. */
static lpot_node_t *copy_node(parser_t *p, const lpot_node_t *src, size_t depth, bool *too_deep,
                              bool *too_many)
{
    if (++p->alias_nodes > p->cfg->lim.max_alias_nodes) {
        *too_many = true;
        return NULL;
    }
    lpot_node_t *n = lpot_config_new_node(p->cfg, src->kind);
    if (n == NULL)
        return NULL;
    *n = *src;
    if (src->kind != LPOT_NODE_SEQ && src->kind != LPOT_NODE_MAP)
        return n;
    if (depth >= p->cfg->lim.max_depth) {
        *too_deep = true;
        return NULL;
    }
    if (lpot_config_set_items(p->cfg, n, src->n) != LPOT_OK)
        return NULL;
    size_t slots = src->kind == LPOT_NODE_MAP ? 2 * src->n : src->n;
    for (size_t i = 0; i < slots; i++) {
        n->items[i] = copy_node(p, src->items[i], depth + 1, too_deep, too_many);
        if (n->items[i] == NULL)
            return NULL;
    }
    return n;
}

typedef struct {
    const lpot_node_t *key;
    size_t index;
} keyref_t;

static int keyref_cmp(const void *a, const void *b)
{
    const keyref_t *x = a, *y = b;
    size_t l = x->key->len < y->key->len ? x->key->len : y->key->len;
    int c = memcmp(x->key->str, y->key->str, l);
    if (c == 0 && x->key->len != y->key->len)
        c = x->key->len < y->key->len ? -1 : 1;
    if (c == 0)
        c = x->index < y->index ? -1 : (x->index > y->index ? 1 : 0);
    return c;
}

/* Mapping keys must be scalars (pairs with other keys are reported and
 * dropped) and unique (an error, not last-wins). */
static lpot_status_t check_keys(parser_t *p, lpot_node_t *map)
{
    char path[512];
    frame_path(p, p->nframes, path, sizeof path);
    size_t nk = 0;
    keyref_t *refs = malloc((map->n ? map->n : 1) * sizeof *refs);
    if (refs == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "config: out of memory");
    for (size_t i = 0; i < map->n; i++) {
        const lpot_node_t *k = map->items[2 * i];
        if (k->kind == LPOT_NODE_STR || k->kind == LPOT_NODE_PLAIN) {
            refs[nk].key = k;
            refs[nk].index = i;
            nk++;
        } else {
            lpot_config_add_error(p->cfg, k->line, k->col, path,
                                  "a mapping key must be a plain value, not a %s",
                                  k->kind == LPOT_NODE_MAP ? "mapping" : "list");
        }
    }
    if (nk < map->n) {
        size_t w = 0;
        for (size_t i = 0; i < map->n; i++) {
            const lpot_node_t *k = map->items[2 * i];
            if (k->kind == LPOT_NODE_STR || k->kind == LPOT_NODE_PLAIN) {
                map->items[2 * w] = map->items[2 * i];
                map->items[2 * w + 1] = map->items[2 * i + 1];
                w++;
            }
        }
        map->n = w;
        for (size_t i = 0; i < nk; i++)
            refs[i].index = i; /* order is all the sort needs */
    }
    qsort(refs, nk, sizeof *refs, keyref_cmp);
    for (size_t i = 1; i < nk; i++) {
        const lpot_node_t *a = refs[i - 1].key, *b = refs[i].key;
        if (a->len == b->len && memcmp(a->str, b->str, a->len) == 0) {
            /* report every repeat against the first occurrence */
            size_t first = i - 1;
            while (first > 0 && refs[first - 1].key->len == a->len &&
                   memcmp(refs[first - 1].key->str, a->str, a->len) == 0)
                first--;
            const lpot_node_t *f = refs[first].key;
            char kp[512];
            memcpy(kp, path, sizeof kp);
            lpot_path_key(kp, sizeof kp, b->str, b->len);
            lpot_config_add_error(p->cfg, b->line, b->col, kp,
                                  "duplicate key '%s' (first given at line %u, column %u)",
                                  b->str, f->line, f->col);
        }
    }
    free(refs);
    return LPOT_OK;
}

/* YAML merge keys, as PyYAML reads them: `<<: *base` or `<<: [*a, *b]` adds
 * the pairs of those mappings that the mapping does not set itself (earlier
 * sources win over later ones); merged keys come first, in source order. */
#define MERGE_MAX_PAIRS 20000

static bool is_merge_key(const lpot_node_t *k)
{
    return k->kind == LPOT_NODE_PLAIN && k->len == 2 && k->str[0] == '<' && k->str[1] == '<';
}

static lpot_status_t apply_merge(parser_t *p, lpot_node_t *map)
{
    lpot_status_t status = LPOT_OK;
    size_t total = 0, nsrc = 0;
    for (size_t i = 0; i < map->n; i++) {
        const lpot_node_t *k = map->items[2 * i], *v = map->items[2 * i + 1];
        if (!is_merge_key(k)) {
            total++;
            continue;
        }
        const lpot_node_t *const *src = v->kind == LPOT_NODE_SEQ ? (const lpot_node_t *const *)v->items : &v;
        size_t ns = v->kind == LPOT_NODE_SEQ ? v->n : 1;
        for (size_t j = 0; j < ns; j++) {
            if (src[j]->kind != LPOT_NODE_MAP) {
                char path[512];
                frame_path(p, p->nframes, path, sizeof path);
                lpot_path_key(path, sizeof path, "<<", 2);
                return lpot_config_add_error(p->cfg, src[j]->line, src[j]->col, path,
                                             "a merge key '<<' takes a mapping or a list of "
                                             "mappings");
            }
            total += src[j]->n;
            nsrc++;
        }
    }
    if (nsrc == 0)
        return LPOT_OK;
    if (total > MERGE_MAX_PAIRS)
        return lpot_config_add_error(p->cfg, map->line, map->col, "",
                                     "merge keys would build a mapping of more than %d pairs",
                                     MERGE_MAX_PAIRS);
    lpot_node_t **out = lpot_config_alloc(p->cfg, 2 * total * sizeof *out);
    unsigned *prio = malloc(total * sizeof *prio);
    const lpot_node_t **srcs = NULL;
    size_t n = 0;
    if (out == NULL || prio == NULL) {
        status = lpot_set_error(LPOT_ERR_NOMEM, "config: out of memory");
        goto cleanup;
    }
    /* sources in order, then walked last to first as PyYAML does: a key
     * takes the position of its first appearance in that walk and the value
     * of the highest-priority source (explicit 0, then source 1, 2, ...) */
    srcs = malloc(nsrc * sizeof *srcs);
    if (srcs == NULL) {
        status = lpot_set_error(LPOT_ERR_NOMEM, "config: out of memory");
        goto cleanup;
    }
    size_t si = 0;
    for (size_t i = 0; i < map->n; i++) {
        lpot_node_t *k = map->items[2 * i], *v = map->items[2 * i + 1];
        if (!is_merge_key(k))
            continue;
        if (v->kind == LPOT_NODE_SEQ)
            for (size_t j = 0; j < v->n; j++)
                srcs[si++] = v->items[j];
        else
            srcs[si++] = v;
    }
    for (size_t step = 0; step <= nsrc; step++) {
        /* steps 0..nsrc-1: sources from last to first; step nsrc: explicit pairs */
        const lpot_node_t *m = step < nsrc ? srcs[nsrc - 1 - step] : map;
        unsigned pr = step < nsrc ? (unsigned)(nsrc - step) : 0;
        for (size_t q = 0; q < m->n; q++) {
            lpot_node_t *kk = m->items[2 * q], *vv = m->items[2 * q + 1];
            if (step == nsrc && is_merge_key(kk))
                continue;
            size_t at = n;
            for (size_t r = 0; r < n; r++)
                if (out[2 * r]->len == kk->len && memcmp(out[2 * r]->str, kk->str, kk->len) == 0) {
                    at = r;
                    break;
                }
            if (at == n) {
                out[2 * n] = kk;
                out[2 * n + 1] = vv;
                prio[n++] = pr;
            } else if (pr < prio[at]) {
                out[2 * at + 1] = vv;
                prio[at] = pr;
            }
        }
    }
    map->items = out;
    map->n = n;
cleanup:
    free(prio);
    free(srcs);
    return status;
}

static uint32_t u32(size_t v) { return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v; }

static void offset_position(const char *text, size_t len, size_t off, uint32_t *line,
                            uint32_t *col)
{
    size_t l = 1, c = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = u32(l);
    *col = u32(c);
}

static lpot_status_t yaml_failure(parser_t *p, const yaml_parser_t *yp, const char *text,
                                  size_t len)
{
    uint32_t line, col;
    char path[512];
    frame_path(p, p->nframes, path, sizeof path);
    if (yp->error == YAML_MEMORY_ERROR)
        return lpot_set_error(LPOT_ERR_NOMEM, "config: libyaml ran out of memory");
    if (yp->error == YAML_READER_ERROR) {
        offset_position(text, len, yp->problem_offset, &line, &col);
        if (yp->problem_value != -1 && yp->problem_value > 0xFF)
            return lpot_config_add_error(p->cfg, line, col, path,
                                         "%s (character U+%04X): the file must be UTF-8 "
                                         "text", yp->problem ? yp->problem : "bad input",
                                         (unsigned)yp->problem_value);
        return lpot_config_add_error(p->cfg, line, col, path,
                                     "%s (byte 0x%02X): the file must be UTF-8 text",
                                     yp->problem ? yp->problem : "bad input",
                                     (unsigned)(yp->problem_value & 0xFF));
    }
    line = u32(yp->problem_mark.line + 1);
    col = u32(yp->problem_mark.column + 1);
    const char *hint = "";
    size_t idx = yp->problem_mark.index;
    if (idx < len && text[idx] == '\t')
        hint = "; tabs cannot indent YAML, use spaces";
    if (yp->context)
        return lpot_config_add_error(p->cfg, line, col, path, "%s %s (line %u, column %u)%s",
                                     yp->problem ? yp->problem : "invalid YAML", yp->context,
                                     u32(yp->context_mark.line + 1),
                                     u32(yp->context_mark.column + 1), hint);
    return lpot_config_add_error(p->cfg, line, col, path, "%s%s",
                                 yp->problem ? yp->problem : "invalid YAML", hint);
}

static lpot_status_t on_event(parser_t *p, const yaml_event_t *ev, bool *stop)
{
    lpot_config_t *cfg = p->cfg;
    uint32_t line = u32(ev->start_mark.line + 1), col = u32(ev->start_mark.column + 1);
    char path[512];
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++p->documents > 1) {
            *stop = true;
            return lpot_config_add_error(cfg, line, col, "",
                                         "a second YAML document: a configuration is "
                                         "exactly one document");
        }
        return LPOT_OK;
    case YAML_SCALAR_EVENT: {
        lpot_node_t *n = lpot_config_new_node(
            cfg, ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? LPOT_NODE_PLAIN
                                                                  : LPOT_NODE_STR);
        if (n == NULL)
            goto node_failed;
        n->line = line;
        n->col = col;
        n->len = ev->data.scalar.length;
        n->str = lpot_config_strdup(cfg, (const char *)ev->data.scalar.value, n->len);
        n->tag = mark_tag(p, ev->data.scalar.tag);
        const char *anchor = ev->data.scalar.anchor
            ? mark_tag(p, ev->data.scalar.anchor) : NULL;
        if (n->str == NULL || (ev->data.scalar.tag && n->tag == NULL) ||
            (ev->data.scalar.anchor && anchor == NULL))
            return lpot_set_error(LPOT_ERR_NOMEM, "config: out of memory");
        return add_node(p, n, anchor);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        if (p->nframes >= cfg->lim.max_depth) {
            *stop = true;
            frame_path(p, p->nframes, path, sizeof path);
            return lpot_config_add_error(cfg, line, col, path,
                                         "nested more than %u levels deep",
                                         cfg->lim.max_depth);
        }
        lpot_node_t *n = lpot_config_new_node(cfg, seq ? LPOT_NODE_SEQ : LPOT_NODE_MAP);
        if (n == NULL)
            goto node_failed;
        n->line = line;
        n->col = col;
        const yaml_char_t *tag = seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
        const yaml_char_t *anc =
            seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
        n->tag = mark_tag(p, tag);
        frame_t *f = &p->frames[p->nframes++];
        f->node = n;
        f->start = p->npending;
        f->anchor = anc ? mark_tag(p, anc) : NULL;
        if ((tag && n->tag == NULL) || (anc && f->anchor == NULL))
            return lpot_set_error(LPOT_ERR_NOMEM, "config: out of memory");
        return LPOT_OK;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        frame_t f = p->frames[--p->nframes];
        size_t count = p->npending - f.start;
        lpot_node_t *n = f.node;
        size_t items = n->kind == LPOT_NODE_MAP ? count / 2 : count;
        lpot_status_t s = lpot_config_set_items(cfg, n, items);
        if (s != LPOT_OK)
            return s;
        if (count)
            memcpy(n->items, p->pending + f.start, count * sizeof *n->items);
        p->npending = f.start;
        if (n->kind == LPOT_NODE_MAP && ((s = check_keys(p, n)) != LPOT_OK ||
                                         (s = apply_merge(p, n)) == LPOT_ERR_NOMEM))
            return s;
        return add_node(p, n, f.anchor);
    }
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        const lpot_node_t *target = NULL;
        for (size_t i = p->nanchors; i-- > 0;)
            if (strcmp(p->anchors[i].name, name) == 0) {
                target = p->anchors[i].node;
                break;
            }
        frame_path(p, p->nframes, path, sizeof path);
        if (target == NULL) {
            *stop = true;
            return lpot_config_add_error(cfg, line, col, path,
                                         "alias '*%s' refers to no anchor defined before it",
                                         name);
        }
        bool too_deep = false, too_many = false;
        lpot_node_t *n = copy_node(p, target, p->nframes, &too_deep, &too_many);
        if (n == NULL) {
            if (too_many) {
                *stop = true;
                return lpot_config_add_error(cfg, line, col, path,
                                             "aliases expand to more than %zu values; refusing "
                                             "to go on (an alias bomb?)",
                                             cfg->lim.max_alias_nodes);
            }
            if (too_deep) {
                *stop = true;
                return lpot_config_add_error(cfg, line, col, path,
                                             "alias '*%s' expands to more than %u levels "
                                             "of nesting", name, cfg->lim.max_depth);
            }
            goto node_failed;
        }
        n->line = line;
        n->col = col;
        return add_node(p, n, NULL);
    }
    default:
        return LPOT_OK;
    }
node_failed:
    *stop = true;
    if (cfg->nodes_exceeded)
        return LPOT_ERR_CONFIG;
    return lpot_set_error(LPOT_ERR_NOMEM, "config: out of memory");
}

lpot_status_t lpot_config_parse(lpot_config_t *cfg, const char *text, size_t len)
{
    lpot_status_t status = LPOT_OK;
    parser_t p = {.cfg = cfg};
    yaml_parser_t yp;
    bool parser_ready = false;
    if (len > cfg->lim.max_bytes) {
        lpot_config_add_error(cfg, 0, 0, "",
                              "the configuration is %zu bytes; the limit is %zu bytes", len,
                              cfg->lim.max_bytes);
        status = LPOT_ERR_CONFIG;
        goto cleanup;
    }
    p.frames = malloc((cfg->lim.max_depth + 1) * sizeof *p.frames);
    if (p.frames == NULL || !yaml_parser_initialize(&yp)) {
        status = lpot_set_error(LPOT_ERR_NOMEM, "config: out of memory");
        goto cleanup;
    }
    parser_ready = true;
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&yp, &ev)) {
            status = yaml_failure(&p, &yp, text, len);
            goto cleanup;
        }
        bool stop = false, end = ev.type == YAML_STREAM_END_EVENT;
        lpot_status_t s = on_event(&p, &ev, &stop);
        yaml_event_delete(&ev);
        if (s == LPOT_ERR_NOMEM) {
            status = s;
            goto cleanup;
        }
        if (stop || end)
            break;
    }
    if (cfg->nerrors == 0) {
        const lpot_node_t *r = p.root;
        if (r == NULL || (r->kind == LPOT_NODE_PLAIN &&
                          (r->len == 0 || text_in(r->str, r->len, null_words)))) {
            lpot_config_add_error(cfg, 1, 1, "", "the configuration is empty: expected a "
                                  "mapping such as 'model: {name: ..., framework: ...}'");
        } else if (r->kind != LPOT_NODE_MAP) {
            lpot_config_add_error(cfg, r->line, r->col, "",
                                  "expected a mapping at the top (keys such as 'model:', "
                                  "'tuning:'), got a %s",
                                  r->kind == LPOT_NODE_SEQ ? "list" : "single value");
        }
    }
    cfg->input = p.root;
    status = cfg->nerrors || cfg->dropped ? LPOT_ERR_CONFIG : LPOT_OK;
cleanup:
    if (parser_ready)
        yaml_parser_delete(&yp);
    free(p.frames);
    free(p.pending);
    free(p.anchors);
    if (status == LPOT_ERR_CONFIG && cfg->nerrors == 0 && cfg->dropped == 0)
        status = LPOT_OK;
    return status;
}

lpot_status_t lpot_config_parse_file(lpot_config_t *cfg, const char *path)
{
    lpot_status_t status = LPOT_OK;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        status = lpot_set_error(LPOT_ERR_IO, "%s: cannot open the configuration: %s", path,
                                strerror(errno));
        goto cleanup;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        status = lpot_set_error(LPOT_ERR_IO, "%s: is a directory, expected a YAML file", path);
        goto cleanup;
    }
    size_t cap = cfg->lim.max_bytes + 1, len = 0;
    buf = malloc(cap ? cap : 1);
    if (buf == NULL) {
        status = lpot_set_error(LPOT_ERR_NOMEM, "config: out of memory");
        goto cleanup;
    }
    while (len < cap) {
        size_t r = fread(buf + len, 1, cap - len, f);
        if (r == 0)
            break;
        len += r;
    }
    if (ferror(f)) {
        status = lpot_set_error(LPOT_ERR_IO, "%s: cannot read the configuration: %s", path,
                                strerror(errno));
        goto cleanup;
    }
    if (len > cfg->lim.max_bytes) {
        status = lpot_config_add_error(cfg, 0, 0, "",
                                       "the file is larger than the %zu-byte limit for a "
                                       "configuration", cfg->lim.max_bytes);
        goto cleanup;
    }
    status = lpot_config_parse(cfg, buf, len);
cleanup:
    if (f)
        fclose(f);
    free(buf);
    return status;
}
