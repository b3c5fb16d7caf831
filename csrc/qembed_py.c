/* Binding layer for the weight-only int8 embedding kernels: qembedding and
 * qembedding_bag. Arguments are checked here (KernelError naming the
 * argument), the plain-C kernels (kernels/qembed.h) run with the GIL
 * released (they touch only the arrays held here). */
#include "module.h"
#include "npy.h"

#include <string.h>

#include "errors.h"
#include "kernels/qembed.h"
#include "qembed_py.h"

/* A C-contiguous new reference of obj when it is a numpy array of `type`
 * with `ndim` dims (-1: any), else a KernelError naming the argument. */
static PyArrayObject *typed(lpot_state *st, PyObject *obj, int type, int ndim, const char *name,
                            const char *what)
{
    if (!PyArray_Check(obj) || PyArray_TYPE((PyArrayObject *)obj) != type ||
        (ndim >= 0 && PyArray_NDIM((PyArrayObject *)obj) != ndim)) {
        lpot_raise(st, LPOT_ERR_KERNEL, "%s: expected %s", name, what);
        return NULL;
    }
    return (PyArrayObject *)PyArray_FromAny(obj, NULL, 0, 0, NPY_ARRAY_IN_ARRAY, NULL);
}

/* weight (rows, dim) int8 and scales (rows,) float32. */
static int table(lpot_state *st, PyObject *wobj, PyObject *sobj, PyArrayObject **w,
                 PyArrayObject **s)
{
    *w = typed(st, wobj, NPY_INT8, 2, "weight", "a 2-D numpy int8 array (rows, dim)");
    if (*w == NULL)
        return -1;
    *s = typed(st, sobj, NPY_FLOAT32, 1, "scales", "a 1-D numpy float32 array (one per row)");
    if (*s == NULL)
        return -1;
    if (PyArray_DIM(*s, 0) != PyArray_DIM(*w, 0)) {
        lpot_raise(st, LPOT_ERR_KERNEL, "scales: %zd values for %zd rows",
                   (Py_ssize_t)PyArray_DIM(*s, 0), (Py_ssize_t)PyArray_DIM(*w, 0));
        return -1;
    }
    return 0;
}

/* The output array for rc == LPOT_OK (ownership moves to the caller), else
 * NULL with the status raised. */
static PyObject *take_result(lpot_state *st, lpot_status_t rc, PyArrayObject **y)
{
    if (rc != LPOT_OK)
        return lpot_raise_status(st, rc);
    PyObject *r = (PyObject *)*y;
    *y = NULL;
    return r;
}

PyDoc_STRVAR(qembedding_doc,
"qembedding(weight, scales, idx) -> float32 idx.shape + (dim,)\n\n"
"Rows idx (int64, any shape) of the int8 table weight (rows, dim),\n"
"dequantized with their per-row scales. An index out of range is a\n"
"KernelError naming its position.");

static PyObject *qembedding(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"weight", "scales", "idx", NULL};
    lpot_state *st = lpot_state_from_module(module);
    PyObject *wobj, *sobj, *iobj, *res = NULL;
    PyArrayObject *w = NULL, *s = NULL, *idx = NULL, *y = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO:qembedding", kwlist, &wobj, &sobj, &iobj))
        return NULL;
    if (table(st, wobj, sobj, &w, &s) < 0 ||
        (idx = typed(st, iobj, NPY_INT64, -1, "idx", "a numpy int64 array")) == NULL)
        goto cleanup;
    int nd = PyArray_NDIM(idx);
    if (nd + 1 > NPY_MAXDIMS) {
        lpot_raise(st, LPOT_ERR_KERNEL, "idx: too many dimensions");
        goto cleanup;
    }
    npy_intp dims[NPY_MAXDIMS];
    memcpy(dims, PyArray_DIMS(idx), sizeof(npy_intp) * (size_t)nd);
    const int64_t dim = PyArray_DIM(w, 1), n = PyArray_SIZE(idx);
    dims[nd] = dim;
    y = (PyArrayObject *)PyArray_SimpleNew(nd + 1, dims, NPY_FLOAT32);
    if (y == NULL)
        goto cleanup;
    lpot_status_t rc;
    Py_BEGIN_ALLOW_THREADS
    rc = lpot_qembed_rows(PyArray_DATA(w), PyArray_DATA(s), PyArray_DIM(w, 0), dim,
                          PyArray_DATA(idx), n, PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    res = take_result(st, rc, &y);
cleanup:
    Py_XDECREF(w);
    Py_XDECREF(s);
    Py_XDECREF(idx);
    Py_XDECREF(y);
    return res;
}

