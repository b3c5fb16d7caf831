/* Binding: lpot._engine.Observer (heap type) and the quantization functions
 * quantize/dequantize/fake_quant/requantize/qparams. */
#include "module.h"
#include "npy.h"

#include <math.h>
#include <string.h>

#include "calib.h"
#include "errors.h"
#include "kernels/dispatch.h"
#include "observer_py.h"
#include "quant.h"
#include "tensor.h"

/* ---- arrays -> tensor views -------------------------------------------- */

/* An ndarray we can view, or a float32 copy of anything else (ints, float64,
 * lists). *owned is the array to DECREF. want_float: cast non-float input
 * to float32; else `raw` must be one of the raw types. */
static int is_bf16(PyArrayObject *a)
{
    PyArray_Descr *d = PyArray_DESCR(a);
    if (d->kind != 'V' || PyDataType_ELSIZE(d) != 2)
        return 0;
    const char *name = ((PyTypeObject *)d->typeobj)->tp_name;
    const char *dot = strrchr(name, '.');
    return strcmp(dot ? dot + 1 : name, "bfloat16") == 0;
}

static int to_tensor(lpot_state *st, PyObject *obj, const char *arg, int want_float,
                     lpot_tensor_t *t, PyArrayObject **owned)
{
    PyArrayObject *a = NULL;
    *owned = NULL;
    if (PyArray_Check(obj)) {
        a = (PyArrayObject *)obj;
        Py_INCREF(a);
    } else {
        a = (PyArrayObject *)PyArray_FROM_O(obj);
        if (a == NULL)
            return -1;
    }
    if (!PyArray_ISNOTSWAPPED(a) && PyArray_DESCR(a)->kind != 'V') { /* byte-swapped */
        PyArrayObject *c = (PyArrayObject *)PyArray_FROM_OTF(
            (PyObject *)a, PyArray_TYPE(a), NPY_ARRAY_NOTSWAPPED | NPY_ARRAY_FORCECAST);
        Py_DECREF(a);
        if (c == NULL)
            return -1;
        a = c;
    }
    int type = PyArray_TYPE(a);
    lpot_ttype_t tt;
    if (want_float) {
        if (type == NPY_FLOAT32)
            tt = LPOT_T_F32;
        else if (type == NPY_FLOAT16)
            tt = LPOT_T_F16;
        else if (is_bf16(a))
            tt = LPOT_T_BF16;
        else if (PyTypeNum_ISNUMBER(type) && !PyTypeNum_ISCOMPLEX(type)) {
            /* ints, bools, float64: documented float32 copy */
            PyArrayObject *c = (PyArrayObject *)PyArray_FROM_OTF((PyObject *)a, NPY_FLOAT32,
                                                                 NPY_ARRAY_FORCECAST);
            Py_DECREF(a);
            if (c == NULL)
                return -1;
            a = c;
            tt = LPOT_T_F32;
        } else {
            lpot_raise(st, LPOT_ERR_KERNEL, "%s: expected a real numeric array, got dtype %R",
                       arg, (PyObject *)PyArray_DESCR(a));
            Py_DECREF(a);
            return -1;
        }
    } else {
        if (type == NPY_UINT8)
            tt = LPOT_T_U8;
        else if (type == NPY_INT8)
            tt = LPOT_T_S8;
        else if (type == NPY_INT32)
            tt = LPOT_T_S32;
        else {
            PyObject *d = (PyObject *)PyArray_DESCR(a);
            lpot_raise(st, LPOT_ERR_KERNEL, "%s: expected a uint8/int8/int32 array, got dtype %R",
                       arg, d);
            Py_DECREF(a);
            return -1;
        }
    }
    int nd = PyArray_NDIM(a);
    if (nd > LPOT_MAX_DIMS) {
        Py_DECREF(a);
        lpot_raise(st, LPOT_ERR_KERNEL, "%s: %d dimensions (at most %d)", arg, nd, LPOT_MAX_DIMS);
        return -1;
    }
    npy_intp esz = (npy_intp)lpot_ttype_size(tt);
    int ok = ((uintptr_t)PyArray_DATA(a) % (uintptr_t)esz) == 0;
    for (int d = 0; d < nd && ok; d++)
        ok = PyArray_STRIDE(a, d) % esz == 0 || PyArray_DIM(a, d) <= 1;
    if (!ok) { /* misaligned views: rare; copy */
        PyArrayObject *c = (PyArrayObject *)PyArray_NewCopy(a, NPY_CORDER);
        Py_DECREF(a);
        if (c == NULL)
            return -1;
        a = c;
    }
    t->data = PyArray_DATA(a);
    t->type = tt;
    t->ndim = nd;
    for (int d = 0; d < nd; d++) {
        t->shape[d] = PyArray_DIM(a, d);
        t->strides[d] = PyArray_DIM(a, d) <= 1 ? esz : PyArray_STRIDE(a, d);
    }
    *owned = a;
    return 0;
}

static int norm_axis(lpot_state *st, PyObject *axis_obj, int ndim, int *axis)
{
    if (axis_obj == NULL || axis_obj == Py_None) {
        *axis = -1;
        return 0;
    }
    long a = PyLong_AsLong(axis_obj);
    if (a == -1 && PyErr_Occurred())
        return -1;
    if (a < -ndim || a >= ndim || ndim == 0) {
        lpot_raise(st, LPOT_ERR_INVALID, "axis: %ld is out of range for %d dimensions", a, ndim);
        return -1;
    }
    *axis = (int)(a < 0 ? a + ndim : a);
    return 0;
}

static size_t tensor_bytes(const lpot_tensor_t *t)
{
    return (size_t)lpot_tensor_numel(t) * lpot_ttype_size(t->type);
}

/* ---- option parsing ----------------------------------------------------- */

static int parse_qopts(lpot_state *st, const char *dtype, const char *scheme, int reduce_range,
                       int narrow, const char *conv, lpot_qopts_t *q)
{
    int dt = lpot_qdtype_from_name(dtype);
    if (dt < 0) {
        lpot_raise(st, LPOT_ERR_INVALID, "dtype: expected 'uint8' or 'int8', got '%s'", dtype);
        return -1;
    }
    int sym;
    if (strcmp(scheme, "asym") == 0)
        sym = 0;
    else if (strcmp(scheme, "sym") == 0)
        sym = 1;
    else {
        lpot_raise(st, LPOT_ERR_INVALID, "scheme: expected 'asym' or 'sym', got '%s'", scheme);
        return -1;
    }
    int cv = lpot_qconv_from_name(conv);
    if (cv < 0) {
        lpot_raise(st, LPOT_ERR_INVALID, "convention: expected 'onnx' or 'torch', got '%s'",
                   conv);
        return -1;
    }
    q->dtype = (lpot_qdtype_t)dt;
    q->symmetric = sym;
    q->reduce_range = reduce_range;
    q->narrow = narrow;
    q->conv = (lpot_qconv_t)cv;
    int32_t a, b;
    lpot_status_t s = lpot_qrange(q, &a, &b);
    if (s != LPOT_OK) {
        lpot_raise_status(st, s);
        return -1;
    }
    return 0;
}

