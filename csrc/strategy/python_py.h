/* Binding layer: strategies written in Python (see python_py.c). The
 * context is a borrowed lpot.strategy.Strategy object. */
#ifndef LPOT_STRATEGY_PYTHON_PY_H
#define LPOT_STRATEGY_PYTHON_PY_H

#include "module.h"

#include "adaptors/python.h"
#include "strategy/strategy.h"

extern const lpot_strategy_iface_t lpot_strategy_python;

#endif
