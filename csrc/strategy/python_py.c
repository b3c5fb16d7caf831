/* Binding layer: a strategy written in Python (lpot.strategy.Strategy).
 *
 * The object proposes with next_tune_cfg() -> list of option indices (one per
 * op, then the sampling-size index) or None when it has nothing left, and
 * learns with update(cfg, result) where result is a dict (trial, accuracy,
 * passed, evaluated, replayed, cached, score, measures). The loop below calls
 * them under the GIL until a result says stop. */
#include "strategy/python_py.h"

#include <stdlib.h>

static PyObject *result_dict(const lpot_trial_t *tr)
{
    return Py_BuildValue("{s:l,s:d,s:O,s:O,s:O,s:O,s:d,s:{s:d,s:d,s:d}}", "trial", tr->trial,
                         "accuracy", tr->accuracy, "passed", tr->passed ? Py_True : Py_False,
                         "evaluated", tr->evaluated ? Py_True : Py_False, "replayed",
                         tr->replayed ? Py_True : Py_False, "cached",
                         tr->cached ? Py_True : Py_False, "score", tr->score, "measures",
                         "performance", tr->measures[LPOT_OBJ_PERFORMANCE], "modelsize",
                         tr->measures[LPOT_OBJ_MODELSIZE], "footprint",
                         tr->measures[LPOT_OBJ_FOOTPRINT]);
}

static lpot_status_t pystrat_run(void *ctx, lpot_tuner_t *t)
{
    PyObject *obj = ctx;
    const lpot_space_t *s = lpot_tuner_space(t);
    int32_t *cfg = malloc(lpot_space_cfg_len(s) * sizeof *cfg);
    if (cfg == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "python strategy: out of memory");
    lpot_status_t st = LPOT_OK;
    for (;;) {
        PyGILState_STATE g = PyGILState_Ensure();
        PyObject *p = PyObject_CallMethod(obj, "next_tune_cfg", NULL);
        int rc = p == NULL ? -1 : (p == Py_None ? 1 : lpot_py_cfg_parse(s, p, cfg));
        Py_XDECREF(p);
        if (rc < 0 && PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
            PyErr_Clear();
            lpot_tuner_interrupt(t);
            rc = 1;
        }
        if (rc < 0)
            lpot_py_annotate("lpot: raised by %s after tuning trial %ld",
                             "strategy.next_tune_cfg", lpot_tuner_result(t)->trials);
        PyGILState_Release(g);
        if (rc != 0) {
            st = rc < 0 ? LPOT_ERR_PYTHON : LPOT_OK;
            break;
        }
        lpot_trial_t tr;
        if ((st = lpot_tuner_try(t, cfg, &tr)) != LPOT_OK || tr.stop)
            break;
        g = PyGILState_Ensure();
        PyObject *c = lpot_py_cfg_list(s, cfg), *d = c ? result_dict(&tr) : NULL;
        PyObject *r = d ? PyObject_CallMethod(obj, "update", "OO", c, d) : NULL;
        Py_XDECREF(c);
        Py_XDECREF(d);
        if (r == NULL && PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
            PyErr_Clear();
            lpot_tuner_interrupt(t);
            st = LPOT_OK;
            PyGILState_Release(g);
            break;
        }
        if (r == NULL) {
            lpot_py_annotate("lpot: raised by %s of tuning trial %ld", "strategy.update",
                             tr.trial);
            st = LPOT_ERR_PYTHON;
        }
        Py_XDECREF(r);
        PyGILState_Release(g);
        if (st != LPOT_OK)
            break;
    }
    free(cfg);
    return st;
}

const lpot_strategy_iface_t lpot_strategy_python = {
    .name = "python",
    .run = pystrat_run,
};
