/* CPU feature detection: cpuid + XCR0 + AMX permission, override, policy. */
#include "cpu.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define LPOT_X86 1
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

static const char *const feature_names[LPOT_CPU_FEATURE_COUNT] = {
    [LPOT_CPU_SSE42] = "sse4.2",
    [LPOT_CPU_AVX] = "avx",
    [LPOT_CPU_AVX2] = "avx2",
    [LPOT_CPU_FMA] = "fma",
    [LPOT_CPU_F16C] = "f16c",
    [LPOT_CPU_AVX512F] = "avx512f",
    [LPOT_CPU_AVX512BW] = "avx512bw",
    [LPOT_CPU_AVX512VL] = "avx512vl",
    [LPOT_CPU_AVX512DQ] = "avx512dq",
    [LPOT_CPU_AVX512_VNNI] = "avx512_vnni",
    [LPOT_CPU_AVX_VNNI] = "avx_vnni",
    [LPOT_CPU_AVX512_BF16] = "avx512_bf16",
    [LPOT_CPU_AVX512_FP16] = "avx512_fp16",
    [LPOT_CPU_AMX_TILE] = "amx_tile",
    [LPOT_CPU_AMX_INT8] = "amx_int8",
    [LPOT_CPU_AMX_BF16] = "amx_bf16",
};

/* What each feature builds on (-1 ends the list). A feature is used only if
 * all of these are used. */
static const int requires[LPOT_CPU_FEATURE_COUNT][3] = {
    [LPOT_CPU_SSE42] = {-1},
    [LPOT_CPU_AVX] = {LPOT_CPU_SSE42, -1},
    [LPOT_CPU_AVX2] = {LPOT_CPU_AVX, -1},
    [LPOT_CPU_FMA] = {LPOT_CPU_AVX, -1},
    [LPOT_CPU_F16C] = {LPOT_CPU_AVX, -1},
    [LPOT_CPU_AVX512F] = {LPOT_CPU_AVX2, LPOT_CPU_FMA, -1},
    [LPOT_CPU_AVX512BW] = {LPOT_CPU_AVX512F, -1},
    [LPOT_CPU_AVX512VL] = {LPOT_CPU_AVX512F, -1},
    [LPOT_CPU_AVX512DQ] = {LPOT_CPU_AVX512F, -1},
    [LPOT_CPU_AVX512_VNNI] = {LPOT_CPU_AVX512BW, LPOT_CPU_AVX512VL, -1},
    [LPOT_CPU_AVX_VNNI] = {LPOT_CPU_AVX2, -1},
    [LPOT_CPU_AVX512_BF16] = {LPOT_CPU_AVX512BW, -1},
    [LPOT_CPU_AVX512_FP16] = {LPOT_CPU_AVX512BW, -1},
    [LPOT_CPU_AMX_TILE] = {LPOT_CPU_AVX512BW, -1},
    [LPOT_CPU_AMX_INT8] = {LPOT_CPU_AMX_TILE, -1},
    [LPOT_CPU_AMX_BF16] = {LPOT_CPU_AMX_TILE, -1},
};

const char *lpot_cpu_feature_name(lpot_cpu_feature_t f)
{
    if ((int)f < 0 || f >= LPOT_CPU_FEATURE_COUNT)
        return "?";
    return feature_names[f];
}

int lpot_cpu_feature_from_name(const char *name)
{
    for (int i = 0; i < LPOT_CPU_FEATURE_COUNT; i++)
        if (strcmp(name, feature_names[i]) == 0)
            return i;
    /* spellings from /proc/cpuinfo and lscpu */
    if (strcmp(name, "sse4_2") == 0)
        return LPOT_CPU_SSE42;
    if (strcmp(name, "avx512vnni") == 0)
        return LPOT_CPU_AVX512_VNNI;
    if (strcmp(name, "avxvnni") == 0)
        return LPOT_CPU_AVX_VNNI;
    return -1;
}

#ifdef LPOT_X86
static uint64_t read_xcr0(void)
{
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}
#endif

