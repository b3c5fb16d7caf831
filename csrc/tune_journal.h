/* Tuning history: an append-only JSON-lines journal. Plain C.
 *
 * Line 1 is a header {"lpot_journal":1,"model":..,"space":..,"tuning":..}
 * naming what the history belongs to; then one record per trial
 * {"kind":"trial","trial":N,"cfg":"S|o0,o1,..","evaluated":..,"acc":..,
 *  "passed":..,"perf":..,"size":..,"foot":..,"score":..,"sec":..}
 * ("cfg":"fp32" for the baseline; null for NaN/inf) and one per proxy
 * measurement {"kind":"proxy","cfg":..,"err":[..]}. Every line is flushed and
 * fdatasync'd (fsync without the timestamp metadata: the data and the file
 * size reach the disk; ~0.5 ms instead of ~3.5 ms on ext4) before the loop
 * goes on, so a killed process loses at most the
 * trial in flight. Opening for resume checks the header against the current
 * setup (LPOT_ERR_TUNING naming what differs), loads the records, and drops a
 * torn last line. */
#ifndef LPOT_TUNE_JOURNAL_H
#define LPOT_TUNE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"
#include "tune.h"

typedef struct lpot_journal lpot_journal_t;

typedef struct {
    const char *model;  /* model fingerprint */
    const char *space;  /* hex hash of the space */
    const char *tuning; /* canonical tuning options */
} lpot_journal_header_t;

lpot_status_t lpot_journal_open(const char *path, bool resume,
                                const lpot_journal_header_t *hdr, lpot_journal_t **out);
void lpot_journal_close(lpot_journal_t *j);

/* Recorded trial for cfg ("fp32" = baseline); false when absent. */
bool lpot_journal_find_trial(const lpot_journal_t *j, const char *cfg, lpot_trial_t *out);
/* Recorded proxy for cfg: copies n errors; false when absent. */
bool lpot_journal_find_proxy(const lpot_journal_t *j, const char *cfg, double *err, size_t n);
size_t lpot_journal_n_trials(const lpot_journal_t *j);

lpot_status_t lpot_journal_append_trial(lpot_journal_t *j, const char *cfg,
                                        const lpot_trial_t *tr);
lpot_status_t lpot_journal_append_proxy(lpot_journal_t *j, const char *cfg,
                                        const double *err, size_t n);

#endif
