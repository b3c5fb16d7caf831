/* The tuning engine driven from plain C, no interpreter: space, loop,
 * strategies, journal and resume with a C adaptor. Built and run by
 * tests/test_tune_c.py. Prints "ok <n>" per check; exits 1 on failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strategy/strategy.h"
#include "tune.h"
#include "tune_space.h"

#define N 12
static int checks;
#define CHECK(c)                                                                            \
    do {                                                                                    \
        if (!(c)) {                                                                         \
            fprintf(stderr, "FAIL %s:%d: %s (%s)\n", __FILE__, __LINE__, #c,                \
                    lpot_last_error());                                                     \
            exit(1);                                                                        \
        }                                                                                   \
        checks++;                                                                           \
    } while (0)

typedef struct {
    const lpot_space_t *s;
    double d[N];
    long evals, quants, live;
} synth_t;

static lpot_status_t q(void *ctx, const lpot_space_t *s, const int32_t *cfg, long trial,
                       void **model)
{
    (void)trial;
    synth_t *a = ctx;
    int32_t *m = malloc(lpot_space_cfg_len(s) * sizeof *m);
    if (m == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "oom");
    memcpy(m, cfg, lpot_space_cfg_len(s) * sizeof *m);
    a->quants++;
    a->live++;
    *model = m;
    return LPOT_OK;
}

static double acc_of(synth_t *a, const int32_t *m)
{
    double acc = 0.8;
    for (size_t i = 0; m && i < N; i++) {
        lpot_prec_t p = lpot_space_op(a->s, i)->opts[m[i]].prec;
        acc -= p == LPOT_PREC_INT8 ? a->d[i] : p == LPOT_PREC_BF16 ? 0.02 * a->d[i] : 0;
    }
    return acc;
}

static lpot_status_t ev(void *ctx, void *model, long trial, double *acc)
{
    (void)trial;
    synth_t *a = ctx;
    a->evals++;
    *acc = acc_of(a, model);
    return LPOT_OK;
}

static lpot_status_t meas(void *ctx, void *model, lpot_objective_t o, long trial, double *v)
{
    (void)trial;
    synth_t *a = ctx;
    const int32_t *m = model;
    *v = 1.0;
    for (size_t i = 0; o == LPOT_OBJ_PERFORMANCE && m && i < N; i++)
        *v += lpot_space_op(a->s, i)->opts[m[i]].prec == LPOT_PREC_INT8 ? 0.3 : 1.0;
    return LPOT_OK;
}

static lpot_status_t insp(void *ctx, void *model, const lpot_space_t *s, long trial, double *err)
{
    (void)trial;
    synth_t *a = ctx;
    const int32_t *m = model;
    for (size_t i = 0; i < lpot_space_n_ops(s); i++)
        err[i] = lpot_space_op(s, i)->opts[m[i]].prec == LPOT_PREC_INT8 ? a->d[i] : 0;
    return LPOT_OK;
}

static void rel(void *ctx, void *model)
{
    ((synth_t *)ctx)->live--;
    free(model);
}

static const lpot_adaptor_iface_t iface = {
    .quantize = q, .evaluate = ev, .measure = meas, .inspect_error = insp, .release = rel};

static lpot_space_t *make_space(void)
{
    static const char *int8[] = {"int8"}, *act[] = {"uint8", "bf16", "fp32"}, *sym[] = {"sym"},
                      *pt[] = {"per_tensor"}, *mm[] = {"minmax", "kl"};
    lpot_op_cap_t caps[N];
    char names[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "op%d", i);
        caps[i] = (lpot_op_cap_t){.name = names[i], .type = "Conv", .has_weight = true};
        caps[i].weight.f[LPOT_F_DTYPE] = (lpot_strlist_t){1, int8};
        caps[i].weight.f[LPOT_F_SCHEME] = (lpot_strlist_t){1, sym};
        caps[i].weight.f[LPOT_F_GRANULARITY] = (lpot_strlist_t){1, pt};
        caps[i].weight.f[LPOT_F_ALGORITHM] = (lpot_strlist_t){1, mm};
        caps[i].activation.f[LPOT_F_DTYPE] = (lpot_strlist_t){3, act};
        caps[i].activation.f[LPOT_F_SCHEME] = (lpot_strlist_t){1, sym};
        caps[i].activation.f[LPOT_F_GRANULARITY] = (lpot_strlist_t){1, pt};
        caps[i].activation.f[LPOT_F_ALGORITHM] = (lpot_strlist_t){2, mm};
    }
    long sampling[] = {100};
    lpot_space_t *s = NULL;
    CHECK(lpot_space_create(caps, N, NULL, NULL, sampling, 1, &s) == LPOT_OK);
    return s;
}

static void init(synth_t *a, const lpot_space_t *s)
{
    memset(a, 0, sizeof *a);
    a->s = s;
    for (int i = 0; i < N; i++)
        a->d[i] = (i == 3 || i == 8) ? 0.012 : 1e-4;
}

static lpot_tune_opts_t opts_for(const char *strategy, double timeout, long max_trials,
                                 const char *journal, bool resume)
{
    return (lpot_tune_opts_t){.strategy = strategy, .higher_is_better = true, .relative = true,
                              .tolerance = 0.01, .weights = {1, 0, 0}, .timeout = timeout,
                              .max_trials = max_trials, .seed = 7, .journal_path = journal,
                              .resume = resume, .model_fingerprint = "c-synth"};
}

static const lpot_tune_result_t *run(lpot_tuner_t **t, const lpot_space_t *s, synth_t *a,
                                     lpot_tune_opts_t o)
{
    CHECK(lpot_tuner_create(s, (lpot_adaptor_t){&iface, a}, &o, t) == LPOT_OK);
    CHECK(lpot_tuner_run(*t) == LPOT_OK);
    return lpot_tuner_result(*t);
}

int main(void)
{
    lpot_space_t *s = make_space();
    CHECK(lpot_space_n_ops(s) == N && lpot_space_op(s, 0)->n_opts == 4);
    CHECK(lpot_space_fallback(s, 0, 0) == 2 && lpot_space_fallback(s, 0, 1) == 3);

    /* cfg encode/decode round trip */
    int32_t cfg[N + 1] = {0}, back[N + 1];
    cfg[3] = 2;
    cfg[11] = 3;
    char buf[128];
    size_t len = lpot_space_cfg_encode(s, cfg, buf, sizeof buf);
    CHECK(len == strlen(buf) && strcmp(buf, "0|0,0,0,2,0,0,0,0,0,0,0,3") == 0);
    CHECK(lpot_space_cfg_decode(s, buf, back) == LPOT_OK && !memcmp(cfg, back, sizeof cfg));
    CHECK(lpot_space_cfg_decode(s, "0|0,0", back) == LPOT_ERR_INVALID);
    CHECK(lpot_space_cfg_decode(s, "0|9,0,0,0,0,0,0,0,0,0,0,0", back) == LPOT_ERR_INVALID);

    /* basic with a budget: exactly the two sensitive ops fall back, to bf16 */
    synth_t a;
    init(&a, s);
    lpot_tuner_t *t;
    const lpot_tune_result_t *r = run(&t, s, &a, opts_for("basic", 1e6, 0, NULL, false));
    CHECK(r->found && r->stop == LPOT_STOP_EXHAUSTED && r->evaluations == a.evals);
    for (int i = 0; i < N; i++)
        CHECK((r->best_cfg[i] == 2) == (i == 3 || i == 8));
    int32_t best[N + 1];
    memcpy(best, r->best_cfg, sizeof best);
    long full_evals = a.evals;
    void *m = lpot_tuner_take_best_model(t);
    lpot_tuner_destroy(t);
    CHECK(a.live == 1);
    rel(&a, m);

    /* journal: stop after 3 trials, resume, same answer, nothing re-run */
    char path[] = "/tmp/lpot_c_journal_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    init(&a, s);
    r = run(&t, s, &a, opts_for("basic", 1e6, 3, path, false));
    CHECK(r->stop == LPOT_STOP_MAX_TRIALS && r->trials == 3 && a.evals == 4);
    lpot_tuner_destroy(t);
    init(&a, s);
    r = run(&t, s, &a, opts_for("basic", 1e6, 0, path, true));
    CHECK(r->found && !memcmp(r->best_cfg, best, sizeof best));
    CHECK(r->replayed == 4 && a.evals == full_evals - 4);
    lpot_tuner_destroy(t);
    CHECK(a.live == 0);
    /* a different tuning setup is refused */
    init(&a, s);
    lpot_tune_opts_t o = opts_for("basic", 1e6, 0, path, true);
    o.tolerance = 0.02;
    CHECK(lpot_tuner_create(s, (lpot_adaptor_t){&iface, &a}, &o, &t) == LPOT_OK);
    CHECK(lpot_tuner_run(t) == LPOT_ERR_TUNING);
    CHECK(strstr(lpot_last_error(), "different tuning options") != NULL);
    lpot_tuner_destroy(t);
    unlink(path);

    /* every strategy runs within max_trials and finds a passing config */
    for (const char *const *n = lpot_strategy_names(); *n; n++) {
        init(&a, s);
        r = run(&t, s, &a, opts_for(*n, 0, 200, NULL, false));
        CHECK(r->trials <= 200 && a.evals == r->evaluations);
        if (strcmp(*n, "exhaustive") != 0)
            CHECK(r->found && r->stop == LPOT_STOP_PASSED);
        lpot_tuner_destroy(t);
        CHECK(a.live == 0);
    }
    lpot_space_destroy(s);
    printf("ok %d\n", checks);
    return 0;
}
