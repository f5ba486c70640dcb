"""CIFAR-10 loading: checksums, one clear error per bad file, both layouts, and the device-side augmentation."""
import hashlib
import pickle
import re
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from normlaws.errors import UsageError
from normlaws.gpu import data as cifar

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10"


def synthetic(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def shards(tmp_path):
    """train_0.npz (30 images) and test.npz (10 images), and their own SHA-256 table."""
    arrays = {"train_0.npz": synthetic(30, 0), "test.npz": synthetic(10, 1)}
    for name, (x, y) in arrays.items():
        np.savez_compressed(tmp_path / name, x=x, y=y)
    table = {name: sha256(tmp_path / name) for name in arrays}
    return tmp_path, arrays, table


def test_npz_shards_load_and_verify(shards):
    root, arrays, table = shards
    data = cifar.load_cifar10(root, n_train=25, n_test=10, checksums=table)
    np.testing.assert_array_equal(data.x_train, arrays["train_0.npz"][0][:25])
    np.testing.assert_array_equal(data.y_test, arrays["test.npz"][1])


def test_wrong_checksum_is_one_error_naming_the_file(shards):
    root, _, table = shards
    bad = dict(table, **{"test.npz": "0" * 64})
    with pytest.raises(UsageError, match=r"test\.npz: SHA256 is [0-9a-f]{64}, expected 0{64}"):
        cifar.load_cifar10(root, 20, 10, checksums=bad)


def test_official_table_rejects_a_look_alike_shard(shards):
    root, _, _ = shards
    with pytest.raises(UsageError, match=r"train_0\.npz: SHA256"):
        cifar.load_cifar10(root, 20, 10)


def test_missing_file_is_named(shards):
    root, _, table = shards
    (root / "test.npz").unlink()
    with pytest.raises(UsageError, match=r"test\.npz: missing"):
        cifar.load_cifar10(root, 20, 10, checksums=table)


def test_wrong_shape_is_named(tmp_path):
    x, y = synthetic(5, 2)
    np.savez(tmp_path / "train_0.npz", x=x[..., 0], y=y)
    np.savez(tmp_path / "test.npz", x=x, y=y)
    with pytest.raises(UsageError, match=r"train_0\.npz: images have dtype uint8 and shape \(5, 32, 32\), "
                                         r"expected uint8 \(N, 32, 32, 3\)"):
        cifar.load_cifar10(tmp_path, 5, 5, checksums={})


def test_too_few_images_is_an_error(shards):
    root, _, table = shards
    with pytest.raises(UsageError, match="only 30 training images, 40 asked for"):
        cifar.load_cifar10(root, 40, 10, checksums=table)


def test_empty_folder_says_what_is_expected(tmp_path):
    with pytest.raises(UsageError, match="no CIFAR-10 there"):
        cifar.load_cifar10(tmp_path, 10, 10)


def write_batches(folder, arrays):
    folder.mkdir()
    for name, (x, y) in arrays.items():
        payload = {b"data": x.transpose(0, 3, 1, 2).reshape(len(x), -1), b"labels": y.tolist()}
        (folder / name).write_bytes(pickle.dumps(payload))


def test_official_pickle_layout_gives_the_same_images(tmp_path):
    arrays = {"data_batch_1": synthetic(20, 3), "test_batch": synthetic(8, 4)}
    write_batches(tmp_path / cifar.BATCHES_DIR, arrays)
    data = cifar.load_cifar10(tmp_path, 20, 8, checksums={})
    np.testing.assert_array_equal(data.x_train, arrays["data_batch_1"][0])   # CHW rows became HWC images
    np.testing.assert_array_equal(data.y_test, arrays["test_batch"][1])
    with pytest.raises(UsageError, match=r"data_batch_1: MD5 is [0-9a-f]{32}, expected c99cafc1"):
        cifar.load_cifar10(tmp_path, 20, 8)                                 # the official MD5 table


def test_download_without_network_is_one_clear_line(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")
    monkeypatch.setattr(cifar.urllib.request, "urlopen", offline)
    with pytest.raises(UsageError, match=r"^cannot download https://www\.cs\.toronto\.edu/.*no route to host"):
        cifar.load_cifar10(tmp_path, 10, 10, download=True)
    assert not list(tmp_path.glob("*.part"))


def test_default_data_dir_prefers_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NORMLAWS_DATA", str(tmp_path))
    assert cifar.default_data_dir() == tmp_path


@pytest.mark.skipif(not (SHARED / "README.md").exists(), reason="no ../shared/data/cifar10/README.md")
def test_hash_table_matches_the_datasets_readme():
    text = (SHARED / "README.md").read_text()
    table = dict(re.findall(r"\|\s*(\S+\.npz)\s*\|.*\|\s*([0-9a-f]{64})\s*\|", text))
    assert table == cifar.NPZ_SHA256


@pytest.mark.skipif(not (SHARED / "test.npz").exists(), reason="real CIFAR-10 shards are absent")
def test_real_test_shard_verifies_and_loads():
    data = cifar.load_cifar10(SHARED, n_train=10, n_test=10_000)   # verifies train_0.npz and test.npz
    assert data.x_test.shape == (10_000, 32, 32, 3) and data.x_test.dtype == np.uint8
    # anchors listed in the dataset's README (first test image: a cat; first ten labels)
    np.testing.assert_array_equal(data.x_test[0, 0, :3], [[158, 112, 49], [159, 111, 47], [165, 116, 51]])
    np.testing.assert_array_equal(data.y_test[:10], [3, 8, 8, 0, 6, 6, 1, 6, 3, 1])
    assert np.bincount(data.y_test, minlength=10).tolist() == [1000] * 10


# --- on the device -----------------------------------------------------------------------------------

def test_translate_flip_is_a_shift_with_zero_fill_or_its_mirror():
    torch = pytest.importorskip("torch")
    from normlaws.gpu.batches import translate_flip
    g = torch.Generator().manual_seed(0)
    x = torch.randn(24, 3, 8, 8, generator=g)
    out = translate_flip(x, g, 2, True)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    found = set()
    for i in range(len(x)):
        matches = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (False, True)
                   if torch.equal(out[i], (lambda c: c.flip(2) if f else c)(padded[i, :, dy:dy + 8, dx:dx + 8]))]
        assert matches, f"image {i} is not a shifted (and maybe mirrored) copy"
        found.update(matches)
    assert len({m[:2] for m in found}) > 5 and {m[2] for m in found} == {False, True}   # really random
    assert torch.equal(translate_flip(x, g, 0, False), x)


def test_device_data_is_normalised_with_the_training_statistics():
    torch = pytest.importorskip("torch")
    from normlaws.gpu.batches import DeviceData
    x, y = synthetic(64, 5)
    data = DeviceData(cifar.Cifar10(x, y, x[:16], y[:16], "synthetic"), "cpu")
    mean = data.x_train.mean((0, 2, 3))
    std = data.x_train.permute(1, 0, 2, 3).reshape(3, -1).std(1, unbiased=False)
    torch.testing.assert_close(mean, torch.zeros(3), rtol=0, atol=1e-5)
    torch.testing.assert_close(std, torch.ones(3), rtol=1e-5, atol=1e-5)
    g = torch.Generator().manual_seed(1)
    seen = torch.cat([yb for _, yb in data.train_batches(g, 16, 4, True)])
    assert data.steps_per_epoch(16) == 4 and sorted(seen.tolist()) == sorted(y.tolist())   # a permutation
