/* oneDNN: version, effective ISA, and the ISA cap that follows lpot's
 * CPU-feature policy. Plain C. */
#ifndef LPOT_ONEDNN_H
#define LPOT_ONEDNN_H

#include "../status.h"
#include "cpu.h"

/* Cap oneDNN's ISA to what lpot uses (so LPOT_DISABLE_CPU_FEATURES=amx keeps
 * oneDNN off AMX too). Must run before any oneDNN primitive is created;
 * called once at module exec. */
lpot_status_t lpot_onednn_init(const lpot_cpu_info_t *info);

/* "3.2.0" style version and git hash of the loaded library. */
void lpot_onednn_version(int *major, int *minor, int *patch, const char **hash);

/* Name of the ISA oneDNN dispatches to ("avx2", "avx512_core_amx", ...). */
const char *lpot_onednn_isa(void);

/* Name of the cap lpot asked for ("none" when not capped). */
const char *lpot_onednn_isa_cap(void);

#endif
