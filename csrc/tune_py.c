/* Binding layer: the tuning space as a Python type and the tuning entry
 * point. See tune_space.h, tune.h, adaptors/python.h. */
#include "tune_py.h"

#include <math.h>
#include <stdlib.h>

#include "adaptors/python.h"
#include "errors.h"
#include "strategy/python_py.h"
#include "strategy/strategy.h"
#include "tune.h"
#include "tune_space.h"

typedef struct {
    PyObject_HEAD
    lpot_space_t *space;
} space_obj;

static const char *const fields[LPOT_F_COUNT] = {"dtype", "scheme", "granularity", "algorithm"};

/* ---- parsing dicts into C specs ------------------------------------------ */

typedef struct {
    void **p;
    size_t n, cap;
} pool_t;

static void *pool_alloc(pool_t *pl, size_t bytes)
{
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? 2 * pl->cap : 64;
        void **p = PyMem_Realloc(pl->p, cap * sizeof *p);
        if (p == NULL)
            return PyErr_NoMemory();
        pl->p = p;
        pl->cap = cap;
    }
    void *m = PyMem_Malloc(bytes ? bytes : 1);
    if (m == NULL)
        return PyErr_NoMemory();
    return pl->p[pl->n++] = m;
}

static void pool_free(pool_t *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        PyMem_Free(pl->p[i]);
    PyMem_Free(pl->p);
}

/* value: str or sequence of str -> list */
static int parse_list(pool_t *pl, PyObject *v, const char *where, const char *field,
                      lpot_strlist_t *out)
{
    if (PyUnicode_Check(v)) {
        const char **a = pool_alloc(pl, sizeof *a);
        if (a == NULL || (a[0] = PyUnicode_AsUTF8(v)) == NULL)
            return -1;
        out->n = 1;
        out->v = a;
        return 0;
    }
    PyObject *seq = PySequence_Fast(v, "");
    if (seq == NULL) {
        PyErr_Format(PyExc_TypeError, "%s.%s: expected a string or a list of strings, got %s",
                     where, field, Py_TYPE(v)->tp_name);
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    const char **a = pool_alloc(pl, (size_t)n * sizeof *a);
    int rc = a ? 0 : -1;
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
        PyObject *it = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyUnicode_Check(it)) {
            PyErr_Format(PyExc_TypeError, "%s.%s: expected strings, got %s", where, field,
                         Py_TYPE(it)->tp_name);
            rc = -1;
        } else if ((a[i] = PyUnicode_AsUTF8(it)) == NULL) {
            rc = -1;
        }
    }
    Py_DECREF(seq); /* items stay alive in v */
    out->n = (size_t)n;
    out->v = a;
    return rc;
}

static int parse_spec(pool_t *pl, PyObject *d, const char *where, bool capability,
                      lpot_tensor_spec_t *out)
{
    memset(out, 0, sizeof *out);
    if (d == NULL || d == Py_None)
        return 0;
    if (!PyDict_Check(d)) {
        PyErr_Format(PyExc_TypeError, "%s: expected a dict, got %s", where, Py_TYPE(d)->tp_name);
        return -1;
    }
    for (int f = 0; f < LPOT_F_COUNT; f++) {
        PyObject *v = PyDict_GetItemString(d, fields[f]);
        if (v == NULL) {
            if (capability) { /* capability without the field: no value */
                const char **a = pool_alloc(pl, sizeof *a);
                if (a == NULL)
                    return -1;
                out->f[f].v = a;
                out->f[f].n = 0;
            }
            continue;
        }
        if (parse_list(pl, v, where, fields[f], &out->f[f]) < 0)
            return -1;
    }
    return 0;
}

static int parse_filter(pool_t *pl, PyObject *d, const char *where, lpot_op_filter_t *out)
{
    memset(out, 0, sizeof *out);
    if (d == NULL || d == Py_None)
        return 0;
    if (!PyDict_Check(d)) {
        PyErr_Format(PyExc_TypeError, "%s: expected a dict {weight:..., activation:...}", where);
        return -1;
    }
    char w[256];
    out->set = true;
    snprintf(w, sizeof w, "%s.weight", where);
    if (parse_spec(pl, PyDict_GetItemString(d, "weight"), w, false, &out->weight) < 0)
        return -1;
    snprintf(w, sizeof w, "%s.activation", where);
    return parse_spec(pl, PyDict_GetItemString(d, "activation"), w, false, &out->activation);
}