PyDoc_STRVAR(qembedding_bag_doc,
"qembedding_bag(weight, scales, idx, offsets, per_sample_weights=None,\n"
"               padding_idx=-1, mode='sum') -> float32 (len(offsets) - 1, dim)\n\n"
"Bag b reduces (sum, mean or max) the dequantized rows idx[offsets[b]:\n"
"offsets[b+1]] of the int8 table: idx 1-D int64, offsets int64 with one\n"
"more value than there are bags (non-decreasing, within [0, len(idx)]).\n"
"Rows equal to padding_idx are skipped and not counted; an empty bag is\n"
"zeros; per_sample_weights (float32, one per index) only with 'sum'.");

static PyObject *qembedding_bag(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"weight", "scales", "idx", "offsets", "per_sample_weights",
                             "padding_idx", "mode", NULL};
    lpot_state *st = lpot_state_from_module(module);
    PyObject *wobj, *sobj, *iobj, *oobj, *pobj = Py_None, *res = NULL;
    long long padding_idx = -1;
    const char *mode_s = "sum";
    PyArrayObject *w = NULL, *s = NULL, *idx = NULL, *off = NULL, *psw = NULL, *y = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO|OLs:qembedding_bag", kwlist, &wobj,
                                     &sobj, &iobj, &oobj, &pobj, &padding_idx, &mode_s))
        return NULL;
    lpot_bag_mode_t mode;
    if (strcmp(mode_s, "sum") == 0)
        mode = LPOT_BAG_SUM;
    else if (strcmp(mode_s, "mean") == 0)
        mode = LPOT_BAG_MEAN;
    else if (strcmp(mode_s, "max") == 0)
        mode = LPOT_BAG_MAX;
    else
        return lpot_raise(st, LPOT_ERR_KERNEL, "mode: expected 'sum', 'mean' or 'max', got '%s'",
                          mode_s);
    if (table(st, wobj, sobj, &w, &s) < 0 ||
        (idx = typed(st, iobj, NPY_INT64, 1, "idx", "a 1-D numpy int64 array")) == NULL ||
        (off = typed(st, oobj, NPY_INT64, 1, "offsets", "a 1-D numpy int64 array")) == NULL)
        goto cleanup;
    const int64_t n = PyArray_DIM(idx, 0), nbags = PyArray_DIM(off, 0) - 1;
    if (nbags < 0) {
        lpot_raise(st, LPOT_ERR_KERNEL, "offsets: expected at least one value");
        goto cleanup;
    }
    if (pobj != Py_None) {
        psw = typed(st, pobj, NPY_FLOAT32, 1, "per_sample_weights", "a 1-D numpy float32 array");
        if (psw == NULL)
            goto cleanup;
        if (PyArray_DIM(psw, 0) != n) {
            lpot_raise(st, LPOT_ERR_KERNEL, "per_sample_weights: %zd values for %lld indices",
                       (Py_ssize_t)PyArray_DIM(psw, 0), (long long)n);
            goto cleanup;
        }
    }
    npy_intp dims[2] = {nbags, PyArray_DIM(w, 1)};
    y = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    if (y == NULL)
        goto cleanup;
    lpot_status_t rc;
    Py_BEGIN_ALLOW_THREADS
    rc = lpot_qembed_bag(PyArray_DATA(w), PyArray_DATA(s), PyArray_DIM(w, 0), PyArray_DIM(w, 1),
                         PyArray_DATA(idx), n, PyArray_DATA(off), nbags,
                         psw ? PyArray_DATA(psw) : NULL, (int64_t)padding_idx, mode,
                         PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    res = take_result(st, rc, &y);
cleanup:
    Py_XDECREF(w);
    Py_XDECREF(s);
    Py_XDECREF(idx);
    Py_XDECREF(off);
    Py_XDECREF(psw);
    Py_XDECREF(y);
    return res;
}

static PyMethodDef qembed_methods[] = {
    {"qembedding", (PyCFunction)(void (*)(void))qembedding, METH_VARARGS | METH_KEYWORDS,
     qembedding_doc},
    {"qembedding_bag", (PyCFunction)(void (*)(void))qembedding_bag, METH_VARARGS | METH_KEYWORDS,
     qembedding_bag_doc},
    {NULL, NULL, 0, NULL},
};

int lpot_qembed_exec(PyObject *module)
{
    return PyModule_AddFunctions(module, qembed_methods);
}
