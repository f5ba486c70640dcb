"""CIFAR-10 on the host: ``.npz`` shards or the official ``cifar-10-batches-py`` layout, with checksums.

Torch-free (numpy only). Every problem with the data is one :class:`normlaws.errors.UsageError` naming the file
and what was expected. Nothing is ever unpickled: ``.npz`` shards are read with ``allow_pickle=False`` and the
official batch files (pickles) are decoded as plain data by :mod:`normlaws.gpu.batchfile`. The dataset is never
part of the project: it is read from ``--data``, else ``$NORMLAWS_DATA``, else ``../shared/data/cifar10``
beside the repository, else ``./data``.
"""
from __future__ import annotations

import hashlib
import os
import tarfile
import zipfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UsageError
from .batchfile import BatchFileError, read_batch

#: SHA-256 of the ``.npz`` shards (from ../shared/data/cifar10/README.md); 10,000 images each
NPZ_SHA256 = {
    "train_0.npz": "38504a15911465c1cf21ddb1e1778b51f53a29549ea55a17f19c30b4e339a313",
    "train_1.npz": "7c7cc282b367d49057466c786d6e91163b9e82005e90044a933c5fe2ee0435f9",
    "train_2.npz": "6fe396bfbfd2eb52779e94c57c6ecf3e5c59ff4c096a43a8a5ab50183bd7e630",
    "train_3.npz": "e59551e769973bb6756e5159f997ee734132a9ba4e50c6c795a38c74a723b8f0",
    "train_4.npz": "dd2917a4625e175c93fe36dd4893d428b0ddc13a3850e7a24e8165f535115a25",
    "test.npz": "b206f77a57d4a7927e619536d95a3f9f5c64f6ffe8d1a094dddba81bf45296c2",
}
TRAIN_SHARDS = tuple(f"train_{i}.npz" for i in range(5))
TEST_SHARDS = ("test.npz",)

#: MD5 of the official archive and of its batch files (https://www.cs.toronto.edu/~kriz/cifar.html)
ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
BATCHES_DIR = "cifar-10-batches-py"
BATCHES_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)

NUM_CLASSES = 10
IMAGE_SHAPE = (32, 32, 3)


@dataclass
class Cifar10:
    """CIFAR-10 images as uint8 (N, 32, 32, 3) RGB arrays with uint8 labels, and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def channel_stats(self) -> tuple:
        """Per-channel mean and standard deviation of the training images on the 0..255 scale."""
        x = self.x_train.reshape(-1, 3).astype(np.float64)
        return x.mean(0), x.std(0)


def repo_root() -> Path:
    """The repository holding this package (``gpu/`` is at its top level)."""
    return Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    """``$NORMLAWS_DATA`` if set, else ``../shared/data/cifar10`` beside the repository if it exists, else ./data."""
    if os.environ.get("NORMLAWS_DATA"):
        return Path(os.environ["NORMLAWS_DATA"])
    shared = repo_root().parent / "shared" / "data" / "cifar10"
    return shared if shared.is_dir() else Path("data")


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file's bytes (``'sha256'`` or ``'md5'``), read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: Path, expected: str | None, algorithm: str) -> None:
    """Raise a :class:`UsageError` naming ``path`` if it is missing or its digest is not ``expected``."""
    if not path.is_file():
        raise UsageError(f"{path}: missing (expected a CIFAR-10 file there)")
    if expected is None:
        return
    got = file_digest(path, algorithm)
    if got != expected:
        raise UsageError(f"{path}: {algorithm.upper()} is {got}, expected {expected} (corrupt or not the "
                         f"official CIFAR-10 file)")


def check_arrays(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Raise a :class:`UsageError` naming ``path`` unless x is uint8 (N, 32, 32, 3) and y uint8 (N,) in 0..9."""
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != IMAGE_SHAPE:
        raise UsageError(f"{path}: images have dtype {x.dtype} and shape {x.shape}, expected uint8 (N, 32, 32, 3)")
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise UsageError(f"{path}: labels have dtype {y.dtype} and shape {y.shape}, expected integers "
                         f"({x.shape[0]},)")
    if y.size and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise UsageError(f"{path}: labels outside 0..9")


def _take(parts: list, n: int | None) -> tuple:
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts]).astype(np.uint8)
    return (x, y) if n is None else (x[:n], y[:n])