static PyObject *space_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"ops", "model_wise", "op_wise", "sampling_sizes", NULL};
    PyObject *ops, *mw = Py_None, *ow = Py_None, *ss = NULL, *seq = NULL, *ssq = NULL;
    lpot_state *st = lpot_state_from_type(type);
    if (st == NULL)
        return NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOO:TuningSpace", kwlist, &ops, &mw, &ow,
                                     &ss))
        return NULL;
    pool_t pl = {0};
    space_obj *self = NULL;
    lpot_op_cap_t *caps = NULL;
    lpot_op_filter_t *filters = NULL, model_wise;
    long *sampling = NULL;
    if ((seq = PySequence_Fast(ops, "ops: expected a list of op capability dicts")) == NULL)
        goto cleanup;
    size_t n = (size_t)PySequence_Fast_GET_SIZE(seq);
    caps = pool_alloc(&pl, n * sizeof *caps);
    filters = pool_alloc(&pl, n * sizeof *filters);
    if (caps == NULL || filters == NULL)
        goto cleanup;
    memset(filters, 0, n * sizeof *filters);
    for (size_t i = 0; i < n; i++) {
        PyObject *d = PySequence_Fast_GET_ITEM(seq, (Py_ssize_t)i);
        char where[64];
        snprintf(where, sizeof where, "ops[%zu]", i);
        PyObject *name = PyDict_Check(d) ? PyDict_GetItemString(d, "name") : NULL;
        PyObject *typ = PyDict_Check(d) ? PyDict_GetItemString(d, "type") : NULL;
        if (name == NULL || !PyUnicode_Check(name) || (typ && !PyUnicode_Check(typ))) {
            PyErr_Format(PyExc_TypeError, "%s: expected a dict with a 'name' string (and a "
                         "'type' string)", where);
            goto cleanup;
        }
        caps[i].name = PyUnicode_AsUTF8(name);
        caps[i].type = typ ? PyUnicode_AsUTF8(typ) : "";
        if (caps[i].name == NULL || caps[i].type == NULL)
            goto cleanup;
        PyObject *w = PyDict_GetItemString(d, "weight");
        caps[i].has_weight = w != NULL && w != Py_None;
        char sub[96];
        snprintf(sub, sizeof sub, "%s.weight", where);
        if (parse_spec(&pl, w, sub, true, &caps[i].weight) < 0)
            goto cleanup;
        snprintf(sub, sizeof sub, "%s.activation", where);
        PyObject *a = PyDict_GetItemString(d, "activation");
        if (a == NULL) {
            PyErr_Format(PyExc_TypeError, "%s (%s): no 'activation' capability", where,
                         caps[i].name);
            goto cleanup;
        }
        if (parse_spec(&pl, a, sub, true, &caps[i].activation) < 0)
            goto cleanup;
    }
    if (parse_filter(&pl, mw, "model_wise", &model_wise) < 0)
        goto cleanup;
    if (ow != Py_None) {
        if (!PyDict_Check(ow)) {
            PyErr_SetString(PyExc_TypeError, "op_wise: expected a dict {op name: {...}}");
            goto cleanup;
        }
        PyObject *k, *v;
        Py_ssize_t pos = 0;
        while (PyDict_Next(ow, &pos, &k, &v)) {
            const char *key = PyUnicode_Check(k) ? PyUnicode_AsUTF8(k) : NULL;
            if (key == NULL) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_TypeError, "op_wise: keys must be op names");
                goto cleanup;
            }
            size_t i = 0;
            while (i < n && strcmp(caps[i].name, key) != 0)
                i++;
            if (i == n) {
                lpot_raise(st, LPOT_ERR_CONFIG, "op_wise: the model has no op named '%s'", key);
                goto cleanup;
            }
            char where[300];
            snprintf(where, sizeof where, "op_wise['%s']", key);
            if (parse_filter(&pl, v, where, &filters[i]) < 0)
                goto cleanup;
        }
    }
    size_t n_s = 1;
    if (ss != NULL) {
        if ((ssq = PySequence_Fast(ss, "sampling_sizes: expected a list of ints")) == NULL)
            goto cleanup;
        n_s = (size_t)PySequence_Fast_GET_SIZE(ssq);
    }
    sampling = pool_alloc(&pl, n_s * sizeof *sampling);
    if (sampling == NULL)
        goto cleanup;
    sampling[0] = 100;
    for (size_t i = 0; ssq && i < n_s; i++) {
        sampling[i] = PyLong_AsLong(PySequence_Fast_GET_ITEM(ssq, (Py_ssize_t)i));
        if (sampling[i] == -1 && PyErr_Occurred())
            goto cleanup;
    }
    self = (space_obj *)type->tp_alloc(type, 0);
    if (self == NULL)
        goto cleanup;
    lpot_status_t s = lpot_space_create(caps, n, &model_wise, filters, sampling, n_s,
                                        &self->space);
    if (s != LPOT_OK) {
        Py_CLEAR(self);
        lpot_raise_status(st, s);
    }
