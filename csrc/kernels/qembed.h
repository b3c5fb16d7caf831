/* Weight-only int8 embedding tables: gather + dequantize (Embedding) and
 * fused gather + dequantize + reduce (EmbeddingBag). Plain C. The table is
 * int8 (rows x dim, row-major) with one float scale per row (symmetric). */
#ifndef LPOT_QEMBED_H
#define LPOT_QEMBED_H

#include <stdint.h>

#include "../status.h"

typedef enum { LPOT_BAG_SUM = 0, LPOT_BAG_MEAN = 1, LPOT_BAG_MAX = 2 } lpot_bag_mode_t;

/* out[i, :] = w[idx[i], :] * scales[idx[i]] for i < n; an index outside
 * [0, rows) is LPOT_ERR_KERNEL naming its position (out is then partial). */
lpot_status_t lpot_qembed_rows(const int8_t *w, const float *scales, int64_t rows, int64_t dim,
                               const int64_t *idx, int64_t n, float *out);

/* Bag b reduces the dequantized rows idx[offsets[b] .. offsets[b+1]) into
 * out[b, :] (offsets: nbags + 1 non-decreasing values in [0, n]); indices
 * equal to padding_idx (-1: none) are skipped and not counted; psw (NULL or
 * n weights, sum only) scales each row; an empty bag is zeros. */
lpot_status_t lpot_qembed_bag(const int8_t *w, const float *scales, int64_t rows, int64_t dim,
                              const int64_t *idx, int64_t n, const int64_t *offsets,
                              int64_t nbags, const float *psw, int64_t padding_idx,
                              lpot_bag_mode_t mode, float *out);

#endif
