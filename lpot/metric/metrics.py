"""Metrics on NumPy: update(pred, label) / reset() / result().

Conventions (LPOT 1.x): ``pred`` may be the model's output list; a list of
one array is unwrapped.  Classification metrics take scores (N, C) and argmax
them, or class ids (N,).  Accuracy, F1, mIOU, topk and GLUE return fractions
in [0, 1]; BLEU and SquadF1 return percentages (0..100) like sacrebleu and the
SQuAD evaluation script.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

from lpot._engine import ConfigError
from lpot._registry import Registry, construct, framework_family

METRICS = Registry("metric")


def as_array(x: Any) -> np.ndarray:
    """Model output or label -> ndarray; a list/tuple holding one array is
    unwrapped, torch tensors are converted without importing torch."""
    if isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "__len__") \
            and not isinstance(x[0], (str, bytes)):
        x = x[0]
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def class_ids(pred: Any) -> np.ndarray:
    """Scores (N, C) -> argmax ids; (N,) or (N, 1) ids pass through."""
    p = as_array(pred)
    if p.ndim >= 2 and p.shape[-1] > 1:
        return p.argmax(axis=-1).reshape(-1)
    return p.reshape(-1)


def label_ids(label: Any, num_classes: Optional[int] = None) -> np.ndarray:
    """Labels (N,), (N, 1) or one-hot (N, C) -> ids (N,)."""
    y = as_array(label)
    if y.ndim >= 2 and y.shape[-1] > 1 and (num_classes is None or y.shape[-1] == num_classes):
        return y.argmax(axis=-1).reshape(-1)
    return y.reshape(-1)


def _check_len(a: np.ndarray, b: np.ndarray, name: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{name}: {a.shape[0]} predictions but {b.shape[0]} labels")


class Metric:
    """Base class of the built-in metrics."""

    def update(self, preds: Any, labels: Any) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def result(self) -> float:
        raise NotImplementedError

    higher_is_better = True


@METRICS.register("topk")
class TopK(Metric):
    """Fraction of samples whose label is among the k highest scores."""

    def __init__(self, k: int = 1) -> None:
        if isinstance(k, bool) or int(k) < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        self.k = int(k)
        self.reset()

    def reset(self) -> None:
        self.num_correct = 0
        self.num_sample = 0

    def update(self, preds: Any, labels: Any) -> None:
        scores = as_array(preds)
        scores = scores.reshape(scores.shape[0], -1) if scores.ndim != 2 else scores
        y = label_ids(labels, scores.shape[1]).astype(np.int64)
        _check_len(scores, y, "topk")
        k = min(self.k, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] \
            else np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
        self.num_correct += int(np.any(top == y[:, None], axis=1).sum())
        self.num_sample += int(y.shape[0])

    def result(self) -> float:
        return self.num_correct / self.num_sample if self.num_sample else 0.0


@METRICS.register("Accuracy")
class Accuracy(Metric):
    """Classification accuracy.  ``mode``:
    'multiclass': scores (N, C) are argmaxed (ids pass through) against ids
    (N,) or one-hot labels; 'binary': probabilities (N,) >= threshold against
    0/1; 'multilabel': (N, C) scores >= threshold against (N, C) 0/1 labels,
    counted per element (1 - Hamming loss) or per row with ``subset=True``;
    'auto' (default) picks multilabel when labels are 0/1 of the predictions'
    shape with some row not one-hot, binary for 1-D fractional scores, else
    multiclass."""

    MODES = ("auto", "multiclass", "binary", "multilabel")

    def __init__(self, mode: str = "auto", subset: bool = False, threshold: float = 0.5) -> None:
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {', '.join(self.MODES)}, got {mode!r}")
        self.mode = mode
        self.subset = bool(subset)
        self.threshold = float(threshold)
        self.reset()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def _mode(self, p: np.ndarray, y: np.ndarray) -> str:
        if self.mode != "auto":
            return self.mode
        if p.ndim >= 2 and y.shape == p.shape and p.shape[-1] > 1 and _is_multi_hot(y):
            return "multilabel"
        if p.ndim == 1 or (p.ndim == 2 and p.shape[-1] == 1):
            fractional = np.issubdtype(p.dtype, np.floating) and p.size and p.min() >= 0 \
                and p.max() <= 1 and not np.all(p == np.round(p))
            return "binary" if fractional else "multiclass"
        return "multiclass"

    def update(self, preds: Any, labels: Any) -> None:
        p, y = as_array(preds), as_array(labels)
        mode = self._mode(p, y)
        if mode == "multilabel":
            if p.shape != y.shape:
                raise ValueError(f"Accuracy (multilabel): predictions {p.shape} and labels {y.shape} differ")
            hits = ((p >= self.threshold) == (y > 0.5)).reshape(p.shape[0], -1)
            if self.subset:
                self.correct += int(hits.all(axis=1).sum())
                self.total += hits.shape[0]
            else:
                self.correct += int(hits.sum())
                self.total += hits.size
            return
        if mode == "binary":
            pid = (p.reshape(-1) >= self.threshold).astype(np.int64)
        else:
            pid = class_ids(p)
        yid = label_ids(y)
        _check_len(pid, yid, "Accuracy")
        self.correct += int((pid == yid).sum())
        self.total += int(yid.shape[0])

    def result(self) -> float:
        return self.correct / self.total if self.total else 0.0


def _is_multi_hot(y: np.ndarray) -> bool:
    return bool(np.all((y == 0) | (y == 1))) and bool(np.any(y.reshape(y.shape[0], -1).sum(axis=1) != 1))


@METRICS.register("Loss")
class Loss(Metric):
    """Mean of the per-sample losses passed as ``preds`` (labels give the count)."""

    higher_is_better = False

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sum = 0.0
        self.sample = 0

    def update(self, preds: Any, labels: Any) -> None:
        p = as_array(preds)
        y = as_array(labels)
        self.sum += float(np.sum(p, dtype=np.float64))
        self.sample += int(y.shape[0]) if y.ndim else 1

    def result(self) -> float:
        return self.sum / self.sample if self.sample else 0.0


class _Regression(Metric):
    higher_is_better = False

    def __init__(self, compare_label: bool = True) -> None:
        self.compare_label = bool(compare_label)
        self.reset()

    def reset(self) -> None:
        self.sum = 0.0
        self.count = 0

    def _err(self, diff: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def update(self, preds: Any, labels: Any) -> None:
        p = as_array(preds).astype(np.float64)
        y = as_array(labels).astype(np.float64)
        if p.size != y.size:
            raise ValueError(f"{type(self).__name__}: {p.size} predicted values but {y.size} labels")
        d = p.reshape(-1) - y.reshape(-1)
        self.sum += float(self._err(d).sum())
        self.count += d.size

    def result(self) -> float:
        return self.sum / self.count if self.count else 0.0


@METRICS.register("MAE")
class MAE(_Regression):
    """Mean absolute error over all elements."""

    def _err(self, diff: np.ndarray) -> np.ndarray:
        return np.abs(diff)


@METRICS.register("MSE")
class MSE(_Regression):
    """Mean squared error over all elements."""

    def _err(self, diff: np.ndarray) -> np.ndarray:
        return diff * diff


@METRICS.register("RMSE")
class RMSE(MSE):
    """Root mean squared error over all elements."""

    def result(self) -> float:
        return math.sqrt(super().result())


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    ok = (y_true >= 0) & (y_true < n) & (y_pred >= 0) & (y_pred < n)
    return np.bincount(n * y_true[ok].astype(np.int64) + y_pred[ok].astype(np.int64),
                       minlength=n * n).reshape(n, n)


def f1_from_confusion(cm: np.ndarray, average: str = "binary", pos_label: int = 1) -> float:
    """F1 from a confusion matrix (rows: true, columns: predicted); classes
    with no true and no predicted sample count as 0 in macro/weighted."""
    tp = np.diag(cm).astype(np.float64)
    pred_pos = cm.sum(axis=0).astype(np.float64)
    true_pos = cm.sum(axis=1).astype(np.float64)
    denom = pred_pos + true_pos
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    if average == "binary":
        return float(f1[pos_label]) if pos_label < f1.size else 0.0
    if average == "micro":
        total = cm.sum()
        return float(tp.sum() / total) if total else 0.0
    present = (true_pos + pred_pos) > 0
    if average == "macro":
        return float(f1[present].mean()) if present.any() else 0.0
    if average == "weighted":
        return float((f1 * true_pos).sum() / true_pos.sum()) if true_pos.sum() else 0.0
    raise ValueError(f"average must be binary, micro, macro or weighted, got {average!r}")


class _Confusion(Metric):
    def __init__(self, num_classes: Optional[int] = None) -> None:
        self.num_classes = None if num_classes is None else int(num_classes)
        self.reset()

    def reset(self) -> None:
        self.cm = np.zeros((self.num_classes or 0,) * 2, dtype=np.int64)

    def _add(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        y_true = y_true.astype(np.int64).reshape(-1)
        y_pred = y_pred.astype(np.int64).reshape(-1)
        _check_len(y_pred, y_true, type(self).__name__)
        n = self.num_classes
        if n is None:
            top = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
            if top > self.cm.shape[0]:
                grown = np.zeros((top, top), dtype=np.int64)
                grown[:self.cm.shape[0], :self.cm.shape[0]] = self.cm
                self.cm = grown
            n = self.cm.shape[0]
        if n:
            self.cm += _confusion(y_true, y_pred, n)


@METRICS.register("F1")
class F1(_Confusion):
    """F1 score of class predictions (scores are argmaxed).  ``average``:
    'binary' (F1 of pos_label), 'micro', 'macro' or 'weighted', as
    sklearn.metrics.f1_score."""

    def __init__(self, average: str = "binary", pos_label: int = 1, num_classes: Optional[int] = None) -> None:
        if average not in ("binary", "micro", "macro", "weighted"):
            raise ValueError(f"average must be binary, micro, macro or weighted, got {average!r}")
        self.average = average
        self.pos_label = int(pos_label)
        super().__init__(num_classes)

    def update(self, preds: Any, labels: Any) -> None:
        self._add(label_ids(labels), class_ids(preds))

    def result(self) -> float:
        return f1_from_confusion(self.cm, self.average, self.pos_label)


@METRICS.register("mIOU")
class MIOU(_Confusion):
    """Mean intersection over union for segmentation: per class
    TP / (TP + FP + FN) over classes that occur in labels or predictions;
    label values outside [0, num_classes) (e.g. 255) are ignored.  Predictions
    are class maps, or scores with the class axis last (NHWC) or second (NCHW)."""

    def __init__(self, num_classes: int = 21) -> None:
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes!r}")
        super().__init__(num_classes)

    def update(self, preds: Any, labels: Any) -> None:
        p, y = as_array(preds), as_array(labels)
        if p.ndim == y.ndim + 1 and p.shape[-1] == self.num_classes:
            p = p.argmax(axis=-1)  # NHWC scores
        elif p.ndim == y.ndim + 1 and p.ndim >= 2 and p.shape[1] == self.num_classes:
            p = p.argmax(axis=1)  # NCHW scores
        if p.size != y.size:
            raise ValueError(f"mIOU: predictions of shape {p.shape} do not match labels of shape {y.shape}")
        self._add(y, p)

    def iou(self) -> np.ndarray:
        """Per-class IoU (NaN for classes absent from both)."""
        tp = np.diag(self.cm).astype(np.float64)
        union = self.cm.sum(axis=0) + self.cm.sum(axis=1) - tp
        return np.divide(tp, union, out=np.full_like(tp, np.nan), where=union > 0)

    def result(self) -> float:
        iou = self.iou()
        return float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else 0.0


def _mcc(cm: np.ndarray) -> float:
    t = cm.sum(axis=1).astype(np.float64)
    p = cm.sum(axis=0).astype(np.float64)
    c = float(np.trace(cm))
    s = float(cm.sum())
    cov_ytyp = c * s - float(t @ p)
    cov_ypyp = s * s - float(p @ p)
    cov_ytyt = s * s - float(t @ t)
    denom = math.sqrt(cov_ytyt * cov_ypyp)
    return cov_ytyp / denom if denom else 0.0


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank)."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(x.size, dtype=np.float64)
    sx = x[order]
    i = 0
    while i < x.size:
        j = i
        while j + 1 < x.size and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    return ranks


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denom if denom else 0.0


GLUE_TASKS = {"cola": "mcc", "mrpc": "f1", "qqp": "f1", "sts-b": "corr", "stsb": "corr",
              "sst-2": "acc", "sst2": "acc", "mnli": "acc", "mnli-mm": "acc", "qnli": "acc",
              "rte": "acc", "wnli": "acc"}


@METRICS.register("GLUE")
class GLUE(Metric):
    """GLUE score for ``task``: cola -> Matthews corrcoef, mrpc/qqp -> F1,
    sts-b -> (Pearson + Spearman) / 2, the rest -> accuracy.  ``details()``
    gives every figure of the task (acc, f1, acc_and_f1, mcc, pearson, spearmanr, corr)."""

    def __init__(self, task: str = "mrpc") -> None:
        t = str(task).lower()
        if t not in GLUE_TASKS:
            from lpot._registry import did_you_mean
            raise ValueError(f"unknown GLUE task '{task}'{did_you_mean(t, GLUE_TASKS)}; "
                             f"known: {', '.join(GLUE_TASKS)}")
        self.task = t
        self.reset()

    def reset(self) -> None:
        self.preds: List[np.ndarray] = []
        self.labels: List[np.ndarray] = []

    def update(self, preds: Any, labels: Any) -> None:
        if GLUE_TASKS[self.task] == "corr":
            p = as_array(preds).astype(np.float64).reshape(-1)
            y = as_array(labels).astype(np.float64).reshape(-1)
        else:
            p, y = class_ids(preds), label_ids(labels)
        _check_len(p, y, "GLUE")
        self.preds.append(p)
        self.labels.append(y)

    def details(self) -> Dict[str, float]:
        if not self.preds:
            return {}
        p, y = np.concatenate(self.preds), np.concatenate(self.labels)
        kind = GLUE_TASKS[self.task]
        if kind == "corr":
            pearson = _pearson(p, y)
            spearman = _pearson(_ranks(p), _ranks(y))
            return {"pearson": pearson, "spearmanr": spearman, "corr": (pearson + spearman) / 2}
        p, y = p.astype(np.int64), y.astype(np.int64)
        n = int(max(p.max(), y.max())) + 1 if p.size else 1
        cm = _confusion(y, p, max(n, 2))
        acc = float((p == y).mean()) if p.size else 0.0
        out = {"acc": acc}
        if kind == "mcc":
            out["mcc"] = _mcc(cm)
        if kind == "f1":
            f1 = f1_from_confusion(cm, "binary", 1)
            out.update(f1=f1, acc_and_f1=(acc + f1) / 2)
        return out

    def result(self) -> float:
        d = self.details()
        return d.get(GLUE_TASKS[self.task], 0.0)


def create_metric(block: Any, framework: Optional[str] = None, where: str = "metric") -> Metric:
    """A metric from a YAML ``metric:`` block: ``{'topk': 1}``, ``{'Accuracy': {}}``,
    ``{'GLUE': {'task': 'mrpc'}}`` or a bare name ``'Accuracy'``."""
    framework_family(framework)
    if isinstance(block, str):
        block = {block: None}
    if not isinstance(block, Mapping) or len(block) != 1:
        raise ConfigError(f"{where}: expected exactly one {{NAME: args}} entry, got {block!r}")
    name, args = next(iter(block.items()))
    return construct(METRICS.lookup(name, where), args, f"{where}.{name}")
