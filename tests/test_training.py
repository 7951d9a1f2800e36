import os

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


def test_one_cycle_schedule_drives_fit_up_then_down():
    torch.manual_seed(0)
    x, y = _toy(100)
    model = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Flatten(0))
    loader = training.make_loader(x, y, batch_size=16, shuffle=True, seed=0)
    epochs = 4
    optimizer = torch.optim.Adam(model.parameters())
    scheduler = training.one_cycle(optimizer, max_lr=0.05, epochs=epochs, steps_per_epoch=len(loader))
    history = training.fit(model, loader, torch.nn.BCEWithLogitsLoss(), optimizer, epochs=epochs, val_loader=loader,
                           patience=None, scheduler=scheduler, progress=False)
    lrs = np.array(history["lr"])
    assert len(lrs) == epochs * len(loader)  # one rate per optimizer step
    peak = int(np.argmax(lrs))
    assert np.isclose(lrs[peak], 0.05, rtol=0.01) and 0.2 * len(lrs) < peak < 0.4 * len(lrs)
    assert np.isclose(lrs[0], 0.05 / 25) and lrs[-1] < 1e-3 * 0.05
    assert np.all(np.diff(lrs[:peak + 1]) >= 0) and np.all(np.diff(lrs[peak:]) <= 0)
    assert history["val_loss"][-1] < history["val_loss"][0]


def test_one_cycle_rejects_bad_input():
    params = [torch.nn.Parameter(torch.zeros(1))]
    with pytest.raises(ValueError, match="epochs"):
        training.one_cycle(torch.optim.Adam(params), max_lr=1e-3, epochs=0, steps_per_epoch=10)
    with pytest.raises(ValueError, match="max_lr"):
        training.one_cycle(torch.optim.Adam(params), max_lr=0.0, epochs=1, steps_per_epoch=10)


def test_fit_keeps_the_best_or_the_last_weights():
    x, y = _toy(400)
    runs = {}
    for keep in ("best", "last"):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Flatten(0))
        # a rate so large that the loss jumps around: the best epoch is rarely the last
        history = training.fit(model, training.make_loader(x, y, batch_size=20, shuffle=True), torch.nn.BCEWithLogitsLoss(),
                               torch.optim.SGD(model.parameters(), lr=30.0), epochs=8,
                               val_loader=training.make_loader(x, y), patience=None, keep=keep, progress=False)
        final_val = training._run_epoch(model, training.make_loader(x, y), torch.nn.BCEWithLogitsLoss(), "cpu")
        runs[keep] = (history, final_val)
    history, final_val = runs["best"]
    assert history["best_epoch"] < 8, "the toy must have its best epoch before the last"
    assert np.isclose(final_val, min(history["val_loss"]), rtol=1e-5)
    history, final_val = runs["last"]
    assert np.isclose(final_val, history["val_loss"][-1], rtol=1e-5) and final_val > min(history["val_loss"])
    with pytest.raises(ValueError, match="keep"):
        training.fit(model, training.make_loader(x, y), torch.nn.BCEWithLogitsLoss(),
                     torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, keep="final", progress=False)


def test_count_parameters_counts_trainable_weights_and_biases():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1))
    assert training.count_parameters(model) == 17
    model[1].bias.requires_grad_(False)
    assert training.count_parameters(model) == 16