/* ---- Observer ------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    lpot_obs_opts_t opts;
    PyObject *axis_arg; /* None or int as given */
    lpot_observer_t *obs; /* NULL until the first update (channels unknown) */
    int busy;
} ObserverObject;

static void obs_dealloc(PyObject *self)
{
    ObserverObject *o = (ObserverObject *)self;
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(o->axis_arg);
    lpot_observer_destroy(o->obs);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int obs_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((ObserverObject *)self)->axis_arg);
    return 0;
}

static int obs_init(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"algorithm", "dtype", "scheme", "axis", "reduce_range", "narrow",
                             "convention", "bins", "percentile", "averaging_constant", NULL};
    ObserverObject *o = (ObserverObject *)self;
    lpot_state *st = lpot_state_from_type(Py_TYPE(self));
    const char *algo = "minmax", *dtype = "uint8", *scheme = "asym", *conv = "onnx";
    PyObject *axis = Py_None;
    int rr = 0, narrow = 0, bins = 2048;
    double pct = 99.999, avg = 0.01;
    if (st == NULL)
        return -1;
    if (o->busy) {
        lpot_raise(st, LPOT_ERR_INVALID, "observer: in use by another thread");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|sssO$ppsidd:Observer", kwlist, &algo,
                                     &dtype, &scheme, &axis, &rr, &narrow, &conv, &bins, &pct,
                                     &avg))
        return -1;
    int a = lpot_obs_algo_from_name(algo);
    if (a < 0) {
        lpot_raise(st, LPOT_ERR_INVALID,
                   "algorithm: expected 'minmax', 'moving_average', 'kl', 'percentile' or "
                   "'mse', got '%s'", algo);
        return -1;
    }
    if (axis != Py_None && !PyIndex_Check(axis)) {
        lpot_raise(st, LPOT_ERR_INVALID, "axis: expected None or an int, got %R", axis);
        return -1;
    }
    lpot_obs_opts_t opts = lpot_obs_opts_default((lpot_obs_algo_t)a);
    if (parse_qopts(st, dtype, scheme, rr, narrow, conv, &opts.q) < 0)
        return -1;
    opts.bins = bins;
    opts.percentile = pct;
    opts.averaging_constant = avg;
    /* validate now with a dummy channel count */
    lpot_observer_t *probe = NULL;
    lpot_status_t s = lpot_observer_create(&opts, axis == Py_None ? -1 : 0, 1, &probe);
    if (s != LPOT_OK) {
        lpot_raise_status(st, s);
        return -1;
    }
    lpot_observer_destroy(probe);
    o->opts = opts;
    axis = axis == Py_None ? Py_NewRef(axis) : PyNumber_Index(axis);
    if (axis == NULL)
        return -1;
    Py_XSETREF(o->axis_arg, axis);
    lpot_observer_destroy(o->obs);
    o->obs = NULL;
    return 0;
}

static int ensure_obs(lpot_state *st, ObserverObject *o, int axis, size_t nch)
{
    if (o->obs)
        return 0;
    lpot_status_t s = lpot_observer_create(&o->opts, axis, nch, &o->obs);
    if (s != LPOT_OK) {
        lpot_raise_status(st, s);
        return -1;
    }
    return 0;
}

static int claim(lpot_state *st, ObserverObject *o)
{
    if (o->busy) {
        lpot_raise(st, LPOT_ERR_INVALID,
                   "observer: in use by another thread (use one observer per thread and merge)");
        return -1;
    }
    o->busy = 1;
    return 0;
}

PyDoc_STRVAR(obs_update_doc,
"update(x) -> None\n\n"
"Observe a float array (float32, float16, bfloat16 views are read in place\n"
"with any strides; other numeric dtypes are copied to float32). NaN/inf are\n"
"skipped and counted in nan_count. The GIL is released for large arrays.");

static PyObject *obs_update(PyObject *self, PyObject *x)
{
    ObserverObject *o = (ObserverObject *)self;
    lpot_state *st = lpot_state_from_type(Py_TYPE(self));
    lpot_tensor_t t;
    PyArrayObject *owned = NULL;
    PyObject *res = NULL;
    int axis;
    if (st == NULL || to_tensor(st, x, "x", 1, &t, &owned) < 0)
        return NULL;
    if (norm_axis(st, o->axis_arg, t.ndim, &axis) < 0)
        goto cleanup;
    if (o->obs == NULL && lpot_tensor_numel(&t) == 0) {
        res = Py_NewRef(Py_None); /* channels unknown yet; nothing to count */
        goto cleanup;
    }
    if (ensure_obs(st, o, axis, axis >= 0 ? (size_t)t.shape[axis] : 1) < 0 || claim(st, o) < 0)
        goto cleanup;
    lpot_status_t s;
    if (tensor_bytes(&t) >= LPOT_GIL_RELEASE_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        s = lpot_observer_update(o->obs, &t);
        Py_END_ALLOW_THREADS
    } else {
        s = lpot_observer_update(o->obs, &t);
    }
    o->busy = 0;
    if (s != LPOT_OK)
        lpot_raise_status(st, s);
    else
        res = Py_NewRef(Py_None);
cleanup:
    Py_XDECREF(owned);
    return res;
}

static PyObject *new_vec(int typenum, size_t n, int per_channel)
{
    npy_intp dims[1] = {(npy_intp)n};
    return PyArray_SimpleNew(per_channel ? 1 : 0, dims, typenum);
}

static int no_data(lpot_state *st, ObserverObject *o)
{
    if (o->obs)
        return 0;
    lpot_raise(st, LPOT_ERR_INVALID, "compute: the observer has seen no values (call update first)");
    return -1;
}

PyDoc_STRVAR(obs_compute_doc,
"compute() -> (scale, zero_point)\n\n"
"Quantization parameters from what was observed: float32 scale and\n"
"zero_point in the storage dtype (uint8/int8); 0-d arrays per tensor,\n"
"shape (C,) per channel. ValueError when no finite value was seen.");

