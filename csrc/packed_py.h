/* Binding layer: the int8 kernel types and functions (packed_py.c). */
#ifndef LPOT_PACKED_PY_H
#define LPOT_PACKED_PY_H

#include "module.h"

/* Adds PackedLinear, PackedConv2d, qlinear, qlinear_dynamic, qconv2d,
 * qmatmul, set_num_threads, get_num_threads and last_impl to the module. */
int lpot_packed_exec(PyObject *module);

#endif
