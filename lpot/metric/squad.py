"""SQuAD v1.1 answer metrics: token F1 and exact match after normalisation
(lower case, no punctuation, no articles a/an/the, single spaces)."""
from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any, List, Mapping, Sequence, Tuple, Union

from lpot.metric.metrics import METRICS, Metric

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def squad_f1(prediction: str, ground_truths: Union[str, Sequence[str]]) -> float:
    """Best token F1 (0..1) of prediction against any ground truth."""
    truths = [ground_truths] if isinstance(ground_truths, str) else list(ground_truths)
    pred = normalize_answer(prediction).split()
    best = 0.0
    for t in truths:
        gold = normalize_answer(t).split()
        common = sum((Counter(pred) & Counter(gold)).values())
        if common == 0:
            continue
        p, r = common / len(pred), common / len(gold)
        best = max(best, 2 * p * r / (p + r))
    return best


def squad_exact_match(prediction: str, ground_truths: Union[str, Sequence[str]]) -> float:
    """1.0 when the normalised prediction equals a normalised ground truth."""
    truths = [ground_truths] if isinstance(ground_truths, str) else list(ground_truths)
    p = normalize_answer(prediction)
    return 1.0 if any(p == normalize_answer(t) for t in truths) else 0.0


def _pairs(preds: Any, labels: Any) -> List[Tuple[str, Any]]:
    """(prediction, ground truths) pairs from lists, from {qid: text} with
    {qid: [answers]}, or from {qid: text} with SQuAD json articles."""
    if isinstance(preds, Mapping):
        if isinstance(labels, Mapping):
            return [(str(preds.get(q, "")), labels[q]) for q in labels]
        out = []
        for article in labels:
            for para in article["paragraphs"]:
                for qa in para["qas"]:
                    out.append((str(preds.get(qa["id"], "")), [a["text"] for a in qa["answers"]]))
        return out
    preds = [preds] if isinstance(preds, str) else list(preds)
    labels = [labels] if isinstance(labels, str) else list(labels)
    if len(preds) != len(labels):
        raise ValueError(f"SquadF1: {len(preds)} predictions but {len(labels)} ground-truth sets")
    return list(zip((str(p) for p in preds), labels))


@METRICS.register("SquadF1")
class SquadF1(Metric):
    """Mean SQuAD token F1 (0..100) over all questions seen; unanswered
    questions (a qid missing from a prediction dict) score 0.
    ``exact_match()`` gives the exact-match score on the same questions."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.f1_sum = 0.0
        self.em_sum = 0.0
        self.count = 0

    def update(self, preds: Any, labels: Any) -> None:
        for pred, truths in _pairs(preds, labels):
            self.f1_sum += squad_f1(pred, truths)
            self.em_sum += squad_exact_match(pred, truths)
            self.count += 1

    def result(self) -> float:
        return 100.0 * self.f1_sum / self.count if self.count else 0.0

    def exact_match(self) -> float:
        return 100.0 * self.em_sum / self.count if self.count else 0.0