cleanup:
    Py_XDECREF(seq);
    Py_XDECREF(ssq);
    pool_free(&pl);
    return (PyObject *)self;
}

static void space_dealloc(PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    lpot_space_destroy(((space_obj *)o)->space);
    tp->tp_free(o);
    Py_DECREF(tp);
}

static Py_ssize_t space_len(PyObject *o)
{
    return (Py_ssize_t)lpot_space_n_ops(((space_obj *)o)->space);
}

static Py_ssize_t op_index(const lpot_space_t *s, PyObject *op)
{
    size_t n = lpot_space_n_ops(s);
    if (PyUnicode_Check(op)) {
        const char *name = PyUnicode_AsUTF8(op);
        if (name == NULL)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (strcmp(lpot_space_op(s, i)->name, name) == 0)
                return (Py_ssize_t)i;
        PyErr_Format(PyExc_KeyError, "no op named '%s' in the tuning space", name);
        return -1;
    }
    Py_ssize_t i = PyNumber_AsSsize_t(op, PyExc_IndexError);
    if (i == -1 && PyErr_Occurred())
        return -1;
    if (i < 0 || (size_t)i >= n) {
        PyErr_Format(PyExc_IndexError, "op index %zd out of range (%zu ops)", i, n);
        return -1;
    }
    return i;
}

static PyObject *space_options(PyObject *o, PyObject *op)
{
    const lpot_space_t *s = ((space_obj *)o)->space;
    Py_ssize_t i = op_index(s, op);
    if (i < 0)
        return NULL;
    const lpot_space_op_t *sop = lpot_space_op(s, (size_t)i);
    PyObject *l = PyList_New((Py_ssize_t)sop->n_opts);
    for (size_t j = 0; l && j < sop->n_opts; j++) {
        PyObject *d = lpot_py_option_dict(sop, j, 1);
        if (d == NULL) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)j, d);
    }
    return l;
}

static PyObject *space_op(PyObject *o, PyObject *op)
{
    const lpot_space_t *s = ((space_obj *)o)->space;
    Py_ssize_t i = op_index(s, op);
    if (i < 0)
        return NULL;
    const lpot_space_op_t *sop = lpot_space_op(s, (size_t)i);
    return Py_BuildValue("{s:s,s:s,s:n,s:n,s:i,s:i}", "name", sop->name, "type", sop->type,
                         "n_options", (Py_ssize_t)sop->n_opts, "n_quantized",
                         (Py_ssize_t)sop->n_quant, "bf16", (int)sop->bf16, "fp32",
                         (int)sop->fp32);
}

static PyObject *space_names(PyObject *o, void *closure)
{
    (void)closure;
    const lpot_space_t *s = ((space_obj *)o)->space;
    PyObject *l = PyList_New((Py_ssize_t)lpot_space_n_ops(s));
    for (size_t i = 0; l && i < lpot_space_n_ops(s); i++) {
        PyObject *v = PyUnicode_FromString(lpot_space_op(s, i)->name);
        if (v == NULL) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, v);
    }
    return l;
}

