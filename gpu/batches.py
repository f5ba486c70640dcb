"""CIFAR-10 resident on the device, and augmentation there: batches are index slices, no DataLoader.

Images are normalised once (per-channel mean and standard deviation of the training images used) and kept
as float32 (or float64, for exact tests) (N, 3, S, S) on the device: S = 32, or the real images average-pooled
to S = 16 or 8 (``image_size``; the CPU preset). Each epoch draws one permutation; each batch is a slice of
it, gathered, randomly translated by up to ``translate * S/32`` pixels each way (zero padding after
normalisation, i.e. the mean colour) and flipped horizontally with probability 1/2. All models of an ensemble
see the same batch.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .data import Cifar10


def _to_device(x: np.ndarray, mean, std, device, size: int = 32, dtype=torch.float32) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(x)).to(device).permute(0, 3, 1, 2).to(dtype)
    mean_t = torch.as_tensor(mean, dtype=dtype, device=device).view(1, 3, 1, 1)
    std_t = torch.as_tensor(std, dtype=dtype, device=device).view(1, 3, 1, 1)
    t = (t - mean_t) / std_t
    if size != t.shape[-1]:
        t = F.avg_pool2d(t, t.shape[-1] // size)
    return t.contiguous()


def translate_flip(x: torch.Tensor, generator: torch.Generator, translate: int, flip: bool) -> torch.Tensor:
    """Random translations of up to ``translate`` pixels (zero fill) and horizontal flips of a batch (B, C, H, W)."""
    b, c, h, w = x.shape
    dev = x.device
    if translate:
        t = translate
        padded = F.pad(x, (t, t, t, t))
        dy = torch.randint(0, 2 * t + 1, (b,), generator=generator, device=dev)
        dx = torch.randint(0, 2 * t + 1, (b,), generator=generator, device=dev)
        rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, None, :]
        x = padded[torch.arange(b, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
                   rows, cols]
    if flip:
        mirror = torch.rand(b, generator=generator, device=dev) < 0.5
        x = torch.where(mirror[:, None, None, None], x.flip(3), x)
    return x


class DeviceData:
    """Normalised CIFAR-10 tensors on one device, with epoch batches and test batches."""

    def __init__(self, cifar: Cifar10, device, image_size: int = 32, dtype=torch.float32):
        self.device = torch.device(device)
        mean, std = cifar.channel_stats()
        self.mean, self.std, self.image_size = mean, std, int(image_size)
        self.x_train = _to_device(cifar.x_train, mean, std, self.device, self.image_size, dtype)
        self.y_train = torch.from_numpy(cifar.y_train.astype(np.int64)).to(self.device)
        self.x_test = _to_device(cifar.x_test, mean, std, self.device, self.image_size, dtype)
        self.y_test = torch.from_numpy(cifar.y_test.astype(np.int64)).to(self.device)
        self.source = cifar.source

    def steps_per_epoch(self, batch_size: int) -> int:
        """Full batches per epoch (the last incomplete batch is dropped: BN sees equal batch sizes)."""
        return len(self.y_train) // batch_size

    def train_batches(self, generator: torch.Generator, batch_size: int, translate: int = 4, flip: bool = True):
        """One epoch of augmented batches ``(x, y)`` in the order of one random permutation; ``translate`` in
        32-pixel units (``translate * S // 32`` pixels at image size S)."""
        order = torch.randperm(len(self.y_train), generator=generator, device=self.device)
        shift = translate * self.image_size // 32
        for i in range(self.steps_per_epoch(batch_size)):
            idx = order[i * batch_size:(i + 1) * batch_size]
            yield translate_flip(self.x_train[idx], generator, shift, flip), self.y_train[idx]

    def test_batches(self, batch_size: int):
        """The test set in slices of ``batch_size`` (no augmentation)."""
        for i in range(0, len(self.y_test), batch_size):
            yield self.x_test[i:i + batch_size], self.y_test[i:i + batch_size]