/* Ask Linux for AMX tile data permission (needed before the first tile
 * instruction, since 5.16). Returns 1 when granted. */
static int request_amx_permission(void)
{
#if defined(LPOT_X86) && defined(__linux__) && defined(SYS_arch_prctl)
    const int ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023;
    const int XFEATURE_XTILEDATA = 18;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0)
        return -1;
    unsigned long bitmask = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bitmask) != 0)
        return -1;
    return (bitmask & (1UL << XFEATURE_XTILEDATA)) ? 1 : 0;
#else
    return 0;
#endif
}

static void detect(lpot_cpu_info_t *info)
{
    memset(info, 0, sizeof *info);
#ifdef LPOT_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return;
    unsigned max_leaf = a;
    memcpy(info->vendor, &b, 4);
    memcpy(info->vendor + 4, &d, 4);
    memcpy(info->vendor + 8, &c, 4);
    info->vendor[12] = '\0';

    unsigned ext_max = __get_cpuid_max(0x80000000u, NULL);
    if (ext_max >= 0x80000004u) {
        unsigned regs[12];
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1],
                        &regs[4 * i + 2], &regs[4 * i + 3]);
        memcpy(info->brand, regs, 48);
        info->brand[48] = '\0';
        /* trim leading/trailing blanks */
        char *s = info->brand;
        while (*s == ' ')
            s++;
        memmove(info->brand, s, strlen(s) + 1);
        size_t n = strlen(info->brand);
        while (n > 0 && info->brand[n - 1] == ' ')
            info->brand[--n] = '\0';
    }

    __cpuid(1, a, b, c, d);
    bool osxsave = (c >> 27) & 1;
    info->cpu[LPOT_CPU_SSE42] = (c >> 20) & 1;
    info->cpu[LPOT_CPU_FMA] = (c >> 12) & 1;
    info->cpu[LPOT_CPU_AVX] = (c >> 28) & 1;
    info->cpu[LPOT_CPU_F16C] = (c >> 29) & 1;

    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        unsigned max_sub7 = a;
        info->cpu[LPOT_CPU_AVX2] = (b >> 5) & 1;
        info->cpu[LPOT_CPU_AVX512F] = (b >> 16) & 1;
        info->cpu[LPOT_CPU_AVX512DQ] = (b >> 17) & 1;
        info->cpu[LPOT_CPU_AVX512BW] = (b >> 30) & 1;
        info->cpu[LPOT_CPU_AVX512VL] = (b >> 31) & 1;
        info->cpu[LPOT_CPU_AVX512_VNNI] = (c >> 11) & 1;
        info->cpu[LPOT_CPU_AMX_BF16] = (d >> 22) & 1;
        info->cpu[LPOT_CPU_AVX512_FP16] = (d >> 23) & 1;
        info->cpu[LPOT_CPU_AMX_TILE] = (d >> 24) & 1;
        info->cpu[LPOT_CPU_AMX_INT8] = (d >> 25) & 1;
        if (max_sub7 >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            info->cpu[LPOT_CPU_AVX_VNNI] = (a >> 4) & 1;
            info->cpu[LPOT_CPU_AVX512_BF16] = (a >> 5) & 1;
        }
    }

    info->xcr0 = osxsave ? read_xcr0() : 0;
    bool os_avx = osxsave && (info->xcr0 & 0x6) == 0x6;           /* XMM|YMM */
    bool os_avx512 = os_avx && (info->xcr0 & 0xe0) == 0xe0;       /* opmask|ZMM_Hi256|Hi16_ZMM */
    bool os_amx = os_avx512 && (info->xcr0 & 0x60000) == 0x60000; /* XTILECFG|XTILEDATA */

    for (int f = 0; f < LPOT_CPU_FEATURE_COUNT; f++) {
        bool ok = info->cpu[f];
        switch ((lpot_cpu_feature_t)f) {
        case LPOT_CPU_SSE42:
            break;
        case LPOT_CPU_AVX:
        case LPOT_CPU_AVX2:
        case LPOT_CPU_FMA:
        case LPOT_CPU_F16C:
        case LPOT_CPU_AVX_VNNI:
            ok = ok && os_avx;
            break;
        case LPOT_CPU_AMX_TILE:
        case LPOT_CPU_AMX_INT8:
        case LPOT_CPU_AMX_BF16:
            ok = ok && os_amx;
            break;
        default:
            ok = ok && os_avx512;
            break;
        }
        info->os[f] = ok;
    }
    if (info->os[LPOT_CPU_AMX_TILE]) {
        info->amx_permission = request_amx_permission();
        if (info->amx_permission != 1) {
            info->os[LPOT_CPU_AMX_TILE] = false;
            info->os[LPOT_CPU_AMX_INT8] = false;
            info->os[LPOT_CPU_AMX_BF16] = false;
        }
    }
