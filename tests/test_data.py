"""Checks of the shipped datasets (physics and integrity) and of the loaders' error messages."""
import json
import shutil
import time

import numpy as np
import pytest

from utils import data, jets, storage
from utils.tooling import generate

MB = 1e6


def _as_json(value):
    return json.loads(json.dumps(value))


def _present(*samples):
    missing = [s for s in samples if not (data.data_dir() / f"{s}.npz").exists()]
    if missing:
        pytest.fail(f"data files {missing} are missing from data/: run `make data`")


MEDIAN_TAU_TOLERANCE = 2e-4
P90_TAU_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def top():
    _present("top_jets", "qcd_jets")
    return {split: data.load("top_tagging", split) for split in ("train", "val", "test")}


def test_manifest_lists_every_file_with_checksum_and_settings():
    manifest = data.read_manifest()
    expected = {f"{f}.npz" for spec in data.DATASETS.values() for f in spec["files"]}
    assert set(manifest) == expected
    for name, entry in manifest.items():
        assert len(entry["sha256"]) == 64 and entry["size"] > 0 and entry["seed"] >= 0
        assert entry["pythia_settings"] and entry["versions"]["pythia8mc"]
        assert entry["size"] <= 50 * MB, f"{name} is over the 50 MB limit"
        # what the stored tau values mean is recorded with every file that has them
        assert "nsubjettiness" in entry and (entry["nsubjettiness"] is None) == (entry["jets"] is None), name
        assert entry["store"] == _as_json(generate.SAMPLES[name[:-4]]["store"]), name
    assert sum(e["size"] for e in manifest.values()) <= 128 * MB
    # every file with jets was made with the generator's N-subjettiness (axes and constituents in one
    # coordinate), and the manifest says so
    for name in ("top_jets.npz", "qcd_jets.npz", "dijet_qcd.npz", "dijet_wprime.npz"):
        assert manifest[name]["nsubjettiness"] == generate.NSUBJETTINESS, name


@pytest.mark.slow
def test_every_shipped_file_matches_its_checksum():
    assert data.verify(verbose=False), "run `python -m utils verify` to see which file is off"


def test_top_tagging_splits_sizes_and_shapes(top):
    n = {s: np.bincount(d["label"], minlength=2) for s, d in top.items()}
    assert sum(n[s][0] for s in n) >= 50_000 and sum(n[s][1] for s in n) >= 50_000
    assert n["test"].min() >= 10_000
    train = top["train"]
    assert train["constituents"].shape[1:] == (data.STORED_CONSTITUENTS, 3)
    assert train["constituents"].dtype == np.float32
    # splits are disjoint: no jet appears in two of them (compare jet kinematics)
    keys = {s: set(zip(d["jet_pt"].tolist(), d["jet_eta"].tolist())) for s, d in top.items()}
    assert not keys["train"] & keys["test"] and not keys["val"] & keys["test"]


def test_top_jets_have_the_top_mass_and_qcd_jets_do_not(top):
    d = top["train"]
    m_top, m_qcd = np.median(d["jet_mass"][d["label"] == 1]), np.median(d["jet_mass"][d["label"] == 0])
    assert 160 < m_top < 185, m_top
    assert m_qcd < 120, m_qcd
    assert np.all((d["jet_pt"] >= 550) & (d["jet_pt"] <= 650)) and np.all(np.abs(d["jet_eta"]) < 2)
    # three-prong tops have smaller tau32 than QCD jets
    assert np.median(d["tau32"][d["label"] == 1]) < np.median(d["tau32"][d["label"] == 0]) - 0.1


