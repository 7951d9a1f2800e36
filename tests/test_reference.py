"""The reference datasets: their exact file formats, streamed, read into the course's format."""
import gc
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import tables  # noqa: F401  (the [reference] extra)

from utils import data, jets, reference  # noqa: E402


# --- synthetic files in the public formats ---------------------------------------------------
def _top_tagging_frame(n_jets: int, seed: int = 0, n_max: int = 200) -> tuple[pd.DataFrame, np.ndarray]:
    """A frame with the columns of the top-tagging files, and the (n_jets, n_max, 4) four-vectors in it."""
    rng = np.random.default_rng(seed)
    p4 = np.zeros((n_jets, n_max, 4))
    for j in range(n_jets):
        k = 3 + (7 * j) % (n_max - 3) if n_jets < 50 else rng.integers(20, 120)
        pt = np.sort(rng.uniform(1, 100, k))[::-1]
        p4[j, :k] = jets.to_cartesian(pt, 0.5 + rng.normal(0, 0.1, k), 1.0 + rng.normal(0, 0.1, k))
    cols = {}
    for v, idx in (("E", 0), ("PX", 1), ("PY", 2), ("PZ", 3)):
        for i in range(n_max):
            cols[f"{v}_{i}"] = p4[:, i, idx]
    zeros = np.zeros(n_jets)
    cols.update({"truthE": zeros, "truthPX": zeros, "truthPY": zeros, "truthPZ": zeros, "ttv": zeros,
                 "is_signal_new": (np.arange(n_jets) % 3 == 0).astype(np.int64)})
    return pd.DataFrame(cols), p4


@pytest.fixture(scope="module")
def top_file(tmp_path_factory):
    df, p4 = _top_tagging_frame(11)
    path = tmp_path_factory.mktemp("top") / "test.h5"
    df.to_hdf(path, key="table", mode="w", format="fixed")  # as the public files are written
    return path, p4


def test_top_tagging_file_in_the_course_format(top_file):
    path, p4 = top_file
    out = reference.read_top_tagging(path, chunk_size=4, backend="numpy")
    n = len(p4)
    real = p4[..., 0] > 0
    np.testing.assert_array_equal(out["label"], (np.arange(n) % 3 == 0).astype(np.int64))
    np.testing.assert_array_equal(out["n_constituents"], real.sum(axis=1))
    pt, eta, phi, m = jets.to_ptetaphim(p4.sum(axis=1))
    np.testing.assert_allclose(out["jet_pt"], pt, rtol=1e-6)
    np.testing.assert_allclose(out["jet_mass"], m, rtol=1e-5)
    c = out["constituents"]
    assert c.shape == (n, 100, 3) and c.dtype == np.float32
    cpt, ceta, cphi, _ = jets.to_ptetaphim(p4[:, :100])
    np.testing.assert_allclose(c[..., 0], np.where(real[:, :100], cpt, 0), rtol=1e-6)
    np.testing.assert_allclose(c[..., 1], np.where(real[:, :100], ceta - eta[:, None], 0), atol=1e-6)
    np.testing.assert_allclose(c[..., 2], np.where(real[:, :100], cphi - phi[:, None], 0), atol=1e-6)
    # N-subjettiness of all 200 constituents, R0 = 0.8, as the course's files
    relative = np.stack([np.where(real, jets.to_ptetaphim(p4)[0], 0),
                         np.where(real, jets.to_ptetaphim(p4)[1] - eta[:, None], 0),
                         np.where(real, jets.delta_phi(jets.to_ptetaphim(p4)[2], phi[:, None]), 0)], -1)
    expected = jets.nsubjettiness_taus(relative, 0.8, backend="numpy")
    np.testing.assert_allclose(np.stack([out["tau1"], out["tau2"], out["tau3"]], 1), expected, rtol=1e-5)
    # the chunking changes nothing
    again = reference.read_top_tagging(path, chunk_size=100, backend="numpy")
    for key in out:
        np.testing.assert_array_equal(again[key], out[key])
    assert len(reference.read_top_tagging(path, max_jets=5, taus=False)["label"]) == 5