def test_make_loader_gives_the_batches_and_random_state_of_a_shuffled_tensor_loader():
    # the batches are gathered a batch at a time; the order, and the global random state after each
    # epoch, must be those of DataLoader(TensorDataset, shuffle=True, generator) that it replaced
    from torch.utils.data import DataLoader, TensorDataset

    x = np.random.default_rng(0).normal(size=(1000, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    reference = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=64, shuffle=True,
                           generator=torch.Generator().manual_seed(3))
    loader = training.make_loader(x, y, batch_size=64, shuffle=True, seed=3)
    assert len(loader) == len(reference) == 16
    for _ in range(2):
        torch.manual_seed(1)
        expected, after_expected = list(reference), torch.rand(1)
        torch.manual_seed(1)
        got, after = list(loader), torch.rand(1)
        assert len(got) == len(expected)
        for (gx, gy), (ex, ey) in zip(got, expected):
            assert torch.equal(gx, ex) and torch.equal(gy, ey) and gx.dtype == torch.float32 and gy.dtype == torch.int64
        assert torch.equal(after, after_expected)


def test_stack_chunks_spills_large_arrays_to_disk_and_reads_them_back(tmp_path):
    rng = np.random.default_rng(1)
    chunks = [{"image": rng.normal(size=(n, 4, 4)).astype(np.float32), "label": np.arange(n) % 2}
              for n in (300, 300, 123)]
    in_memory = training.stack_chunks(iter(chunks), memory_limit_gb=None)
    spilled = training.stack_chunks(iter(chunks), memory_limit_gb=10_000 / 1e9, folder=tmp_path)  # 10 kB
    assert type(in_memory["image"]) is np.ndarray and isinstance(spilled["image"], np.memmap)
    assert type(spilled["label"]) is np.ndarray  # one value per row: always in memory
    for key in ("image", "label"):
        np.testing.assert_array_equal(spilled[key], np.concatenate([c[key] for c in chunks]))
        np.testing.assert_array_equal(in_memory[key], spilled[key])
    assert spilled["image"].shape == (723, 4, 4) and spilled["image"].dtype == np.float32
    assert not list(tmp_path.iterdir()), "the spilled file must not outlive its array"
    # a memory-mapped array trains and predicts like the same array in memory, batch by batch
    a = list(training.make_loader(spilled["image"], spilled["label"], batch_size=100, shuffle=True, seed=2))
    b = list(training.make_loader(in_memory["image"], in_memory["label"], batch_size=100, shuffle=True, seed=2))
    assert all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(a, b)) and len(a) == 8
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1), torch.nn.Flatten(0))
    np.testing.assert_array_equal(training.predict(model, spilled["image"], batch_size=50),
                                  training.predict(model, in_memory["image"], batch_size=50))
    with pytest.raises(ValueError, match="no chunks"):
        training.stack_chunks(iter([]))
    with pytest.raises(ValueError, match="shape"):  # and the file begun for it is removed
        training.stack_chunks(iter(chunks + [{"image": np.zeros((5, 3, 3)), "label": np.arange(5)}]),
                              memory_limit_gb=10_000 / 1e9, folder=tmp_path)
    assert not list(tmp_path.iterdir())


def _image_chunks(sizes=(300, 300, 123), dtype=np.float32):
    rng = np.random.default_rng(1)
    return [{"image": rng.normal(size=(n, 4, 4)).astype(dtype), "label": np.arange(n) % 2} for n in sizes]


@pytest.mark.parametrize("limit_gb", [None, 10_000 / 1e9], ids=["in memory", "spilled"])
def test_stack_chunks_refuses_a_chunk_without_a_key(tmp_path, limit_gb):
    chunks = _image_chunks()
    del chunks[1]["label"]  # stacked anyway, the labels would be 300 rows short and shifted against the images
    with pytest.raises(ValueError, match=r"chunk 2 has no 'label'"):
        training.stack_chunks(iter(chunks), memory_limit_gb=limit_gb, folder=tmp_path)
    chunks = _image_chunks()
    chunks[2]["weight"] = np.ones(123)
    with pytest.raises(ValueError, match=r"chunk 3 has 'weight'"):
        training.stack_chunks(iter(chunks), memory_limit_gb=limit_gb, folder=tmp_path)
    chunks = _image_chunks()
    chunks[1]["label"] = chunks[1]["label"][:-1]
    with pytest.raises(ValueError, match=r"chunk 2 have different numbers of rows"):
        training.stack_chunks(iter(chunks), memory_limit_gb=limit_gb, folder=tmp_path)
    assert not list(tmp_path.iterdir()), "a refused stack leaves no file behind"


@pytest.mark.parametrize("limit_gb", [None, 10_000 / 1e9], ids=["in memory", "spilled"])
def test_stack_chunks_refuses_a_chunk_of_another_dtype(tmp_path, limit_gb):
    # numpy would promote float32 and float64 to float64 in memory, while the file kept float32
    chunks = _image_chunks()
    chunks[2]["image"] = chunks[2]["image"].astype(np.float64)
    with pytest.raises(ValueError, match=r"'image' is float64 in chunk 3 and float32 in chunk 1"):
        training.stack_chunks(iter(chunks), memory_limit_gb=limit_gb, folder=tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.int8])
def test_stack_chunks_spills_into_a_npy_file_with_the_dtype_it_has_in_memory(tmp_path, monkeypatch, dtype):
    chunks = _image_chunks(dtype=dtype)
    in_memory = training.stack_chunks(iter(chunks), memory_limit_gb=None)
    removed, unlink = [], os.unlink

    def keep_spilled_files(name):  # keep the file to look at it
        if str(name).startswith(str(tmp_path)):
            removed.append(name)
        else:
            unlink(name)

    monkeypatch.setattr(os, "unlink", keep_spilled_files)
    spilled = training.stack_chunks(iter(chunks), memory_limit_gb=10_000 / 1e9, folder=tmp_path)
    assert isinstance(spilled["image"], np.memmap) and spilled["image"].dtype == in_memory["image"].dtype == dtype
    np.testing.assert_array_equal(spilled["image"], in_memory["image"])
    (name,) = removed
    assert name.endswith(".npy")
    on_disk = np.load(name)  # a real .npy file: its header holds the dtype and the shape
    assert on_disk.dtype == dtype and on_disk.shape == (723, 4, 4)
    np.testing.assert_array_equal(on_disk, in_memory["image"])
