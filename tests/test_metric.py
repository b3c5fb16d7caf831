"""Every metric against scikit-learn, scipy, sacrebleu or a hand-computed value."""
import math

import numpy as np
import pytest

import lpot
from lpot.metric import (BLEU, F1, GLUE, MAE, METRICS, MIOU, MSE, RMSE, Accuracy, Loss, SquadF1, TopK,
                         corpus_bleu, create_metric, normalize_answer, squad_exact_match, squad_f1,
                         tokenize_13a)

sk = pytest.importorskip("sklearn.metrics")


def _batches(n=60, c=5, seed=0, parts=3):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n, c)).astype(np.float32)
    labels = rng.integers(0, c, size=n)
    return scores, labels, np.array_split(np.arange(n), parts)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_topk_vs_sklearn(k):
    scores, labels, parts = _batches()
    m = TopK(k)
    for idx in parts:
        m.update([scores[idx]], labels[idx])  # model outputs come as a list
    ref = sk.top_k_accuracy_score(labels, scores, k=k, labels=range(5))
    assert m.result() == pytest.approx(ref, abs=1e-12)
    m.reset()
    m.update(scores, np.eye(5)[labels])  # one-hot labels
    assert m.result() == pytest.approx(ref, abs=1e-12)


def test_topk_hand_and_errors():
    m = TopK(k=1)
    m.update(np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), np.array([[1], [1], [1]]))
    assert m.result() == pytest.approx(2 / 3)
    assert TopK(k=5).result() == 0.0
    with pytest.raises(ValueError, match="3 predictions but 2 labels"):
        m.update(np.zeros((3, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        TopK(0)


def test_accuracy_multiclass_binary_multilabel():
    scores, labels, parts = _batches(seed=1)
    m = Accuracy()
    for idx in parts:
        m.update(scores[idx], labels[idx])
    assert m.result() == pytest.approx(sk.accuracy_score(labels, scores.argmax(1)))
    probs = np.array([0.1, 0.7, 0.4, 0.9, 0.55])
    y = np.array([0, 1, 1, 1, 0])
    b = Accuracy()
    b.update(probs, y)
    assert b.result() == pytest.approx(sk.accuracy_score(y, probs >= 0.5))
    ids = Accuracy()
    ids.update(np.array([1, 2, 3]), np.array([1, 2, 0]))
    assert ids.result() == pytest.approx(2 / 3)
    rng = np.random.default_rng(2)
    ml_p = rng.uniform(size=(20, 4))
    ml_y = rng.integers(0, 2, size=(20, 4))
    ml_y[0] = [1, 1, 0, 0]
    ml = Accuracy()
    ml.update(ml_p, ml_y)
    assert ml.result() == pytest.approx(1 - sk.hamming_loss(ml_y, ml_p >= 0.5))
    sub = Accuracy(subset=True)
    sub.update(ml_p, ml_y)
    assert sub.result() == pytest.approx(sk.accuracy_score(ml_y, (ml_p >= 0.5).astype(int)))
    onehot = np.eye(4)[rng.integers(0, 4, size=20)]  # one positive per row: auto would say multiclass
    forced = Accuracy(mode="multilabel")
    forced.update(ml_p, onehot)
    assert forced.result() == pytest.approx(1 - sk.hamming_loss(onehot, ml_p >= 0.5))
    auto = Accuracy()
    auto.update(ml_p, onehot)
    assert auto.result() == pytest.approx(sk.accuracy_score(onehot.argmax(1), ml_p.argmax(1)))
    as_binary = Accuracy(mode="binary", threshold=0.3)
    as_binary.update(np.array([0.0, 1.0, 0.35]), np.array([0, 1, 0]))
    assert as_binary.result() == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="mode must be one of"):
        Accuracy(mode="multi")


def test_loss_hand():
    m = Loss()
    m.update(np.array([1.0, 2.0, 3.0]), np.array([0, 0, 0]))
    m.update(np.array([4.0]), np.array([1]))
    assert m.result() == pytest.approx(2.5)
    assert m.higher_is_better is False
    m.reset()
    assert m.result() == 0.0


def test_regression_metrics_vs_sklearn():
    rng = np.random.default_rng(3)
    p = rng.normal(size=(30, 2))
    y = rng.normal(size=(30, 2))
    ms = {"MAE": MAE(), "MSE": MSE(), "RMSE": RMSE()}
    for idx in np.array_split(np.arange(30), 4):
        for m in ms.values():
            m.update(p[idx], y[idx])
    assert ms["MAE"].result() == pytest.approx(sk.mean_absolute_error(y.ravel(), p.ravel()), rel=1e-12)
    assert ms["MSE"].result() == pytest.approx(sk.mean_squared_error(y.ravel(), p.ravel()), rel=1e-12)
    assert ms["RMSE"].result() == pytest.approx(math.sqrt(sk.mean_squared_error(y.ravel(), p.ravel())), rel=1e-12)
    with pytest.raises(ValueError, match="4 predicted values but 3 labels"):
        MSE().update(np.zeros(4), np.zeros(3))


@pytest.mark.parametrize("average", ["binary", "micro", "macro", "weighted"])
def test_f1_vs_sklearn(average):
    c = 2 if average == "binary" else 4
    scores, labels, parts = _batches(n=80, c=c, seed=4)
    m = F1(average=average)
    for idx in parts:
        m.update(scores[idx], labels[idx])
    ref = sk.f1_score(labels, scores.argmax(1), average=average)
    assert m.result() == pytest.approx(ref, abs=1e-12)


def test_f1_absent_class_and_bad_average():
    m = F1(average="macro", num_classes=4)
    m.update(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]))
    ref = sk.f1_score([0, 1, 0, 0], [0, 1, 1, 0], average="macro")
    assert m.result() == pytest.approx(ref)
    with pytest.raises(ValueError, match="average must be"):
        F1(average="samples")


