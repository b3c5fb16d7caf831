/* lpot configuration: YAML text -> node tree -> validated, defaulted tree.
 * Plain C (libyaml underneath); the binding is config_py.c.
 *
 *   lpot_config_t *cfg = lpot_config_create(NULL);        (NULL: default limits)
 *   lpot_status_t s = lpot_config_parse(cfg, text, len);  (input tree)
 *   if (s == LPOT_OK) s = lpot_config_validate(cfg, NULL, NULL);
 *   if (s == LPOT_ERR_CONFIG) ... lpot_config_error(cfg, i) for each problem
 *   else use lpot_config_output(cfg): every schema field present, defaults filled
 *   lpot_config_destroy(cfg);
 *
 * Every node lives in the handle's arena and dies with it. Parsing stops at
 * the first YAML syntax error but keeps the structural problems found before
 * it (duplicate keys, tags, limits); validation collects every schema problem
 * up to LPOT_CONFIG_MAX_ERRORS and counts the rest. Hostile input is bounded
 * by lpot_config_limits_t (size, depth, nodes, alias expansions). */
#ifndef LPOT_CONFIG_H
#define LPOT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define LPOT_CONFIG_MAX_ERRORS 50

typedef enum {
    LPOT_NODE_NULL,
    LPOT_NODE_BOOL,
    LPOT_NODE_INT,
    LPOT_NODE_FLOAT,
    LPOT_NODE_STR,   /* text that stays text (quoted YAML scalar, Python str) */
    LPOT_NODE_PLAIN, /* plain YAML scalar, type not resolved yet (input only) */
    LPOT_NODE_SEQ,
    LPOT_NODE_MAP,
} lpot_node_kind_t;

typedef struct lpot_node lpot_node_t;
struct lpot_node {
    lpot_node_kind_t kind;
    uint32_t line, col;  /* 1-based position in the text; 0 when unknown */
    const char *tag;     /* NULL, or the tag as written ("!Pruner", "!!python/object") */
    const char *str;     /* STR/PLAIN: NUL-terminated text (may hold NULs: use len) */
    size_t len;
    union {
        bool b;
        int64_t i;
        double f;
    } v;
    size_t n;            /* SEQ: items; MAP: pairs */
    lpot_node_t **items; /* SEQ: n items; MAP: 2n, key then value (keys are STR/PLAIN) */
};

typedef struct {
    size_t max_bytes;  /* input size (default 8 MiB) */
    uint32_t max_depth; /* nesting of collections (default 64) */
    size_t max_nodes;  /* nodes incl. alias copies (default 1,000,000) */
    size_t max_alias_nodes; /* nodes created by expanding aliases (default 100,000) */
} lpot_config_limits_t;

typedef struct {
    uint32_t line, col; /* 0 when unknown (dict input) */
    const char *path;   /* dotted key path ("tuning.exit_policy.timeout", "a.b[2]"); "" at the top */
    const char *msg;
} lpot_config_error_t;

typedef struct lpot_config lpot_config_t;

/* Validation asks this whether an op_wise key that is not a plain op name is
 * a valid regular expression: return 0 if it is, 1 if not (with a reason in
 * msg), -1 on a fatal failure (validation returns LPOT_ERR_PYTHON). NULL
 * accepts every pattern. */
typedef int (*lpot_regex_check_fn)(void *ctx, const char *pattern, char *msg, size_t msgsz);

/* Validation asks this whether a value outside an extensible enum's built-in
 * choices (LPOT_F_EXTENSIBLE: tuning.strategy.name) names something
 * registered outside the engine, such as a Python tuning strategy: return 0
 * if it does, 1 if not, -1 on a fatal failure (LPOT_ERR_PYTHON). NULL: no
 * value outside the built-in choices is accepted. */
typedef int (*lpot_choice_check_fn)(void *ctx, const char *path, const char *value);

typedef struct {
    lpot_regex_check_fn regex;
    lpot_choice_check_fn choice;
    void *ctx; /* passed to both */
} lpot_config_hooks_t;

lpot_config_t *lpot_config_create(const lpot_config_limits_t *limits);
void lpot_config_destroy(lpot_config_t *cfg);

/* Parse YAML text (one document whose top is a mapping) into the input tree.
 * LPOT_ERR_CONFIG: see the error list; LPOT_ERR_NOMEM. */
lpot_status_t lpot_config_parse(lpot_config_t *cfg, const char *text, size_t len);

/* Read a whole file (bounded by max_bytes) and parse it. LPOT_ERR_IO with a
 * message when it cannot be read. */
lpot_status_t lpot_config_parse_file(lpot_config_t *cfg, const char *path);

/* Check the input tree against the LPOT 1.x schema and build the output
 * tree. LPOT_ERR_CONFIG when any problem was found. */
lpot_status_t lpot_config_validate(lpot_config_t *cfg, lpot_regex_check_fn check, void *ctx);
/* The same with every hook (hooks may be NULL). */
lpot_status_t lpot_config_validate_hooks(lpot_config_t *cfg, const lpot_config_hooks_t *hooks);

const lpot_node_t *lpot_config_input(const lpot_config_t *cfg);
const lpot_node_t *lpot_config_output(const lpot_config_t *cfg);

