/* Binding layer for the int8 kernels: PackedLinear and PackedConv2d heap
 * types, and qlinear / qlinear_dynamic / qconv2d / qmatmul, set_num_threads,
 * last_impl. Arguments are checked here (KernelError naming the argument),
 * the arrays' pointers taken, and the plain-C kernels (kernels/qkernels.h)
 * run with the GIL released above a size threshold. */
#include "module.h"
#include "npy.h"

#include <math.h>
#include <string.h>

#include "errors.h"
#include "kernels/dispatch.h"
#include "kernels/onednn.h"
#include "kernels/qkernels.h"
#include "packed_py.h"

/* PackedLinear and PackedConv2d: the C handle and how to destroy it. */
typedef struct {
    PyObject_HEAD
    void *h;
    void (*destroy)(void *);
} PackedObject;
typedef PackedObject PackedLinearObject;
typedef PackedObject PackedConv2dObject;

/* ---- argument helpers ------------------------------------------------------ */

static lpot_state *state_of_module(PyObject *m) { return lpot_state_from_module(m); }

/* A C-contiguous float32 copy/view of a 1-D sequence or array (new ref). */
static PyArrayObject *as_f32_vector(lpot_state *st, PyObject *obj, const char *name)
{
    PyArrayObject *a = (PyArrayObject *)PyArray_FROMANY(obj, NPY_FLOAT32, 0, 1,
                                                         NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    if (a == NULL) {
        PyErr_Clear();
        lpot_raise(st, LPOT_ERR_KERNEL, "%s: expected a float scalar or 1-D float array", name);
    }
    return a;
}

static int parse_dtype(lpot_state *st, const char *s, lpot_dtype_t *dt, const char *name)
{
    if (strcmp(s, "float32") == 0)
        *dt = LPOT_DT_F32;
    else if (strcmp(s, "uint8") == 0)
        *dt = LPOT_DT_U8;
    else if (strcmp(s, "int8") == 0)
        *dt = LPOT_DT_S8;
    else if (strcmp(s, "int32") == 0)
        *dt = LPOT_DT_S32;
    else {
        lpot_raise(st, LPOT_ERR_KERNEL,
                   "%s: expected 'float32', 'uint8', 'int8' or 'int32', got '%s'", name, s);
        return -1;
    }
    return 0;
}

static int npy_of(lpot_dtype_t dt)
{
    switch (dt) {
    case LPOT_DT_F32: return NPY_FLOAT32;
    case LPOT_DT_U8: return NPY_UINT8;
    case LPOT_DT_S8: return NPY_INT8;
    case LPOT_DT_S32: return NPY_INT32;
    }
    return NPY_FLOAT32;
}

/* An activation array: uint8/int8 ndarray with at least min_ndim dims; returns
 * a C-contiguous new reference and its dtype. */
static PyArrayObject *q_activation(lpot_state *st, PyObject *obj, const char *name,
                                   int min_ndim, lpot_dtype_t *dt)
{
    if (!PyArray_Check(obj)) {
        lpot_raise(st, LPOT_ERR_KERNEL, "%s: expected a numpy uint8 or int8 array, got %s", name,
                   Py_TYPE(obj)->tp_name);
        return NULL;
    }
    PyArrayObject *a = (PyArrayObject *)obj;
    int t = PyArray_TYPE(a);
    if (t != NPY_UINT8 && t != NPY_INT8) {
        lpot_raise(st, LPOT_ERR_KERNEL, "%s: expected dtype uint8 or int8, got %s", name,
                   PyArray_DESCR(a)->typeobj->tp_name);
        return NULL;
    }
    if (PyArray_NDIM(a) < min_ndim) {
        lpot_raise(st, LPOT_ERR_KERNEL, "%s: expected at least %d dimensions, got %d", name,
                   min_ndim, PyArray_NDIM(a));
        return NULL;
    }
    *dt = t == NPY_UINT8 ? LPOT_DT_U8 : LPOT_DT_S8;
    return (PyArrayObject *)PyArray_FromAny(obj, NULL, 0, 0, NPY_ARRAY_IN_ARRAY, NULL);
}

static int parse_impl(lpot_state *st, const char *s, lpot_impl_pref_t *p)
{
    if (strcmp(s, "auto") == 0)
        *p = LPOT_IMPL_AUTO;
    else if (strcmp(s, "ref") == 0)
        *p = LPOT_IMPL_REF;
    else if (strcmp(s, "onednn") == 0)
        *p = LPOT_IMPL_ONEDNN;
    else if (strcmp(s, "own") == 0)
        *p = LPOT_IMPL_OWN;
    else {
        lpot_raise(st, LPOT_ERR_KERNEL, "impl: expected 'auto', 'onednn', 'own' or 'ref', got '%s'", s);
        return -1;
    }
    return 0;
}

/* post_ops: a sequence of 'relu', 'gelu' (erf), 'gelu_tanh', 'sum'. */
static int parse_post_ops(lpot_state *st, PyObject *seq, lpot_post_op_t *post, int *n_post,
                          int *has_sum)
{
    *n_post = 0;
    *has_sum = 0;
    if (seq == NULL || seq == Py_None)
        return 0;
    if (PyUnicode_Check(seq)) {
        lpot_raise(st, LPOT_ERR_KERNEL, "post_ops: expected a list of names, got a string");
        return -1;
    }
    PyObject *fast = PySequence_Fast(seq, "post_ops: expected a list of names");
    if (fast == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    int rc = -1;
    if (n > LPOT_MAX_POST_OPS) {
        lpot_raise(st, LPOT_ERR_KERNEL, "post_ops: at most %d allowed, got %zd", LPOT_MAX_POST_OPS, n);
        goto cleanup;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it = PySequence_Fast_GET_ITEM(fast, i);
        const char *s = PyUnicode_Check(it) ? PyUnicode_AsUTF8(it) : NULL;
        if (s == NULL) {
            PyErr_Clear();
            lpot_raise(st, LPOT_ERR_KERNEL, "post_ops[%zd]: expected a string", i);
            goto cleanup;
        }
        lpot_post_op_t *p = &post[i];
        memset(p, 0, sizeof *p);
        if (strcmp(s, "relu") == 0)
            p->kind = LPOT_POST_RELU;
        else if (strcmp(s, "gelu") == 0 || strcmp(s, "gelu_erf") == 0)
            p->kind = LPOT_POST_GELU_ERF;
        else if (strcmp(s, "gelu_tanh") == 0)
            p->kind = LPOT_POST_GELU_TANH;
        else if (strcmp(s, "sum") == 0) {
            p->kind = LPOT_POST_SUM;
            (*has_sum)++;
        } else {
            lpot_raise(st, LPOT_ERR_KERNEL,
                       "post_ops[%zd]: unknown '%s' (expected relu, gelu, gelu_tanh, sum)", i, s);
            goto cleanup;
        }
    }
    if (*has_sum > 1) {
        lpot_raise(st, LPOT_ERR_KERNEL, "post_ops: 'sum' may appear once");
        goto cleanup;
    }
    *n_post = (int)n;
    rc = 0;
cleanup:
    Py_DECREF(fast);
    return rc;
}

/* The output side shared by qlinear / qconv2d / qmatmul. */
typedef struct {
    const char *out_dtype;
    double out_scale;
    int out_zp;
    PyObject *post_ops;
    PyObject *sum_input;
    PyObject *sum_scale;
    PyObject *sum_zp;
    const char *impl;
} out_args_t;

static int fill_qparams(lpot_state *st, lpot_qparams_t *qp, lpot_dtype_t x_dt, double x_scale,
                        int x_zp, const out_args_t *o, lpot_impl_pref_t *pref)
{
    int has_sum;
    memset(qp, 0, sizeof *qp);
    qp->src_dt = x_dt;
    qp->src_scale = (float)x_scale;
    qp->src_zp = x_zp;
    if (parse_dtype(st, o->out_dtype, &qp->dst_dt, "out_dtype") < 0 ||
        parse_impl(st, o->impl, pref) < 0 ||
        parse_post_ops(st, o->post_ops, qp->post, &qp->n_post, &has_sum) < 0)
        return -1;
    qp->dst_scale = (float)o->out_scale;
    qp->dst_zp = o->out_zp;
    if (has_sum && (o->sum_input == NULL || o->sum_input == Py_None)) {
        lpot_raise(st, LPOT_ERR_KERNEL, "sum_input: required by the 'sum' post-op");
        return -1;
    }
    if (!has_sum && o->sum_input != NULL && o->sum_input != Py_None) {
        lpot_raise(st, LPOT_ERR_KERNEL, "sum_input: given but post_ops has no 'sum'");
        return -1;
    }
    const int quant = qp->dst_dt == LPOT_DT_U8 || qp->dst_dt == LPOT_DT_S8;
    for (int i = 0; i < qp->n_post; i++) {
        if (qp->post[i].kind != LPOT_POST_SUM)
            continue;
        double s = quant ? o->out_scale : 1.0;
        long z = quant ? o->out_zp : 0;
        if (o->sum_scale && o->sum_scale != Py_None) {
            s = PyFloat_AsDouble(o->sum_scale);
            if (s == -1.0 && PyErr_Occurred())
                return -1;
        }
        if (o->sum_zp && o->sum_zp != Py_None) {
            z = PyLong_AsLong(o->sum_zp);
            if (z == -1 && PyErr_Occurred())
                return -1;
        }
        qp->post[i].scale = (float)s;
        qp->post[i].zp = (int32_t)z;
    }
    lpot_status_t s = lpot_qparams_check(qp);
    if (s != LPOT_OK) {
        lpot_raise_status(st, s);
        return -1;
    }
    return 0;
}

/* New output array; filled from sum_input when the sum post-op is used. */
static PyArrayObject *new_output(lpot_state *st, int nd, npy_intp *dims, const lpot_qparams_t *qp,
                                 PyObject *sum_input)
{
    PyArrayObject *y = (PyArrayObject *)PyArray_SimpleNew(nd, dims, npy_of(qp->dst_dt));
    if (y == NULL || sum_input == NULL || sum_input == Py_None)
        return y;
    if (!PyArray_Check(sum_input) ||
        PyArray_TYPE((PyArrayObject *)sum_input) != npy_of(qp->dst_dt)) {
        Py_DECREF(y);
        lpot_raise(st, LPOT_ERR_KERNEL, "sum_input: expected a numpy %s array (the output dtype)",
                   lpot_dtype_name(qp->dst_dt));
        return NULL;
    }
    PyArrayObject *s = (PyArrayObject *)sum_input;
    if (PyArray_NDIM(s) != nd || !PyArray_CompareLists(PyArray_DIMS(s), dims, nd)) {
        Py_DECREF(y);
        lpot_raise(st, LPOT_ERR_KERNEL, "sum_input: expected the output shape");
        return NULL;
    }
    if (PyArray_CopyInto(y, s) < 0) {
        Py_DECREF(y);
        return NULL;
    }
    return y;
}

/* ---- PackedLinear ------------------------------------------------------------ */

static int check_weight(lpot_state *st, PyObject *obj, int ndim, PyArrayObject **out)
{
    if (!PyArray_Check(obj) || PyArray_TYPE((PyArrayObject *)obj) != NPY_INT8 ||
        PyArray_NDIM((PyArrayObject *)obj) != ndim) {
        lpot_raise(st, LPOT_ERR_KERNEL, "weight: expected a %d-D numpy int8 array", ndim);
        return -1;
    }
    *out = (PyArrayObject *)PyArray_FromAny(obj, NULL, 0, 0, NPY_ARRAY_IN_ARRAY, NULL);
    return *out ? 0 : -1;
}

static PyArrayObject *opt_bias(lpot_state *st, PyObject *obj, npy_intp n)
{
    if (obj == NULL || obj == Py_None)
        return NULL;
    PyArrayObject *b = as_f32_vector(st, obj, "bias");
    if (b && (PyArray_NDIM(b) != 1 || PyArray_DIM(b, 0) != n)) {
        Py_DECREF(b);
        lpot_raise(st, LPOT_ERR_KERNEL, "bias: expected %zd values", (Py_ssize_t)n);
        return NULL;
    }
    return b;
}

/* Both packed types: the C handle in `h`. Wraps a just-created handle (or
 * raises for rc) and releases the argument arrays. */
static PyObject *packed_wrap(PyTypeObject *type, lpot_state *st, lpot_status_t rc, void *h,
                             void (*destroy)(void *), PyArrayObject *w, PyArrayObject *s,
                             PyArrayObject *b)
{
    PyObject *self = NULL;
    Py_DECREF(w);
    Py_DECREF(s);
    Py_XDECREF(b);
    if (rc != LPOT_OK)
        return lpot_raise_status(st, rc);
    self = type->tp_alloc(type, 0);
    if (self == NULL) {
        destroy(h);
        return NULL;
    }
    ((PackedObject *)self)->h = h;
    ((PackedObject *)self)->destroy = destroy;
    return self;
}

static PyObject *PackedLinear_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"weight", "w_scales", "bias", "m_hint", NULL};
    PyObject *wobj, *sobj, *bobj = Py_None;
    Py_ssize_t m_hint = 0;
    PyArrayObject *w = NULL, *s = NULL, *b = NULL;
    lpot_state *st = lpot_state_from_type(type);
    if (st == NULL ||
        !PyArg_ParseTupleAndKeywords(args, kwargs, "OO|On:PackedLinear", kwlist, &wobj, &sobj,
                                     &bobj, &m_hint))
        return NULL;
    if (check_weight(st, wobj, 2, &w) < 0)
        goto error;
    if ((s = as_f32_vector(st, sobj, "w_scales")) == NULL)
        goto error;
    if (bobj != Py_None && (b = opt_bias(st, bobj, PyArray_DIM(w, 0))) == NULL)
        goto error;
    lpot_qlinear_t *h = NULL;
    lpot_status_t rc = lpot_qlinear_create(&h, PyArray_DATA(w), PyArray_DIM(w, 0), PyArray_DIM(w, 1),
                                           PyArray_DATA(s), PyArray_SIZE(s),
                                           b ? PyArray_DATA(b) : NULL, m_hint);
    return packed_wrap(type, st, rc, h, (void (*)(void *))lpot_qlinear_destroy, w, s, b);
error:
    Py_XDECREF(w);
    Py_XDECREF(s);
    Py_XDECREF(b);
    return NULL;
}

