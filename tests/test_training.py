import numpy as np
import pytest
import torch

from utils import training


def _toy(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.float32)
    return x, y


def test_make_loader_types_and_reproducible_shuffling():
    x, y = _toy(100)
    loader = training.make_loader(x, y.astype(int), batch_size=32, shuffle=True, seed=1)
    xb, yb = next(iter(loader))
    assert xb.dtype == torch.float32 and yb.dtype == torch.int64 and xb.shape == (32, 2)
    again = next(iter(training.make_loader(x, y.astype(int), batch_size=32, shuffle=True, seed=1)))[0]
    assert torch.equal(xb, again)
    with pytest.raises(ValueError, match="same length"):
        training.make_loader(x, y[:10])


def test_fit_learns_a_linear_boundary_and_keeps_the_best_epoch():
    torch.manual_seed(0)
    x, y = _toy()
    model = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Flatten(0))
    history = training.fit(model, training.make_loader(x[:1500], y[:1500], batch_size=64, shuffle=True),
                           torch.nn.BCEWithLogitsLoss(), torch.optim.Adam(model.parameters(), lr=0.05), epochs=15,
                           val_loader=training.make_loader(x[1500:], y[1500:]), patience=3, progress=False)
    assert len(history["train_loss"]) == len(history["val_loss"]) <= 15
    assert history["val_loss"][history["best_epoch"] - 1] == min(history["val_loss"])
    assert history["train_loss"][-1] < 0.3 * history["train_loss"][0] or history["train_loss"][-1] < 0.2
    pred = training.predict(model, x[1500:])
    assert pred.shape == (500,)
    assert np.mean((pred > 0) == (y[1500:] > 0.5)) > 0.95


def test_fit_stops_on_diverging_loss():
    x, y = _toy(200)
    model = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Flatten(0))
    x[0, 0] = np.nan
    with pytest.raises(FloatingPointError, match="learning rate"):
        training.fit(model, training.make_loader(x, y), torch.nn.BCEWithLogitsLoss(),
                     torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, progress=False)
