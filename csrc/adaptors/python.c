/* Binding layer: a Python adaptor object behind the adaptor iface. */
#include "adaptors/python.h"
#include "npy.h"

#include <math.h>

#include "tune.h"

struct lpot_py_adaptor {
    PyObject *adaptor, *fp32_model;
    PyObject *quantize, *evaluate, *inspect; /* bound methods (inspect may be NULL) */
    PyObject *measure[LPOT_OBJ_COUNT];       /* bound methods or NULL */
    PyObject *progress;                      /* callable or NULL */
    PyObject *keys;                          /* tuple of (name, type) per op */
    PyObject *opts;                          /* tuple per op of tuple of option dicts */
    PyObject *names;                         /* list of op names */
    PyObject *fp32_tensors;                  /* inspect_tensor(fp32) cache */
    PyObject *sampling;                      /* tuple of ints */
    const lpot_space_t *space;
    bool interrupted;
    lpot_adaptor_iface_t iface;
};

static const char *const measure_names[LPOT_OBJ_COUNT] = {"benchmark", "model_size",
                                                          "footprint"};
static const char *const field_names[LPOT_F_COUNT] = {"dtype", "scheme", "granularity",
                                                      "algorithm"};
static const char *const prec_names[] = {"int8", "bf16", "fp32"};

/* ---- Python views of options and cfgs ----------------------------------- */

static PyObject *tensor_dict(const lpot_tensor_opt_t *t)
{
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (int f = 0; f < LPOT_F_COUNT; f++) {
        if (t->f[f] == NULL)
            continue;
        PyObject *v = PyUnicode_FromString(t->f[f]);
        if (v == NULL || PyDict_SetItemString(d, field_names[f], v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

PyObject *lpot_py_option_dict(const lpot_space_op_t *op, size_t j, int with_precision)
{
    const lpot_op_opt_t *o = &op->opts[j];
    PyObject *w = op->has_weight ? tensor_dict(&o->weight) : Py_NewRef(Py_None);
    PyObject *a = tensor_dict(&o->activation);
    PyObject *d = NULL;
    if (w && a) {
        if (with_precision)
            d = Py_BuildValue("{s:O,s:O,s:s}", "weight", w, "activation", a, "precision",
                              prec_names[o->prec]);
        else
            d = Py_BuildValue("{s:O,s:O}", "weight", w, "activation", a);
    }
    Py_XDECREF(w);
    Py_XDECREF(a);
    return d;
}

static PyObject *build_tune_cfg(const lpot_space_t *s, const int32_t *cfg, PyObject *keys,
                                PyObject *opts)
{
    size_t n = lpot_space_n_ops(s);
    PyObject *ops = PyDict_New(), *res = NULL;
    if (ops == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const lpot_space_op_t *op = lpot_space_op(s, i);
        PyObject *k, *v;
        if (keys) {
            k = Py_NewRef(PyTuple_GET_ITEM(keys, i));
            v = Py_NewRef(PyTuple_GET_ITEM(PyTuple_GET_ITEM(opts, i), cfg[i]));
        } else {
            k = Py_BuildValue("(ss)", op->name, op->type);
            v = lpot_py_option_dict(op, (size_t)cfg[i], 0);
        }
        int rc = (k && v) ? PyDict_SetItem(ops, k, v) : -1;
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (rc < 0)
            goto cleanup;
    }
    res = Py_BuildValue("{s:l,s:O}", "calib_sampling_size",
                        lpot_space_sampling(s, (size_t)cfg[n]), "op", ops);
cleanup:
    Py_DECREF(ops);
    return res;
}

PyObject *lpot_py_tune_cfg(const lpot_space_t *space, const int32_t *cfg)
{
    return build_tune_cfg(space, cfg, NULL, NULL);
}

PyObject *lpot_py_cfg_list(const lpot_space_t *space, const int32_t *cfg)
{
    size_t len = lpot_space_cfg_len(space);
    PyObject *l = PyList_New((Py_ssize_t)len);
    if (l == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        PyObject *v = PyLong_FromLong(cfg[i]);
        if (v == NULL) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, v);
    }
    return l;
}

int lpot_py_cfg_parse(const lpot_space_t *space, PyObject *obj, int32_t *cfg)
{
    size_t len = lpot_space_cfg_len(space);
    PyObject *seq = PySequence_Fast(obj, "a configuration must be a sequence of ints");
    if (seq == NULL)
        return -1;
    int rc = -1;
    if ((size_t)PySequence_Fast_GET_SIZE(seq) != len) {
        PyErr_Format(PyExc_ValueError,
                     "a configuration has %zu entries (one option index per op, then the "
                     "sampling-size index), got %zd", len, PySequence_Fast_GET_SIZE(seq));
        goto cleanup;
    }
    for (size_t i = 0; i < len; i++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, (Py_ssize_t)i));
        if (v == -1 && PyErr_Occurred())
            goto cleanup;
        cfg[i] = v < 0 || v > INT32_MAX ? -1 : (int32_t)v;
    }
    if (!lpot_space_cfg_valid(space, cfg)) {
        PyErr_SetString(PyExc_ValueError,
                        "configuration out of range: an option index is not below the op's "
                        "option count (or the sampling index is out of range)");
        goto cleanup;
    }
    rc = 0;
cleanup:
    Py_DECREF(seq);
    return rc;
}

PyObject *lpot_py_model(void *model) { return Py_NewRef((PyObject *)model); }

/* ---- failures ----------------------------------------------------------- */

/* 0 with *out NULL when obj has no attribute name; -1 on other errors. */
static int optional_attr(PyObject *obj, const char *name, PyObject **out)
{
    *out = PyObject_GetAttrString(obj, name);
    if (*out != NULL)
        return 0;
    if (!PyErr_ExceptionMatches(PyExc_AttributeError))
        return -1;
    PyErr_Clear();
    return 0;
}

static PyObject *fetch_exc(void)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb && v)
        PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
}