def _needed(names: tuple, n: int | None, per_file: int = 10_000) -> tuple:
    """The leading files needed for the first ``n`` images (all if ``n`` is None)."""
    return names if n is None else names[:max(1, -(-n // per_file))]


def load_npz_shard(path: Path, expected_sha256: str | None) -> tuple:
    """One ``.npz`` shard (keys ``x``, ``y``), verified against its SHA-256 when one is given."""
    verify_file(path, expected_sha256, "sha256")
    try:
        with np.load(path, allow_pickle=False) as shard:
            if "x" not in shard or "y" not in shard:
                raise UsageError(f"{path}: has keys {sorted(shard.files)}, expected 'x' and 'y'")
            x, y = shard["x"], shard["y"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise UsageError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    check_arrays(path, x, y)
    return x, y


def load_batch_file(path: Path, expected_md5: str | None) -> tuple:
    """One file of the official pickle layout (``b'data'`` uint8 (N, 3072) CHW, ``b'labels'``) as NHWC arrays,
    decoded without unpickling (:func:`normlaws.gpu.batchfile.read_batch`)."""
    verify_file(path, expected_md5, "md5")
    try:
        batch = read_batch(path.read_bytes())
        data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    except BatchFileError as exc:
        raise UsageError(f"{path}: not a CIFAR-10 batch file: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{path}: not a CIFAR-10 batch file (no {exc} array of numbers)") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise UsageError(f"{path}: data has dtype {data.dtype} and shape {data.shape}, expected uint8 (N, 3072)")
    x = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    check_arrays(path, x, labels)
    return x, labels.astype(np.uint8)


def locate(root=None, download: bool = False) -> tuple:
    """``(layout, folder)``: ``('npz', root)`` or ``('batches', folder of data_batch_1)``, or ``('download', root)``
    when there is none yet and ``download`` is set; else one :class:`UsageError` line (nothing is read)."""
    root = Path(root) if root is not None else default_data_dir()
    if root.exists() and not root.is_dir():
        raise UsageError(f"--data {root}: not a folder")
    if (root / TRAIN_SHARDS[0]).exists() or (root / TEST_SHARDS[0]).exists():
        return "npz", root
    batches = root / BATCHES_DIR if (root / BATCHES_DIR).is_dir() else root
    if (batches / TRAIN_BATCHES[0]).exists():
        return "batches", batches
    if download:
        return "download", root
    raise UsageError(f"{root}: no CIFAR-10 there (expected train_0.npz ... test.npz, or "
                     f"{BATCHES_DIR}/data_batch_1 ...); pass --data DIR or --download")


def load_cifar10(root=None, n_train: int | None = None, n_test: int | None = None, *, download: bool = False,
                 checksums: dict | None = None) -> Cifar10:
    """CIFAR-10 from ``root``: ``.npz`` shards if ``train_0.npz`` is there, else the pickle layout.

    Only the files needed for the first ``n_train`` / ``n_test`` images are read (and verified). ``checksums``
    overrides the expected digests by file name (``{}`` verifies shapes only; for synthetic test data).
    """
    root = Path(root) if root is not None else default_data_dir()
    layout, batches = locate(root, download)
    if layout == "npz":
        table = NPZ_SHA256 if checksums is None else checksums
        load = lambda name: load_npz_shard(root / name, table.get(name))  # noqa: E731
        train = [load(n) for n in _needed(TRAIN_SHARDS, n_train)]
        test = [load(n) for n in _needed(TEST_SHARDS, n_test)]
        source = f"npz shards in {root}"
    else:
        if layout == "download":
            batches = download_cifar10(root)
        table = BATCHES_MD5 if checksums is None else checksums
        load = lambda name: load_batch_file(batches / name, table.get(name))  # noqa: E731
        train = [load(n) for n in _needed(TRAIN_BATCHES, n_train)]
        test = [load(n) for n in _needed(TEST_BATCHES, n_test)]
        source = f"official batches in {batches}"
    (x_train, y_train), (x_test, y_test) = _take(train, n_train), _take(test, n_test)
    for n, x, what in ((n_train, x_train, "training"), (n_test, x_test, "test")):
        if n is not None and len(x) < n:
            raise UsageError(f"{root}: only {len(x)} {what} images, {n} asked for")
    return Cifar10(x_train, y_train, x_test, y_test, source)


def download_cifar10(root: Path, url: str = ARCHIVE_URL, timeout: float = 60.0) -> Path:
    """Download the official archive into ``root``, check its MD5, unpack ``cifar-10-batches-py``.

    Without a network this is one :class:`UsageError` line saying so and where to put the files instead.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    archive = root / "cifar-10-python.tar.gz"
    if not archive.exists() or file_digest(archive, "md5") != ARCHIVE_MD5:
        partial = archive.with_suffix(".part")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
        except (urllib.error.URLError, OSError) as exc:
            partial.unlink(missing_ok=True)
            reason = getattr(exc, "reason", exc)
            raise UsageError(f"cannot download {url} ({reason}); put CIFAR-10 (.npz shards or "
                             f"{BATCHES_DIR}) in {root} or pass --data DIR") from None
        os.replace(partial, archive)
    verify_file(archive, ARCHIVE_MD5, "md5")
    with tarfile.open(archive, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(BATCHES_DIR + "/") and m.isfile()]
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(root, members=members, **extra)  # names checked above, archive MD5 verified
    return root / BATCHES_DIR
