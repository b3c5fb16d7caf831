/* lpot's own u8 x s8 GEMM driver (see qgemm_drv.h). Plain C.
 *
 * Rows of the activation matrix (in chunks that stay in L2) are multiplied
 * with the packed weights by the 6x16 tile kernel (lpot_kernels.qgemm_u8s8)
 * in K passes of at most LPOT_QGEMM_KC bytes; -zp * (channel weight sum) is
 * added by the kernel on the last pass, then the epilogue
 * (lpot_kernels.qgemm_epi where it applies, else lpot_qepilogue). Tasks are
 * row chunks x groups of 16-channel blocks on lpot's task pool. */
#include <stdatomic.h>
#include <stdlib.h>

#include "dispatch.h"
#include "qgemm_drv.h"
#include "qpool.h"

/* Measured (ResNet-50's 3x3 shapes, K = 1152..4608, one thread, batch 1 and
 * 32, same process): one K pass 2-7% faster than passes of 1024 or 2304
 * (no reloading of the accumulators; the weight panel, up to 72 KB, streams
 * from L2 well), so the passes only cap the panel at L2-friendly sizes. */
#define LPOT_QGEMM_KC 4608
#define LPOT_QGEMM_A_BYTES (192 * 1024)
/* Work split on nt > 1 threads: LPOT_QGEMM_TASKS * nt row chunks of at
 * least LPOT_QGEMM_MIN_ROWS rows where the matrix has them, else channel
 * groups too. Measured (convolutions, 2 threads, quiet machine, same
 * process): 6 per thread 5-14% faster than the L2-sized chunks alone on 64
 * and 128 channels (56x56, 28x28: 10 tasks, or 5 row chunks x 2 channel
 * groups), the same on 256 and 512 (14x14, 7x7). */
#define LPOT_QGEMM_TASKS 6
#define LPOT_QGEMM_MIN_ROWS 48
/* made rows (im2col) made once and shared by the channel groups up to this size */
#define LPOT_QGEMM_SHARED_A (4 * 1024 * 1024)

/* 1 (and *e filled) when lpot_kernels.qgemm_epi does qp's epilogue: f32/u8/s8
 * out with no post-op or relu only. */
static int fast_epi(const lpot_qparams_t *qp, lpot_qconv_epi_t *e)
{
    int relu = 0;
    for (int p = 0; p < qp->n_post; p++) {
        if (qp->post[p].kind != LPOT_POST_RELU)
            return 0;
        relu = 1;
    }
    if (qp->dst_dt != LPOT_DT_F32 && qp->dst_dt != LPOT_DT_U8 && qp->dst_dt != LPOT_DT_S8)
        return 0;
    e->relu = relu;
    e->dst = qp->dst_dt == LPOT_DT_F32 ? 0 : qp->dst_dt == LPOT_DT_U8 ? 1 : 2;
    e->ds = qp->dst_scale;
    e->zp = (float)qp->dst_zp;
    e->lo = qp->dst_dt == LPOT_DT_U8 ? 0.0f : -128.0f;
    e->hi = qp->dst_dt == LPOT_DT_U8 ? 255.0f : 127.0f;
    return 1;
}

int lpot_qgemm_drv_epi_cheap(const lpot_qparams_t *qp)
{
    for (int p = 0; p < qp->n_post; p++)
        if (qp->post[p].kind == LPOT_POST_GELU_ERF || qp->post[p].kind == LPOT_POST_GELU_TANH)
            return 0;
    return 1;
}

/* One call, shared by its tasks. */
typedef struct {
    const lpot_qgemm_b_t *b;
    const lpot_qgemm_a_t *a;
    int64_t m, mc, bpg, ngroups, kpad, im_rows;
    uint8_t *ashared; /* m x kpad made rows, made before the GEMM tasks, or NULL */
    const int32_t *zpw;
    const float *esc, *ebs;
    int fast_epi;
    lpot_qconv_epi_t epi;
    const lpot_qparams_t *qp;
    void *y;
    atomic_int failed;
} drv_job;

