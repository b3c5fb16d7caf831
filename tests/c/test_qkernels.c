/* Plain-C driver of the int8 kernels (no Python): create, run every op and
 * path (small-M kernel, oneDNN, split, reference, NCHW/NHWC, dynamic),
 * destroy; checks int32 results against a direct loop. Built and run under
 * AddressSanitizer + LeakSanitizer by tests/test_kernels_c.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/dispatch.h"
#include "kernels/onednn.h"
#include "kernels/qkernels.h"

#define N 64
#define K 96
#define M 9

static int fail(const char *what)
{
    fprintf(stderr, "FAIL %s: %s\n", what, lpot_last_error());
    return 1;
}

int main(void)
{
    const lpot_cpu_info_t *ci = lpot_cpu_init(NULL);
    lpot_dispatch_init(ci);
    lpot_onednn_init(ci);
    static int8_t w[N * K];
    static uint8_t x[M * K];
    static float y[M * N], xf[M * K];
    static int32_t acc[M * N];
    float ws = 0.1f, b[N] = {0}, xs[M];
    int32_t xz[M];
    const char *impl;
    for (int i = 0; i < N * K; i++)
        w[i] = (int8_t)(i * 37 % 256 - 128);
    for (int i = 0; i < M * K; i++) {
        x[i] = (uint8_t)(i * 11 % 256);
        xf[i] = (float)(i % 17) - 8.0f;
    }
    lpot_qparams_t qp = {.src_dt = LPOT_DT_U8, .src_scale = 0.1f, .src_zp = 3,
                         .dst_dt = LPOT_DT_F32, .dst_scale = 1.0f};
    lpot_qparams_t raw = qp;
    raw.dst_dt = LPOT_DT_S32;
    for (int it = 0; it < 3; it++) {
        lpot_qlinear_t *lin;
        if (lpot_qlinear_create(&lin, w, N, K, &ws, 1, b, 0) != LPOT_OK)
            return fail("qlinear_create");
        for (int m = 1; m <= M; m++) {
            if (lpot_qlinear_run(lin, x, m, &qp, y, LPOT_IMPL_AUTO, &impl) != LPOT_OK)
                return fail("qlinear_run");
            if (lpot_qlinear_run(lin, x, m, &raw, acc, LPOT_IMPL_AUTO, &impl) != LPOT_OK)
                return fail("qlinear_run s32");
            for (int i = 0; i < m; i++)
                for (int j = 0; j < N; j++) {
                    int32_t s = 0;
                    for (int p = 0; p < K; p++)
                        s += (x[i * K + p] - 3) * w[j * K + p];
                    if (acc[i * N + j] != s) {
                        fprintf(stderr, "FAIL m=%d (%d,%d) %s: %d != %d\n", m, i, j, impl,
                                acc[i * N + j], s);
                        return 1;
                    }
                }
        }
        if (lpot_qlinear_run_dynamic(lin, xf, M, 1, NULL, 0, y, xs, xz, LPOT_IMPL_AUTO, &impl) != LPOT_OK ||
            lpot_qlinear_run_dynamic(lin, xf, M, 0, NULL, 0, y, xs, xz, LPOT_IMPL_REF, &impl) != LPOT_OK)
            return fail("qlinear_run_dynamic");
        lpot_qlinear_destroy(lin);

        lpot_conv_geom_t g = {.oc = 16, .ic = 8, .kh = 3, .kw = 3, .groups = 2, .stride = {1, 1},
                              .pad = {1, 1, 1, 1}, .dilation = {1, 1}};
        static int8_t wc[16 * 4 * 9];
        static uint8_t xc[2 * 8 * 5 * 5];
        static float yc[2 * 16 * 25];
        memset(wc, 3, sizeof wc);
        memset(xc, 200, sizeof xc);
        lpot_qconv_t *c;
        if (lpot_qconv_create(&c, wc, &g, &ws, 1, NULL, NULL) != LPOT_OK)
            return fail("qconv_create");
        if (lpot_qconv_run(c, xc, 2, 5, 5, LPOT_LAYOUT_NCHW, &qp, yc, LPOT_IMPL_AUTO, &impl) != LPOT_OK ||
            lpot_qconv_run(c, xc, 2, 5, 5, LPOT_LAYOUT_NHWC, &qp, yc, LPOT_IMPL_AUTO, &impl) != LPOT_OK ||
            lpot_qconv_run(c, xc, 2, 5, 5, LPOT_LAYOUT_NHWC, &qp, yc, LPOT_IMPL_REF, &impl) != LPOT_OK)
            return fail("qconv_run");
        /* error paths: a zero scale, an input smaller than the kernel */
        lpot_qparams_t bad = qp;
        bad.src_scale = 0.0f;
        if (lpot_qconv_run(c, xc, 2, 5, 5, LPOT_LAYOUT_NCHW, &bad, yc, LPOT_IMPL_AUTO, &impl) != LPOT_ERR_KERNEL ||
            strstr(lpot_last_error(), "x_scale") == NULL)
            return fail("zero scale accepted");
        g.pad[0] = g.pad[1] = g.pad[2] = g.pad[3] = 0;
        lpot_qconv_t *c0;
        if (lpot_qconv_create(&c0, wc, &g, &ws, 1, NULL, NULL) != LPOT_OK)
            return fail("qconv_create (no padding)");
        if (lpot_qconv_run(c0, xc, 1, 2, 2, LPOT_LAYOUT_NCHW, &qp, yc, LPOT_IMPL_AUTO, &impl) != LPOT_ERR_KERNEL)
            return fail("too small input accepted");
        lpot_qconv_destroy(c0);
        lpot_clear_error();
        lpot_qconv_destroy(c);
        if (lpot_qmatmul_run(x, w, 1, M, K, N, 1, 1, LPOT_DT_S8, 0.1f, 0, &qp, y, LPOT_IMPL_AUTO,
                             &impl) != LPOT_OK)
            return fail("qmatmul_run");
    }
    puts("ok");
    return 0;
}
