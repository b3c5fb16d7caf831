/* Binding of the configuration loader (config_py.c). */
#ifndef LPOT_CONFIG_PY_H
#define LPOT_CONFIG_PY_H

#include "module.h"

/* Adds load_config() and _config_is_op_name() to the engine module and a
 * default `errors = ()` on ConfigError. */
int lpot_config_exec(PyObject *module);

#endif
