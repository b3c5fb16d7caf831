/* Constants of lpot's own float32 sigmoid / tanh, shared by the scalar
 * reference (rnn_act_ref.c) and the vector versions (rnn_act_x86.c), which
 * evaluate the same operations in the same order (fused multiply-adds
 * exactly where the reference calls fmaf; no other contraction: C11 mode
 * compiles with -ffp-contract=off), so they agree bit for bit.
 *
 *   exp(-a), a >= 0:  n = rint(a log2 e), r = -((a - n ln2_hi) - n ln2_lo)
 *                     (each step one fma; Horner steps fma too)
 *                     (Cody-Waite; n ln2_hi is exact for n <= 126),
 *                     exp(r) = Taylor polynomial of degree 7 on
 *                     |r| <= ln2/2 (truncation < 1e-8 relative),
 *                     times 2^-n built in the exponent bits. a is clamped to
 *                     EXP_MAX_A (2^-126 stays normal); results for larger a
 *                     (below FLT_MIN) are flushed to 0.
 *   sigmoid(x) = (x >= 0 ? 1 : e) / (1 + e),  e = exp(-|x|)
 *   tanh(x)    = x + x u P(u), u = x^2, for |x| < TANH_SMALL (P: degree 4,
 *                least-squares fit of lpot's on Chebyshev nodes, 0.77 ulp),
 *                else sign(x) (1 - e) / (1 + e), e = exp(-2|x|).
 * Measured against libm in double (tests/test_rnn.py, 3M points): sigmoid
 * within 2.4 ulp, tanh within 1.6 ulp of the exact value (results below
 * FLT_MIN are flushed to 0); NaN propagates, +-inf give the limits,
 * tanh(-0) = -0. */
#ifndef LPOT_RNN_ACT_H
#define LPOT_RNN_ACT_H

#define LPOT_ACT_LOG2E 1.44269502f
#define LPOT_ACT_LN2_HI 0.693145751953125f  /* 0x3f317200: 8 trailing zero bits */
#define LPOT_ACT_LN2_LO 1.42860677e-06f     /* ln 2 - LN2_HI */
#define LPOT_ACT_EXP_MAX_A 87.3300018f      /* exp(-a) >= FLT_MIN below this */
#define LPOT_ACT_E7 1.98412701e-04f         /* 1/5040 */
#define LPOT_ACT_E6 1.38888892e-03f         /* 1/720 */
#define LPOT_ACT_E5 8.33333377e-03f         /* 1/120 */
#define LPOT_ACT_E4 4.16666679e-02f         /* 1/24 */
#define LPOT_ACT_E3 1.66666672e-01f         /* 1/6 */
#define LPOT_ACT_E2 0.5f
#define LPOT_ACT_TANH_SMALL 0.625f
#define LPOT_ACT_T0 -0.333332807f
#define LPOT_ACT_T1 0.133314312f
#define LPOT_ACT_T2 -0.0537391566f
#define LPOT_ACT_T3 0.0206378624f
#define LPOT_ACT_T4 -0.0057040425f

#endif
