/* Binding layer for the dynamic int8 recurrent layers: rnn_dynamic_layer,
 * plus _rnn_act / _rnn_cell (the dispatched activation and cell kernels, for
 * tests). Arguments are checked here (KernelError naming the argument); the
 * plain-C time loop (kernels/qrnn.h) runs with the GIL released. */
#include "module.h"
#include "npy.h"

#include <string.h>

#include "errors.h"
#include "kernels/dispatch.h"
#include "kernels/qrnn.h"
#include "packed_py.h"
#include "rnn_py.h"

/* A C-contiguous float32 new reference of obj, which must be a float32
 * ndarray of `nd` dims matching dims[] where dims[i] >= 0; else a
 * KernelError naming the argument and the expected shape (`shape`). */
static PyArrayObject *f32_arg(lpot_state *st, PyObject *obj, const char *name, int nd,
                              const npy_intp *dims, const char *shape)
{
    if (!PyArray_Check(obj)) {
        lpot_raise(st, LPOT_ERR_KERNEL, "%s: expected a numpy float32 array %s, got %s", name,
                   shape, Py_TYPE(obj)->tp_name);
        return NULL;
    }
    PyArrayObject *a = (PyArrayObject *)obj;
    if (PyArray_TYPE(a) != NPY_FLOAT32) {
        lpot_raise(st, LPOT_ERR_KERNEL, "%s: expected dtype float32, got %s", name,
                   PyArray_DESCR(a)->typeobj->tp_name);
        return NULL;
    }
    int ok = PyArray_NDIM(a) == nd;
    for (int i = 0; ok && i < nd; i++)
        ok = dims[i] < 0 || PyArray_DIM(a, i) == dims[i];
    if (!ok) {
        char got[96] = "(";
        for (int i = 0; i < PyArray_NDIM(a) && i < 6; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%zd", i ? ", " : "",
                     (Py_ssize_t)PyArray_DIM(a, i));
        snprintf(got + strlen(got), sizeof got - strlen(got), PyArray_NDIM(a) > 6 ? ", ...)" : ")");
        lpot_raise(st, LPOT_ERR_KERNEL, "%s: expected shape %s, got %s", name, shape, got);
        return NULL;
    }
    return (PyArrayObject *)PyArray_FromAny(obj, NULL, 0, 0, NPY_ARRAY_IN_ARRAY, NULL);
}

static int parse_mode(lpot_state *st, const char *s, lpot_rnn_mode_t *mode)
{
    if (strcmp(s, "LSTM") == 0 || strcmp(s, "lstm") == 0)
        *mode = LPOT_RNN_LSTM;
    else if (strcmp(s, "GRU") == 0 || strcmp(s, "gru") == 0)
        *mode = LPOT_RNN_GRU;
    else {
        lpot_raise(st, LPOT_ERR_KERNEL, "mode: expected 'LSTM' or 'GRU', got '%s'", s);
        return -1;
    }
    return 0;
}

