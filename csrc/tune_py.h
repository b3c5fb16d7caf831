/* Binding layer: lpot._engine.TuningSpace and lpot._engine._tune. */
#ifndef LPOT_TUNE_PY_H
#define LPOT_TUNE_PY_H

#include "module.h"

int lpot_tune_exec(PyObject *module);

#endif