static void restore_exc(PyObject *v)
{
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(v)), v, PyException_GetTraceback(v));
}

void lpot_py_annotate(const char *fmt, const char *what, long trial)
{
    PyObject *exc = fetch_exc();
    PyObject *note = PyUnicode_FromFormat(fmt, what, trial);
    if (note && PyObject_HasAttrString(exc, "add_note")) { /* Python >= 3.11 */
        PyObject *r = PyObject_CallMethod(exc, "add_note", "O", note);
        Py_XDECREF(r);
        if (r == NULL)
            PyErr_Clear();
    } else {
        PyErr_Clear();
    }
    Py_XDECREF(note);
    restore_exc(exc);
}

/* An exception is set: note where it came from, or swallow an interrupt. */
static lpot_status_t failed(lpot_py_adaptor_t *a, const char *what, long trial)
{
    if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        PyErr_Clear();
        a->interrupted = true;
        return LPOT_ERR_PYTHON;
    }
    lpot_py_annotate(trial > 0 ? "lpot: raised by %s during tuning trial %ld"
                               : "lpot: raised by %s during the fp32 baseline (trial %ld)",
                     what, trial);
    return LPOT_ERR_PYTHON;
}

static lpot_status_t to_double(lpot_py_adaptor_t *a, PyObject *r, const char *what, long trial,
                               double *out)
{
    if (r == NULL)
        return failed(a, what, trial);
    *out = PyFloat_AsDouble(r);
    Py_DECREF(r);
    if (*out == -1.0 && PyErr_Occurred()) {
        PyObject *exc = fetch_exc();
        PyErr_Format(PyExc_TypeError, "%s must return a number", what);
        PyObject *cur = fetch_exc();
        PyException_SetCause(cur, exc);
        restore_exc(cur);
        return failed(a, what, trial);
    }
    return LPOT_OK;
}

/* ---- the iface ------------------------------------------------------------ */

