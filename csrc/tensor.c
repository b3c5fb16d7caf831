/* Strided n-d run iteration (see tensor.h). Plain C. */
#include "tensor.h"

#include <string.h>

size_t lpot_ttype_size(lpot_ttype_t t)
{
    switch (t) {
    case LPOT_T_F32:
    case LPOT_T_S32: return 4;
    case LPOT_T_F16:
    case LPOT_T_BF16: return 2;
    default: return 1;
    }
}

int lpot_ttype_is_float(lpot_ttype_t t)
{
    return t == LPOT_T_F32 || t == LPOT_T_F16 || t == LPOT_T_BF16;
}

int64_t lpot_tensor_numel(const lpot_tensor_t *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

static void gather(const char *p, lpot_ttype_t type, size_t n, int64_t stride, void *buf)
{
    size_t esz = lpot_ttype_size(type);
    if (lpot_ttype_is_float(type)) {
        lpot_kernels.cvt_f32(p, (lpot_src_t)type, n, (ptrdiff_t)(stride / (int64_t)esz),
                             buf);
        return;
    }
    char *o = buf;
    for (size_t i = 0; i < n; i++)
        memcpy(o + i * esz, p + (int64_t)i * stride, esz);
}

int lpot_tensor_foreach(const lpot_tensor_t *t, int axis, lpot_run_fn fn, void *ctx)
{
    /* merged view: dims of extent 1 dropped, contiguous neighbours merged */
    int64_t shape[LPOT_MAX_DIMS], strides[LPOT_MAX_DIMS];
    int is_axis[LPOT_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] == 0)
            return 0;
        if (t->shape[d] == 1 && d != axis)
            continue;
        shape[nd] = t->shape[d];
        strides[nd] = t->strides[d];
        is_axis[nd] = d == axis;
        nd++;
    }
    if (nd == 0) { /* scalar */
        shape[0] = 1;
        strides[0] = (int64_t)lpot_ttype_size(t->type);
        is_axis[0] = 0;
        nd = 1;
    }
    for (int d = nd - 1; d > 0; d--) {
        if (!is_axis[d] && !is_axis[d - 1] && strides[d - 1] == strides[d] * shape[d]) {
            shape[d - 1] *= shape[d];
            strides[d - 1] = strides[d];
            for (int k = d; k < nd - 1; k++) {
                shape[k] = shape[k + 1];
                strides[k] = strides[k + 1];
                is_axis[k] = is_axis[k + 1];
            }
            nd--;
        }
    }
    int last = nd - 1, axis_m = -1;
    for (int d = 0; d < nd; d++)
        if (is_axis[d])
            axis_m = d;
    int per_elem = axis_m == last;
    size_t esz = lpot_ttype_size(t->type);
    int direct = strides[last] == (int64_t)esz && t->type != LPOT_T_F16 &&
                 t->type != LPOT_T_BF16;
    size_t run = (size_t)shape[last];
    int64_t idx[LPOT_MAX_DIMS] = {0};
    /* 4-byte aligned scratch big enough for a chunk of any element type */
    float buf[LPOT_RUN_CHUNK];
    size_t lin = 0;
    for (;;) {
        const char *p = t->data;
        for (int d = 0; d < last; d++)
            p += idx[d] * strides[d];
        size_t ch = axis_m >= 0 && !per_elem ? (size_t)idx[axis_m] : 0;
        if (direct) {
            int rc = fn(ctx, p, run, lin, ch, per_elem);
            if (rc)
                return rc;
        } else {
            for (size_t off = 0; off < run; off += LPOT_RUN_CHUNK) {
                size_t m = run - off < LPOT_RUN_CHUNK ? run - off : LPOT_RUN_CHUNK;
                gather(p + (int64_t)off * strides[last], t->type, m, strides[last], buf);
                int rc = fn(ctx, buf, m, lin + off, per_elem ? off : ch, per_elem);
                if (rc)
                    return rc;
            }
        }
        lin += run;
        int d = last - 1;
        for (; d >= 0; d--) {
            if (++idx[d] < shape[d])
                break;
            idx[d] = 0;
        }
        if (d < 0)
            return 0;
    }
}
