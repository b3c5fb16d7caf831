/* oneDNN plumbing shared by the int8 ops (internal to csrc/kernels/). Plain C.
 *
 * - one CPU engine per process, created on first use (pthread_once);
 * - one stream per calling thread (pthread key; destroyed at thread exit);
 * - user-managed scratchpad allocated per call, so a primitive can run from
 *   several threads at once;
 * - a small primitive cache keyed by the call's shape and attributes;
 * - packed-weight variants: each weight layout a primitive asks for is made
 *   once (reorder of the plain s8 weights) and shared by every primitive
 *   that wants it. */
#ifndef LPOT_QDNNL_H
#define LPOT_QDNNL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <oneapi/dnnl/dnnl.h>

#include "qkernels.h"

/* Status of a oneDNN call -> lpot status with a message naming `what`. */
lpot_status_t lpot_dnnl_check(dnnl_status_t s, const char *what);

lpot_status_t lpot_dnnl_engine(dnnl_engine_t *eng);

/* A stable copy of an implementation name (never freed; the set is small). */
const char *lpot_qk_intern(const char *name);

/* Implementation name of a primitive (interned). */
const char *lpot_dnnl_impl_of(const_dnnl_primitive_t prim);

/* Execution arguments; memory descriptors created here are destroyed by
 * lpot_exec_run / lpot_exec_cleanup. */
#define LPOT_EXEC_MAX 20
typedef struct {
    int n;
    dnnl_exec_arg_t args[LPOT_EXEC_MAX];
    dnnl_memory_desc_t own_md[LPOT_EXEC_MAX];
    int n_own;
} lpot_exec_t;

/* Wrap ptr described by the primitive's own descriptor for argument `arg`. */
lpot_status_t lpot_exec_arg_q(lpot_exec_t *ex, const_dnnl_primitive_t prim, int arg,
                              const void *ptr);
/* Wrap ptr with the given descriptor. */
lpot_status_t lpot_exec_arg_md(lpot_exec_t *ex, int arg, const_dnnl_memory_desc_t md,
                               const void *ptr);
/* Wrap a 1-D vector of count values (f32 or s32). */
lpot_status_t lpot_exec_arg_vec(lpot_exec_t *ex, int arg, dnnl_data_type_t dt,
                                int64_t count, const void *ptr);
/* Execute on the calling thread's stream with a fresh scratchpad, wait, and
 * release the memories (always, also on error). */
lpot_status_t lpot_exec_run(const_dnnl_primitive_t prim, lpot_exec_t *ex);
void lpot_exec_cleanup(lpot_exec_t *ex);

/* The attributes every op uses: user scratchpad, runtime scales (src common,
 * weights `wei_mask`, dst common for u8/s8 output), runtime zero points for
 * src (when src_zp_set) and weights (when wei_zp_set), and the post-ops. */
lpot_status_t lpot_dnnl_attr(dnnl_primitive_attr_t *out, const lpot_qparams_t *qp,
                             int wei_mask, int src_zp_set, int wei_zp_set);

dnnl_data_type_t lpot_dnnl_dt(lpot_dtype_t dt);

/* Run an int8 op primitive (matmul or convolution) with its runtime scales
 * and zero points: src/weights/bias/dst buffers, w_scales (n_scales), and a
 * weight zero point when wei_zp != 0 (the primitive must have been built for
 * it). bias is ignored for int32 output. */
lpot_status_t lpot_exec_qop(const_dnnl_primitive_t prim, const void *src, const void *wei,
                            const float *bias, void *dst, const lpot_qparams_t *qp,
                            const float *w_scales, int64_t n_scales, int32_t wei_zp);

