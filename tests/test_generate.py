"""The generator: bit-for-bit reproducible, and sharded runs merge into the single-run file."""
import pytest

pytest.importorskip("pythia8mc", reason="generation needs the [generate] extra")
pytest.importorskip("fastjet", reason="generation needs the [generate] extra")

from utils import data, generate  # noqa: E402


@pytest.fixture
def small_chunks(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setitem(generate.SAMPLES["drell_yan"], "events_per_chunk", 100)
    return tmp_path


def test_same_command_same_file(small_chunks, capsys):
    args = ["generate", "drell_yan", "--events", "250", "--seed", "5"]
    assert data.main([*args, "--cache", str(small_chunks / "c1")]) == 0
    first = data.sha256(data.data_dir() / "drell_yan.npz")
    assert data.main([*args, "--cache", str(small_chunks / "c2"), "--workers", "2"]) == 0
    assert data.sha256(data.data_dir() / "drell_yan.npz") == first
    entry = data.read_manifest()["drell_yan.npz"]
    assert entry["sha256"] == first and entry["seed"] == 5 and entry["n_generated"] == 250
    assert "HadronLevel:all = off" in entry["pythia_settings"]


def test_shards_merge_into_the_single_run_file(small_chunks):
    base = ["drell_yan", "--events", "250", "--seed", "5", "--cache", str(small_chunks / "c")]
    assert data.main(["generate", *base]) == 0
    single = data.sha256(data.data_dir() / "drell_yan.npz")
    cache = str(small_chunks / "shards")
    shard_args = ["drell_yan", "--events", "250", "--seed", "5", "--cache", cache]
    data.main(["generate", *shard_args, "--shard", "2/2"])
    with pytest.raises(FileNotFoundError, match="chunk 0 of drell_yan"):
        data.main(["merge", *shard_args])
    data.main(["generate", *shard_args, "--shard", "1/2"])
    assert data.main(["merge", *shard_args]) == 0
    assert data.sha256(data.data_dir() / "drell_yan.npz") == single


def test_different_seeds_differ(small_chunks):
    a = generate.generate_chunk("drell_yan", seed=1, chunk=0, events=100)
    b = generate.generate_chunk("drell_yan", seed=2, chunk=0, events=100)
    assert not (a["mu_plus_pt"][:5] == b["mu_plus_pt"][:5]).all()
    assert generate.chunk_seed(1, "drell_yan", 0) != generate.chunk_seed(1, "drell_yan", 1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown sample"):
        generate.generate_chunk("zprime", 1, 0, 10)
    with pytest.raises(SystemExit):
        data.main(["generate", "drell_yan", "--shard", "3/2"])