static PyObject *obs_compute_impl(PyObject *self, int want_range)
{
    ObserverObject *o = (ObserverObject *)self;
    lpot_state *st = lpot_state_from_type(Py_TYPE(self));
    if (st == NULL || no_data(st, o) < 0 || claim(st, o) < 0)
        return NULL;
    lpot_obs_state_t v;
    lpot_observer_view(o->obs, &v);
    int pc = v.axis >= 0;
    int zt = o->opts.q.dtype == LPOT_QDT_INT8 ? NPY_INT8 : NPY_UINT8;
    PyObject *a = new_vec(NPY_FLOAT32, v.nch, pc);
    PyObject *b = new_vec(want_range ? NPY_FLOAT32 : zt, v.nch, pc);
    int32_t *zp = PyMem_Malloc(v.nch * sizeof(int32_t));
    PyObject *res = NULL;
    if (a == NULL || b == NULL || zp == NULL) {
        if (zp == NULL)
            PyErr_NoMemory();
        goto cleanup;
    }
    lpot_status_t s;
    float *fa = PyArray_DATA((PyArrayObject *)a);
    Py_BEGIN_ALLOW_THREADS
    if (want_range)
        s = lpot_observer_range(o->obs, fa, PyArray_DATA((PyArrayObject *)b));
    else
        s = lpot_observer_compute(o->obs, fa, zp);
    Py_END_ALLOW_THREADS
    if (s != LPOT_OK) {
        lpot_raise_status(st, s);
        goto cleanup;
    }
    if (!want_range) {
        for (size_t i = 0; i < v.nch; i++) {
            if (zt == NPY_INT8)
                ((int8_t *)PyArray_DATA((PyArrayObject *)b))[i] = (int8_t)zp[i];
            else
                ((uint8_t *)PyArray_DATA((PyArrayObject *)b))[i] = (uint8_t)zp[i];
        }
    }
    res = PyTuple_Pack(2, a, b);
cleanup:
    o->busy = 0;
    PyMem_Free(zp);
    Py_XDECREF(a);
    Py_XDECREF(b);
    return res;
}

static PyObject *obs_compute(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return obs_compute_impl(self, 0);
}

PyDoc_STRVAR(obs_range_doc,
"compute_range() -> (lo, hi)\n\n"
"The calibrated float range (float32 arrays shaped like compute()'s) before\n"
"it becomes a scale and zero point.");

static PyObject *obs_range(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return obs_compute_impl(self, 1);
}

PyDoc_STRVAR(obs_merge_doc,
"merge(other) -> None\n\n"
"Add what `other` observed (same algorithm, options and channels). For\n"
"minmax and the histogram algorithms the result equals observing both\n"
"streams with one observer.");

static PyObject *obs_merge(PyObject *self, PyObject *other)
{
    ObserverObject *o = (ObserverObject *)self;
    lpot_state *st = lpot_state_from_type(Py_TYPE(self));
    if (st == NULL)
        return NULL;
    if (!PyObject_TypeCheck(other, Py_TYPE(self)))
        return lpot_raise(st, LPOT_ERR_INVALID, "other: expected an Observer, got %T", other);
    ObserverObject *p = (ObserverObject *)other;
    if (o->busy || p->busy)
        return lpot_raise(st, LPOT_ERR_INVALID, "observer: in use by another thread");
    if (p->obs == NULL)
        Py_RETURN_NONE;
    lpot_obs_state_t v;
    lpot_observer_view(p->obs, &v);
    if (ensure_obs(st, o, v.axis, v.nch) < 0)
        return NULL;
    lpot_status_t s = lpot_observer_merge(o->obs, p->obs);
    if (s != LPOT_OK)
        return lpot_raise_status(st, s);
    Py_RETURN_NONE;
}

static const char *scheme_name(const lpot_qopts_t *q) { return q->symmetric ? "sym" : "asym"; }
static const char *conv_name(const lpot_qopts_t *q)
{
    return q->conv == LPOT_QCONV_TORCH ? "torch" : "onnx";
}

PyDoc_STRVAR(obs_to_dict_doc,
"to_dict() -> dict\n\n"
"The observer's whole state as plain Python values (JSON-friendly; ranges\n"
"not yet seen are +inf/-inf). Observer.from_dict(d) restores it exactly.");

static PyObject *float_list(const float *v, size_t n)
{
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; l && i < n; i++) {
        PyObject *f = PyFloat_FromDouble((double)v[i]);
        if (f == NULL) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, f);
    }
    return l;
}

static PyObject *obs_to_dict(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    ObserverObject *o = (ObserverObject *)self;
    const lpot_obs_opts_t *op = &o->opts;
    if (o->busy) {
        lpot_state *st = lpot_state_from_type(Py_TYPE(self));
        return st ? lpot_raise(st, LPOT_ERR_INVALID, "observer: in use by another thread") : NULL;
    }
    PyObject *d = Py_BuildValue(
        "{s:i,s:s,s:s,s:s,s:O,s:O,s:O,s:s,s:i,s:d,s:d}", "version", 1, "algorithm",
        lpot_obs_algo_name(op->algo), "dtype", lpot_qdtype_name(op->q.dtype), "scheme",
        scheme_name(&op->q), "axis", o->axis_arg ? o->axis_arg : Py_None, "reduce_range",
        op->q.reduce_range ? Py_True : Py_False, "narrow", op->q.narrow ? Py_True : Py_False,
        "convention", conv_name(&op->q), "bins", op->bins, "percentile", op->percentile,
        "averaging_constant", op->averaging_constant);
    if (d == NULL)
        return NULL;
    if (o->obs == NULL) {
        if (PyDict_SetItemString(d, "state", Py_None) < 0)
            Py_CLEAR(d);
        return d;
    }
    lpot_obs_state_t v;
    lpot_observer_view(o->obs, &v);
    PyObject *hist = Py_None;
    Py_INCREF(hist);
    if (v.hist) {
        Py_DECREF(hist);
        size_t m = 2 * (size_t)op->bins;
        hist = PyList_New((Py_ssize_t)m);
        for (size_t k = 0; hist && k < m; k++) {
            PyObject *c = PyLong_FromUnsignedLongLong(v.hist[k]);
            if (c == NULL) {
                Py_CLEAR(hist);
                break;
            }
            PyList_SET_ITEM(hist, (Py_ssize_t)k, c);
        }
    }
    PyObject *mn = float_list(v.mn, v.nch), *mx = float_list(v.mx, v.nch);
    PyObject *state = NULL;
    if (hist && mn && mx)
        state = Py_BuildValue("{s:i,s:n,s:N,s:N,s:K,s:K,s:K,s:d,s:N}", "axis", v.axis,
                              "channels", (Py_ssize_t)v.nch, "min", mn, "max", mx, "updates",
                              (unsigned long long)v.updates, "count",
                              (unsigned long long)v.count, "nan_count",
                              (unsigned long long)v.nan_count, "half_range", v.half_range,
                              "hist", hist);
    else {
        Py_XDECREF(hist);
        Py_XDECREF(mn);
        Py_XDECREF(mx);
    }
    if (state == NULL || PyDict_SetItemString(d, "state", state) < 0)
        Py_CLEAR(d);
    Py_XDECREF(state);
    return d;
}

