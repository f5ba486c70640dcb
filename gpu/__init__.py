"""The training leg: the paper's Section 6 experiment with torch (CIFAR-10, a 4-layer BN ConvNet, (eta, lam) grids).

The paper does not give its network. Ours (default widths C1..C4 = 32, 64, 128, 256), for 32x32 RGB input:

====  ============================================================  ==============
block layers                                                        output
====  ============================================================  ==============
1     conv 3x3, 3 -> C1, stride 1, padding 1, no bias; BN; ReLU;    C1 x 16 x 16
      max-pool 2x2
2     conv 3x3, C1 -> C2, no bias; BN; ReLU; max-pool 2x2           C2 x 8 x 8
3     conv 3x3, C2 -> C3, no bias; BN; ReLU; max-pool 2x2           C3 x 4 x 4
4     conv 3x3, C3 -> C4, no bias; BN; ReLU; global average pool    C4
head  linear C4 -> 10, with bias; softmax cross-entropy (batch mean)
====  ============================================================  ==============

BatchNorm: eps 1e-5, running-statistics momentum 0.1, learnable gain and shift (initialised 1 and 0), full
backward through the batch statistics. Initialisation: torch's defaults (Kaiming-uniform with a = sqrt(5)).
L2 (the paper's ``lam``, penalty ``lam*||w||^2``) on the conv weights and the head's weight; none on BN
parameters or the head's bias (Section 7: the paper did not regularise gamma and beta).

The *invariant* network (``TrainConfig(network="invariant")``, :mod:`normlaws.gpu.model`) makes every trained
parameter scale-invariant, as Li & Arora 2020 and Kodryan et al. 2022 do: BN without affine parameters, the head
frozen at its random initialisation (no bias, weight rescaled to Frobenius norm 10), only the conv weights
trained and decayed. It is the network the theory's laws are tested on; the standard one is the paper's setting,
reported beside it.

Training (Section 6): batch 128, 100 epochs, learning rate divided by 10 after epochs 50 and 80; random
translations of up to 4 pixels and horizontal flips. Update rules: see :mod:`normlaws.gpu.optim`.

This ``__init__`` imports no torch: ``architecture_description`` and the modules ``config``, ``data``,
``analysis``, ``fits``, ``presets``, ``checks`` and ``figures`` work without it; ``model``, ``optim``, ``batches``,
``train``,
``sweep`` (when running) and ``bench`` need torch.
"""
from __future__ import annotations

from .config import DEFAULT_WIDTHS

#: Frobenius norm of the invariant network's frozen head (Lobacheva et al. 2021, Kodryan et al. 2022: 10);
#: torch-free here, used by ``normlaws.gpu.model``
HEAD_NORM = 10.0


def architecture_description(widths=DEFAULT_WIDTHS, network: str = "standard", image_size: int = 32) -> str:
    """The exact architecture for ``widths`` (C1..C4), the network and the input size, in one paragraph.

    >>> architecture_description((8, 16, 16, 32)).split(';')[0]
    '4-layer BN ConvNet on 3x32x32 input: conv3x3(3->8, pad 1, no bias)-BN-ReLU-maxpool2'
    """
    c1, c2, c3, c4 = (int(w) for w in widths)
    s = int(image_size)
    pooled = "" if s == 32 else " (CIFAR-10 average-pooled from 32x32)"
    trunk = (f"4-layer BN ConvNet on 3x{s}x{s} input{pooled}: conv3x3(3->{c1}, pad 1, no bias)-BN-ReLU-maxpool2; "
             f"conv3x3({c1}->{c2})-BN-ReLU-maxpool2; conv3x3({c2}->{c3})-BN-ReLU-maxpool2; "
             f"conv3x3({c3}->{c4})-BN-ReLU-global-avg-pool; ")
    if network == "invariant":
        return trunk + (f"linear({c4}->10, no bias), frozen at its random initialisation rescaled to Frobenius "
                        f"norm {HEAD_NORM:g}. BN eps 1e-5, momentum 0.1, no affine parameters; torch default init; "
                        "only the conv weights are trained (every trained parameter scale-invariant), all decayed")
    return trunk + (f"linear({c4}->10, bias). BN eps 1e-5, momentum 0.1, affine; torch default init; L2 on conv and "
                    "head weights only")
