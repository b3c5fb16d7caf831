/* Binding layer: the int8 kernel types and functions (packed_py.c). */
#ifndef LPOT_PACKED_PY_H
#define LPOT_PACKED_PY_H

#include "module.h"

/* Adds PackedLinear, PackedConv2d, qlinear, qlinear_dynamic, qconv2d,
 * qmatmul, set_num_threads, get_num_threads and last_impl to the module. */
int lpot_packed_exec(PyObject *module);

/* The C handle of a PackedLinear (borrowed: lives as long as obj), or NULL
 * with a KernelError naming the argument `name`. */
struct lpot_qlinear *lpot_packed_linear_of(lpot_state *st, PyObject *obj, const char *name);

#endif
