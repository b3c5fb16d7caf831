/* Binding layer: the dynamic int8 recurrent layers (rnn_py.c). */
#ifndef LPOT_RNN_PY_H
#define LPOT_RNN_PY_H

#include "module.h"

/* Adds rnn_dynamic_layer, _rnn_act and _rnn_cell to the module. */
int lpot_rnn_exec(PyObject *module);

#endif
