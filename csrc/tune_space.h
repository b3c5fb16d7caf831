/* Tuning space: per-op option lists. Plain C.
 *
 * Built from the adaptor's capability (per op: type, allowed weight and
 * activation dtypes, schemes, granularities, algorithms) intersected with the
 * model_wise filter and, per op, the op_wise filter (op_wise replaces
 * model_wise for that op; names/regexes are resolved to ops by the caller).
 * Every op gets its quantized options (the cartesian product of the allowed
 * activation x weight values, in filter order when a filter lists values,
 * else capability order), then bf16 (when the capability lists it and the
 * filter allows it), then fp32 (always, unless an op_wise dtype list leaves it
 * out). Calibration sampling sizes are one more dimension.
 *
 * A configuration (cfg) is an int32 array of lpot_space_cfg_len() entries:
 * cfg[i] is the option index of op i, cfg[n_ops] the sampling-size index. */
#ifndef LPOT_TUNE_SPACE_H
#define LPOT_TUNE_SPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

enum { LPOT_F_DTYPE, LPOT_F_SCHEME, LPOT_F_GRANULARITY, LPOT_F_ALGORITHM, LPOT_F_COUNT };

/* A list of strings. In filters, v == NULL means "unrestricted". */
typedef struct {
    size_t n;
    const char *const *v;
} lpot_strlist_t;

typedef struct {
    lpot_strlist_t f[LPOT_F_COUNT];
} lpot_tensor_spec_t;

typedef struct {
    const char *name, *type;
    bool has_weight;
    lpot_tensor_spec_t weight, activation;
} lpot_op_cap_t;

typedef struct {
    bool set;
    lpot_tensor_spec_t weight, activation;
} lpot_op_filter_t;

typedef enum { LPOT_PREC_INT8 = 0, LPOT_PREC_BF16, LPOT_PREC_FP32 } lpot_prec_t;

/* One tensor's choice; strings are interned in the space (compare pointers).
 * For bf16/fp32 only dtype is set. weight.dtype is NULL for ops without
 * weights. */
typedef struct {
    const char *f[LPOT_F_COUNT];
} lpot_tensor_opt_t;

typedef struct {
    lpot_prec_t prec;
    lpot_tensor_opt_t weight, activation;
} lpot_op_opt_t;

typedef struct {
    const char *name, *type;
    bool has_weight;
    size_t n_opts;
    lpot_op_opt_t *opts;
    size_t n_quant;      /* opts[0..n_quant) are quantized */
    int32_t bf16, fp32;  /* option index, or -1 */
} lpot_space_op_t;

typedef struct lpot_space lpot_space_t;

/* model_wise may be NULL (unrestricted); op_wise may be NULL or an array of
 * n_ops filters (entries with .set false use model_wise). sampling: n_sampling
 * > 0 sizes. Errors: LPOT_ERR_CONFIG when a filter leaves an op no option. */
lpot_status_t lpot_space_create(const lpot_op_cap_t *caps, size_t n_ops,
                                const lpot_op_filter_t *model_wise,
                                const lpot_op_filter_t *op_wise, const long *sampling,
                                size_t n_sampling, lpot_space_t **out);
void lpot_space_destroy(lpot_space_t *s);

size_t lpot_space_n_ops(const lpot_space_t *s);
const lpot_space_op_t *lpot_space_op(const lpot_space_t *s, size_t i);
size_t lpot_space_n_sampling(const lpot_space_t *s);
long lpot_space_sampling(const lpot_space_t *s, size_t i);
size_t lpot_space_cfg_len(const lpot_space_t *s);
/* log10 of the number of configurations. */
double lpot_space_log10_size(const lpot_space_t *s);

/* Model-wise configurations: the distinct quantized option signatures seen
 * across ops (first-seen order); config k gives every op the option matching
 * signature k (activation part alone when the weight part differs, else the
 * op's first option). */
size_t lpot_space_n_modelwise(const lpot_space_t *s);
void lpot_space_modelwise_cfg(const lpot_space_t *s, size_t k, size_t sampling_idx,
                              int32_t *cfg);

/* Option an op falls back to at `stage` 0 (bf16 when allowed, else fp32) or
 * 1 (fp32 when allowed); -1 when none. */
int32_t lpot_space_fallback(const lpot_space_t *s, size_t op, int stage);

/* true when cfg is a valid configuration of s. */
bool lpot_space_cfg_valid(const lpot_space_t *s, const int32_t *cfg);

/* FNV-1a 64 of everything that defines the space. */
uint64_t lpot_space_hash(const lpot_space_t *s);

/* "S|o0,o1,..." ; returns the length written (excluding NUL) or the length
 * needed when cap is too small (like snprintf). */
size_t lpot_space_cfg_encode(const lpot_space_t *s, const int32_t *cfg, char *buf,
                             size_t cap);
/* Parse an encoded cfg; LPOT_ERR_INVALID when it does not fit the space. */
lpot_status_t lpot_space_cfg_decode(const lpot_space_t *s, const char *text,
                                    int32_t *cfg);

/* FNV-1a 64 helpers shared by the tuner. */
uint64_t lpot_fnv1a(uint64_t h, const void *data, size_t n);
#define LPOT_FNV_SEED 0xcbf29ce484222325ULL

#endif