static void Packed_dealloc(PackedObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (self->destroy)
        self->destroy(self->h);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *PackedLinear_get(PackedLinearObject *self, void *what)
{
    const char *w = what;
    if (strcmp(w, "out_features") == 0)
        return PyLong_FromLongLong(lpot_qlinear_n(self->h));
    if (strcmp(w, "in_features") == 0)
        return PyLong_FromLongLong(lpot_qlinear_k(self->h));
    if (strcmp(w, "impl") == 0)
        return PyUnicode_FromString(lpot_qlinear_packed_impl(self->h));
    if (strcmp(w, "packed_bytes") == 0)
        return PyLong_FromSize_t(lpot_qlinear_packed_bytes(self->h));
    if (strcmp(w, "weight") == 0) {
        npy_intp d[2] = {lpot_qlinear_n(self->h), lpot_qlinear_k(self->h)};
        PyObject *a = PyArray_SimpleNew(2, d, NPY_INT8);
        if (a)
            memcpy(PyArray_DATA((PyArrayObject *)a), lpot_qlinear_weight(self->h), (size_t)(d[0] * d[1]));
        return a;
    }
    int64_t ns;
    const float *sc = lpot_qlinear_scales(self->h, &ns);
    npy_intp d[1] = {ns};
    PyObject *a = PyArray_SimpleNew(1, d, NPY_FLOAT32);
    if (a)
        memcpy(PyArray_DATA((PyArrayObject *)a), sc, sizeof(float) * (size_t)ns);
    return a;
}

static PyGetSetDef PackedLinear_getset[] = {
    {"out_features", (getter)PackedLinear_get, NULL, "N", "out_features"},
    {"in_features", (getter)PackedLinear_get, NULL, "K", "in_features"},
    {"impl", (getter)PackedLinear_get, NULL, "oneDNN implementation picked at pack time", "impl"},
    {"packed_bytes", (getter)PackedLinear_get, NULL, "bytes of packed weight layouts", "packed_bytes"},
    {"weight", (getter)PackedLinear_get, NULL, "copy of the plain (N, K) int8 weights", "weight"},
    {"w_scales", (getter)PackedLinear_get, NULL, "copy of the weight scales", "w_scales"},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(PackedLinear_doc,
"PackedLinear(weight, w_scales, bias=None, m_hint=0)\n\n"
"int8 weights (N, K), symmetric, with 1 or N float scales, packed once into\n"
"the layout oneDNN prefers on this CPU; bias: N floats. m_hint: the row\n"
"count to pick the packed layout for (default 128).");

static PyType_Slot PackedLinear_slots[] = {
    {Py_tp_new, PackedLinear_new},
    {Py_tp_dealloc, Packed_dealloc},
    {Py_tp_getset, PackedLinear_getset},
    {Py_tp_doc, (void *)PackedLinear_doc},
    {0, NULL},
};

static PyType_Spec PackedLinear_spec = {
    .name = "lpot._engine.PackedLinear",
    .basicsize = sizeof(PackedLinearObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = PackedLinear_slots,
};

/* ---- PackedConv2d ----------------------------------------------------------- */

/* int or sequence of `n` ints (or of 2 when n is 4: symmetric padding). */
static int parse_ints(lpot_state *st, PyObject *obj, const char *name, int64_t *out, int n)
{
    if (PyLong_Check(obj)) {
        long v = PyLong_AsLong(obj);
        if (v == -1 && PyErr_Occurred())
            return -1;
        for (int i = 0; i < n; i++)
            out[i] = v;
        return 0;
    }
    PyObject *fast = PySequence_Fast(obj, "expected an int or a sequence of ints");
    if (fast == NULL) {
        PyErr_Clear();
        lpot_raise(st, LPOT_ERR_KERNEL, "%s: expected an int or a sequence of ints", name);
        return -1;
    }
    Py_ssize_t len = PySequence_Fast_GET_SIZE(fast);
    int rc = -1;
    if (len != n && !(n == 4 && len == 2)) {
        lpot_raise(st, LPOT_ERR_KERNEL, "%s: expected %d values, got %zd", name, n, len);
        goto cleanup;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        if (v == -1 && PyErr_Occurred())
            goto cleanup;
        out[i] = v;
    }
    if (n == 4 && len == 2) { /* (ph, pw) -> top, left, bottom, right */
        out[2] = out[0];
        out[3] = out[1];
    }
    rc = 0;
cleanup:
    Py_DECREF(fast);
    return rc;
}

static PyObject *PackedConv2d_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"weight", "w_scales", "bias", "stride", "padding", "dilation",
                             "groups", "input_hw", NULL};
    PyObject *wobj, *sobj, *bobj = Py_None, *stride = NULL, *padding = NULL, *dilation = NULL,
                           *hw = Py_None;
    Py_ssize_t groups = 1;
    PyArrayObject *w = NULL, *s = NULL, *b = NULL;
    lpot_state *st = lpot_state_from_type(type);
    if (st == NULL ||
        !PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OOOOnO:PackedConv2d", kwlist, &wobj, &sobj,
                                     &bobj, &stride, &padding, &dilation, &groups, &hw))
        return NULL;
    lpot_conv_geom_t g = {.groups = groups, .stride = {1, 1}, .dilation = {1, 1}};
    int64_t hint[2] = {0, 0};
    if ((stride && parse_ints(st, stride, "stride", g.stride, 2) < 0) ||
        (padding && parse_ints(st, padding, "padding", g.pad, 4) < 0) ||
        (dilation && parse_ints(st, dilation, "dilation", g.dilation, 2) < 0) ||
        (hw != Py_None && parse_ints(st, hw, "input_hw", hint, 2) < 0))
        return NULL;
    if (check_weight(st, wobj, 4, &w) < 0)
        goto error;
    g.oc = PyArray_DIM(w, 0);
    g.ic = PyArray_DIM(w, 1) * groups;
    g.kh = PyArray_DIM(w, 2);
    g.kw = PyArray_DIM(w, 3);
    if ((s = as_f32_vector(st, sobj, "w_scales")) == NULL)
        goto error;
    if (bobj != Py_None && (b = opt_bias(st, bobj, g.oc)) == NULL)
        goto error;
    lpot_qconv_t *h = NULL;
    lpot_status_t rc = lpot_qconv_create(&h, PyArray_DATA(w), &g, PyArray_DATA(s), PyArray_SIZE(s),
                                         b ? PyArray_DATA(b) : NULL, hint);
    return packed_wrap(type, st, rc, h, (void (*)(void *))lpot_qconv_destroy, w, s, b);
error:
    Py_XDECREF(w);
    Py_XDECREF(s);
    Py_XDECREF(b);
    return NULL;
}

