/* Status codes of the engine: plain C, no Python.
 *
 * Every engine function that can fail returns an lpot_status_t and, when it
 * is not LPOT_OK, leaves a message in the thread's error buffer
 * (lpot_set_error). The binding layer (errors.c) turns the pair into a
 * Python exception; C tests read lpot_last_error() directly. */
#ifndef LPOT_STATUS_H
#define LPOT_STATUS_H

#include <stddef.h>

typedef enum {
    LPOT_OK = 0,
    LPOT_ERR_NOMEM,       /* allocation failed                      -> MemoryError */
    LPOT_ERR_INVALID,     /* bad argument from the caller           -> ValueError  */
    LPOT_ERR_IO,          /* file could not be read or written      -> OSError     */
    LPOT_ERR_CONFIG,      /* configuration invalid                  -> ConfigError */
    LPOT_ERR_MODEL,       /* model unsupported or inconsistent      -> ModelError  */
    LPOT_ERR_TUNING,      /* tuning could not proceed               -> TuningError */
    LPOT_ERR_KERNEL,      /* kernel shape/dtype/backend failure     -> KernelError */
    LPOT_ERR_UNSUPPORTED, /* feature not available on this build/CPU -> KernelError */
    LPOT_ERR_PYTHON,      /* a Python exception is already set (bridge callbacks) */
    LPOT_STATUS_COUNT_
} lpot_status_t;

/* Name of a status ("LPOT_ERR_CONFIG"); never NULL. */
const char *lpot_status_name(lpot_status_t st);

/* Record a message for the current thread and return st, so a failing
 * function can `return lpot_set_error(LPOT_ERR_INVALID, "axis %d ...", a);`.
 * Messages longer than the buffer are truncated with "...". */
lpot_status_t lpot_set_error(lpot_status_t st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The current thread's last message ("" when none was set). */
const char *lpot_last_error(void);

/* Forget the current thread's message. */
void lpot_clear_error(void);

#endif