/* impl: 'auto' / 'dispatch' (what runs) or 'ref' (scalar references). */
static int parse_ref(lpot_state *st, const char *s, int *ref)
{
    if (strcmp(s, "ref") == 0)
        *ref = 1;
    else if (strcmp(s, "auto") == 0 || strcmp(s, "dispatch") == 0)
        *ref = 0;
    else {
        lpot_raise(st, LPOT_ERR_KERNEL, "impl: expected 'auto' or 'ref', got '%s'", s);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(rnn_layer_doc,
"rnn_dynamic_layer(mode, xp, packed_hh, h0, c0=None, impl='auto') -> (out, h_n, c_n)\n\n"
"One unidirectional LSTM / GRU layer's whole time loop in C (GIL released),\n"
"PyTorch semantics (gate order i, f, g, o / r, z, n). xp: float32 (T, B, G*H),\n"
"the input projection with b_ih (G = 4 LSTM, 3 GRU); packed_hh: PackedLinear\n"
"of W_hh (G*H, H) with b_hh as bias; h0, c0: float32 (B, H) (c0 for LSTM only).\n"
"Each step quantizes h to uint8 on the fly (per tensor, as qlinear_dynamic),\n"
"runs the int8 product and the gates (lpot's own sigmoid/tanh, AVX2).\n"
"Returns out (T, B, H), h_n (B, H) and c_n (B, H) or None for GRU.\n"
"impl='ref' runs the scalar references.");

static PyObject *rnn_dynamic_layer(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"mode", "xp", "packed_hh", "h0", "c0", "impl", NULL};
    lpot_state *st = lpot_state_from_module(module);
    const char *mode_s, *impl_s = "auto";
    PyObject *xobj, *pobj, *hobj, *cobj = Py_None, *res = NULL;
    PyArrayObject *xp = NULL, *h0 = NULL, *c0 = NULL, *out = NULL, *hn = NULL, *cn = NULL;
    lpot_rnn_mode_t mode;
    int ref;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sOOO|Os:rnn_dynamic_layer", kwlist, &mode_s,
                                     &xobj, &pobj, &hobj, &cobj, &impl_s))
        return NULL;
    if (parse_mode(st, mode_s, &mode) < 0 || parse_ref(st, impl_s, &ref) < 0)
        return NULL;
    lpot_qlinear_t *hh = lpot_packed_linear_of(st, pobj, "packed_hh");
    if (hh == NULL)
        return NULL;
    const int lstm = mode == LPOT_RNN_LSTM, g = lpot_rnn_gates(mode);
    const npy_intp hs = (npy_intp)lpot_qlinear_k(hh), gh = g * hs;
    if ((npy_intp)lpot_qlinear_n(hh) != gh)
        return lpot_raise(st, LPOT_ERR_KERNEL,
                          "packed_hh: expected %d*H = %zd output features for H = %zd (its "
                          "in_features), got %lld",
                          g, (Py_ssize_t)gh, (Py_ssize_t)hs, (long long)lpot_qlinear_n(hh));
    char shape[96];
    snprintf(shape, sizeof shape, "(T, B, %zd)", (Py_ssize_t)gh);
    const npy_intp xd[3] = {-1, -1, gh};
    if ((xp = f32_arg(st, xobj, "xp", 3, xd, shape)) == NULL)
        goto cleanup;
    npy_intp dims[3] = {PyArray_DIM(xp, 0), PyArray_DIM(xp, 1), hs};
    snprintf(shape, sizeof shape, "(B, H) = (%zd, %zd)", (Py_ssize_t)dims[1], (Py_ssize_t)hs);
    if ((h0 = f32_arg(st, hobj, "h0", 2, dims + 1, shape)) == NULL)
        goto cleanup;
    if (lstm && cobj == Py_None) {
        lpot_raise(st, LPOT_ERR_KERNEL, "c0: required for LSTM (float32 %s)", shape);
        goto cleanup;
    }
    if (!lstm && cobj != Py_None) {
        lpot_raise(st, LPOT_ERR_KERNEL, "c0: must be None for GRU");
        goto cleanup;
    }
    if (lstm && (c0 = f32_arg(st, cobj, "c0", 2, dims + 1, shape)) == NULL)
        goto cleanup;
    out = (PyArrayObject *)PyArray_SimpleNew(3, dims, NPY_FLOAT32);
    hn = (PyArrayObject *)PyArray_SimpleNew(2, dims + 1, NPY_FLOAT32);
    if (lstm)
        cn = (PyArrayObject *)PyArray_SimpleNew(2, dims + 1, NPY_FLOAT32);
    if (out == NULL || hn == NULL || (lstm && cn == NULL))
        goto cleanup;
    const char *impl = "";
    const lpot_impl_pref_t pref = ref ? LPOT_IMPL_REF : LPOT_IMPL_AUTO;
    lpot_status_t rc;
    const float *c0p = lstm ? PyArray_DATA(c0) : NULL;
    float *cnp = lstm ? PyArray_DATA(cn) : NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = lpot_rnn_layer(mode, hh, PyArray_DATA(xp), dims[0], dims[1], PyArray_DATA(h0), c0p,
                        PyArray_DATA(out), PyArray_DATA(hn), cnp, pref, &impl);
    Py_END_ALLOW_THREADS
    if (rc != LPOT_OK) {
        lpot_raise_status(st, rc);
        goto cleanup;
    }
    lpot_qk_record_impl("linear", impl);
    res = Py_BuildValue("(OOO)", out, hn, lstm ? (PyObject *)cn : Py_None);
cleanup:
    Py_XDECREF(xp);
    Py_XDECREF(h0);
    Py_XDECREF(c0);
    Py_XDECREF(out);
    Py_XDECREF(hn);
    Py_XDECREF(cn);
    return res;
}

PyDoc_STRVAR(rnn_act_doc,
"_rnn_act(x, kind, impl='dispatch') -> float32 array\n\n"
"lpot's own sigmoid ('sigmoid') or tanh ('tanh') of a 1-D float32 array;\n"
"impl='ref' forces the scalar reference. Tests.");