static PyObject *PackedConv2d_get(PackedConv2dObject *self, void *what)
{
    const char *w = what;
    const lpot_conv_geom_t *g = lpot_qconv_geom(self->h);
    if (strcmp(w, "impl") == 0)
        return PyUnicode_FromString(lpot_qconv_packed_impl(self->h));
    if (strcmp(w, "packed_bytes") == 0)
        return PyLong_FromSize_t(lpot_qconv_packed_bytes(self->h));
    return Py_BuildValue("{s:L,s:L,s:(LL),s:L,s:(LL),s:(LLLL),s:(LL)}", "out_channels", (long long)g->oc,
                         "in_channels", (long long)g->ic, "kernel", (long long)g->kh, (long long)g->kw,
                         "groups", (long long)g->groups, "stride", (long long)g->stride[0],
                         (long long)g->stride[1], "padding", (long long)g->pad[0],
                         (long long)g->pad[1], (long long)g->pad[2], (long long)g->pad[3],
                         "dilation", (long long)g->dilation[0], (long long)g->dilation[1]);
}

static PyGetSetDef PackedConv2d_getset[] = {
    {"impl", (getter)PackedConv2d_get, NULL, "oneDNN implementation picked at pack time", "impl"},
    {"packed_bytes", (getter)PackedConv2d_get, NULL, "bytes of packed weight layouts", "packed_bytes"},
    {"geometry", (getter)PackedConv2d_get, NULL, "channels, kernel, groups, stride, padding, dilation", "geometry"},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(PackedConv2d_doc,
"PackedConv2d(weight, w_scales, bias=None, stride=1, padding=0, dilation=1,\n"
"             groups=1, input_hw=None)\n\n"
"int8 weights (OC, IC/groups, KH, KW), symmetric, with 1 or OC float scales,\n"
"packed once for this CPU. padding: int, (ph, pw) or (top, left, bottom,\n"
"right). input_hw: the input size to pick the packed layout for.");

static PyType_Slot PackedConv2d_slots[] = {
    {Py_tp_new, PackedConv2d_new},
    {Py_tp_dealloc, Packed_dealloc},
    {Py_tp_getset, PackedConv2d_getset},
    {Py_tp_doc, (void *)PackedConv2d_doc},
    {0, NULL},
};

static PyType_Spec PackedConv2d_spec = {
    .name = "lpot._engine.PackedConv2d",
    .basicsize = sizeof(PackedConv2dObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = PackedConv2d_slots,
};

/* ---- ops ------------------------------------------------------------------------ */

#define OUT_KWLIST "out_dtype", "out_scale", "out_zp", "post_ops", "sum_input", "sum_scale", \
                   "sum_zp", "impl"
#define OUT_FMT "sdiOOOOs"
#define OUT_PTRS(o) &(o).out_dtype, &(o).out_scale, &(o).out_zp, &(o).post_ops, \
                    &(o).sum_input, &(o).sum_scale, &(o).sum_zp, &(o).impl
#define OUT_DEFAULTS {.out_dtype = "float32", .out_scale = 1.0, .impl = "auto"}

static int packed_check(lpot_state *st, PyObject *obj, PyTypeObject *type, const char *what)
{
    if (!PyObject_TypeCheck(obj, type)) {
        lpot_raise(st, LPOT_ERR_KERNEL, "packed: expected a %s, got %s", what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    return 0;
}

struct lpot_qlinear *lpot_packed_linear_of(lpot_state *st, PyObject *obj, const char *name)
{
    if (!PyObject_TypeCheck(obj, (PyTypeObject *)st->PackedLinearType)) {
        lpot_raise(st, LPOT_ERR_KERNEL, "%s: expected a PackedLinear, got %s", name,
                   Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return ((PackedLinearObject *)obj)->h;
}

static PyObject *done(lpot_state *st, lpot_status_t rc, const char *op, const char *impl,
                      PyArrayObject *y)
{
    if (rc != LPOT_OK) {
        Py_XDECREF(y);
        return lpot_raise_status(st, rc);
    }
    lpot_qk_record_impl(op, impl);
    return (PyObject *)y;
}

PyDoc_STRVAR(qlinear_doc,
"qlinear(x, packed, x_scale, x_zp, out_dtype='float32', out_scale=1.0, out_zp=0,\n"
"        post_ops=(), sum_input=None, sum_scale=None, sum_zp=None, impl='auto')\n\n"
"y = x . W^T for u8/s8 x (..., K) with a per-tensor scale/zero point and a\n"
"PackedLinear. out_dtype 'int32' gives the raw accumulation (no scales,\n"
"bias or post-ops). post_ops: 'relu', 'gelu', 'gelu_tanh', 'sum' (adds\n"
"sum_scale * (sum_input - sum_zp); defaults: out_scale/out_zp for quantized\n"
"output, 1/0 for float). impl='ref' forces the scalar reference,\n"
"impl='onednn' skips lpot's own small-M kernel.");

static PyObject *qlinear(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"x", "packed", "x_scale", "x_zp", OUT_KWLIST, NULL};
    lpot_state *st = state_of_module(module);
    PyObject *xobj, *pobj;
    double x_scale;
    int x_zp;
    out_args_t o = OUT_DEFAULTS;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOdi|" OUT_FMT ":qlinear", kwlist, &xobj,
                                     &pobj, &x_scale, &x_zp, OUT_PTRS(o)))
        return NULL;
    if (packed_check(st, pobj, (PyTypeObject *)st->PackedLinearType, "PackedLinear") < 0)
        return NULL;
    lpot_qlinear_t *lin = ((PackedLinearObject *)pobj)->h;
    lpot_dtype_t xdt;
    lpot_qparams_t qp;
    lpot_impl_pref_t pref;
    PyArrayObject *x = q_activation(st, xobj, "x", 1, &xdt), *y = NULL;
    if (x == NULL)
        return NULL;
    int nd = PyArray_NDIM(x);
    npy_intp k = PyArray_DIM(x, nd - 1);
    if (k != lpot_qlinear_k(lin)) {
        Py_DECREF(x);
        return lpot_raise(st, LPOT_ERR_KERNEL, "x: last dimension %zd does not match in_features %lld",
                          (Py_ssize_t)k, (long long)lpot_qlinear_k(lin));
    }
    if (fill_qparams(st, &qp, xdt, x_scale, x_zp, &o, &pref) < 0) {
        Py_DECREF(x);
        return NULL;
    }
    npy_intp dims[NPY_MAXDIMS];
    memcpy(dims, PyArray_DIMS(x), sizeof(npy_intp) * (size_t)nd);
    dims[nd - 1] = lpot_qlinear_n(lin);
    y = new_output(st, nd, dims, &qp, o.sum_input);
    if (y == NULL) {
        Py_DECREF(x);
        return NULL;
    }
    int64_t m = k ? (int64_t)(PyArray_SIZE(x) / k) : 0;
    const char *impl = "";
    lpot_status_t rc;
    if ((double)m * (double)k * (double)lpot_qlinear_n(lin) >= LPOT_GIL_RELEASE_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        rc = lpot_qlinear_run(lin, PyArray_DATA(x), m, &qp, PyArray_DATA(y), pref, &impl);
        Py_END_ALLOW_THREADS
    } else {
        rc = lpot_qlinear_run(lin, PyArray_DATA(x), m, &qp, PyArray_DATA(y), pref, &impl);
    }
    Py_DECREF(x);
    return done(st, rc, "linear", impl, y);
}

PyDoc_STRVAR(qlinear_dynamic_doc,
"qlinear_dynamic(x, packed, per_row=False, post_ops=(), impl='auto',\n"
"                return_qparams=False)\n\n"
"Dynamic quantized linear: float32 x (..., K) is quantized to uint8 inside\n"
"the call (ONNX DynamicQuantizeLinear rule, per tensor or per row), multiplied\n"
"with the PackedLinear and dequantized to float32 (+ bias, relu/gelu).\n"
"With return_qparams, returns (y, x_scales, x_zero_points).");

static PyObject *qlinear_dynamic(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"x", "packed", "per_row", "post_ops", "impl", "return_qparams", NULL};
    lpot_state *st = state_of_module(module);
    PyObject *xobj, *pobj, *post_obj = Py_None;
    int per_row = 0, ret_qp = 0;
    const char *impl_s = "auto";
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|pOsp:qlinear_dynamic", kwlist, &xobj,
                                     &pobj, &per_row, &post_obj, &impl_s, &ret_qp))
        return NULL;
    if (packed_check(st, pobj, (PyTypeObject *)st->PackedLinearType, "PackedLinear") < 0)
        return NULL;
    lpot_qlinear_t *lin = ((PackedLinearObject *)pobj)->h;
    lpot_post_op_t post[LPOT_MAX_POST_OPS];
    int n_post, has_sum;
    lpot_impl_pref_t pref;
    if (parse_impl(st, impl_s, &pref) < 0 || parse_post_ops(st, post_obj, post, &n_post, &has_sum) < 0)
        return NULL;
    if (!PyArray_Check(xobj) || PyArray_TYPE((PyArrayObject *)xobj) != NPY_FLOAT32 ||
        PyArray_NDIM((PyArrayObject *)xobj) < 1)
        return lpot_raise(st, LPOT_ERR_KERNEL, "x: expected a float32 numpy array with at least 1 dimension");
    PyArrayObject *x = (PyArrayObject *)PyArray_FromAny(xobj, NULL, 0, 0, NPY_ARRAY_IN_ARRAY, NULL);
    PyArrayObject *y = NULL, *xs = NULL, *xz = NULL;
    if (x == NULL)
        return NULL;
    int nd = PyArray_NDIM(x);
    npy_intp k = PyArray_DIM(x, nd - 1);
    if (k != lpot_qlinear_k(lin)) {
        Py_DECREF(x);
        return lpot_raise(st, LPOT_ERR_KERNEL, "x: last dimension %zd does not match in_features %lld",
                          (Py_ssize_t)k, (long long)lpot_qlinear_k(lin));
    }
    npy_intp dims[NPY_MAXDIMS];
    memcpy(dims, PyArray_DIMS(x), sizeof(npy_intp) * (size_t)nd);
    dims[nd - 1] = lpot_qlinear_n(lin);
    npy_intp m = k ? PyArray_SIZE(x) / k : 0;
    npy_intp nq[1] = {per_row ? m : 1};
    y = (PyArrayObject *)PyArray_SimpleNew(nd, dims, NPY_FLOAT32);
    xs = (PyArrayObject *)PyArray_SimpleNew(1, nq, NPY_FLOAT32);
    xz = (PyArrayObject *)PyArray_SimpleNew(1, nq, NPY_INT32);
    PyObject *res = NULL;
    if (y == NULL || xs == NULL || xz == NULL)
        goto cleanup;
    const char *impl = "";
    lpot_status_t rc;
    Py_BEGIN_ALLOW_THREADS
    rc = lpot_qlinear_run_dynamic(lin, PyArray_DATA(x), m, per_row, post, n_post, PyArray_DATA(y),
                                  PyArray_DATA(xs), PyArray_DATA(xz), pref, &impl);
    Py_END_ALLOW_THREADS
    if (rc != LPOT_OK) {
        lpot_raise_status(st, rc);
        goto cleanup;
    }
    lpot_qk_record_impl("linear", impl);
    res = ret_qp ? Py_BuildValue("OOO", y, xs, xz) : Py_NewRef((PyObject *)y);
cleanup:
    Py_DECREF(x);
    Py_XDECREF(y);
    Py_XDECREF(xs);
    Py_XDECREF(xz);
    return res;
}

