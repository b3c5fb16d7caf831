/* Plain-C tests of engine parts that need no interpreter: status messages,
 * CPU policy rules, minmax kernels vs reference. Built and run by
 * tests/test_c_units.py; prints "N passed, M failed". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/dispatch.h"
#include "status.h"

static int passed, failed;
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (cond)                                                              \
            passed++;                                                          \
        else {                                                                 \
            failed++;                                                          \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
        }                                                                      \
    } while (0)

static void test_status(void)
{
    lpot_clear_error();
    CHECK(strcmp(lpot_last_error(), "") == 0);
    lpot_status_t st = lpot_set_error(LPOT_ERR_KERNEL, "x: bad %d", 42);
    CHECK(st == LPOT_ERR_KERNEL);
    CHECK(strcmp(lpot_last_error(), "x: bad 42") == 0);
    CHECK(strcmp(lpot_status_name(LPOT_ERR_CONFIG), "LPOT_ERR_CONFIG") == 0);
    CHECK(strcmp(lpot_status_name((lpot_status_t)999), "LPOT_ERR_UNKNOWN") == 0);
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    lpot_set_error(LPOT_ERR_INVALID, "%s", big);
    size_t n = strlen(lpot_last_error());
    CHECK(n < sizeof big && n > 1000);
    CHECK(strcmp(lpot_last_error() + n - 3, "...") == 0);
}

static void test_policy(void)
{
    lpot_cpu_info_t info;
    memset(&info, 0, sizeof info);
    for (int f = 0; f < LPOT_CPU_FEATURE_COUNT; f++)
        info.os[f] = true; /* pretend a Sapphire Rapids */
    lpot_cpu_apply_policy(&info, NULL);
    for (int f = 0; f < LPOT_CPU_FEATURE_COUNT; f++)
        CHECK(info.used[f]);

    lpot_cpu_apply_policy(&info, "amx, AVX512_VNNI");
    CHECK(!info.used[LPOT_CPU_AMX_TILE] && !info.used[LPOT_CPU_AMX_INT8] &&
          !info.used[LPOT_CPU_AMX_BF16]);
    CHECK(!info.used[LPOT_CPU_AVX512_VNNI]);
    CHECK(info.used[LPOT_CPU_AVX512BW] && info.used[LPOT_CPU_AVX_VNNI]);
    CHECK(info.unknown_disabled[0] == '\0');

    lpot_cpu_apply_policy(&info, "avx512");
    CHECK(!info.used[LPOT_CPU_AVX512F] && !info.used[LPOT_CPU_AVX512_VNNI] &&
          !info.used[LPOT_CPU_AMX_INT8] && !info.used[LPOT_CPU_AVX512_FP16]);
    CHECK(info.used[LPOT_CPU_AVX2] && info.used[LPOT_CPU_AVX_VNNI]);

    lpot_cpu_apply_policy(&info, "sse4_2,,nope");
    for (int f = 0; f < LPOT_CPU_FEATURE_COUNT; f++)
        CHECK(!info.used[f]);
    CHECK(strcmp(info.unknown_disabled, "nope") == 0);

    /* OS without AVX-512 state: nothing AVX-512 or AMX even if asked */
    info.os[LPOT_CPU_AVX512F] = false;
    lpot_cpu_apply_policy(&info, "");
    CHECK(!info.used[LPOT_CPU_AVX512BW] && !info.used[LPOT_CPU_AMX_TILE]);
    CHECK(info.used[LPOT_CPU_AVX2]);
    CHECK(lpot_cpu_feature_from_name("avx512_vnni") == LPOT_CPU_AVX512_VNNI);
    CHECK(lpot_cpu_feature_from_name("avxvnni") == LPOT_CPU_AVX_VNNI);
    CHECK(lpot_cpu_feature_from_name("avx9") == -1);
}

static void test_minmax(void)
{
    const lpot_cpu_info_t *ci = lpot_cpu_init(getenv("LPOT_DISABLE_CPU_FEATURES"));
    lpot_dispatch_init(ci);
    static const size_t sizes[] = {1, 2, 3, 5, 7, 15, 16, 17, 31, 33, 63, 127, 129, 255, 1023};
    float *x = malloc(3 * 1023 * sizeof *x);
    srand(7);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        for (size_t i = 0; i < 3 * n; i++)
            x[i] = (float)(rand() % 20001 - 10000) / 7.0f;
        if (n > 5) {
            x[n / 2] = NAN;
            x[n - 1] = -INFINITY;
        }
        for (ptrdiff_t stride = 1; stride <= 3; stride += 2) {
            float mn1 = INFINITY, mx1 = -INFINITY, mn2 = INFINITY, mx2 = -INFINITY;
            size_t b1 = 0, b2 = 0;
            lpot_kernels.minmax_f32(x, n, stride, &mn1, &mx1, &b1);
            lpot_kernels_ref.minmax_f32(x, n, stride, &mn2, &mx2, &b2);
            CHECK(mn1 == mn2 && mx1 == mx2 && b1 == b2);
        }
    }
    free(x);
}

int main(void)
{
    test_status();
    test_policy();
    test_minmax();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
