/* lpot._engine: module init (multi-phase), state, exceptions, functions. */
#define LPOT_NPY_MAIN
#include "module.h"
#include "npy.h"

#include <math.h>
#include <stdlib.h>

#include "config_py.h"
#include "errors.h"
#include "kernels/cpu.h"
#include "kernels/dispatch.h"
#include "kernels/onednn.h"
#include "tune_py.h"
#include "observer_py.h"
#include "packed_py.h"
#include "qembed_py.h"
#include "rnn_py.h"

/* ---- subsystems: each adds its types/functions at exec ------------------ */

static int (*const subsystems[])(PyObject *module) = {
    lpot_tune_exec,
    lpot_config_exec,
    lpot_calib_exec,
    lpot_packed_exec,
    lpot_qembed_exec,
    lpot_rnn_exec,
    NULL, /* sentinel; add lpot_<name>_exec above it */
};

/* ---- cpu_features() ----------------------------------------------------- */

static PyObject *feature_dict(const bool *flags)
{
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (int f = 0; f < LPOT_CPU_FEATURE_COUNT; f++) {
        if (PyDict_SetItemString(d, lpot_cpu_feature_name(f),
                                 flags[f] ? Py_True : Py_False) < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    return d;
}

static PyObject *name_list(const bool *flags)
{
    PyObject *l = PyList_New(0);
    if (l == NULL)
        return NULL;
    for (int f = 0; f < LPOT_CPU_FEATURE_COUNT; f++) {
        if (!flags[f])
            continue;
        PyObject *s = PyUnicode_FromString(lpot_cpu_feature_name(f));
        if (s == NULL || PyList_Append(l, s) < 0) {
            Py_XDECREF(s);
            Py_DECREF(l);
            return NULL;
        }
        Py_DECREF(s);
    }
    return l;
}

PyDoc_STRVAR(cpu_features_doc,
"cpu_features() -> dict\n\n"
"What the CPU has ('cpu'), what the OS lets lpot use ('os': register state\n"
"saved per XCR0, AMX permission granted), and what lpot dispatches to\n"
"('used', after LPOT_DISABLE_CPU_FEATURES). Also the ISA level, the\n"
"implementation picked per kernel, and oneDNN's version and ISA.");

static PyObject *cpu_features(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    const lpot_cpu_info_t *ci = lpot_cpu_info();
    int maj, min, pat;
    const char *hash;
    lpot_onednn_version(&maj, &min, &pat, &hash);
    PyObject *cpu = feature_dict(ci->cpu), *os = feature_dict(ci->os),
             *used = feature_dict(ci->used), *disabled = name_list(ci->disabled);
    PyObject *res = NULL;
    if (cpu && os && used && disabled)
        res = Py_BuildValue(
            "{s:s,s:s,s:K,s:i,s:O,s:O,s:O,s:O,s:s,s:s,s:{s:s,s:s,s:s},"
            "s:{s:s,s:s,s:s,s:s}}",
            "vendor", ci->vendor, "brand", ci->brand, "xcr0", ci->xcr0,
            "amx_permission", ci->amx_permission, "cpu", cpu, "os", os, "used",
            used, "disabled", disabled, "unknown_disabled", ci->unknown_disabled,
            "isa", lpot_cpu_isa_level(), "kernels", "minmax_f32",
            lpot_kernels.minmax_f32_isa, "minmax_f32_ref", "scalar", "quant",
            lpot_kernels.quant_isa, "onednn",
            "version", "", "hash", hash ? hash : "", "isa", lpot_onednn_isa(),
            "isa_cap", lpot_onednn_isa_cap());
    if (res) {
        PyObject *d = PyDict_GetItemString(res, "onednn");
        PyObject *ver = PyUnicode_FromFormat("%d.%d.%d", maj, min, pat);
        if (ver == NULL || PyDict_SetItemString(d, "version", ver) < 0)
            Py_CLEAR(res);
        Py_XDECREF(ver);
    }
    Py_XDECREF(cpu);
    Py_XDECREF(os);
    Py_XDECREF(used);
    Py_XDECREF(disabled);
    return res;
}

/* ---- _minmax_f32(x, impl='dispatch'|'ref') -> (min, max, nonfinite) ---- */

PyDoc_STRVAR(minmax_doc,
"_minmax_f32(x, impl='dispatch') -> (min, max, nonfinite)\n\n"
"Range of the finite values of a 1-D float32 array (any stride) and the\n"
"count of NaN/inf skipped. impl='ref' forces the scalar reference. An empty\n"
"or all-non-finite input gives (inf, -inf, count).");

static PyObject *minmax_f32(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"x", "impl", NULL};
    PyObject *obj;
    const char *impl = "dispatch";
    lpot_state *st = lpot_state_from_module(module);
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|s:_minmax_f32", kwlist, &obj, &impl))
        return NULL;
    lpot_minmax_f32_fn fn;
    if (strcmp(impl, "dispatch") == 0)
        fn = lpot_kernels.minmax_f32;
    else if (strcmp(impl, "ref") == 0)
        fn = lpot_kernels_ref.minmax_f32;
    else
        return lpot_raise(st, LPOT_ERR_INVALID, "impl: expected 'dispatch' or 'ref', got '%s'", impl);
    if (!PyArray_Check(obj) || PyArray_TYPE((PyArrayObject *)obj) != NPY_FLOAT32 ||
        PyArray_NDIM((PyArrayObject *)obj) != 1)
        return lpot_raise(st, LPOT_ERR_KERNEL, "x: expected a 1-D float32 ndarray");
    PyArrayObject *a = (PyArrayObject *)obj;
    npy_intp n = PyArray_DIM(a, 0);
    npy_intp stride_b = PyArray_STRIDE(a, 0);
    if (n > 1 && stride_b % (npy_intp)sizeof(float) != 0)
        return lpot_raise(st, LPOT_ERR_KERNEL, "x: stride %zd is not a multiple of 4 bytes",
                          (Py_ssize_t)stride_b);
    const float *p = (const float *)PyArray_DATA(a);
    ptrdiff_t stride = n > 1 ? (ptrdiff_t)(stride_b / (npy_intp)sizeof(float)) : 1;
    float mn = INFINITY, mx = -INFINITY;
    size_t bad = 0;
    if ((size_t)n * sizeof(float) >= LPOT_GIL_RELEASE_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        fn(p, (size_t)n, stride, &mn, &mx, &bad);
        Py_END_ALLOW_THREADS
    } else {
        fn(p, (size_t)n, stride, &mn, &mx, &bad);
    }
    return Py_BuildValue("ddn", (double)mn, (double)mx, (Py_ssize_t)bad);
}

/* ---- module definition ------------------------------------------------- */

static PyMethodDef module_methods[] = {
    {"cpu_features", cpu_features, METH_NOARGS, cpu_features_doc},
    {"_minmax_f32", (PyCFunction)(void (*)(void))minmax_f32,
     METH_VARARGS | METH_KEYWORDS, minmax_doc},
    {NULL, NULL, 0, NULL},
};

static int add_exception(PyObject *module, PyObject **slot, const char *name,
                         const char *doc, PyObject *bases)
{
    char qual[64];
    snprintf(qual, sizeof qual, "lpot.%s", name);
    *slot = PyErr_NewExceptionWithDoc(qual, doc, bases, NULL);
    if (*slot == NULL)
        return -1;
    return PyModule_AddObjectRef(module, name, *slot);
}

static int module_exec(PyObject *module)
{
    lpot_state *st = lpot_state_from_module(module);

    if (PyArray_ImportNumPyAPI() < 0)
        return -1;

    if (add_exception(module, &st->LpotError, "LpotError",
                      "Base class of every error lpot raises.", NULL) < 0)
        return -1;
    PyObject *bases = PyTuple_Pack(2, st->LpotError, PyExc_ValueError);
    if (bases == NULL)
        return -1;
    int rc = add_exception(module, &st->ConfigError, "ConfigError",
                           "A configuration (YAML file, text or dict) is invalid; "
                           "the message says where and what to fix.", bases);
    Py_DECREF(bases);
    if (rc < 0 ||
        add_exception(module, &st->ModelError, "ModelError",
                      "The model cannot be handled (unsupported op, bad graph, "
                      "framework missing).", st->LpotError) < 0 ||
        add_exception(module, &st->TuningError, "TuningError",
                      "Tuning could not proceed or ended without a usable model.",
                      st->LpotError) < 0 ||
        add_exception(module, &st->KernelError, "KernelError",
                      "A kernel got arguments it cannot take (shape, dtype, scale) "
                      "or its backend failed.", st->LpotError) < 0)
        return -1;

    /* CPU features, dispatch and the oneDNN ISA cap: once per process. */
    const lpot_cpu_info_t *ci = lpot_cpu_init(getenv("LPOT_DISABLE_CPU_FEATURES"));
    lpot_dispatch_init(ci);
    static int onednn_done;
    if (!onednn_done) {
        onednn_done = 1;
        lpot_status_t s = lpot_onednn_init(ci);
        if (s != LPOT_OK &&
            PyErr_WarnFormat(PyExc_RuntimeWarning, 1, "lpot: %s", lpot_last_error()) < 0)
            return -1;
    }
    if (ci->unknown_disabled[0] &&
        PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                         "LPOT_DISABLE_CPU_FEATURES names unknown features: %s "
                         "(known: sse4.2, avx, avx2, fma, f16c, avx512f, avx512bw, "
                         "avx512vl, avx512dq, avx512_vnni, avx_vnni, avx512_bf16, "
                         "avx512_fp16, amx_tile, amx_int8, amx_bf16; groups: avx512, amx)",
                         ci->unknown_disabled) < 0)
        return -1;

    for (size_t i = 0; subsystems[i] != NULL; i++)
        if (subsystems[i](module) < 0)
            return -1;
    return 0;
}