def test_stored_taus_are_utils_jets_on_the_stored_constituents(top):
    # the generator computes tau1..3 with utils.jets on up to 200 constituents at full precision;
    # from the 100 stored float16 constituents the same functions give the same values up to
    # that rounding and truncation. Measured on 10k top jets: median relative difference
    # 3.9e-5 / 6.1e-5 / 1.1e-4 (tau1 / tau2 / tau3), 90th percentile 1.4e-4 / 2.3e-4 / 4.7e-4,
    # tau32 median absolute difference 3.6e-5. The older generator (axes at rapidity, constituents
    # at pseudorapidity) was off by a median 2.8e-4 / 7.7e-4 / 1.8e-3, a 90th percentile
    # 1.6e-3 / 5.9e-3 / 1.5e-2 and 6.6e-4 in tau32: each check below fails on it.
    d = top["test"]
    n = 3000 if jets.have_fastjet() else 150
    stored = np.stack([d["tau1"][:n], d["tau2"][:n], d["tau3"][:n]], axis=1).astype(np.float64)
    ours = jets.nsubjettiness_taus(d["constituents"][:n], r0=0.8)
    rel = np.abs(ours / stored - 1)
    np.testing.assert_array_less(np.median(rel, axis=0), [MEDIAN_TAU_TOLERANCE] * 3)
    assert np.all(np.percentile(rel, 90, axis=0) < P90_TAU_TOLERANCE), np.percentile(rel, 90, axis=0)
    tau32 = lambda t: t[:, 2] / t[:, 1]  # noqa: E731
    assert np.median(np.abs(tau32(ours) - tau32(stored))) < 2e-4


def test_cluster_order_is_a_permutation_with_real_constituents_first(top):
    for split, d in top.items():
        order, c = d["cluster_order"], d["constituents"]
        assert order.shape == c.shape[:2] and order.dtype == np.int64
        np.testing.assert_array_equal(np.sort(order, axis=1), np.broadcast_to(np.arange(c.shape[1]), order.shape))
        reordered = np.take_along_axis(c, order[..., None], axis=1)
        n_real = (c[..., 0] > 0).sum(axis=1)  # pt > 0 marks the real constituents
        slot = np.arange(c.shape[1])
        assert np.all((reordered[..., 0] > 0) == (slot < n_real[:, None])), split  # real ones first
        padding = np.where(slot >= n_real[:, None], order, -1)
        assert np.all(np.diff(padding, axis=1)[slot[1:] > n_real[:, None]] == 1)  # then the padding, ascending
        # the same momentum, in another order: not the pt order
        np.testing.assert_allclose(reordered[..., 0].sum(1), c[..., 0].sum(1), rtol=1e-5)
        assert np.mean(np.any(order[:, :10] != slot[:10], axis=1)) > 0.9
    if jets.have_fastjet():  # and exactly what utils.jets computes on the shipped constituents
        d = top["val"]
        shipped = d["constituents"][:300].astype(np.float16)
        np.testing.assert_array_equal(jets.cluster_order(shipped), d["cluster_order"][:300])


def test_massless_constituents_as_the_jets_docstring_says(top):
    d = top["val"]
    c = d["constituents"].astype(np.float64)
    real = c[..., 0] > 0
    p = c[..., 0] * np.cosh(c[..., 1] + d["jet_eta"][:, None])  # |p| of a massless constituent
    soft = real & (p < 3.1)  # where E = |p| is off by more than a per mille for a pion
    assert 0.35 < soft.sum() / real.sum() < 0.5  # "about 40 % of the constituents"
    assert 0.03 < (c[..., 0] * soft).sum() / (c[..., 0] * real).sum() < 0.07  # "about 5 % of the jet's pT"


def test_constituents_reproduce_the_jet(top):
    from utils.jets import jet_four_momentum, to_ptetaphim

    d = top["test"]
    pt, _, _, m = to_ptetaphim(jet_four_momentum(d["constituents"][:2000]))
    # the stored 100 leading constituents carry nearly all of the jet's momentum
    assert np.median(pt / d["jet_pt"][:2000]) > 0.99
    # the constituents are stored massless (pT, eta, phi): that lowers the jet mass by a few per cent
    ratio = m / d["jet_mass"][:2000]
    assert 0.95 < np.median(ratio) <= 1.0, np.median(ratio)