def test_rows_are_counted_without_reading_and_read_in_slices(top_file, monkeypatch):
    path, p4 = top_file
    calls = []
    original = pd.HDFStore.select

    def spy(self, key, *args, start=None, stop=None, **kwargs):
        calls.append((start, stop))
        return original(self, key, *args, start=start, stop=stop, **kwargs)

    monkeypatch.setattr(pd.HDFStore, "select", spy)
    assert reference.hdf_info(path)[0] == len(p4)
    assert calls == [(0, 1)]  # the row count from the metadata, the columns from one row
    calls.clear()
    list(reference.iter_top_tagging(path, chunk_size=4, taus=False))
    assert calls == [(0, 1), (0, 4), (4, 8), (8, 11)]


def test_missing_columns_are_named_after_a_one_row_read(tmp_path):
    df, _ = _top_tagging_frame(3)
    df.drop(columns=["is_signal_new"]).to_hdf(tmp_path / "bad.h5", key="table", mode="w", format="fixed")
    with pytest.raises(ValueError, match="is_signal_new"):
        reference.read_top_tagging(tmp_path / "bad.h5")
    with pytest.raises(FileNotFoundError, match="not found"):
        reference.read_top_tagging(tmp_path / "nope.h5")


def test_cluster_order_of_reference_jets_is_cached(top_file, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    path, _ = top_file
    first = reference.read_top_tagging(path, chunk_size=4, taus=False, cluster_order=True)
    np.testing.assert_array_equal(first["cluster_order"], jets.cluster_order(first["constituents"]))
    assert len(list((tmp_path / "cache").rglob("cluster_order_*.npy"))) == 1  # one block of 10 000 rows
    monkeypatch.setattr(jets, "cluster_order", lambda c: pytest.fail("recomputed instead of read from the cache"))
    again = reference.read_top_tagging(path, chunk_size=3, taus=False, cluster_order=True)
    np.testing.assert_array_equal(again["cluster_order"], first["cluster_order"])


def test_nsubjettiness_of_reference_jets_is_computed_once(top_file, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    path, _ = top_file
    first = reference.read_top_tagging(path, chunk_size=4, backend="numpy")
    assert len(list((tmp_path / "cache").rglob("taus_numpy_*.npy"))) == 1
    monkeypatch.setattr(jets, "nsubjettiness_taus", lambda *a, **k: pytest.fail("recomputed instead of read from the cache"))
    again = reference.read_top_tagging(path, chunk_size=4, backend="numpy")
    for key in ("tau1", "tau2", "tau3"):
        np.testing.assert_array_equal(again[key], first[key])
    path.touch()  # a changed file (new modification time) is computed afresh
    with pytest.raises(pytest.fail.Exception, match="recomputed"):
        reference.read_top_tagging(path, chunk_size=4, backend="numpy")


@pytest.fixture
def counted_taus(monkeypatch):
    """N-subjettiness replaced by a cheap function of each jet's constituents that counts the jets it is asked for."""
    computed = []

    def taus(constituents, r0, n_max=3, backend="auto"):
        computed.append(len(constituents))
        c = np.asarray(constituents, np.float64)
        return np.stack([c[..., 0].sum(1), c[..., 1].sum(1), c[..., 2].sum(1)], 1)[:, :n_max]

    monkeypatch.setattr(jets, "nsubjettiness_taus", taus)
    return computed


@pytest.fixture(scope="module")
def top_file_50(tmp_path_factory):
    path = tmp_path_factory.mktemp("top50") / "train.h5"
    _top_tagging_frame(50, seed=5)[0].to_hdf(path, key="table", mode="w", format="fixed")
    return path


def _read_taus(path, **options):
    out = reference.read_top_tagging(path, constituents=False, backend="numpy", **options)
    return np.stack([out["tau1"], out["tau2"], out["tau3"]], 1)


def _cached_files(folder):
    return {p.relative_to(folder): np.load(p) for p in sorted(folder.rglob("*.npy"))}


def test_the_tau_cache_does_not_depend_on_the_chunk_size(top_file_50, tmp_path, monkeypatch, counted_taus):
    # `load` reads 2 000 jets at a time and `iterate` 20 000: both must find what the other cached
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    values = {size: _read_taus(top_file_50, chunk_size=size) for size in (10, 20)}
    first_35 = _read_taus(top_file_50, max_jets=35, chunk_size=7)
    assert sum(counted_taus) == 50, "each jet computed once, then read back whatever the chunk size"
    files = _cached_files(tmp_path / "cache")
    assert len(files) == 1 and all(len(v) == 50 for v in files.values())
    np.testing.assert_array_equal(values[10], values[20])
    np.testing.assert_array_equal(first_35, values[10][:35])
    # another cache, filled in another order, holds the same files with the same values
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "other"))
    np.testing.assert_array_equal(_read_taus(top_file_50, max_jets=35, chunk_size=20), first_35)
    np.testing.assert_array_equal(_read_taus(top_file_50, chunk_size=3), values[10])
    other = _cached_files(tmp_path / "other")
    assert other.keys() == files.keys()
    for name in files:
        np.testing.assert_array_equal(other[name], files[name])


