/* Binding layer: weight-only int8 embedding kernels (qembed_py.c). */
#ifndef LPOT_QEMBED_PY_H
#define LPOT_QEMBED_PY_H

#include "module.h"

/* Adds qembedding and qembedding_bag to the module. */
int lpot_qembed_exec(PyObject *module);

#endif
