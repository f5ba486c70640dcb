"""``Monitor``: the derived equilibria of a run's scale-invariant groups against the measured ones, during training.

Attach it to your own torch model and optimizer::

    monitor = Monitor(model, optimizer, sample_input=x[:8], every=10, jsonl="run/monitor.jsonl")
    for x, y in loader:                       # your loop, unchanged
        loss_fn(model(x), y).backward()
        optimizer.step()                      # every 10th step the monitor measures this step
        optimizer.zero_grad()
    print(monitor.last)                       # the latest record, a dict (also: monitor.flat() for any logger)

It finds the scale-invariant tensors and groups with :func:`normlaws.audit.audit` (run once, on ``sample_input``),
and hooks the optimizer's ``step`` (``register_step_pre_hook``/``register_step_post_hook``). Every ``every`` steps
it records, per watch (an invariant tensor, per channel or per layer, or a jointly invariant group):

* measured: the mean angle per step and squared chord ratio ``||w' - w||^2/||w||^2`` over the live units, the
  median norm, the mean ``||grad L||/||w||`` (loss gradient alone) over the live units, the effective learning
  rate ``eta/||w||^k`` at the median norm (``k`` from the rule's equivariance), the median unit-scale gradient
  moment ``C = ||grad L||^2 ||w||^2``, and the units collapsed (norm below ``COLLAPSED`` of the initial mean);
* derived, at the group's current ``eta`` and ``lam`` (read from its param group, so schedules are followed), its
  dimension ``d`` and ``C`` (an exponential average over records, weight ``C_WEIGHT``):
  ``simulate.predict.equilibrium``'s angle, chord ratio, norm and ``sqrt(E||grad L||^2/E||w||^2)``, the effective
  learning rate at the equilibrium norm, and the relaxation time (``advise_theory.relaxation``: the drop claim's
  where derived, else the moment map's);
* the relaxation clock: relaxation times elapsed since ``eta lam`` last changed by more than ``CHANGE`` between two
  records (or since the monitor started), summed record by record at each interval's own relaxation time; and
  ``at_equilibrium`` with the ``criterion`` used (at least ``relaxed_taus`` of them).

The measured angle is a mean of angles, the derived one ``acos`` of a moment ratio; they differ by the step's
fluctuations (order ``theta*/d``), and the measured gradient ratio is a mean of ratios (Jensen, order ``1/d``).
Predictions are refreshed when ``eta`` or ``lam`` moved by more than ``REFRESH`` since the last refresh, or ``C`` by
more than ``C_REFRESH`` and ``C_EVERY`` records have passed (the memory of ``C``'s average): the derived norm of SGD-type rules (``~ C^(1/4)``) is then off by at most 2.4 %, AdamW's
gradient ratio (``~ C^(1/2)``) by 5 %; the angle and relaxation time of SGD, momentum, Nesterov, AdamW and Lion do
not depend on ``C``. A refresh costs one ``predict.equilibrium`` per watch (a few ms; ~50 ms for torch's Nesterov,
whose moment map is 3x3).

Outputs: ``monitor.last`` (nested), :meth:`flat` (``"G1/angle": value``) and ``loggers`` (callables taking the
flat dict and the step), JSON Lines (``jsonl=``, :func:`normlaws.records.append_record`), TensorBoard
(``tensorboard=LOG_DIR``, needs ``tensorboard``), and a Lightning callback (:mod:`normlaws.monitor_outputs`).
Optimizers without step hooks (the harness's ensemble optimizer) call :meth:`before_step` and :meth:`after_step`.
"""
from __future__ import annotations

import math

import numpy as np

from . import monitor_units as units
from .audit_report import WHY_ONE_ENTRY, WHY_ZERO_GRADIENT
from .errors import UsageError
from .audit import audit
from .monitor_outputs import JsonLines, TensorBoard
from .monitor_predict import C_EVERY, C_REFRESH, C_WEIGHT, CHANGE, REFRESH, predicted  # noqa: F401 - tuning
from .monitor_rules import PREDICTED_AS, check_rule, group_of, infer_rule, watch_hyper

#: the audit needs an optimizer name only for its predictions, which the monitor does not use
AUDIT_RULE = {"nesterov_torch": "nesterov", "rmsprop_torch": "rmsprop", "lion": "adamw"}


