import numpy as np
import pytest

from utils import tagging


def test_summary_has_auc_and_rejections_with_errors():
    rng = np.random.default_rng(0)
    n = 20_000
    labels = np.r_[np.zeros(n), np.ones(n)].astype(int)
    scores = np.r_[rng.normal(0, 1, n), rng.normal(2, 1, n)]
    out = tagging.summarize_tagger(labels, scores, n_resamples=50)
    from scipy.stats import norm

    assert out["auc"] == pytest.approx(norm.cdf(2 / np.sqrt(2)), abs=0.005)
    assert 0 < out["auc_err"] < 0.005
    expected_05 = 1 / norm.sf(2.0)  # the cut at the signal median, 2 sigma above the background mean
    assert out["rejection_05"] == pytest.approx(expected_05, rel=0.1)
    assert out["rejection_05_err"] > 0 and out["rejection_03"] > out["rejection_05"]
    assert out["n_background_pass_05"] == pytest.approx(n * norm.sf(2.0), rel=0.1)
    text = tagging.format_summary("toy", out)
    assert text.startswith("toy: AUC 0.92") and "(eps_S = 0.5)" in text and "(eps_S = 0.3)" in text


def test_summary_of_a_perfect_tagger_says_no_background_passes():
    labels = np.r_[np.zeros(100), np.ones(100)].astype(int)
    out = tagging.summarize_tagger(labels, labels.astype(float) + np.linspace(0, 0.1, 200), n_resamples=20)
    assert out["rejection_05"] == float("inf") and np.isnan(out["rejection_05_err"])


def test_boosted_trees_learn_a_shifted_feature():
    rng = np.random.default_rng(1)

    def sample(n):
        label = rng.integers(0, 2, n)
        return {"label": label, "x": rng.normal(label * 1.5, 1.0).astype(np.float32),
                "noise": rng.normal(size=n).astype(np.float32)}

    train, val, test = sample(4000), sample(2000), sample(2000)
    clf = tagging.train_boosted_trees(train, val, features=["x", "noise"], max_iter=50)
    from utils.data import feature_matrix
    from utils.metrics import auc

    assert auc(test["label"], clf.decision_function(feature_matrix(test, ["x", "noise"]))) > 0.8


def test_a_rejection_from_few_passing_jets_is_quoted_with_its_interval():
    # 9 QCD jets pass at eps_S = 0.3: the bootstrap distribution of 1/eps_B is skewed, so the summary
    # keeps its 16-84 % interval and the printed line quotes it instead of a symmetric error
    rng = np.random.default_rng(3)
    n = 3000
    labels = np.r_[np.zeros(n), np.ones(n)].astype(int)
    scores = np.r_[rng.normal(0, 1, n), rng.normal(2.2, 1, n)]
    out = tagging.summarize_tagger(labels, scores, n_resamples=200, eps_s_points=(0.3,))
    assert out["n_background_pass_03"] < tagging.FEW_PASSING
    low, high = out["rejection_03_low"], out["rejection_03_high"]
    assert low < out["rejection_03"] < high
    assert high - out["rejection_03"] > out["rejection_03"] - low  # skewed towards large rejections
    text = tagging.format_summary("few", out)
    assert "[16-84 %:" in text and "QCD jets pass" in text and "+-" not in text.split("AUC")[1].split(",", 1)[1]