static PyObject *space_sampling(PyObject *o, void *closure)
{
    (void)closure;
    const lpot_space_t *s = ((space_obj *)o)->space;
    PyObject *l = PyList_New((Py_ssize_t)lpot_space_n_sampling(s));
    for (size_t i = 0; l && i < lpot_space_n_sampling(s); i++) {
        PyObject *v = PyLong_FromLong(lpot_space_sampling(s, i));
        if (v == NULL) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, v);
    }
    return l;
}

static PyObject *space_log10(PyObject *o, void *closure)
{
    (void)closure;
    return PyFloat_FromDouble(lpot_space_log10_size(((space_obj *)o)->space));
}

static PyObject *space_n_modelwise(PyObject *o, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(lpot_space_n_modelwise(((space_obj *)o)->space));
}

static PyObject *space_fingerprint(PyObject *o, void *closure)
{
    (void)closure;
    char buf[32];
    snprintf(buf, sizeof buf, "%016llx",
             (unsigned long long)lpot_space_hash(((space_obj *)o)->space));
    return PyUnicode_FromString(buf);
}

static PyObject *space_modelwise_cfg(PyObject *o, PyObject *args)
{
    const lpot_space_t *s = ((space_obj *)o)->space;
    Py_ssize_t k = 0, si = 0;
    if (!PyArg_ParseTuple(args, "|nn:modelwise_cfg", &k, &si))
        return NULL;
    if (k < 0 || (size_t)k >= lpot_space_n_modelwise(s) || si < 0 ||
        (size_t)si >= lpot_space_n_sampling(s))
        return PyErr_Format(PyExc_IndexError, "modelwise_cfg(%zd, %zd) out of range", k, si);
    int32_t *cfg = PyMem_Malloc(lpot_space_cfg_len(s) * sizeof *cfg);
    if (cfg == NULL)
        return PyErr_NoMemory();
    lpot_space_modelwise_cfg(s, (size_t)k, (size_t)si, cfg);
    PyObject *r = lpot_py_cfg_list(s, cfg);
    PyMem_Free(cfg);
    return r;
}

static PyObject *space_tune_cfg(PyObject *o, PyObject *arg)
{
    const lpot_space_t *s = ((space_obj *)o)->space;
    int32_t *cfg = PyMem_Malloc(lpot_space_cfg_len(s) * sizeof *cfg);
    if (cfg == NULL)
        return PyErr_NoMemory();
    PyObject *r = lpot_py_cfg_parse(s, arg, cfg) < 0 ? NULL : lpot_py_tune_cfg(s, cfg);
    PyMem_Free(cfg);
    return r;
}

static PyObject *space_fallback(PyObject *o, PyObject *args)
{
    const lpot_space_t *s = ((space_obj *)o)->space;
    PyObject *op;
    int stage = 0;
    if (!PyArg_ParseTuple(args, "O|i:fallback", &op, &stage))
        return NULL;
    Py_ssize_t i = op_index(s, op);
    if (i < 0)
        return NULL;
    return PyLong_FromLong(lpot_space_fallback(s, (size_t)i, stage != 0));
}