PyDoc_STRVAR(qconv2d_doc,
"qconv2d(x, packed, x_scale, x_zp, out_dtype='float32', out_scale=1.0, out_zp=0,\n"
"        post_ops=(), sum_input=None, sum_scale=None, sum_zp=None, impl='auto',\n"
"        layout='NCHW')\n\n"
"2-D convolution of u8/s8 x (N, C, H, W) or, with layout='NHWC', (N, H, W, C)\n"
"with a PackedConv2d; the output uses the same layout. Output side as in\n"
"qlinear.");

static PyObject *qconv2d(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"x", "packed", "x_scale", "x_zp", OUT_KWLIST, "layout", NULL};
    lpot_state *st = state_of_module(module);
    PyObject *xobj, *pobj;
    double x_scale;
    int x_zp;
    const char *layout_s = "NCHW";
    out_args_t o = OUT_DEFAULTS;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOdi|" OUT_FMT "s:qconv2d", kwlist, &xobj,
                                     &pobj, &x_scale, &x_zp, OUT_PTRS(o), &layout_s))
        return NULL;
    if (packed_check(st, pobj, (PyTypeObject *)st->PackedConv2dType, "PackedConv2d") < 0)
        return NULL;
    lpot_layout_t layout;
    if (strcmp(layout_s, "NCHW") == 0)
        layout = LPOT_LAYOUT_NCHW;
    else if (strcmp(layout_s, "NHWC") == 0)
        layout = LPOT_LAYOUT_NHWC;
    else
        return lpot_raise(st, LPOT_ERR_KERNEL, "layout: expected 'NCHW' or 'NHWC', got '%s'", layout_s);
    lpot_qconv_t *conv = ((PackedConv2dObject *)pobj)->h;
    const lpot_conv_geom_t *g = lpot_qconv_geom(conv);
    lpot_dtype_t xdt;
    lpot_qparams_t qp;
    lpot_impl_pref_t pref;
    PyArrayObject *x = q_activation(st, xobj, "x", 4, &xdt), *y = NULL;
    if (x == NULL)
        return NULL;
    if (PyArray_NDIM(x) != 4) {
        Py_DECREF(x);
        return lpot_raise(st, LPOT_ERR_KERNEL, "x: expected 4 dimensions (%s), got %d", layout_s,
                          PyArray_NDIM(x));
    }
    npy_intp n = PyArray_DIM(x, 0);
    npy_intp c = PyArray_DIM(x, layout == LPOT_LAYOUT_NCHW ? 1 : 3);
    npy_intp h = PyArray_DIM(x, layout == LPOT_LAYOUT_NCHW ? 2 : 1);
    npy_intp w = PyArray_DIM(x, layout == LPOT_LAYOUT_NCHW ? 3 : 2);
    int64_t oh, ow;
    lpot_status_t rc = LPOT_OK;
    if (c != g->ic) {
        Py_DECREF(x);
        return lpot_raise(st, LPOT_ERR_KERNEL, "x: %zd channels (layout %s) but the weights take %lld",
                          (Py_ssize_t)c, layout_s, (long long)g->ic);
    }
    if ((rc = lpot_conv_out_hw(g, h, w, &oh, &ow)) != LPOT_OK) {
        Py_DECREF(x);
        return lpot_raise_status(st, rc);
    }
    if (fill_qparams(st, &qp, xdt, x_scale, x_zp, &o, &pref) < 0) {
        Py_DECREF(x);
        return NULL;
    }
    npy_intp dims[4] = {n, g->oc, oh, ow};
    if (layout == LPOT_LAYOUT_NHWC) {
        dims[1] = oh;
        dims[2] = ow;
        dims[3] = g->oc;
    }
    y = new_output(st, 4, dims, &qp, o.sum_input);
    if (y == NULL) {
        Py_DECREF(x);
        return NULL;
    }
    const char *impl = "";
    if ((double)n * oh * ow * g->oc * (double)(g->ic / g->groups) * g->kh * g->kw >=
        LPOT_GIL_RELEASE_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        rc = lpot_qconv_run(conv, PyArray_DATA(x), n, h, w, layout, &qp, PyArray_DATA(y), pref, &impl);
        Py_END_ALLOW_THREADS
    } else {
        rc = lpot_qconv_run(conv, PyArray_DATA(x), n, h, w, layout, &qp, PyArray_DATA(y), pref, &impl);
    }
    Py_DECREF(x);
    return done(st, rc, "conv2d", impl, y);
}