static PyObject *dget(lpot_state *st, PyObject *d, const char *key)
{
    PyObject *v = PyDict_GetItemString(d, key); /* borrowed */
    if (v == NULL && !PyErr_Occurred())
        lpot_raise(st, LPOT_ERR_INVALID, "from_dict: missing key '%s'", key);
    return v;
}

static int read_floats(lpot_state *st, PyObject *seq, const char *key, float *out, size_t n)
{
    PyObject *f = PySequence_Fast(seq, key);
    if (f == NULL)
        return -1;
    if ((size_t)PySequence_Fast_GET_SIZE(f) != n) {
        Py_DECREF(f);
        lpot_raise(st, LPOT_ERR_INVALID, "from_dict: '%s' has %zd values, expected %zu", key,
                   PySequence_Fast_GET_SIZE(seq), n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        double x = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(f, (Py_ssize_t)i));
        if (x == -1.0 && PyErr_Occurred()) {
            Py_DECREF(f);
            return -1;
        }
        out[i] = (float)x;
    }
    Py_DECREF(f);
    return 0;
}

PyDoc_STRVAR(obs_from_dict_doc,
"Observer.from_dict(d) -> Observer\n\nRebuild an observer from to_dict()'s output.");

static PyObject *obs_from_dict(PyObject *cls, PyObject *d)
{
    lpot_state *st = lpot_state_from_type((PyTypeObject *)cls);
    PyObject *kw = NULL, *args = NULL, *self = NULL, *res = NULL;
    float *buf = NULL;
    uint64_t *hist = NULL;
    if (st == NULL)
        return NULL;
    if (!PyDict_Check(d))
        return lpot_raise(st, LPOT_ERR_INVALID, "d: expected a dict, got %T", d);
    kw = PyDict_New();
    args = PyTuple_New(0);
    if (kw == NULL || args == NULL)
        goto cleanup;
    static const char *keys[] = {"algorithm", "dtype", "scheme", "axis", "reduce_range",
                                 "narrow", "convention", "bins", "percentile",
                                 "averaging_constant", NULL};
    for (int i = 0; keys[i]; i++) {
        PyObject *v = dget(st, d, keys[i]);
        if (v == NULL || PyDict_SetItemString(kw, keys[i], v) < 0)
            goto cleanup;
    }
    self = PyObject_Call(cls, args, kw);
    if (self == NULL)
        goto cleanup;
    PyObject *state = dget(st, d, "state");
    if (state == NULL)
        goto cleanup;
    if (state == Py_None) {
        res = Py_NewRef(self);
        goto cleanup;
    }
    if (!PyDict_Check(state)) {
        lpot_raise(st, LPOT_ERR_INVALID, "from_dict: 'state' must be a dict or None");
        goto cleanup;
    }
    ObserverObject *o = (ObserverObject *)self;
    lpot_obs_state_t v;
    memset(&v, 0, sizeof v);
    PyObject *x;
    long axis;
    Py_ssize_t nch;
    if ((x = dget(st, state, "axis")) == NULL || ((axis = PyLong_AsLong(x)) == -1 && PyErr_Occurred()))
        goto cleanup;
    if ((x = dget(st, state, "channels")) == NULL ||
        ((nch = PyLong_AsSsize_t(x)) == -1 && PyErr_Occurred()))
        goto cleanup;
    if (nch <= 0 || axis < -1 || axis >= LPOT_MAX_DIMS) {
        lpot_raise(st, LPOT_ERR_INVALID, "from_dict: channels %zd / axis %ld invalid", nch, axis);
        goto cleanup;
    }
    if (ensure_obs(st, o, (int)axis, (size_t)nch) < 0)
        goto cleanup;
    v.nch = (size_t)nch;
    buf = PyMem_Malloc(2 * (size_t)nch * sizeof(float));
    if (buf == NULL) {
        PyErr_NoMemory();
        goto cleanup;
    }
    v.mn = buf;
    v.mx = buf + nch;
    if ((x = dget(st, state, "min")) == NULL || read_floats(st, x, "min", v.mn, v.nch) < 0 ||
        (x = dget(st, state, "max")) == NULL || read_floats(st, x, "max", v.mx, v.nch) < 0)
        goto cleanup;
    const char *ukeys[] = {"updates", "count", "nan_count"};
    uint64_t *uv[] = {&v.updates, &v.count, &v.nan_count};
    for (int i = 0; i < 3; i++) {
        if ((x = dget(st, state, ukeys[i])) == NULL)
            goto cleanup;
        *uv[i] = PyLong_AsUnsignedLongLong(x);
        if (PyErr_Occurred())
            goto cleanup;
    }
    if ((x = dget(st, state, "half_range")) == NULL)
        goto cleanup;
    v.half_range = PyFloat_AsDouble(x);
    if (PyErr_Occurred())
        goto cleanup;
    if ((x = dget(st, state, "hist")) == NULL)
        goto cleanup;
    if (x != Py_None) {
        size_t m = 2 * (size_t)o->opts.bins;
        PyObject *f = PySequence_Fast(x, "hist");
        if (f == NULL)
            goto cleanup;
        hist = PyMem_Malloc(m * sizeof(uint64_t));
        if ((size_t)PySequence_Fast_GET_SIZE(f) != m || hist == NULL) {
            Py_DECREF(f);
            if (hist == NULL)
                PyErr_NoMemory();
            else
                lpot_raise(st, LPOT_ERR_INVALID, "from_dict: 'hist' must have %zu counts", m);
            goto cleanup;
        }
        for (size_t k = 0; k < m; k++) {
            hist[k] = PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(f, (Py_ssize_t)k));
            if (PyErr_Occurred()) {
                Py_DECREF(f);
                goto cleanup;
            }
        }
        Py_DECREF(f);
        v.hist = hist;
    }
    lpot_status_t s = lpot_observer_import(o->obs, &v);
    if (s != LPOT_OK) {
        lpot_raise_status(st, s);
        goto cleanup;
    }
    res = Py_NewRef(self);