/* ---- exactness on CPUs without VNNI ------------------------------------------
 * Without VNNI/AMX, oneDNN's int8 kernels multiply with vpmaddubsw, which
 * adds adjacent u8*s8 products with int16 saturation: a pair can overflow
 * unless the weights fit in 7 bits (|w| <= 64) or the (u8-shifted)
 * activations do (<= 127). When neither holds, the ops split the
 * activations, x = 2*(x >> 1) + (x & 1), run the two saturation-free halves
 * to int32 and finish in C: exact, about twice the work. */

/* 1 when oneDNN's int8 path on this CPU accumulates exactly (VNNI/AMX). */
int lpot_qk_exact_isa(void);
/* 1 when every weight satisfies |w| <= 64. */
int lpot_qk_s8_fits7(const int8_t *w, size_t n);
/* 1 when the activations, as oneDNN feeds them (u8, or s8 + 128), are <= 127. */
int lpot_qk_src_fits7(const void *x, lpot_dtype_t dt, size_t n);
/* hi/lo halves of x as u8 (s8 input is shifted by +128 and *zp with it):
 * x_u8 = 2*hi + lo. Caller frees both. */
lpot_status_t lpot_qk_split_src(const void *x, lpot_dtype_t dt, size_t n, int32_t *zp,
                                uint8_t **hi, uint8_t **lo);
/* Run an op's raw int32 accumulation (u8 input with zero point zp) into acc. */
typedef lpot_status_t (*lpot_raw_run_fn)(void *ctx, const uint8_t *x, int32_t zp, int32_t *acc,
                                         const char **impl);
/* The split: *acc (malloc'd, nacc values; caller frees) = the exact int32
 * accumulation of x (nx values of dt, zero point zp). *impl reads "...+split". */
lpot_status_t lpot_qk_run_split(lpot_raw_run_fn fn, void *ctx, const void *x, lpot_dtype_t dt,
                                size_t nx, int32_t zp, size_t nacc, int32_t **acc,
                                const char **impl);

/* ---- primitive cache ---------------------------------------------------- */

#define LPOT_KEY_LEN 32
typedef struct {
    int64_t v[LPOT_KEY_LEN];
} lpot_pkey_t;

/* Below this much work a call runs on one thread: waking an OpenMP team
 * costs microseconds on a quiet machine and a scheduler slice on a busy one. */
#define LPOT_SMALL_WORK_MACS 4e6

/* Pick and apply (omp_set_num_threads, this thread) the thread count for a
 * call of `macs` multiply-adds; remembered for the cache keys. When the user
 * left the count to lpot (set_num_threads(0)) and the call is large, the
 * choice between one thread and OpenMP's default is made per primitive by
 * lpot_pcache_lookup from measured times: on a machine whose cores are busy
 * with other work a single thread is often several times faster than a team
 * that waits for a descheduled member. */
int lpot_qk_use_threads(double macs);
/* The same with another small-work bound (lpot's own memory-bound GEMV
 * splits from far less work than a oneDNN call amortizes). */
int lpot_qk_use_threads_from(double macs, double min_macs);

/* Fill the attribute part of a key from qp (from slot `at`) and the thread
 * count (last slot); returns the next free slot. */
int lpot_pkey_qparams(lpot_pkey_t *key, int at, const lpot_qparams_t *qp);

#define LPOT_TIME_WINDOW 8
typedef struct lpot_pentry {
    lpot_pkey_t key;
    dnnl_primitive_t prim;
    dnnl_primitive_t pre[2];   /* optional reorders before (conv NCHW: src, dst for sum) */
    dnnl_primitive_t post;     /* optional reorder after (conv NCHW: dst) */
    const void *weights;       /* packed weights this primitive reads (not owned) */
    const char *impl;          /* interned */
    _Atomic double secs[LPOT_TIME_WINDOW]; /* the last execution times */
    atomic_int runs;
} lpot_pentry_t;

/* Record one execution time of e (seconds). */
void lpot_pentry_record(lpot_pentry_t *e, double secs);
/* Median of e's recent execution times (0 before any). */
double lpot_pentry_typical(lpot_pentry_t *e);
/* Monotonic seconds. */
double lpot_qk_now(void);

