/* Fills the dispatch table from the CPU features in use. */
#include "dispatch.h"

#define QUANT_SLOTS(isa)                              \
    .cvt_f32 = lpot_cvt_f32_##isa,                    \
    .quantize_f32 = lpot_quantize_f32_##isa,          \
    .dequantize = lpot_dequantize_##isa,              \
    .fake_quant_f32 = lpot_fake_quant_f32_##isa,      \
    .requantize_s32 = lpot_requantize_s32_##isa,      \
    .minmax_elem_f32 = lpot_minmax_elem_f32_##isa,    \
    .hist_f32 = lpot_hist_f32_##isa

#define RNN_SLOTS(isa)                    \
    .act_f32 = lpot_act_f32_##isa,        \
    .lstm_cell = lpot_lstm_cell_##isa,    \
    .gru_cell = lpot_gru_cell_##isa

/* The scalar references: the whole table before dispatch (both tables
 * start from it; a file-scope initializer cannot copy another object). */
#define REF_TABLE                                  \
    .minmax_f32 = lpot_minmax_f32_ref,             \
    .minmax_f32_isa = "scalar",                    \
    QUANT_SLOTS(ref),                              \
    .quant_isa = "scalar",                         \
    .qgemv_s8 = lpot_qgemv_s8_ref,                 \
    .qgemv_s8_isa = "scalar",                      \
    .wlogsum_f64 = lpot_wlogsum_f64_ref,           \
    .qgemm_u8s8 = lpot_qgemm_u8s8_ref,             \
    .qgemm_epi = lpot_qconv_epi_ref,               \
    .qgemm_u8s8_isa = "scalar",                    \
    RNN_SLOTS(ref),                                \
    .rnn_isa = "scalar",                           \
    .qgemv_u8s8 = lpot_qgemm_u8s8_ref,             \
    .qgemv_u8s8_isa = "scalar"

const lpot_kernels_t lpot_kernels_ref = {REF_TABLE};

#if defined(__x86_64__)
static const lpot_kernels_t quant_avx2 = {QUANT_SLOTS(avx2), .quant_isa = "avx2"};
static const lpot_kernels_t quant_avx512 = {QUANT_SLOTS(avx512), .quant_isa = "avx512"};

static void use_quant(const lpot_kernels_t *k)
{
    lpot_kernels.cvt_f32 = k->cvt_f32;
    lpot_kernels.quantize_f32 = k->quantize_f32;
    lpot_kernels.dequantize = k->dequantize;
    lpot_kernels.fake_quant_f32 = k->fake_quant_f32;
    lpot_kernels.requantize_s32 = k->requantize_s32;
    lpot_kernels.minmax_elem_f32 = k->minmax_elem_f32;
    lpot_kernels.hist_f32 = k->hist_f32;
    lpot_kernels.quant_isa = k->quant_isa;
}
#endif

lpot_kernels_t lpot_kernels = {REF_TABLE};

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
    /* quant family: the AVX2 file is compiled for AVX2+FMA+F16C (the half
     * converter), the AVX-512 one for F+BW+F16C: dispatch needs all of them. */
    if (info->used[LPOT_CPU_AVX512F] && info->used[LPOT_CPU_AVX512BW] &&
        info->used[LPOT_CPU_F16C])
        use_quant(&quant_avx512);
    else if (info->used[LPOT_CPU_AVX2] && info->used[LPOT_CPU_F16C] &&
             info->used[LPOT_CPU_FMA])
        use_quant(&quant_avx2);
    if (info->used[LPOT_CPU_AVX2]) {
        lpot_kernels.qgemv_s8 = lpot_qgemv_s8_avx2;
        lpot_kernels.qgemv_s8_isa = "avx2";
        lpot_kernels.qgemm_u8s8 = lpot_qgemm_u8s8_avx2;
        lpot_kernels.qgemm_epi = lpot_qconv_epi_avx2;
        lpot_kernels.qgemm_u8s8_isa = "avx2";
        lpot_kernels.qgemv_u8s8 = lpot_qgemv_u8s8_avx2;
        lpot_kernels.qgemv_u8s8_isa = "avx2";
    }
    if (info->used[LPOT_CPU_AVX2] && info->used[LPOT_CPU_FMA]) {
        lpot_kernels.wlogsum_f64 = lpot_wlogsum_f64_avx2;
        lpot_kernels.act_f32 = lpot_act_f32_avx2;
        lpot_kernels.lstm_cell = lpot_lstm_cell_avx2;
        lpot_kernels.gru_cell = lpot_gru_cell_avx2;
        lpot_kernels.rnn_isa = "avx2";
    }
    if (info->used[LPOT_CPU_AVX512F]) {
        lpot_kernels.act_f32 = lpot_act_f32_avx512;
        lpot_kernels.lstm_cell = lpot_lstm_cell_avx512;
        lpot_kernels.gru_cell = lpot_gru_cell_avx512;
        lpot_kernels.rnn_isa = "avx512";
    }
#else
    (void)info;
#endif
}
