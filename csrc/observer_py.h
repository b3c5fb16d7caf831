/* Binding: the Observer type and quantization functions of lpot._engine. */
#ifndef LPOT_OBSERVER_PY_H
#define LPOT_OBSERVER_PY_H

#include "module.h"

/* Adds Observer, quantize, dequantize, fake_quant, requantize, qparams. */
int lpot_calib_exec(PyObject *module);

#endif
