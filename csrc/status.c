/* Status names and the per-thread error message buffer. Plain C. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LPOT_ERRBUF 2048

static _Thread_local char errbuf[LPOT_ERRBUF];

static const char *const status_names[LPOT_STATUS_COUNT_] = {
    [LPOT_OK] = "LPOT_OK",
    [LPOT_ERR_NOMEM] = "LPOT_ERR_NOMEM",
    [LPOT_ERR_INVALID] = "LPOT_ERR_INVALID",
    [LPOT_ERR_IO] = "LPOT_ERR_IO",
    [LPOT_ERR_CONFIG] = "LPOT_ERR_CONFIG",
    [LPOT_ERR_MODEL] = "LPOT_ERR_MODEL",
    [LPOT_ERR_TUNING] = "LPOT_ERR_TUNING",
    [LPOT_ERR_KERNEL] = "LPOT_ERR_KERNEL",
    [LPOT_ERR_UNSUPPORTED] = "LPOT_ERR_UNSUPPORTED",
    [LPOT_ERR_PYTHON] = "LPOT_ERR_PYTHON",
};

const char *lpot_status_name(lpot_status_t st)
{
    if ((int)st < 0 || st >= LPOT_STATUS_COUNT_)
        return "LPOT_ERR_UNKNOWN";
    return status_names[st];
}

lpot_status_t lpot_set_error(lpot_status_t st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof errbuf)
        memcpy(errbuf + sizeof errbuf - 4, "...", 4);
    return st;
}

const char *lpot_last_error(void) { return errbuf; }

void lpot_clear_error(void) { errbuf[0] = '\0'; }