size_t lpot_config_error_count(const lpot_config_t *cfg);
const lpot_config_error_t *lpot_config_error(const lpot_config_t *cfg, size_t i);
/* Problems found beyond LPOT_CONFIG_MAX_ERRORS (not stored). */
size_t lpot_config_errors_dropped(const lpot_config_t *cfg);

/* Record a problem (the binding uses it for dict input). Returns
 * LPOT_ERR_CONFIG, or LPOT_ERR_NOMEM. */
lpot_status_t lpot_config_add_error(lpot_config_t *cfg, uint32_t line, uint32_t col,
                                    const char *path, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* ---- building an input tree by hand (dict input) -------------------------
 * Nodes come from the handle's arena; NULL when out of memory or over
 * max_nodes (then lpot_config_error_count() > 0 or NOMEM). */
lpot_node_t *lpot_config_new_node(lpot_config_t *cfg, lpot_node_kind_t kind);
/* Copy len bytes of text into the arena (NUL added). */
const char *lpot_config_strdup(lpot_config_t *cfg, const char *s, size_t len);
/* Room for n items (2n for a MAP) on a SEQ/MAP node; LPOT_ERR_NOMEM. */
lpot_status_t lpot_config_set_items(lpot_config_t *cfg, lpot_node_t *node, size_t n);
void lpot_config_set_input(lpot_config_t *cfg, lpot_node_t *root);

/* ---- the schema (config_schema.c), readable for docs and tests ---------- */

typedef enum {
    LPOT_F_MAP,   /* fixed keys: children[] (name-terminated) */
    LPOT_F_STR,
    LPOT_F_BOOL,
    LPOT_F_INT,
    LPOT_F_NUM,   /* float; '1%' -> 0.01; NaN/inf refused */
    LPOT_F_ENUM,  /* one of choices */
    LPOT_F_STRS,  /* list of strings: 'a,b' / 'a b' / a scalar -> list */
    LPOT_F_ENUMS, /* list of choices, same coercions */
    LPOT_F_INTS,  /* list of integers, same coercions */
    LPOT_F_ANY,   /* free-form value, YAML types resolved */
    LPOT_F_NAMED, /* NAME: {args}; names from choices (NULL: any); args by children[] or free */
    LPOT_F_DICT,  /* any keys (op_wise: op names or regexes) -> children[0] */
    LPOT_F_SEQ,   /* list of children[0]; items may carry `tag` */
} lpot_ftype_t;

enum {
    LPOT_F_REQUIRED = 1 << 0,
    LPOT_F_SECTION = 1 << 1,  /* null when absent, instead of filled with defaults */
    LPOT_F_HAS_LO = 1 << 2,
    LPOT_F_HAS_HI = 1 << 3,
    LPOT_F_LO_OPEN = 1 << 4,  /* (lo, ... rather than [lo, ... */
    LPOT_F_HI_OPEN = 1 << 5,
    LPOT_F_ONE = 1 << 6,      /* NAMED: exactly one entry */
    LPOT_F_EMPTY = 1 << 7,    /* absent -> empty list / mapping */
    LPOT_F_OPKEYS = 1 << 8,   /* DICT keys: op names, else regular expressions */
    LPOT_F_WORKSPACE = 1 << 9, /* default ./lpot_workspace/<YYYY-mm-dd_HH-MM-SS>/ */
    LPOT_F_ARGS_NULL_EMPTY = 1 << 10, /* NAMED: null arguments -> {} */
    LPOT_F_EXTENSIBLE = 1 << 11, /* ENUM: other values asked of the choice hook */
};

typedef struct lpot_config_field lpot_config_field_t;
struct lpot_vctx;
struct lpot_config_field {
    const char *name;
    lpot_ftype_t type;
    unsigned flags;
    const char *def; /* default as YAML text; NULL: null */
    double lo, hi;
    const char *const *choices;
    const lpot_config_field_t *children;
    const char *tag; /* SEQ items may carry this tag (pruners: "!Pruner") */
    void (*check)(struct lpot_vctx *v, const lpot_node_t *in, lpot_node_t *out);
};

/* The root of the schema (a MAP named ""). */
const lpot_config_field_t *lpot_config_schema(void);

/* ---- helpers shared by the parser, validator and binding ------------------ */

/* Resolve a PLAIN scalar's YAML type (YAML 1.1 booleans and nulls, 1.2
 * numbers: 1, -0x1F, 0o17, 1_000, 1.5, 1e-5, .inf, .nan). Other nodes are
 * returned unchanged in *out. Integers outside int64 stay text. */
void lpot_config_resolve(const lpot_node_t *in, lpot_node_t *out);

/* True when an op_wise key is an exact op name, i.e. matches
 * ^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$; otherwise it is a regular expression. */
bool lpot_config_is_op_name(const char *key);

/* Append ".key" (or "key" at the start) / "[i]" to a NUL-terminated path;
 * silently stops growing at cap. */
void lpot_path_key(char *buf, size_t cap, const char *key, size_t klen);
void lpot_path_index(char *buf, size_t cap, size_t i);

#endif
