import numpy as np
import pytest

from utils import anomaly
from utils.metrics import max_significance_improvement


# --- windows, splits, injection ---------------------------------------------------------------
def test_mass_windows_and_their_checks():
    mjj = np.array([2900.0, 3000.0, 3299.0, 3300.0, 3699.0, 3700.0, 4099.0, 4100.0])
    in_sr, in_sb = anomaly.mass_windows(mjj)
    assert in_sr.tolist() == [False, False, False, True, True, False, False, False]
    assert in_sb.tolist() == [False, True, True, False, False, True, True, False]
    with pytest.raises(ValueError, match="outside the signal region"):
        anomaly.mass_windows(mjj, sidebands=((3000.0, 3400.0),))
    with pytest.raises(ValueError, match="low < high"):
        anomaly.mass_windows(mjj, signal_region=(3700.0, 3300.0))


def test_split_in_two_is_a_reproducible_partition():
    a, b = anomaly.split_in_two(1001, seed=3)
    assert len(a) == 500 and len(b) == 501
    assert np.array_equal(np.sort(np.r_[a, b]), np.arange(1001))
    a2, _ = anomaly.split_in_two(1001, seed=3)
    assert np.array_equal(a, a2)
    assert not np.array_equal(a, anomaly.split_in_two(1001, seed=4)[0])


def test_inject_signal_adds_exactly_the_requested_events():
    rng = np.random.default_rng(0)
    background = {"mjj": rng.normal(3000, 300, 1000), "m_j1": rng.normal(100, 10, 1000)}
    signal = {"mjj": rng.normal(3500, 50, 200), "m_j1": np.full(200, 500.0)}
    data = anomaly.inject_signal(background, signal, 50, seed=1)
    assert len(data["mjj"]) == 1050 and data["label"].sum() == 50
    assert np.all(data["m_j1"][data["label"] == 1] == 500.0)  # the rows stay together
    assert len(np.unique(data["signal_index"])) == 50
    assert anomaly.inject_signal(background, signal, 0)["label"].sum() == 0
    with pytest.raises(ValueError, match="between 0 and"):
        anomaly.inject_signal(background, signal, 201)
    with pytest.raises(ValueError, match="lacks"):
        anomaly.inject_signal(background, {"mjj": signal["mjj"]}, 5)


# --- k-fold cross-fitting ---------------------------------------------------------------------
class _Memorizer:
    """A 1-nearest-neighbour 'classifier': perfect on its own training events, useless elsewhere."""

    def __init__(self, seed=0):
        self.seed = seed

    def fit(self, x, y, sample_weight=None):
        self.x, self.y = x, y
        return self

    def predict_proba(self, x):
        nearest = np.argmin(np.abs(x[:, None, 0] - self.x[None, :, 0]), axis=1)
        p = self.y[nearest].astype(float)
        return np.stack([1 - p, p], axis=1)


def test_kfold_never_scores_an_event_with_a_classifier_that_saw_it():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 1))
    y = rng.integers(0, 2, 600)  # random labels: nothing to learn
    memorizer = _Memorizer().fit(x, y)
    from utils.metrics import auc

    assert auc(y, memorizer.predict_proba(x)[:, 1]) == 1.0  # scoring its own training events: "perfect"
    result = anomaly.kfold_scores(x, y, _Memorizer, n_folds=5, seed=1, quantiles=False)
    assert abs(auc(y, result["scores"]) - 0.5) < 0.08  # cross-fitted: as random as the labels
    assert np.bincount(result["fold"]).tolist() == [120] * 5


def test_kfold_scores_quantiles_extra_rows_and_weights():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    x = np.r_[rng.normal(0, 1, (400, 2)), rng.normal(1, 1, (400, 2))]
    y = np.r_[np.zeros(400), np.ones(400)].astype(int)
    extra = rng.normal(1, 1, (50, 2))
    result = anomaly.kfold_scores(x, y, lambda seed: LogisticRegression(), n_folds=4, seed=0, extra=extra,
                                  weights=np.ones(800))
    s, e = result["scores"], result["extra_scores"]
    assert s.min() > 0 and s.max() == 1.0 and len(e) == 50 and np.all((e >= 0) & (e <= 1))
    assert len(result["classifiers"]) == 4
    for k in range(4):  # each fold's quantiles are spread evenly over (0, 1]
        assert abs(np.median(s[result["fold"] == k]) - 0.5) < 0.02
    assert np.mean(e) > 0.5  # signal-like extra rows score high
    with pytest.raises(ValueError, match="0/1"):
        anomaly.kfold_scores(x, y + 1, lambda seed: LogisticRegression())
    with pytest.raises(ValueError, match="n_folds"):
        anomaly.kfold_scores(x, y, lambda seed: LogisticRegression(), n_folds=1)
    with pytest.raises(ValueError, match="weights"):
        anomaly.kfold_scores(x, y, lambda seed: LogisticRegression(), weights=-np.ones(800))