PyDoc_STRVAR(qmatmul_doc,
"qmatmul(a, b, a_scale, a_zp, b_scale, b_zp, out_dtype='float32', out_scale=1.0,\n"
"        out_zp=0, post_ops=(), sum_input=None, sum_scale=None, sum_zp=None,\n"
"        impl='auto', transpose_b=False)\n\n"
"Batched product of two quantized activations: a (..., M, K), b (..., K, N)\n"
"or (..., N, K) with transpose_b (attention's Q.K^T); b's leading dims equal\n"
"a's, or b is 2-D and shared. u8/s8 each with a per-tensor scale/zero point.");

static PyObject *qmatmul(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"a", "b", "a_scale", "a_zp", "b_scale", "b_zp", OUT_KWLIST,
                             "transpose_b", NULL};
    lpot_state *st = state_of_module(module);
    PyObject *aobj, *bobj;
    double a_scale, b_scale;
    int a_zp, b_zp, trans_b = 0;
    out_args_t o = OUT_DEFAULTS;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOdidi|" OUT_FMT "p:qmatmul", kwlist, &aobj,
                                     &bobj, &a_scale, &a_zp, &b_scale, &b_zp, OUT_PTRS(o), &trans_b))
        return NULL;
    lpot_dtype_t adt, bdt;
    lpot_qparams_t qp;
    lpot_impl_pref_t pref;
    PyArrayObject *a = NULL, *b = NULL, *y = NULL;
    PyObject *res = NULL;
    if ((a = q_activation(st, aobj, "a", 2, &adt)) == NULL ||
        (b = q_activation(st, bobj, "b", 2, &bdt)) == NULL)
        goto cleanup;
    int nda = PyArray_NDIM(a), ndb = PyArray_NDIM(b);
    npy_intp m = PyArray_DIM(a, nda - 2), k = PyArray_DIM(a, nda - 1);
    npy_intp bk = PyArray_DIM(b, ndb - (trans_b ? 1 : 2)), n = PyArray_DIM(b, ndb - (trans_b ? 2 : 1));
    if (bk != k) {
        lpot_raise(st, LPOT_ERR_KERNEL, "b: inner dimension %zd does not match a's %zd%s",
                   (Py_ssize_t)bk, (Py_ssize_t)k, trans_b ? " (transpose_b)" : "");
        goto cleanup;
    }
    int b_shared = ndb == 2 && nda > 2;
    if (!b_shared && (nda != ndb || !PyArray_CompareLists(PyArray_DIMS(a), PyArray_DIMS(b), nda - 2))) {
        lpot_raise(st, LPOT_ERR_KERNEL, "b: leading (batch) dimensions must equal a's, or b must be 2-D");
        goto cleanup;
    }
    if (!(b_scale > 0.0) || !isfinite(b_scale)) {
        lpot_raise(st, LPOT_ERR_KERNEL, "b_scale: expected a positive finite scale, got %g", b_scale);
        goto cleanup;
    }
    if (b_zp < (bdt == LPOT_DT_U8 ? 0 : -128) || b_zp > (bdt == LPOT_DT_U8 ? 255 : 127)) {
        lpot_raise(st, LPOT_ERR_KERNEL, "b_zp: %d is outside the %s range", b_zp, lpot_dtype_name(bdt));
        goto cleanup;
    }
    if (fill_qparams(st, &qp, adt, a_scale, a_zp, &o, &pref) < 0)
        goto cleanup;
    npy_intp dims[NPY_MAXDIMS];
    memcpy(dims, PyArray_DIMS(a), sizeof(npy_intp) * (size_t)nda);
    dims[nda - 1] = n;
    y = new_output(st, nda, dims, &qp, o.sum_input);
    if (y == NULL)
        goto cleanup;
    int64_t batch = 1;
    for (int i = 0; i < nda - 2; i++)
        batch *= PyArray_DIM(a, i);
    const char *impl = "";
    lpot_status_t rc;
    Py_BEGIN_ALLOW_THREADS
    rc = lpot_qmatmul_run(PyArray_DATA(a), PyArray_DATA(b), batch, m, k, n, trans_b, b_shared, bdt,
                          (float)b_scale, b_zp, &qp, PyArray_DATA(y), pref, &impl);
    Py_END_ALLOW_THREADS
    res = done(st, rc, "matmul", impl, y);
    y = NULL;