static PyObject *rnn_act(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"x", "kind", "impl", NULL};
    lpot_state *st = lpot_state_from_module(module);
    PyObject *xobj;
    const char *kind_s, *impl_s = "dispatch";
    int ref;
    lpot_act_t kind;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Os|s:_rnn_act", kwlist, &xobj, &kind_s,
                                     &impl_s) ||
        parse_ref(st, impl_s, &ref) < 0)
        return NULL;
    if (strcmp(kind_s, "sigmoid") == 0)
        kind = LPOT_ACT_SIGMOID;
    else if (strcmp(kind_s, "tanh") == 0)
        kind = LPOT_ACT_TANH;
    else
        return lpot_raise(st, LPOT_ERR_KERNEL, "kind: expected 'sigmoid' or 'tanh', got '%s'",
                          kind_s);
    const npy_intp any[1] = {-1};
    PyArrayObject *x = f32_arg(st, xobj, "x", 1, any, "(n,)");
    if (x == NULL)
        return NULL;
    PyArrayObject *y = (PyArrayObject *)PyArray_SimpleNew(1, PyArray_DIMS(x), NPY_FLOAT32);
    if (y != NULL)
        (ref ? lpot_kernels_ref : lpot_kernels)
            .act_f32(kind, PyArray_DATA(x), PyArray_DATA(y), (size_t)PyArray_SIZE(x));
    Py_DECREF(x);
    return (PyObject *)y;
}

PyDoc_STRVAR(rnn_cell_doc,
"_rnn_cell(mode, xg, hg, state, impl='dispatch') -> (h, c) | h\n\n"
"One step of the dispatched cell kernel for each row: xg, hg float32\n"
"(B, G*H) projections (biases included), state (B, H): c (LSTM, returns\n"
"(h, c)) or h_prev (GRU, returns h). impl='ref': scalar reference. Tests.");

static PyObject *rnn_cell(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"mode", "xg", "hg", "state", "impl", NULL};
    lpot_state *st = lpot_state_from_module(module);
    const char *mode_s, *impl_s = "dispatch";
    PyObject *xobj, *hobj, *sobj, *res = NULL;
    PyArrayObject *xg = NULL, *hg = NULL, *s = NULL, *h = NULL;
    lpot_rnn_mode_t mode;
    int ref;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sOOO|s:_rnn_cell", kwlist, &mode_s, &xobj,
                                     &hobj, &sobj, &impl_s) ||
        parse_mode(st, mode_s, &mode) < 0 || parse_ref(st, impl_s, &ref) < 0)
        return NULL;
    const npy_intp any[2] = {-1, -1};
    if ((s = f32_arg(st, sobj, "state", 2, any, "(B, H)")) == NULL)
        goto cleanup;
    const npy_intp b = PyArray_DIM(s, 0), hs = PyArray_DIM(s, 1);
    const npy_intp gd[2] = {b, lpot_rnn_gates(mode) * hs};
    char shape[64];
    snprintf(shape, sizeof shape, "(B, G*H) = (%zd, %zd)", (Py_ssize_t)gd[0], (Py_ssize_t)gd[1]);
    if ((xg = f32_arg(st, xobj, "xg", 2, gd, shape)) == NULL ||
        (hg = f32_arg(st, hobj, "hg", 2, gd, shape)) == NULL)
        goto cleanup;
    if ((h = (PyArrayObject *)PyArray_SimpleNew(2, PyArray_DIMS(s), NPY_FLOAT32)) == NULL)
        goto cleanup;
    PyArrayObject *c = NULL;
    if (mode == LPOT_RNN_LSTM && (c = (PyArrayObject *)PyArray_NewCopy(s, NPY_CORDER)) == NULL)
        goto cleanup;
    const lpot_kernels_t *kt = ref ? &lpot_kernels_ref : &lpot_kernels;
    const float *xp = PyArray_DATA(xg), *hp = PyArray_DATA(hg);
    float *hout = PyArray_DATA(h);
    for (npy_intp r = 0; r < b; r++) {
        if (c != NULL)
            kt->lstm_cell(xp + r * gd[1], hp + r * gd[1], (float *)PyArray_DATA(c) + r * hs,
                          hout + r * hs, hs);
        else
            kt->gru_cell(xp + r * gd[1], hp + r * gd[1], (const float *)PyArray_DATA(s) + r * hs,
                         hout + r * hs, hs);
    }
    if (c != NULL) {
        res = Py_BuildValue("(OO)", h, c);
        Py_DECREF(c);
    } else {
        res = (PyObject *)h;
        Py_INCREF(res);
    }
cleanup:
    Py_XDECREF(xg);
    Py_XDECREF(hg);
    Py_XDECREF(s);
    Py_XDECREF(h);
    return res;
}

static PyMethodDef rnn_methods[] = {
    {"rnn_dynamic_layer", (PyCFunction)(void (*)(void))rnn_dynamic_layer,
     METH_VARARGS | METH_KEYWORDS, rnn_layer_doc},
    {"_rnn_act", (PyCFunction)(void (*)(void))rnn_act, METH_VARARGS | METH_KEYWORDS, rnn_act_doc},
    {"_rnn_cell", (PyCFunction)(void (*)(void))rnn_cell, METH_VARARGS | METH_KEYWORDS,
     rnn_cell_doc},
    {NULL, NULL, 0, NULL},
};

int lpot_rnn_exec(PyObject *module) { return PyModule_AddFunctions(module, rnn_methods); }