def test_miou_vs_sklearn_and_ignore_label():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, size=(2, 6, 6))
    logits = rng.normal(size=(2, 6, 6, 4))
    y[0, 0, :3] = 255  # ignored pixels
    m = MIOU(num_classes=4)
    m.update(logits[:1], y[:1])
    m.update(logits[1:], y[1:])
    keep = y.ravel() != 255
    yt, yp = y.ravel()[keep], logits.argmax(-1).ravel()[keep]
    ref = sk.jaccard_score(yt, yp, average=None, labels=range(4))
    np.testing.assert_allclose(m.iou(), ref, rtol=1e-12)
    assert m.result() == pytest.approx(ref.mean())
    nchw = MIOU(num_classes=4)
    nchw.update(logits.transpose(0, 3, 1, 2), y)
    assert nchw.result() == pytest.approx(ref.mean())
    hand = MIOU(num_classes=3)
    hand.update(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    # class 0: 1/(2+1-1)=0.5, class 1: 2/(2+3-2)=2/3, class 2 absent -> not averaged
    assert hand.result() == pytest.approx((0.5 + 2 / 3) / 2)
    assert np.isnan(hand.iou()[2])


def test_glue_tasks_vs_references():
    scipy_stats = pytest.importorskip("scipy.stats")
    scores, labels, parts = _batches(n=50, c=2, seed=6)
    for task, ref in (("cola", sk.matthews_corrcoef(labels, scores.argmax(1))),
                      ("mrpc", sk.f1_score(labels, scores.argmax(1))),
                      ("qqp", sk.f1_score(labels, scores.argmax(1))),
                      ("sst-2", sk.accuracy_score(labels, scores.argmax(1)))):
        m = GLUE(task)
        for idx in parts:
            m.update(scores[idx], labels[idx])
        assert m.result() == pytest.approx(ref, abs=1e-12), task
    mrpc = GLUE("MRPC")
    mrpc.update(scores, labels)
    d = mrpc.details()
    assert d["acc_and_f1"] == pytest.approx((d["acc"] + d["f1"]) / 2)
    mnli = GLUE("mnli")
    s3, l3, _ = _batches(n=40, c=3, seed=7)
    mnli.update(s3, l3)
    assert mnli.result() == pytest.approx(sk.accuracy_score(l3, s3.argmax(1)))
    cola3 = GLUE("cola")
    cola3.update(s3, l3)
    assert cola3.result() == pytest.approx(sk.matthews_corrcoef(l3, s3.argmax(1)))
    rng = np.random.default_rng(8)
    p = np.round(rng.uniform(0, 5, size=40), 1)  # rounded: ties exercise average ranks
    y = np.round(p + rng.normal(scale=1.0, size=40), 0)
    sts = GLUE("sts-b")
    sts.update(p[:20, None], y[:20])
    sts.update(p[20:, None], y[20:])
    pr, sr = scipy_stats.pearsonr(p, y)[0], scipy_stats.spearmanr(p, y)[0]
    d = sts.details()
    assert d["pearson"] == pytest.approx(pr, abs=1e-12)
    assert d["spearmanr"] == pytest.approx(sr, abs=1e-12)
    assert sts.result() == pytest.approx((pr + sr) / 2, abs=1e-12)
    with pytest.raises(ValueError, match="unknown GLUE task 'mrcp'.*did you mean 'mrpc'"):
        GLUE("mrcp")
    assert GLUE("rte").result() == 0.0


BLEU_CASES = [
    (["The cat sat on the mat.", "It is 3.5 degrees-cold, isn't it?"],
     ["The cat is on the mat.", "It's 3.5 degrees cold, isn't it?"]),
    (["the quick brown fox jumps over the lazy dog", "a b c d e f"],
     ["the quick brown fox jumped over the lazy dog today", "a b c d e f"]),
    (["short", "Hello, world! (test) #1 &amp; $2.50"], ["a much longer reference here", "Hello world! (test) #1 & $2.50"]),
    (["no overlap at all here", "x y"], ["completely different words in this", "z w"]),
]


@pytest.mark.parametrize("case", range(len(BLEU_CASES)))
@pytest.mark.parametrize("smooth", ["none", "exp", "floor", "add-k"])
@pytest.mark.parametrize("tokenize", ["13a", "none"])
def test_bleu_vs_sacrebleu(case, smooth, tokenize):
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps, refs = BLEU_CASES[case]
    ref = sacrebleu.corpus_bleu(hyps, [refs], smooth_method=smooth, tokenize=tokenize).score
    assert corpus_bleu(hyps, refs, tokenize=tokenize, smooth=smooth) == pytest.approx(ref, abs=1e-9)


def test_bleu_multi_reference_lowercase_and_metric():
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps = ["The Cat is on the mat", "there is a cat on the mat near the door"]
    r1 = ["the cat is on the mat", "a cat is on the mat"]
    r2 = ["there is a cat on the mat", "a cat sits on the mat by the door"]
    ref = sacrebleu.corpus_bleu(hyps, [r1, r2], smooth_method="none", lowercase=True).score
    got = corpus_bleu(hyps, [[a, b] for a, b in zip(r1, r2)], lowercase=True)
    assert got == pytest.approx(ref, abs=1e-9)
    m = create_metric({"BLEU": {"lowercase": True}})
    m.update(hyps[:1], [[r1[0], r2[0]]])
    m.update(hyps[1:], [[r1[1], r2[1]]])
    assert m.result() == pytest.approx(ref, abs=1e-9)


def test_bleu_hand_computed():
    # hyp 4 tokens, ref 5 tokens: p1=4/4, p2=3/3, p3=2/2, p4=1/1 -> BP = exp(1 - 5/4)
    score = corpus_bleu(["a b c d"], ["a b c d e"], tokenize="none")
    assert score == pytest.approx(100 * math.exp(1 - 5 / 4))
    assert corpus_bleu(["a b c"], ["a b c"], tokenize="none") == 0.0  # no 4-grams -> 0 without smoothing
    assert corpus_bleu([""], ["a b"], tokenize="none") == 0.0
    assert tokenize_13a("Hello, world. 3.5-4") == ["Hello", ",", "world", ".", "3.5", "-", "4"]
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        corpus_bleu(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="smooth must be"):
        BLEU(smooth="bogus")


def test_squad_f1_and_exact_match():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert squad_exact_match("the Eiffel tower", ["Eiffel Tower", "Paris"]) == 1.0
    # pred tokens: [eiffel, tower, in, paris]; gold: [eiffel, tower] -> p=2/4, r=1 -> f1=2/3
    assert squad_f1("Eiffel Tower in Paris", "the Eiffel Tower") == pytest.approx(2 / 3)
    assert squad_f1("nothing", ["Eiffel"]) == 0.0
    m = SquadF1()
    m.update(["Eiffel Tower in Paris", "1889"], [["the Eiffel Tower"], ["1889", "in 1889"]])
    assert m.result() == pytest.approx(100 * (2 / 3 + 1) / 2)
    assert m.exact_match() == pytest.approx(50.0)
    dataset = [{"paragraphs": [{"qas": [{"id": "q1", "answers": [{"text": "Denver Broncos"}]},
                                        {"id": "q2", "answers": [{"text": "Santa Clara"}]}]}]}]
    s = SquadF1()
    s.update({"q1": "Broncos"}, dataset)  # q2 unanswered -> 0
    assert s.result() == pytest.approx(100 * (2 * 1 * 0.5 / 1.5) / 2)
    d = SquadF1()
    d.update({"a": "x y"}, {"a": ["x y"], "b": ["z"]})
    assert d.result() == pytest.approx(50.0) and d.exact_match() == pytest.approx(50.0)


def test_registry_and_yaml_blocks():
    assert isinstance(create_metric({"topk": 1}), TopK) and create_metric({"topk": 5}).k == 5
    assert isinstance(create_metric({"Accuracy": {}}), Accuracy)
    assert isinstance(create_metric("Accuracy"), Accuracy)
    assert isinstance(create_metric({"MSE": None}), MSE)
    assert create_metric({"GLUE": {"task": "cola"}}).task == "cola"
    assert create_metric({"mIOU": {"num_classes": 3}}).num_classes == 3
    assert METRICS("onnxrt_qlinearops")["topk"] is TopK
    assert lpot.metric.METRICS is METRICS
    assert METRICS("pytorch").metrics["MSE"] is MSE  # LPOT 1.x spelling
    with pytest.raises(AttributeError):
        METRICS.datasets
    assert set(METRICS) >= {"topk", "Accuracy", "Loss", "MAE", "MSE", "RMSE", "F1", "mIOU", "BLEU",
                            "SquadF1", "GLUE"}
    with pytest.raises(lpot.ConfigError, match=r"metric: unknown metric 'Acuracy' \(did you mean 'Accuracy'\?\)"):
        create_metric({"Acuracy": {}})
    with pytest.raises(lpot.ConfigError, match=r"metric\.topk: k must be a positive integer"):
        create_metric({"topk": 0})
    with pytest.raises(lpot.ConfigError, match=r"metric\.GLUE: unexpected argument 'tsk' \(did you mean 'task'\?\)"):
        create_metric({"GLUE": {"tsk": "mrpc"}})
    with pytest.raises(lpot.ConfigError, match="exactly one"):
        create_metric({"topk": 1, "MSE": {}})
    with pytest.raises(lpot.ConfigError, match="unknown framework 'tensorflw'"):
        METRICS("tensorflw")

    @METRICS.register("MyMetric")
    class MyMetric:
        def __init__(self, scale=1):
            self.scale = scale
    try:
        assert create_metric({"MyMetric": {"scale": 2}}).scale == 2
        with pytest.raises(lpot.ConfigError, match="already registered"):
            METRICS.register("MyMetric", TopK)
    finally:
        METRICS._items.pop("MyMetric")


def test_torch_tensors_accepted():
    torch = pytest.importorskip("torch")
    m = TopK(1)
    m.update(torch.tensor([[0.2, 0.8], [0.9, 0.1]], requires_grad=True), torch.tensor([1, 1]))
    assert m.result() == 0.5