# --- significance improvement -----------------------------------------------------------------
@pytest.fixture
def gaussian_scores():
    rng = np.random.default_rng(2)
    labels = np.r_[np.zeros(40_000), np.ones(5_000)]
    scores = np.r_[rng.normal(0, 1, 40_000), rng.normal(2, 1, 5_000)]
    return labels, scores


def test_max_sic_agrees_with_metrics_and_has_a_sensible_error(gaussian_scores):
    labels, scores = gaussian_scores
    result = anomaly.max_sic_with_error(labels, scores, min_background=20, n_resamples=100, seed=0)
    assert result["value"] == pytest.approx(max_significance_improvement(labels, scores, min_background=20))
    assert 0 < result["std"] < 0.2 * result["value"]
    assert result["low"] < result["value"] < result["high"] + result["std"]
    assert result["n_background_pass"] >= 20
    # ties: rounded scores give the same answer as the metrics module
    rounded = np.round(scores, 1)
    assert anomaly.max_sic_with_error(labels, rounded, n_resamples=5)["value"] == pytest.approx(
        max_significance_improvement(labels, rounded, min_background=20))


def test_the_two_max_sic_entry_points_agree_with_their_defaults():
    # notebook 08 calls anomaly.max_sic_with_error, the taggers utils.metrics.max_significance_improvement:
    # one function, one rule (a cut must keep MIN_BACKGROUND = 20 background events), one number
    from utils import metrics

    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(10_000), np.ones(1_000)]
    scores = np.r_[rng.normal(0, 1, 10_000), rng.normal(3, 1, 1_000)]  # the best cut keeps few background events
    result = anomaly.max_sic_with_error(labels, scores)
    assert result["value"] == max_significance_improvement(labels, scores)
    assert result == metrics.max_significance_improvement(labels, scores, n_resamples=100, seed=0)
    assert result["n_background_pass"] >= metrics.MIN_BACKGROUND
    curve = anomaly.sic_curve(labels, scores, [result["eps_s"]], n_resamples=2)
    assert curve["sic"][0] == pytest.approx(result["value"])


@pytest.mark.parametrize("labels,scores", [([0, 1], [0.1]), ([1, 1], [0.1, 0.2]), ([0, 2], [0.1, 0.2]),
                                           ([0, 1], [0.1, np.nan])])
def test_sic_functions_check_their_input_as_the_metrics_do(labels, scores):
    from utils import metrics

    with pytest.raises(ValueError) as expected:
        metrics.auc(labels, scores)
    for function in (anomaly.sic_curve, anomaly.max_sic_with_error):
        with pytest.raises(ValueError) as got:
            function(labels, scores)
        assert str(got.value) == str(expected.value)


def test_sic_curve_matches_the_analytic_gaussian_case(gaussian_scores):
    from scipy.stats import norm

    labels, scores = gaussian_scores
    grid = np.array([0.2, 0.5, 0.8])
    curve = anomaly.sic_curve(labels, scores, grid, min_background=20, n_resamples=50, seed=0)
    cut = 2 + norm.ppf(1 - grid)  # keeps a fraction grid of the signal
    expected = grid / np.sqrt(norm.sf(cut))
    assert curve["sic"] == pytest.approx(expected, rel=0.08)
    assert np.all(curve["low"] <= curve["sic"] + 1e-9) and np.all(curve["sic"] <= curve["high"] + 1e-9)
    # cuts keeping too few background events give nan, not a huge ratio
    tight = anomaly.sic_curve(labels, scores, [0.001], min_background=20, n_resamples=5)
    assert np.isnan(tight["sic"][0])
    with pytest.raises(ValueError, match="both classes"):
        anomaly.sic_curve(np.zeros(10), np.arange(10.0))


# --- the bump hunt ----------------------------------------------------------------------------
EDGES = np.arange(3000.0, 4100.1, 100.0)
CENTRES = 0.5 * (EDGES[1:] + EDGES[:-1])
TRUE = (np.log(0.5), 10.0, 5.0)  # (ln p0, p1, p2): a falling spectrum, about 5000 to 400 events a bin