/* Phase 1 when the made rows are shared: rows [t * im_rows, ...). */
static void rows_task(void *ctx, int64_t t, int worker)
{
    drv_job *j = ctx;
    (void)worker;
    const int64_t r0 = t * j->im_rows, rows = j->m - r0 < j->im_rows ? j->m - r0 : j->im_rows;
    j->a->rows(j->a->rows_ctx, r0, rows, j->kpad, j->ashared + r0 * j->kpad);
}

/* A chunk of mc rows x a group of bpg 16-channel blocks (the accumulators
 * and made rows in the worker's own scratch). */
static void gemm_task(void *ctx, int64_t t, int worker)
{
    drv_job *j = ctx;
    const lpot_qgemm_b_t *b = j->b;
    const int64_t oc = b->n, nb = b->nb, kpad = j->kpad, ldb = b->k4 * 64, mc = j->mc;
    const size_t ys = lpot_dtype_size(j->qp->dst_dt);
    const int inplace = j->a->a != NULL;
    (void)worker;
    if (atomic_load(&j->failed))
        return;
    int32_t *acc = lpot_pool_scratch(0, sizeof(int32_t) * (size_t)(mc * j->bpg * 16));
    uint8_t *abuf = inplace || j->ashared ? NULL : lpot_pool_scratch(1, (size_t)(mc * kpad));
    if (acc == NULL || (!inplace && j->ashared == NULL && abuf == NULL)) {
        atomic_store(&j->failed, 1);
        return;
    }
    const int64_t r0 = t / j->ngroups * mc, b0 = t % j->ngroups * j->bpg;
    const int64_t rows = j->m - r0 < mc ? j->m - r0 : mc, nbk = nb - b0 < j->bpg ? nb - b0 : j->bpg;
    const int64_t ldc = nbk * 16, oc0 = b0 * 16, noc = oc - oc0 < ldc ? oc - oc0 : ldc;
    const uint8_t *a = inplace ? j->a->a + r0 * j->a->lda : NULL;
    int64_t lda = j->a->lda;
    if (j->ashared) {
        a = j->ashared + r0 * kpad;
        lda = kpad;
    } else if (!inplace) {
        j->a->rows(j->a->rows_ctx, r0, rows, kpad, abuf);
        a = abuf;
        lda = kpad;
    }
    /* K passes of equal length, each at most LPOT_QGEMM_KC */
    const int64_t npass = (kpad + LPOT_QGEMM_KC - 1) / LPOT_QGEMM_KC;
    const int64_t kstep = (kpad / 4 + npass - 1) / npass * 4;
    for (int64_t k0 = 0; k0 < kpad; k0 += kstep) {
        const int64_t kc = kpad - k0 < kstep ? kpad - k0 : kstep;
        lpot_kernels.qgemm_u8s8(a + k0, lda, rows, b->w + b0 * ldb + k0 * 16, ldb, nbk, kc / 4,
                                acc, ldc, k0 > 0, k0 + kc >= kpad ? j->zpw + oc0 : NULL);
    }
    char *yo = (char *)j->y + (size_t)(r0 * oc + oc0) * ys;
    if (j->fast_epi) {
        lpot_kernels.qgemm_epi(acc, ldc, rows, noc, j->esc + oc0, j->ebs + oc0, &j->epi, yo, oc);
        return;
    }
    if (noc == oc && ldc == oc) {
        lpot_qepilogue(acc, rows, oc, b->scales, b->n_scales, b->bias, j->qp, yo);
        return;
    }
    for (int64_t r = 0; r < rows; r++)
        lpot_qepilogue(acc + r * ldc, 1, noc, b->n_scales > 1 ? b->scales + oc0 : b->scales,
                       b->n_scales, b->bias ? b->bias + oc0 : NULL, j->qp,
                       yo + (size_t)(r * oc) * ys);
}

/* Rows in chunks of whole 6-row tiles: mc for about m / nmc rows each; the
 * chunk count it gives. */
static int64_t chunk_rows(int64_t m, int64_t nmc, int64_t *mc)
{
    int64_t r = ((m + nmc - 1) / nmc + 5) / 6 * 6;
    r = r > m ? m : r;
    *mc = r;
    return (m + r - 1) / r;
}

/* Tasks: chunks of rows x groups of 16-channel blocks, about
 * LPOT_QGEMM_TASKS per thread (smaller row chunks first); with still fewer
 * than 4 per thread (few rows) the channel blocks are split into groups (a
 * divisor of the block count: equal groups), and made rows are then made
 * once in a first parallel phase and shared by the groups (not remade per
 * group), the row chunks sized so that the task count is a multiple of the
 * thread count. */