static lpot_status_t py_quantize(void *ctx, const lpot_space_t *space, const int32_t *cfg,
                                 long trial, void **model)
{
    lpot_py_adaptor_t *a = ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    lpot_status_t st = LPOT_OK;
    PyObject *tc = build_tune_cfg(space, cfg, a->keys, a->opts);
    PyObject *m = tc ? PyObject_CallOneArg(a->quantize, tc) : NULL;
    Py_XDECREF(tc);
    if (m == Py_None) { /* NULL handles mean the fp32 model to the loop */
        Py_CLEAR(m);
        PyErr_SetString(PyExc_TypeError, "adaptor.quantize returned None instead of a model");
    }
    if (m == NULL)
        st = failed(a, "adaptor.quantize", trial);
    *model = m;
    PyGILState_Release(g);
    return st;
}

static lpot_status_t py_evaluate(void *ctx, void *model, long trial, double *acc)
{
    lpot_py_adaptor_t *a = ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *m = model ? (PyObject *)model : a->fp32_model;
    lpot_status_t st = to_double(a, PyObject_CallOneArg(a->evaluate, m), "adaptor.evaluate",
                                 trial, acc);
    PyGILState_Release(g);
    return st;
}

static lpot_status_t py_measure(void *ctx, void *model, lpot_objective_t obj, long trial,
                                double *value)
{
    lpot_py_adaptor_t *a = ctx;
    *value = NAN;
    if (a->measure[obj] == NULL)
        return LPOT_OK;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *m = model ? (PyObject *)model : a->fp32_model;
    char what[64];
    snprintf(what, sizeof what, "adaptor.%s", measure_names[obj]);
    lpot_status_t st = to_double(a, PyObject_CallOneArg(a->measure[obj], m), what, trial, value);
    PyGILState_Release(g);
    return st;
}

/* normalised MSE of q against f: sum((q-f)^2) / sum(f^2) */
static double nmse(PyObject *fo, PyObject *qo)
{
    double r = NAN;
    PyArrayObject *f = (PyArrayObject *)PyArray_FROMANY(fo, NPY_FLOAT64, 0, 0,
                                                        NPY_ARRAY_CARRAY_RO);
    PyArrayObject *q = f ? (PyArrayObject *)PyArray_FROMANY(qo, NPY_FLOAT64, 0, 0,
                                                            NPY_ARRAY_CARRAY_RO)
                         : NULL;
    if (f && q && PyArray_SIZE(f) == PyArray_SIZE(q) && PyArray_SIZE(f) > 0) {
        const double *pf = PyArray_DATA(f), *pq = PyArray_DATA(q);
        double num = 0, den = 0;
        for (npy_intp i = 0; i < PyArray_SIZE(f); i++) {
            double d = pq[i] - pf[i];
            num += d * d;
            den += pf[i] * pf[i];
        }
        r = num / (den > 0 ? den : 1e-30);
    }
    PyErr_Clear();
    Py_XDECREF(f);
    Py_XDECREF(q);
    return r;
}

static lpot_status_t py_inspect(void *ctx, void *model, const lpot_space_t *space, long trial,
                                double *err)
{
    lpot_py_adaptor_t *a = ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    lpot_status_t st = LPOT_OK;
    PyObject *q = NULL;
    if (a->fp32_tensors == NULL) {
        a->fp32_tensors = PyObject_CallFunctionObjArgs(a->inspect, a->fp32_model, a->names, NULL);
        if (a->fp32_tensors == NULL) {
            st = failed(a, "adaptor.inspect_tensor", trial);
            goto cleanup;
        }
    }
    q = PyObject_CallFunctionObjArgs(a->inspect, (PyObject *)model, a->names, NULL);
    if (q == NULL) {
        st = failed(a, "adaptor.inspect_tensor", trial);
        goto cleanup;
    }
    if (!PyDict_Check(q) || !PyDict_Check(a->fp32_tensors)) {
        PyErr_SetString(PyExc_TypeError, "adaptor.inspect_tensor must return a dict "
                        "{op_name: array}");
        st = failed(a, "adaptor.inspect_tensor", trial);
        goto cleanup;
    }
    for (size_t i = 0; i < lpot_space_n_ops(space); i++) {
        PyObject *name = PyList_GET_ITEM(a->names, (Py_ssize_t)i);
        PyObject *fv = PyDict_GetItemWithError(a->fp32_tensors, name);
        PyObject *qv = fv ? PyDict_GetItemWithError(q, name) : NULL;
        if (PyErr_Occurred()) {
            st = failed(a, "adaptor.inspect_tensor", trial);
            goto cleanup;
        }
        err[i] = qv ? nmse(fv, qv) : NAN;
    }
cleanup:
    Py_XDECREF(q);
    PyGILState_Release(g);
    return st;
}

