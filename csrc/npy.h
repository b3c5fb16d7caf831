/* Binding layer: one NumPy C-API table shared by every file of the module.
 * module.c defines LPOT_NPY_MAIN and calls import_array(); the other binding
 * files include this header as is. */
#ifndef LPOT_NPY_H
#define LPOT_NPY_H

#define NPY_NO_DEPRECATED_API NPY_1_23_API_VERSION
#define NPY_TARGET_VERSION NPY_1_23_API_VERSION
#define PY_ARRAY_UNIQUE_SYMBOL lpot_ARRAY_API
#ifndef LPOT_NPY_MAIN
#define NO_IMPORT_ARRAY
#endif
#include <numpy/arrayobject.h>

/* Above this many bytes of input, kernels run with the GIL released. */
#define LPOT_GIL_RELEASE_BYTES (64 * 1024)

#endif
