"""The generator: bit-for-bit reproducible, and sharded runs merge into the single-run file."""
from pathlib import Path

import fastjet  # noqa: F401  (make setup installs the [generate] extra)
import numpy as np
import pytest
import pythia8mc  # noqa: F401

from utils import data, jets, storage
from utils.tooling import generate
from utils.tooling.cli import main

pytestmark = pytest.mark.slow  # runs Pythia 8 and FastJet

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def small_chunks(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setitem(generate.SAMPLES["drell_yan"], "events_per_chunk", 100)
    return tmp_path


def test_same_command_same_file(small_chunks, capsys):
    args = ["generate", "drell_yan", "--events", "250", "--seed", "5"]
    assert main([*args, "--cache", str(small_chunks / "c1")]) == 0
    first = storage.sha256(storage.data_dir() / "drell_yan.npz")
    assert main([*args, "--cache", str(small_chunks / "c2"), "--workers", "2"]) == 0
    assert storage.sha256(storage.data_dir() / "drell_yan.npz") == first
    entry = storage.read_manifest()["drell_yan.npz"]
    assert entry["sha256"] == first and entry["seed"] == 5 and entry["n_generated"] == 250
    assert "HadronLevel:all = off" in entry["pythia_settings"]


def test_shards_merge_into_the_single_run_file(small_chunks):
    base = ["drell_yan", "--events", "250", "--seed", "5", "--cache", str(small_chunks / "c")]
    assert main(["generate", *base]) == 0
    single = storage.sha256(storage.data_dir() / "drell_yan.npz")
    cache = str(small_chunks / "shards")
    shard_args = ["drell_yan", "--events", "250", "--seed", "5", "--cache", cache]
    main(["generate", *shard_args, "--shard", "2/2"])
    with pytest.raises(FileNotFoundError, match="chunk 0 of drell_yan"):
        main(["merge", *shard_args])
    main(["generate", *shard_args, "--shard", "1/2"])
    assert main(["merge", *shard_args]) == 0
    assert storage.sha256(storage.data_dir() / "drell_yan.npz") == single


def test_different_seeds_differ(small_chunks):
    a = generate.generate_chunk("drell_yan", seed=1, chunk=0, events=100)
    b = generate.generate_chunk("drell_yan", seed=2, chunk=0, events=100)
    assert not (a["mu_plus_pt"][:5] == b["mu_plus_pt"][:5]).all()
    assert generate.chunk_seed(1, "drell_yan", 0) != generate.chunk_seed(1, "drell_yan", 1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown sample"):
        generate.generate_chunk("zprime", 1, 0, 10)
    with pytest.raises(SystemExit):
        main(["generate", "drell_yan", "--shard", "3/2"])


def test_jet_chunk_taus_and_cluster_order_are_utils_jets_on_the_constituents(monkeypatch):
    # the stored tau values are utils.jets' (axes and constituents in one coordinate), computed from
    # the full-precision constituents, and the clustering order from the constituents as shipped
    monkeypatch.setitem(generate.SAMPLES["top_jets"], "events_per_chunk", 40)
    chunk = generate.generate_chunk("top_jets", seed=3, chunk=0, events=40)
    c = chunk["constituents"].astype(np.float64)
    assert len(c) >= 5
    taus = np.stack([chunk[f"tau{i}"] for i in (1, 2, 3)], axis=1)
    np.testing.assert_allclose(taus, jets.nsubjettiness_taus(c, 0.8, backend="numpy"), rtol=1e-6, atol=1e-9)
    assert np.all(taus[:, 2] < taus[:, 1]) and np.all(taus[:, 1] < taus[:, 0])
    keep = generate.SAMPLES["top_jets"]["store"]["keep_constituents"]
    assert chunk["cluster_order"].dtype == np.uint8 and chunk["cluster_order"].shape == (len(c), keep)
    np.testing.assert_array_equal(chunk["cluster_order"], jets.cluster_order(c[:, :keep].astype(np.float16)))
    packed = generate.pack_for_shipping("top_jets", chunk)
    assert packed["constituents"].shape == (len(c), keep, 3) and packed["constituents"].dtype == np.float16
    assert packed["cluster_order"].dtype == np.uint8 and packed["tau1"].dtype == np.float32


def test_storage_rules_live_in_the_sample_specs():
    for name, spec in generate.SAMPLES.items():
        assert set(spec["store"]) == {"keep_constituents", "float16", "drop"}, name
    for name in data.DATASETS["top_tagging"]["files"]:
        assert generate.SAMPLES[name]["store"]["keep_constituents"] == data.STORED_CONSTITUENTS
    arrays = {"jet1_phi": np.zeros(3), "jet1_tau1": np.full(3, 0.25), "mjj": np.ones(3), "n_generated": np.array(9)}
    packed = generate.pack_for_shipping("dijet_qcd", arrays)
    assert "jet1_phi" not in packed and packed["jet1_tau1"].dtype == np.float16 and packed["mjj"].dtype == np.float32


def test_dijet_chunk_taus_are_utils_jets_on_each_jets_constituents(monkeypatch):
    # the dijet files store tau1..3 of both jets (no constituents): they must be utils.jets' values
    # on the jet's own constituents, in the coordinates of utils.jets (item 16 of issue 14)
    seen = []
    original = generate._relative_constituents

    def keep(jet, max_constituents):
        seen.append(original(jet, max_constituents))
        return seen[-1]

    monkeypatch.setattr(generate, "_relative_constituents", keep)
    monkeypatch.setitem(generate.SAMPLES["dijet_qcd"], "events_per_chunk", 6)
    chunk = generate.generate_chunk("dijet_qcd", seed=5, chunk=0, events=6)
    n = len(chunk["mjj"])
    assert n >= 2 and len(seen) == 2 * n
    for j in (1, 2):
        constituents = generate._padded(seen[j - 1::2])  # the generator appends jet 1, then jet 2, per event
        expected = jets.nsubjettiness_taus(constituents, 1.0, backend="numpy")
        taus = np.stack([chunk[f"jet{j}_tau{i}"] for i in (1, 2, 3)], axis=1)
        np.testing.assert_allclose(taus, expected, rtol=1e-6, atol=1e-9)


def test_ttbar_partons_chunk_holds_the_six_decay_quarks_in_order(monkeypatch):
    # b, up-type q, down-type q' of the top, then of the antitop; their masses are the W and top masses
    from utils import topdecays

    monkeypatch.setitem(generate.SAMPLES["ttbar_partons"], "events_per_chunk", 300)
    chunk = generate.generate_chunk("ttbar_partons", seed=4, chunk=0, events=300)
    partons, ids = chunk["partons"], chunk["pdg_id"]
    assert partons.shape[1:] == (6, 3) and ids.shape == (len(partons), 6)
    assert 295 <= len(partons) <= int(chunk["n_generated"]) == 300  # only t -> W s or W d events are dropped
    assert np.all(ids[:, 0] == 5) and np.all(ids[:, 3] == -5)
    assert np.all(np.isin(np.abs(ids[:, [1, 4]]), (2, 4))) and np.all(np.isin(np.abs(ids[:, [2, 5]]), (1, 3, 5)))
    assert np.all(ids[:, 1] * ids[:, 2] < 0) and np.all(ids[:, 4] * ids[:, 5] < 0)  # a quark and an antiquark
    masses = topdecays.reconstructed_masses(partons)
    assert abs(np.median(masses[:, :2]) - 80.4) < 0.5 and abs(np.median(masses[:, 2:]) - 173.0) < 0.5
    # initial-state radiation on: the top pair recoils (its pT is not zero), final-state radiation off
    p4 = topdecays.four_momenta(partons).sum(axis=1)
    assert np.median(np.hypot(p4[:, 1], p4[:, 2])) > 10
    again = generate.generate_chunk("ttbar_partons", seed=4, chunk=0, events=300)
    np.testing.assert_array_equal(again["partons"], partons)


def test_shower_samples_set_the_coupling_per_chunk():
    grid = generate.SHOWER_GRID
    assert [generate.shower_alpha("shower_grid", 1, k) for k in range(len(grid) + 1)] == [*grid, grid[0]]
    lo, hi = generate.SHOWER_RANGE
    scan = [generate.shower_alpha("shower_scan", 1, k) for k in range(200)]
    assert all(lo <= a <= hi for a in scan) and len(set(scan)) == 200
    assert scan == [generate.shower_alpha("shower_scan", 1, k) for k in range(200)]  # from the chunk seed alone
    assert scan[:5] != [generate.shower_alpha("shower_scan", 2, k) for k in range(5)]
    assert abs(np.mean(scan) - (lo + hi) / 2) < 3 * (hi - lo) / np.sqrt(12 * 200)  # uniform
    assert generate.shower_alpha("shower_nature", 1, 3) == 0.118 and generate.shower_alpha("qcd_jets", 1, 0) is None
    # the Part VII samples have the qcd_jets settings and cuts, the coupling aside
    for name in ("shower_grid", "shower_scan", "shower_measured", "shower_nature", "shower_pseudo_nature"):
        assert generate.SAMPLES[name]["pythia"] == generate.SAMPLES["qcd_jets"]["pythia"], name
        assert generate.SAMPLES[name]["jets"] == generate.SAMPLES["qcd_jets"]["jets"], name


def test_shower_chunk_has_its_coupling_and_the_jet_shapes(monkeypatch):
    monkeypatch.setitem(generate.SAMPLES["shower_scan"], "events_per_chunk", 30)
    chunk = generate.generate_chunk("shower_scan", seed=2, chunk=1, events=60)
    n = len(chunk["jet_pt"])
    assert n >= 10
    assert np.all(chunk["alpha_s"] == generate.shower_alpha("shower_scan", 2, 1))
    shapes = jets.jet_shapes(chunk["constituents"])
    for key, values in shapes.items():
        np.testing.assert_array_equal(chunk[f"shape_{key}"], values)
    np.testing.assert_array_equal(chunk["shape_multiplicity"], chunk["n_constituents"])
    packed = generate.pack_for_shipping("shower_scan", chunk)
    assert "constituents" not in packed and "cluster_order" not in packed and packed["alpha_s"].dtype == np.float32
