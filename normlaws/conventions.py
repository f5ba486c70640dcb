"""Named conventions, and the conversions between them at the boundary.

The suite's canonical convention is the paper's penalty: ``L_lambda(w) = L(w) + lambda * ||w||^2``, so the
penalty's gradient is ``2*lambda*w`` and one SGD step scales ``w`` by ``(1 - 2*eta*lambda)``. PyTorch's
``weight_decay=wd`` adds ``wd*w`` to the gradient (a per-step factor ``(1 - eta*wd)`` for SGD), i.e. the
penalty ``wd/2 * ||w||^2``; so ``wd = 2*lambda``. AdamW's decoupled ``weight_decay=wd`` multiplies ``w`` by
``(1 - eta*wd)`` outside the adaptive preconditioner.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from . import rules


@dataclass(frozen=True)
class Convention:
    """How the L2 term, the loss reduction and the BN backward pass are meant in a formula or a run."""

    name: str
    penalty: str          # "lambda_sq": L + lambda*||w||^2 (gradient 2*lambda*w); "half": L + lambda/2*||w||^2;
    #                       "decoupled": no penalty, w <- (1 - eta*lambda) w outside the step (AdamW, Lion)
    loss_reduction: str   # "mean" over the batch, or "sum"
    bn_backward: str      # "full" backpropagation through the batch statistics, or "stop_gradient"

    def describe(self) -> str:
        """One line for reports and records."""
        pen = {"lambda_sq": "L(w) + lambda*||w||^2 (gradient 2*lambda*w)",
               "half": "L(w) + lambda/2*||w||^2 (gradient lambda*w)",
               "decoupled": "none; decoupled decay w <- (1 - eta*lambda) w outside the step"}[self.penalty]
        return f"{self.name}: penalty {pen}; loss {self.loss_reduction} over the batch; BN backward {self.bn_backward}"

    def as_dict(self) -> dict:
        """The convention as a JSON-ready dict."""
        return asdict(self)


#: The suite's canonical convention (the paper's penalty, frameworks' full BN backward, batch-mean loss).
CANONICAL = Convention("paper-l2", penalty="lambda_sq", loss_reduction="mean", bn_backward="full")
#: The paper's Section 3 analysis: gradients stopped at the batch mean and standard deviation.
PAPER_STOP_GRADIENT = Convention("paper-l2-stopgrad", penalty="lambda_sq", loss_reduction="mean",
                                 bn_backward="stop_gradient")
#: AdamW and Lion: decoupled decay (torch ``AdamW(weight_decay=lambda)``).
DECOUPLED = Convention("decoupled", penalty="decoupled", loss_reduction="mean", bn_backward="full")
#: PyTorch's ``weight_decay`` argument.
TORCH = Convention("torch-weight-decay", penalty="half", loss_reduction="mean", bn_backward="full")


def torch_weight_decay(lam: float) -> float:
    """PyTorch ``weight_decay`` for the paper's ``lambda`` (penalty ``lambda*||w||^2``).

    >>> torch_weight_decay(5e-4)
    0.001
    """
    return 2.0 * lam


def paper_lambda(weight_decay: float) -> float:
    """The paper's ``lambda`` for PyTorch's coupled ``weight_decay`` (the inverse of :func:`torch_weight_decay`).

    >>> paper_lambda(1e-3)
    0.0005
    """
    return weight_decay / 2.0


def adamw_weight_decay(lam: float) -> float:
    """``torch.optim.AdamW(weight_decay=...)`` for a decoupled-decay ``lam``: the same number.

    Decoupled rules (AdamW, Lion) are stated with the per-step factor ``(1 - eta*lam)``, as Loshchilov & Hutter
    and PyTorch write them; their ``lam`` is not the penalty's (``theory.updates`` and ``theory.section4`` use
    this convention for AdamW).

    >>> adamw_weight_decay(0.01)
    0.01
    """
    return lam




def run_convention(rule: str, bn_backward: str = "full") -> Convention:
    """The named convention of a run of ``rule`` (decoupled for AdamW and Lion, the canonical penalty otherwise)."""
    if rules.is_decoupled(rule):
        return Convention("decoupled", "decoupled", "mean", bn_backward)
    return PAPER_STOP_GRADIENT if bn_backward == "stop_gradient" else CANONICAL


def rule_decay(rule: str) -> str:
    """The convention of ``lam`` for an update rule, in one phrase (every simulated or trained run names it).

    >>> rule_decay("adamw")
    'decoupled decay: w <- (1 - eta*lam) w outside the step (torch weight_decay = lam)'
    >>> rule_decay("sgd")
    'L2 penalty lam*||w||^2 in the gradient (2*lam*w; torch weight_decay = 2*lam)'
    """
    if rules.is_decoupled(rule):
        return "decoupled decay: w <- (1 - eta*lam) w outside the step (torch weight_decay = lam)"
    if rule == "normalized":
        return "L2 penalty lam*||w||^2 in the gradient (2*lam*w), then w <- w/||w||"
    return "L2 penalty lam*||w||^2 in the gradient (2*lam*w; torch weight_decay = 2*lam)"


def bn_unit_convention(loss: str, backward: str) -> str:
    """The BN unit's loss normalization and backward pass, in one phrase.

    >>> bn_unit_convention("sum", "stop_gradient")
    'BN unit: loss summed over the batch, gradient stopped at the batch mean and std'
    """
    how = "loss summed over the batch" if loss == "sum" else "loss averaged over the batch"
    back = ("gradient stopped at the batch mean and std" if backward == "stop_gradient"
            else "full backward through the batch mean and std")
    return f"BN unit: {how}, {back}"