static int module_traverse(PyObject *module, visitproc visit, void *arg)
{
    lpot_state *st = lpot_state_from_module(module);
    Py_VISIT(st->LpotError);
    Py_VISIT(st->ConfigError);
    Py_VISIT(st->ModelError);
    Py_VISIT(st->TuningError);
    Py_VISIT(st->KernelError);
    Py_VISIT(st->TuningSpaceType);
    Py_VISIT(st->ObserverType);
    Py_VISIT(st->PackedLinearType);
    Py_VISIT(st->PackedConv2dType);
    return 0;
}

static int module_clear(PyObject *module)
{
    lpot_state *st = lpot_state_from_module(module);
    Py_CLEAR(st->LpotError);
    Py_CLEAR(st->ConfigError);
    Py_CLEAR(st->ModelError);
    Py_CLEAR(st->TuningError);
    Py_CLEAR(st->KernelError);
    Py_CLEAR(st->TuningSpaceType);
    Py_CLEAR(st->ObserverType);
    Py_CLEAR(st->PackedLinearType);
    Py_CLEAR(st->PackedConv2dType);
    return 0;
}

static void module_free(void *module) { (void)module_clear((PyObject *)module); }

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

PyModuleDef lpot_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "lpot._engine",
    .m_doc = "lpot's compiled engine: CPU dispatch, quantization, calibration, "
             "tuning, int8 kernels.",
    .m_size = sizeof(lpot_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__engine(void) { return PyModuleDef_Init(&lpot_module_def); }