def test_dijet_anomaly_signal_and_background():
    _present("dijet_qcd", "dijet_wprime")
    sig = data.load("dijet_anomaly", "signal")
    bkg = data.load("dijet_anomaly", "background")
    assert len(sig["mjj"]) >= 20_000 and np.all(sig["label"] == 1) and np.all(bkg["label"] == 0)
    assert 3300 < np.median(sig["mjj"]) < 3700

    def peak(values, lo, hi):
        h, edges = np.histogram(values, bins=np.arange(lo, hi, 10))
        return edges[np.argmax(h)] + 5

    assert 80 < peak(sig["m_j1"], 0, 1000) < 120  # Y(100)
    assert 450 < peak(sig["m_j2"], 0, 1000) < 550  # X(500)
    assert np.all(bkg["jet1_pt"] >= 1200 - 1e-3)  # float32 of the pT > 1.2 TeV selection
    in_sr = (bkg["mjj"] > 3300) & (bkg["mjj"] < 3700)
    # enough background for CATHODE's benchmark: S/sqrt(B) of about 2 at S/B of about 0.6 %
    assert in_sr.sum() >= 100_000, in_sr.sum()
    assert np.all(bkg["delta_m"] >= 0)


def test_drell_yan_peaks_at_the_z_mass():
    _present("drell_yan")
    d = data.load("drell_yan", "all")
    assert len(d["m_mumu"]) >= 200_000
    h, edges = np.histogram(d["m_mumu"], bins=np.arange(60, 120.01, 0.5))
    peak = edges[np.argmax(h)] + 0.25
    assert abs(peak - 91.2) < 1.0, peak
    assert np.median(d["pt_mumu"]) > 3  # initial-state radiation gives the Z transverse momentum


@pytest.mark.parametrize("name", list(data.DATASETS))
@pytest.mark.slow
def test_loading_takes_under_five_seconds(name):
    _present(*data.DATASETS[name]["files"])
    storage._VERIFIED.clear()  # include the checksum and the decompression, as on first use
    data._SAMPLE_CACHE.clear()
    start = time.perf_counter()
    data.load(name, data.DATASETS[name]["splits"][0])
    assert time.perf_counter() - start < 5


def test_max_events_keeps_both_classes_and_constituents_can_be_skipped():
    _present("top_jets", "qcd_jets")
    d = data.load("top_tagging", "val", max_events=1000)
    assert len(d["label"]) == 1000 and 300 < d["label"].sum() < 700
    light = data.load("top_tagging", "val", max_events=1000, constituents=False)
    assert "constituents" not in light
    np.testing.assert_array_equal(light["jet_mass"], d["jet_mass"])


def test_a_file_is_decompressed_once_and_every_load_hands_out_its_own_copy(monkeypatch):
    _present("drell_yan")
    data._SAMPLE_CACHE.clear()
    reads, read = [], data.load_npz
    monkeypatch.setattr(data, "load_npz", lambda path, **kw: reads.append(path) or read(path, **kw))
    train, val = data.load("drell_yan", "train"), data.load("drell_yan", "val")
    assert len(reads) == 1, reads
    before = val["m_mumu"].copy()
    train["m_mumu"][:] = -1.0  # a notebook that changes its arrays in place
    val["m_mumu"] *= 2.0
    np.testing.assert_array_equal(data.load("drell_yan", "val")["m_mumu"], before)
    assert len(reads) == 1


