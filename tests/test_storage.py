"""utils.storage: the data and cache folders, atomic writes, the manifest under concurrent writers."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from utils import storage

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def data_folder(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    return folder


def test_data_and_cache_folders_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.delenv("COURSE_CACHE_DIR")  # (set by conftest.py for every unit test)
    assert storage.data_dir() == tmp_path / "d" and storage.cache_dir() == tmp_path / "d" / "cache"
    assert storage.manifest_path() == tmp_path / "d" / "manifest.json"
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "c"))
    assert storage.cache_dir() == tmp_path / "c"


def test_unit_tests_never_write_into_the_course_data_folder():
    # conftest.py points the cache of every unit test at a temporary folder
    assert storage.cache_dir() != ROOT / "data" / "cache" and not storage.cache_dir().exists()


def test_atomic_write_replaces_the_file_in_one_step(tmp_path):
    path = tmp_path / "new folder" / "a.bin"
    with storage.atomic_write(path) as f:
        f.write(b"first")
        assert not path.exists(), "nothing is visible before the block ends"
    assert path.read_bytes() == b"first"
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it, not mkstemp's 0600
    with pytest.raises(RuntimeError, match="broken"):
        with storage.atomic_write(path) as f:
            f.write(b"half of the seco")
            raise RuntimeError("broken")
    assert path.read_bytes() == b"first", "a failed write leaves the old file"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.bin"], "and no temporary file"


def test_save_npz_is_bit_reproducible_and_leaves_no_temporary_file(tmp_path):
    arrays = {"x": np.arange(10, dtype=np.float32), "label": np.array([0, 1, 1])}
    a = storage.save_npz(tmp_path / "a.npz", arrays, {"seed": 1})
    b = storage.save_npz(tmp_path / "b.npz", dict(reversed(arrays.items())), {"seed": 1})
    assert storage.sha256(a) == storage.sha256(b)
    got, metadata = storage.load_npz(a)
    assert metadata == {"seed": 1} and set(got) == {"x", "label"}
    np.testing.assert_array_equal(got["x"], arrays["x"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.npz"]


def _run_together(code: str, n: int, env: dict) -> None:
    """Start ``n`` Python processes running ``code`` (with ``WORKER`` = 0 .. n - 1) at once; all must succeed."""
    procs = [subprocess.Popen([sys.executable, "-c", f"WORKER = {k}\n" + textwrap.dedent(code)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for k in range(n)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    failed = [(k, out) for k, (p, out) in enumerate(zip(procs, outputs)) if p.returncode != 0]
    assert not failed, f"{len(failed)} of {n} writers failed; the first:\n{failed[0][1][-3000:]}"


@pytest.mark.slow
def test_concurrent_manifest_writers_lose_no_entry(data_folder):
    # a student's notebook and `make data` may write the manifest at the same time
    writers, entries = 8, 10
    code = f"""
        import time
        from utils import storage
        time.sleep(max(0.0, {__import__("time").time() + 2.0} - time.time()))  # all start together
        for i in range({entries}):
            storage.write_manifest_entry(f"w{{WORKER}}_{{i}}.npz", {{"size": i, "sha256": "0" * 64, "worker": WORKER}})
    """
    _run_together(code, writers, {**os.environ, "COURSE_DATA_DIR": str(data_folder)})
    manifest = json.loads(storage.manifest_path().read_text())  # valid JSON
    assert set(manifest) == {f"w{w}_{i}.npz" for w in range(writers) for i in range(entries)}
    assert manifest == storage.read_manifest() and list(manifest) == sorted(manifest)
    assert all(manifest[f"w{w}_{i}.npz"] == {"size": i, "sha256": "0" * 64, "worker": w}
               for w in range(writers) for i in range(entries))
    assert sorted(p.name for p in data_folder.iterdir()) == ["manifest.json", "manifest.json.lock"]


@pytest.mark.slow
def test_concurrent_save_npz_to_one_path_leaves_a_valid_file(tmp_path):
    path = tmp_path / "sample.npz"
    code = f"""
        import time
        import numpy as np
        from utils import storage
        arrays = {{"x": np.full(200_000, WORKER, dtype=np.float32)}}
        time.sleep(max(0.0, {__import__("time").time() + 2.0} - time.time()))
        for i in range(20):
            storage.save_npz({str(path)!r}, arrays, {{"worker": WORKER}})
    """
    _run_together(code, 2, dict(os.environ))
    arrays, metadata = storage.load_npz(path)
    assert metadata["worker"] in (0, 1)
    np.testing.assert_array_equal(arrays["x"], np.full(200_000, metadata["worker"], dtype=np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["sample.npz"], "no temporary file is left"