lpot_status_t lpot_qgemm_drv_run(const lpot_qgemm_b_t *b, const lpot_qgemm_a_t *a,
                                 const lpot_qparams_t *qp, void *y, int nt)
{
    const int64_t m = a->m, oc = b->n, nb = b->nb, kpad = b->k4 * 4;
    drv_job j = {.b = b, .a = a, .m = m, .kpad = kpad, .qp = qp, .y = y};
    if (m <= 0)
        return LPOT_OK;
    nt = nt < 1 ? 1 : nt > LPOT_POOL_MAX_WORKERS ? LPOT_POOL_MAX_WORKERS : nt;
    int64_t mc = LPOT_QGEMM_A_BYTES / kpad / 6 * 6; /* whole 6-row tiles */
    mc = mc < 18 ? 18 : mc > 516 ? 516 : mc;
    mc = mc > m ? m : mc;
    int64_t nmc = chunk_rows(m, (m + mc - 1) / mc, &mc);
    if (nt > 1 && nmc < LPOT_QGEMM_TASKS * nt) {
        /* smaller row chunks first (down to LPOT_QGEMM_MIN_ROWS rows) */
        int64_t want = LPOT_QGEMM_TASKS * nt;
        while (want > nmc && (m + want - 1) / want < LPOT_QGEMM_MIN_ROWS)
            want--;
        if (want > nmc)
            nmc = chunk_rows(m, want, &mc);
    }
    int64_t ngr = 1;
    if (nt > 1 && nmc < 4 * nt) {
        for (ngr = 1; ngr < nb && (nb % ngr != 0 || nmc * ngr < 4 * nt); ngr++)
            ;
        if (ngr > 1 && a->a == NULL && m * kpad <= LPOT_QGEMM_SHARED_A) {
            j.ashared = lpot_pool_scratch(2, (size_t)(m * kpad));
            /* more (smaller) row chunks when that makes the tasks a multiple of nt */
            for (int64_t cand = nmc; cand <= nmc + nt && (nmc * ngr) % nt != 0; cand++) {
                int64_t mcc;
                if (chunk_rows(m, cand, &mcc) == cand && (cand * ngr) % nt == 0) {
                    nmc = cand;
                    mc = mcc;
                }
            }
        }
    }
    j.mc = mc;
    j.bpg = (nb + ngr - 1) / ngr;
    j.ngroups = (nb + j.bpg - 1) / j.bpg;
    const int64_t ntask = nmc * j.ngroups;
    /* -zp * (channel weight sum), added by the kernel on the last K pass;
     * the epilogue's per-channel scales and biases (zero-padded) */
    int32_t *zpw = calloc((size_t)(nb * 16), sizeof(int32_t));
    float *esc = calloc((size_t)(nb * 16) * 2, sizeof(float)), *ebs = esc ? esc + nb * 16 : NULL;
    lpot_status_t st = LPOT_OK;
    if (zpw == NULL || esc == NULL) {
        st = lpot_set_error(LPOT_ERR_NOMEM, "GEMM work buffers");
        goto cleanup;
    }
    for (int64_t i = 0; i < oc; i++) {
        zpw[i] = -a->zp * b->wsum[i];
        esc[i] = qp->src_scale * b->scales[b->n_scales == 1 ? 0 : i];
        ebs[i] = b->bias ? b->bias[i] : 0.0f;
    }
    j.zpw = zpw;
    j.esc = esc;
    j.ebs = ebs;
    j.fast_epi = fast_epi(qp, &j.epi);
    if (j.ashared) {
        const int64_t nim = 4 * (int64_t)nt < m ? 4 * (int64_t)nt : m;
        j.im_rows = (m + nim - 1) / nim;
        lpot_pool_run(nt, (m + j.im_rows - 1) / j.im_rows, rows_task, &j);
    }
    lpot_pool_run(nt, ntask, gemm_task, &j);
    if (atomic_load(&j.failed))
        st = lpot_set_error(LPOT_ERR_NOMEM, "GEMM work buffers");
cleanup:
    free(zpw);
    free(esc);
    return st;
}