def test_unknown_names_and_splits_are_refused():
    with pytest.raises(ValueError, match="unknown dataset 'tops'.*top_tagging"):
        data.load("tops")
    with pytest.raises(ValueError, match="splits"):
        data.load("top_tagging", "validation")
    with pytest.raises(ValueError, match="max_events"):
        data.load("top_tagging", "val", max_events=0)
    with pytest.raises(ValueError, match="available"):
        data.feature_matrix({"a": np.zeros(3)}, ["b"])


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private copy of the small drell_yan file and the manifest, to break at will."""
    _present("drell_yan")
    shutil.copy(data.data_dir() / "drell_yan.npz", tmp_path)
    shutil.copy(data.data_dir() / "manifest.json", tmp_path)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    storage._VERIFIED.clear()
    yield tmp_path
    storage._VERIFIED.clear()


def test_corrupted_file_is_refused_with_the_fix(data_copy):
    path = data_copy / "drell_yan.npz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"drell_yan.npz is corrupted.*python -m utils generate drell_yan"):
        data.load("drell_yan")


def test_truncated_file_is_refused(data_copy):
    path = data_copy / "drell_yan.npz"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="corrupted or truncated"):
        data.load("drell_yan")


def test_missing_file_names_the_command(data_copy):
    (data_copy / "drell_yan.npz").unlink()
    with pytest.raises(FileNotFoundError, match=r"drell_yan.npz is missing.*generate drell_yan --events"):
        data.load("drell_yan")


def test_unlisted_file_is_refused(data_copy):
    manifest = json.loads((data_copy / "manifest.json").read_text())
    del manifest["drell_yan.npz"]
    (data_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FileNotFoundError, match="not listed"):
        data.load("drell_yan")


def test_npz_round_trip_needs_no_pickle(tmp_path):
    arrays = {"a": np.arange(5.0), "b": np.zeros((2, 3), np.float16), "n": np.array(7)}
    path = data.save_npz(tmp_path / "x.npz", arrays, {"seed": 3})
    first = data.sha256(path)
    back, meta = data.load_npz(path)
    assert meta == {"seed": 3} and back["n"].shape == () and back["b"].dtype == np.float16
    data.save_npz(tmp_path / "x.npz", arrays, {"seed": 3})
    assert data.sha256(path) == first  # no timestamps in the file
    np.save(tmp_path / "evil.npy", np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        np.load(tmp_path / "evil.npy", allow_pickle=False)


def test_drell_yan_has_disjoint_train_val_test_splits():
    _present("drell_yan")
    parts = {s: data.load("drell_yan", s) for s in ("train", "val", "test")}
    n_all = len(data.load("drell_yan", "all")["m_mumu"])
    sizes = {s: len(p["m_mumu"]) for s, p in parts.items()}
    assert sum(sizes.values()) == n_all
    assert sizes["val"] == sizes["test"] == pytest.approx(0.2 * n_all, abs=1)
    keys = {s: set(zip(p["mu_plus_pt"].tolist(), p["mu_minus_eta"].tolist())) for s, p in parts.items()}
    assert not keys["train"] & keys["val"] and not keys["val"] & keys["test"] and not keys["train"] & keys["test"]


def test_ttbar_partons_splits_masses_and_quark_order():
    from utils import topdecays
    from utils.metrics import peak_and_width

    _present("ttbar_partons")
    parts = {s: data.load("ttbar_partons", s) for s in ("train", "val", "test")}
    sizes = {s: len(p["partons"]) for s, p in parts.items()}
    n_all = sum(sizes.values())
    assert n_all == data.read_manifest()["ttbar_partons.npz"]["n_rows"] and n_all >= 90_000
    assert sizes["val"] == sizes["test"] == pytest.approx(0.2 * n_all, abs=1)
    keys = {s: set(map(tuple, p["partons"][:, :2].reshape(-1, 6).tolist())) for s, p in parts.items()}
    assert not keys["train"] & keys["val"] and not keys["val"] & keys["test"]
    d = parts["val"]
    assert d["partons"].shape[1:] == (6, 3) and d["partons"].dtype == np.float32
    assert np.all(d["pdg_id"][:, 0] == 5) and np.all(d["pdg_id"][:, 3] == -5)
    np.testing.assert_allclose(d["m_w1"], topdecays.reconstructed_masses(d["partons"])[:, 0], rtol=1e-5)
    # the Breit-Wigner peaks at Pythia's masses, with widths near Pythia's (W 2.085, top 1.4 GeV)
    w = peak_and_width(np.concatenate([d["m_w1"], d["m_w2"]]), range=(70.4, 90.4), bin_width=0.2)
    top = peak_and_width(np.concatenate([d["m_t1"], d["m_t2"]]), range=(163.0, 183.0), bin_width=0.2)
    assert abs(w["peak"] - 80.4) < 0.3 and 1.6 < w["fwhm"] < 2.8, w
    assert abs(top["peak"] - 173.0) < 0.3 and 1.0 < top["fwhm"] < 2.0, top
