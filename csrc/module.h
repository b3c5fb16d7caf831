/* Binding layer: module state shared by the files that define Python types.
 *
 * The engine module `lpot._engine` uses multi-phase init; everything
 * per-interpreter (exception classes, heap types) lives in lpot_state, never
 * in C globals. A type's methods reach the state with
 * lpot_state_from_type(Py_TYPE(self)); module functions with
 * lpot_state_from_module(module).
 *
 * A subsystem that adds Python types or functions provides an
 * `int lpot_<name>_exec(PyObject *module)` (0 on success, -1 with an
 * exception set) and lists it in `subsystems[]` in module.c. */
#ifndef LPOT_MODULE_H
#define LPOT_MODULE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    /* exceptions: LpotError > ConfigError(ValueError), ModelError,
     * TuningError, KernelError */
    PyObject *LpotError;
    PyObject *ConfigError;
    PyObject *ModelError;
    PyObject *TuningError;
    PyObject *KernelError;
    /* types */
    PyObject *TuningSpaceType; /* tune_py.c */
    /* calibration (observer_py.c) */
    PyObject *ObserverType;
    /* int8 kernels (packed_py.c) */
    PyObject *PackedLinearType;
    PyObject *PackedConv2dType;
} lpot_state;

extern PyModuleDef lpot_module_def;

static inline lpot_state *lpot_state_from_module(PyObject *module)
{
    return (lpot_state *)PyModule_GetState(module);
}

/* NULL with an exception set when `type` does not belong to this module. */
static inline lpot_state *lpot_state_from_type(PyTypeObject *type)
{
    PyObject *m = PyType_GetModuleByDef(type, &lpot_module_def);
    return m ? lpot_state_from_module(m) : NULL;
}

#endif
