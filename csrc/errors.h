/* Binding layer: lpot_status_t -> Python exception, in one place. */
#ifndef LPOT_ERRORS_H
#define LPOT_ERRORS_H

#include "module.h"
#include "status.h"

/* The exception class for a status (borrowed reference). */
PyObject *lpot_exception_for(lpot_state *st, lpot_status_t status);

/* Raise the exception for `status` with the thread's last engine message
 * (lpot_last_error). Returns NULL so callers can `return lpot_raise_status(..)`.
 * LPOT_ERR_PYTHON leaves the already-set exception alone. */
PyObject *lpot_raise_status(lpot_state *st, lpot_status_t status);

/* Raise the exception for `status` with a formatted message. */
PyObject *lpot_raise(lpot_state *st, lpot_status_t status, const char *fmt, ...);

/* Raise ConfigError(message) carrying `.errors` (a list of
 * (line, column, path, message) tuples). Returns NULL. */
PyObject *lpot_raise_config(lpot_state *st, PyObject *message, PyObject *errors);

#endif