static lpot_status_t py_poll(void *ctx)
{
    lpot_py_adaptor_t *a = ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    lpot_status_t st = PyErr_CheckSignals() < 0 ? failed(a, "a signal handler", 0) : LPOT_OK;
    PyGILState_Release(g);
    return st;
}

static PyObject *measures_dict(const double *m)
{
    return Py_BuildValue("{s:d,s:d,s:d}", "performance", m[LPOT_OBJ_PERFORMANCE], "modelsize",
                         m[LPOT_OBJ_MODELSIZE], "footprint", m[LPOT_OBJ_FOOTPRINT]);
}

static lpot_status_t py_on_trial(void *ctx, const struct lpot_tuner *t,
                                 const struct lpot_trial *tr)
{
    lpot_py_adaptor_t *a = ctx;
    if (a->progress == NULL)
        return LPOT_OK;
    PyGILState_STATE g = PyGILState_Ensure();
    lpot_status_t st = LPOT_OK;
    const lpot_tune_result_t *r = lpot_tuner_result(t);
    PyObject *cfg = tr->cfg ? lpot_py_cfg_list(a->space, tr->cfg) : Py_NewRef(Py_None);
    PyObject *meas = measures_dict(tr->measures);
    PyObject *d = NULL, *res = NULL;
    if (cfg && meas)
        d = Py_BuildValue(
            "{s:l,s:d,s:O,s:O,s:O,s:d,s:d,s:O,s:O,s:d,s:d,s:O,s:d,s:d,s:l,s:O}", "trial",
            tr->trial, "accuracy", tr->accuracy, "evaluated", tr->evaluated ? Py_True : Py_False,
            "passed", tr->passed ? Py_True : Py_False, "replayed",
            tr->replayed ? Py_True : Py_False, "seconds", tr->seconds, "score", tr->score,
            "measures", meas, "cfg", cfg, "baseline", r->baseline, "target", r->target, "found",
            r->found ? Py_True : Py_False, "best_accuracy", r->best.accuracy, "elapsed",
            lpot_tuner_elapsed(t), "evaluations", r->evaluations, "best_passed",
            r->best.passed ? Py_True : Py_False);
    if (d)
        res = PyObject_CallOneArg(a->progress, d);
    if (res == NULL)
        st = failed(a, "the progress callback", tr->trial);
    Py_XDECREF(res);
    Py_XDECREF(d);
    Py_XDECREF(cfg);
    Py_XDECREF(meas);
    PyGILState_Release(g);
    return st;
}

static bool py_interrupted(void *ctx) { return ((lpot_py_adaptor_t *)ctx)->interrupted; }

static void py_release(void *ctx, void *model)
{
    (void)ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    Py_XDECREF((PyObject *)model);
    PyGILState_Release(g);
}

/* ---- create / destroy ------------------------------------------------------ */

static PyObject *method(PyObject *obj, const char *name, bool required)
{
    PyObject *m;
    if (optional_attr(obj, name, &m) < 0)
        return NULL;
    if (m == Py_None && !required)
        Py_CLEAR(m); /* attribute set to None: absent */
    if (m == NULL && required)
        PyErr_Format(PyExc_TypeError, "the adaptor has no %s() method", name);
    else if (m != NULL && !PyCallable_Check(m)) {
        PyErr_Format(PyExc_TypeError, "adaptor.%s is not callable", name);
        Py_CLEAR(m);
    }
    return m;
}

