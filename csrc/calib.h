/* Streaming calibration observers. Plain C.
 *
 * An observer sees activation tensors one at a time (lpot_observer_update)
 * and never keeps them: its memory is fixed at creation (a few KiB per
 * channel for min/max, 2 * bins uint64 counters for histograms). Observers
 * of the same configuration merge (parallel/distributed calibration) and
 * export/import their whole state losslessly.
 *
 * Algorithms
 *  minmax          running min/max of the finite values (per tensor or per
 *                  channel along an axis).
 *  moving_average  torch's MovingAverage(PerChannel)MinMaxObserver: the first
 *                  batch sets the range, then r += c * (batch_r - r)
 *                  (c = averaging_constant, 0.01). Merging two observers
 *                  averages their ranges weighted by their update counts (an
 *                  approximation: EMA is order dependent).
 *  kl              TensorRT's entropy calibration on the histogram. One-sided
 *                  (symmetric scheme, or data >= 0): |x| histogram, candidate
 *                  thresholds from 128 bins up to the last non-empty bin,
 *                  each candidate's clipped distribution P (outliers folded
 *                  into the edge bin) against Q, its quantization into nq
 *                  bins (nq = qmax - zero point: 127 for int8 sym, 255 for
 *                  uint8 asym); source bin j of a window of L bins maps to
 *                  quantized bin floor(j * nq / L) (pytorch-quantization's
 *                  mapping; ORT/MXNet use L // nq with a ragged last bin).
 *                  The first |x| bin (the spike of exact zeros after a ReLU
 *                  or padding) counts as its neighbour does, as
 *                  pytorch-quantization does: otherwise the spike dominates
 *                  the divergence and KL clips post-ReLU data at ~2 sigma.
 *                  Two-sided (asym scheme with negative data): symmetric
 *                  windows [-t, t] on the signed histogram, nq = qmax - qmin
 *                  (255) as in MXNet/ORT. The range is then clipped to the
 *                  observed [min, max]. A candidate whose Q is 0 where P is
 *                  not is rejected (no smoothing).
 *  percentile      sym: |x| quantile p/100; asym: the (100-p)/200 and
 *                  1-(100-p)/200 quantiles of x; bin edges (outer side),
 *                  clipped to [min, max]. p = 99.999 by default.
 *  mse             the range, on bin edges, minimising the expected squared
 *                  error (values uniform within a bin): clipping error
 *                  outside, Delta^2/12 inside, Delta = (hi - lo)/(qmax - qmin).
 *                  Exhaustive over all (lo, hi) edge pairs containing 0,
 *                  O(1) each via prefix sums.
 *
 * Histogram: 2 * bins bins over [-T, T), bin k = floor(x * bins / T) + bins,
 * T a power of two >= max |x| seen. When new data exceeds T, T doubles as
 * often as needed and bins merge pairwise (exact: the same counts as if the
 * data had been binned at the new T from the start). So merging and
 * sequential updates give identical histograms, and the resolution is
 * between T/2 and T over `bins` bins per side (2048 by default).
 *
 * NaN and +-inf are never part of a range: they are counted (nan_count).
 * compute() on an observer that has seen no finite value fails with
 * LPOT_ERR_INVALID. */
#ifndef LPOT_CALIB_H
#define LPOT_CALIB_H

#include <stddef.h>
#include <stdint.h>

#include "quant.h"
#include "status.h"
#include "tensor.h"

typedef enum {
    LPOT_OBS_MINMAX = 0,
    LPOT_OBS_MOVING_AVERAGE,
    LPOT_OBS_KL,
    LPOT_OBS_PERCENTILE,
    LPOT_OBS_MSE,
    LPOT_OBS_COUNT_
} lpot_obs_algo_t;

typedef struct {
    lpot_obs_algo_t algo;
    lpot_qopts_t q;
    int bins;                  /* histogram bins per side (default 2048) */
    double percentile;         /* default 99.999 */
    double averaging_constant; /* default 0.01 */
} lpot_obs_opts_t;

typedef struct lpot_observer lpot_observer_t;

lpot_obs_opts_t lpot_obs_opts_default(lpot_obs_algo_t algo);
int lpot_obs_algo_from_name(const char *name);
const char *lpot_obs_algo_name(lpot_obs_algo_t a);
int lpot_obs_uses_histogram(lpot_obs_algo_t a);

/* nch: 1 per tensor, else the channel count along `axis` (checked at
 * update). Histogram algorithms are per tensor only. */
lpot_status_t lpot_observer_create(const lpot_obs_opts_t *o, int axis, size_t nch,
                                   lpot_observer_t **out);
void lpot_observer_destroy(lpot_observer_t *obs);

/* Observe a float tensor (float32/16/bf16, any strides). Not thread safe for
 * one observer; different observers may update concurrently. */
lpot_status_t lpot_observer_update(lpot_observer_t *obs, const lpot_tensor_t *x);

/* other must have the same algorithm, options, axis and channel count. */
lpot_status_t lpot_observer_merge(lpot_observer_t *obs, const lpot_observer_t *other);

/* The calibrated range per channel (before qparams). */
lpot_status_t lpot_observer_range(const lpot_observer_t *obs, float *lo, float *hi);
/* scale/zero point per channel (nch values each). */
lpot_status_t lpot_observer_compute(const lpot_observer_t *obs, float *scale,
                                    int32_t *zero_point);

/* Whole state, for serialisation. Pointers alias the observer's memory;
 * import copies from a view of the same shape (bins, nch). */
typedef struct {
    lpot_obs_opts_t opts;
    int axis;
    size_t nch;
    float *mn, *mx;     /* nch each: finite range seen (or EMA for moving_average) */
    uint64_t updates;   /* update() calls that saw finite data */
    uint64_t count;     /* finite values seen */
    uint64_t nan_count; /* NaN/inf values skipped */
    double half_range;  /* T (0 before the first nonzero value) */
    uint64_t *hist;     /* 2 * bins counters, NULL without a histogram */
} lpot_obs_state_t;

void lpot_observer_view(lpot_observer_t *obs, lpot_obs_state_t *view);
/* Validates and replaces obs's mutable state from v (same opts, nch). */
lpot_status_t lpot_observer_import(lpot_observer_t *obs, const lpot_obs_state_t *v);

#endif
