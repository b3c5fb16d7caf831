/* lpot_wlogsum_f64 (the KL search's sum of w * log x): the scalar reference
 * against libm's log, and the dispatched (AVX2 on x86-64) version against
 * the reference, over odd lengths and the whole range of positive doubles
 * (powers of two, values either side of sqrt(2), counts, huge and tiny). */
#include <float.h>
#include <math.h>
#include <stdio.h>

#include "kernels/cpu.h"
#include "kernels/dispatch.h"

#define NMAX 1100

static int failed = 0, passed = 0;

static void check(const char *what, double got, double want, double rtol)
{
    double err = fabs(got - want), lim = rtol * fmax(fabs(want), 1e-300);
    if (!(err <= lim)) {
        fprintf(stderr, "FAIL %s: got %.17g want %.17g (err %.3g > %.3g)\n", what, got, want,
                err, lim);
        failed++;
    } else {
        passed++;
    }
}

int main(void)
{
    lpot_dispatch_init(lpot_cpu_init(NULL));
    static double w[NMAX], x[NMAX];
    const double special[] = {1.0, 2.0, 0.5, 1.4142135623730951, 1.4142135623730949,
                              0.7071067811865476, 3.0, 10.0, 1e-300, DBL_MIN, 1e300, DBL_MAX,
                              123456789.0, 4294967296.0, 1.0000000000000002, 0.9999999999999999};
    /* single values: within 2 ulp of libm (w = 1) */
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) {
        double one = 1.0, v = special[i], want = log(v);
        double tol = want == 0.0 ? 0.0 : 4.5e-16;
        char name[64];
        snprintf(name, sizeof name, "ref log(%.17g)", v);
        if (want == 0.0)
            check(name, lpot_wlogsum_f64_ref(&one, &v, 1) + 1.0, 1.0, 0.0);
        else
            check(name, lpot_wlogsum_f64_ref(&one, &v, 1), want, tol);
    }
    /* every count 1..NMAX and a spread of magnitudes */
    for (size_t i = 0; i < NMAX; i++) {
        x[i] = (i % 3 == 0) ? (double)(i + 1) : ldexp(1.0 + (double)(i % 97) / 97.0, (int)(i % 61) - 30);
        w[i] = 1.0 + (double)(i % 13);
    }
    const size_t lens[] = {0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 127, 255, 1023, NMAX};
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        size_t n = lens[li];
        double want = 0.0, wabs = 0.0;
        for (size_t i = 0; i < n; i++) {
            want += w[i] * log(x[i]);
            wabs += fabs(w[i] * log(x[i]));
        }
        double ref = lpot_wlogsum_f64_ref(w, x, n), vec = lpot_kernels.wlogsum_f64(w, x, n);
        char name[64];
        /* the error bound is relative to sum |w log x| (cancellation) */
        snprintf(name, sizeof name, "ref vs libm n=%zu", n);
        check(name, ref + wabs, want + wabs, 1e-14);
        snprintf(name, sizeof name, "dispatch vs ref n=%zu", n);
        check(name, vec + wabs, ref + wabs, 1e-14);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