cleanup:
    Py_XDECREF(a);
    Py_XDECREF(b);
    Py_XDECREF(y);
    return res;
}

PyDoc_STRVAR(qgemv_doc,
"_qgemv_s8(x, w, impl='dispatch') -> int32 (m, n)\n\n"
"Raw sum_k x[r,k] * w[j,k] of lpot's small-M kernel for u8/s8 x (m, k),\n"
"m <= 4, and int8 w (n, k). impl='ref' forces the scalar reference. Tests.");

static PyObject *qgemv_s8(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"x", "w", "impl", NULL};
    lpot_state *st = state_of_module(module);
    PyObject *xobj, *wobj, *res = NULL;
    const char *impl = "dispatch";
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|s:_qgemv_s8", kwlist, &xobj, &wobj, &impl))
        return NULL;
    lpot_qgemv_s8_fn fn = strcmp(impl, "ref") == 0 ? lpot_kernels_ref.qgemv_s8 : lpot_kernels.qgemv_s8;
    lpot_dtype_t xdt;
    PyArrayObject *x = NULL, *w = NULL, *y = NULL;
    int32_t *pairs = NULL, *acc = NULL;
    int8_t *wp = NULL;
    if ((x = q_activation(st, xobj, "x", 2, &xdt)) == NULL || check_weight(st, wobj, 2, &w) < 0)
        goto cleanup;
    npy_intp m = PyArray_DIM(x, 0), k = PyArray_DIM(x, 1), n = PyArray_DIM(w, 0);
    if (PyArray_NDIM(x) != 2 || m > LPOT_QGEMV_MAX_M || PyArray_DIM(w, 1) != k || k < 1 || n < 1) {
        lpot_raise(st, LPOT_ERR_KERNEL, "x: expected (m <= %d, k) matching w (n, k)", LPOT_QGEMV_MAX_M);
        goto cleanup;
    }
    int64_t nb, kp;
    wp = lpot_qgemv_pack(PyArray_DATA(w), n, k, &nb, &kp);
    pairs = malloc(sizeof(int32_t) * (size_t)(m * kp) + 1);
    acc = malloc(sizeof(int32_t) * (size_t)(m * nb * 8) + 1);
    npy_intp dims[2] = {m, n};
    y = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_INT32);
    if (wp == NULL || pairs == NULL || acc == NULL) {
        PyErr_NoMemory();
        goto cleanup;
    }
    if (y == NULL)
        goto cleanup;
    for (npy_intp i = 0; i < m; i++)
        lpot_qgemv_xpairs((const char *)PyArray_DATA(x) + i * k, xdt == LPOT_DT_U8, k, pairs + i * kp);
    fn(pairs, m, kp, wp, nb, acc, nb * 8);
    for (npy_intp i = 0; i < m; i++)
        memcpy((int32_t *)PyArray_DATA(y) + i * n, acc + i * nb * 8, sizeof(int32_t) * (size_t)n);
    res = (PyObject *)y;
    y = NULL;