static PyMethodDef space_methods[] = {
    {"options", space_options, METH_O,
     "options(op) -> list of {'weight','activation','precision'}: op by index or name"},
    {"op", space_op, METH_O,
     "op(op) -> {'name','type','n_options','n_quantized','bf16','fp32'}"},
    {"modelwise_cfg", space_modelwise_cfg, METH_VARARGS,
     "modelwise_cfg(k=0, sampling_index=0) -> cfg of the k-th model-wise configuration"},
    {"tune_cfg", space_tune_cfg, METH_O,
     "tune_cfg(cfg) -> the dict an adaptor's quantize() receives"},
    {"fallback", space_fallback, METH_VARARGS,
     "fallback(op, stage=0) -> option index (stage 0: bf16 if allowed else fp32; 1: fp32), "
     "-1 if none"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef space_getset[] = {
    {"op_names", space_names, NULL, "op names, in model order", NULL},
    {"sampling_sizes", space_sampling, NULL, "calibration sampling sizes", NULL},
    {"log10_size", space_log10, NULL, "log10 of the number of configurations", NULL},
    {"n_modelwise", space_n_modelwise, NULL, "number of model-wise configurations", NULL},
    {"fingerprint", space_fingerprint, NULL, "hash of the space (hex)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(space_doc,
"TuningSpace(ops, model_wise=None, op_wise=None, sampling_sizes=(100,))\n\n"
"Per-op options: capability ∩ model_wise ∩ op_wise, then bf16 (if the\n"
"capability allows) and fp32. ops: [{'name', 'type', 'weight': {dtype, scheme,\n"
"granularity, algorithm} | None, 'activation': {...}}]; filters use the\n"
"same fields (a string or a list each); op_wise keys are op names (regexes\n"
"resolved by the caller). len() is the number of ops. A cfg is a list of\n"
"option indices, one per op, then the sampling-size index.");

static PyType_Slot space_slots[] = {
    {Py_tp_new, space_new},
    {Py_tp_dealloc, space_dealloc},
    {Py_sq_length, space_len},
    {Py_tp_methods, space_methods},
    {Py_tp_getset, space_getset},
    {Py_tp_doc, (void *)space_doc},
    {0, NULL},
};

static PyType_Spec space_spec = {
    .name = "lpot._engine.TuningSpace",
    .basicsize = sizeof(space_obj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = space_slots,
};

/* ---- _tune ---------------------------------------------------------------- */

static int opt_double(PyObject *d, const char *k, double def, double *out)
{
    PyObject *v = PyDict_GetItemString(d, k);
    *out = v ? PyFloat_AsDouble(v) : def;
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

static int opt_bool(PyObject *d, const char *k, bool def, bool *out)
{
    PyObject *v = PyDict_GetItemString(d, k);
    int r = v ? PyObject_IsTrue(v) : def;
    *out = r > 0;
    return r < 0 ? -1 : 0;
}

static PyObject *trial_dict(const lpot_trial_t *tr)
{
    return Py_BuildValue("{s:l,s:d,s:O,s:O,s:d,s:d,s:{s:d,s:d,s:d}}", "trial", tr->trial,
                         "accuracy", tr->accuracy, "evaluated", tr->evaluated ? Py_True : Py_False,
                         "passed", tr->passed ? Py_True : Py_False, "score", tr->score,
                         "seconds", tr->seconds, "measures", "performance",
                         tr->measures[LPOT_OBJ_PERFORMANCE], "modelsize",
                         tr->measures[LPOT_OBJ_MODELSIZE], "footprint",
                         tr->measures[LPOT_OBJ_FOOTPRINT]);
}

PyDoc_STRVAR(tune_doc,
"_tune(space, adaptor, options) -> dict\n\n"
"Run the tuning loop (see lpot.tuning.tune, which builds the options).");

static PyObject *tune(PyObject *module, PyObject *args)
{
    lpot_state *st = lpot_state_from_module(module);
    PyObject *space_o, *adaptor, *o;
    if (!PyArg_ParseTuple(args, "OOO!:_tune", &space_o, &adaptor, &PyDict_Type, &o))
        return NULL;
    if (!PyObject_TypeCheck(space_o, (PyTypeObject *)st->TuningSpaceType))
        return PyErr_Format(PyExc_TypeError, "_tune: space must be a TuningSpace");
    const lpot_space_t *space = ((space_obj *)space_o)->space;
    lpot_tune_opts_t opts = {0};
    double max_trials = 0, seed = 1978;
    PyObject *strategy = PyDict_GetItemString(o, "strategy");
    PyObject *journal = PyDict_GetItemString(o, "journal");
    PyObject *fp = PyDict_GetItemString(o, "model_fingerprint");
    PyObject *progress = PyDict_GetItemString(o, "progress");
    PyObject *weights = PyDict_GetItemString(o, "weights");
    if (opt_bool(o, "higher_is_better", true, &opts.higher_is_better) < 0 ||
        opt_bool(o, "relative", true, &opts.relative) < 0 ||
        opt_double(o, "tolerance", 0.01, &opts.tolerance) < 0 ||
        opt_double(o, "timeout", 0, &opts.timeout) < 0 ||
        opt_double(o, "max_trials", 100, &max_trials) < 0 ||
        opt_bool(o, "performance_only", false, &opts.performance_only) < 0 ||
        opt_double(o, "seed", 1978, &seed) < 0 || opt_bool(o, "resume", false, &opts.resume) < 0)
        return NULL;
    opts.max_trials = (long)max_trials;
    opts.seed = (uint64_t)seed;
    if (weights) {
        PyObject *w = PySequence_Fast(weights, "weights: expected 3 numbers");
        if (w == NULL)
            return NULL;
        for (Py_ssize_t k = 0; k < LPOT_OBJ_COUNT && k < PySequence_Fast_GET_SIZE(w); k++)
            opts.weights[k] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(w, k));
        Py_DECREF(w);
        if (PyErr_Occurred())
            return NULL;
    }
    if (strategy == NULL || PyUnicode_Check(strategy)) {
        opts.strategy = strategy ? PyUnicode_AsUTF8(strategy) : "basic";
        if (opts.strategy == NULL)
            return NULL;
    } else {
        PyObject *sn = PyDict_GetItemString(o, "strategy_name");
        opts.custom_strategy = &lpot_strategy_python;
        opts.custom_strategy_ctx = strategy;
        if (sn && (opts.strategy = PyUnicode_AsUTF8(sn)) == NULL)
            return NULL;
    }
    if (journal && journal != Py_None && (opts.journal_path = PyUnicode_AsUTF8(journal)) == NULL)
        return NULL;
    if (fp && fp != Py_None && (opts.model_fingerprint = PyUnicode_AsUTF8(fp)) == NULL)
        return NULL;

    lpot_py_adaptor_t *pa = lpot_py_adaptor_create(adaptor, space, progress);
    if (pa == NULL)
        return NULL;
    lpot_tuner_t *t = NULL;
    PyObject *res = NULL, *best_cfg = NULL, *best = NULL, *model = NULL;
    lpot_status_t s = lpot_tuner_create(space, lpot_py_adaptor_get(pa), &opts, &t);
    if (s != LPOT_OK) {
        lpot_raise_status(st, s);
        goto cleanup;
    }
    Py_BEGIN_ALLOW_THREADS
    s = lpot_tuner_run(t);
    Py_END_ALLOW_THREADS
    if (s != LPOT_OK) {
        lpot_raise_status(st, s);
        goto cleanup;
    }
    const lpot_tune_result_t *r = lpot_tuner_result(t);
    best_cfg = r->best_cfg ? lpot_py_cfg_list(space, r->best_cfg) : Py_NewRef(Py_None);
    best = r->best_cfg ? trial_dict(&r->best) : Py_NewRef(Py_None);
    void *m = lpot_tuner_take_best_model(t);
    model = m ? (PyObject *)m : Py_NewRef(Py_None); /* the reference is ours now */
    if (best_cfg && best)
        res = Py_BuildValue("{s:s,s:d,s:d,s:O,s:O,s:O,s:O,s:l,s:l,s:l,s:d}", "stop",
                            lpot_stop_name(r->stop), "baseline", r->baseline, "target", r->target,
                            "found", r->found ? Py_True : Py_False, "best_cfg", best_cfg, "best",
                            best, "best_model", model, "trials", r->trials, "evaluations",
                            r->evaluations, "replayed", r->replayed, "elapsed", r->elapsed);
cleanup:
    Py_XDECREF(best_cfg);
    Py_XDECREF(best);
    Py_XDECREF(model);
    lpot_tuner_destroy(t);
    lpot_py_adaptor_destroy(pa);
    return res;
}

static PyObject *strategies(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    PyObject *l = PyList_New(0);
    for (const char *const *n = lpot_strategy_names(); l && *n; n++) {
        PyObject *v = PyUnicode_FromString(*n);
        if (v == NULL || PyList_Append(l, v) < 0)
            Py_CLEAR(l);
        Py_XDECREF(v);
    }
    return l;
}

static PyMethodDef tune_methods[] = {
    {"_tune", tune, METH_VARARGS, tune_doc},
    {"_strategies", strategies, METH_NOARGS, "_strategies() -> names of the C strategies"},
    {NULL, NULL, 0, NULL},
};

int lpot_tune_exec(PyObject *module)
{
    lpot_state *st = lpot_state_from_module(module);
    st->TuningSpaceType = PyType_FromModuleAndSpec(module, &space_spec, NULL);
    if (st->TuningSpaceType == NULL ||
        PyModule_AddObjectRef(module, "TuningSpace", st->TuningSpaceType) < 0)
        return -1;
    return PyModule_AddFunctions(module, tune_methods);
}
