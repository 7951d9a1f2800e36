import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from utils import plotting


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _scores():
    rng = np.random.default_rng(0)
    return np.r_[np.zeros(500), np.ones(500)], np.r_[rng.normal(0, 1, 500), rng.normal(1.5, 1, 500)]


def test_use_style_sets_the_course_style():
    plotting.use_style()
    assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"][0] == plotting.COLORS[0]
    assert tuple(matplotlib.rcParams["figure.figsize"]) == (6.0, 4.0)


def test_roc_and_rejection_plots_label_their_axes():
    ax = plotting.plot_roc({"toy": _scores()})
    assert "epsilon_S" in ax.get_xlabel() and "AUC" in ax.get_legend().get_texts()[0].get_text()
    ax = plotting.plot_rejection({"toy": _scores()})
    assert ax.get_yscale() == "log" and "1/" in ax.get_ylabel()


def test_hist_compare_with_ratio_panel():
    rng = np.random.default_rng(1)
    fig = plotting.hist_compare({"truth": rng.normal(size=1000), "model": rng.normal(size=1000)},
                                bins=20, range=(-3, 3), xlabel="x [GeV]", reference="truth")
    assert len(fig.axes) == 2 and fig.axes[1].get_xlabel() == "x [GeV]"
    with pytest.raises(ValueError, match="reference"):
        plotting.hist_compare({"a": [1, 2]}, reference="b")


def test_plot_history():
    ax = plotting.plot_history({"train_loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.6, 0.7], "best_epoch": 2})
    assert ax.get_xlabel() == "epoch" and len(ax.get_lines()) == 3
