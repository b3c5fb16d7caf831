/* Append-only JSON-lines tuning journal. Plain C. See tune_journal.h. */
#include "tune_journal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    bool proxy;
    char *cfg;
    uint64_t h;
    lpot_trial_t tr;
    double *err;
    size_t n_err;
} rec_t;

struct lpot_journal {
    FILE *f;
    char *path;
    rec_t *recs;
    size_t n, cap, n_trials;
};

/* ---- writing ----------------------------------------------------------- */

static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void put_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

static lpot_status_t commit(lpot_journal_t *j)
{
    if (fflush(j->f) != 0 || fdatasync(fileno(j->f)) != 0 || ferror(j->f))
        return lpot_set_error(LPOT_ERR_IO, "tuning journal %s: write failed: %s", j->path,
                              strerror(errno));
    return LPOT_OK;
}

/* ---- parsing (flat objects: strings, numbers, bools, null, number arrays) */

typedef struct {
    const char *p;
    bool ok;
} cur_t;

static void ws(cur_t *c)
{
    while (*c->p == ' ' || *c->p == '\t' || *c->p == '\r')
        c->p++;
}

/* Parse a string into a malloc'd buffer. */
static char *pstr(cur_t *c)
{
    ws(c);
    if (*c->p != '"') {
        c->ok = false;
        return NULL;
    }
    c->p++;
    size_t cap = 64, n = 0;
    char *out = malloc(cap);
    if (out == NULL) {
        c->ok = false;
        return NULL;
    }
    while (*c->p && *c->p != '"') {
        char ch = *c->p++;
        if (ch == '\\') {
            ch = *c->p++;
            if (ch == 'u') { /* we only write \u00XX for control characters */
                unsigned v = 0;
                for (int k = 0; k < 4; k++, c->p++) {
                    char h = *c->p;
                    int d = h >= '0' && h <= '9' ? h - '0'
                          : (h | 32) >= 'a' && (h | 32) <= 'f' ? (h | 32) - 'a' + 10 : -1;
                    if (d < 0)
                        goto bad;
                    v = v * 16 + (unsigned)d;
                }
                if (v > 0x7f)
                    goto bad;
                ch = (char)v;
            } else if (ch == '\0') {
                break;
            }
        }
        if (n + 1 >= cap) {
            char *q = realloc(out, cap *= 2);
            if (q == NULL) {
                free(out);
                c->ok = false;
                return NULL;
            }
            out = q;
        }
        out[n++] = ch;
    }
    out[n] = '\0';
    if (*c->p != '"')
        goto bad;
    c->p++;
    return out;
bad:
    free(out);
    c->ok = false;
    return NULL;
}

static double pnum(cur_t *c)
{
    ws(c);
    if (strncmp(c->p, "null", 4) == 0) {
        c->p += 4;
        return NAN;
    }
    char *end;
    double v = strtod(c->p, &end);
    if (end == c->p)
        c->ok = false;
    c->p = end;
    return v;
}

static bool pbool(cur_t *c)
{
    ws(c);
    if (strncmp(c->p, "true", 4) == 0) {
        c->p += 4;
        return true;
    }
    if (strncmp(c->p, "false", 5) == 0) {
        c->p += 5;
        return false;
    }
    c->ok = false;
    return false;
}

/* Skip any value we do not know. */
static void pskip(cur_t *c)
{
    ws(c);
    if (*c->p == '"') {
        free(pstr(c));
    } else if (*c->p == '[') {
        int depth = 0;
        do {
            if (*c->p == '[')
                depth++;
            else if (*c->p == ']')
                depth--;
            else if (*c->p == '\0') {
                c->ok = false;
                return;
            }
            c->p++;
        } while (depth > 0);
    } else if (*c->p == 't' || *c->p == 'f') {
        (void)pbool(c);
    } else {
        (void)pnum(c);
    }
}

typedef struct {
    char *kind, *cfg, *model, *space, *tuning;
    lpot_trial_t tr;
    double *err;
    size_t n_err;
    bool header;
} line_t;

static void line_free(line_t *l)
{
    free(l->kind);
    free(l->cfg);
    free(l->model);
    free(l->space);
    free(l->tuning);
    free(l->err);
}

