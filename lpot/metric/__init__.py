"""Framework-neutral metrics (NumPy): update(pred, label) / reset() / result().

``METRICS`` is the registry (``METRICS('onnxrt')['topk']`` as in LPOT 1.x);
``create_metric({'topk': 1})`` builds one from a YAML ``metric:`` block.
"""
from __future__ import annotations

from lpot.metric.bleu import BLEU, bleu_stats, corpus_bleu, tokenize_13a
from lpot.metric.metrics import (
    F1,
    GLUE,
    MAE,
    METRICS,
    MIOU,
    MSE,
    RMSE,
    Accuracy,
    Loss,
    Metric,
    TopK,
    create_metric,
)
from lpot.metric.squad import SquadF1, squad_exact_match, squad_f1, normalize_answer

__all__ = [
    "METRICS", "Metric", "create_metric", "TopK", "Accuracy", "Loss", "MAE", "MSE", "RMSE", "F1",
    "MIOU", "GLUE", "BLEU", "corpus_bleu", "bleu_stats", "tokenize_13a",
    "SquadF1", "squad_f1", "squad_exact_match", "normalize_answer",
]