def test_the_tau_cache_is_kept_in_aligned_blocks(top_file_50, tmp_path, monkeypatch, counted_taus):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(reference, "CACHE_BLOCK", 16)  # 50 jets: blocks of rows 0-16, 16-32, 32-48, 48-64
    expected = _read_taus(top_file_50, chunk_size=50)
    files = _cached_files(tmp_path / "cache")
    assert sorted(p.name for p in files) == [f"taus_numpy_v{reference.CACHE_FORMAT}_rows{a}-{a + 16}.npy"
                                              for a in (0, 16, 32, 48)]
    assert [len(v) for v in files.values()] == [16, 16, 16, 2]
    for size, max_jets in ((7, None), (20, None), (33, 35), (50, 17)):
        monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / f"cache{size}"))
        np.testing.assert_array_equal(_read_taus(top_file_50, chunk_size=size, max_jets=max_jets),
                                      expected[:max_jets])
        again = _cached_files(tmp_path / f"cache{size}")
        assert set(again) <= set(files)
        for name, value in again.items():  # a block read in part holds its leading rows
            np.testing.assert_array_equal(value, files[name][:len(value)])
    # a block cached in part is completed: only the rows after it are computed
    counted_taus.clear()
    np.testing.assert_array_equal(_read_taus(top_file_50, chunk_size=20), expected)
    assert sum(counted_taus) == 50 - 17
    assert _cached_files(tmp_path / "cache50").keys() == files.keys()


def test_a_new_cache_format_does_not_read_the_old_values(top_file, tmp_path, monkeypatch, counted_taus):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    path, p4 = top_file
    _read_taus(path)
    _read_taus(path)
    assert counted_taus == [len(p4)]
    monkeypatch.setattr(reference, "CACHE_FORMAT", reference.CACHE_FORMAT + 1)  # a new convention for tau
    _read_taus(path)
    assert counted_taus == [len(p4), len(p4)], "a value cached under the old format was served"