cleanup:
    PyMem_Free(buf);
    PyMem_Free(hist);
    Py_XDECREF(self);
    Py_XDECREF(kw);
    Py_XDECREF(args);
    return res;
}

static PyObject *obs_get_counter(PyObject *self, void *which)
{
    ObserverObject *o = (ObserverObject *)self;
    if (o->obs == NULL)
        return PyLong_FromLong(0);
    lpot_obs_state_t v;
    lpot_observer_view(o->obs, &v);
    uint64_t x = which == (void *)0 ? v.nan_count : which == (void *)1 ? v.count : v.updates;
    return PyLong_FromUnsignedLongLong(x);
}

static PyObject *obs_get_str(PyObject *self, void *which)
{
    ObserverObject *o = (ObserverObject *)self;
    const lpot_qopts_t *q = &o->opts.q;
    const char *s = which == (void *)0   ? lpot_obs_algo_name(o->opts.algo)
                    : which == (void *)1 ? lpot_qdtype_name(q->dtype)
                    : which == (void *)2 ? scheme_name(q)
                                         : conv_name(q);
    return PyUnicode_FromString(s);
}

static PyObject *obs_get_axis(PyObject *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(((ObserverObject *)self)->axis_arg);
}

static PyObject *obs_repr(PyObject *self)
{
    ObserverObject *o = (ObserverObject *)self;
    uint64_t count = 0;
    if (o->obs) {
        lpot_obs_state_t v;
        lpot_observer_view(o->obs, &v);
        count = v.count;
    }
    return PyUnicode_FromFormat("Observer('%s', dtype='%s', scheme='%s', axis=%R, count=%llu)",
                                lpot_obs_algo_name(o->opts.algo),
                                lpot_qdtype_name(o->opts.q.dtype), scheme_name(&o->opts.q),
                                o->axis_arg, (unsigned long long)count);
}