static double *parr(cur_t *c, size_t *n)
{
    ws(c);
    *n = 0;
    if (*c->p != '[') {
        c->ok = false;
        return NULL;
    }
    c->p++;
    size_t cap = 16;
    double *a = malloc(cap * sizeof *a);
    if (a == NULL) {
        c->ok = false;
        return NULL;
    }
    ws(c);
    while (c->ok && *c->p != ']') {
        double v = pnum(c);
        if (*n == cap) {
            double *q = realloc(a, (cap *= 2) * sizeof *a);
            if (q == NULL) {
                c->ok = false;
                break;
            }
            a = q;
        }
        a[(*n)++] = v;
        ws(c);
        if (*c->p == ',')
            c->p++;
        else if (*c->p != ']')
            c->ok = false;
    }
    if (c->ok)
        c->p++;
    return a;
}

static bool parse_line(const char *text, line_t *l)
{
    memset(l, 0, sizeof *l);
    l->tr.accuracy = l->tr.score = NAN;
    for (int k = 0; k < LPOT_OBJ_COUNT; k++)
        l->tr.measures[k] = NAN;
    cur_t c = {text, true};
    ws(&c);
    if (*c.p++ != '{')
        return false;
    ws(&c);
    while (c.ok && *c.p != '}') {
        char *key = pstr(&c);
        ws(&c);
        if (!c.ok || *c.p++ != ':') {
            free(key);
            return false;
        }
        if (!strcmp(key, "lpot_journal")) {
            l->header = true;
            (void)pnum(&c);
        } else if (!strcmp(key, "kind")) {
            l->kind = pstr(&c);
        } else if (!strcmp(key, "cfg")) {
            l->cfg = pstr(&c);
        } else if (!strcmp(key, "model")) {
            l->model = pstr(&c);
        } else if (!strcmp(key, "space")) {
            l->space = pstr(&c);
        } else if (!strcmp(key, "tuning")) {
            l->tuning = pstr(&c);
        } else if (!strcmp(key, "trial")) {
            l->tr.trial = (long)pnum(&c);
        } else if (!strcmp(key, "evaluated")) {
            l->tr.evaluated = pbool(&c);
        } else if (!strcmp(key, "passed")) {
            l->tr.passed = pbool(&c);
        } else if (!strcmp(key, "acc")) {
            l->tr.accuracy = pnum(&c);
        } else if (!strcmp(key, "perf")) {
            l->tr.measures[LPOT_OBJ_PERFORMANCE] = pnum(&c);
        } else if (!strcmp(key, "size")) {
            l->tr.measures[LPOT_OBJ_MODELSIZE] = pnum(&c);
        } else if (!strcmp(key, "foot")) {
            l->tr.measures[LPOT_OBJ_FOOTPRINT] = pnum(&c);
        } else if (!strcmp(key, "score")) {
            l->tr.score = pnum(&c);
        } else if (!strcmp(key, "sec")) {
            l->tr.seconds = pnum(&c);
        } else if (!strcmp(key, "err")) {
            l->err = parr(&c, &l->n_err);
        } else {
            pskip(&c);
        }
        free(key);
        ws(&c);
        if (*c.p == ',')
            c.p++;
        else if (*c.p != '}')
            return false;
        ws(&c);
    }
    if (!c.ok || *c.p != '}')
        return false;
    if (!isfinite(l->tr.score))
        l->tr.score = INFINITY;
    return true;
}

/* ---- records ----------------------------------------------------------- */

static lpot_status_t add_rec(lpot_journal_t *j, bool proxy, const char *cfg,
                             const lpot_trial_t *tr, const double *err, size_t n_err)
{
    if (j->n == j->cap) {
        size_t cap = j->cap ? 2 * j->cap : 64;
        rec_t *r = realloc(j->recs, cap * sizeof *r);
        if (r == NULL)
            return lpot_set_error(LPOT_ERR_NOMEM, "tuning journal: out of memory");
        j->recs = r;
        j->cap = cap;
    }
    rec_t *r = &j->recs[j->n];
    memset(r, 0, sizeof *r);
    r->proxy = proxy;
    r->cfg = strdup(cfg);
    r->h = lpot_fnv1a(LPOT_FNV_SEED, cfg, strlen(cfg));
    if (tr)
        r->tr = *tr;
    r->tr.cfg = NULL;
    if (n_err) {
        r->err = malloc(n_err * sizeof *r->err);
        if (r->err)
            memcpy(r->err, err, n_err * sizeof *err);
        r->n_err = n_err;
    }
    if (r->cfg == NULL || (n_err && r->err == NULL)) {
        free(r->cfg);
        free(r->err);
        return lpot_set_error(LPOT_ERR_NOMEM, "tuning journal: out of memory");
    }
    j->n++;
    j->n_trials += !proxy;
    return LPOT_OK;
}