def _expected_counts():
    return 100.0 * anomaly.dijet_function(CENTRES, np.exp(TRUE[0]), *TRUE[1:])


def test_dijet_function_is_smooth_and_falling():
    mu = _expected_counts()
    assert np.all(np.diff(mu) < 0) and np.all(mu > 0)
    assert anomaly.dijet_function(3500.0, 2.0, 10.0, 5.0) == pytest.approx(
        2 * anomaly.dijet_function(3500.0, 1.0, 10.0, 5.0))


def test_background_fit_predicts_the_signal_region_within_its_error():
    rng = np.random.default_rng(3)
    in_sr = (CENTRES > 3300) & (CENTRES < 3700)
    pulls = []
    for _ in range(40):
        counts = rng.poisson(_expected_counts())
        fit = anomaly.fit_background(EDGES, counts, ~in_sr, n_params=3)
        assert fit["converged"] and fit["ndof"] == 4
        predicted, error = fit["expected"][in_sr].sum(), fit["prediction_error"](in_sr)
        truth = _expected_counts()[in_sr].sum()
        pulls.append((predicted - truth) / error)
    pulls = np.array(pulls)
    assert abs(pulls.mean()) < 0.5 and 0.6 < pulls.std() < 1.5, pulls


def test_fit_background_checks_its_input():
    counts = np.zeros(len(CENTRES))
    counts[0] = 5
    with pytest.raises(ValueError, match="non-empty bins"):
        anomaly.fit_background(EDGES, counts, np.ones(len(CENTRES), dtype=bool))
    with pytest.raises(ValueError, match="n_params"):
        anomaly.fit_background(EDGES, _expected_counts(), np.ones(len(CENTRES), dtype=bool), n_params=5)
    with pytest.raises(ValueError, match="edges"):
        anomaly.fit_background(EDGES[:-1], _expected_counts(), np.ones(len(CENTRES), dtype=bool))


def test_local_significance():
    n, b = 130.0, 100.0
    assert anomaly.local_significance(n, b) == pytest.approx(np.sqrt(2 * (n * np.log(n / b) - (n - b))))
    assert anomaly.local_significance(n, b, 10.0) < anomaly.local_significance(n, b)
    assert anomaly.local_significance(70.0, b) < 0
    # large counts: close to (n - b) / sqrt(b + sigma^2)
    assert anomaly.local_significance(10_300, 10_000, 150.0) == pytest.approx(300 / np.sqrt(10_000 + 150**2), rel=0.02)
    with pytest.raises(ValueError):
        anomaly.local_significance(10, 0)


def test_bump_hunt_finds_an_injected_bump_and_not_a_missing_one():
    rng = np.random.default_rng(4)
    # background events drawn from the dijet shape (binned), plus a narrow bump at 3.5 TeV
    counts = rng.poisson(_expected_counts() / 10)
    background = np.repeat(CENTRES, counts) + rng.uniform(-50, 50, counts.sum())
    quiet = anomaly.bump_hunt(background, EDGES)
    assert abs(quiet["significance"]) < 3
    bump = np.r_[background, rng.normal(3500, 60, 600)]
    loud = anomaly.bump_hunt(bump, EDGES)
    assert loud["significance"] > quiet["significance"] + 3
    assert loud["n_observed"] == quiet["n_observed"] + np.sum((bump[len(background):] >= 3300)
                                                             & (bump[len(background):] < 3700))
    with pytest.raises(ValueError, match="bin edges"):
        anomaly.bump_hunt(background, EDGES, signal_region=(3350.0, 3700.0))


# --- the notebooks' slider --------------------------------------------------------------------
def test_figure_slider_swaps_precomputed_images():
    import matplotlib.pyplot as plt

    calls = []

    def draw(n):
        calls.append(n)
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, n])
        return fig

    box = anomaly.figure_slider(draw, [1, 2, 3], value=2, description="n")
    slider, image = box.children
    assert calls == [1, 2, 3] and slider.value == 2
    first = image.value
    assert first[:4] == b"\x89PNG"
    slider.value = 3
    assert image.value != first and calls == [1, 2, 3]  # swapped, not redrawn
    with pytest.raises(ValueError, match="not one of"):
        anomaly.figure_slider(draw, [1, 2], value=5)