class Monitor:
    """Measured against derived equilibria of the invariant groups, every ``every`` steps (module docstring)."""

    def __init__(self, model, optimizer, sample_input=None, *, rule: str | None = None, every: int = 10,
                 watches=None, model_axis: bool = False, hyper=None, loggers=(), jsonl=None, tensorboard=None,
                 relaxed_taus: float = 3.0, attach: bool = True, seed: int = 0):
        if not (isinstance(every, int) and every >= 1):
            raise UsageError(f"every must be a whole number >= 1, got {every!r}")
        self.rule = check_rule(rule) if rule else infer_rule(optimizer)
        self.optimizer, self.every, self.relaxed_taus = optimizer, every, float(relaxed_taus)
        self.watches = list(watches) if watches is not None else self._audit(model, sample_input, model_axis, seed)
        self._hyper = hyper
        self.criterion = (f"at least {self.relaxed_taus:g} derived relaxation times since eta*lam last changed by more "
                          f"than {CHANGE:.0%} (a deviation decays to e^-{self.relaxed_taus:g} = "
                          f"{math.exp(-self.relaxed_taus):.0%})")
        self.loggers = list(loggers)
        self.loggers += [JsonLines(jsonl)] if jsonl else []
        self.loggers += [TensorBoard(tensorboard)] if tensorboard else []
        self.floor = {w.name: units.COLLAPSED * float(np.mean(_unit_norms(w))) for w in self.watches}
        self.state = {}
        self.steps, self.last, self._pending, self._handles = 0, None, None, []
        if attach:
            self.attach()

    @staticmethod
    def _audit(model, sample_input, model_axis, seed):
        if sample_input is None:
            raise UsageError("Monitor needs sample_input (a batch the model accepts: the audit finds the invariant "
                             "groups on it) or watches=")
        report = audit(model, sample_input, seed=seed)
        return units.watches_from_audit(report, model, model_axis)

    # ---- the optimizer's hooks ---------------------------------------------------------------------------------
    def attach(self) -> None:
        """Hook the optimizer's ``step`` (torch >= 2.0 optimizers)."""
        if not hasattr(self.optimizer, "register_step_pre_hook"):
            raise UsageError(f"{type(self.optimizer).__name__} has no step hooks; call before_step() and "
                             "after_step() around its step, with attach=False")
        self._handles = [self.optimizer.register_step_pre_hook(lambda *a: self.before_step()),
                         self.optimizer.register_step_post_hook(lambda *a: self.after_step())]

    def detach(self) -> None:
        """Remove the hooks (attach again with :meth:`attach`)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def close(self) -> None:
        """Remove the hooks and close the loggers that hold files."""
        self.detach()
        for logger in self.loggers:
            getattr(logger, "close", lambda: None)()

    def before_step(self) -> None:
        """Copy the invariant units before a step that is to be recorded."""
        if self.steps % self.every == 0:
            self._pending = [units.before_step(w) for w in self.watches]

    def after_step(self) -> dict | None:
        """Measure the step just taken (when it is to be recorded), emit the record and return it."""
        pending, self._pending = self._pending, None
        step, self.steps = self.steps, self.steps + 1
        if pending is None:
            return None
        import torch
        stats = torch.cat([units.step_statistics(b, w) for b, w in zip(pending, self.watches)], 1).cpu().numpy()
        bounds = np.cumsum([0] + [w.units for w in self.watches])
        groups = {}
        for w, a, b in zip(self.watches, bounds, bounds[1:]):
            groups.update(self._watch_entries(w, stats[:, a:b].astype(float), step))
        self.last = {"step": step, "rule": self.rule, "every": self.every, "criterion": self.criterion,
                     "groups": groups}
        flat = self.flat()
        for logger in self.loggers:      # built-in outputs take the nested record too; user loggers the flat dict
            if hasattr(logger, "write"):
                logger.write(self.last, flat)
            else:
                logger(flat, step)
        return self.last

    def flat(self) -> dict:
        """The latest record's numbers as ``{"<watch>/<field>": value}`` (for any logger)."""
        if self.last is None:
            return {}
        return {f"{name}/{k}": float(v) for name, entry in self.last["groups"].items() for k, v in entry.items()
                if isinstance(v, (int, float, bool)) and v is not None}

    # ---- one record ----------------------------------------------------------------------------------------------
    def _watch_entries(self, watch, stats, step) -> dict:
        """One entry per model of the watch (``name`` alone without a model axis, ``name/m<i>`` with one)."""
        hp, why = self._watch_hyper(watch)
        per_model = watch.units // watch.models
        out = {}
        for m in range(watch.models):
            key = watch.name if not watch.model_axis else f"{watch.name}/m{m}"
            mine = None if hp is None else {k: (v[m] if np.ndim(v) else v) for k, v in hp.items()}
            out[key] = self._entry(watch, key, stats[:, m * per_model:(m + 1) * per_model], mine, why, step)
        return out

    def _watch_hyper(self, watch):
        if self._hyper is not None:
            return self._hyper(watch), ""
        return watch_hyper(self.rule, watch, group_of(self.optimizer))

    def _entry(self, watch, key, stats, hp, why, step) -> dict:
        norm_sq, grad_sq, angle, chord = stats
        norm = np.sqrt(norm_sq)
        live = norm > self.floor[watch.name]
        C_units = norm_sq * grad_sq
        entry = {"kind": watch.kind, "members": list(watch.members), "units": int(norm.size), "d": watch.d,
                 "collapsed": int((~live).sum()), "norm": float(np.median(norm))}
        if live.any():
            entry.update(angle=float(angle[live].mean()), chord=float(chord[live].mean()),
                         grad_ratio=float(np.sqrt(grad_sq[live] / norm_sq[live]).mean()),
                         C=float(np.median(C_units[live])))
        entry.update(predicted(self, key, watch, entry, hp, why, step))
        return entry


def _unit_norms(watch) -> np.ndarray:
    """The norms of a watch's units now."""
    import torch
    m = units.unit_matrix(watch)
    return torch.linalg.vector_norm(m, dim=1).cpu().numpy()


__all__ = ["Monitor", "WHY_ONE_ENTRY", "WHY_ZERO_GRADIENT", "PREDICTED_AS"]