static const rec_t *find(const lpot_journal_t *j, bool proxy, const char *cfg)
{
    uint64_t h = lpot_fnv1a(LPOT_FNV_SEED, cfg, strlen(cfg));
    for (size_t i = 0; i < j->n; i++)
        if (j->recs[i].h == h && j->recs[i].proxy == proxy && !strcmp(j->recs[i].cfg, cfg))
            return &j->recs[i];
    return NULL;
}

bool lpot_journal_find_trial(const lpot_journal_t *j, const char *cfg, lpot_trial_t *out)
{
    const rec_t *r = find(j, false, cfg);
    if (r)
        *out = r->tr;
    return r != NULL;
}

bool lpot_journal_find_proxy(const lpot_journal_t *j, const char *cfg, double *err, size_t n)
{
    const rec_t *r = find(j, true, cfg);
    if (r == NULL || r->n_err != n)
        return false;
    memcpy(err, r->err, n * sizeof *err);
    return true;
}

size_t lpot_journal_n_trials(const lpot_journal_t *j) { return j->n_trials; }

/* ---- open / close ------------------------------------------------------ */

static void write_header(FILE *f, const lpot_journal_header_t *h)
{
    fputs("{\"lpot_journal\":1,\"model\":", f);
    put_str(f, h->model);
    fputs(",\"space\":", f);
    put_str(f, h->space);
    fputs(",\"tuning\":", f);
    put_str(f, h->tuning);
    fputs("}\n", f);
}

static lpot_status_t check_header(const char *path, const line_t *l,
                                  const lpot_journal_header_t *h)
{
    if (!l->header || !l->model || !l->space || !l->tuning)
        return lpot_set_error(LPOT_ERR_TUNING, "resume: %s is not an lpot tuning journal "
                              "(bad header line)", path);
    if (strcmp(l->model, h->model) != 0)
        return lpot_set_error(LPOT_ERR_TUNING,
                              "resume: journal %s belongs to a different model (fingerprint "
                              "%s, this model %s); start a new workspace", path, l->model,
                              h->model);
    if (strcmp(l->space, h->space) != 0)
        return lpot_set_error(LPOT_ERR_TUNING,
                              "resume: journal %s was written for a different tuning space "
                              "(capability, model_wise, op_wise or sampling sizes changed: "
                              "%s vs %s); start a new workspace", path, l->space, h->space);
    if (strcmp(l->tuning, h->tuning) != 0)
        return lpot_set_error(LPOT_ERR_TUNING,
                              "resume: journal %s was written with different tuning options "
                              "(journal: %s; now: %s); start a new workspace", path,
                              l->tuning, h->tuning);
    return LPOT_OK;
}

static lpot_status_t load(lpot_journal_t *j, const lpot_journal_header_t *hdr, long *good_end)
{
    lpot_status_t st = LPOT_OK;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    *good_end = 0;
    while ((len = getline(&buf, &cap, j->f)) > 0) {
        line_t l;
        bool complete = buf[len - 1] == '\n';
        bool ok = complete && parse_line(buf, &l);
        lineno++;
        if (!ok) {
            if (complete && lineno == 1)
                st = lpot_set_error(LPOT_ERR_TUNING, "resume: %s is not an lpot tuning journal "
                                    "(bad header line)", j->path);
            else if (complete && fgetc(j->f) != EOF)
                st = lpot_set_error(LPOT_ERR_TUNING, "resume: %s line %ld is corrupt", j->path,
                                    lineno);
            if (ok || complete)
                line_free(&l);
            break; /* torn last line: dropped */
        }
        if (lineno == 1) {
            st = check_header(j->path, &l, hdr);
        } else if (l.cfg && l.kind && !strcmp(l.kind, "proxy")) {
            st = add_rec(j, true, l.cfg, NULL, l.err, l.n_err);
        } else if (l.cfg && l.kind && !strcmp(l.kind, "trial")) {
            st = add_rec(j, false, l.cfg, &l.tr, NULL, 0);
        }
        line_free(&l);
        if (st != LPOT_OK)
            break;
        *good_end = ftell(j->f);
    }
    free(buf);
    if (st == LPOT_OK && lineno == 0)
        st = lpot_set_error(LPOT_ERR_TUNING, "resume: %s is empty", j->path);
    return st;
}

