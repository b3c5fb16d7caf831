/* Weight-only int8 embedding tables (see qembed.h). Plain C; the per-row
 * loops are simple enough for the compiler to vectorize. */
#include "qembed.h"

#include <string.h>

static lpot_status_t check_idx(const int64_t *idx, int64_t n, int64_t rows)
{
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= rows)
            return lpot_set_error(LPOT_ERR_KERNEL,
                                  "idx[%lld] = %lld is out of range for a table of %lld rows",
                                  (long long)i, (long long)idx[i], (long long)rows);
    return LPOT_OK;
}

lpot_status_t lpot_qembed_rows(const int8_t *w, const float *scales, int64_t rows, int64_t dim,
                               const int64_t *idx, int64_t n, float *out)
{
    lpot_status_t st = check_idx(idx, n, rows);
    if (st != LPOT_OK)
        return st;
    for (int64_t i = 0; i < n; i++) {
        const int8_t *r = w + idx[i] * dim;
        const float s = scales[idx[i]];
        float *o = out + i * dim;
        for (int64_t j = 0; j < dim; j++)
            o[j] = (float)r[j] * s;
    }
    return LPOT_OK;
}

lpot_status_t lpot_qembed_bag(const int8_t *w, const float *scales, int64_t rows, int64_t dim,
                              const int64_t *idx, int64_t n, const int64_t *offsets,
                              int64_t nbags, const float *psw, int64_t padding_idx,
                              lpot_bag_mode_t mode, float *out)
{
    if (mode != LPOT_BAG_SUM && mode != LPOT_BAG_MEAN && mode != LPOT_BAG_MAX)
        return lpot_set_error(LPOT_ERR_KERNEL, "mode: expected sum, mean or max");
    if (psw != NULL && mode != LPOT_BAG_SUM)
        return lpot_set_error(LPOT_ERR_KERNEL, "per_sample_weights: only with mode 'sum'");
    for (int64_t b = 0; b <= nbags; b++) {
        const int64_t lo = b ? offsets[b - 1] : 0;
        if (offsets[b] < lo || offsets[b] > n)
            return lpot_set_error(LPOT_ERR_KERNEL,
                                  "offsets[%lld] = %lld: expected non-decreasing offsets within "
                                  "[0, %lld]", (long long)b, (long long)offsets[b], (long long)n);
    }
    lpot_status_t st = check_idx(idx, n, rows);
    if (st != LPOT_OK)
        return st;
    for (int64_t b = 0; b < nbags; b++) {
        float *o = out + b * dim;
        int64_t count = 0;
        for (int64_t i = offsets[b]; i < offsets[b + 1]; i++) {
            if (idx[i] == padding_idx)
                continue;
            const int8_t *r = w + idx[i] * dim;
            const float s = scales[idx[i]] * (psw ? psw[i] : 1.0f);
            if (count == 0) {
                for (int64_t j = 0; j < dim; j++)
                    o[j] = (float)r[j] * s;
            } else if (mode == LPOT_BAG_MAX) {
                for (int64_t j = 0; j < dim; j++) {
                    const float v = (float)r[j] * s;
                    o[j] = v > o[j] ? v : o[j];
                }
            } else {
                for (int64_t j = 0; j < dim; j++)
                    o[j] += (float)r[j] * s;
            }
            count++;
        }
        if (count == 0)
            memset(o, 0, sizeof(float) * (size_t)dim);
        else if (mode == LPOT_BAG_MEAN)
            for (int64_t j = 0; j < dim; j++)
                o[j] /= (float)count;
    }
    return LPOT_OK;
}