cleanup:
    free(wp);
    free(pairs);
    free(acc);
    Py_XDECREF(x);
    Py_XDECREF(w);
    Py_XDECREF(y);
    return res;
}

PyDoc_STRVAR(qgemm_u8s8_doc,
"_qgemm_u8s8(a, w, impl='dispatch', add=None) -> int32 (m, n)\n\n"
"Raw int32 sums of lpot's own convolution GEMM tile kernel for u8 a (m, k)\n"
"and int8 w (n, k), pairs of products added with int16 saturation as\n"
"vpmaddubsw does; K runs in two passes (the second accumulating) when k > 4;\n"
"add: n int32 added to every row by the last pass. impl='ref' forces the\n"
"scalar reference, impl='gemv' the small-M kernel of the same contract\n"
"(qgemv_u8s8, 7-bit weights). Tests.");

static PyObject *qgemm_u8s8(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"a", "w", "impl", "add", NULL};
    lpot_state *st = state_of_module(module);
    PyObject *aobj, *wobj, *addobj = Py_None, *res = NULL;
    const char *impl = "dispatch";
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|sO:_qgemm_u8s8", kwlist, &aobj, &wobj, &impl,
                                     &addobj))
        return NULL;
    PyArrayObject *add = NULL;
    int32_t *cadd = NULL;
    lpot_qgemm_u8s8_fn fn = strcmp(impl, "ref") == 0    ? lpot_kernels_ref.qgemm_u8s8
                            : strcmp(impl, "gemv") == 0 ? lpot_kernels.qgemv_u8s8
                                                        : lpot_kernels.qgemm_u8s8;
    lpot_dtype_t adt;
    PyArrayObject *a = NULL, *w = NULL, *y = NULL;
    uint8_t *ap = NULL;
    int32_t *acc = NULL;
    int8_t *wp = NULL;
    if ((a = q_activation(st, aobj, "a", 2, &adt)) == NULL || check_weight(st, wobj, 2, &w) < 0)
        goto cleanup;
    npy_intp m = PyArray_DIM(a, 0), k = PyArray_DIM(a, 1), n = PyArray_DIM(w, 0);
    if (PyArray_NDIM(a) != 2 || adt != LPOT_DT_U8 || PyArray_DIM(w, 1) != k || k < 1 || n < 1) {
        lpot_raise(st, LPOT_ERR_KERNEL, "a: expected u8 (m, k) matching w (n, k)");
        goto cleanup;
    }
    int64_t nb, k4;
    wp = lpot_qgemm_u8s8_pack(PyArray_DATA(w), n, k, &nb, &k4);
    if (addobj != Py_None) {
        add = (PyArrayObject *)PyArray_FROMANY(addobj, NPY_INT32, 1, 1, NPY_ARRAY_IN_ARRAY);
        if (add == NULL)
            goto cleanup;
        if (PyArray_DIM(add, 0) != n) {
            lpot_raise(st, LPOT_ERR_KERNEL, "add: expected %zd values", (Py_ssize_t)n);
            goto cleanup;
        }
        cadd = calloc((size_t)(nb * 16), sizeof(int32_t));
        if (cadd == NULL) {
            PyErr_NoMemory();
            goto cleanup;
        }
        memcpy(cadd, PyArray_DATA(add), sizeof(int32_t) * (size_t)n);
    }
    ap = calloc((size_t)(m * k4 * 4) + 1, 1);
    acc = malloc(sizeof(int32_t) * (size_t)(m * nb * 16) + 1);
    npy_intp dims[2] = {m, n};
    y = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_INT32);
    if (wp == NULL || ap == NULL || acc == NULL) {
        PyErr_NoMemory();
        goto cleanup;
    }
    if (y == NULL)
        goto cleanup;
    for (npy_intp i = 0; i < m; i++)
        memcpy(ap + i * k4 * 4, (const uint8_t *)PyArray_DATA(a) + i * k, (size_t)k);
    const int64_t half = k4 / 2;
    fn(ap, k4 * 4, m, wp, k4 * 64, nb, half > 0 ? half : k4, acc, nb * 16, 0, half > 0 ? NULL : cadd);
    if (half > 0)
        fn(ap + half * 4, k4 * 4, m, wp + half * 64, k4 * 64, nb, k4 - half, acc, nb * 16, 1, cadd);
    for (npy_intp i = 0; i < m; i++)
        memcpy((int32_t *)PyArray_DATA(y) + i * n, acc + i * nb * 16, sizeof(int32_t) * (size_t)n);
    res = (PyObject *)y;
    y = NULL;
