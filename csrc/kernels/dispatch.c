/* Fills the dispatch table from the CPU features in use. */
#include "dispatch.h"

const lpot_kernels_t lpot_kernels_ref = {
    .minmax_f32 = lpot_minmax_f32_ref,
    .minmax_f32_isa = "scalar",
    .qgemv_s8 = lpot_qgemv_s8_ref,
    .qgemv_s8_isa = "scalar",
};

lpot_kernels_t lpot_kernels = {
    .minmax_f32 = lpot_minmax_f32_ref,
    .minmax_f32_isa = "scalar",
    .qgemv_s8 = lpot_qgemv_s8_ref,
    .qgemv_s8_isa = "scalar",
};

void lpot_dispatch_init(const lpot_cpu_info_t *info)
{
    lpot_kernels = lpot_kernels_ref;
#if defined(__x86_64__)
    if (info->used[LPOT_CPU_AVX512F]) {
        lpot_kernels.minmax_f32 = lpot_minmax_f32_avx512;
        lpot_kernels.minmax_f32_isa = "avx512";
    } else if (info->used[LPOT_CPU_AVX2]) {
        lpot_kernels.minmax_f32 = lpot_minmax_f32_avx2;
        lpot_kernels.minmax_f32_isa = "avx2";
    }
    if (info->used[LPOT_CPU_AVX2]) {
        lpot_kernels.qgemv_s8 = lpot_qgemv_s8_avx2;
        lpot_kernels.qgemv_s8_isa = "avx2";
    }
#else
    (void)info;
#endif
}