static PyMethodDef obs_methods[] = {
    {"update", obs_update, METH_O, obs_update_doc},
    {"compute", obs_compute, METH_NOARGS, obs_compute_doc},
    {"compute_range", obs_range, METH_NOARGS, obs_range_doc},
    {"merge", obs_merge, METH_O, obs_merge_doc},
    {"to_dict", obs_to_dict, METH_NOARGS, obs_to_dict_doc},
    {"from_dict", obs_from_dict, METH_O | METH_CLASS, obs_from_dict_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef obs_getset[] = {
    {"nan_count", obs_get_counter, NULL, "NaN/inf values skipped.", (void *)0},
    {"count", obs_get_counter, NULL, "Finite values observed.", (void *)1},
    {"updates", obs_get_counter, NULL, "update() calls that had finite values.", (void *)2},
    {"algorithm", obs_get_str, NULL, "Calibration algorithm.", (void *)0},
    {"dtype", obs_get_str, NULL, "'uint8' or 'int8'.", (void *)1},
    {"scheme", obs_get_str, NULL, "'asym' or 'sym'.", (void *)2},
    {"convention", obs_get_str, NULL, "'onnx' or 'torch' (see quant.h).", (void *)3},
    {"axis", obs_get_axis, NULL, "Channel axis or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(obs_doc,
"Observer(algorithm='minmax', dtype='uint8', scheme='asym', axis=None, *,\n"
"         reduce_range=False, narrow=False, convention='onnx', bins=2048,\n"
"         percentile=99.999, averaging_constant=0.01)\n\n"
"Streaming calibration statistics with bounded memory. algorithm is one of\n"
"'minmax', 'moving_average' (per tensor or per channel along axis), 'kl'\n"
"(alias 'entropy'), 'percentile', 'mse' (histogram based, per tensor).");

static PyType_Slot obs_slots[] = {
    {Py_tp_doc, (void *)obs_doc},
    {Py_tp_init, obs_init},
    {Py_tp_dealloc, obs_dealloc},
    {Py_tp_traverse, obs_traverse},
    {Py_tp_methods, obs_methods},
    {Py_tp_getset, obs_getset},
    {Py_tp_repr, obs_repr},
    {Py_tp_new, PyType_GenericNew},
    {0, NULL},
};

static PyType_Spec obs_spec = {
    .name = "lpot._engine.Observer",
    .basicsize = sizeof(ObserverObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = obs_slots,
};

/* ---- module functions ------------------------------------------------------ */

typedef struct {
    PyArrayObject *scale, *zp;
    lpot_qtensor_params_t p;
} qargs;

static void qargs_clear(qargs *q)
{
    Py_CLEAR(q->scale);
    Py_CLEAR(q->zp);
}

/* scale/zero point arrays for tensor t along axis; storage dtype from a
 * uint8/int8 zero_point array when `dtype` is NULL. */
static int get_qargs(lpot_state *st, PyObject *scale, PyObject *zp, const lpot_tensor_t *t,
                     int axis, const char *dtype, int *is_signed, qargs *q)
{
    memset(q, 0, sizeof *q);
    if (dtype == NULL) {
        dtype = "uint8";
        if ((PyArray_Check(zp) && PyArray_TYPE((PyArrayObject *)zp) == NPY_INT8) ||
            PyArray_IsScalar(zp, Byte))
            dtype = "int8";
    }
    int dt = lpot_qdtype_from_name(dtype);
    if (dt < 0) {
        lpot_raise(st, LPOT_ERR_INVALID, "dtype: expected 'uint8' or 'int8', got '%s'", dtype);
        return -1;
    }
    *is_signed = dt == LPOT_QDT_INT8;
    lpot_qdtype_limits((lpot_qdtype_t)dt, &q->p.qmin, &q->p.qmax);
    q->scale = (PyArrayObject *)PyArray_FROMANY(scale, NPY_FLOAT32, 0, 1,
                                                NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED |
                                                    NPY_ARRAY_FORCECAST);
    if (q->scale == NULL)
        goto error;
    q->zp = (PyArrayObject *)PyArray_FROMANY(zp, NPY_INT32, 0, 1,
                                             NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED |
                                                 NPY_ARRAY_FORCECAST);
    if (q->zp == NULL)
        goto error;
    size_t ns = (size_t)PyArray_SIZE(q->scale), nz = (size_t)PyArray_SIZE(q->zp);
    if (ns != nz) {
        lpot_raise(st, LPOT_ERR_INVALID, "zero_point: %zu values for %zu scales", nz, ns);
        goto error;
    }
    q->p.scale = PyArray_DATA(q->scale);
    q->p.zp = PyArray_DATA(q->zp);
    q->p.nch = ns;
    q->p.axis = axis;
    (void)t;
    return 0;
error:
    qargs_clear(q);
    return -1;
}

static PyObject *new_like(const lpot_tensor_t *t, int typenum)
{
    npy_intp dims[LPOT_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++)
        dims[d] = (npy_intp)t->shape[d];
    return PyArray_SimpleNew(t->ndim, dims, typenum);
}

enum { OP_Q, OP_DQ, OP_FQ, OP_RQ };

static PyObject *qfunc(PyObject *module, PyObject *args, PyObject *kwargs, int op)
{
    static char *kw_fq[] = {"x", "scale", "zero_point", "axis", "dtype", "quant_min",
                            "quant_max", "return_mask", NULL};
    static char *kw_q[] = {"x", "scale", "zero_point", "axis", "dtype", NULL};
    static char *kw_dq[] = {"x", "scale", "zero_point", "axis", NULL};
    char **kwlist = op == OP_FQ ? kw_fq : op == OP_DQ ? kw_dq : kw_q;
    lpot_state *st = lpot_state_from_module(module);
    PyObject *xo, *so, *zo, *axis_o = Py_None, *qmin_o = Py_None, *qmax_o = Py_None;
    const char *dtype = NULL;
    int ret_mask = 0;
    const char *fmt = op == OP_FQ ? "OOO|OzOOp:fake_quant"
                      : op == OP_Q ? "OOO|Oz:quantize"
                      : op == OP_DQ ? "OOO|O:dequantize"
                                    : "OOO|Oz:requantize";
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, fmt, kwlist, &xo, &so, &zo, &axis_o, &dtype,
                                     &qmin_o, &qmax_o, &ret_mask))
        return NULL;
    lpot_tensor_t t;
    PyArrayObject *owned = NULL;
    PyObject *out = NULL, *mask = NULL, *res = NULL;
    qargs q = {0};
    int axis, is_signed = 0;
    if (to_tensor(st, xo, "x", op == OP_Q || op == OP_FQ, &t, &owned) < 0)
        return NULL;
    if (op == OP_DQ)
        dtype = t.type == LPOT_T_S8 ? "int8" : "uint8";
    if (norm_axis(st, axis_o, t.ndim, &axis) < 0 ||
        get_qargs(st, so, zo, &t, axis, dtype, &is_signed, &q) < 0)
        goto cleanup;
    if (op == OP_DQ && t.type == LPOT_T_S32) {
        lpot_raise(st, LPOT_ERR_KERNEL, "x: dequantize expects int8/uint8");
        goto cleanup;
    }
    if (op == OP_FQ) {
        if (qmin_o != Py_None) {
            q.p.qmin = (int32_t)PyLong_AsLong(qmin_o);
            if (PyErr_Occurred())
                goto cleanup;
        }
        if (qmax_o != Py_None) {
            q.p.qmax = (int32_t)PyLong_AsLong(qmax_o);
            if (PyErr_Occurred())
                goto cleanup;
        }
    }
    int otype = op == OP_DQ || op == OP_FQ ? NPY_FLOAT32 : is_signed ? NPY_INT8 : NPY_UINT8;
    out = new_like(&t, otype);
    if (out == NULL)
        goto cleanup;
    if (op == OP_FQ && ret_mask && (mask = new_like(&t, NPY_BOOL)) == NULL)
        goto cleanup;
    void *o = PyArray_DATA((PyArrayObject *)out);
    lpot_status_t s;
    int nogil = tensor_bytes(&t) >= LPOT_GIL_RELEASE_BYTES;
    PyThreadState *ts = nogil ? PyEval_SaveThread() : NULL;
    switch (op) {
    case OP_Q: s = lpot_quantize_tensor(&t, &q.p, is_signed, o); break;
    case OP_DQ: s = lpot_dequantize_tensor(&t, &q.p, o); break;
    case OP_FQ:
        s = lpot_fake_quant_tensor(&t, &q.p, o,
                                   mask ? PyArray_DATA((PyArrayObject *)mask) : NULL);
        break;
    default: s = lpot_requantize_tensor(&t, &q.p, is_signed, o); break;
    }
    if (ts)
        PyEval_RestoreThread(ts);
    if (s != LPOT_OK) {
        lpot_raise_status(st, s);
        goto cleanup;
    }
    res = mask ? PyTuple_Pack(2, out, mask) : Py_NewRef(out);
cleanup:
    qargs_clear(&q);
    Py_XDECREF(owned);
    Py_XDECREF(out);
    Py_XDECREF(mask);
    return res;
}

PyDoc_STRVAR(quantize_doc,
"quantize(x, scale, zero_point, axis=None, dtype=None) -> ndarray\n\n"
"ONNX QuantizeLinear: saturate(rint(x / scale) + zero_point), bit-exact.\n"
"dtype 'uint8'/'int8' (default: zero_point's dtype if int8, else uint8).\n"
"Per-channel scale/zero_point need axis. NaN -> qmin.");
static PyObject *py_quantize(PyObject *m, PyObject *a, PyObject *k) { return qfunc(m, a, k, OP_Q); }

PyDoc_STRVAR(dequantize_doc,
"dequantize(q, scale, zero_point, axis=None) -> float32 ndarray\n\n"
"ONNX DequantizeLinear: (q - zero_point) * scale, bit-exact.");
static PyObject *py_dequantize(PyObject *m, PyObject *a, PyObject *k) { return qfunc(m, a, k, OP_DQ); }

PyDoc_STRVAR(fake_quant_doc,
"fake_quant(x, scale, zero_point, axis=None, dtype=None, quant_min=None,\n"
"           quant_max=None, return_mask=False) -> y or (y, mask)\n\n"
"dequantize(quantize(x)) with the clamp range [quant_min, quant_max]\n"
"(default: the dtype's). mask (bool) is True where x was not clipped: the\n"
"straight-through estimator's gradient mask.");
static PyObject *py_fake_quant(PyObject *m, PyObject *a, PyObject *k) { return qfunc(m, a, k, OP_FQ); }

PyDoc_STRVAR(requantize_doc,
"requantize(x, multiplier, zero_point, axis=None, dtype=None) -> ndarray\n\n"
"int32 accumulators to uint8/int8: saturate(rint(float(x) * multiplier) +\n"
"zero_point), float32 arithmetic (as MLAS); per-channel multipliers need axis.");
static PyObject *py_requantize(PyObject *m, PyObject *a, PyObject *k) { return qfunc(m, a, k, OP_RQ); }

PyDoc_STRVAR(qparams_doc,
"qparams(min, max, dtype='uint8', scheme='asym', reduce_range=False,\n"
"        narrow=False, convention='onnx') -> (scale, zero_point)\n\n"
"Scale and zero point from ranges (scalars or 1-d arrays), per the\n"
"conventions documented in quant.h ('onnx' = onnxruntime.quantization,\n"
"'torch' = torch.ao.quantization observers).");

static PyObject *py_qparams(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"min", "max", "dtype", "scheme", "reduce_range", "narrow",
                             "convention", NULL};
    lpot_state *st = lpot_state_from_module(module);
    PyObject *mno, *mxo;
    const char *dtype = "uint8", *scheme = "asym", *conv = "onnx";
    int rr = 0, narrow = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|ssp$ps:qparams", kwlist, &mno, &mxo,
                                     &dtype, &scheme, &rr, &narrow, &conv))
        return NULL;
    lpot_qopts_t q;
    if (parse_qopts(st, dtype, scheme, rr, narrow, conv, &q) < 0)
        return NULL;
    PyArrayObject *mn = NULL, *mx = NULL;
    PyObject *sc = NULL, *zp = NULL, *res = NULL;
    int32_t *z = NULL;
    int flags = NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST;
    mn = (PyArrayObject *)PyArray_FROMANY(mno, NPY_FLOAT32, 0, 1, flags);
    mx = mn ? (PyArrayObject *)PyArray_FROMANY(mxo, NPY_FLOAT32, 0, 1, flags) : NULL;
    if (mx == NULL)
        goto cleanup;
    if (PyArray_NDIM(mn) != PyArray_NDIM(mx) || PyArray_SIZE(mn) != PyArray_SIZE(mx)) {
        lpot_raise(st, LPOT_ERR_INVALID, "max: shape differs from min's");
        goto cleanup;
    }
    size_t n = (size_t)PyArray_SIZE(mn);
    int pc = PyArray_NDIM(mn) == 1;
    sc = new_vec(NPY_FLOAT32, n, pc);
    zp = new_vec(q.dtype == LPOT_QDT_INT8 ? NPY_INT8 : NPY_UINT8, n, pc);
    z = PyMem_Malloc((n ? n : 1) * sizeof(int32_t));
    if (sc == NULL || zp == NULL || z == NULL) {
        if (z == NULL)
            PyErr_NoMemory();
        goto cleanup;
    }
    lpot_status_t s = lpot_qparams(&q, PyArray_DATA(mn), PyArray_DATA(mx), n,
                                   PyArray_DATA((PyArrayObject *)sc), z);
    if (s != LPOT_OK) {
        lpot_raise_status(st, s);
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        if (q.dtype == LPOT_QDT_INT8)
            ((int8_t *)PyArray_DATA((PyArrayObject *)zp))[i] = (int8_t)z[i];
        else
            ((uint8_t *)PyArray_DATA((PyArrayObject *)zp))[i] = (uint8_t)z[i];
    }
    res = PyTuple_Pack(2, sc, zp);
