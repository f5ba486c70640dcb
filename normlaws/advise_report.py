"""The text form of ``normlaws advise``: the phases, the EMA timescale, equivalent pairs, lambda's scaling law."""
from __future__ import annotations

from .advise import CRITERION, cosine_summary
from .output import table


def _phase_rows(advice) -> list:
    phases = cosine_summary(advice.phases) if advice.schedule.kind == "cosine" else advice.phases
    rows = []
    for p in phases:
        row = [f"{p.first_epoch}-{p.end_epoch}", f"{p.eta:.3g}", p.steps, f"{p.tau:.4g}",
               f"{p.tau / advice.steps_per_epoch:.3g}", f"{p.length_over_tau:.3g}", f"{p.angle:.3g}",
               f"{p.eff_lr:.3g}", f"{p.norm:.3g}", f"{p.norm_end:.3g}", "yes" if p.equilibrated else "no"]
        if p.ema_iterations is not None:
            row += [f"{p.ema_iterations:.4g}", f"{p.ema_epochs:.3g}"]
        rows.append(row)
    return rows


PHASE_HEADER = ["epochs", "eta", "steps", "relax. steps", "relax. epochs", "length/relax.", "angle*/step",
                "eff. lr*", "norm*", "norm at end", "equilibrated"]
EMA_HEADER = ["EMA iterations", "EMA epochs"]


def lines(advice, rescaled=None) -> list:
    """The advice as lines of text for the terminal."""
    s = advice.scaling
    out = [f"normlaws advise: {advice.rule}, eta = {advice.eta:g}, lam = {advice.lam:g} (torch weight_decay = "
           f"{advice.torch_weight_decay:g}); {advice.schedule.kind} schedule, {advice.schedule.epochs} epochs of "
           f"{advice.steps_per_epoch} steps; invariant unit of d = {advice.d}, C = {advice.C:g}",
           f"convention: {advice.convention}", ""]
    header = PHASE_HEADER + (EMA_HEADER if advice.phases[0].ema_iterations is not None else [])
    out.append(table(_phase_rows(advice), header))
    if advice.schedule.kind == "cosine":
        out.append("(cosine: one phase per epoch, shown in spans; each row is its span's last epoch; length/relax. "
                   "is the span's)")
    out += ["", f"relaxation time: {advice.phases[0].tau_source}; path from {advice.path['start']}, "
                f"{advice.path['relaxing_variable']} relaxing exponentially: {advice.path['status']}",
            f"equilibrated: {CRITERION}", "", "Equivalent (eta, lam) for the invariant groups "
            "(the same angle per step and relaxation time; the norm scales):"]
    out.append(table([[f"{p['eta']:.4g}", f"{p['lam']:.4g}", f"{p['angle']:.4g}", f"{p['tau']:.4g}",
                       f"{p['norm_factor']:.3g}"] for p in advice.pairs],
                     ["eta", "lam", "angle*/step", "relax. steps (moment map)", "norm x"]))
    out += ["", f"lam to keep the relaxation time in epochs ({s['claim']}): lam ~ eta^{s['exponent_eta']:g} "
                f"x batch^{s['exponent_batch']:g} x dataset^{s['exponent_dataset']:g}"
            + (f" (assumes {s['assumes']})" if s["assumes"] else "")]
    if rescaled:
        out.append(f"  for eta x {rescaled['eta_factor']:g}, batch x {rescaled['batch_factor']:g}, dataset x "
                   f"{rescaled['dataset_factor']:g}: lam = {rescaled['lam']:.4g}")
    out += ["", "Notes:"] + [f"- {n}" for n in advice.notes]
    return out
