/* Binding layer: the adaptor iface (adaptor.h) on top of a Python adaptor
 * object, and Python views of tuning configurations.
 *
 * The Python adaptor protocol (duck-typed; see lpot/tuning.py):
 *   fp32_model                      attribute: the original model
 *   quantize(tune_cfg) -> model     tune_cfg = {"calib_sampling_size": int,
 *                                     "op": {(name, type): {"weight": {...}|None,
 *                                            "activation": {...}}}}  (read-only)
 *   evaluate(model) -> float
 *   benchmark(model) -> float       (optional) median latency, seconds
 *   model_size(model) -> float      (optional) bytes
 *   footprint(model) -> float       (optional) bytes
 *   inspect_tensor(model, op_names) -> {op_name: ndarray}   (optional) outputs
 *                                     of those ops on a few fixed batches
 * Every callback runs under PyGILState_Ensure (the loop runs with the GIL
 * released). An exception from the adaptor propagates with a note naming the
 * method and the trial; KeyboardInterrupt is swallowed and reported through
 * the `interrupted` slot so the loop stops cleanly. */
#ifndef LPOT_ADAPTORS_PYTHON_H
#define LPOT_ADAPTORS_PYTHON_H

#include "module.h"

#include "adaptor.h"
#include "tune_space.h"

typedef struct lpot_py_adaptor lpot_py_adaptor_t;

/* NULL with an exception set on failure. progress may be NULL or a callable
 * taking one dict per trial. */
lpot_py_adaptor_t *lpot_py_adaptor_create(PyObject *adaptor, const lpot_space_t *space,
                                          PyObject *progress);
lpot_adaptor_t lpot_py_adaptor_get(lpot_py_adaptor_t *a);
void lpot_py_adaptor_destroy(lpot_py_adaptor_t *a);
/* New reference to the Python model behind an opaque model handle. */
PyObject *lpot_py_model(void *model);

/* Add the note fmt % (what, trial) to the current exception (kept set). */
void lpot_py_annotate(const char *fmt, const char *what, long trial);

/* {"weight": {...}|None, "activation": {...}} (+ "precision" when
 * with_precision). New reference. */
PyObject *lpot_py_option_dict(const lpot_space_op_t *op, size_t j, int with_precision);
/* The tune_cfg dict of cfg (see above). New reference. */
PyObject *lpot_py_tune_cfg(const lpot_space_t *space, const int32_t *cfg);
/* cfg as a list of ints (ops..., sampling index last). New reference. */
PyObject *lpot_py_cfg_list(const lpot_space_t *space, const int32_t *cfg);
/* Parse a list of ints into cfg; -1 with ValueError when it does not fit. */
int lpot_py_cfg_parse(const lpot_space_t *space, PyObject *obj, int32_t *cfg);

#endif