lpot_status_t lpot_journal_open(const char *path, bool resume,
                                const lpot_journal_header_t *hdr, lpot_journal_t **out)
{
    lpot_status_t st = LPOT_OK;
    *out = NULL;
    lpot_journal_t *j = calloc(1, sizeof *j);
    if (j == NULL || (j->path = strdup(path)) == NULL) {
        free(j);
        return lpot_set_error(LPOT_ERR_NOMEM, "tuning journal: out of memory");
    }
    if (resume) {
        j->f = fopen(path, "r+");
        if (j->f == NULL) {
            st = lpot_set_error(LPOT_ERR_IO, "resume: cannot open tuning journal %s: %s", path,
                                strerror(errno));
            goto error;
        }
        long good_end;
        if ((st = load(j, hdr, &good_end)) != LPOT_OK)
            goto error;
        if (fflush(j->f) != 0 || ftruncate(fileno(j->f), good_end) != 0 ||
            fseek(j->f, good_end, SEEK_SET) != 0) {
            st = lpot_set_error(LPOT_ERR_IO, "resume: cannot truncate %s: %s", path,
                                strerror(errno));
            goto error;
        }
    } else {
        j->f = fopen(path, "w");
        if (j->f == NULL) {
            st = lpot_set_error(LPOT_ERR_IO, "cannot create tuning journal %s: %s", path,
                                strerror(errno));
            goto error;
        }
        write_header(j->f, hdr);
        if ((st = commit(j)) != LPOT_OK)
            goto error;
    }
    *out = j;
    return LPOT_OK;
error:
    lpot_journal_close(j);
    return st;
}

void lpot_journal_close(lpot_journal_t *j)
{
    if (j == NULL)
        return;
    if (j->f)
        fclose(j->f);
    for (size_t i = 0; i < j->n; i++) {
        free(j->recs[i].cfg);
        free(j->recs[i].err);
    }
    free(j->recs);
    free(j->path);
    free(j);
}

lpot_status_t lpot_journal_append_trial(lpot_journal_t *j, const char *cfg,
                                        const lpot_trial_t *tr)
{
    FILE *f = j->f;
    fprintf(f, "{\"kind\":\"trial\",\"trial\":%ld,\"cfg\":", tr->trial);
    put_str(f, cfg);
    fprintf(f, ",\"evaluated\":%s,\"acc\":", tr->evaluated ? "true" : "false");
    put_num(f, tr->accuracy);
    fprintf(f, ",\"passed\":%s,\"perf\":", tr->passed ? "true" : "false");
    put_num(f, tr->measures[LPOT_OBJ_PERFORMANCE]);
    fputs(",\"size\":", f);
    put_num(f, tr->measures[LPOT_OBJ_MODELSIZE]);
    fputs(",\"foot\":", f);
    put_num(f, tr->measures[LPOT_OBJ_FOOTPRINT]);
    fputs(",\"score\":", f);
    put_num(f, tr->score);
    fputs(",\"sec\":", f);
    put_num(f, tr->seconds);
    fputs("}\n", f);
    lpot_status_t st = commit(j);
    return st != LPOT_OK ? st : add_rec(j, false, cfg, tr, NULL, 0);
}

lpot_status_t lpot_journal_append_proxy(lpot_journal_t *j, const char *cfg,
                                        const double *err, size_t n)
{
    FILE *f = j->f;
    fputs("{\"kind\":\"proxy\",\"cfg\":", f);
    put_str(f, cfg);
    fputs(",\"err\":[", f);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        put_num(f, err[i]);
    }
    fputs("]}\n", f);
    lpot_status_t st = commit(j);
    return st != LPOT_OK ? st : add_rec(j, true, cfg, NULL, err, n);
}
