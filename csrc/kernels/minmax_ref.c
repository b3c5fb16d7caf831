/* Scalar reference: range of the finite values, non-finite values counted. */
#include <math.h>

#include "dispatch.h"

void lpot_minmax_f32_ref(const float *x, size_t n, ptrdiff_t stride, float *mn,
                         float *mx, size_t *nonfinite)
{
    float lo = *mn, hi = *mx;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float v = x[(ptrdiff_t)i * stride];
        if (!isfinite(v)) {
            bad++;
            continue;
        }
        if (v < lo)
            lo = v;
        if (v > hi)
            hi = v;
    }
    *mn = lo;
    *mx = hi;
    *nonfinite += bad;
}
