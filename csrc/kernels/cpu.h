/* CPU feature detection and the kernel dispatch table. Plain C.
 *
 * Detection reads cpuid for what the processor has, XCR0 (xgetbv) for the
 * register state the OS saves, and asks Linux for permission to use AMX tile
 * data (arch_prctl ARCH_REQ_XCOMP_PERM). LPOT_DISABLE_CPU_FEATURES
 * (comma/space separated names, or the groups "avx512" and "amx") removes
 * features from the "used" set; a feature is used only when everything it
 * builds on is used too. lpot_cpu_init() runs once per process. */
#ifndef LPOT_CPU_H
#define LPOT_CPU_H

#include <stdbool.h>

typedef enum {
    LPOT_CPU_SSE42 = 0,
    LPOT_CPU_AVX,
    LPOT_CPU_AVX2,
    LPOT_CPU_FMA,
    LPOT_CPU_F16C,
    LPOT_CPU_AVX512F,
    LPOT_CPU_AVX512BW,
    LPOT_CPU_AVX512VL,
    LPOT_CPU_AVX512DQ,
    LPOT_CPU_AVX512_VNNI,
    LPOT_CPU_AVX_VNNI,
    LPOT_CPU_AVX512_BF16,
    LPOT_CPU_AVX512_FP16,
    LPOT_CPU_AMX_TILE,
    LPOT_CPU_AMX_INT8,
    LPOT_CPU_AMX_BF16,
    LPOT_CPU_FEATURE_COUNT
} lpot_cpu_feature_t;

typedef struct {
    bool cpu[LPOT_CPU_FEATURE_COUNT];  /* the processor reports it (cpuid) */
    bool os[LPOT_CPU_FEATURE_COUNT];   /* ... and the OS saves its state / granted it */
    bool used[LPOT_CPU_FEATURE_COUNT]; /* ... and lpot will dispatch to it */
    bool disabled[LPOT_CPU_FEATURE_COUNT]; /* named in LPOT_DISABLE_CPU_FEATURES */
    char unknown_disabled[256];        /* names in the variable we did not know */
    char vendor[13];
    char brand[49];
    unsigned long long xcr0;
    int amx_permission;                /* 1 granted, 0 refused/not asked, -1 syscall error */
} lpot_cpu_info_t;

/* Feature name as users write it ("avx512_vnni"). */
const char *lpot_cpu_feature_name(lpot_cpu_feature_t f);

/* Look a name up; returns -1 when unknown. */
int lpot_cpu_feature_from_name(const char *name);

/* Detect (once per process; later calls return the same answer). `disable`
 * is the override string, normally getenv("LPOT_DISABLE_CPU_FEATURES"). */
const lpot_cpu_info_t *lpot_cpu_init(const char *disable);

/* The detected info, or NULL before lpot_cpu_init(). */
const lpot_cpu_info_t *lpot_cpu_info(void);

/* Pure part of detection, exposed for tests: apply an override string and
 * the dependency rules to `info->os`, filling `used`, `disabled` and
 * `unknown_disabled`. */
void lpot_cpu_apply_policy(lpot_cpu_info_t *info, const char *disable);

/* Convenience: is feature f in the used set. */
bool lpot_cpu_uses(lpot_cpu_feature_t f);

/* Name of the widest ISA level lpot dispatches to: "amx", "avx512_vnni",
 * "avx512", "avx2", or "scalar". */
const char *lpot_cpu_isa_level(void);

#endif