def _peak_overhead(path, chunk_size):
    """Peak memory traced while reading, minus the bytes of the arrays returned."""
    gc.collect()
    tracemalloc.start()
    out = reference.read_top_tagging(path, chunk_size=chunk_size, taus=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - sum(v.nbytes for v in out.values()), sum(v.nbytes for v in out.values())


@pytest.mark.slow
def test_memory_does_not_grow_with_the_file(tmp_path):
    sizes = {}
    for n in (2_000, 8_000):
        df, _ = _top_tagging_frame(n, seed=n)
        df.to_hdf(tmp_path / f"{n}.h5", key="table", mode="w", format="fixed")
        del df
        sizes[n] = _peak_overhead(tmp_path / f"{n}.h5", chunk_size=1_000)
    (small, small_out), (large, large_out) = sizes[2_000], sizes[8_000]
    # beyond the returned arrays, reading takes one chunk's work, whatever the file's size
    assert large - small < 0.1 * (large_out - small_out) + 2e6, (small, large)
    assert large < 2.5 * large_out + 150e6


# --- LHC Olympics ----------------------------------------------------------------------------
def _lhco_features_frame():
    rows = [  # jet 1 harder in the first row, jet 2 harder in the second: the loader orders by pt
        dict(pxj1=1500.0, pyj1=0.0, pzj1=100.0, mj1=100.0, pxj2=-1400.0, pyj2=0.0, pzj2=-200.0, mj2=500.0),
        dict(pxj1=0.0, pyj1=1300.0, pzj1=0.0, mj1=480.0, pxj2=0.0, pyj2=-1600.0, pzj2=300.0, mj2=90.0),
    ]
    df = pd.DataFrame(rows)
    for j, taus in ((1, (0.5, 0.3, 0.2)), (2, (0.6, 0.45, 0.4))):
        for i, value in enumerate(taus, start=1):
            df[f"tau{i}j{j}"] = value
    df["label"] = [1, 0]
    return df[reference.LHCO_FEATURE_COLUMNS]


def test_lhco_features_file_with_the_pt_ordering_swap(tmp_path):
    path = tmp_path / reference.LHCO_FEATURES_FILE
    _lhco_features_frame().to_hdf(path, key="df", mode="w", format="table")
    out = data.load_reference_lhco(path, chunksize=1)
    np.testing.assert_allclose(out["jet1_pt"], [1500.0, 1600.0])
    np.testing.assert_allclose(out["jet2_pt"], [1400.0, 1300.0])
    np.testing.assert_allclose(out["jet1_mass"], [100.0, 90.0])  # row 2: swapped
    np.testing.assert_allclose(out["jet2_mass"], [500.0, 480.0])
    np.testing.assert_allclose(out["jet1_tau1"], [0.5, 0.6])
    np.testing.assert_allclose(out["jet2_tau3"], [0.4, 0.2])
    # CATHODE's features: j1 the lighter jet
    np.testing.assert_allclose(out["m_j1"], [100.0, 90.0])
    np.testing.assert_allclose(out["delta_m"], [400.0, 390.0])
    np.testing.assert_allclose(out["tau21_j1"], [0.3 / 0.5, 0.45 / 0.6], rtol=1e-6)
    np.testing.assert_allclose(out["tau21_j2"], [0.45 / 0.6, 0.3 / 0.5], rtol=1e-6)
    e1, e2 = np.sqrt(1500**2 + 100**2 + 100**2), np.sqrt(1400**2 + 200**2 + 500**2)
    assert out["mjj"][0] == pytest.approx(np.sqrt((e1 + e2) ** 2 - 100**2 - 100**2), rel=1e-6)
    np.testing.assert_array_equal(out["label"], [1, 0])
    _lhco_features_frame().drop(columns=["tau3j2"]).to_hdf(tmp_path / "bad.h5", key="df", mode="w", format="table")
    with pytest.raises(ValueError, match="tau3j2"):
        data.load_reference_lhco(tmp_path / "bad.h5")


def _lhco_events_frame(n_events=6, seed=0):
    """Events in the format of events_anomalydetection_v2.h5: 700 x (pT, eta, phi), zero-padded, then the label."""
    rng = np.random.default_rng(seed)
    values = np.zeros((n_events, 2101))
    groups = []
    for e in range(n_events):
        # two well separated jets (Delta R > 2R), each a few particles within 0.3 of its centre
        centres = [(0.3, 0.2), (-0.6, 0.2 + np.pi)]
        particles, members = [], []
        for j, (eta0, phi0) in enumerate(centres):
            k = 3 + (e + j) % 4
            pt = rng.uniform(100, 600, k)
            part = np.stack([pt, eta0 + rng.uniform(-0.3, 0.3, k), phi0 + rng.uniform(-0.3, 0.3, k)], 1)
            members.append(part)
            particles.append(part)
        particles = np.concatenate(particles)
        particles[:, 2] = jets.delta_phi(particles[:, 2], 0.0)
        values[e, : 3 * len(particles)] = particles.ravel()
        values[e, -1] = e % 2
        groups.append(members)
    return pd.DataFrame(values), groups


def test_lhco_events_file_is_clustered_into_the_two_leading_jets(tmp_path):
    df, groups = _lhco_events_frame()
    path = tmp_path / reference.LHCO_EVENTS_FILE
    df.to_hdf(path, key="df", mode="w", format="fixed")
    out = data.load_reference_lhco(path, chunksize=4)
    assert len(out["mjj"]) == len(groups)
    for e, members in enumerate(groups):
        p4 = [jets.to_cartesian(m[:, 0], m[:, 1], m[:, 2]).sum(axis=0) for m in members]
        pts = [jets.to_ptetaphim(v)[0] for v in p4]
        hard, soft = (0, 1) if pts[0] > pts[1] else (1, 0)
        assert out["jet1_pt"][e] == pytest.approx(pts[hard], rel=1e-5)
        assert out["jet2_pt"][e] == pytest.approx(pts[soft], rel=1e-5)
        assert out["jet1_mass"][e] == pytest.approx(jets.to_ptetaphim(p4[hard])[3], rel=1e-4)
        assert out["mjj"][e] == pytest.approx(jets.invariant_mass(*p4), rel=1e-5)
        jet_pt, jet_eta, jet_phi, _ = jets.to_ptetaphim(p4[hard])
        m = members[hard][np.argsort(-members[hard][:, 0])]
        rel = np.stack([m[:, 0], m[:, 1] - jet_eta, jets.delta_phi(m[:, 2], jet_phi)], 1)[None]
        expected = jets.nsubjettiness_taus(rel, 1.0, backend="numpy")[0]
        np.testing.assert_allclose([out[f"jet1_tau{i}"][e] for i in (1, 2, 3)], expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(out["label"], np.arange(len(groups)) % 2)
    assert set(out) == set(data.load_reference_lhco(tmp_path / reference.LHCO_EVENTS_FILE, max_events=2))


def test_lhco_events_file_needs_fastjet_and_says_so(tmp_path, monkeypatch):
    import sys

    df, _ = _lhco_events_frame(2)
    df.to_hdf(tmp_path / reference.LHCO_EVENTS_FILE, key="df", mode="w", format="fixed")
    monkeypatch.setitem(sys.modules, "fastjet", None)  # as if it were not installed
    with pytest.raises(ImportError, match="pip install fastjet"):
        data.load_reference_lhco(tmp_path / reference.LHCO_EVENTS_FILE)


# --- one environment variable per dataset ----------------------------------------------------
@pytest.fixture
def reference_folders(tmp_path, monkeypatch):
    top = tmp_path / "top"
    top.mkdir()
    for k, split in enumerate(("train", "val", "test")):
        _top_tagging_frame(9 + k, seed=k)[0].to_hdf(top / f"{split}.h5", key="table", mode="w", format="fixed")
    lhco = tmp_path / "lhco"
    lhco.mkdir()
    _lhco_features_frame().to_hdf(lhco / reference.LHCO_FEATURES_FILE, key="df", mode="w", format="table")
    monkeypatch.setenv("COURSE_TOP_TAGGING_DIR", str(top))
    monkeypatch.setenv("COURSE_LHCO_DIR", str(lhco))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    return top, lhco


def test_load_reads_the_reference_files_when_the_variable_is_set(reference_folders, monkeypatch):
    top, lhco = reference_folders
    assert data.reference_dir("top_tagging") == top and data.reference_dir("drell_yan") is None
    val = data.load("top_tagging", "val")
    assert len(val["label"]) == 10
    own_keys = {"constituents", "label", "jet_pt", "jet_eta", "jet_phi", "jet_mass", "n_constituents",
                "tau1", "tau2", "tau3", "tau21", "tau32"}
    assert set(val) == own_keys
    data.feature_matrix(val)  # the notebooks' high-level features are all there
    assert len(data.load("top_tagging", "test", max_events=4)["label"]) == 4
    chunks = list(data.iterate("top_tagging", "val", chunk_size=4))
    assert [len(c["label"]) for c in chunks] == [4, 4, 2]
    for key in val:
        np.testing.assert_array_equal(np.concatenate([c[key] for c in chunks]), val[key])
    signal = data.load("dijet_anomaly", "signal")
    np.testing.assert_array_equal(signal["label"], [1])
    assert "jet1_phi" not in signal and set(signal) == set(data.load("dijet_anomaly", "all"))
    assert [len(c["mjj"]) for c in data.iterate("dijet_anomaly", "all", chunk_size=1)] == [1, 1]
    monkeypatch.setenv("COURSE_TOP_TAGGING_DIR", "")
    assert data.reference_dir("top_tagging") is None


def test_reference_folder_without_the_files_names_them(reference_folders):
    top, _ = reference_folders
    (top / "test.h5").unlink()
    with pytest.raises(FileNotFoundError, match=r"COURSE_TOP_TAGGING_DIR.*test.h5.*2603256"):
        data.load("top_tagging", "test")


def test_iterate_over_the_course_files_matches_load():
    full = data.load("drell_yan", "val", max_events=2_500)
    chunks = list(data.iterate("drell_yan", "val", chunk_size=1_000, max_events=2_500))
    assert [len(c["m_mumu"]) for c in chunks] == [1_000, 1_000, 500]
    for key in full:
        np.testing.assert_array_equal(np.concatenate([c[key] for c in chunks]), full[key])
    with pytest.raises(ValueError, match="chunk_size"):
        next(data.iterate("drell_yan", "val", chunk_size=0))


def test_write_top_tagging_gives_a_file_the_reader_takes_back(tmp_path):
    jets_in = data.load("top_tagging", "test", max_events=300)
    path = reference.write_top_tagging(tmp_path / "new folder" / "test.h5", jets_in)  # the folder is made
    n_rows, columns = reference.hdf_info(path)
    assert n_rows == 300 and columns[:3] == ["E_0", "E_1", "E_2"] and "is_signal_new" in columns
    assert sum(c.startswith("PZ_") for c in columns) == 200
    out = reference.read_top_tagging(path, chunk_size=128, backend="numpy", taus=False)
    np.testing.assert_array_equal(out["label"], jets_in["label"])
    np.testing.assert_array_equal(out["n_constituents"], (jets_in["constituents"][..., 0] > 0).sum(axis=1))
    real = jets_in["constituents"][..., 0] > 0
    np.testing.assert_allclose(out["constituents"][..., 0], jets_in["constituents"][..., 0], rtol=1e-5)
    # the reader measures angles from the axis of the constituents it has: compare absolute angles
    for k, axis in ((1, "jet_eta"), (2, "jet_phi")):
        got = np.where(real, out["constituents"][..., k] + out[axis][:, None], 0)
        want = np.where(real, jets_in["constituents"][..., k] + jets_in[axis][:, None], 0)
        np.testing.assert_allclose(jets.delta_phi(got, want) if k == 2 else got - want, 0, atol=2e-5)
    with pytest.raises(ValueError, match="shape"):
        reference.write_top_tagging(tmp_path / "bad.h5", {**jets_in, "constituents": jets_in["constituents"][..., :2]})


def test_without_pandas_the_reader_names_the_extra_to_install(monkeypatch, tmp_path):
    import sys

    from utils import reference

    monkeypatch.setitem(sys.modules, "tables", None)  # as in an environment without the [reference] extra
    with pytest.raises(ImportError, match=r'pip install -e "\.\[reference\]"'):
        reference.hdf_info(tmp_path / "train.h5")