void lpot_pentry_destroy(lpot_pentry_t *e);

#define LPOT_PCACHE_CAP 64
typedef struct {
    pthread_mutex_t mu;
    int n;
    lpot_pentry_t *e[LPOT_PCACHE_CAP];
} lpot_pcache_t;

/* Build an entry for the key (ctx: the op's arguments). */
typedef lpot_status_t (*lpot_build_fn)(void *ctx, lpot_pentry_t **out);

/* The entry for key: cached, or built and cached. When the cache is full
 * *own gets the new entry too: the caller destroys it after the call.
 * LPOT_ERR_UNSUPPORTED (message cleared) when oneDNN has no implementation. */
lpot_status_t lpot_pcache_lookup(lpot_pcache_t *c, const lpot_pkey_t *key, lpot_build_fn build,
                                 void *ctx, lpot_pentry_t **e, lpot_pentry_t **own);

/* Pack time: build the common call's entry, cache it and name what it runs
 * in *impl ("lpot:ref" when oneDNN has no implementation). */
lpot_status_t lpot_pcache_prime(lpot_pcache_t *c, lpot_build_fn build, void *ctx,
                                const char **impl);

/* Destroy the non-NULL descriptors of an array. */
void lpot_md_destroy_all(dnnl_memory_desc_t *mds, size_t n);

void lpot_pcache_init(lpot_pcache_t *c);
void lpot_pcache_destroy(lpot_pcache_t *c);
/* Entry with this key or NULL. Entries stay alive as long as the cache. */
lpot_pentry_t *lpot_pcache_get(lpot_pcache_t *c, const lpot_pkey_t *key);
/* Insert e; returns the entry to use (an equal one already there wins and e
 * is destroyed). Returns NULL when the cache is full: the caller keeps e,
 * runs it once and destroys it. */
lpot_pentry_t *lpot_pcache_put(lpot_pcache_t *c, lpot_pentry_t *e);

/* ---- packed weight variants ---------------------------------------------- */

typedef struct {
    dnnl_memory_desc_t md;
    void *data;
} lpot_wvariant_t;

#define LPOT_MAX_WVARIANTS 8
typedef struct {
    pthread_mutex_t mu;
    dnnl_memory_desc_t plain_md; /* the user's s8 weights */
    const int8_t *plain;         /* not owned */
    int n;
    lpot_wvariant_t v[LPOT_MAX_WVARIANTS];
} lpot_wpack_t;

lpot_status_t lpot_wpack_init(lpot_wpack_t *wp, const int8_t *plain, int ndims,
                              const dnnl_dims_t dims, dnnl_format_tag_t tag);
void lpot_wpack_destroy(lpot_wpack_t *wp);
/* Weights in layout md, reordering the plain ones once if no variant has it. */
lpot_status_t lpot_wpack_get(lpot_wpack_t *wp, const_dnnl_memory_desc_t md, const void **data);
size_t lpot_wpack_bytes(lpot_wpack_t *wp);

/* Finish an entry from the primitive descriptor creation status `s` and pd
 * (destroyed here): LPOT_ERR_UNSUPPORTED for dnnl_unimplemented; else the
 * weights from wp in the layout pd wants (when wp is not NULL), the
 * primitive and its name. */
lpot_status_t lpot_pentry_finish(lpot_pentry_t *e, dnnl_status_t s, dnnl_primitive_desc_t pd,
                                 lpot_wpack_t *wp, const char *what);

/* Reorder primitive between two descriptors (no attributes). */
lpot_status_t lpot_dnnl_reorder(dnnl_primitive_t *out, const_dnnl_memory_desc_t from,
                                const_dnnl_memory_desc_t to);
/* Run a reorder from `src` to `dst` buffers. */
lpot_status_t lpot_dnnl_run_reorder(const_dnnl_primitive_t r, const void *src, void *dst);

#endif
