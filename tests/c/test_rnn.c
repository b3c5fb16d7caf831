/* The recurrent kernels without Python: lpot's sigmoid / tanh (scalar
 * reference against libm in double, dispatched version bit for bit against
 * the reference over odd lengths), and lpot_rnn_layer: with zero recurrent
 * weights the product is exactly the bias, so every step is checked against
 * a double-precision LSTM / GRU; an empty sequence copies the state; a
 * weight shape that does not fit the mode is an error naming packed_hh. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/dispatch.h"
#include "kernels/qrnn.h"

static int failed = 0, passed = 0;

static void check(const char *what, int ok)
{
    if (!ok) {
        fprintf(stderr, "FAIL %s\n", what);
        failed++;
    } else {
        passed++;
    }
}

static double sig64(double x) { return 1.0 / (1.0 + exp(-x)); }

/* |got - want| in float32 ulps at want (normal range). */
static double ulps(float got, double want)
{
    float w = (float)want;
    double sp = fabs((double)nextafterf(fabsf(w), INFINITY) - fabs((double)w));
    return fabs((double)got - want) / sp;
}

static void activations(void)
{
    static float x[4001], y[4001], r[4001];
    for (int i = 0; i <= 4000; i++)
        x[i] = -20.0f + 0.01f * (float)i + (i % 7 == 0 ? 1e-4f : 0.0f);
    double worst_s = 0.0, worst_t = 0.0;
    lpot_act_f32_ref(LPOT_ACT_SIGMOID, x, y, 4001);
    for (int i = 0; i <= 4000; i++)
        worst_s = fmax(worst_s, ulps(y[i], sig64(x[i])));
    lpot_act_f32_ref(LPOT_ACT_TANH, x, y, 4001);
    for (int i = 0; i <= 4000; i++)
        if (x[i] != 0.0f)
            worst_t = fmax(worst_t, ulps(y[i], tanh((double)x[i])));
    char name[96];
    snprintf(name, sizeof name, "sigmoid within 2.5 ulp of libm (worst %.2f)", worst_s);
    check(name, worst_s <= 2.5);
    snprintf(name, sizeof name, "tanh within 1.6 ulp of libm (worst %.2f)", worst_t);
    check(name, worst_t <= 1.6);
    const size_t lens[] = {0, 1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 127, 129, 1023, 4001};
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        for (int k = 0; k < 2; k++) {
            lpot_kernels.act_f32((lpot_act_t)k, x, y, lens[li]);
            lpot_kernels_ref.act_f32((lpot_act_t)k, x, r, lens[li]);
            snprintf(name, sizeof name, "%s (%s) == reference at n=%zu", k ? "tanh" : "sigmoid",
                     lpot_kernels.rnn_isa, lens[li]);
            check(name, memcmp(y, r, sizeof(float) * lens[li]) == 0);
        }
    }
}

#define T 4
#define B 2
#define H 5

static void layer(lpot_rnn_mode_t mode, lpot_impl_pref_t pref)
{
    const int g = lpot_rnn_gates(mode);
    int8_t w[4 * H * H];
    float sc[4 * H], bias[4 * H], xp[T * B * 4 * H], h0[B * H], c0[B * H];
    float out[T * B * H], hn[B * H], cn[B * H];
    memset(w, 0, sizeof w);
    for (int i = 0; i < g * H; i++) {
        sc[i] = 0.01f;
        bias[i] = 0.05f * (float)(i % 9) - 0.2f;
    }
    for (int i = 0; i < T * B * g * H; i++)
        xp[i] = (float)sin(0.37 * i) * 2.0f;
    for (int i = 0; i < B * H; i++) {
        h0[i] = (float)cos(0.5 * i) * 0.5f;
        c0[i] = (float)sin(0.9 * i);
    }
    lpot_qlinear_t *lin = NULL;
    if (lpot_qlinear_create(&lin, w, g * H, H, sc, g * H, bias, 0) != LPOT_OK) {
        check("qlinear_create", 0);
        return;
    }
    const char *impl;
    lpot_status_t st = lpot_rnn_layer(mode, lin, xp, T, B, h0, mode == LPOT_RNN_LSTM ? c0 : NULL,
                                      out, hn, mode == LPOT_RNN_LSTM ? cn : NULL, pref, &impl);
    check("rnn_layer runs", st == LPOT_OK);
    double h[B * H], c[B * H], worst = 0.0;
    for (int i = 0; i < B * H; i++) {
        h[i] = h0[i];
        c[i] = c0[i];
    }
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) {
            const float *xg = xp + (t * B + b) * g * H;
            for (int j = 0; j < H; j++) {
                double *hj = &h[b * H + j], *cj = &c[b * H + j];
                if (mode == LPOT_RNN_LSTM) {
                    double gi = sig64((double)xg[j] + bias[j]);
                    double gf = sig64((double)xg[H + j] + bias[H + j]);
                    double gg = tanh((double)xg[2 * H + j] + bias[2 * H + j]);
                    double go = sig64((double)xg[3 * H + j] + bias[3 * H + j]);
                    *cj = gf * *cj + gi * gg;
                    *hj = go * tanh(*cj);
                } else {
                    double r = sig64((double)xg[j] + bias[j]);
                    double z = sig64((double)xg[H + j] + bias[H + j]);
                    double n = tanh((double)xg[2 * H + j] + r * bias[2 * H + j]);
                    *hj = (1.0 - z) * n + z * *hj;
                }
                worst = fmax(worst, fabs(out[(t * B + b) * H + j] - *hj));
            }
        }
    }
    char name[96];
    snprintf(name, sizeof name, "%s layer (pref %d) vs double within 2e-6 (worst %.3g)",
             mode == LPOT_RNN_LSTM ? "LSTM" : "GRU", (int)pref, worst);
    check(name, worst <= 2e-6);
    check("h_n is the last output", memcmp(hn, out + (T - 1) * B * H, sizeof hn) == 0);
    if (mode == LPOT_RNN_LSTM) {
        double cw = 0.0;
        for (int i = 0; i < B * H; i++)
            cw = fmax(cw, fabs(cn[i] - c[i]));
        check("c_n vs double", cw <= 4e-6);
    }
    /* empty sequence: the state passes through */
    memset(hn, 0, sizeof hn);
    memset(cn, 0, sizeof cn);
    st = lpot_rnn_layer(mode, lin, xp, 0, B, h0, mode == LPOT_RNN_LSTM ? c0 : NULL, out, hn,
                        mode == LPOT_RNN_LSTM ? cn : NULL, pref, &impl);
    check("empty sequence copies h0",
          st == LPOT_OK && memcmp(hn, h0, sizeof hn) == 0 &&
              (mode != LPOT_RNN_LSTM || memcmp(cn, c0, sizeof cn) == 0));
    /* the other mode's gate count does not fit these weights */
    lpot_rnn_mode_t other = mode == LPOT_RNN_LSTM ? LPOT_RNN_GRU : LPOT_RNN_LSTM;
    st = lpot_rnn_layer(other, lin, xp, T, B, h0, c0, out, hn, cn, pref, &impl);
    check("wrong gate count is an error naming packed_hh",
          st == LPOT_ERR_KERNEL && strstr(lpot_last_error(), "packed_hh") != NULL);
    lpot_qlinear_destroy(lin);
}

int main(void)
{
    lpot_dispatch_init(lpot_cpu_init(NULL));
    activations();
    for (int m = 0; m < 2; m++) {
        layer((lpot_rnn_mode_t)m, LPOT_IMPL_AUTO);
        layer((lpot_rnn_mode_t)m, LPOT_IMPL_REF);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
