"""Corpus BLEU-4 (Papineni et al. 2002) with brevity penalty, written for
lpot: clipped n-gram precisions summed over the corpus, closest reference
length, optional smoothing (none, floor, add-k, exp), and the mteval-v13a
tokenisation that sacrebleu uses by default."""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, List, Sequence, Tuple, Union

from lpot.metric.metrics import METRICS, Metric

# mteval-v13a: split ASCII punctuation (except ' , - .) from words; split
# '.' and ',' unless between digits; split '-' after a digit.
_13A_RULES = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
]


def tokenize_13a(line: str) -> List[str]:
    """Tokens of a line under the mteval-v13a rules."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for rx, repl in _13A_RULES:
        line = rx.sub(repl, line)
    return line.split()


def _tokens(line: str, tokenize: str, lowercase: bool) -> List[str]:
    if lowercase:
        line = line.lower()
    if tokenize == "13a":
        return tokenize_13a(line)
    if tokenize == "none":
        return line.split()
    raise ValueError(f"tokenize must be '13a' or 'none', got {tokenize!r}")


def _ngrams(tokens: Sequence[str], max_order: int) -> Counter:
    c: Counter = Counter()
    for n in range(1, max_order + 1):
        for i in range(len(tokens) - n + 1):
            c[tuple(tokens[i:i + n])] += 1
    return c


def bleu_stats(hypothesis: Sequence[str], references: Sequence[Sequence[str]],
               max_order: int = 4) -> Tuple[int, int, List[int], List[int]]:
    """(hyp_len, ref_len, matches per order, totals per order) for one
    tokenised sentence; ref_len is the closest reference length (ties: shorter)."""
    hyp_len = len(hypothesis)
    ref_len = min((abs(len(r) - hyp_len), len(r)) for r in references)[1]
    max_ref: Counter = Counter()
    for r in references:
        for g, cnt in _ngrams(r, max_order).items():
            if cnt > max_ref[g]:
                max_ref[g] = cnt
    matches = [0] * max_order
    totals = [max(0, hyp_len - n) for n in range(max_order)]
    for g, cnt in _ngrams(hypothesis, max_order).items():
        matches[len(g) - 1] += min(cnt, max_ref[g])
    return hyp_len, ref_len, matches, totals


def bleu_from_stats(hyp_len: int, ref_len: int, matches: Sequence[float], totals: Sequence[float],
                    smooth: str = "none", smooth_value: float = 0.0) -> float:
    """BLEU (0..100) from corpus sufficient statistics."""
    order = len(matches)
    if not any(matches):
        return 0.0  # nothing matched: no smoothing makes a score out of nothing
    matches, totals = list(matches), list(totals)
    precisions = [0.0] * order
    exp_factor = 1.0
    for n in range(order):
        if smooth == "add-k" and n > 0:
            matches[n] += smooth_value
            totals[n] += smooth_value
        if totals[n] == 0:
            break
        if matches[n] > 0:
            precisions[n] = 100.0 * matches[n] / totals[n]
        elif smooth == "exp":
            exp_factor *= 2
            precisions[n] = 100.0 / (exp_factor * totals[n])
        elif smooth == "floor":
            precisions[n] = 100.0 * smooth_value / totals[n]
    if min(precisions) <= 0.0:
        return 0.0
    if hyp_len == 0:
        return 0.0
    bp = 1.0 if hyp_len >= ref_len else math.exp(1.0 - ref_len / hyp_len)
    return bp * math.exp(sum(math.log(p) for p in precisions) / order)


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Union[str, Sequence[str]]],
                tokenize: str = "13a", lowercase: bool = False, smooth: str = "none",
                smooth_value: float = None, max_order: int = 4) -> float:  # type: ignore[assignment]
    """Corpus BLEU (0..100).  ``references[i]`` is the reference string of
    hypothesis i, or a list of its references."""
    if smooth not in ("none", "floor", "add-k", "exp"):
        raise ValueError(f"smooth must be none, floor, add-k or exp, got {smooth!r}")
    if smooth_value is None:
        smooth_value = {"floor": 0.1, "add-k": 1.0}.get(smooth, 0.0)
    if len(hypotheses) != len(references):
        raise ValueError(f"BLEU: {len(hypotheses)} hypotheses but {len(references)} references")
    hyp_total = ref_total = 0
    matches = [0] * max_order
    totals = [0] * max_order
    for hyp, refs in zip(hypotheses, references):
        ref_list = [refs] if isinstance(refs, str) else list(refs)
        if not ref_list:
            raise ValueError("BLEU: a hypothesis without any reference")
        h, r, m, t = bleu_stats(_tokens(hyp, tokenize, lowercase),
                                [_tokens(x, tokenize, lowercase) for x in ref_list], max_order)
        hyp_total += h
        ref_total += r
        for n in range(max_order):
            matches[n] += m[n]
            totals[n] += t[n]
    return bleu_from_stats(hyp_total, ref_total, matches, totals, smooth, smooth_value)


@METRICS.register("BLEU")
class BLEU(Metric):
    """Corpus BLEU-4 (0..100) over every update: preds are translated
    sentences, labels their reference (or list of references)."""

    def __init__(self, tokenize: str = "13a", lowercase: bool = False, smooth: str = "none") -> None:
        self.tokenize = tokenize
        self.lowercase = bool(lowercase)
        self.smooth = smooth
        _tokens("", tokenize, False)
        if smooth not in ("none", "floor", "add-k", "exp"):
            raise ValueError(f"smooth must be none, floor, add-k or exp, got {smooth!r}")
        self.reset()

    def reset(self) -> None:
        self.hypotheses: List[str] = []
        self.references: List[Any] = []

    def update(self, preds: Any, labels: Any) -> None:
        preds = [preds] if isinstance(preds, str) else list(preds)
        labels = [labels] if isinstance(labels, str) else list(labels)
        if len(preds) != len(labels):
            raise ValueError(f"BLEU: {len(preds)} predictions but {len(labels)} references")
        self.hypotheses.extend(str(p) for p in preds)
        self.references.extend(labels)

    def result(self) -> float:
        if not self.hypotheses:
            return 0.0
        return corpus_bleu(self.hypotheses, self.references, self.tokenize, self.lowercase, self.smooth)