#else
    (void)info;
#endif
}

static void disable_token(lpot_cpu_info_t *info, const char *tok)
{
    if (strcmp(tok, "amx") == 0) {
        info->disabled[LPOT_CPU_AMX_TILE] = true;
        info->disabled[LPOT_CPU_AMX_INT8] = true;
        info->disabled[LPOT_CPU_AMX_BF16] = true;
        return;
    }
    if (strcmp(tok, "avx512") == 0) {
        info->disabled[LPOT_CPU_AVX512F] = true;
        return;
    }
    int f = lpot_cpu_feature_from_name(tok);
    if (f >= 0) {
        info->disabled[f] = true;
        return;
    }
    size_t used = strlen(info->unknown_disabled);
    size_t need = strlen(tok) + (used ? 1 : 0);
    if (used + need + 1 <= sizeof info->unknown_disabled) {
        if (used)
            strcat(info->unknown_disabled, ",");
        strcat(info->unknown_disabled, tok);
    }
}

void lpot_cpu_apply_policy(lpot_cpu_info_t *info, const char *disable)
{
    memset(info->disabled, 0, sizeof info->disabled);
    info->unknown_disabled[0] = '\0';
    if (disable) {
        char tok[64];
        size_t n = 0;
        for (const char *p = disable;; p++) {
            if (*p == '\0' || *p == ',' || isspace((unsigned char)*p)) {
                if (n > 0) {
                    tok[n] = '\0';
                    disable_token(info, tok);
                }
                n = 0;
                if (*p == '\0')
                    break;
            } else if (n + 1 < sizeof tok) {
                tok[n++] = (char)tolower((unsigned char)*p);
            }
        }
    }
    /* features are declared after what they require, so one pass suffices */
    for (int f = 0; f < LPOT_CPU_FEATURE_COUNT; f++) {
        bool ok = info->os[f] && !info->disabled[f];
        for (int k = 0; ok && k < 3 && requires[f][k] >= 0; k++)
            ok = info->used[requires[f][k]];
        info->used[f] = ok;
    }
}

static lpot_cpu_info_t g_info;
static const char *g_disable;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_ready;

static void init_once(void)
{
    detect(&g_info);
    lpot_cpu_apply_policy(&g_info, g_disable);
    g_ready = 1;
}

const lpot_cpu_info_t *lpot_cpu_init(const char *disable)
{
    g_disable = disable;
    pthread_once(&g_once, init_once);
    return &g_info;
}

const lpot_cpu_info_t *lpot_cpu_info(void) { return g_ready ? &g_info : NULL; }

bool lpot_cpu_uses(lpot_cpu_feature_t f)
{
    return g_ready && f >= 0 && f < LPOT_CPU_FEATURE_COUNT && g_info.used[f];
}

const char *lpot_cpu_isa_level(void)
{
    if (lpot_cpu_uses(LPOT_CPU_AMX_INT8))
        return "amx";
    if (lpot_cpu_uses(LPOT_CPU_AVX512_VNNI))
        return "avx512_vnni";
    if (lpot_cpu_uses(LPOT_CPU_AVX512BW))
        return "avx512";
    if (lpot_cpu_uses(LPOT_CPU_AVX2) && lpot_cpu_uses(LPOT_CPU_FMA))
        return "avx2";
    return "scalar";
}
