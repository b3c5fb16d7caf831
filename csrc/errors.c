/* The one place where engine status codes become Python exceptions. */
#include "errors.h"

#include <stdarg.h>

PyObject *lpot_exception_for(lpot_state *st, lpot_status_t status)
{
    switch (status) {
    case LPOT_ERR_NOMEM: return PyExc_MemoryError;
    case LPOT_ERR_INVALID: return PyExc_ValueError;
    case LPOT_ERR_IO: return PyExc_OSError;
    case LPOT_ERR_CONFIG: return st->ConfigError;
    case LPOT_ERR_MODEL: return st->ModelError;
    case LPOT_ERR_TUNING: return st->TuningError;
    case LPOT_ERR_KERNEL:
    case LPOT_ERR_UNSUPPORTED: return st->KernelError;
    default: return st->LpotError;
    }
}

PyObject *lpot_raise_status(lpot_state *st, lpot_status_t status)
{
    if (status == LPOT_ERR_PYTHON) {
        if (!PyErr_Occurred())
            PyErr_SetString(st->LpotError, "engine callback failed without an exception");
        return NULL;
    }
    const char *msg = lpot_last_error();
    if (status == LPOT_ERR_NOMEM && msg[0] == '\0')
        return PyErr_NoMemory();
    PyErr_SetString(lpot_exception_for(st, status),
                    msg[0] ? msg : lpot_status_name(status));
    lpot_clear_error();
    return NULL;
}

PyObject *lpot_raise(lpot_state *st, lpot_status_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PyObject *msg = PyUnicode_FromFormatV(fmt, ap);
    va_end(ap);
    if (msg == NULL)
        return NULL;
    PyErr_SetObject(lpot_exception_for(st, status), msg);
    Py_DECREF(msg);
    return NULL;
}

PyObject *lpot_raise_config(lpot_state *st, PyObject *message, PyObject *errors)
{
    PyObject *exc = PyObject_CallOneArg(st->ConfigError, message);
    if (exc == NULL)
        return NULL;
    if (PyObject_SetAttrString(exc, "errors", errors) == 0)
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}
