/* oneDNN library facts and the ISA cap. */
#include "onednn.h"

#include <oneapi/dnnl/dnnl.h>

static const char *g_cap = "none";

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx2_vnni_2: return "avx2_vnni_2";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_fp16: return "avx512_core_fp16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_amx_fp16: return "avx512_core_amx_fp16";
    default: return "default";
    }
}

lpot_status_t lpot_onednn_init(const lpot_cpu_info_t *info)
{
    const bool *u = info->used;
    bool cap_needed = false;
    for (int f = 0; f < LPOT_CPU_FEATURE_COUNT; f++)
        if (info->os[f] && !u[f])
            cap_needed = true;
    if (!cap_needed)
        return LPOT_OK;

    dnnl_cpu_isa_t cap;
    if (u[LPOT_CPU_AMX_INT8] && u[LPOT_CPU_AMX_BF16])
        cap = dnnl_cpu_isa_avx512_core_amx;
    else if (u[LPOT_CPU_AVX512_FP16])
        cap = dnnl_cpu_isa_avx512_core_fp16;
    else if (u[LPOT_CPU_AVX512_BF16])
        cap = dnnl_cpu_isa_avx512_core_bf16;
    else if (u[LPOT_CPU_AVX512_VNNI])
        cap = dnnl_cpu_isa_avx512_core_vnni;
    else if (u[LPOT_CPU_AVX512BW] && u[LPOT_CPU_AVX512VL] && u[LPOT_CPU_AVX512DQ])
        cap = dnnl_cpu_isa_avx512_core;
    else if (u[LPOT_CPU_AVX_VNNI])
        cap = dnnl_cpu_isa_avx2_vnni;
    else if (u[LPOT_CPU_AVX2])
        cap = dnnl_cpu_isa_avx2;
    else if (u[LPOT_CPU_AVX])
        cap = dnnl_cpu_isa_avx;
    else
        cap = dnnl_cpu_isa_sse41;
    /* Fails only if JIT code already exists (someone else in the process
     * used oneDNN first) or the environment already fixed the ISA. */
    if (dnnl_set_max_cpu_isa(cap) != dnnl_success)
        return lpot_set_error(LPOT_ERR_KERNEL,
                              "oneDNN refused the ISA cap %s (was oneDNN used "
                              "before lpot was imported, or ONEDNN_MAX_CPU_ISA set?)",
                              isa_name(cap));
    g_cap = isa_name(cap);
    return LPOT_OK;
}

void lpot_onednn_version(int *major, int *minor, int *patch, const char **hash)
{
    const dnnl_version_t *v = dnnl_version();
    *major = v->major;
    *minor = v->minor;
    *patch = v->patch;
    *hash = v->hash;
}

const char *lpot_onednn_isa(void) { return isa_name(dnnl_get_effective_cpu_isa()); }

const char *lpot_onednn_isa_cap(void) { return g_cap; }