lpot_py_adaptor_t *lpot_py_adaptor_create(PyObject *adaptor, const lpot_space_t *space,
                                          PyObject *progress)
{
    lpot_py_adaptor_t *a = PyMem_Calloc(1, sizeof *a);
    if (a == NULL)
        return (lpot_py_adaptor_t *)PyErr_NoMemory();
    size_t n = lpot_space_n_ops(space);
    a->space = space;
    a->adaptor = Py_NewRef(adaptor);
    a->progress = progress && progress != Py_None ? Py_NewRef(progress) : NULL;
    if (optional_attr(adaptor, "fp32_model", &a->fp32_model) < 0)
        goto error;
    if (a->fp32_model == NULL) {
        PyErr_SetString(PyExc_TypeError, "the adaptor has no fp32_model attribute");
        goto error;
    }
    if ((a->quantize = method(adaptor, "quantize", true)) == NULL ||
        (a->evaluate = method(adaptor, "evaluate", true)) == NULL)
        goto error;
    a->inspect = method(adaptor, "inspect_tensor", false);
    for (int k = 0; k < LPOT_OBJ_COUNT && !PyErr_Occurred(); k++)
        a->measure[k] = method(adaptor, measure_names[k], false);
    if (PyErr_Occurred())
        goto error;
    a->keys = PyTuple_New((Py_ssize_t)n);
    a->opts = PyTuple_New((Py_ssize_t)n);
    a->names = PyList_New((Py_ssize_t)n);
    if (!a->keys || !a->opts || !a->names)
        goto error;
    for (size_t i = 0; i < n; i++) {
        const lpot_space_op_t *op = lpot_space_op(space, i);
        PyObject *k = Py_BuildValue("(ss)", op->name, op->type);
        PyObject *name = PyUnicode_FromString(op->name);
        PyObject *o = PyTuple_New((Py_ssize_t)op->n_opts);
        if (k)
            PyTuple_SET_ITEM(a->keys, (Py_ssize_t)i, k);
        if (name)
            PyList_SET_ITEM(a->names, (Py_ssize_t)i, name);
        if (o)
            PyTuple_SET_ITEM(a->opts, (Py_ssize_t)i, o);
        if (!k || !name || !o)
            goto error;
        for (size_t j = 0; j < op->n_opts; j++) {
            PyObject *d = lpot_py_option_dict(op, j, 0);
            if (d == NULL)
                goto error;
            PyTuple_SET_ITEM(o, (Py_ssize_t)j, d);
        }
    }
    a->iface = (lpot_adaptor_iface_t){
        .quantize = py_quantize,
        .evaluate = py_evaluate,
        .measure = py_measure,
        .inspect_error = a->inspect ? py_inspect : NULL,
        .poll = py_poll,
        .on_trial = py_on_trial,
        .interrupted = py_interrupted,
        .release = py_release,
    };
    return a;
error:
    lpot_py_adaptor_destroy(a);
    return NULL;
}

lpot_adaptor_t lpot_py_adaptor_get(lpot_py_adaptor_t *a)
{
    return (lpot_adaptor_t){.iface = &a->iface, .context = a};
}

void lpot_py_adaptor_destroy(lpot_py_adaptor_t *a)
{
    if (a == NULL)
        return;
    Py_XDECREF(a->adaptor);
    Py_XDECREF(a->fp32_model);
    Py_XDECREF(a->quantize);
    Py_XDECREF(a->evaluate);
    Py_XDECREF(a->inspect);
    for (int k = 0; k < LPOT_OBJ_COUNT; k++)
        Py_XDECREF(a->measure[k]);
    Py_XDECREF(a->progress);
    Py_XDECREF(a->keys);
    Py_XDECREF(a->opts);
    Py_XDECREF(a->names);
    Py_XDECREF(a->fp32_tensors);
    Py_XDECREF(a->sampling);
    PyMem_Free(a);
}