cleanup:
    free(wp);
    free(ap);
    free(acc);
    free(cadd);
    Py_XDECREF(add);
    Py_XDECREF(a);
    Py_XDECREF(w);
    Py_XDECREF(y);
    return res;
}

PyDoc_STRVAR(set_num_threads_doc,
"set_num_threads(n)\n\nThreads every large int8 kernel call uses; 0 (default):\n"
"OpenMP's default team or one thread, whichever measures faster per primitive.");

static PyObject *set_num_threads(PyObject *module, PyObject *arg)
{
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 0 || n > 4096)
        return lpot_raise(state_of_module(module), LPOT_ERR_INVALID,
                          "n: expected 0..4096 threads, got %ld", n);
    lpot_qk_set_num_threads((int)n);
    Py_RETURN_NONE;
}

static PyObject *get_num_threads(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return PyLong_FromLong(lpot_qk_get_num_threads());
}

PyDoc_STRVAR(last_impl_doc,
"last_impl() -> dict\n\n"
"What the calling thread's last linear / conv2d / matmul call ran: the\n"
"oneDNN implementation name ('brg:avx2', 'gemm:jit', ...) or 'lpot:ref',\n"
"plus 'isa': the ISA oneDNN dispatches to, and 'threads': the OpenMP threads\n"
"the last call used (1 below 4M multiply-adds).");

static PyObject *last_impl(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return Py_BuildValue("{s:s,s:s,s:s,s:s,s:i}", "linear", lpot_qk_last_impl("linear"), "conv2d",
                         lpot_qk_last_impl("conv2d"), "matmul", lpot_qk_last_impl("matmul"), "isa",
                         lpot_onednn_isa(), "threads", lpot_qk_last_threads());
}

static PyMethodDef packed_methods[] = {
    {"qlinear", (PyCFunction)(void (*)(void))qlinear, METH_VARARGS | METH_KEYWORDS, qlinear_doc},
    {"qlinear_dynamic", (PyCFunction)(void (*)(void))qlinear_dynamic, METH_VARARGS | METH_KEYWORDS,
     qlinear_dynamic_doc},
    {"qconv2d", (PyCFunction)(void (*)(void))qconv2d, METH_VARARGS | METH_KEYWORDS, qconv2d_doc},
    {"qmatmul", (PyCFunction)(void (*)(void))qmatmul, METH_VARARGS | METH_KEYWORDS, qmatmul_doc},
    {"_qgemv_s8", (PyCFunction)(void (*)(void))qgemv_s8, METH_VARARGS | METH_KEYWORDS, qgemv_doc},
    {"_qgemm_u8s8", (PyCFunction)(void (*)(void))qgemm_u8s8, METH_VARARGS | METH_KEYWORDS, qgemm_u8s8_doc},
    {"set_num_threads", set_num_threads, METH_O, set_num_threads_doc},
    {"get_num_threads", get_num_threads, METH_NOARGS, "get_num_threads() -> int"},
    {"last_impl", last_impl, METH_NOARGS, last_impl_doc},
    {NULL, NULL, 0, NULL},
};

int lpot_packed_exec(PyObject *module)
{
    lpot_state *st = lpot_state_from_module(module);
    st->PackedLinearType = PyType_FromModuleAndSpec(module, &PackedLinear_spec, NULL);
    if (st->PackedLinearType == NULL || PyModule_AddType(module, (PyTypeObject *)st->PackedLinearType) < 0)
        return -1;
    st->PackedConv2dType = PyType_FromModuleAndSpec(module, &PackedConv2d_spec, NULL);
    if (st->PackedConv2dType == NULL || PyModule_AddType(module, (PyTypeObject *)st->PackedConv2dType) < 0)
        return -1;
    return PyModule_AddFunctions(module, packed_methods);
}