cleanup:
    PyMem_Free(z);
    Py_XDECREF(mn);
    Py_XDECREF(mx);
    Py_XDECREF(sc);
    Py_XDECREF(zp);
    return res;
}

/* ---- _kernel: run one kernel of the quant family, 'ref' or 'dispatch' ---- */

static void *vec_data(lpot_state *st, PyObject *o, int typenum, size_t *n, const char *arg)
{
    if (!PyArray_Check(o) || PyArray_TYPE((PyArrayObject *)o) != typenum ||
        PyArray_NDIM((PyArrayObject *)o) != 1 ||
        !PyArray_IS_C_CONTIGUOUS((PyArrayObject *)o)) {
        lpot_raise(st, LPOT_ERR_KERNEL, "%s: expected a contiguous 1-D array of type %d", arg,
                   typenum);
        return NULL;
    }
    *n = (size_t)PyArray_DIM((PyArrayObject *)o, 0);
    return PyArray_DATA((PyArrayObject *)o);
}

PyDoc_STRVAR(kernel_doc,
"_kernel(name, impl, x, scale=None, zero_point=None, per_elem=False, qmin=0,\n"
"        qmax=255, signed=False, inv_w=1.0, nb=16, src_type=0, stride=1)\n\n"
"Test hook: run one quantization kernel ('cvt', 'quantize', 'dequantize',\n"
"'fake_quant', 'requantize', 'minmax_elem', 'hist') on a contiguous 1-D\n"
"array with impl 'ref' or 'dispatch'.");

