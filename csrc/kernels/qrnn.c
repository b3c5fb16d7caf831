/* Dynamic int8 recurrent layers: the time loop (see qrnn.h). */
#include "qrnn.h"

#include <stdlib.h>
#include <string.h>

#include "dispatch.h"

int lpot_rnn_gates(lpot_rnn_mode_t mode) { return mode == LPOT_RNN_LSTM ? 4 : 3; }

lpot_status_t lpot_rnn_layer(lpot_rnn_mode_t mode, lpot_qlinear_t *hh, const float *xp,
                             int64_t t_len, int64_t batch, const float *h0, const float *c0,
                             float *out, float *h_n, float *c_n, lpot_impl_pref_t pref,
                             const char **impl)
{
    const int64_t hs = lpot_qlinear_k(hh), gh = lpot_rnn_gates(mode) * hs;
    const int lstm = mode == LPOT_RNN_LSTM;
    const lpot_kernels_t *kt = pref == LPOT_IMPL_REF ? &lpot_kernels_ref : &lpot_kernels;
    lpot_status_t st = LPOT_OK;
    float *hp = NULL;
    *impl = "lpot:ref";
    if (mode != LPOT_RNN_LSTM && mode != LPOT_RNN_GRU)
        return lpot_set_error(LPOT_ERR_KERNEL, "mode: expected LSTM or GRU");
    if (lpot_qlinear_n(hh) != gh)
        return lpot_set_error(LPOT_ERR_KERNEL,
                              "packed_hh: expected %d*H = %lld output features for H = %lld "
                              "(its in_features), got %lld",
                              lpot_rnn_gates(mode), (long long)gh, (long long)hs,
                              (long long)lpot_qlinear_n(hh));
    if (t_len < 0 || batch < 0 || (lstm && (c0 == NULL || c_n == NULL)))
        return lpot_set_error(LPOT_ERR_KERNEL, "x: negative length or missing cell state");
    const size_t state = sizeof(float) * (size_t)(batch * hs);
    if (lstm)
        memcpy(c_n, c0, state);
    if (t_len == 0 || batch == 0) {
        memcpy(h_n, h0, state);
        return LPOT_OK;
    }
    hp = malloc(sizeof(float) * (size_t)(batch * gh));
    if (hp == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "recurrent projection of %lld x %lld",
                              (long long)batch, (long long)gh);
    const float *hprev = h0;
    for (int64_t t = 0; t < t_len; t++) {
        float x_scale;
        int32_t x_zp;
        st = lpot_qlinear_run_dynamic(hh, hprev, batch, 0, NULL, 0, hp, &x_scale, &x_zp, pref,
                                      impl);
        if (st != LPOT_OK)
            goto cleanup;
        float *ht = out + t * batch * hs;
        const float *xt = xp + t * batch * gh;
        for (int64_t b = 0; b < batch; b++) {
            if (lstm)
                kt->lstm_cell(xt + b * gh, hp + b * gh, c_n + b * hs, ht + b * hs, hs);
            else
                kt->gru_cell(xt + b * gh, hp + b * gh, hprev + b * hs, ht + b * hs, hs);
        }
        hprev = ht;
    }
    memcpy(h_n, hprev, state);
cleanup:
    free(hp);
    return st;
}