static PyObject *py_kernel(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", "impl", "x", "scale", "zero_point", "per_elem", "qmin",
                             "qmax", "signed", "inv_w", "nb", "src_type", "stride", NULL};
    lpot_state *st = lpot_state_from_module(module);
    const char *name, *impl;
    PyObject *xo, *so = Py_None, *zo = Py_None;
    int per_elem = 0, qmin = 0, qmax = 255, sgn = 0, nb = 16, src_type = 0;
    float inv_w = 1.0f;
    Py_ssize_t stride = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "ssO|OOpiipfiin:_kernel", kwlist, &name,
                                     &impl, &xo, &so, &zo, &per_elem, &qmin, &qmax, &sgn,
                                     &inv_w, &nb, &src_type, &stride))
        return NULL;
    const lpot_kernels_t *k;
    if (strcmp(impl, "ref") == 0)
        k = &lpot_kernels_ref;
    else if (strcmp(impl, "dispatch") == 0)
        k = &lpot_kernels;
    else
        return lpot_raise(st, LPOT_ERR_INVALID, "impl: expected 'dispatch' or 'ref'");
    size_t n = 0, ns = 0, nz = 0;
    lpot_qk_params_t p = {NULL, NULL, per_elem, qmin, qmax};
    int need_q = strcmp(name, "quantize") == 0 || strcmp(name, "dequantize") == 0 ||
                 strcmp(name, "fake_quant") == 0 || strcmp(name, "requantize") == 0;
    if (need_q) {
        if ((p.scale = vec_data(st, so, NPY_FLOAT32, &ns, "scale")) == NULL ||
            (p.zp = vec_data(st, zo, NPY_INT32, &nz, "zero_point")) == NULL)
            return NULL;
    }
    npy_intp dims[1];
    if (strcmp(name, "cvt") == 0) {
        int tn = src_type == 0 ? NPY_FLOAT32 : NPY_UINT16;
        const void *x = vec_data(st, xo, tn, &n, "x");
        if (x == NULL)
            return NULL;
        size_t m = stride > 0 && n > 0 ? (n - 1) / (size_t)stride + 1 : 0;
        dims[0] = (npy_intp)m;
        PyObject *out = PyArray_SimpleNew(1, dims, NPY_FLOAT32);
        if (out)
            k->cvt_f32(x, (lpot_src_t)src_type, m, stride,
                       PyArray_DATA((PyArrayObject *)out));
        return out;
    }
    if (strcmp(name, "dequantize") == 0) {
        const void *x = vec_data(st, xo, sgn ? NPY_INT8 : NPY_UINT8, &n, "x");
        if (x == NULL)
            return NULL;
        if ((per_elem && (ns < n || nz < n)) || ns == 0 || nz == 0)
            return lpot_raise(st, LPOT_ERR_INVALID, "scale: too short");
        dims[0] = (npy_intp)n;
        PyObject *out = PyArray_SimpleNew(1, dims, NPY_FLOAT32);
        if (out)
            k->dequantize(x, sgn, PyArray_DATA((PyArrayObject *)out), n, &p);
        return out;
    }
    if (strcmp(name, "requantize") == 0) {
        const int32_t *x = vec_data(st, xo, NPY_INT32, &n, "x");
        if (x == NULL)
            return NULL;
        if ((per_elem && (ns < n || nz < n)) || ns == 0 || nz == 0)
            return lpot_raise(st, LPOT_ERR_INVALID, "scale: too short");
        dims[0] = (npy_intp)n;
        PyObject *out = PyArray_SimpleNew(1, dims, sgn ? NPY_INT8 : NPY_UINT8);
        if (out)
            k->requantize_s32(x, PyArray_DATA((PyArrayObject *)out), sgn, n, &p);
        return out;
    }
    const float *x = vec_data(st, xo, NPY_FLOAT32, &n, "x");
    if (x == NULL)
        return NULL;
    dims[0] = (npy_intp)n;
    if (need_q && ((per_elem && (ns < n || nz < n)) || ns == 0 || nz == 0))
        return lpot_raise(st, LPOT_ERR_INVALID, "scale: too short");
    if (strcmp(name, "quantize") == 0) {
        PyObject *out = PyArray_SimpleNew(1, dims, sgn ? NPY_INT8 : NPY_UINT8);
        if (out)
            k->quantize_f32(x, PyArray_DATA((PyArrayObject *)out), sgn, n, &p);
        return out;
    }
    if (strcmp(name, "fake_quant") == 0) {
        PyObject *out = PyArray_SimpleNew(1, dims, NPY_FLOAT32);
        PyObject *mask = PyArray_SimpleNew(1, dims, NPY_UINT8);
        if (out && mask) {
            k->fake_quant_f32(x, PyArray_DATA((PyArrayObject *)out),
                              PyArray_DATA((PyArrayObject *)mask), n, &p);
            PyObject *r = PyTuple_Pack(2, out, mask);
            Py_DECREF(out);
            Py_DECREF(mask);
            return r;
        }
        Py_XDECREF(out);
        Py_XDECREF(mask);
        return NULL;
    }
    if (strcmp(name, "minmax_elem") == 0) {
        PyObject *mn = PyArray_SimpleNew(1, dims, NPY_FLOAT32);
        PyObject *mx = PyArray_SimpleNew(1, dims, NPY_FLOAT32);
        if (mn == NULL || mx == NULL) {
            Py_XDECREF(mn);
            Py_XDECREF(mx);
            return NULL;
        }
        float *a = PyArray_DATA((PyArrayObject *)mn), *b = PyArray_DATA((PyArrayObject *)mx);
        for (size_t i = 0; i < n; i++) {
            a[i] = 0.5f; /* a prior range the data extends */
            b[i] = 0.5f;
        }
        size_t bad = 0;
        k->minmax_elem_f32(x, n, a, b, &bad);
        return Py_BuildValue("NNn", mn, mx, (Py_ssize_t)bad);
    }
    if (strcmp(name, "hist") == 0) {
        if (nb < 1 || nb > 65536)
            return lpot_raise(st, LPOT_ERR_INVALID, "nb: out of range");
        size_t m = 2 * (size_t)nb + 1;
        uint32_t *sub = PyMem_Calloc(LPOT_HIST_SUBS * m, sizeof(uint32_t));
        if (sub == NULL)
            return PyErr_NoMemory();
        float lo = INFINITY, hi = -INFINITY;
        k->hist_f32(x, n, inv_w, nb, sub, &lo, &hi);
        dims[0] = (npy_intp)m;
        PyObject *out = PyArray_SimpleNew(1, dims, NPY_UINT64);
        if (out) {
            uint64_t *o = PyArray_DATA((PyArrayObject *)out);
            for (size_t i = 0; i < m; i++) {
                o[i] = 0;
                for (size_t j = 0; j < LPOT_HIST_SUBS; j++)
                    o[i] += sub[j * m + i];
            }
        }
        PyMem_Free(sub);
        return out ? Py_BuildValue("Nff", out, lo, hi) : NULL;
    }
    return lpot_raise(st, LPOT_ERR_INVALID, "name: unknown kernel '%s'", name);
}

static PyMethodDef calib_functions[] = {
    {"_kernel", (PyCFunction)(void (*)(void))py_kernel, METH_VARARGS | METH_KEYWORDS,
     kernel_doc},
    {"quantize", (PyCFunction)(void (*)(void))py_quantize, METH_VARARGS | METH_KEYWORDS,
     quantize_doc},
    {"dequantize", (PyCFunction)(void (*)(void))py_dequantize, METH_VARARGS | METH_KEYWORDS,
     dequantize_doc},
    {"fake_quant", (PyCFunction)(void (*)(void))py_fake_quant, METH_VARARGS | METH_KEYWORDS,
     fake_quant_doc},
    {"requantize", (PyCFunction)(void (*)(void))py_requantize, METH_VARARGS | METH_KEYWORDS,
     requantize_doc},
    {"qparams", (PyCFunction)(void (*)(void))py_qparams, METH_VARARGS | METH_KEYWORDS,
     qparams_doc},
    {NULL, NULL, 0, NULL},
};

int lpot_calib_exec(PyObject *module)
{
    lpot_state *st = lpot_state_from_module(module);
    st->ObserverType = PyType_FromModuleAndSpec(module, &obs_spec, NULL);
    if (st->ObserverType == NULL || PyModule_AddObjectRef(module, "Observer", st->ObserverType) < 0)
        return -1;
    return PyModule_AddFunctions(module, calib_functions);
}
